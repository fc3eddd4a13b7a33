/**
 * The security headers of every console page (the console itself and the development sign-in): a strict
 * Content-Security-Policy (scripts and styles from this origin only, no inline code, no third party, Trusted Types
 * required for the DOM's script sinks), no framing, no referrer, no MIME sniffing.
 */
import type { Context } from 'koa';

/** The Content-Security-Policy of a console page; `connect` adds origins the page may fetch from (its provider). */
export function contentSecurityPolicy(connect: readonly string[]): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src ${["'self'", ...connect].join(' ')}`,
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "require-trusted-types-for 'script'",
    'trusted-types',
  ].join('; ');
}

/** Sets the security headers on a console page. */
export function securityHeaders(ctx: Context, options: { connect: readonly string[] }): void {
  ctx.set('Content-Security-Policy', contentSecurityPolicy(options.connect));
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
  ctx.set('Cross-Origin-Resource-Policy', 'same-origin');
}

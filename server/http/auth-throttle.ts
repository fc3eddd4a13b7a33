/**
 * Abuse limits on client authentication at `/token`, `/introspect` and `/revoke`: failed authentications
 * (401 `invalid_client`) are counted per client id and per source address; once a key is over its limit, its
 * requests get 429 with `Retry-After` before any secret is checked, until the window ends. Other clients, and
 * successful authentications, are not slowed.
 */
import type { Context, Middleware } from 'koa';

import type { RateLimiter } from '../services/rate-limit.ts';
import { basicCredentials, readFormBody } from './form-body.ts';

const GUARDED = new Set(['/token', '/introspect', '/revoke']);

/** The client id a request presents (Basic header or form body), if any. */
async function presentedClientId(ctx: Context): Promise<string | null> {
  const basic = basicCredentials(ctx.get('Authorization'));
  if (basic) return basic.clientId;
  if (!ctx.is('application/x-www-form-urlencoded')) return null;
  const body = await readFormBody(ctx.req, ctx.request.length);
  if (!body) return null;
  const ids = new URLSearchParams(body.toString('utf8')).getAll('client_id');
  return ids.length === 1 ? ids[0]! : null;
}

export function authFailureThrottle(deps: { perClient: RateLimiter; perAddress: RateLimiter }): Middleware {
  return async function throttleFailedAuth(ctx, next) {
    if (ctx.method !== 'POST' || !GUARDED.has(ctx.path)) {
      await next();
      return;
    }
    const clientId = await presentedClientId(ctx);
    const wait = Math.max(deps.perAddress.blocked(ctx.ip), clientId ? deps.perClient.blocked(clientId) : 0);
    if (wait > 0) {
      ctx.status = 429;
      ctx.set('Retry-After', String(wait));
      ctx.set('Cache-Control', 'no-store');
      ctx.body = {
        error: 'too_many_requests',
        error_description: `too many failed client authentications; retry after ${wait} s`,
      };
      return;
    }
    await next();
    if (ctx.status === 401 && (ctx.body as { error?: unknown } | undefined)?.error === 'invalid_client') {
      deps.perAddress.hit(ctx.ip);
      if (clientId) deps.perClient.hit(clientId);
    }
  };
}

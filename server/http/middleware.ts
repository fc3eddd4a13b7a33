/** Small cross-cutting middleware for every request. */
import { randomUUID } from 'node:crypto';

import type { Middleware } from 'koa';

import type { Logger } from '../logger.ts';

/**
 * One JSON log line per request: method, path (never the query string, which could carry a credential), status,
 * duration, request id. Never headers or bodies.
 */
export function requestLog(logger: Logger): Middleware {
  return async function logRequest(ctx, next) {
    const started = process.hrtime.bigint();
    const given = ctx.get('X-Request-Id');
    const id = /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
    ctx.set('X-Request-Id', id);
    try {
      await next();
    } finally {
      if (logger.isLevelEnabled('info')) {
        logger.info(
          {
            req_id: id,
            method: ctx.method,
            path: ctx.path,
            status: ctx.status,
            ms: Number(process.hrtime.bigint() - started) / 1e6,
          },
          'request',
        );
      }
    }
  };
}

/** RFC 8414 §3: serve the authorization server metadata at its own well-known path as well. */
export function oauthMetadataAlias(): Middleware {
  return function rfc8414Alias(ctx, next) {
    if (ctx.path === '/.well-known/oauth-authorization-server') ctx.path = '/.well-known/openid-configuration';
    return next();
  };
}

/** Adds `Retry-After` to every 503 that does not carry one (oidc-provider renders storage outages as 503). */
export function retryAfterOn503(seconds: number): Middleware {
  return async function retryAfter(ctx, next) {
    await next();
    if (ctx.status === 503 && !ctx.response.get('Retry-After')) ctx.set('Retry-After', String(seconds));
  };
}

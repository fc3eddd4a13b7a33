/**
 * The management API's error middleware: renders every {@link TokenwardenError} as `{error, error_description}`
 * with its headers, maps an unreachable store to 503 + `Retry-After`, and hides anything unexpected behind a
 * logged 500 `server_error`.
 */
import type { Middleware } from 'koa';

import { StoreUnavailableError } from '../../adapters/types.ts';
import { ServerError, ServiceUnavailable, TokenwardenError, errorBody } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { ProviderStoreUnavailable } from '../oidc/provider.ts';

/** Converts any thrown value into the error to answer. */
export function toHttpError(error: unknown, retryAfterSeconds: number): TokenwardenError {
  if (error instanceof TokenwardenError) return error;
  if (error instanceof StoreUnavailableError || error instanceof ProviderStoreUnavailable) {
    return new ServiceUnavailable(retryAfterSeconds);
  }
  return new ServerError(error);
}

/**
 * A loggable description of an error. Storage errors are reduced to names and codes: a driver message may quote
 * a stored value (a duplicate-key message quotes the key, which can be a token hash).
 */
export function describeError(error: unknown): Record<string, unknown> {
  const e = error as { name?: string; code?: unknown; message?: string; stack?: string; cause?: unknown };
  if (
    error instanceof StoreUnavailableError ||
    error instanceof ProviderStoreUnavailable ||
    e?.name?.startsWith('Store')
  ) {
    const cause = e.cause as { name?: string; code?: unknown } | undefined;
    return { name: e.name, code: e.code, cause: cause ? { name: cause.name, code: cause.code } : undefined };
  }
  return { name: e?.name, message: e?.message, stack: e?.stack };
}

/** Koa middleware rendering errors thrown downstream. */
export function errorHandler(logger: Logger, retryAfterSeconds: number): Middleware {
  return async function renderErrors(ctx, next) {
    try {
      await next();
    } catch (error) {
      const err = toHttpError(error, retryAfterSeconds);
      if (err.status >= 500) {
        // A store outage is expected and answered 503 (warn); any other 5xx is a fault of ours (error).
        const level = err.status === 503 ? 'warn' : 'error';
        logger[level]({ err: describeError(error), path: ctx.path, method: ctx.method }, 'request failed');
      }
      ctx.status = err.status;
      ctx.set(err.headers as Record<string, string>);
      ctx.set('Cache-Control', 'no-store');
      ctx.body = errorBody(err);
    }
  };
}

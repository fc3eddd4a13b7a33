/**
 * Errors over HTTP: every thrown value becomes an {@link HttpError} ({@link toHttpError}: an unreachable store is
 * 503 + `Retry-After`, anything unexpected a logged 500 `server_error`), rendered by the one serializer
 * (`errorBody`), in Koa ({@link errorHandler}) and in plain `node:http` ({@link sendError}) alike.
 */
import type { Context, Middleware } from 'koa';

import type { ServerResponse } from 'node:http';

import { StoreError, StoreUnavailableError } from '../../adapters/types.ts';
import { HttpError, ServerError, ServiceUnavailable, errorBody } from '../errors.ts';
import type { Logger } from '../logger.ts';

/** Converts any thrown value into the error to answer. */
export function toHttpError(error: unknown, retryAfterSeconds: number): HttpError {
  if (error instanceof ServiceUnavailable && !error.headers['Retry-After']) {
    return new ServiceUnavailable(retryAfterSeconds, error.detail, error);
  }
  if (error instanceof HttpError) return error;
  if (error instanceof StoreUnavailableError) return new ServiceUnavailable(retryAfterSeconds, undefined, error);
  return new ServerError(error);
}

/** Sets an error answer on a Koa context: status, headers, `Cache-Control: no-store`, the one body. */
export function renderError(ctx: Context, error: HttpError): void {
  ctx.status = error.status;
  ctx.set(error.headers as Record<string, string>);
  ctx.set('Cache-Control', 'no-store');
  ctx.body = errorBody(error);
}

/** Writes an error answer on a plain `node:http` response (the fast path), as the Koa handler would. */
export function sendError(res: ServerResponse, error: HttpError): void {
  const text = JSON.stringify(errorBody(error));
  res.writeHead(error.status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...error.headers,
  });
  res.end(text);
}

/**
 * A loggable description of an error. Storage errors are reduced to names and codes: a driver message may quote
 * a stored value (a duplicate-key message quotes the key, which can be a token hash).
 */
export function describeError(error: unknown): Record<string, unknown> {
  const e = error as { name?: string; code?: unknown; message?: string; stack?: string; cause?: unknown };
  const store = error instanceof StoreError ? error : error instanceof HttpError ? error.cause : undefined;
  if (store instanceof StoreError) {
    const cause = store.cause as { name?: string; code?: unknown } | undefined;
    return { name: store.name, code: store.code, cause: cause ? { name: cause.name, code: cause.code } : undefined };
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
      renderError(ctx, err);
    }
  };
}

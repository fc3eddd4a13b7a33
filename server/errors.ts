/**
 * RFC-shaped errors, after oidc-provider's `lib/helpers/errors.js`. Every error the HTTP layer answers is one of
 * these classes: `status`, the RFC `error` code (RFC 6749 §5.2, RFC 6750 §3.1, or ours for the management API) as
 * the message, a public `error_description`, optional headers, and a private `detail` that is logged but never
 * sent. One serializer ({@link errorBody}) writes every body; a 5xx never leaks its description.
 *
 * They keep oidc-provider's error shape (`message` is the code, with `statusCode`, `expose` and
 * `error_description`), so one thrown inside oidc-provider (a store outage during client authentication) is
 * rendered by it exactly as by our own layer.
 */
import { TokenwardenError } from '../config/errors.ts';

/** An error answered over HTTP. Its stable `code` is `ERR_` and its `error`, upper-cased. */
export class HttpError extends TokenwardenError {
  /** Whether `error_description` may be sent to the client (false for every 5xx but 503). */
  readonly expose: boolean;
  readonly headers: Readonly<Record<string, string>>;
  /** The same as `status`, under the name oidc-provider and Koa read. */
  readonly statusCode: number;
  /** The public description (RFC 6749 §5.2 `error_description`). */
  readonly error_description: string;
  /** Logged, never sent. */
  readonly detail: string | undefined;

  constructor(
    readonly status: number,
    readonly error: string,
    description: string,
    options: { headers?: Record<string, string>; detail?: string; cause?: unknown } = {},
  ) {
    super(`ERR_${error.toUpperCase()}`, error, options.cause === undefined ? undefined : { cause: options.cause });
    this.statusCode = status;
    this.error_description = description;
    this.expose = status < 500 || status === 503;
    this.headers = options.headers ?? {};
    this.detail = options.detail;
  }

  /** The public description. */
  get description(): string {
    return this.error_description;
  }
}

/** 400 `invalid_request`: a malformed request; `field` names the offending field when there is one. */
export class InvalidRequest extends HttpError {
  constructor(
    description: string,
    readonly field?: string,
  ) {
    super(400, 'invalid_request', description);
  }
}

/**
 * A `WWW-Authenticate: Bearer` challenge (RFC 6750 §3). RFC 6750 allows `error_description` only the characters
 * %x20-21 / %x23-5B / %x5D-7E: a `"` becomes `'`, a `\` becomes `/`, and anything outside printable ASCII `?`, so
 * every parameter is a plain quoted-string that every client's parser reads (RFC 7235 §2.1).
 */
export function bearerChallenge(params: Readonly<Record<string, string>> = {}): string {
  const quoted = (value: string) =>
    `"${value
      .replace(/[^\x20-\x7e]/g, '?')
      .replace(/"/g, "'")
      .replace(/\\/g, '/')}"`;
  const parts = Object.entries({ realm: 'tokenwarden', ...params }).map(([key, value]) => `${key}=${quoted(value)}`);
  return `Bearer ${parts.join(', ')}`;
}

/** 401 `invalid_token` (RFC 6750 §3.1): unknown, expired or revoked bearer token on the management API. */
export class InvalidToken extends HttpError {
  constructor(description = 'a valid bearer access token is required') {
    super(401, 'invalid_token', description, {
      headers: { 'WWW-Authenticate': bearerChallenge({ error: 'invalid_token', error_description: description }) },
    });
  }
}

/**
 * 401 with a bare challenge and no error code: no bearer credentials were sent at all (RFC 6750 §3.1: "the
 * resource server SHOULD NOT include an error code or other error information").
 */
export class MissingToken extends HttpError {
  constructor() {
    super(401, 'invalid_token', 'a bearer access token is required', {
      headers: { 'WWW-Authenticate': bearerChallenge() },
    });
  }
}

/** 400 `invalid_request` (RFC 6750 §3.1): an `Authorization: Bearer` header that is not `Bearer <token>`. */
export class MalformedAuthorization extends HttpError {
  constructor(description: string) {
    super(400, 'invalid_request', description, {
      headers: { 'WWW-Authenticate': bearerChallenge({ error: 'invalid_request', error_description: description }) },
    });
  }
}

/** 403 `insufficient_scope` (RFC 6750 §3.1). */
export class InsufficientScope extends HttpError {
  constructor(readonly scope: string) {
    super(403, 'insufficient_scope', `the access token lacks the "${scope}" scope`, {
      headers: {
        'WWW-Authenticate': bearerChallenge({
          error: 'insufficient_scope',
          error_description: `the access token lacks the "${scope}" scope`,
          scope,
        }),
      },
    });
  }
}

/** 400 `invalid_scope` (RFC 6749 §5.2): a scope outside the catalogue. */
export class InvalidScope extends HttpError {
  constructor(description: string) {
    super(400, 'invalid_scope', description);
  }
}

/**
 * 400 `invalid_grant` (RFC 6749 §5.2): the grant presented at `/token` is invalid, expired or revoked — for token
 * exchange (RFC 8693), a `subject_token` that is not a live PAT's current value.
 */
export class InvalidGrant extends HttpError {
  constructor(description: string) {
    super(400, 'invalid_grant', description);
  }
}

/** 400 `invalid_target` (RFC 8707 §2): the requested resource is invalid, missing, unknown or not allowed. */
export class InvalidTarget extends HttpError {
  constructor(description: string) {
    super(400, 'invalid_target', description);
  }
}

/** 400 `unauthorized_client` (RFC 6749 §5.2): the client may not use this grant type. */
export class UnauthorizedClient extends HttpError {
  constructor(description: string) {
    super(400, 'unauthorized_client', description);
  }
}

/** 400 `unsupported_token_type` (RFC 7009 §2.2.1): the server does not revoke this type of token. */
export class UnsupportedTokenType extends HttpError {
  constructor(description: string) {
    super(400, 'unsupported_token_type', description);
  }
}

/** 403 `access_denied`: the caller may not do this (e.g. a PAT minting a token with more than it has). */
export class AccessDenied extends HttpError {
  constructor(description: string) {
    super(403, 'access_denied', description);
  }
}

/** 409 `limit_exceeded`: a configured maximum (live tokens per user) is reached. */
export class LimitExceeded extends HttpError {
  constructor(description: string) {
    super(409, 'limit_exceeded', description);
  }
}

/** 404 `not_found`. */
export class NotFound extends HttpError {
  constructor(what: string) {
    super(404, 'not_found', `${what} not found`);
  }
}

/** 409 `conflict`: a unique field is taken. */
export class Conflict extends HttpError {
  constructor(
    description: string,
    readonly field: string,
  ) {
    super(409, 'conflict', description);
  }
}

/** 413 `invalid_request`: the body is over the size limit. */
export class PayloadTooLarge extends HttpError {
  constructor(limit: number) {
    super(413, 'invalid_request', `request body exceeds ${limit} bytes`);
  }
}

/** 415 `invalid_request`: wrong `Content-Type`. */
export class UnsupportedMediaType extends HttpError {
  constructor(expected: string) {
    super(415, 'invalid_request', `Content-Type must be ${expected}`);
  }
}

/** 405 `invalid_request`. */
export class MethodNotAllowed extends HttpError {
  constructor(allowed: readonly string[]) {
    super(405, 'invalid_request', `method not allowed; use ${allowed.join(', ')}`, {
      headers: { Allow: allowed.join(', ') },
    });
  }
}

/** 429 `too_many_requests` with `Retry-After`. */
export class TooManyRequests extends HttpError {
  constructor(retryAfterSeconds: number, what: string) {
    super(429, 'too_many_requests', `too many ${what}; retry after ${retryAfterSeconds} s`, {
      headers: { 'Retry-After': String(retryAfterSeconds) },
    });
  }
}

/** What every 503 for an unreachable store says (the OAuth endpoints, the fast path, the management API). */
const STORE_UNAVAILABLE = 'the token store is temporarily unavailable; retry later';

/**
 * 503 `temporarily_unavailable` with `Retry-After`: storage is unreachable; nothing was answered from guesswork.
 * Without `retryAfterSeconds` (thrown inside oidc-provider), the HTTP layer adds the configured `Retry-After`.
 */
export class ServiceUnavailable extends HttpError {
  constructor(retryAfterSeconds?: number, detail?: string, cause?: unknown) {
    super(503, 'temporarily_unavailable', STORE_UNAVAILABLE, {
      headers: retryAfterSeconds === undefined ? {} : { 'Retry-After': String(retryAfterSeconds) },
      ...(detail === undefined ? {} : { detail }),
      ...(cause === undefined ? {} : { cause }),
    });
  }
}

/** 500 `server_error`: anything unexpected. The description is fixed; the cause is logged only. */
export class ServerError extends HttpError {
  constructor(cause?: unknown) {
    super(500, 'server_error', 'internal server error', { cause });
  }
}

/** The JSON body for an error: `{error, error_description}` (RFC 6749 §5.2 shape). */
export function errorBody(err: HttpError): { error: string; error_description: string } {
  return {
    error: err.error,
    error_description: err.expose ? err.description : 'internal server error',
  };
}

/** Throws `error` unless `condition` holds (keeps handlers straight-line). */
export function assertThat(condition: unknown, error: HttpError | (() => HttpError)): asserts condition {
  if (!condition) throw typeof error === 'function' ? error() : error;
}

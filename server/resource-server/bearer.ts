/**
 * The bearer-token side of RFC 6750: reading the `Authorization` request header (§2.1) and answering a refusal
 * with the status, `WWW-Authenticate` challenge (§3) and JSON body it calls for. Pure functions, no I/O.
 *
 * Only the header is read. RFC 6750 makes the form-body and query-parameter methods optional (§2.2, §2.3), and the
 * query one leaks tokens into logs; a token sent only that way is "no credentials" here.
 */
import { OptionsError } from './errors.ts';

/**
 * Why a request is refused. `error` is RFC 6750 §3.1's code; it is absent when the request carried no bearer
 * credentials at all (§3.1: "the resource server SHOULD NOT include an error code"). A 503 carries RFC 6749's
 * `temporarily_unavailable` in its body, and no challenge: it says nothing about the token.
 */
export interface Rejection {
  readonly status: 400 | 401 | 403 | 503;
  readonly error?: 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'temporarily_unavailable';
  /** Public, fixed wording: never a token, never an upstream message. */
  readonly description: string;
  /** For `insufficient_scope`: the scopes the route requires, space-separated (the challenge's `scope`). */
  readonly scope?: string;
  /** For a 503: seconds before trying again (`Retry-After`). */
  readonly retryAfter?: number;
}

/** An HTTP answer ready to send, whatever the framework. */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** RFC 6750 §2.1 `b64token`. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** No bearer credentials: no header, an empty one, or another scheme (RFC 6750 §3.1). */
export const NO_CREDENTIALS: Rejection = Object.freeze({
  status: 401,
  description: 'a bearer access token is required (Authorization: Bearer <token>)',
});

/** A malformed `Authorization: Bearer` header (RFC 6750 §3.1 `invalid_request`). */
export const MALFORMED: Rejection = Object.freeze({
  status: 400,
  error: 'invalid_request',
  description: 'the Authorization header must be Bearer followed by one token (RFC 6750 section 2.1)',
});

/** An invalid token, with a fixed public description. */
export function invalidToken(description: string): Rejection {
  return { status: 401, error: 'invalid_token', description };
}

/** A valid token without the scopes the route requires (RFC 6750 §3.1 `insufficient_scope`). */
export function insufficientScope(required: readonly string[]): Rejection {
  return {
    status: 403,
    error: 'insufficient_scope',
    description: 'the access token lacks a scope this resource requires',
    scope: required.join(' '),
  };
}

/** Tokenwarden could not answer: never admit, ask the client to come back (RFC 6749 `temporarily_unavailable`). */
export function unavailable(retryAfter: number): Rejection {
  return {
    status: 503,
    error: 'temporarily_unavailable',
    description: 'the access token cannot be checked right now; try again later',
    retryAfter,
  };
}

/**
 * The bearer token of an `Authorization` header value, or why there is none usable. The scheme is
 * case-insensitive (RFC 9110 §11.1) and followed by one or more spaces, then exactly one `b64token`.
 */
export function parseAuthorization(header: string | readonly string[] | undefined): string | Rejection {
  if (header === undefined || header === '') return NO_CREDENTIALS;
  if (typeof header !== 'string') return header.length === 0 ? NO_CREDENTIALS : MALFORMED;
  // The common spelling first, without allocating a lower-cased copy.
  if (header.startsWith('Bearer ') && header.charCodeAt(7) !== 32) {
    const token = header.slice(7);
    return B64TOKEN.test(token) ? token : MALFORMED;
  }
  const space = header.indexOf(' ');
  const scheme = space === -1 ? header : header.slice(0, space);
  if (scheme.length !== 6 || scheme.toLowerCase() !== 'bearer') return NO_CREDENTIALS;
  if (space === -1) return MALFORMED;
  let start = space + 1;
  while (header.charCodeAt(start) === 32) start++;
  const token = header.slice(start);
  return B64TOKEN.test(token) ? token : MALFORMED;
}

/**
 * Characters RFC 6750 §3 allows in `error_description` (and, with the space, in `realm` here): printable ASCII
 * but `"` and `\`, which would need escaping that the RFC does not allow.
 */
const NOT_ALLOWED_IN_DESCRIPTION = /[^\x20\x21\x23-\x5B\x5D-\x7E]/g;
/** RFC 6750 §3 `scope-token`. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/** `error_description` as RFC 6750 §3 allows it: the characters it forbids are dropped. */
export function challengeDescription(description: string): string {
  return description.replace(NOT_ALLOWED_IN_DESCRIPTION, '');
}

/** Checks scopes a route requires: each a RFC 6750 §3 `scope-token`, so the challenge can name them verbatim. */
export function checkScopes(option: string, scopes: readonly string[]): readonly string[] {
  for (const scope of scopes) {
    if (typeof scope !== 'string' || !SCOPE_TOKEN.test(scope))
      throw new OptionsError(option, `${JSON.stringify(scope)} is not a scope token (RFC 6749 section 3.3)`);
  }
  return Object.freeze([...scopes]);
}

/** Checks a `realm` value: printable ASCII without `"` or `\` (so it needs no escaping in the challenge). */
export function checkRealm(realm: string | undefined): string | undefined {
  if (realm === undefined) return undefined;
  if (typeof realm !== 'string' || realm === '' || challengeDescription(realm) !== realm)
    throw new OptionsError('realm', 'must be printable ASCII without " or \\');
  return realm;
}

/** The `WWW-Authenticate` value for a refusal (RFC 6750 §3), or undefined for a 503. */
export function challenge(rejection: Rejection, realm: string | undefined): string | undefined {
  if (rejection.status === 503) return undefined;
  const params: string[] = [];
  if (realm !== undefined) params.push(`realm="${realm}"`);
  if (rejection.error !== undefined) {
    params.push(`error="${rejection.error}"`, `error_description="${challengeDescription(rejection.description)}"`);
  }
  if (rejection.scope !== undefined) params.push(`scope="${challengeDescription(rejection.scope)}"`);
  return params.length === 0 ? 'Bearer' : `Bearer ${params.join(', ')}`;
}

/**
 * The whole HTTP answer to a refusal: its status, `WWW-Authenticate` (none for a 503, which has `Retry-After`
 * instead), `Cache-Control: no-store`, and a JSON body with `error` and `error_description` (only the
 * description when no credentials were sent, since RFC 6750 gives that case no error code).
 */
export function renderRejection(rejection: Rejection, realm: string | undefined): HttpAnswer {
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'Cache-Control': 'no-store',
  };
  const value = challenge(rejection, realm);
  if (value !== undefined) headers['WWW-Authenticate'] = value;
  if (rejection.retryAfter !== undefined) headers['Retry-After'] = String(rejection.retryAfter);
  const body =
    rejection.error === undefined
      ? { error_description: rejection.description }
      : { error: rejection.error, error_description: rejection.description };
  return { status: rejection.status, headers, body: JSON.stringify(body) };
}

/**
 * What a resource server must check in an answer before it admits a request, and the {@link AccessToken} it hands
 * the route. Pure functions over an RFC 7662 introspection answer or a verified RFC 9068 JWT payload.
 *
 * Checked: `active` (RFC 7662 §2.2), `iss` (the configured issuer), `exp` and `nbf` (in case the answer is older
 * than the token's life), `aud` (the resource binding: RFC 8707 / RFC 9068 §4), that the token is a bearer
 * token (a sender-constrained one, with `cnf`, needs a proof this library does not check: RFC 9449 §7, RFC 8705
 * §3), and, per route, `scope`.
 */
import { insufficientScope, invalidToken, type Rejection } from './bearer.ts';

/** A validated access token, as the route sees it. */
export interface AccessToken {
  /** Where the answer came from: Tokenwarden's `/introspect`, or a locally verified exchanged JWT. */
  readonly source: 'introspection' | 'jwt';
  /** The user (or, for `client_credentials` tokens, the client) the token acts for. */
  readonly sub: string | undefined;
  /** The granted scopes (`scope`, split on spaces). */
  readonly scopes: readonly string[];
  readonly clientId: string | undefined;
  /** The token's public identifier: a PAT's `tok_…` id, an OAuth token's `at_…` id, a JWT's `jti`. */
  readonly jti: string | undefined;
  readonly iss: string;
  /** The resources the token is bound to (RFC 8707); empty for an unbound token. */
  readonly aud: readonly string[];
  /** Expiry, in seconds since the epoch, when the token expires. */
  readonly exp: number | undefined;
  /** Every member of the introspection answer or JWT payload (e.g. `username`, `token_kind`, `pat_name`). */
  readonly claims: Readonly<Record<string, unknown>>;
}

/** What the answers are checked against. */
export interface ClaimRules {
  readonly issuer: string;
  /** This API's resource identifier; undefined when none is configured. */
  readonly resource: string | undefined;
  /** Refuse tokens bound to no resource at all (only with `resource`). */
  readonly requireResource: boolean;
  /** Tolerance on `exp` / `nbf`, in seconds. */
  readonly clockTolerance: number;
}

const INACTIVE = invalidToken('the access token is not active');
const EXPIRED = invalidToken('the access token has expired');
const NOT_YET = invalidToken('the access token is not valid yet');
const FOREIGN = invalidToken('the access token was issued by another authorization server');
const WRONG_AUDIENCE = invalidToken('the access token is not meant for this resource');
const UNBOUND = invalidToken('the access token is not bound to this resource');
const NOT_BEARER = invalidToken('the access token is sender-constrained and cannot be used as a bearer token');

const audiences = (aud: unknown): readonly string[] =>
  typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];

const scopesOf = (scope: unknown): readonly string[] =>
  typeof scope === 'string' ? Object.freeze(scope.split(' ').filter((s) => s !== '')) : [];

const stringOr = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** The resource-binding rule shared by both sources. */
function audienceRejection(aud: readonly string[], rules: ClaimRules): Rejection | undefined {
  if (rules.resource === undefined) return undefined;
  if (aud.length === 0) return rules.requireResource ? UNBOUND : undefined;
  return aud.includes(rules.resource) ? undefined : WRONG_AUDIENCE;
}

/**
 * The token an RFC 7662 answer describes, or why it must be refused. `now` is in milliseconds. `iss` must be the
 * configured issuer when present (RFC 7662 makes it optional; Tokenwarden always sends it).
 */
export function fromIntrospection(answer: Readonly<Record<string, unknown>>, rules: ClaimRules, now: number) {
  if (answer.active !== true) return INACTIVE;
  if (answer.iss !== undefined && answer.iss !== rules.issuer) return FOREIGN;
  const seconds = now / 1000;
  if (typeof answer.exp === 'number' && answer.exp + rules.clockTolerance <= seconds) return EXPIRED;
  if (typeof answer.nbf === 'number' && answer.nbf - rules.clockTolerance > seconds) return NOT_YET;
  if (answer.cnf !== undefined) return NOT_BEARER;
  if (typeof answer.token_type === 'string' && answer.token_type.toLowerCase() !== 'bearer') return NOT_BEARER;
  const aud = audiences(answer.aud);
  const refused = audienceRejection(aud, rules);
  if (refused) return refused;
  return build('introspection', answer, aud, rules.issuer);
}

/**
 * The token a verified JWT access token (RFC 9068) describes, or why it must be refused. jose has already
 * checked its signature, `typ`, `iss`, `aud` and `exp`; the resource binding and `cnf` are checked here.
 */
export function fromJwt(payload: Readonly<Record<string, unknown>>, rules: ClaimRules): AccessToken | Rejection {
  if (payload.cnf !== undefined) return NOT_BEARER;
  const aud = audiences(payload.aud);
  const refused = audienceRejection(aud, rules);
  if (refused) return refused;
  return build('jwt', payload, aud, rules.issuer);
}

function build(
  source: AccessToken['source'],
  claims: Readonly<Record<string, unknown>>,
  aud: readonly string[],
  issuer: string,
): AccessToken {
  return Object.freeze({
    source,
    sub: stringOr(claims.sub),
    scopes: scopesOf(claims.scope),
    clientId: stringOr(claims.client_id),
    jti: stringOr(claims.jti),
    iss: issuer,
    aud: Object.freeze([...aud]),
    exp: typeof claims.exp === 'number' ? claims.exp : undefined,
    claims: Object.freeze({ ...claims }),
  });
}

/** `insufficient_scope` unless the token carries every scope in `required` (RFC 6750 §3.1). */
export function missingScope(token: AccessToken, required: readonly string[]): Rejection | undefined {
  for (const scope of required) if (!token.scopes.includes(scope)) return insufficientScope(required);
  return undefined;
}

/** Whether a value is a rejection rather than a token. */
export function isRejection(value: AccessToken | Rejection): value is Rejection {
  return 'status' in value;
}

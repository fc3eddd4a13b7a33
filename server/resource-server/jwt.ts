/**
 * Local verification of JWT access tokens (RFC 9068), such as those Tokenwarden's token exchange (RFC 8693) issues
 * for a PAT: `typ: at+jwt`, signed with the keys at the issuer's `jwks_uri`, checked for `iss`, `aud` (this
 * API's resource identifier), `exp`, `iat`, `sub`, `client_id` and `jti`. With jose, which implements JWS/JWT
 * verification and remote key sets (fetched once, re-fetched for an unknown `kid` after a cool-down).
 *
 * A locally verified JWT is trusted until its `exp`: revoking the PAT it was exchanged for does not reach it here
 * (Tokenwarden's `/introspect` would answer inactive). That is the price of not asking; keep JWT lifetimes short.
 */
import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';

import { invalidToken, type Rejection } from './bearer.ts';
import { fromJwt, type AccessToken, type ClaimRules } from './claims.ts';
import { UnavailableError } from './errors.ts';

/** The asymmetric JWS algorithms accepted (never `none`, never an HMAC). */
export const ASYMMETRIC_ALGORITHMS = [
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
  'RS256',
  'RS384',
  'RS512',
  'EdDSA',
  'Ed25519',
];

const NO_RESOURCE = invalidToken('this resource accepts no JWT access tokens (it has no resource identifier)');
const BAD_JWT = invalidToken('the access token is not a valid JWT access token for this resource');
const EXPIRED = invalidToken('the access token has expired');

/** Key sets by URL, shared between JWT access tokens and SETs when both use the same `jwks_uri`. */
export function createKeySets(timeout: number): (url: string) => JWTVerifyGetKey {
  const sets = new Map<string, JWTVerifyGetKey>();
  return (url) => {
    let set = sets.get(url);
    if (!set) sets.set(url, (set = createRemoteJWKSet(new URL(url), { timeoutDuration: timeout })));
    return set;
  };
}

/** Whether a bearer token is a JWT whose header says `typ: at+jwt` (RFC 9068 §2.1), without verifying it. */
export function isJwtAccessToken(token: string): boolean {
  let dots = 0;
  for (let i = token.indexOf('.'); i !== -1; i = token.indexOf('.', i + 1)) dots++;
  if (dots !== 2) return false;
  try {
    const typ = decodeProtectedHeader(token).typ;
    return typeof typ === 'string' && /^(application\/)?at\+jwt$/i.test(typ);
  } catch {
    return false;
  }
}

/**
 * Whether a verification failure means the keys could not be had (so: try again later) rather than a bad token:
 * a network error, a timeout, or a key set that is not one (jose's plain `JOSEError` is its non-200 answer).
 */
export function keysUnavailable(error: unknown): boolean {
  if (!(error instanceof errors.JOSEError)) return true;
  return (
    error.constructor === errors.JOSEError || error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid
  );
}

/**
 * Verifies a JWT access token. Resolves to the token, or a rejection; rejects with an {@link UnavailableError}
 * when the keys cannot be fetched.
 */
export async function verifyJwtAccessToken(
  token: string,
  keys: JWTVerifyGetKey,
  rules: ClaimRules,
  now: number,
): Promise<AccessToken | Rejection> {
  if (rules.resource === undefined) return NO_RESOURCE;
  try {
    const { payload } = await jwtVerify(token, keys, {
      issuer: rules.issuer,
      audience: rules.resource,
      typ: 'at+jwt',
      algorithms: ASYMMETRIC_ALGORITHMS,
      requiredClaims: ['exp', 'iat', 'sub', 'client_id', 'jti'],
      clockTolerance: rules.clockTolerance,
      currentDate: new Date(now),
    });
    return fromJwt(payload, rules);
  } catch (error) {
    if (error instanceof errors.JWTExpired) return EXPIRED;
    if (keysUnavailable(error))
      throw new UnavailableError('the signing keys (jwks_uri) could not be fetched', undefined, { cause: error });
    return BAD_JWT;
  }
}

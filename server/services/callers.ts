/**
 * Who is calling the management API, from the bearer token (RFC 6750) it presents:
 * - an OAuth access token from `/token` (client_credentials), looked up through oidc-provider's own model so
 *   expiry and revocation are its rules — the admin client with scope `admin`;
 * - a PAT (the self-service API, when it carries `tokens:manage`);
 * - a JWT access token from a trusted external identity provider (verified with jose against its JWKS), whose
 *   configured claim names the Tokenwarden user: how an app with its own login lets users manage their tokens.
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
} from 'jose';

import type { UserStore } from '../../adapters/types.ts';
import { normaliseTyp, type TrustedIssuer } from '../../config/index.ts';
import { ServiceUnavailable } from '../errors.ts';
import type { Actor } from './audit.ts';
import type { PatFormat } from './pat-format.ts';
import type { Constraints, LivePat, PatService } from '../pats/types.ts';

/** The scope a PAT needs to call `/api/me`. */
export const MANAGE_SCOPE = 'tokens:manage';

export type Caller =
  | { readonly kind: 'client'; readonly clientId: string; readonly scopes: ReadonlySet<string> }
  | {
      readonly kind: 'user';
      readonly userId: string;
      readonly via: 'pat';
      readonly pat: LivePat;
      readonly constraints: Constraints;
    }
  | {
      readonly kind: 'user';
      readonly userId: string;
      readonly via: 'jwt';
      readonly issuer: string;
      /** The token carries its issuer's admin claim: this person may call the admin routes. */
      readonly admin: boolean;
    };

/**
 * Resolves a bearer token to its caller, or to why it is refused (unknown, expired, revoked, untrusted, or a
 * rotated-out PAT value, which may only be used at resource servers). With `fresh`, a PAT is read from MongoDB
 * alone (no cache layer is trusted): every call that changes something asks for it.
 */
export type CallerResolver = (token: string, options?: { fresh?: boolean }) => Promise<Caller | { refused: string }>;

/** The audit actor for a caller acting through the given door. */
export function actorOf(caller: Caller, via: Actor['via']): Actor {
  return { id: caller.kind === 'client' ? `admin:${caller.clientId}` : `user:${caller.userId}`, via };
}

export interface CallerDeps {
  /** The client and scopes behind an OAuth access token from `/token` (oidc-provider's, injected), or null. */
  readonly findClientToken: (token: string) => Promise<{ clientId: string; scopes: ReadonlySet<string> } | null>;
  readonly pats: PatService;
  readonly users: UserStore;
  readonly format: PatFormat;
  readonly trustedIssuers: readonly TrustedIssuer[];
  readonly retryAfterSeconds: number;
}

const INVALID = { refused: 'the access token is invalid, expired or revoked' } as const;

/** The scopes a JWT access token carries: `scope` (RFC 9068, space-separated) or `scp` (an array, common too). */
function scopesOf(payload: Record<string, unknown>): Set<string> {
  const out = new Set<string>();
  if (typeof payload.scope === 'string') for (const s of payload.scope.split(' ')) if (s) out.add(s);
  if (Array.isArray(payload.scp)) for (const s of payload.scp) if (typeof s === 'string') out.add(s);
  return out;
}

function looksLikeJwt(token: string): boolean {
  if (token.split('.').length !== 3) return false;
  try {
    decodeProtectedHeader(token);
    return true;
  } catch {
    return false;
  }
}

/** Whether `payload` carries the admin claim: the claim equals the value, or is an array containing it. */
function hasClaimValue(payload: Record<string, unknown>, claim: TrustedIssuer['adminClaim']): boolean {
  if (claim === null) return false;
  const found = payload[claim.name];
  return found === claim.value || (Array.isArray(found) && found.includes(claim.value));
}

/** Creates the resolver. JWKS of trusted issuers are fetched lazily and cached by jose. */
export function createCallerResolver(deps: CallerDeps): CallerResolver {
  const { pats, users, format, retryAfterSeconds } = deps;
  const issuers = new Map(
    deps.trustedIssuers.map((t) => [
      t.issuer,
      {
        config: t,
        jwks: t.keys
          ? createLocalJWKSet({ keys: [...t.keys] })
          : createRemoteJWKSet(new URL(t.jwksUri), { timeoutDuration: 3000, cooldownDuration: 30_000 }),
      },
    ]),
  );

  async function fromJwt(token: string): Promise<Caller | { refused: string }> {
    let iss: string | undefined;
    let typ: string | undefined;
    try {
      iss = decodeJwt(token).iss;
      typ = decodeProtectedHeader(token).typ;
    } catch {
      return INVALID;
    }
    const trusted = iss === undefined ? undefined : issuers.get(iss);
    if (!trusted) return INVALID;
    // RFC 9068 §4: an access token says so in its header; an ID token (`typ: JWT`) is not one.
    if (typ === undefined || !trusted.config.tokenTypes.includes(normaliseTyp(typ))) {
      return {
        refused: `the token is not an access token of this issuer (typ must be ${trusted.config.tokenTypes.join(' or ')})`,
      };
    }
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, trusted.jwks, {
        issuer: trusted.config.issuer,
        audience: trusted.config.audience,
        algorithms: [...trusted.config.algorithms],
        requiredClaims: ['exp'],
      }));
    } catch (error) {
      if (error instanceof joseErrors.JWKSTimeout || (error instanceof TypeError && /fetch/i.test(error.message))) {
        throw new ServiceUnavailable(retryAfterSeconds, 'trusted issuer JWKS unreachable');
      }
      return INVALID;
    }
    // A token exchanged from a PAT speaks for a PAT, and the management API takes PATs themselves (with
    // tokens:manage), never a derived token: the exchange refuses Tokenwarden's own API as a target, and this holds
    // whatever a trusted issuer's configuration says.
    if (payload.pat_id !== undefined) return { refused: 'an access token from token exchange cannot call this API' };
    const required = trusted.config.requiredScope;
    if (required !== null && !scopesOf(payload).has(required)) {
      return { refused: `the access token lacks the "${required}" scope this issuer's tokens need here` };
    }
    const userId = payload[trusted.config.userClaim];
    if (typeof userId !== 'string' || userId === '') return INVALID;
    const admin = hasClaimValue(payload, trusted.config.adminClaim);
    const user = await users.get(userId);
    // A person already authenticated by their provider may hear why Tokenwarden refuses them.
    if (user?.disabled) return { refused: 'this user is disabled in Tokenwarden' };
    // An admin needs no Tokenwarden user of their own (the admin routes are about other people's tokens).
    if (!user && !admin) return { refused: 'there is no Tokenwarden user for this person; an admin can create one' };
    return { kind: 'user', userId, via: 'jwt', issuer: trusted.config.issuer, admin };
  }

  return async (token, options = {}) => {
    if (format.hasPrefix(token)) {
      const pat = options.fresh
        ? await pats.lookupInStore(token)
        : await pats.lookup(token, { clientId: null, actor: { id: 'bearer', via: 'self_service' } });
      if (!pat) return INVALID;
      if (pat.credential !== 'current') {
        return { refused: 'a rotated-out token value in its grace period may only be used at resource servers' };
      }
      return {
        kind: 'user',
        userId: pat.userId,
        via: 'pat',
        pat,
        constraints: { scopes: new Set(pat.scopes), expiresAt: pat.expiresAt, resource: pat.resource },
      };
    }
    if (issuers.size > 0 && looksLikeJwt(token)) return fromJwt(token);
    const found = await deps.findClientToken(token);
    if (!found) return INVALID;
    return { kind: 'client', clientId: found.clientId, scopes: found.scopes };
  };
}

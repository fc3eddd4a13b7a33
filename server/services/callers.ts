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
import type Provider from 'oidc-provider';

import type { UserStore } from '../../adapters/types.ts';
import type { TrustedIssuer } from '../../config/index.ts';
import { InvalidToken, ServiceUnavailable } from '../errors.ts';
import type { Actor } from './audit.ts';
import type { PatFormat } from './pat-format.ts';
import type { Constraints, LivePat, PatService } from './pats.ts';

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

/** Resolves a bearer token to its caller, or null when it is unknown, expired, revoked or untrusted. */
export type CallerResolver = (token: string) => Promise<Caller | null>;

/** The audit actor for a caller acting through the given door. */
export function actorOf(caller: Caller, via: Actor['via']): Actor {
  return { id: caller.kind === 'client' ? `admin:${caller.clientId}` : `user:${caller.userId}`, via };
}

export interface CallerDeps {
  readonly provider: Provider;
  readonly pats: PatService;
  readonly users: UserStore;
  readonly format: PatFormat;
  readonly trustedIssuers: readonly TrustedIssuer[];
  readonly retryAfterSeconds: number;
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
export function hasClaimValue(payload: Record<string, unknown>, claim: TrustedIssuer['adminClaim']): boolean {
  if (claim === null) return false;
  const found = payload[claim.name];
  return found === claim.value || (Array.isArray(found) && found.includes(claim.value));
}

/** Creates the resolver. JWKS of trusted issuers are fetched lazily and cached by jose. */
export function createCallerResolver(deps: CallerDeps): CallerResolver {
  const { provider, pats, users, format, retryAfterSeconds } = deps;
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

  async function fromJwt(token: string): Promise<Caller | null> {
    let iss: string | undefined;
    try {
      iss = decodeJwt(token).iss;
    } catch {
      return null;
    }
    const trusted = iss === undefined ? undefined : issuers.get(iss);
    if (!trusted) return null;
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
      return null;
    }
    const userId = payload[trusted.config.userClaim];
    if (typeof userId !== 'string' || userId === '') return null;
    const admin = hasClaimValue(payload, trusted.config.adminClaim);
    const user = await users.get(userId);
    // A person already authenticated by their provider may hear why Tokenwarden refuses them.
    if (user?.disabled) throw new InvalidToken('this user is disabled in Tokenwarden');
    // An admin needs no Tokenwarden user of their own (the admin routes are about other people's tokens).
    if (!user && !admin)
      throw new InvalidToken('there is no Tokenwarden user for this person; an admin can create one');
    return { kind: 'user', userId, via: 'jwt', issuer: trusted.config.issuer, admin };
  }

  return async (token) => {
    if (format.hasPrefix(token)) {
      const pat = await pats.lookup(token, { clientId: null, actor: { id: 'bearer', via: 'self_service' } });
      if (!pat) return null;
      return {
        kind: 'user',
        userId: pat.userId,
        via: 'pat',
        pat,
        constraints: { scopes: new Set(pat.scopes), expiresAt: pat.expiresAt, resource: pat.resource },
      };
    }
    if (issuers.size > 0 && looksLikeJwt(token)) return fromJwt(token);
    const found = await provider.ClientCredentials.find(token);
    if (!found || found.isExpired || found.clientId === undefined) return null;
    const client = await provider.Client.find(found.clientId);
    if (!client) return null;
    return { kind: 'client', clientId: found.clientId, scopes: new Set(found.scope?.split(' ').filter(Boolean) ?? []) };
  };
}

/**
 * RFC 8693 token exchange: a PAT (`subject_token`) for a short-lived RFC 9068 JWT access token that a resource
 * server can verify locally. This module holds the rules — which subject tokens, scopes and audiences, how long —
 * as named steps, the audit event, and the verification of such tokens when they come back to `/introspect` or
 * `/revoke`. The token itself is built and signed by oidc-provider's own `AccessToken` model, with the keys `/jwks`
 * publishes (`server/oidc/token-exchange.ts`, the grant type's handler).
 *
 * What an exchanged token is:
 * - `sub` the PAT's user, `client_id` the client that exchanged it, `scope` the PAT's scopes or fewer, `jti` random;
 * - `aud` the requested `resource` (RFC 8707), which must be the PAT's own when it is bound to one; without
 *   `resource`, the PAT's resource; a PAT bound to none must name one (RFC 9068 §3 wants an audience a resource
 *   server can check, and an unbound PAT offers no default that would not be "any API");
 * - `pat_id` the PAT's public id, `pat_vid` which of its values it came from (a rotation ends it);
 * - `exp` at most `TOKEN_EXCHANGE_TTL_SECONDS` away, and never past the PAT's expiry.
 */
import { createLocalJWKSet, jwtVerify, type JWK } from 'jose';

import { InvalidGrant, InvalidRequest, InvalidScope, InvalidTarget } from '../errors.ts';
import type { LivePat, PatService, TokenUse } from '../pats/types.ts';
import type { Actor, AuditService } from './audit.ts';
import type { Clock } from './clock.ts';
import { valueIdOfHash, type PatFormat } from './pat-format.ts';
import { isResourceIndicator } from './resources.ts';

/** The grant type (RFC 8693 §2.1). */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** RFC 8693 §3: an OAuth 2.0 access token issued by the given authorization server. */
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
/** RFC 8693 §3: a JWT. */
export const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
/** Logto's name for a PAT as a subject token, accepted as an alias so that clients written for Logto work. */
export const LOGTO_PAT_TOKEN_TYPE = 'urn:logto:token-type:personal_access_token';
/** The request parameters of the grant type (RFC 8693 §2.1), besides `grant_type` and client authentication. */
export const TOKEN_EXCHANGE_PARAMETERS = [
  'subject_token',
  'subject_token_type',
  'scope',
  'resource',
  'audience',
  'requested_token_type',
  'actor_token',
  'actor_token_type',
] as const;
/** Parameters that may be repeated (RFC 8693 §2.1, RFC 8707 §2): refused here with the RFC's own error instead. */
export const TOKEN_EXCHANGE_REPEATABLE = ['resource', 'audience'] as const;

const SUBJECT_TOKEN_TYPES = new Set([ACCESS_TOKEN_TYPE, LOGTO_PAT_TOKEN_TYPE]);
const ISSUED_TOKEN_TYPES = new Set([ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE]);
/** Claims every exchanged token carries; a JWT of ours without them (the console's) is not one. */
const REQUIRED_CLAIMS = ['sub', 'client_id', 'jti', 'iat', 'exp', 'aud', 'pat_id', 'pat_vid'];

/** A token request with this grant type, as oidc-provider parsed it (a repeated parameter is an array). */
export interface ExchangeRequest {
  /** The authenticated client (allowed to use the grant type: oidc-provider checked its `grant_types`). */
  readonly clientId: string;
  readonly params: Readonly<Partial<Record<(typeof TOKEN_EXCHANGE_PARAMETERS)[number], unknown>>>;
}

/** What to issue: oidc-provider builds and signs it. */
export interface ExchangeGrant {
  /** The PAT exchanged. */
  readonly pat: LivePat;
  readonly scope: string | undefined;
  readonly audience: string;
  /** Seconds since the epoch. */
  readonly iat: number;
  readonly exp: number;
  /** Claims beyond RFC 9068's. */
  readonly claims: { readonly pat_id: string; readonly pat_vid: string };
  /** `issued_token_type` of the response (RFC 8693 §2.2.1). */
  readonly issuedTokenType: string;
}

/** An exchanged token that verified: its claims. */
export interface ExchangedToken {
  readonly sub: string;
  readonly clientId: string;
  readonly scope: string | undefined;
  readonly aud: string;
  readonly jti: string;
  readonly iat: number;
  readonly exp: number;
  readonly patId: string;
  readonly valueId: string;
}

export interface TokenExchange {
  /** Decides what to issue for a request, or throws its RFC 8693 / 6749 / 8707 error. */
  grant(request: ExchangeRequest): Promise<ExchangeGrant>;
  /** Records the issued token in the audit log (`token.exchanged`). */
  issued(grant: ExchangeGrant, clientId: string, jti: string): Promise<void>;
  /**
   * The claims of an exchanged token: signed by this server's keys, `typ: at+jwt`, our issuer, not expired, with
   * every claim an exchanged token carries. Null for anything else. Says nothing of its PAT's state.
   */
  verify(value: string): Promise<ExchangedToken | null>;
  /** The live PAT an exchanged token was issued for, or null (revoked, expired, rotated, user disabled). */
  subjectOf(token: ExchangedToken, use?: TokenUse): Promise<LivePat | null>;
}

export interface TokenExchangeDeps {
  readonly pats: PatService;
  readonly format: PatFormat;
  readonly audit: AuditService;
  readonly clock: Clock;
  readonly issuer: string;
  /** `TOKEN_EXCHANGE_TTL_SECONDS`. */
  readonly ttlSeconds: number;
  /** The public halves of the signing keys (what `/jwks` publishes) and their algorithms. */
  readonly verification: { readonly keys: readonly JWK[]; readonly algorithms: readonly string[] };
}

const seconds = (date: Date) => Math.floor(date.getTime() / 1000);
const actorOf = (clientId: string): Actor => ({ id: `client:${clientId}`, via: 'token_exchange' });

/** A parameter given once and not empty, or undefined. A repeated one (an array) is left to the caller's step. */
function single(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Step 1: the request's shape — required parameters, supported types, nothing this server does not do. */
function checkRequest(params: ExchangeRequest['params']): {
  subjectToken: string;
  issuedTokenType: string;
  resource: string | undefined;
  scope: string | undefined;
} {
  const subjectToken = single(params.subject_token);
  const subjectTokenType = single(params.subject_token_type);
  const missing = (['subject_token', 'subject_token_type'] as const).filter((name) => !single(params[name]));
  if (missing.length > 0) throw new InvalidRequest(`missing required parameter(s) ${missing.join(',')}`);
  if (!SUBJECT_TOKEN_TYPES.has(subjectTokenType!)) {
    throw new InvalidRequest(`subject_token_type must be ${[...SUBJECT_TOKEN_TYPES].join(' or ')}`);
  }
  if (params.actor_token !== undefined || params.actor_token_type !== undefined) {
    throw new InvalidRequest('delegation (actor_token) is not supported');
  }
  const requested = single(params.requested_token_type);
  if (params.requested_token_type !== undefined && (!requested || !ISSUED_TOKEN_TYPES.has(requested))) {
    throw new InvalidRequest(`requested_token_type must be ${[...ISSUED_TOKEN_TYPES].join(' or ')}`);
  }
  if (params.audience !== undefined) {
    throw new InvalidTarget('audience is not supported: name the target with resource (RFC 8707)');
  }
  if (Array.isArray(params.resource)) throw new InvalidTarget('only one resource may be requested');
  const resource = single(params.resource);
  if (params.resource !== undefined && !isResourceIndicator(resource)) {
    throw new InvalidTarget('resource must be an absolute URI without a fragment (RFC 8707)');
  }
  return {
    subjectToken: subjectToken!,
    // RFC 8693 §3: the token is an access token of this server (Appendix A.1 answers a JWT access token so too);
    // a client that asked for a JWT gets the same token, named as it asked.
    issuedTokenType: requested ?? ACCESS_TOKEN_TYPE,
    resource,
    scope: single(params.scope),
  };
}

/** Creates the token exchange service. */
export function createTokenExchange(deps: TokenExchangeDeps): TokenExchange {
  const { pats, format, clock, issuer } = deps;
  const keys = createLocalJWKSet({ keys: deps.verification.keys.map((k) => ({ ...k })) });
  const algorithms = [...deps.verification.algorithms];
  /** Tokenwarden's own API (the console's `${ISSUER}/api`) is never an exchanged token's audience. */
  const ownResource = (resource: string) => resource === issuer || resource.startsWith(`${issuer}/`);

  /** Step 2: the PAT behind the subject token, its current value only (grace values may only be introspected). */
  async function subject(value: string, clientId: string): Promise<LivePat> {
    const live = await pats.lookup(value, {
      clientId,
      actor: actorOf(clientId),
      admits: (pat) => pat.credential === 'current',
    });
    if (!live) throw new InvalidGrant('subject_token is not an active personal access token');
    if (live.credential !== 'current') {
      throw new InvalidGrant('a rotated-out value in its grace period cannot be exchanged; use the current value');
    }
    return live;
  }

  /** Step 3: the audience, within the PAT's resource binding. */
  function audience(pat: LivePat, requested: string | undefined): string {
    if (pat.resource !== null && requested !== undefined && requested !== pat.resource) {
      throw new InvalidTarget('the personal access token is bound to another resource');
    }
    const aud = requested ?? pat.resource;
    if (aud === null) {
      throw new InvalidTarget('resource is required: the personal access token is not bound to one');
    }
    if (ownResource(aud)) throw new InvalidTarget("Tokenwarden's own API cannot be the target of a token exchange");
    return aud;
  }

  /** Step 4: the scopes, the PAT's or fewer. */
  function scope(pat: LivePat, requested: string | undefined): string | undefined {
    if (requested === undefined) return pat.scopes.length === 0 ? undefined : pat.scopes.join(' ');
    const held = new Set(pat.scopes);
    const asked = [...new Set(requested.split(' ').filter(Boolean))];
    const extra = asked.filter((s) => !held.has(s));
    if (extra.length > 0) {
      throw new InvalidScope(`the personal access token does not carry the scope(s) ${extra.join(' ')}`);
    }
    return asked.length === 0 ? undefined : asked.join(' ');
  }

  /** Step 5: the lifetime, never past the PAT's expiry. */
  function lifetime(pat: LivePat): { iat: number; exp: number } {
    const iat = seconds(clock.now());
    const exp = Math.min(iat + deps.ttlSeconds, pat.expiresAt ?? Number.POSITIVE_INFINITY);
    if (exp <= iat) throw new InvalidGrant('subject_token is not an active personal access token');
    return { iat, exp };
  }

  return {
    async grant({ clientId, params }) {
      const request = checkRequest(params);
      const pat = await subject(request.subjectToken, clientId);
      return {
        pat,
        audience: audience(pat, request.resource),
        scope: scope(pat, request.scope),
        ...lifetime(pat),
        claims: { pat_id: pat.id, pat_vid: valueIdOfHash(format.hash(request.subjectToken)) },
        issuedTokenType: request.issuedTokenType,
      };
    },

    async issued(grant, clientId, jti) {
      await deps.audit.record(
        'token.exchanged',
        actorOf(clientId),
        { userId: grant.pat.userId, tokenId: grant.pat.id },
        {
          client_id: clientId,
          jti,
          aud: grant.audience,
          scope: grant.scope ?? '',
          expires_at: new Date(grant.exp * 1000).toISOString(),
        },
      );
    },

    async verify(value) {
      // Cheap refusals first: introspection asks this of every token that is neither a PAT nor opaque.
      if (value.length > 8192 || value.split('.').length !== 3) return null;
      let payload: Record<string, unknown>;
      try {
        ({ payload } = await jwtVerify(value, keys, {
          issuer,
          typ: 'at+jwt',
          algorithms,
          currentDate: clock.now(),
          requiredClaims: REQUIRED_CLAIMS,
        }));
      } catch {
        return null;
      }
      const { sub, client_id, jti, iat, exp, aud, pat_id, pat_vid, scope } = payload;
      if (
        typeof sub !== 'string' ||
        typeof client_id !== 'string' ||
        typeof jti !== 'string' ||
        typeof aud !== 'string' ||
        typeof pat_id !== 'string' ||
        typeof pat_vid !== 'string' ||
        typeof iat !== 'number' ||
        typeof exp !== 'number' ||
        (scope !== undefined && typeof scope !== 'string')
      ) {
        return null;
      }
      return { sub, clientId: client_id, scope, aud, jti, iat, exp, patId: pat_id, valueId: pat_vid };
    },

    async subjectOf(token, use) {
      const live = await pats.lookupById(token.patId, token.valueId, use);
      return live && live.userId === token.sub ? live : null;
    },
  };
}

/**
 * The introspection fast path: `POST /introspect` with a PAT-shaped token and client_secret_basic or
 * client_secret_post is answered here, without oidc-provider's middleware chain (JOSE header decoding of every
 * token, AsyncLocalStorage, generic client authentication, parameter assembly). The answer is the one
 * oidc-provider would give — same status, headers that matter and JSON, member order included — which the parity
 * test checks request by request.
 *
 * Anything else goes to oidc-provider unchanged: JWT client authentication, non-PAT tokens, a JWT response
 * (`Accept: application/token-introspection+jwt`), repeated or unknown parameters, malformed or failed client
 * authentication (so its RFC-shaped errors stay the only ones). The body this step read is replayed to it.
 */
import type { Context, Middleware } from 'koa';

import { StoreUnavailableError } from '../../adapters/types.ts';
import type { SecretAuthenticator } from '../services/client-secrets.ts';
import { FORM_BODY_LIMIT, basicCredentials, readFormBody } from './form-body.ts';
import type { PatFormat } from '../services/pat-format.ts';
import type { LivePat, PatService } from '../services/pats.ts';

const PARAMS = new Set(['token', 'token_type_hint', 'client_id', 'client_secret']);

export interface FastIntrospectionDeps {
  readonly pats: PatService;
  readonly format: PatFormat;
  readonly authenticate: SecretAuthenticator;
  readonly issuer: string;
  readonly patClientId: string;
  readonly retryAfterSeconds: number;
  /** Told the outcome of each request answered here (metrics). */
  readonly onAnswer?: (outcome: 'active' | 'inactive' | 'error') => void;
}

/** The credentials of exactly one secret mechanism, or null (none, several, malformed: not for the fast path). */
function presentedSecret(ctx: Context, params: URLSearchParams): { clientId: string; clientSecret: string } | null {
  const header = ctx.get('Authorization');
  const bodyId = params.get('client_id');
  const bodySecret = params.get('client_secret');
  if (header) {
    if (bodySecret !== null) return null;
    const basic = basicCredentials(header);
    if (!basic) return null;
    const { clientId, clientSecret } = basic;
    if (bodyId !== null && bodyId !== clientId) return null;
    return { clientId, clientSecret };
  }
  if (!bodyId || !bodySecret) return null;
  return { clientId: bodyId, clientSecret: bodySecret };
}

/** The introspection response oidc-provider renders for a live PAT, member for member. */
export function renderLivePat(live: LivePat, issuer: string, patClientId: string): Record<string, unknown> {
  return {
    active: true,
    sub: live.userId,
    username: live.username,
    token_kind: 'personal_access_token',
    pat_name: live.name,
    client_id: patClientId,
    ...(live.expiresAt === null ? {} : { exp: live.expiresAt }),
    iat: live.issuedAt,
    iss: issuer,
    jti: live.id,
    ...(live.resource === null ? {} : { aud: live.resource }),
    ...(live.scopes.length === 0 ? {} : { scope: live.scopes.join(' ') }),
    token_type: 'Bearer',
  };
}

/** The fast-path middleware. */
export function fastIntrospection(deps: FastIntrospectionDeps): Middleware {
  const { pats, format, authenticate, issuer, patClientId } = deps;
  /** Answers the request when it qualifies; false leaves it (body replayed) to oidc-provider. */
  async function answer(ctx: Context): Promise<boolean> {
    if (
      ctx.method !== 'POST' ||
      ctx.path !== '/introspect' ||
      !ctx.is('application/x-www-form-urlencoded') ||
      ctx.accepts('json', 'application/token-introspection+jwt') !== 'json' ||
      ctx.req.readableEncoding
    ) {
      return false;
    }
    const raw = await readFormBody(ctx.req, ctx.request.length);
    if (raw === null) return false;
    if (raw.length > FORM_BODY_LIMIT || (ctx.request.length !== undefined && raw.length !== ctx.request.length))
      return false;

    const params = new URLSearchParams(raw.toString('utf8'));
    const seen = new Set<string>();
    for (const key of params.keys()) {
      if (!PARAMS.has(key) || seen.has(key)) return false;
      seen.add(key);
    }
    const token = params.get('token');
    if (!token || !format.hasPrefix(token)) return false;
    const presented = presentedSecret(ctx, params);
    if (!presented) return false;

    try {
      const check = await authenticate(presented);
      if (check.outcome !== 'authenticated') return false;
      const live = await pats.lookup(token, {
        clientId: check.clientId,
        actor: { id: `client:${check.clientId}`, via: 'introspection' },
      });
      ctx.set('Cache-Control', 'no-store');
      ctx.body = live ? renderLivePat(live, issuer, patClientId) : { active: false };
      deps.onAnswer?.(live ? 'active' : 'inactive');
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      ctx.status = 503;
      ctx.set('Retry-After', String(deps.retryAfterSeconds));
      ctx.body = {
        error: 'temporarily_unavailable',
        error_description: 'the token store is temporarily unavailable; retry later',
      };
      deps.onAnswer?.('error');
    }
    return true;
  }

  return async function introspectPat(ctx, next) {
    if (!(await answer(ctx))) await next();
  };
}

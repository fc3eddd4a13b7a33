/**
 * The introspection fast path: `POST /introspect` with a PAT-shaped token and client_secret_basic or
 * client_secret_post is answered here, in front of Koa and without oidc-provider's middleware chain (JOSE header decoding of every
 * token, AsyncLocalStorage, generic client authentication, parameter assembly). The answer is the one
 * oidc-provider would give — same status, headers that matter and JSON, member order included — which the parity
 * test checks request by request.
 *
 * Anything else goes to oidc-provider unchanged: JWT client authentication, non-PAT tokens, a JWT response
 * (`Accept: application/token-introspection+jwt`), repeated or unknown parameters, malformed or failed client
 * authentication (so its RFC-shaped errors stay the only ones). The body this step read is replayed to it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { StoreUnavailableError } from '../../adapters/types.ts';
import { ServiceUnavailable, errorBody } from '../errors.ts';
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
  /** Whether failed authentications have blocked this client id or address (then the application answers 429). */
  readonly isBlocked?: (clientId: string, address: string) => boolean;
}

/** The credentials of exactly one secret mechanism, or null (none, several, malformed: not for the fast path). */
function presentedSecret(
  header: string | undefined,
  params: URLSearchParams,
): { clientId: string; clientSecret: string } | null {
  const bodyId = params.get('client_id');
  const bodySecret = params.get('client_secret');
  if (header) {
    if (bodySecret !== null) return null;
    const basic = basicCredentials(header);
    if (!basic) return null;
    if (bodyId !== null && bodyId !== basic.clientId) return null;
    return basic;
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

const FORM = /^application\/x-www-form-urlencoded\s*(;|$)/i;

/** Whether the Accept header lets a JSON answer through (oidc-provider answers JWT only when it is preferred). */
function acceptsJson(accept: string | undefined): boolean {
  return accept === undefined || !/application\/token-introspection\+jwt/i.test(accept);
}

/**
 * The fast path as a plain `node:http` step, ahead of Koa: the outcome when it answered the request, false when it
 * left it (its body replayed) to the application.
 */
export type FastOutcome = 'active' | 'inactive' | 'error';

export function fastIntrospectionHandler(
  deps: FastIntrospectionDeps,
): (req: IncomingMessage, res: ServerResponse) => Promise<false | FastOutcome> {
  const { pats, format, authenticate, issuer, patClientId } = deps;
  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-store',
      ...headers,
    });
    res.end(text);
  };
  return async (req, res) => {
    if (req.method !== 'POST' || req.url !== '/introspect') return false;
    const type = req.headers['content-type'];
    if (!type || !FORM.test(type) || !acceptsJson(req.headers.accept) || req.readableEncoding) return false;
    const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
    if (declared !== undefined && !Number.isSafeInteger(declared)) return false;
    const raw = await readFormBody(req, declared);
    if (raw === null || raw.length > FORM_BODY_LIMIT || (declared !== undefined && raw.length !== declared))
      return false;

    const params = new URLSearchParams(raw.toString('utf8'));
    const seen = new Set<string>();
    for (const key of params.keys()) {
      if (!PARAMS.has(key) || seen.has(key)) return false;
      seen.add(key);
    }
    const token = params.get('token');
    if (!token || !format.hasPrefix(token)) return false;
    const presented = presentedSecret(req.headers.authorization, params);
    if (!presented || deps.isBlocked?.(presented.clientId, req.socket.remoteAddress ?? '')) return false;

    const check = await authenticate(presented);
    if (check.outcome !== 'authenticated') return false;
    try {
      const live = await pats.lookup(token, {
        clientId: check.clientId,
        actor: { id: `client:${check.clientId}`, via: 'introspection' },
      });
      send(res, 200, live ? renderLivePat(live, issuer, patClientId) : { active: false });
      return live ? 'active' : 'inactive';
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      const unavailable = new ServiceUnavailable(deps.retryAfterSeconds);
      send(res, unavailable.status, errorBody(unavailable), { ...unavailable.headers });
      return 'error';
    }
  };
}

/** Small cross-cutting middleware for every request. */
import { randomUUID } from 'node:crypto';

import type { Middleware } from 'koa';

import { MethodNotAllowed, NotFound } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { renderError } from './errors.ts';

/**
 * One JSON log line per request: method, path (never the query string, which could carry a credential), status,
 * duration, request id. Never headers or bodies.
 */
export function requestLog(logger: Logger): Middleware {
  return async function logRequest(ctx, next) {
    const started = process.hrtime.bigint();
    const given = ctx.get('X-Request-Id');
    const id = /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
    ctx.set('X-Request-Id', id);
    try {
      await next();
    } finally {
      if (logger.isLevelEnabled('info')) {
        logger.info(
          {
            req_id: id,
            method: ctx.method,
            path: ctx.path,
            status: ctx.status,
            ms: Number(process.hrtime.bigint() - started) / 1e6,
          },
          'request',
        );
      }
    }
  };
}

/**
 * Every URL Tokenwarden writes (discovery, `iss`, the endpoints in its metadata) comes from `ISSUER`, never from
 * the request: the protocol and host Koa reports are set here from the issuer, whatever `Host` or
 * `X-Forwarded-Host` a client sent. Otherwise a cache that ignores `Host` could be fed a discovery document
 * pointing resource servers, and their client secrets, elsewhere. `onOtherHost` (development only) hears of a
 * request whose `Host` is not the issuer's: its client would find every URL in discovery on another host.
 */
export function issuerOrigin(issuer: string, onOtherHost?: (host: string) => void): Middleware {
  const url = new URL(issuer);
  const protocol = url.protocol.slice(0, -1);
  return async function originFromIssuer(ctx, next) {
    const headers = ctx.req.headers;
    if (onOtherHost && headers.host !== undefined && headers.host.toLowerCase() !== url.host) {
      onOtherHost(headers.host);
    }
    headers.host = url.host;
    headers['x-forwarded-host'] = url.host;
    headers['x-forwarded-proto'] = protocol;
    await next();
  };
}

/** Endpoints a browser must not call across origins: they carry client secrets and tokens. */
const SERVER_TO_SERVER = new Set(['/token', '/introspect', '/revoke']);

/**
 * `/token`, `/introspect` and `/revoke` are for servers, with client credentials: they send no CORS headers (a
 * browser's cross-origin call, preflight or not, is refused by the browser), and answer any method but POST with
 * 405 and `Allow: POST`. Discovery and `/jwks` are public documents and allow any origin.
 */
export function serverToServerEndpoints(): Middleware {
  return async function serverToServer(ctx, next) {
    if (!SERVER_TO_SERVER.has(ctx.path)) {
      await next();
      return;
    }
    if (ctx.method !== 'POST') {
      renderError(ctx, new MethodNotAllowed(['POST']));
      return;
    }
    await next();
    for (const name of Object.keys(ctx.response.headers)) {
      if (name.toLowerCase().startsWith('access-control-')) ctx.remove(name);
    }
    if (ctx.response.get('Vary') === 'Origin') ctx.remove('Vary');
  };
}

const DISCOVERY = '/.well-known/openid-configuration';

/**
 * RFC 8414: serve the metadata at `/.well-known/oauth-authorization-server` too, and state the client
 * authentication methods of the introspection and revocation endpoints (oidc-provider leaves them out, and
 * RFC 8414 §2 then means "client_secret_basic only"). They are the token endpoint's: one client authentication.
 * `scopes_supported` lists the PAT scope catalogue with the OAuth scopes, and the document may be cached for five
 * minutes (its URLs come from `ISSUER` only).
 */
export function authorizationServerMetadata(catalogue: readonly string[]): Middleware {
  return async function rfc8414Metadata(ctx, next) {
    if (ctx.path === '/.well-known/oauth-authorization-server') ctx.path = DISCOVERY;
    await next();
    if (ctx.path !== DISCOVERY) return;
    const body = ctx.body as Record<string, unknown> | undefined;
    if (ctx.status !== 200 || !body || typeof body !== 'object') return;
    ctx.set('Cache-Control', 'public, max-age=300');
    const oauthScopes = Array.isArray(body.scopes_supported) ? (body.scopes_supported as string[]) : [];
    body.scopes_supported = [...new Set([...catalogue, ...oauthScopes])];
    // Unless the embedded console signs in through it, no grant type here uses the authorization endpoint
    // (RFC 8414 §2: then it is omitted), nor what goes with it.
    const grants = body.grant_types_supported;
    const authorizationCode = Array.isArray(grants) && grants.includes('authorization_code');
    for (const unused of authorizationCode
      ? []
      : [
          'authorization_endpoint',
          'response_modes_supported',
          'authorization_response_iss_parameter_supported',
          'code_challenge_methods_supported',
          'claims_parameter_supported',
          'request_uri_parameter_supported',
        ]) {
      delete body[unused];
    }
    for (const endpoint of ['introspection', 'revocation']) {
      if (!(`${endpoint}_endpoint` in body)) continue;
      const methods = body.token_endpoint_auth_methods_supported;
      // A public client (the embedded console's `none`) may revoke, never introspect.
      body[`${endpoint}_endpoint_auth_methods_supported`] ??=
        endpoint === 'introspection' && Array.isArray(methods) ? methods.filter((m) => m !== 'none') : methods;
      body[`${endpoint}_endpoint_auth_signing_alg_values_supported`] ??=
        body.token_endpoint_auth_signing_alg_values_supported;
    }
  };
}

/** Unknown paths and methods get a JSON 404 like every other error, not Koa's plain-text one. */
export function notFoundAsJson(): Middleware {
  return async function notFound(ctx, next) {
    await next();
    if (ctx.status === 404 && ctx.body == null) renderError(ctx, new NotFound(`endpoint ${ctx.method} ${ctx.path}`));
  };
}

/** Adds `Retry-After` to every 503 that does not carry one (oidc-provider renders storage outages as 503). */
export function retryAfterOn503(seconds: number): Middleware {
  return async function retryAfter(ctx, next) {
    await next();
    if (ctx.status === 503 && !ctx.response.get('Retry-After')) ctx.set('Retry-After', String(seconds));
  };
}

/**
 * Composition, part 4: the HTTP application. Mounts Tokenwarden's middleware on oidc-provider's Koa application,
 * in request order: the issuer's origin and the client's address first, then metrics, the request log, health,
 * the OAuth endpoints' guards (405, no CORS, the failed-authentication throttle), discovery, the console, the
 * OpenAPI document and its page (`/docs`), and the management API. Also builds the introspection fast path that runs ahead of all this.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import type Provider from 'oidc-provider';

import type { Config } from '../../config/index.ts';
import { loadCatalogues } from '../console/catalogues.ts';
import { consoleRoutes } from '../console/routes.ts';
import {
  authorizationServerMetadata,
  issuerOrigin,
  notFoundAsJson,
  requestLog,
  retryAfterOn503,
  serverToServerEndpoints,
} from '../http/middleware.ts';
import { createAddressResolver } from '../introspection/address.ts';
import { createSecretAuthenticator } from '../introspection/client-secrets.ts';
import { fastIntrospectionHandler, type FastPathDone } from '../introspection/fast-transport.ts';
import { createAuthThrottle, throttleFailedClientAuth } from '../introspection/throttle.ts';
import { createThrottledWarn, type Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { devSignIn } from '../oidc/dev-signin.ts';
import { embeddedTrustedIssuer } from '../oidc/embedded-console.ts';
import { findClientCredentials } from '../oidc/oauth-tokens.ts';
import { adminRoutes } from '../routes/admin.ts';
import { createApiRoutes } from '../routes/api.ts';
import { credentialRoutes } from '../routes/credentials.ts';
import { inactiveTokenRoutes } from '../routes/inactive.ts';
import { createHealthRoutes } from '../routes/health.ts';
import { docsPageRoute } from '../routes/docs-page.ts';
import { meRoutes } from '../routes/me.ts';
import { openApiDocument, openApiRoute } from '../routes/openapi.ts';
import { ssfConfiguration, ssfRoutes } from '../routes/ssf.ts';
import { webhookRoutes } from '../routes/webhooks.ts';
import { createCallerResolver } from '../services/callers.ts';
import { hashClientSecret } from '../services/client-secret-hash.ts';
import type { Clock } from '../services/clock.ts';
import { createRateLimiter } from '../services/rate-limit.ts';
import type { Jobs } from './jobs.ts';
import type { OAuthServer } from './oauth-server.ts';
import type { Services } from './services.ts';
import type { Stores } from './stores.ts';

type FastPath = (req: IncomingMessage, res: ServerResponse, done: FastPathDone) => void;

interface Parts {
  readonly stores: Stores;
  readonly services: Services;
  readonly oauth: OAuthServer;
  readonly jobs: Jobs;
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

/** The introspection fast path, or null when `INTROSPECTION_FAST_PATH=false`. */
function createFastPath(config: Config, parts: Parts): FastPath | null {
  if (!config.introspectionFastPath) return null;
  const { stores, oauth, clock } = parts;
  const clientCache = stores.clientCache;
  return fastIntrospectionHandler({
    introspector: oauth.introspector,
    authenticator: createSecretAuthenticator({
      staticClients: [
        {
          client_id: config.adminClient.clientId,
          client_secret: hashClientSecret(config.adminClient.clientSecret),
          token_endpoint_auth_method: 'client_secret_basic',
        },
      ],
      store: stores.oidcStore,
      ...(clientCache ? { cached: clientCache } : {}),
      clock,
    }),
    issuer: config.issuer,
    patClientId: config.pat.clientId,
    retryAfterSeconds: config.retryAfterSeconds,
  });
}

/** The management API's routes and its caller resolution. */
function managementApi(config: Config, parts: Parts, provider: Provider) {
  const { stores, services, oauth, clock, logger } = parts;
  const { users, pats, audit } = services;
  const routeDeps = {
    users,
    pats,
    clients: oauth.clients,
    audit,
    clock,
    scopes: config.policy.scopes,
    policy: config.policy,
  };
  const routes = [
    ...inactiveTokenRoutes({ inactive: parts.jobs.inactive, clock }),
    ...adminRoutes(routeDeps),
    ...meRoutes(routeDeps),
    ...credentialRoutes({
      pats,
      limiter: createRateLimiter({ limit: config.limits.credentialRevocationsPerAddress, windowMs: 60_000, clock }),
    }),
    ...webhookRoutes({ webhooks: services.webhooks, audit }),
    ...ssfRoutes({ streams: services.streams, audit, issuer: config.issuer }),
  ];
  const api = createApiRoutes({
    routes,
    resolveCaller: createCallerResolver({
      findClientToken: (token) => findClientCredentials(provider, token),
      pats,
      users: stores.storage.users,
      format: services.format,
      trustedIssuers:
        config.console.mode === 'embedded'
          ? [...config.trustedIssuers, embeddedTrustedIssuer(config, stores.jwks)]
          : config.trustedIssuers,
      retryAfterSeconds: config.retryAfterSeconds,
    }),
    logger,
    retryAfterSeconds: config.retryAfterSeconds,
  });
  return { routes, api };
}

/**
 * In development, a request whose `Host` is not the issuer's host is a client about to fail: discovery fetched from
 * `http://127.0.0.1:3000` says `"issuer": "http://localhost:3000"`, and OAuth clients (openid-client, oauth4webapi,
 * zitadel/oidc) refuse the mismatch. Logged at most once a minute, with the URL to use.
 */
function otherHostWarning(config: Config, logger: Logger): (host: string) => void {
  const warn = createThrottledWarn(logger, 60_000);
  return (host) =>
    warn(
      'host-differs-from-issuer',
      { host: host.slice(0, 100), issuer: config.issuer },
      'request Host differs from the ISSUER host: OAuth clients reject discovery through this address (issuer mismatch); use the issuer URL, or set ISSUER',
    );
}

/** Mounts everything on the provider's Koa application; returns the fast path to run ahead of it. */
export function mountApplication(config: Config, parts: Parts): { fastPath: FastPath | null } {
  const { stores, oauth, clock, metrics, logger } = parts;
  const { provider } = oauth;
  const addressOf = createAddressResolver(config.trustedProxyHops);
  provider.use(
    issuerOrigin(config.issuer, config.env === 'development' ? otherHostWarning(config, logger) : undefined),
  );
  provider.use(async function clientAddress(ctx, next) {
    ctx.request.ip = addressOf(ctx.req);
    await next();
  });
  provider.use(metrics.middleware());
  provider.use(requestLog(logger));
  provider.use(notFoundAsJson());
  const cache = stores.cache;
  provider.use(
    createHealthRoutes({
      timeoutMs: 1000,
      checks: { storage: () => stores.storage.ping(), ...(cache ? { redis: () => cache.ping() } : {}) },
    }),
  );
  provider.use(metrics.route());
  provider.use(serverToServerEndpoints());
  const throttle = createAuthThrottle({
    perClientAndAddress: config.limits.authFailuresPerClient,
    perAddress: config.limits.authFailuresPerAddress,
    clock,
  });
  provider.use(throttleFailedClientAuth(throttle, addressOf));
  provider.use(authorizationServerMetadata(Object.keys(config.policy.scopes)));
  provider.use(ssfConfiguration(config.issuer));
  provider.use(retryAfterOn503(config.retryAfterSeconds));
  const { routes, api } = managementApi(config, parts, provider);
  provider.use(openApiRoute(openApiDocument(routes, config.issuer)));
  provider.use(docsPageRoute());
  const catalogues = loadCatalogues();
  provider.use(consoleRoutes({ config, catalogues }));
  if (config.console.mode === 'embedded') {
    provider.use(devSignIn({ provider, users: stores.storage.users, catalogues }));
  }
  provider.use(api);
  return { fastPath: createFastPath(config, parts) };
}

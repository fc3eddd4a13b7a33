/**
 * The composition root: the one place that turns a {@link Config} into connected stores, services, the
 * oidc-provider application and an HTTP server. Nothing else creates a connection.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import type Provider from 'oidc-provider';

import { createCachedOidcStore } from '../adapters/cached-oidc-store.ts';
import { createMemoryStorage } from '../adapters/memory/storage.ts';
import { createMongoStorage } from '../adapters/mongo/storage.ts';
import { createRedisCache } from '../adapters/redis/cache.ts';
import type { Cache, Storage } from '../adapters/types.ts';
import type { Config } from '../config/index.ts';
import { describeError } from './http/errors.ts';
import { authFailureThrottle } from './http/auth-throttle.ts';
import { fastIntrospectionHandler } from './http/fast-introspection.ts';
import { authorizationServerMetadata, notFoundAsJson, requestLog, retryAfterOn503 } from './http/middleware.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics } from './metrics.ts';
import { createProvider } from './oidc/provider.ts';
import { createApiRoutes } from './routes/api.ts';
import { createHealthRoutes } from './routes/health.ts';
import { adminRoutes } from './routes/admin.ts';
import { credentialRoutes } from './routes/credentials.ts';
import { meRoutes } from './routes/me.ts';
import { openApiDocument, openApiRoute } from './routes/openapi.ts';
import { createAuditService, type AuditService } from './services/audit.ts';
import { createCallerResolver } from './services/callers.ts';
import { createSecretAuthenticator } from './services/client-secrets.ts';
import { createRateLimiter } from './services/rate-limit.ts';
import { createClientService, type ClientService } from './services/clients.ts';
import { systemClock, type Clock } from './services/clock.ts';
import { createPatFormat, type PatFormat } from './services/pat-format.ts';
import { createPatService, type PatService } from './services/pats.ts';
import { createUserService, type UserService } from './services/users.ts';

export interface TokenwardenOptions {
  /** Clock for PAT expiry (tests move it). Default: the system clock. */
  readonly clock?: Clock;
  /** Logger; default: JSON lines on stdout at `config.logLevel`. */
  readonly logger?: Logger;
  /** Already-built storage (tests wrap the real stores to count calls). Default: built from `config.storage`. */
  readonly storage?: Storage;
  /** Already-built cache, or null for none. Default: built from `config.redis`. */
  readonly cache?: Cache | null;
}

/** A wired Tokenwarden instance. */
export interface Tokenwarden {
  readonly config: Config;
  readonly provider: Provider;
  readonly logger: Logger;
  readonly services: {
    readonly users: UserService;
    readonly pats: PatService;
    readonly clients: ClientService;
    readonly audit: AuditService;
    readonly format: PatFormat;
  };
  /** Starts listening on `config.host:config.port` (port 0 picks a free one); resolves with the base URL. */
  listen(): Promise<{ url: string; server: Server }>;
  /**
   * Graceful shutdown: stop accepting connections, let in-flight requests finish (up to
   * `config.shutdownTimeoutMs`, then cut the rest), then close MongoDB and Redis.
   */
  close(): Promise<void>;
}

/** Throttles a warning to one line per `intervalMs` per key (a dead Redis must not flood the logs). */
function throttledWarn(logger: Logger, intervalMs: number) {
  const last = new Map<string, number>();
  return (key: string, fields: Record<string, unknown>, message: string) => {
    const now = Date.now();
    if ((last.get(key) ?? 0) + intervalMs > now) return;
    last.set(key, now);
    logger.warn(fields, message);
  };
}

/** Builds every store, service and the application from `config`. Connects to MongoDB (when configured). */
export async function createTokenwarden(config: Config, options: TokenwardenOptions = {}): Promise<Tokenwarden> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const minute = 60_000;
  const metrics = createMetrics();
  const clock = options.clock ?? systemClock;
  const warn = throttledWarn(logger, 10_000);

  const storage: Storage =
    options.storage ??
    (config.storage.kind === 'memory'
      ? createMemoryStorage()
      : await createMongoStorage({
          uri: config.storage.uri,
          timeoutMs: config.storage.timeoutMs,
          onTtlFallback: (error) =>
            logger.warn(
              { err: describeError(error) },
              'TTL indexes unavailable; expiring oidc payloads with a sweeper',
            ),
          onDriverUnguarded: () =>
            logger.warn(
              'this MongoDB driver version is not guarded against a write to a just-closed socket hanging; a MongoDB restart may need a Tokenwarden restart',
            ),
        }));
  const cache: Cache | null =
    options.cache !== undefined
      ? options.cache
      : config.redis
        ? createRedisCache({ topology: config.redis.topology, commandTimeoutMs: config.redis.commandTimeoutMs })
        : null;

  const clientCache =
    config.clientCacheTtlSeconds > 0
      ? createCachedOidcStore(storage.oidc, {
          models: ['Client'],
          ttlMs: config.clientCacheTtlSeconds * 1000,
          max: 10_000,
          now: () => clock.now().getTime(),
        })
      : null;
  const oidcStore = clientCache ?? storage.oidc;
  const format = createPatFormat(config.pat.prefix);
  const audit = createAuditService({
    store: storage.audit,
    clock,
    onDeferred: (error, waiting) => {
      metrics.storeError('mongodb');
      warn('audit', { err: describeError(error), waiting }, 'audit event kept in memory until MongoDB is back');
    },
    onDropped: (dropped) =>
      logger.error({ dropped }, 'audit events dropped: the store refused them or too many waited'),
  });
  const pats = createPatService({
    pats: storage.pats,
    users: storage.users,
    cache,
    barrier: storage.barrier,
    audit,
    format,
    clock,
    policy: config.policy,
    cacheTtlSeconds: config.cacheTtlSeconds,
    localCache: { ttlMs: config.localCache.ttlSeconds * 1000, max: config.localCache.max },
    negativeTtlSeconds: config.negativeCacheTtlSeconds,
    onCacheError: (operation, error) => {
      metrics.storeError('redis');
      warn(`cache:${operation}`, { operation, err: describeError(error) }, 'Redis unavailable; answering from MongoDB');
    },
    onBackgroundError: (operation, error) => {
      metrics.storeError('mongodb');
      warn(`background:${operation}`, { operation, err: describeError(error) }, 'background write failed');
    },
    onLookup: (layer) => metrics.lookup(layer),
    onLastUsedWrite: () => metrics.lastUsedWrite(),
  });
  const users = createUserService({ users: storage.users, pats, audit, clock });
  const provider = createProvider({
    config,
    store: oidcStore,
    pats,
    format,
    onUnavailable: (error) => {
      metrics.storeError('mongodb');
      warn('storage', { err: describeError(error) }, 'token store unreachable; answering 503 where the cache cannot');
    },
  });
  const clients = createClientService({
    store: oidcStore,
    clock,
    validate: async (metadata) => {
      await provider.Client.validate(metadata as unknown as Parameters<typeof provider.Client.validate>[0]);
    },
  });

  provider.on('server_error', (ctx: { path: string }, error: unknown) => {
    logger.error({ err: describeError(error), path: ctx.path }, 'oidc-provider server error');
  });

  provider.use(metrics.middleware());
  provider.use(requestLog(logger));
  provider.use(notFoundAsJson());
  provider.use(
    createHealthRoutes({
      timeoutMs: 1000,
      checks: {
        storage: () => storage.ping(),
        ...(cache ? { redis: () => cache.ping() } : {}),
      },
    }),
  );
  provider.use(metrics.route());
  const failedAuth = {
    perClient: createRateLimiter({ limit: config.limits.authFailuresPerClient, windowMs: minute, clock }),
    perAddress: createRateLimiter({ limit: config.limits.authFailuresPerAddress, windowMs: minute, clock }),
  };
  provider.use(authFailureThrottle(failedAuth));
  const fastPath = config.introspectionFastPath
    ? fastIntrospectionHandler({
        pats,
        format,
        authenticator: createSecretAuthenticator({
          staticClients: [
            {
              client_id: config.adminClient.clientId,
              client_secret: config.adminClient.clientSecret,
              token_endpoint_auth_method: 'client_secret_basic',
            },
          ],
          store: oidcStore,
          ...(clientCache ? { peek: (model: string, id: string) => clientCache.peek(model, id) } : {}),
          clock,
        }),
        issuer: config.issuer,
        patClientId: config.pat.clientId,
        retryAfterSeconds: config.retryAfterSeconds,
        isBlocked: (clientId, address) =>
          failedAuth.perClient.blocked(clientId) > 0 || failedAuth.perAddress.blocked(address) > 0,
      })
    : null;
  provider.use(authorizationServerMetadata());
  provider.use(retryAfterOn503(config.retryAfterSeconds));
  const routeDeps = { users, pats, clients, audit, clock, scopes: config.policy.scopes };
  const routes = [
    ...adminRoutes(routeDeps),
    ...meRoutes(routeDeps),
    ...credentialRoutes({
      pats,
      limiter: createRateLimiter({ limit: config.limits.credentialRevocationsPerAddress, windowMs: minute, clock }),
    }),
  ];
  provider.use(openApiRoute(openApiDocument(routes, config.issuer)));
  provider.use(
    createApiRoutes({
      routes,
      resolveCaller: createCallerResolver({
        provider,
        pats,
        users: storage.users,
        format,
        trustedIssuers: config.trustedIssuers,
        retryAfterSeconds: config.retryAfterSeconds,
      }),
      logger,
      retryAfterSeconds: config.retryAfterSeconds,
    }),
  );

  let server: Server | undefined;
  let draining = false;
  /** The request-metric series of the fast path's outcomes, bound once. */
  const fastSeries = {
    active: metrics.series('/introspect', 'active'),
    inactive: metrics.series('/introspect', 'inactive'),
    error: metrics.series('/introspect', '5xx'),
  };
  /** Metrics and the request log line for a request the fast path answered (Koa's middleware never saw it). */
  const observeFastPath = (status: number, outcome: 'active' | 'inactive' | 'error', ms: number) => {
    metrics.fastPath(outcome);
    fastSeries[outcome].record(ms / 1000);
    if (logger.isLevelEnabled('info')) {
      logger.info({ req_id: randomUUID(), method: 'POST', path: '/introspect', status, ms }, 'request');
    }
  };

  return {
    config,
    provider,
    logger,
    services: { users, pats, clients, audit, format },

    async listen() {
      const handle = provider.callback();
      server = createServer((req, res) => {
        if (draining) res.shouldKeepAlive = false;
        if (fastPath && req.method === 'POST' && req.url === '/introspect') {
          // The PAT fast path answers ahead of Koa; whatever it leaves goes to the application unchanged.
          const started = performance.now();
          fastPath(req, res, (error, outcome) => {
            if (error !== null) {
              logger.error({ err: describeError(error), path: '/introspect' }, 'request failed');
              if (!res.headersSent) {
                res.writeHead(500, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
              }
              if (!res.writableEnded) {
                res.end(JSON.stringify({ error: 'server_error', error_description: 'internal server error' }));
              }
            } else if (outcome === false) void handle(req, res);
            else if (outcome !== 'aborted') {
              observeFastPath(res.statusCode, outcome, performance.now() - started);
            }
          });
          return;
        }
        void handle(req, res);
      });
      server.keepAliveTimeout = 65_000;
      server.headersTimeout = 66_000;
      server.requestTimeout = 30_000;
      const listening = server;
      await new Promise<void>((resolve, reject) => {
        listening.once('error', reject);
        listening.listen(config.port, config.host, () => resolve());
      });
      const { port } = listening.address() as AddressInfo;
      const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
      return { url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, server: listening };
    },

    async close() {
      draining = true;
      if (server) {
        const closing = server;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => closing.closeAllConnections(), config.shutdownTimeoutMs);
          timer.unref();
          // A keep-alive connection whose in-flight response has finished is idle from then on: close those as
          // they appear (per request, a 'finish' listener would cost every request, draining or not).
          const sweep = setInterval(() => closing.closeIdleConnections(), 25);
          closing.close(() => {
            clearTimeout(timer);
            clearInterval(sweep);
            resolve();
          });
          closing.closeIdleConnections();
        });
      }
      pats.close();
      const unwritten = await audit.close();
      if (unwritten > 0) logger.error({ unwritten }, 'audit events lost at shutdown: MongoDB was unreachable');
      await Promise.allSettled([storage.close(), cache?.close()]);
    },
  };
}

/**
 * Composition, part 2: the services (audit log, PATs, users, lifecycle events and their delivery), told where to
 * report what goes wrong: store errors are counted in the metrics and logged at most once per ten seconds per kind,
 * never with a token or hash.
 */
import { hostname } from 'node:os';

import type { Config } from '../../config/index.ts';
import { createAudience } from '../events/audience.ts';
import { createDispatcher, type Dispatcher } from '../events/dispatcher.ts';
import { parseNetworks } from '../events/http-target.ts';
import { createOutbox, type Outbox } from '../events/outbox.ts';
import { createSetSigner } from '../events/ssf/set.ts';
import { createStreamService, type StreamService } from '../events/ssf/streams.ts';
import { createWebhookService, type WebhookService } from '../events/webhooks.ts';
import { describeError } from '../http/errors.ts';
import type { Logger, ThrottledWarn } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { createCacheCodec } from '../pats/cache-codec.ts';
import { createPatCache, type PatCache } from '../pats/cache-protocol.ts';
import { createPatService } from '../pats/service.ts';
import type { PatService } from '../pats/types.ts';
import { createAuditService, type AuditService } from '../services/audit.ts';
import type { Clock } from '../services/clock.ts';
import { createPatFormat, type PatFormat } from '../services/pat-format.ts';
import { createUserService, type UserService } from '../services/users.ts';
import { randomBase62 } from '../services/pat-format.ts';
import { signingAlgOf } from '../oidc/provider.ts';
import type { Stores } from './stores.ts';

export interface Services {
  readonly format: PatFormat;
  readonly audit: AuditService;
  readonly pats: PatService;
  readonly users: UserService;
  /** The outbox of lifecycle events (`server/events/outbox.ts`). */
  readonly outbox: Outbox;
  readonly webhooks: WebhookService;
  readonly streams: StreamService;
  /** The push worker. */
  readonly dispatcher: Dispatcher;
  /** The token caches, shared by PATs and OAuth access tokens. */
  readonly tokenCache: PatCache;
}

/** The event services: the outbox, webhooks, SSF streams and the push worker. */
function createEventServices(
  config: Config,
  stores: Stores,
  deps: { clock: Clock; metrics: Metrics; warn: ThrottledWarn },
): Pick<Services, 'outbox' | 'webhooks' | 'streams' | 'dispatcher'> {
  const { storage } = stores;
  const { clock, metrics, warn } = deps;
  const onError = (operation: string, error: unknown) => {
    metrics.storeError('mongodb');
    warn(
      `events:${operation}`,
      { operation, err: describeError(error) },
      'event relay or delivery step failed; retried',
    );
  };
  const retryMs = config.events.retryHours * 3600_000;
  const outbox = createOutbox({
    stores: storage.events,
    pats: storage.pats,
    users: storage.users,
    oidc: storage.oidc,
    audience: createAudience({ webhooks: storage.events.webhooks, streams: storage.events.streams }),
    clock,
    dispatch: config.events.dispatch,
    sweepMs: config.events.sweepSeconds * 1000,
    retryMs,
    retentionMs: config.events.retentionDays * 86_400_000,
    onError,
  });
  const limits = {
    timeoutMs: config.events.deliveryTimeoutMs,
    maxResponseBytes: config.events.maxResponseBytes,
    policy: parseNetworks(config.events.allowedNetworks),
  };
  const webhooks = createWebhookService({
    store: storage.events.webhooks,
    deliveries: storage.events.deliveries,
    outbox,
    keyring: stores.keyring,
    clock,
    limits,
  });
  const key = stores.jwks.keys[0]!;
  const streams = createStreamService({
    store: storage.events.streams,
    deliveries: storage.events.deliveries,
    outbox,
    signer: createSetSigner({ issuer: config.issuer, key, alg: signingAlgOf(key) }),
    keyring: stores.keyring,
    clock,
    issuer: config.issuer,
    limits,
    pollMaxWaitMs: config.events.pollMaxWaitSeconds * 1000,
    maxStreamsPerClient: config.events.maxStreamsPerClient,
    inactivityMs: config.events.streamInactivityDays * 86_400_000,
  });
  const dispatcher = createDispatcher({
    deliveries: storage.events.deliveries,
    transports: { webhook: webhooks.transport, ssf: streams.transport },
    clock,
    owner: `${hostname()}:${process.pid}:${randomBase62(8)}`,
    timeoutMs: config.events.deliveryTimeoutMs,
    retryMs,
    onError,
  });
  outbox.onFannedOut((targets) => {
    if (targets.some((t) => t.method === 'push')) dispatcher.kick();
  });
  return { outbox, webhooks, streams, dispatcher };
}

/** Creates the services over the stores. */
export function createServices(
  config: Config,
  stores: Stores,
  deps: { clock: Clock; metrics: Metrics; logger: Logger; warn: ThrottledWarn },
): Services {
  const { clock, metrics, logger, warn } = deps;
  const { storage } = stores;
  const format = createPatFormat(config.pat.prefix);
  const events = createEventServices(config, stores, { clock, metrics, warn });
  const backgroundError = (operation: string, error: unknown) => {
    metrics.storeError('mongodb');
    warn(`background:${operation}`, { operation, err: describeError(error) }, 'background write failed');
  };
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
  events.outbox.onSweep('expire_streams', async () => {
    for (const stream of await events.streams.expireInactive()) {
      await audit.record(
        'ssf_stream.deleted',
        { id: 'system', via: 'ssf_api' },
        {},
        { stream_id: stream.id, client_id: stream.clientId, reason: 'inactive' },
      );
    }
  });
  const tokenCache = createPatCache({
    cache: stores.cache,
    barrier: storage.barrier,
    codec: createCacheCodec(stores.keyring),
    ttlSeconds: config.cacheTtlSeconds,
    negativeTtlSeconds: config.negativeCacheTtlSeconds,
    local: { ttlMs: config.localCache.ttlSeconds * 1000, max: config.localCache.max },
    clock,
    onCacheError: (operation, error) => {
      metrics.storeError('redis');
      const message =
        operation === 'verify'
          ? 'a shared cache entry failed authentication; answered from MongoDB and replaced'
          : 'Redis unavailable; answering from MongoDB';
      warn(`cache:${operation}`, { operation, err: describeError(error) }, message);
    },
    onBackgroundError: backgroundError,
  });
  const pats = createPatService({
    pats: storage.pats,
    users: storage.users,
    tokenCache,
    audit,
    format,
    clock,
    policy: config.policy,
    onBackgroundError: backgroundError,
    onLookup: (layer) => metrics.lookup(layer),
    onLastUsedWrite: () => metrics.lastUsedWrite(),
    events: events.outbox,
  });
  const users = createUserService({ users: storage.users, pats, audit, clock, events: events.outbox });
  return { format, audit, pats, users, tokenCache, ...events };
}

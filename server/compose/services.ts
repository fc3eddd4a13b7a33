/**
 * Composition, part 2: the services (audit log, PATs, users), told where to report what goes wrong: store errors
 * are counted in the metrics and logged at most once per ten seconds per kind, never with a token or hash.
 */
import type { Config } from '../../config/index.ts';
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
import type { Stores } from './stores.ts';

export interface Services {
  readonly format: PatFormat;
  readonly audit: AuditService;
  readonly pats: PatService;
  readonly users: UserService;
  /** The token caches, shared by PATs and OAuth access tokens. */
  readonly tokenCache: PatCache;
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
  });
  const users = createUserService({ users: storage.users, pats, audit, clock });
  return { format, audit, pats, users, tokenCache };
}

/**
 * Composition, part 1: the stores. Opens MongoDB (or the embedded in-memory store) and Redis from the
 * configuration, derives the keyring from `SECRET_KEY`, resolves the signing keys (configured, or kept in the
 * store), and puts the in-process client cache in front of oidc-provider's store.
 */
import { createCachedOidcStore, type CachedOidcStore } from '../../adapters/cached-oidc-store.ts';
import { createMemoryStorage } from '../../adapters/memory/storage.ts';
import { createMongoStorage } from '../../adapters/mongo/storage.ts';
import { createRedisCache } from '../../adapters/redis/cache.ts';
import type { Cache, OidcStore, Storage } from '../../adapters/types.ts';
import type { Config, SigningJwk } from '../../config/index.ts';
import { describeError } from '../http/errors.ts';
import type { Logger } from '../logger.ts';
import type { Clock } from '../services/clock.ts';
import { createKeyring, type Keyring } from '../services/keyring.ts';
import { loadSigningKeys } from '../services/signing-keys.ts';

export interface Stores {
  readonly storage: Storage;
  readonly cache: Cache | null;
  readonly keyring: Keyring;
  readonly jwks: { readonly keys: readonly SigningJwk[] };
  /** oidc-provider's store, with registered clients cached in memory when `CLIENT_CACHE_TTL_SECONDS` > 0. */
  readonly oidcStore: OidcStore;
  readonly clientCache: CachedOidcStore | null;
}

/** What tests may supply instead of the configured stores. */
export interface StoreOverrides {
  readonly storage?: Storage | undefined;
  readonly cache?: Cache | null | undefined;
}

/** Opens the stores. @throws {StoreUnavailableError} when MongoDB cannot be reached. */
export async function openStores(
  config: Config,
  overrides: StoreOverrides,
  deps: { logger: Logger; clock: Clock },
): Promise<Stores> {
  const { logger, clock } = deps;
  const storage =
    overrides.storage ??
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
  const cache =
    overrides.cache !== undefined
      ? overrides.cache
      : config.redis
        ? createRedisCache({ topology: config.redis.topology, commandTimeoutMs: config.redis.commandTimeoutMs })
        : null;
  const keyring = createKeyring(config.secretKeys);
  const jwks = config.jwks ?? (await loadSigningKeys(storage.signingKeys, keyring));
  const clientCache =
    config.clientCacheTtlSeconds > 0
      ? createCachedOidcStore(storage.oidc, {
          models: ['Client'],
          ttlMs: config.clientCacheTtlSeconds * 1000,
          max: 10_000,
          now: () => clock.nowMs(),
        })
      : null;
  return { storage, cache, keyring, jwks, oidcStore: clientCache ?? storage.oidc, clientCache };
}

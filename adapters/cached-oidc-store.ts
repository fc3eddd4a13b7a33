/**
 * An in-process read-through cache in front of an {@link OidcStore}, for models read on every request and
 * rarely written: registered clients (every introspection authenticates one). lru-cache bounds it by count and
 * TTL. Writes and deletes through this instance drop the entry at once; other instances see a change within the
 * TTL (`CLIENT_CACHE_TTL_SECONDS`). Found payloads only: an unknown id always asks the store.
 */
import { LRUCache } from 'lru-cache';

import type { OidcPayload, OidcStore } from './types.ts';

export interface CachedOidcStoreOptions {
  /** Model names to cache, e.g. `['Client']`. */
  readonly models: readonly string[];
  readonly ttlMs: number;
  readonly max: number;
}

/** Wraps `store` with the cache. */
export function createCachedOidcStore(store: OidcStore, opts: CachedOidcStoreOptions): OidcStore {
  const models = new Set(opts.models);
  const cache = new LRUCache<string, OidcPayload>({ max: opts.max, ttl: opts.ttlMs });
  const key = (model: string, id: string) => `${model}\u0000${id}`;
  return {
    ...store,
    async find(model, id) {
      if (!models.has(model)) return store.find(model, id);
      const hit = cache.get(key(model, id));
      if (hit) return structuredClone(hit);
      const found = await store.find(model, id);
      if (found) cache.set(key(model, id), structuredClone(found));
      return found;
    },
    async upsert(model, id, payload, expiresIn) {
      cache.delete(key(model, id));
      await store.upsert(model, id, payload, expiresIn);
      cache.delete(key(model, id));
    },
    async destroy(model, id) {
      cache.delete(key(model, id));
      await store.destroy(model, id);
      cache.delete(key(model, id));
    },
  };
}

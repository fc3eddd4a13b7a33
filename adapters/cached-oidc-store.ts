/**
 * An in-process read-through cache in front of an {@link OidcStore}, for models read on every request and
 * rarely written: registered clients (every introspection authenticates one). lru-cache bounds it by count.
 * Writes and deletes through this instance drop the entry at once; other instances see a change within
 * `ttlMs` (`CLIENT_CACHE_TTL_SECONDS`). When the store is unreachable, an entry past its TTL is still served
 * (stale-if-error), so a MongoDB outage does not take client authentication, and with it every cached PAT
 * answer, down. Found payloads only: an unknown id always asks the store.
 */
import { LRUCache } from 'lru-cache';

import { StoreUnavailableError, type OidcPayload, type OidcStore } from './types.ts';

export interface CachedOidcStoreOptions {
  /** Model names to cache, e.g. `['Client']`. */
  readonly models: readonly string[];
  readonly ttlMs: number;
  readonly max: number;
  /** Epoch milliseconds. Default `Date.now`. */
  readonly now?: () => number;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** The wrapped store, plus a synchronous read of what it holds in memory. */
export interface CachedOidcStore extends OidcStore {
  /**
   * The payload when it is cached and fresh, with the instant (epoch ms) until which it stays fresh; undefined
   * otherwise (then `find` decides). No I/O.
   */
  peekEntry(model: string, id: string): { payload: OidcPayload; freshUntil: number } | undefined;
  /**
   * Bumped whenever a cached payload may have changed through this instance (written, deleted, or read anew from
   * the store). A reader that saw a payload at generation g and the same generation now knows it is still the
   * cached one (until its `freshUntil`), without looking it up again.
   */
  generation(): number;
}

/** Wraps `store` with the cache. */
export function createCachedOidcStore(store: OidcStore, opts: CachedOidcStoreOptions): CachedOidcStore {
  const models = new Set(opts.models);
  const cache = new LRUCache<string, { payload: OidcPayload; fetchedAt: number }>({ max: opts.max });
  const key = (model: string, id: string) => `${model}\u0000${id}`;
  const now = opts.now ?? Date.now;
  let generation = 0;
  /** Forgets a cached payload (of a cached model: other models, such as tokens, are never cached). */
  const drop = (model: string, id: string) => {
    if (!models.has(model)) return;
    generation++;
    cache.delete(key(model, id));
  };
  return {
    ...store,
    peekEntry(model, id) {
      const hit = models.has(model) ? cache.get(key(model, id)) : undefined;
      const freshUntil = hit ? hit.fetchedAt + opts.ttlMs : 0;
      return hit && now() < freshUntil ? { payload: hit.payload, freshUntil } : undefined;
    },
    generation: () => generation,
    async find(model, id) {
      if (!models.has(model)) return store.find(model, id);
      const hit = cache.get(key(model, id));
      if (hit && now() - hit.fetchedAt < opts.ttlMs) return hit.payload;
      let found: OidcPayload | undefined;
      try {
        found = await store.find(model, id);
      } catch (error) {
        if (hit && error instanceof StoreUnavailableError) return hit.payload;
        throw error;
      }
      if (!found) {
        drop(model, id);
        return undefined;
      }
      // Shared by every reader without copying (read on every request): frozen, so no reader can alter it.
      const payload = deepFreeze(structuredClone(found));
      generation++;
      cache.set(key(model, id), { payload, fetchedAt: now() });
      return payload;
    },
    async upsert(model, id, payload, expiresIn) {
      drop(model, id);
      await store.upsert(model, id, payload, expiresIn);
      drop(model, id);
    },
    async destroy(model, id) {
      drop(model, id);
      await store.destroy(model, id);
      drop(model, id);
    },
  };
}

/**
 * The cache of validated tokens, and the rule that makes it safe.
 *
 * An introspection answer is a fact about Tokenwarden at the moment it was fetched. It may be served later only
 * while nothing can have changed unnoticed since. An answer is served when all of these hold:
 *
 * 1. it is younger than `ttl` and the token has not expired;
 * 2. either the revocation-event subscription is live — every event queued at Tokenwarden up to `maxLag` ago has
 *    been applied (`coveredUntil`), and applying an event drops every answer it concerns — or the answer itself is
 *    younger than `fallbackTtl` (0: none is, so nothing is served from the cache then).
 *
 * So a revoked token is refused at most `max(maxLag, fallbackTtl)` after Tokenwarden has queued the event (and, once
 * the event is applied, at once). Two races are closed here rather than by the callers:
 *
 * - an invalidation applied while an introspection is in flight could concern its answer, which would then be
 *   cached after the event that should have dropped it: every invalidation bumps an epoch, and an answer whose
 *   request started under an older epoch is not cached (it is still used for the request it answered);
 * - answers cached before a stream existed were never covered by it: a new stream clears the cache.
 *
 * Locally verified JWTs do not depend on Tokenwarden's state (they are trusted until `exp`), so rule 2 does not
 * apply to them. Keys are SHA-256 digests of the tokens, never the tokens. Bounded by lru-cache (`max` entries).
 */
import { LRUCache } from 'lru-cache';

import type { AccessToken } from './claims.ts';

/** Where the cache learns whether the event subscription is live. */
export interface Coverage {
  /** Every event Tokenwarden had queued before this time (ms) has been applied; -Infinity when none. */
  coveredUntil(): number;
  /** How far behind `coveredUntil` may be while the subscription counts as live (ms). */
  readonly maxLag: number;
}

/** The cache's bounds, in entries and milliseconds. */
export interface TokenCacheOptions {
  readonly max: number;
  readonly ttl: number;
  readonly fallbackTtl: number;
}

interface Entry {
  readonly token: AccessToken;
  readonly fetchedAt: number;
  readonly expiresAt: number;
  readonly local: boolean;
}

/** The cache, as the resource server and the event subscription use it. */
export interface TokenCache {
  /** A servable answer for a key, or undefined (absent, expired, or no longer known to be current). */
  get(key: string): AccessToken | undefined;
  /** The invalidation epoch: read it before an introspection starts and hand it to {@link TokenCache.set}. */
  epoch(): number;
  /**
   * Caches an answer fetched at `fetchedAt` (ms, the time its request started) unless an invalidation has run
   * since `epoch` was read. `local`: a locally verified JWT.
   */
  set(key: string, token: AccessToken, fetchedAt: number, epoch: number, local: boolean): void;
  /** Drops every answer whose `jti` is `id` (SSF: `sub_id.token.id`). */
  dropToken(id: string): void;
  /** Drops every answer whose `sub` is `sub` (SSF: `sub_id.user.sub`, for events without a token). */
  dropSubject(sub: string): void;
  /** Drops everything (a new stream, an event that cannot be read). */
  clear(): void;
  /** Whether the subscription is live now. */
  live(): boolean;
  readonly size: number;
}

/** Creates the cache. `clock` returns milliseconds since the epoch. */
export function createTokenCache(options: TokenCacheOptions, coverage: Coverage, clock: () => number): TokenCache {
  const byJti = new Map<string, Set<string>>();
  const bySub = new Map<string, Set<string>>();
  let epoch = 0;

  const unindex = (index: Map<string, Set<string>>, value: string | undefined, key: string) => {
    if (value === undefined) return;
    const keys = index.get(value);
    if (!keys) return;
    keys.delete(key);
    if (keys.size === 0) index.delete(value);
  };
  const index = (map: Map<string, Set<string>>, value: string | undefined, key: string) => {
    if (value === undefined) return;
    let keys = map.get(value);
    if (!keys) map.set(value, (keys = new Set()));
    keys.add(key);
  };

  const lru = new LRUCache<string, Entry>({
    max: options.max,
    dispose(entry, key) {
      unindex(byJti, entry.token.jti, key);
      unindex(bySub, entry.token.sub, key);
    },
  });

  const live = (now: number) => now - coverage.coveredUntil() <= coverage.maxLag;
  const dropAll = (keys: Set<string> | undefined) => {
    if (keys) for (const key of [...keys]) lru.delete(key);
  };

  return {
    get(key) {
      const entry = lru.get(key);
      if (entry === undefined) return undefined;
      const now = clock();
      if (now < entry.expiresAt && (entry.local || live(now) || now - entry.fetchedAt < options.fallbackTtl)) {
        return entry.token;
      }
      lru.delete(key);
      return undefined;
    },
    epoch: () => epoch,
    set(key, token, fetchedAt, startEpoch, local) {
      if (startEpoch !== epoch) return;
      const expiresAt = Math.min(fetchedAt + options.ttl, token.exp === undefined ? Infinity : token.exp * 1000);
      lru.set(key, { token, fetchedAt, expiresAt, local });
      index(byJti, token.jti, key);
      index(bySub, token.sub, key);
    },
    dropToken(id) {
      epoch++;
      dropAll(byJti.get(id));
    },
    dropSubject(sub) {
      epoch++;
      dropAll(bySub.get(sub));
    },
    clear() {
      epoch++;
      lru.clear();
    },
    live: () => live(clock()),
    get size() {
      return lru.size;
    },
  };
}

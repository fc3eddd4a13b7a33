/**
 * The cache protocol: how PAT and OAuth access token answers are kept in front of MongoDB, in the shared cache
 * (Redis, keys `pat:<sha256 of the value>` for both kinds, entries authenticated by `cache-codec.ts`) and in an
 * in-process LRU, without ever answering `active:true` for a revoked token.
 *
 * Shared cache:
 * - a live answer is written with `SET NX`, TTL = min(cache TTL, time left before the PAT expires); a rotated-out
 *   value in its grace period is never cached;
 * - revoking writes the marker `revoked` over it (answered inactive without MongoDB); disabling a user, renaming,
 *   shortening the expiry or rotating writes `stale` (a miss that cannot be refilled until it expires). Because a
 *   fill never overwrites, a lookup that read MongoDB just before a change cannot put the old answer back after it;
 * - before a change is written to MongoDB, its entries become short-lived `stale` markers ({@link
 *   PatCache.pointAtDatabase}): a process that dies between the database write and the marker that follows leaves
 *   no cache answering the old state;
 * - when Redis refuses an invalidation, the hash is kept pending (this instance does not trust the cache for it)
 *   and the marker is written as soon as Redis is ready again. Other instances may still reach Redis and hold the
 *   old answer, so the instance also raises a shared barrier in MongoDB ("distrust entries written before now"),
 *   which every instance polls. A distrusted entry is re-checked against MongoDB and replaced by compare-and-set.
 *   An instance whose Redis connection comes back also distrusts what was written before (Redis may have restarted
 *   from a snapshot);
 * - an unknown well-formed value is remembered as `unknown` briefly (negative caching): guesses cost Redis reads,
 *   not MongoDB queries.
 *
 * In-process LRU: answers hot tokens without I/O. Every invalidation is published on Redis pub/sub after its marker
 * is written, and every instance drops the entries; while an instance's subscription is down it bypasses its LRU
 * (and clears it when the subscription is back). A fill that overlaps an invalidation message (the epoch moved) is
 * not kept.
 */
import { LRUCache } from 'lru-cache';

import type { BarrierStore, Cache } from '../../adapters/types.ts';
import type { Clock } from '../services/clock.ts';
import type { CacheCodec, CacheMarker } from './cache-codec.ts';
import type { CachedAnswer } from './types.ts';

/** What the shared cache holds for a hash, as the lookup must treat it. */
export type SharedEntry =
  /** No shared cache for this hash now (none configured, unreachable, or an invalidation still pending here). */
  | { readonly kind: 'off' }
  | { readonly kind: 'miss' }
  /** Trusted markers: the answer is inactive. */
  | { readonly kind: 'revoked' | 'unknown' }
  /** A change is under way: read MongoDB, keep nothing. */
  | { readonly kind: 'stale' }
  /** A trusted live answer. */
  | { readonly kind: 'live'; readonly live: CachedAnswer }
  /** Written before the barrier, or failing authentication: read MongoDB, then replace it by compare-and-set. */
  | { readonly kind: 'suspect'; readonly raw: string };

/** What MongoDB said of a hash (`gone`: a rotated-out value past its grace period, inactive for good). */
export type StoreAnswer =
  { readonly kind: 'live'; readonly live: CachedAnswer } | { readonly kind: 'revoked' | 'stale' | 'unknown' | 'gone' };

export interface PatCache {
  /** The in-process answer for a hash (null: inactive), or undefined when it has none it may use. */
  memory(hash: string): { readonly live: CachedAnswer | null } | undefined;
  /** The invalidation epoch, read at the start of a lookup: a fill is kept only if it has not moved since. */
  epoch(): number;
  /** Reads the shared cache. Never rejects: a failure is `off`. */
  shared(hash: string): Promise<SharedEntry>;
  /** Keeps a trusted shared answer in memory too. */
  keep(hash: string, live: CachedAnswer | null, epoch: number): void;
  /** After MongoDB answered: fills, replaces or marks the caches accordingly. Never rejects. */
  remember(hash: string, shared: SharedEntry, answer: StoreAnswer, epoch: number): Promise<void>;
  /** Before a change is written to MongoDB: short-lived `stale` markers everywhere. */
  pointAtDatabase(hashes: readonly string[]): Promise<void>;
  /** After a change: `revoked` (for good) or `stale` markers everywhere, then a broadcast. */
  invalidate(hashes: readonly string[], marker: 'revoked' | 'stale'): Promise<void>;
  /** Removes entries (and in-process copies everywhere): the user is enabled again. */
  forget(hashes: readonly string[]): Promise<void>;
  /** Whether the shared cache remembers the hash as unknown (no database query needed). */
  knownUnknown(hash: string): Promise<boolean>;
  /** Stops the barrier poll. */
  close(): void;
}

export interface PatCacheDeps {
  /** The shared cache, or null (then nothing is cached, in process either). */
  readonly cache: Cache | null;
  readonly barrier: BarrierStore;
  readonly codec: CacheCodec;
  /** `CACHE_TTL_SECONDS`: the longest a shared entry lives. */
  readonly ttlSeconds: number;
  /** How long an unknown value is remembered. */
  readonly negativeTtlSeconds: number;
  /** The in-process LRU: TTL (0 disables it) and size. */
  readonly local: { readonly ttlMs: number; readonly max: number };
  /** How often the shared barrier is read (default 1000 ms). */
  readonly barrierPollMs?: number;
  /** The clock PAT expiry is judged by (entry TTLs never outlive a PAT). */
  readonly clock: Clock;
  /** Wall-clock milliseconds, compared across instances (entry write times, the barrier). Default `Date.now`. */
  readonly wallMs?: () => number;
  /** Told about cache failures (never with a token or hash). */
  readonly onCacheError: (operation: string, error: unknown) => void;
  /** Told about failed barrier reads and writes. */
  readonly onBackgroundError: (operation: string, error: unknown) => void;
}

const INVALIDATIONS = 'pat-invalidations';
/** How long a "read MongoDB" marker around a change lives (far beyond any lookup in flight; then caching resumes). */
const CHANGE_MARKER_TTL_SECONDS = 30;
/** Entries written up to this long after a barrier are distrusted too (clock skew between instances). */
export const SKEW_MARGIN_MS = 5000;
const keyOf = (hash: string) => `pat:${hash}`;

/** Creates the protocol for one instance. */
export function createPatCache(deps: PatCacheDeps): PatCache {
  const { cache, barrier, codec, clock, onCacheError, onBackgroundError } = deps;
  const wallMs = deps.wallMs ?? Date.now;

  /** Entries written before this instant (wall-clock ms) are re-checked against MongoDB. */
  let distrustBefore = 0;
  const distrustFrom = (atMs: number) => {
    distrustBefore = Math.max(distrustBefore, atMs + SKEW_MARGIN_MS);
  };
  const poll = cache
    ? setInterval(() => {
        barrier.read().then(
          (at) => {
            if (at > 0) distrustFrom(at);
          },
          (error: unknown) => onBackgroundError('barrier', error),
        );
      }, deps.barrierPollMs ?? 1000)
    : undefined;
  poll?.unref();

  /** Markers not yet in Redis, with their TTL (a change marker lives briefly, a tombstone as long as any entry). */
  const pending = new Map<string, { marker: CacheMarker; ttlSeconds: number }>();

  const local =
    cache && deps.local.ttlMs > 0
      ? new LRUCache<string, { live: CachedAnswer | null; at: number }>({ max: deps.local.max, ttl: deps.local.ttlMs })
      : null;
  let subscribed = false;
  /** Bumped on every invalidation seen: a fill that started before a bump is not kept. */
  let invalidationEpoch = 0;
  if (local && cache) {
    cache.subscribe(
      INVALIDATIONS,
      (message) => {
        invalidationEpoch++;
        // Unauthenticated by design: a forged message can only make instances drop entries.
        try {
          for (const hash of JSON.parse(message) as string[]) local.delete(hash);
        } catch {
          local.clear();
        }
      },
      (live) => {
        invalidationEpoch++;
        local.clear();
        subscribed = live;
      },
    );
  }
  const keepLocally = (hash: string, live: CachedAnswer | null, epoch: number) => {
    if (local && subscribed && epoch === invalidationEpoch) local.set(hash, { live, at: wallMs() });
  };

  /** One barrier write at a time; raises meanwhile fold into one follow-up (the barrier only moves forward). */
  let barrierQueued: number | null = null;
  let barrierWriting = false;
  function raiseBarrier(): void {
    const now = wallMs();
    distrustFrom(now);
    barrierQueued = Math.max(barrierQueued ?? 0, now);
    if (!barrierWriting) void writeBarrier();
  }
  async function writeBarrier(): Promise<void> {
    barrierWriting = true;
    while (barrierQueued !== null) {
      const at = barrierQueued;
      barrierQueued = null;
      await barrier.raise(at).catch((error: unknown) => onBackgroundError('barrier', error));
    }
    barrierWriting = false;
  }

  async function flushPending(): Promise<void> {
    if (!cache) return;
    await Promise.all(
      [...pending].map(async ([hash, { marker, ttlSeconds }]) => {
        try {
          await cache.set(keyOf(hash), codec.marker(keyOf(hash), marker), ttlSeconds);
          if (pending.get(hash)?.marker === marker) pending.delete(hash);
        } catch (error) {
          onCacheError('invalidate', error);
          raiseBarrier();
        }
      }),
    );
  }

  /** Tells every instance to drop its in-process entries (after the markers are in Redis). */
  async function broadcast(hashes: readonly string[]): Promise<void> {
    if (!cache || !local) return;
    invalidationEpoch++;
    try {
      await cache.publish(INVALIDATIONS, JSON.stringify(hashes));
    } catch (error) {
      onCacheError('publish', error);
      raiseBarrier();
    }
  }

  async function writeMarkers(hashes: readonly string[], marker: CacheMarker, ttlSeconds: number): Promise<void> {
    if (!cache || hashes.length === 0) return;
    for (const hash of hashes) {
      if (pending.get(hash)?.marker !== 'revoked') pending.set(hash, { marker, ttlSeconds });
      local?.delete(hash);
    }
    await flushPending();
    await broadcast(hashes);
  }

  cache?.onReady((reconnect) => {
    if (reconnect) distrustFrom(wallMs());
    void flushPending();
  });

  const ttlFor = (live: CachedAnswer) =>
    Math.min(deps.ttlSeconds, live.expiresAt === null ? Infinity : live.expiresAt - Math.floor(clock.nowMs() / 1000));

  /** Writes `value` under the hash: only if absent (a fill), or only if it still holds `suspect` (a repair). */
  async function write(hash: string, value: string, ttlSeconds: number, suspect: string | null): Promise<void> {
    if (!cache || ttlSeconds < 1) return;
    try {
      if (suspect === null) await cache.set(keyOf(hash), value, ttlSeconds, true);
      else await cache.replace(keyOf(hash), suspect, value, ttlSeconds);
    } catch (error) {
      onCacheError('set', error);
    }
  }

  async function shared(hash: string): Promise<SharedEntry> {
    if (!cache || pending.has(hash)) return { kind: 'off' };
    let raw: string | null;
    try {
      raw = await cache.get(keyOf(hash));
    } catch (error) {
      onCacheError('get', error);
      return { kind: 'off' };
    }
    if (raw === null) return { kind: 'miss' };
    const entry = codec.decode(keyOf(hash), raw);
    switch (entry.kind) {
      case 'live':
        return entry.writtenAt >= distrustBefore ? { kind: 'live', live: entry.live } : { kind: 'suspect', raw };
      case 'untrusted':
        onCacheError('verify', new Error('a shared cache entry failed authentication'));
        return { kind: 'suspect', raw };
      default:
        return { kind: entry.kind };
    }
  }

  return {
    memory(hash) {
      if (!local || !subscribed) return undefined;
      const entry = local.get(hash);
      return entry && entry.at >= distrustBefore ? entry : undefined;
    },

    epoch: () => invalidationEpoch,

    shared,

    keep: keepLocally,

    async remember(hash, entry, answer, epoch) {
      const key = keyOf(hash);
      const suspect = entry.kind === 'suspect' ? entry.raw : null;
      if (answer.kind === 'live') {
        // A rotated-out value in its grace period is never cached: each use re-reads the token, so revoking it, or
        // rotating again, ends the grace at once. Nor is an OAuth token tied to a grant (the grant can end it).
        const live = answer.live;
        if (live.kind === 'pat' ? live.credential !== 'current' : live.grantBound) return;
        if (entry.kind === 'miss' || suspect !== null) {
          await write(hash, codec.live(key, answer.live, wallMs()), ttlFor(answer.live), suspect);
        }
        // Under a "read MongoDB" marker the token is being changed: keep nothing in memory either.
        if (entry.kind !== 'stale') keepLocally(hash, answer.live, epoch);
        return;
      }
      if (answer.kind === 'unknown' || answer.kind === 'revoked') keepLocally(hash, null, epoch);
      if (answer.kind === 'unknown' && entry.kind === 'miss') {
        await write(hash, codec.marker(key, 'unknown'), deps.negativeTtlSeconds, null);
      } else if (suspect !== null) {
        const marker = answer.kind === 'gone' ? 'revoked' : answer.kind;
        const ttl = marker === 'unknown' ? deps.negativeTtlSeconds : deps.ttlSeconds;
        await write(hash, codec.marker(key, marker), ttl, suspect);
      }
    },

    pointAtDatabase: (hashes) => writeMarkers(hashes, 'stale', CHANGE_MARKER_TTL_SECONDS),

    invalidate: (hashes, marker) => writeMarkers(hashes, marker, deps.ttlSeconds),

    async forget(hashes) {
      if (!cache) return;
      await cache.del(hashes.map(keyOf)).catch((error: unknown) => onCacheError('del', error));
      await broadcast(hashes);
    },

    async knownUnknown(hash) {
      return (await shared(hash)).kind === 'unknown';
    },

    close() {
      if (poll) clearInterval(poll);
    },
  };
}

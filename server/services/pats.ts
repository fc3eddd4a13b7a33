/**
 * Personal access tokens: the lifecycle (create, list, update, rotate, revoke), the policy (catalogue, lifetimes,
 * per-user limit, no escalation through self-service) and the introspection lookup with the Redis cache in front
 * of MongoDB. No HTTP here: callers get records or RFC-shaped errors.
 *
 * Cache protocol (keys `pat:<sha256>`):
 * - a live answer is written with `SET NX`, TTL = min(cache TTL, time left before the PAT expires); a
 *   rotated-out value in its grace period is never cached;
 * - revoking writes the tombstone `revoked` over it (answered inactive without MongoDB); disabling a user,
 *   renaming, shortening the expiry or rotating writes `stale` (a miss that cannot be repopulated until it
 *   expires). Because a populate never overwrites, a lookup that read MongoDB just before a change cannot put the
 *   old answer back after it;
 * - when Redis refuses an invalidation, the hash is remembered, the cache is not trusted for it on this instance,
 *   and the tombstone is written as soon as Redis is ready again. Other instances may still reach Redis and hold
 *   the old answer: so the instance also raises a shared barrier in MongoDB ("distrust cache entries written
 *   before now"), which every instance polls each second. A distrusted entry is re-checked against MongoDB and
 *   replaced by compare-and-set (a live answer with a new write time, or a tombstone). An instance whose Redis
 *   connection comes back also distrusts what was written before (Redis may have restarted from a snapshot).
 * - an unknown well-formed value is remembered as `unknown` for a minute (negative caching): a flood of guessed
 *   values costs Redis reads, not MongoDB queries.
 *
 * In front of Redis, an in-process LRU (short TTL) answers hot tokens without any I/O. Every invalidation is
 * published on Redis pub/sub after its tombstone is written, and every instance drops the entries; while an
 * instance's subscription is down it bypasses its LRU (and clears it when the subscription is back), so a
 * revocation is never delayed by it. A fill that overlaps an invalidation message is not kept.
 */
import { LRUCache } from 'lru-cache';

import {
  DuplicateError,
  LimitError,
  StoreUnavailableError,
  type BarrierStore,
  type Cache,
  type Cursor,
  type PatRecord,
  type PatStore,
  type RotatedValue,
  type TokenQuery,
  type UserRecord,
  type UserStore,
} from '../../adapters/types.ts';
import {
  AccessDenied,
  Conflict,
  InvalidRequest,
  InvalidScope,
  LimitExceeded,
  NotFound,
  assertThat,
} from '../errors.ts';
import type { CacheCodec } from '../pats/cache-codec.ts';
import type { Actor, AuditService } from './audit.ts';
import type { Clock } from './clock.ts';
import { newPatId, type PatFormat } from './pat-format.ts';

/** What introspection needs to know about a live PAT. */
export interface LivePat {
  readonly id: string;
  readonly userId: string;
  readonly username: string;
  readonly name: string;
  readonly scopes: readonly string[];
  readonly resource: string | null;
  /** Seconds since the epoch. */
  readonly issuedAt: number;
  readonly expiresAt: number | null;
  /**
   * Which value was presented: the token's `current` one, or a rotated-out one still in its `grace` period. A grace
   * value may be introspected (resource access) and revoked, nothing else.
   */
  readonly credential: 'current' | 'grace';
}

/**
 * Limits a PAT caller puts on what it creates or rotates through self-service: never more scopes, a later
 * expiry, or another resource than itself.
 */
export interface Constraints {
  readonly scopes: ReadonlySet<string>;
  /** Seconds, or null when the calling token does not expire. */
  readonly expiresAt: number | null;
  readonly resource: string | null;
}

/** Who acts, and under which limits. */
export interface ActionContext {
  readonly actor: Actor;
  readonly constraints?: Constraints | undefined;
}

export interface CreatePatInput {
  readonly name: string;
  readonly description?: string | null | undefined;
  readonly scopes: readonly string[];
  /** Undefined: the default lifetime; null: never expires (only when the policy allows it). */
  readonly expiresAt?: Date | null | undefined;
  readonly resource?: string | null | undefined;
}

export interface UpdatePatInput {
  readonly name?: string | undefined;
  readonly description?: string | null | undefined;
  /** Only ever earlier than the current expiry. */
  readonly expiresAt?: Date | undefined;
}

export interface RotatePatInput {
  readonly expiresAt?: Date | null | undefined;
  /** How long the replaced value keeps working (0 to 86,400 s). */
  readonly graceSeconds: number;
}

export interface TokenPolicy {
  readonly maxLifetimeDays: number;
  readonly defaultLifetimeDays: number;
  readonly maxTokensPerUser: number;
  readonly scopes: Readonly<Record<string, string>>;
  readonly lastUsedIntervalSeconds: number;
}

/** Largest grace period a rotation may give the replaced value. */
export const MAX_GRACE_SECONDS = 86_400;

export interface PatService {
  /** Mints a PAT. The value is in the result and nowhere else, ever. */
  create(userId: string, input: CreatePatInput, ctx: ActionContext): Promise<{ record: PatRecord; token: string }>;
  /** Newest first; `next` is the cursor of the following page, if any. */
  list(query: TokenQuery): Promise<{ items: PatRecord[]; next: Cursor | null }>;
  /** @throws {NotFound} unless the token is the user's. */
  get(userId: string, id: string): Promise<PatRecord>;
  update(userId: string, id: string, input: UpdatePatInput, ctx: ActionContext): Promise<PatRecord>;
  /** A new value under the same id; the old one works for `graceSeconds` more, then never again. */
  rotate(
    userId: string,
    id: string,
    input: RotatePatInput,
    ctx: ActionContext,
  ): Promise<{ record: PatRecord; token: string }>;
  /** Revokes a user's token; idempotent. @throws {NotFound} when the token is not that user's. */
  revoke(userId: string, id: string, ctx: ActionContext): Promise<PatRecord>;
  /** Revokes every live token of the user; returns how many. */
  revokeAll(userId: string, ctx: ActionContext): Promise<number>;
  /**
   * Revokes the token behind a presented value (RFC 7009 `/revoke`): its current value, or a rotated-out one still
   * in its grace period, whatever the state of its user. Returns false when the value revokes nothing.
   */
  revokeByValue(value: string, ctx: ActionContext): Promise<boolean>;
  /**
   * Revokes every live PAT among presented values (a secret scanner reporting leaks). Values that are not PATs,
   * unknown or already dead are ignored; a rotated-out value still in its grace period revokes its token.
   * Returns how many tokens it revoked (for logs and tests; never told to the caller).
   */
  revokeLeaked(values: readonly string[], ctx: ActionContext): Promise<number>;
  /**
   * The live PAT for a presented value, or null. Malformed values cost no I/O. Rejects only on storage outage.
   * With `use`, records the use (`last_used_at`, at most once per interval per token).
   */
  lookup(value: string, use?: { clientId: string | null; actor: Actor }): Promise<LivePat | null>;
  /**
   * {@link lookup}'s answer when it needs no I/O (a malformed value, or the in-process layer holds the answer);
   * undefined when it does. For the introspection fast path, which then stays synchronous.
   */
  lookupCached(value: string, use?: { clientId: string | null; actor: Actor }): LivePat | null | undefined;
  /**
   * The live PAT for a presented value read from MongoDB alone (no cache layer is trusted), or null; for the
   * self-service writes, which must not act on a cache entry. Grace values are answered as such.
   */
  lookupInStore(value: string): Promise<LivePat | null>;
  /** Drops every cached answer for the user's tokens (called when the user is disabled or deleted). */
  invalidateUser(userId: string): Promise<void>;
  /** Removes the `stale` markers left by {@link invalidateUser} (the user is enabled again): best effort. */
  uncacheUser(userId: string): Promise<void>;
  /** Stops the background barrier poll. */
  close(): void;
}

export interface PatServiceDeps {
  readonly pats: PatStore;
  readonly users: UserStore;
  readonly cache: Cache | null;
  readonly barrier: BarrierStore;
  /** How often the shared cache barrier is read. Default 1000 ms. */
  readonly barrierPollMs?: number;
  readonly audit: AuditService;
  readonly format: PatFormat;
  readonly clock: Clock;
  readonly policy: TokenPolicy;
  readonly cacheTtlSeconds: number;
  /** Reads and writes shared-cache entries, authenticated under `SECRET_KEY`. */
  readonly codec: CacheCodec;
  /** Told about cache failures (never with a token or hash). */
  readonly onCacheError: (operation: string, error: unknown) => void;
  /** Told about failed background writes (last-used, audit of a rotated-out value). */
  readonly onBackgroundError: (operation: string, error: unknown) => void;
  /** The in-process LRU in front of Redis: TTL (0 disables it) and size. Used only with Redis. */
  readonly localCache?: { readonly ttlMs: number; readonly max: number };
  /** How long an unknown well-formed value is remembered as unknown. Default 60 s. */
  readonly negativeTtlSeconds?: number;
  /** Told which layer answered each lookup (metrics). */
  readonly onLookup?: (layer: 'memory' | 'redis' | 'database' | 'malformed') => void;
  /** Told about each last-used write that happened (metrics). */
  readonly onLastUsedWrite?: () => void;
}

const INVALIDATIONS = 'pat-invalidations';
/** How long a "read MongoDB" marker around a change lives (far beyond any lookup in flight; then caching resumes). */
const CHANGE_MARKER_TTL_SECONDS = 30;
/** Cache entries written up to this long after a barrier are distrusted too (clock skew between instances). */
const SKEW_MARGIN_MS = 5000;
const DAY_MS = 86_400_000;
const cacheKey = (hash: string) => `pat:${hash}`;
const seconds = (date: Date) => Math.floor(date.getTime() / 1000);
type Marker = 'revoked' | 'stale' | 'unknown';

/** Creates the PAT service. */
export function createPatService(deps: PatServiceDeps): PatService {
  const {
    pats,
    users,
    cache,
    barrier,
    audit,
    format,
    clock,
    policy,
    cacheTtlSeconds,
    codec,
    onCacheError,
    onBackgroundError,
  } = deps;
  /** Cache entries written before this instant (epoch ms) are re-checked against MongoDB. */
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
  /**
   * Hashes whose tombstone is not yet in Redis: the tombstone to write and its TTL (a change marker lives briefly, a
   * tombstone as long as any cache entry).
   */
  const pending = new Map<string, { tombstone: Marker; ttlSeconds: number }>();
  const lastUsedIntervalMs = policy.lastUsedIntervalSeconds * 1000;
  /** Per instance, the last time a use was written per token: no database round trip more than once per interval. */
  const clockPerf = { now: () => clock.now().getTime() };
  const touched = new LRUCache<string, number>({ max: 100_000, ttl: lastUsedIntervalMs, perf: clockPerf });
  /** The in-process layer: hash → live answer (or null for a permanent "inactive"), with its write time. */
  const localTtl = cache ? (deps.localCache?.ttlMs ?? 0) : 0;
  const local =
    localTtl > 0
      ? new LRUCache<string, { live: LivePat | null; at: number }>({
          max: deps.localCache?.max ?? 100_000,
          ttl: localTtl,
        })
      : null;
  let subscribed = false;
  /** Bumped on every invalidation seen: a fill that started before a bump is not kept. */
  let invalidationEpoch = 0;
  if (local && cache) {
    cache.subscribe(
      INVALIDATIONS,
      (message) => {
        invalidationEpoch++;
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
  const localGet = (hash: string) => {
    if (!local || !subscribed) return undefined;
    const entry = local.get(hash);
    return entry && entry.at >= distrustBefore ? entry : undefined;
  };
  const localSet = (hash: string, live: LivePat | null, epoch: number) => {
    if (local && subscribed && epoch === invalidationEpoch) local.set(hash, { live, at: Date.now() });
  };
  /** Ids of creations that failed with an unknown outcome, to revoke once the database answers. */
  const withdrawals = new Set<string>();
  let withdrawing: NodeJS.Timeout | undefined;
  function withdraw(id: string): void {
    if (withdrawals.size < 10_000) withdrawals.add(id);
    withdrawing ??= setInterval(() => {
      for (const tokenId of withdrawals) {
        pats.revoke(tokenId, clock.now()).then(
          () => withdrawals.delete(tokenId),
          (error: unknown) => onBackgroundError('withdraw_failed_creation', error),
        );
      }
      if (withdrawals.size === 0 && withdrawing) {
        clearInterval(withdrawing);
        withdrawing = undefined;
      }
    }, deps.barrierPollMs ?? 1000);
    withdrawing.unref();
  }
  const layer = deps.onLookup ?? (() => undefined);
  /** The value's hash, or null (counted as malformed) when the checksum says it was never issued: no I/O. */
  const hashIfWellFormed = (value: string): string | null => {
    if (format.isWellFormed(value)) return format.hash(value);
    layer('malformed');
    return null;
  };
  /** The in-process layer's answer (recording the use), or undefined when it has none. */
  const fromMemory = (hash: string, use: { clientId: string | null } | undefined): LivePat | null | undefined => {
    const hot = localGet(hash);
    if (!hot) return undefined;
    layer('memory');
    if (!hot.live || isPast(hot.live.expiresAt)) return null;
    if (use) touch(hot.live.id, use);
    return hot.live;
  };
  const negativeTtl = deps.negativeTtlSeconds ?? 60;
  /** Rotated-out values presented recently: one audit event per value per minute, however often it is replayed. */
  const presented = new LRUCache<string, true>({ max: 10_000, ttl: 60_000, perf: clockPerf });

  /**
   * Before a change to these tokens is written to MongoDB: their cache entries become "read MongoDB" markers (on
   * every instance), so that if this process dies between the database write and the tombstone that follows it,
   * no cache still answers with the old state. A lookup meanwhile reads MongoDB and does not cache what it read.
   */
  async function pointCacheAtDatabase(hashes: readonly string[]): Promise<void> {
    await writeTombstones(hashes, 'stale', CHANGE_MARKER_TTL_SECONDS);
  }

  async function writeTombstones(
    hashes: readonly string[],
    tombstone: Marker,
    ttlSeconds = cacheTtlSeconds,
  ): Promise<void> {
    if (!cache || hashes.length === 0) return;
    for (const hash of hashes) {
      if (pending.get(hash)?.tombstone !== 'revoked') pending.set(hash, { tombstone, ttlSeconds });
      local?.delete(hash);
    }
    await flushPending();
    await broadcast(hashes);
  }

  /** Tells every instance to drop its in-process entries (after the tombstones are in Redis). */
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

  async function flushPending(): Promise<void> {
    if (!cache) return;
    await Promise.all(
      [...pending].map(async ([hash, { tombstone, ttlSeconds }]) => {
        try {
          await cache.set(cacheKey(hash), codec.marker(cacheKey(hash), tombstone), ttlSeconds);
          if (pending.get(hash)?.tombstone === tombstone) pending.delete(hash);
        } catch (error) {
          onCacheError('invalidate', error);
          raiseBarrier();
        }
      }),
    );
  }

  /**
   * Raises the shared barrier. One write at a time: raises that come while one is in flight (every failed cache
   * write during a Redis outage raises one) are folded into a single follow-up carrying the latest time. The
   * barrier only moves forward (`$max`), so that write covers them all; without it a Redis outage under load queued
   * dozens of writes to one document, and on FerretDB, which takes them one by one, requests behind them timed out.
   */
  let barrierQueued: number | null = null;
  let barrierWriting = false;
  function raiseBarrier(): void {
    const now = Date.now();
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

  cache?.onReady((reconnect) => {
    if (reconnect) distrustFrom(Date.now());
    void flushPending();
  });

  /** The cached value, null on a miss, undefined when the cache is not to be used (down, or pending here). */
  async function readCache(hash: string): Promise<string | null | undefined> {
    if (!cache || pending.has(hash)) return undefined;
    try {
      return await cache.get(cacheKey(hash));
    } catch (error) {
      onCacheError('get', error);
      return undefined;
    }
  }

  /** Replaces a distrusted entry with what MongoDB says now, unless someone changed it meanwhile. */
  async function settle(hash: string, suspect: string, value: string, ttlSeconds: number): Promise<void> {
    if (!cache || ttlSeconds < 1) return;
    try {
      await cache.replace(cacheKey(hash), suspect, value, ttlSeconds);
    } catch (error) {
      onCacheError('set', error);
    }
  }

  const ttlFor = (live: LivePat) =>
    Math.min(cacheTtlSeconds, live.expiresAt === null ? Infinity : live.expiresAt - seconds(clock.now()));

  async function populate(hash: string, live: LivePat): Promise<void> {
    if (!cache) return;
    const ttl = ttlFor(live);
    if (ttl < 1) return;
    try {
      await cache.set(cacheKey(hash), codec.live(cacheKey(hash), live, Date.now()), ttl, true);
    } catch (error) {
      onCacheError('set', error);
    }
  }

  function isPast(at: Date | number | null): boolean {
    if (at === null) return false;
    const ms = typeof at === 'number' ? at * 1000 : at.getTime();
    return ms <= clock.now().getTime();
  }

  function touch(id: string, use: { clientId: string | null }): void {
    if (touched.has(id)) return;
    const now = clock.now();
    touched.set(id, now.getTime());
    pats.touchLastUsed(id, now, use.clientId, lastUsedIntervalMs).then(
      (wrote) => {
        if (wrote) deps.onLastUsedWrite?.();
      },
      // Not retried before the interval is over: a store too slow to answer (FerretDB scanning a large collection
      // for this update keeps going after the driver gives up) would otherwise get a new write on every request.
      (error: unknown) => onBackgroundError('last_used', error),
    );
  }

  async function requireUser(userId: string): Promise<UserRecord> {
    const user = await users.get(userId);
    assertThat(user, () => new NotFound('user'));
    return user;
  }

  async function requireToken(userId: string, id: string): Promise<PatRecord> {
    const pat = await pats.findById(id);
    assertThat(pat && pat.userId === userId, () => new NotFound('token'));
    return pat;
  }

  function checkScopes(scopes: readonly string[], constraints: Constraints | undefined): void {
    const unknown = scopes.filter((s) => !Object.hasOwn(policy.scopes, s));
    assertThat(
      unknown.length === 0,
      () =>
        new InvalidScope(`unknown scope${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')} (see GET /api/scopes)`),
    );
    if (constraints) {
      const beyond = scopes.filter((s) => !constraints.scopes.has(s));
      assertThat(
        beyond.length === 0,
        () => new AccessDenied(`the calling token cannot grant scopes it does not have: ${beyond.join(', ')}`),
      );
    }
  }

  /** The expiry to store for a request, under the policy and the caller's own expiry. */
  function resolveExpiry(requested: Date | null | undefined, constraints: Constraints | undefined): Date | null {
    const now = clock.now().getTime();
    const cap = constraints?.expiresAt == null ? null : constraints.expiresAt * 1000;
    const max = policy.maxLifetimeDays === 0 ? null : now + policy.maxLifetimeDays * DAY_MS;
    if (requested === undefined) {
      const byDefault = policy.defaultLifetimeDays === 0 ? null : now + policy.defaultLifetimeDays * DAY_MS;
      const at = cap === null ? byDefault : byDefault === null ? cap : Math.min(byDefault, cap);
      return at === null ? null : new Date(at);
    }
    if (requested === null) {
      assertThat(
        policy.maxLifetimeDays === 0,
        () => new InvalidRequest(`expires_at: tokens must expire within ${policy.maxLifetimeDays} days`, 'expires_at'),
      );
      assertThat(cap === null, () => new AccessDenied('expires_at: a token cannot outlive the token that makes it'));
      return null;
    }
    assertThat(requested.getTime() > now, () => new InvalidRequest('expires_at must be in the future', 'expires_at'));
    assertThat(
      max === null || requested.getTime() <= max,
      () => new InvalidRequest(`expires_at must be within ${policy.maxLifetimeDays} days`, 'expires_at'),
    );
    assertThat(
      cap === null || requested.getTime() <= cap,
      () => new AccessDenied('expires_at: a token cannot outlive the token that makes it'),
    );
    return requested;
  }

  function checkResource(resource: string | null, constraints: Constraints | undefined): void {
    assertThat(
      !constraints || constraints.resource === null || constraints.resource === resource,
      () => new AccessDenied('resource: a token bound to a resource can only manage tokens bound to the same one'),
    );
  }

  /**
   * What MongoDB says of a value's hash: `live` (current or grace), `revoked`, `stale` (expired, or its user
   * disabled or deleted: it may come back), `unknown`, or `grace_over` (a rotated-out value past its grace).
   */
  async function readStore(
    hash: string,
    use: { actor: Actor } | undefined,
  ): Promise<{ state: 'live'; live: LivePat } | { state: 'revoked' | 'stale' | 'unknown' | 'grace_over' }> {
    let pat = await pats.findByHash(hash);
    let credential: LivePat['credential'] = 'current';
    if (!pat) {
      const rotated = await pats.findRotated(hash);
      if (!rotated) return { state: 'unknown' };
      if (isPast(rotated.validUntil)) {
        if (use) recordRotatedValuePresented(hash, rotated, use.actor);
        return { state: 'grace_over' };
      }
      pat = await pats.findById(rotated.tokenId);
      credential = 'grace';
    }
    if (!pat || pat.revokedAt !== null) return { state: 'revoked' };
    if (isPast(pat.expiresAt)) return { state: 'stale' };
    const user = await users.get(pat.userId);
    if (!user || user.disabled) return { state: 'stale' };
    return {
      state: 'live',
      live: {
        id: pat.id,
        userId: pat.userId,
        username: user.username,
        name: pat.name,
        scopes: pat.scopes,
        resource: pat.resource,
        issuedAt: seconds(pat.rotatedAt ?? pat.createdAt),
        expiresAt: pat.expiresAt === null ? null : seconds(pat.expiresAt),
        credential,
      },
    };
  }

  /** One audit event per rotated-out value per minute, however often it is replayed (in the background). */
  function recordRotatedValuePresented(hash: string, rotated: RotatedValue, actor: Actor): void {
    if (presented.has(hash)) return;
    presented.set(hash, true);
    pats
      .findById(rotated.tokenId)
      .then((holder) =>
        audit.record(
          'token.rotated_value_presented',
          actor,
          { userId: holder?.userId ?? null, tokenId: rotated.tokenId },
          { rotated_at: rotated.rotatedAt.toISOString() },
        ),
      )
      .catch((error: unknown) => onBackgroundError('audit', error));
  }

  /**
   * The unrevoked tokens behind presented values, in two queries however many values: those whose current value
   * it is, then those with a rotated-out value still in its grace period. Malformed values, and values the shared
   * cache remembers as unknown, cost no database query. Each token once, with the kind of value that named it.
   */
  async function tokensBehind(
    values: readonly string[],
  ): Promise<Array<{ record: PatRecord; credential: LivePat['credential'] }>> {
    const hashes = [...new Set(values)].filter((v) => format.isWellFormed(v)).map((v) => format.hash(v));
    const known = cache
      ? (
          await Promise.all(
            hashes.map(async (hash) => {
              const raw = await readCache(hash);
              const entry = typeof raw === 'string' ? codec.decode(cacheKey(hash), raw) : null;
              return entry?.kind === 'unknown' ? null : hash;
            }),
          )
        ).filter((hash): hash is string => hash !== null)
      : hashes;
    const out = new Map<string, { record: PatRecord; credential: LivePat['credential'] }>();
    const current = await pats.findByHashes(known);
    for (const record of current) if (record.revokedAt === null) out.set(record.id, { record, credential: 'current' });
    const matched = new Set(current.map((p) => p.tokenHash));
    const rotated = await pats.findRotatedMany(known.filter((hash) => !matched.has(hash)));
    for (const value of rotated) {
      if (isPast(value.validUntil) || out.has(value.tokenId)) continue;
      const record = await pats.findById(value.tokenId);
      if (record && record.revokedAt === null) out.set(record.id, { record, credential: 'grace' });
    }
    return [...out.values()];
  }

  /**
   * The one revoke routine: point the caches at MongoDB, revoke, then tombstone and audit. Null when the token was
   * already revoked (nothing recorded twice).
   */
  async function revokeRecord(
    before: PatRecord,
    ctx: ActionContext,
    details: Record<string, string> = {},
  ): Promise<PatRecord | null> {
    if (before.revokedAt !== null) return null;
    await pointCacheAtDatabase([before.tokenHash]);
    const after = await pats.revoke(before.id, clock.now());
    if (!after) return null;
    await recordRevocations([after], ctx, details);
    return after;
  }

  /**
   * The expiry of a rotated token: the current one, unless the caller asks for an earlier one (rotation never
   * extends a token; an admin's shortening stays), and never past the calling token's own expiry.
   */
  function rotatedExpiry(
    current: Date | null,
    requested: Date | null | undefined,
    constraints: Constraints | undefined,
  ) {
    const cap = constraints?.expiresAt == null ? null : new Date(constraints.expiresAt * 1000);
    const earliest = (a: Date | null, b: Date | null) => (a === null ? b : b === null ? a : a < b ? a : b);
    if (requested === undefined) return earliest(current, cap);
    if (requested === null) {
      assertThat(
        current === null,
        () =>
          new InvalidRequest('expires_at: a rotation keeps the expiry or brings it earlier, never later', 'expires_at'),
      );
      return resolveExpiry(null, constraints);
    }
    assertThat(
      current === null || requested <= current,
      () =>
        new InvalidRequest('expires_at: a rotation keeps the expiry or brings it earlier, never later', 'expires_at'),
    );
    return resolveExpiry(requested, constraints);
  }

  async function recordRevocations(
    revoked: readonly PatRecord[],
    ctx: ActionContext,
    details: Record<string, string> = {},
  ): Promise<void> {
    await writeTombstones(
      revoked.map((p) => p.tokenHash),
      'revoked',
    );
    for (const p of revoked) {
      await audit.record('token.revoked', ctx.actor, { userId: p.userId, tokenId: p.id }, details);
    }
  }

  return {
    async create(userId, input, ctx) {
      const user = await requireUser(userId);
      assertThat(!user.disabled, () => new InvalidRequest('the user is disabled', 'user_id'));
      const scopes = [...new Set(input.scopes)];
      checkScopes(scopes, ctx.constraints);
      const resource = input.resource === undefined ? (ctx.constraints?.resource ?? null) : input.resource;
      checkResource(resource, ctx.constraints);
      const expiresAt = resolveExpiry(input.expiresAt, ctx.constraints);
      const now = clock.now();
      const token = format.generate();
      const record: PatRecord = {
        id: newPatId(),
        tokenHash: format.hash(token),
        userId,
        name: input.name,
        description: input.description ?? null,
        scopes,
        resource,
        createdAt: now,
        expiresAt,
        lastUsedAt: null,
        lastUsedClient: null,
        rotatedAt: null,
        revokedAt: null,
      };
      try {
        await pats.insert(record, now, policy.maxTokensPerUser);
      } catch (error) {
        // The insert may have landed although its answer was lost (the database went away mid-write). The caller
        // is told it failed and never sees the value, so such a token must not stay live: withdraw it.
        if (error instanceof StoreUnavailableError) withdraw(record.id);
        if (error instanceof DuplicateError && error.field === 'name') {
          throw new Conflict(`a live token named "${input.name}" already exists for this user`, 'name');
        }
        if (error instanceof LimitError) {
          throw new LimitExceeded(`the user already has ${error.limit} live tokens (MAX_TOKENS_PER_USER)`);
        }
        throw error;
      }
      await audit.record(
        'token.created',
        ctx.actor,
        { userId, tokenId: record.id },
        {
          name: record.name,
          scopes: scopes.join(' '),
          expires_at: expiresAt?.toISOString() ?? null,
        },
      );
      return { record, token };
    },

    async list(query) {
      const rows = await pats.query({ ...query, limit: query.limit + 1 });
      const items = rows.slice(0, query.limit);
      const last = items.at(-1);
      return { items, next: rows.length > query.limit && last ? { at: last.createdAt, id: last.id } : null };
    },

    get: requireToken,

    async update(userId, id, input, ctx) {
      const pat = await requireToken(userId, id);
      assertThat(pat.revokedAt === null, () => new Conflict('the token is revoked', 'id'));
      if (input.expiresAt !== undefined) {
        assertThat(
          input.expiresAt.getTime() > clock.now().getTime(),
          () => new InvalidRequest('expires_at must be in the future', 'expires_at'),
        );
        assertThat(
          pat.expiresAt === null || input.expiresAt < pat.expiresAt,
          () => new InvalidRequest('expires_at may only be brought earlier, never later', 'expires_at'),
        );
      }
      if (input.name !== undefined || input.expiresAt !== undefined) await pointCacheAtDatabase([pat.tokenHash]);
      let updated: PatRecord | null;
      try {
        updated = await pats.update(id, {
          ...(input.name === undefined ? {} : { name: input.name }),
          ...(input.description === undefined ? {} : { description: input.description }),
          ...(input.expiresAt === undefined ? {} : { expiresAt: input.expiresAt }),
        });
      } catch (error) {
        if (error instanceof DuplicateError) {
          throw new Conflict(`a live token named "${input.name}" already exists for this user`, 'name');
        }
        throw error;
      }
      assertThat(updated, () => new Conflict('the token is revoked', 'id'));
      const subject = { userId, tokenId: id };
      if (updated.name !== pat.name) {
        await audit.record('token.renamed', ctx.actor, subject, { from: pat.name, to: updated.name });
      }
      if (updated.description !== pat.description) {
        await audit.record('token.description_changed', ctx.actor, subject);
      }
      if (updated.expiresAt?.getTime() !== pat.expiresAt?.getTime()) {
        await audit.record('token.expiry_shortened', ctx.actor, subject, {
          from: pat.expiresAt?.toISOString() ?? null,
          to: updated.expiresAt?.toISOString() ?? null,
        });
      }
      if (updated.name !== pat.name || updated.expiresAt?.getTime() !== pat.expiresAt?.getTime()) {
        // Short-lived: long enough for any lookup that read the old state to have finished, then caching resumes.
        await writeTombstones([updated.tokenHash], 'stale', CHANGE_MARKER_TTL_SECONDS);
      }
      return updated;
    },

    async rotate(userId, id, input, ctx) {
      const pat = await requireToken(userId, id);
      assertThat(pat.revokedAt === null, () => new Conflict('the token is revoked', 'id'));
      assertThat(!isPast(pat.expiresAt), () => new Conflict('the token has expired', 'id'));
      const user = await requireUser(userId);
      assertThat(!user.disabled, () => new InvalidRequest('the user is disabled', 'user_id'));
      checkScopes(
        pat.scopes.filter((s) => Object.hasOwn(policy.scopes, s)),
        ctx.constraints,
      );
      checkResource(pat.resource, ctx.constraints);
      assertThat(
        Number.isInteger(input.graceSeconds) && input.graceSeconds >= 0 && input.graceSeconds <= MAX_GRACE_SECONDS,
        () => new InvalidRequest(`grace_seconds must be an integer from 0 to ${MAX_GRACE_SECONDS}`, 'grace_seconds'),
      );
      const expiresAt = rotatedExpiry(pat.expiresAt, input.expiresAt, ctx.constraints);
      const now = clock.now();
      const token = format.generate();
      const toHash = format.hash(token);
      // Remember the old value before the swap, so it is never unknown while in its grace period. The record is
      // created once (a concurrent rotation of the same value cannot overwrite it) and harmless if the swap fails;
      // the winner of the swap then sets its own grace period.
      const validUntil = new Date(now.getTime() + input.graceSeconds * 1000);
      await pats.insertRotated({ tokenHash: pat.tokenHash, tokenId: id, rotatedAt: now, validUntil });
      await pointCacheAtDatabase([pat.tokenHash]);
      const rotated = await pats.rotate(id, pat.tokenHash, toHash, { expiresAt, at: now });
      assertThat(rotated, () => new Conflict('the token was changed concurrently (rotated or revoked); retry', 'id'));
      await pats.setRotatedValidUntil(pat.tokenHash, validUntil);
      // A later rotation ends the grace of every earlier value: only the value rotated out now may keep one.
      await pats.endGrace(id, pat.tokenHash, now);
      await writeTombstones([pat.tokenHash], 'stale');
      await audit.record(
        'token.rotated',
        ctx.actor,
        { userId, tokenId: id },
        {
          grace_seconds: input.graceSeconds,
          expires_at: expiresAt?.toISOString() ?? null,
        },
      );
      return { record: rotated, token };
    },

    async revoke(userId, id, ctx) {
      const before = await requireToken(userId, id);
      const revoked = await revokeRecord(before, ctx);
      if (revoked) return revoked;
      const current = await pats.findById(id);
      assertThat(current, () => new NotFound('token'));
      return current;
    },

    async revokeAll(userId, ctx) {
      await requireUser(userId);
      await pointCacheAtDatabase(await pats.unrevokedHashesOfUser(userId));
      const revoked = await pats.revokeAllOfUser(userId, clock.now());
      await recordRevocations(revoked, ctx);
      return revoked.length;
    },

    async revokeByValue(value, ctx) {
      const [behind] = await tokensBehind([value]);
      if (!behind) return false;
      return (await revokeRecord(behind.record, { actor: { ...ctx.actor, credential: behind.credential } })) !== null;
    },

    async revokeLeaked(values, ctx) {
      let count = 0;
      for (const { record, credential } of await tokensBehind(values)) {
        const actor = { ...ctx.actor, credential };
        if (await revokeRecord(record, { actor }, { reason: 'leaked' })) count++;
      }
      return count;
    },

    lookupCached(value, use) {
      const hash = hashIfWellFormed(value);
      return hash === null ? null : fromMemory(hash, use);
    },

    async lookup(value, use) {
      const hash = hashIfWellFormed(value);
      if (hash === null) return null;

      const hot = fromMemory(hash, use);
      if (hot !== undefined) return hot;
      const epoch = invalidationEpoch;

      const key = cacheKey(hash);
      const raw = await readCache(hash);
      const entry = typeof raw === 'string' ? codec.decode(key, raw) : null;
      if (entry?.kind === 'revoked' || entry?.kind === 'unknown') {
        layer('redis');
        localSet(hash, null, epoch);
        return null;
      }
      // An entry that is distrusted (older than the barrier) or does not verify (forged, or an older format) is
      // re-checked against MongoDB and replaced by compare-and-set.
      let suspect: string | null = null;
      if (entry?.kind === 'live') {
        if (entry.writtenAt >= distrustBefore) {
          layer('redis');
          if (isPast(entry.live.expiresAt)) return null;
          localSet(hash, entry.live, epoch);
          if (use) touch(entry.live.id, use);
          return entry.live;
        }
        suspect = raw!;
      } else if (entry?.kind === 'untrusted') {
        onCacheError('verify', new Error('a shared cache entry failed authentication'));
        suspect = raw!;
      }

      layer('database');
      const found = await readStore(hash, use);
      if (found.state !== 'live') {
        if (found.state === 'unknown' && raw === null && cache) {
          // Unknown: remember it briefly, so repeated guesses do not reach MongoDB.
          await cache
            .set(key, codec.marker(key, 'unknown'), negativeTtl, true)
            .catch((error: unknown) => onCacheError('set', error));
        }
        if (found.state === 'unknown' || found.state === 'revoked') localSet(hash, null, epoch);
        if (suspect !== null) {
          const marker = found.state === 'grace_over' ? 'revoked' : found.state;
          await settle(hash, suspect, codec.marker(key, marker), marker === 'unknown' ? negativeTtl : cacheTtlSeconds);
        }
        return null;
      }
      const { live } = found;
      // A rotated-out value in its grace period is never cached: each use re-reads the token, so revoking it
      // (which tombstones the current value only) or rotating again also ends the grace at once.
      if (live.credential === 'current') {
        if (raw === null) await populate(hash, live);
        else if (suspect !== null) await settle(hash, suspect, codec.live(key, live, Date.now()), ttlFor(live));
        // Under a "read MongoDB" marker the token is being changed: keep nothing in memory either.
        if (entry?.kind !== 'stale') localSet(hash, live, epoch);
      }
      if (use) touch(live.id, use);
      return live;
    },

    async lookupInStore(value) {
      if (!format.isWellFormed(value)) return null;
      const found = await readStore(format.hash(value), undefined);
      return found.state === 'live' ? found.live : null;
    },

    async invalidateUser(userId) {
      await writeTombstones(await pats.unrevokedHashesOfUser(userId), 'stale');
    },

    async uncacheUser(userId) {
      if (!cache) return;
      const hashes = await pats.unrevokedHashesOfUser(userId);
      await cache.del(hashes.map(cacheKey)).catch((error: unknown) => onCacheError('del', error));
      await broadcast(hashes);
    },

    close() {
      if (poll) clearInterval(poll);
      if (withdrawing) clearInterval(withdrawing);
    },
  };
}

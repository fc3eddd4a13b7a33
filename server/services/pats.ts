/**
 * Personal access tokens: creation, listing, revocation and the introspection lookup, with the Redis cache in
 * front of MongoDB. No HTTP here: callers get records or RFC-shaped errors.
 *
 * Cache protocol (keys `pat:<sha256>`):
 * - a live answer is written with `SET NX`, TTL = min(cache TTL, time left before the PAT expires);
 * - revoking writes the tombstone `revoked` over it (answered inactive without MongoDB), disabling a user writes
 *   `stale` over each of its tokens (a miss that cannot be repopulated until it expires). Because a populate never
 *   overwrites, a lookup that read MongoDB just before a revocation cannot put a live answer back after it;
 * - when Redis refuses an invalidation, the hash is remembered, the cache is not trusted for it on this instance,
 *   and the tombstone is written as soon as Redis is ready again.
 */
import {
  DuplicateError,
  type Cache,
  type PatRecord,
  type PatStore,
  type UserRecord,
  type UserStore,
} from '../../adapters/types.ts';
import { Conflict, InvalidRequest, NotFound, assertThat } from '../errors.ts';
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
}

export interface CreatePatInput {
  readonly name: string;
  readonly description?: string | null | undefined;
  readonly scopes: readonly string[];
  readonly expiresAt?: Date | null | undefined;
  readonly resource?: string | null | undefined;
}

export interface PatService {
  /** Mints a PAT. The value is in the result and nowhere else, ever. */
  create(userId: string, input: CreatePatInput): Promise<{ record: PatRecord; token: string }>;
  list(userId: string): Promise<PatRecord[]>;
  /** Revokes a user's token; idempotent. @throws {NotFound} when the token is not that user's. */
  revoke(userId: string, id: string): Promise<PatRecord>;
  /** Revokes by public id (the revocation endpoint's path). Returns false when unknown. */
  revokeById(id: string): Promise<boolean>;
  /** The live PAT for a presented value, or null. Malformed values cost no I/O. Rejects only on storage outage. */
  lookup(value: string): Promise<LivePat | null>;
  /** Drops every cached answer for the user's tokens (called when the user is disabled or deleted). */
  invalidateUser(userId: string): Promise<void>;
}

export interface PatServiceDeps {
  readonly pats: PatStore;
  readonly users: UserStore;
  readonly cache: Cache | null;
  readonly format: PatFormat;
  readonly clock: Clock;
  readonly cacheTtlSeconds: number;
  /** Told about cache failures (never with a token or hash). */
  readonly onCacheError: (operation: string, error: unknown) => void;
}

const REVOKED = 'revoked';
const STALE = 'stale';
const cacheKey = (hash: string) => `pat:${hash}`;
const seconds = (date: Date) => Math.floor(date.getTime() / 1000);

interface CachedPat {
  i: string;
  u: string;
  n: string;
  m: string;
  s: string[];
  r: string | null;
  c: number;
  e: number | null;
}

function fromCache(raw: string): LivePat | null {
  try {
    const c = JSON.parse(raw) as CachedPat;
    return {
      id: c.i,
      userId: c.u,
      username: c.n,
      name: c.m,
      scopes: c.s,
      resource: c.r,
      issuedAt: c.c,
      expiresAt: c.e,
    };
  } catch {
    return null;
  }
}

function toCache(p: LivePat): string {
  const c: CachedPat = {
    i: p.id,
    u: p.userId,
    n: p.username,
    m: p.name,
    s: [...p.scopes],
    r: p.resource,
    c: p.issuedAt,
    e: p.expiresAt,
  };
  return JSON.stringify(c);
}

/** Creates the PAT service. */
export function createPatService(deps: PatServiceDeps): PatService {
  const { pats, users, cache, format, clock, cacheTtlSeconds, onCacheError } = deps;
  /** Hashes whose tombstone Redis refused; value: the tombstone to write. */
  const pending = new Map<string, string>();

  async function writeTombstones(hashes: readonly string[], tombstone: string): Promise<void> {
    if (!cache || hashes.length === 0) return;
    for (const hash of hashes) pending.set(hash, tombstone);
    await flushPending();
  }

  async function flushPending(): Promise<void> {
    if (!cache) return;
    await Promise.all(
      [...pending].map(async ([hash, tombstone]) => {
        try {
          await cache.set(cacheKey(hash), tombstone, cacheTtlSeconds);
          if (pending.get(hash) === tombstone) pending.delete(hash);
        } catch (error) {
          onCacheError('invalidate', error);
        }
      }),
    );
  }
  cache?.onReady(() => {
    void flushPending();
  });

  async function readCache(hash: string): Promise<string | null> {
    if (!cache || pending.has(hash)) return null;
    try {
      return await cache.get(cacheKey(hash));
    } catch (error) {
      onCacheError('get', error);
      return null;
    }
  }

  async function populate(hash: string, live: LivePat): Promise<void> {
    if (!cache) return;
    const now = seconds(clock.now());
    const ttl = Math.min(cacheTtlSeconds, live.expiresAt === null ? Infinity : live.expiresAt - now);
    if (ttl < 1) return;
    try {
      await cache.set(cacheKey(hash), toCache(live), ttl, true);
    } catch (error) {
      onCacheError('set', error);
    }
  }

  function isExpired(expiresAt: Date | number | null): boolean {
    if (expiresAt === null) return false;
    const at = typeof expiresAt === 'number' ? expiresAt * 1000 : expiresAt.getTime();
    return at <= clock.now().getTime();
  }

  async function requireUser(userId: string): Promise<UserRecord> {
    const user = await users.get(userId);
    assertThat(user, () => new NotFound('user'));
    return user;
  }

  return {
    async create(userId, input) {
      const user = await requireUser(userId);
      assertThat(!user.disabled, () => new InvalidRequest('the user is disabled', 'user_id'));
      const now = clock.now();
      assertThat(
        !input.expiresAt || input.expiresAt.getTime() > now.getTime(),
        () => new InvalidRequest('expires_at must be in the future', 'expires_at'),
      );
      const token = format.generate();
      const record: PatRecord = {
        id: newPatId(),
        tokenHash: format.hash(token),
        userId,
        name: input.name,
        description: input.description ?? null,
        scopes: [...new Set(input.scopes)],
        resource: input.resource ?? null,
        createdAt: now,
        expiresAt: input.expiresAt ?? null,
        lastUsedAt: null,
        revokedAt: null,
      };
      try {
        await pats.insert(record, now);
      } catch (error) {
        if (error instanceof DuplicateError && error.field === 'name') {
          throw new Conflict(`a live token named "${input.name}" already exists for this user`, 'name');
        }
        throw error;
      }
      return { record, token };
    },

    async list(userId) {
      await requireUser(userId);
      return pats.listByUser(userId);
    },

    async revoke(userId, id) {
      const existing = await pats.findById(id);
      assertThat(existing && existing.userId === userId, () => new NotFound('token'));
      const revoked = await pats.revoke(id, clock.now());
      assertThat(revoked, () => new NotFound('token'));
      await writeTombstones([revoked.tokenHash], REVOKED);
      return revoked;
    },

    async revokeById(id) {
      const revoked = await pats.revoke(id, clock.now());
      if (!revoked) return false;
      await writeTombstones([revoked.tokenHash], REVOKED);
      return true;
    },

    async lookup(value) {
      if (!format.isWellFormed(value)) return null;
      const hash = format.hash(value);

      const cached = await readCache(hash);
      if (cached === REVOKED) return null;
      if (cached !== null && cached !== STALE) {
        const live = fromCache(cached);
        if (live) return isExpired(live.expiresAt) ? null : live;
      }

      const pat = await pats.findByHash(hash);
      if (!pat || pat.revokedAt !== null || isExpired(pat.expiresAt)) return null;
      const user = await users.get(pat.userId);
      if (!user || user.disabled) return null;

      const live: LivePat = {
        id: pat.id,
        userId: pat.userId,
        username: user.username,
        name: pat.name,
        scopes: pat.scopes,
        resource: pat.resource,
        issuedAt: seconds(pat.createdAt),
        expiresAt: pat.expiresAt === null ? null : seconds(pat.expiresAt),
      };
      if (cached === null) await populate(hash, live);
      return live;
    },

    async invalidateUser(userId) {
      await writeTombstones(await pats.unrevokedHashesOfUser(userId), STALE);
    },
  };
}

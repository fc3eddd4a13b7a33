/**
 * In-memory storage: the embedded default for `npm start` without `MONGODB_URI`. Same contracts and semantics as
 * the MongoDB store (unique usernames, unique live token names per user, atomic revoke); nothing survives a
 * restart, so `NODE_ENV=production` refuses it (see config).
 */
import {
  DuplicateError,
  LimitError,
  tokenStatus,
  type AuditEvent,
  type AuditStore,
  type Cursor,
  type LifecycleEvent,
  type OidcPayload,
  type OidcStore,
  type PatRecord,
  type PendingEvents,
  type PendingQuery,
  type PatStore,
  type RotatedValue,
  type Storage,
  type TokenQuery,
  type UserRecord,
  type UserStore,
} from '../types.ts';
import { createHashedOidcStore } from '../hashed-oidc-store.ts';
import { createMemoryLeaseStore } from './leases.ts';
import { createMemoryNoticeStore } from './notices.ts';
import { createMemoryEventStorage } from './events.ts';

/**
 * Events written with a document's change, by document id (the in-memory counterpart of `pending_events`): a
 * change and its events are stored in the same synchronous step, so neither exists without the other.
 */
function createPendingEvents() {
  const byId = new Map<string, LifecycleEvent[]>();
  return {
    add: (id: string, events: readonly LifecycleEvent[] | undefined): void => {
      if (!events || events.length === 0) return;
      byId.set(id, [...(byId.get(id) ?? []), ...events]);
    },
    pending: async (q: PendingQuery): Promise<PendingEvents[]> => {
      const out: PendingEvents[] = [];
      for (const [id, events] of byId) {
        if (q.id !== undefined && id !== q.id) continue;
        if (q.before !== undefined && !events.some((e) => e.at < q.before!)) continue;
        out.push({ id, events: [...events] });
      }
      const first = (p: PendingEvents) => Math.min(...p.events.map((e) => e.at.getTime()));
      return out.sort((a, b) => first(a) - first(b)).slice(0, q.limit);
    },
    relayed: async (id: string, eventIds: readonly string[]): Promise<void> => {
      const left = (byId.get(id) ?? []).filter((e) => !eventIds.includes(e.id));
      if (left.length === 0) byId.delete(id);
      else byId.set(id, left);
    },
  };
}

function createMemoryUserStore(): UserStore {
  const byId = new Map<string, UserRecord>();
  const idByUsername = new Map<string, string>();
  /** Ids of deleted users: reserved for good (see the contract). */
  const deleted = new Set<string>();
  const pending = createPendingEvents();
  return {
    async insert(user) {
      if (byId.has(user.id) || deleted.has(user.id)) throw new DuplicateError('id');
      if (idByUsername.has(user.username)) throw new DuplicateError('username');
      byId.set(user.id, user);
      idByUsername.set(user.username, user.id);
    },
    async get(id) {
      return byId.get(id) ?? null;
    },
    async setDisabled(id, disabled, at, events) {
      const user = byId.get(id);
      if (!user) return null;
      const updated = { ...user, disabled, updatedAt: at };
      byId.set(id, updated);
      if (user.disabled !== disabled) pending.add(id, events);
      return updated;
    },
    async list(limit, after, search) {
      const needle = search?.toLowerCase();
      const found = (u: UserRecord) =>
        needle === undefined || [u.id, u.username, u.email ?? ''].some((v) => v.toLowerCase().includes(needle));
      return [...byId.values()]
        .filter(found)
        .sort(newestFirst((u) => u.createdAt))
        .filter(afterCursor((u) => u.createdAt, after))
        .slice(0, limit);
    },
    async delete(id, _at, events) {
      const user = byId.get(id);
      if (!user) return false;
      byId.delete(id);
      idByUsername.delete(user.username);
      deleted.add(id);
      pending.add(id, events);
      return true;
    },
    pendingEvents: pending.pending,
    eventsRelayed: pending.relayed,
  };
}

/** Sort comparator: newest first by `at`, then by id descending (the MongoDB store's order). */
function newestFirst<T extends { id: string }>(at: (row: T) => Date) {
  return (a: T, b: T) => at(b).getTime() - at(a).getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** Keeps rows strictly after the cursor in newest-first order. */
function afterCursor<T extends { id: string }>(at: (row: T) => Date, cursor: Cursor | undefined) {
  return (row: T) =>
    !cursor ||
    at(row).getTime() < cursor.at.getTime() ||
    (at(row).getTime() === cursor.at.getTime() && row.id < cursor.id);
}

function isLive(pat: PatRecord, now: Date): boolean {
  return tokenStatus(pat, now) === 'active';
}

function matches(p: PatRecord, q: TokenQuery): boolean {
  if (q.userId !== undefined && p.userId !== q.userId) return false;
  if (q.status !== 'all' && tokenStatus(p, q.now) !== q.status) return false;
  if (q.expiresBefore && !(p.expiresAt !== null && p.expiresAt < q.expiresBefore)) return false;
  if (q.lastUsedBefore && !(p.lastUsedAt === null || p.lastUsedAt < q.lastUsedBefore)) return false;
  if (q.createdBefore && !(p.createdAt < q.createdBefore)) return false;
  return true;
}

function createMemoryPatStore(): PatStore {
  const byId = new Map<string, PatRecord>();
  const idByHash = new Map<string, string>();
  const rotated = new Map<string, RotatedValue>();
  const pending = createPendingEvents();
  const put = (pat: PatRecord) => {
    byId.set(pat.id, pat);
    return pat;
  };
  return {
    async insert(pat, now, maxLive, events) {
      if (idByHash.has(pat.tokenHash)) throw new DuplicateError('token_hash');
      if (byId.has(pat.id)) throw new DuplicateError('id');
      const live = [...byId.values()].filter((other) => other.userId === pat.userId && isLive(other, now));
      if (live.some((other) => other.name === pat.name)) throw new DuplicateError('name');
      if (live.length >= maxLive) throw new LimitError(maxLive);
      put(pat);
      idByHash.set(pat.tokenHash, pat.id);
      pending.add(pat.id, events);
    },
    async findByHash(tokenHash) {
      const id = idByHash.get(tokenHash);
      return id === undefined ? null : (byId.get(id) ?? null);
    },
    async findByHashes(tokenHashes) {
      return tokenHashes.flatMap((h) => {
        const id = idByHash.get(h);
        const pat = id === undefined ? undefined : byId.get(id);
        return pat ? [pat] : [];
      });
    },
    async findById(id) {
      return byId.get(id) ?? null;
    },
    async query(q) {
      return [...byId.values()]
        .filter((p) => matches(p, q))
        .sort(newestFirst((p) => p.createdAt))
        .filter(afterCursor((p) => p.createdAt, q.after))
        .slice(0, q.limit);
    },
    async *scanExpiring(from, to) {
      for (const p of [...byId.values()]) {
        if (p.revokedAt === null && p.expiresAt !== null && p.expiresAt > from && p.expiresAt <= to) yield p;
      }
    },
    async update(id, changes, expiryEvents) {
      const pat = byId.get(id);
      if (!pat || pat.revokedAt !== null) return null;
      if (changes.name !== undefined && changes.name !== pat.name) {
        const now = new Date();
        for (const other of byId.values()) {
          if (other.id !== id && other.userId === pat.userId && other.name === changes.name && isLive(other, now)) {
            throw new DuplicateError('name');
          }
        }
      }
      const earlier = changes.expiresAt !== undefined && (pat.expiresAt === null || changes.expiresAt < pat.expiresAt);
      if (earlier) pending.add(id, expiryEvents);
      return put({
        ...pat,
        ...(changes.name === undefined ? {} : { name: changes.name }),
        ...(changes.description === undefined ? {} : { description: changes.description }),
        ...(earlier ? { expiresAt: changes.expiresAt } : {}),
      });
    },
    async rotate(id, fromHash, toHash, { expiresAt, at, events }) {
      const pat = byId.get(id);
      if (!pat || pat.revokedAt !== null || pat.tokenHash !== fromHash) return null;
      if (idByHash.has(toHash)) throw new DuplicateError('token_hash');
      idByHash.delete(fromHash);
      idByHash.set(toHash, id);
      pending.add(id, events);
      return put({ ...pat, tokenHash: toHash, expiresAt, rotatedAt: at });
    },
    async revoke(id, at, events) {
      const pat = byId.get(id);
      if (!pat) return null;
      if (pat.revokedAt !== null) return pat;
      pending.add(id, events);
      return put({ ...pat, revokedAt: at });
    },
    async revokeAllOfUser(userId, at, eventsFor) {
      const out: PatRecord[] = [];
      for (const pat of byId.values()) {
        if (pat.userId === userId && pat.revokedAt === null) {
          pending.add(pat.id, eventsFor?.(pat.id));
          out.push(put({ ...pat, revokedAt: at }));
        }
      }
      return out;
    },
    async unrevokedHashesOfUser(userId) {
      return [...byId.values()].filter((p) => p.userId === userId && p.revokedAt === null).map((p) => p.tokenHash);
    },
    async touchLastUsed(id, at, clientId, minIntervalMs) {
      const pat = byId.get(id);
      if (!pat || (pat.lastUsedAt && pat.lastUsedAt.getTime() > at.getTime() - minIntervalMs)) return false;
      put({ ...pat, lastUsedAt: at, lastUsedClient: clientId });
      return true;
    },
    async insertRotated(value) {
      if (!rotated.has(value.tokenHash)) rotated.set(value.tokenHash, value);
    },
    async findRotated(tokenHash) {
      return rotated.get(tokenHash) ?? null;
    },
    async findRotatedMany(tokenHashes) {
      return tokenHashes.flatMap((h) => {
        const value = rotated.get(h);
        return value ? [value] : [];
      });
    },
    async endGrace(tokenId, exceptHash, at) {
      for (const [h, value] of rotated) {
        if (value.tokenId === tokenId && h !== exceptHash && value.validUntil > at) {
          rotated.set(h, { ...value, validUntil: at });
        }
      }
    },
    async setRotatedValidUntil(tokenHash, validUntil) {
      const value = rotated.get(tokenHash);
      if (value) rotated.set(tokenHash, { ...value, validUntil });
    },
    pendingEvents: pending.pending,
    eventsRelayed: pending.relayed,
  };
}

function createMemoryAuditStore(): AuditStore {
  const events: AuditEvent[] = [];
  const ids = new Set<string>();
  return {
    async insert(event) {
      if (ids.has(event.id)) throw new DuplicateError('id');
      ids.add(event.id);
      events.push(event);
    },
    async query(q) {
      return events
        .filter(
          (e) =>
            (q.userId === undefined || e.userId === q.userId) &&
            (q.tokenId === undefined || e.tokenId === q.tokenId) &&
            (q.type === undefined || e.type === q.type) &&
            (q.from === undefined || e.at >= q.from) &&
            (q.to === undefined || e.at < q.to),
        )
        .sort(newestFirst((e) => e.at))
        .filter(afterCursor((e) => e.at, q.after))
        .slice(0, q.limit);
    },
  };
}

/** The models whose payloads are access tokens issued to a client. */
const TOKEN_MODELS = ['AccessToken', 'ClientCredentials'];

interface Entry {
  payload: OidcPayload;
  expiresAt: number | null;
}

function createMemoryOidcStore(now: () => number): OidcStore {
  const entries = new Map<string, Entry>();
  let lastSweep = now();
  /** Drops expired payloads, at most once a minute, on writes: the embedded store does not grow without bound. */
  const sweep = () => {
    if (now() - lastSweep < 60_000) return;
    lastSweep = now();
    for (const [k, entry] of entries) if (entry.expiresAt !== null && entry.expiresAt <= lastSweep) entries.delete(k);
  };
  const key = (model: string, id: string) => `${model}\u0000${id}`;
  const live = (entry: Entry | undefined) =>
    entry && (entry.expiresAt === null || entry.expiresAt > now()) ? entry : undefined;
  const findBy = (model: string, field: 'uid' | 'userCode', value: string) => {
    for (const [k, entry] of entries) {
      if (k.startsWith(`${model}\u0000`) && live(entry) && entry.payload[field] === value) return entry.payload;
    }
    return undefined;
  };
  return {
    async upsert(model, id, payload, expiresIn) {
      sweep();
      entries.set(key(model, id), {
        payload: structuredClone(payload),
        expiresAt: expiresIn ? now() + expiresIn * 1000 : null,
      });
    },
    async find(model, id) {
      const entry = live(entries.get(key(model, id)));
      return entry ? structuredClone(entry.payload) : undefined;
    },
    async findByUid(model, uid) {
      return findBy(model, 'uid', uid);
    },
    async findByUserCode(model, userCode) {
      return findBy(model, 'userCode', userCode);
    },
    async consume(model, id) {
      const entry = entries.get(key(model, id));
      if (entry) entry.payload.consumed = Math.floor(now() / 1000);
    },
    async destroy(model, id) {
      entries.delete(key(model, id));
    },
    async revokeByGrantId(model, grantId) {
      for (const [k, entry] of entries) {
        if (k.startsWith(`${model}\u0000`) && entry.payload.grantId === grantId) entries.delete(k);
      }
    },
    async tokenIdsOfClient(clientId) {
      return [...entries.entries()]
        .filter(
          ([k, entry]) => TOKEN_MODELS.some((m) => k.startsWith(`${m}\u0000`)) && entry.payload.clientId === clientId,
        )
        .map(([k]) => k.slice(k.indexOf('\u0000') + 1));
    },
    async list(model) {
      return [...entries.entries()]
        .filter(([k, entry]) => k.startsWith(`${model}\u0000`) && live(entry))
        .map(([, entry]) => structuredClone(entry.payload));
    },
  };
}

/** Creates the embedded in-memory storage. `now` is the clock in milliseconds (injected for tests). */
export function createMemoryStorage(now: () => number = Date.now): Storage {
  return {
    users: createMemoryUserStore(),
    pats: createMemoryPatStore(),
    audit: createMemoryAuditStore(),
    barrier: (() => {
      let at = 0;
      return {
        read: async () => at,
        raise: async (atMs: number) => {
          at = Math.max(at, atMs);
        },
      };
    })(),
    signingKeys: (() => {
      let sealed: string | null = null;
      return {
        read: async () => sealed,
        insertIfAbsent: async (value: string) => (sealed ??= value),
        replace: async (value: string) => {
          sealed = value;
        },
      };
    })(),
    notices: createMemoryNoticeStore(),
    leases: createMemoryLeaseStore(),
    oidc: createHashedOidcStore(createMemoryOidcStore(now)),
    events: createMemoryEventStorage(),
    async ping() {},
    async close() {},
  };
}

/**
 * In-memory storage: the embedded default for `npm start` without `MONGODB_URI`. Same contracts and semantics as
 * the MongoDB store (unique usernames, unique live token names per user, atomic revoke); nothing survives a
 * restart, so `NODE_ENV=production` refuses it (see config).
 */
import {
  DuplicateError,
  type OidcPayload,
  type OidcStore,
  type PatRecord,
  type PatStore,
  type Storage,
  type UserRecord,
  type UserStore,
} from '../types.ts';

function createMemoryUserStore(): UserStore {
  const byId = new Map<string, UserRecord>();
  const idByUsername = new Map<string, string>();
  return {
    async insert(user) {
      if (byId.has(user.id)) throw new DuplicateError('id');
      if (idByUsername.has(user.username)) throw new DuplicateError('username');
      byId.set(user.id, user);
      idByUsername.set(user.username, user.id);
    },
    async get(id) {
      return byId.get(id) ?? null;
    },
    async setDisabled(id, disabled, at) {
      const user = byId.get(id);
      if (!user) return null;
      const updated = { ...user, disabled, updatedAt: at };
      byId.set(id, updated);
      return updated;
    },
  };
}

function isLive(pat: PatRecord, now: Date): boolean {
  return pat.revokedAt === null && (pat.expiresAt === null || pat.expiresAt > now);
}

function createMemoryPatStore(): PatStore {
  const byId = new Map<string, PatRecord>();
  const idByHash = new Map<string, string>();
  return {
    async insert(pat, now) {
      if (idByHash.has(pat.tokenHash)) throw new DuplicateError('token_hash');
      if (byId.has(pat.id)) throw new DuplicateError('id');
      for (const other of byId.values()) {
        if (other.userId === pat.userId && other.name === pat.name && isLive(other, now)) {
          throw new DuplicateError('name');
        }
      }
      byId.set(pat.id, pat);
      idByHash.set(pat.tokenHash, pat.id);
    },
    async findByHash(tokenHash) {
      const id = idByHash.get(tokenHash);
      return id === undefined ? null : (byId.get(id) ?? null);
    },
    async findById(id) {
      return byId.get(id) ?? null;
    },
    async listByUser(userId) {
      return [...byId.values()]
        .filter((p) => p.userId === userId)
        .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1));
    },
    async revoke(id, at) {
      const pat = byId.get(id);
      if (!pat) return null;
      if (pat.revokedAt !== null) return pat;
      const revoked = { ...pat, revokedAt: at };
      byId.set(id, revoked);
      return revoked;
    },
    async unrevokedHashesOfUser(userId) {
      return [...byId.values()].filter((p) => p.userId === userId && p.revokedAt === null).map((p) => p.tokenHash);
    },
  };
}

interface Entry {
  payload: OidcPayload;
  expiresAt: number | null;
}

function createMemoryOidcStore(now: () => number): OidcStore {
  const entries = new Map<string, Entry>();
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
    oidc: createMemoryOidcStore(now),
    async ping() {},
    async close() {},
  };
}

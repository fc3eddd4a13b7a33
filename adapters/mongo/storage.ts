/**
 * MongoDB storage through mongoose. Works on MongoDB 6+ and on FerretDB (no transactions, partial or TTL
 * indexes there): every write is a single-document atomic operation, uniqueness of live token names uses a plain
 * unique index on a derived `live_name` field, and expiry falls back to a sweeper when a TTL index cannot be made.
 */
import mongoose, { type Connection, type Model } from 'mongoose';

import {
  DuplicateError,
  StoreError,
  StoreUnavailableError,
  type OidcStore,
  type PatRecord,
  type PatStore,
  type Storage,
  type UserRecord,
  type UserStore,
} from '../types.ts';

export interface MongoStorageOptions {
  readonly uri: string;
  /** Server selection / socket timeout: how long an operation may wait for an unreachable server. */
  readonly timeoutMs: number;
  /** Called once when expiry falls back to the sweeper (no TTL index support), for logging. */
  readonly onTtlFallback?: (error: unknown) => void;
  /** Sweeper period when TTL indexes are unavailable. Default 60 s. */
  readonly sweepIntervalMs?: number;
}

const UNAVAILABLE =
  /Network|ServerSelection|NotConnected|PoolCleared|Timeout|Topology|Interrupted|ECONNREFUSED|closed/i;

function translate(error: unknown): Error {
  if (error instanceof StoreError) return error;
  const err = error as { code?: unknown; name?: string; message?: string; keyPattern?: Record<string, unknown> };
  if (err?.code === 11000 || err?.code === 11001) {
    // MongoDB names the index in keyPattern; FerretDB does not, so callers resolve `unknown` by a lookup.
    const field = Object.keys(err.keyPattern ?? {})[0] ?? 'unknown';
    return new DuplicateError(field === 'live_name' ? 'name' : field === '_id' ? 'id' : field);
  }
  if (UNAVAILABLE.test(err?.name ?? '') || UNAVAILABLE.test(err?.message ?? '')) {
    return new StoreUnavailableError('MongoDB is unreachable', { cause: error });
  }
  return new StoreError('MongoDB operation failed', { cause: error });
}

async function guard<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw translate(error);
  }
}

interface UserDoc {
  _id: string;
  username: string;
  email: string | null;
  disabled: boolean;
  created_at: Date;
  updated_at: Date;
}

interface PatDoc {
  _id: string;
  token_hash: string;
  user_id: string;
  name: string;
  /** `<user_id>\n<name>` while the token holds its name; `released:<id>` once revoked or expired. */
  live_name: string;
  description: string | null;
  scopes: string[];
  resource: string | null;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

interface OidcDoc {
  _id: string;
  model: string;
  /** JSON text: oidc-provider payloads may hold keys MongoDB refuses (`$`, `.`). */
  payload: string;
  grant_id?: string;
  uid?: string;
  user_code?: string;
  expires_at?: Date;
}

const { Schema } = mongoose;
const options = { versionKey: false, autoIndex: false, autoCreate: false, strict: true } as const;

const userSchema = new Schema<UserDoc>(
  {
    _id: String,
    username: { type: String, required: true, unique: true },
    email: { type: String, default: null },
    disabled: { type: Boolean, default: false },
    created_at: Date,
    updated_at: Date,
  },
  { ...options, collection: 'users' },
);

const patSchema = new Schema<PatDoc>(
  {
    _id: String,
    token_hash: { type: String, required: true, unique: true },
    user_id: { type: String, required: true },
    name: String,
    live_name: { type: String, required: true, unique: true },
    description: { type: String, default: null },
    scopes: [String],
    resource: { type: String, default: null },
    created_at: Date,
    expires_at: { type: Date, default: null },
    last_used_at: { type: Date, default: null },
    revoked_at: { type: Date, default: null },
  },
  { ...options, collection: 'personal_access_tokens' },
);
patSchema.index({ user_id: 1, created_at: -1 });

const oidcSchema = new Schema<OidcDoc>(
  {
    _id: String,
    model: String,
    payload: String,
    grant_id: String,
    uid: String,
    user_code: String,
    expires_at: Date,
  },
  { ...options, collection: 'oidc_payloads' },
);
oidcSchema.index({ model: 1, grant_id: 1 });
oidcSchema.index({ model: 1, uid: 1 });
oidcSchema.index({ model: 1, user_code: 1 });

/** The driver collection behind a model, typed with our string `_id` documents. */
const raw = <T extends { _id: string }>(model: Model<T>) => model.collection as unknown as mongoose.mongo.Collection<T>;

const liveNameKey = (userId: string, name: string) => `${userId}\n${name}`;

function toUser(doc: UserDoc): UserRecord {
  return {
    id: doc._id,
    username: doc.username,
    email: doc.email ?? null,
    disabled: doc.disabled === true,
    createdAt: doc.created_at,
    updatedAt: doc.updated_at,
  };
}

function toPat(doc: PatDoc): PatRecord {
  return {
    id: doc._id,
    tokenHash: doc.token_hash,
    userId: doc.user_id,
    name: doc.name,
    description: doc.description ?? null,
    scopes: doc.scopes ?? [],
    resource: doc.resource ?? null,
    createdAt: doc.created_at,
    expiresAt: doc.expires_at ?? null,
    lastUsedAt: doc.last_used_at ?? null,
    revokedAt: doc.revoked_at ?? null,
  };
}

function createUserStore(Users: Model<UserDoc>): UserStore {
  const insertUser = (user: UserRecord) =>
    raw(Users).insertOne({
      _id: user.id,
      username: user.username,
      email: user.email,
      disabled: user.disabled,
      created_at: user.createdAt,
      updated_at: user.updatedAt,
    });
  return {
    insert: (user) =>
      guard(async () => {
        await insertUser(user).catch(async (error: unknown) => {
          const translated = translate(error);
          if (translated instanceof DuplicateError && translated.field === 'unknown') {
            throw new DuplicateError((await Users.exists({ _id: user.id })) ? 'id' : 'username');
          }
          throw translated;
        });
      }),
    get: (id) =>
      guard(async () => {
        const doc = await Users.findById(id).lean<UserDoc>();
        return doc ? toUser(doc) : null;
      }),
    setDisabled: (id, disabled, at) =>
      guard(async () => {
        const doc = await Users.findOneAndUpdate(
          { _id: id },
          { $set: { disabled, updated_at: at } },
          { returnDocument: 'after' },
        ).lean<UserDoc>();
        return doc ? toUser(doc) : null;
      }),
  };
}

function createPatStore(Pats: Model<PatDoc>): PatStore {
  const insertOnce = (pat: PatRecord) =>
    raw(Pats).insertOne({
      _id: pat.id,
      token_hash: pat.tokenHash,
      user_id: pat.userId,
      name: pat.name,
      live_name: liveNameKey(pat.userId, pat.name),
      description: pat.description,
      scopes: [...pat.scopes],
      resource: pat.resource,
      created_at: pat.createdAt,
      expires_at: pat.expiresAt,
      last_used_at: pat.lastUsedAt,
      revoked_at: pat.revokedAt,
    });

  return {
    insert: (pat, now) =>
      guard(async () => {
        try {
          await insertOnce(pat);
        } catch (error) {
          let translated = translate(error);
          if (translated instanceof DuplicateError && translated.field === 'unknown') {
            const holdsName = await Pats.exists({ live_name: liveNameKey(pat.userId, pat.name) });
            translated = new DuplicateError(holdsName ? 'name' : 'token_hash');
          }
          if (!(translated instanceof DuplicateError) || translated.field !== 'name') throw translated;
          // The holder of the name may have expired: release its name (only if it still holds it) and retry once.
          const holder = await Pats.findOne({ live_name: liveNameKey(pat.userId, pat.name) }).lean<PatDoc>();
          if (!holder || holder.expires_at === null || holder.expires_at > now) throw translated;
          await Pats.updateOne(
            { _id: holder._id, live_name: holder.live_name },
            { $set: { live_name: `released:${holder._id}` } },
          );
          await insertOnce(pat).catch((again: unknown) => {
            const t = translate(again);
            throw t instanceof DuplicateError ? new DuplicateError('name') : t;
          });
        }
      }),
    findByHash: (tokenHash) =>
      guard(async () => {
        const doc = await Pats.findOne({ token_hash: tokenHash }).lean<PatDoc>();
        return doc ? toPat(doc) : null;
      }),
    findById: (id) =>
      guard(async () => {
        const doc = await Pats.findById(id).lean<PatDoc>();
        return doc ? toPat(doc) : null;
      }),
    listByUser: (userId) =>
      guard(async () => {
        const docs = await Pats.find({ user_id: userId }).sort({ created_at: -1, _id: -1 }).lean<PatDoc[]>();
        return docs.map(toPat);
      }),
    revoke: (id, at) =>
      guard(async () => {
        await Pats.updateOne({ _id: id, revoked_at: null }, { $set: { revoked_at: at, live_name: `released:${id}` } });
        const doc = await Pats.findById(id).lean<PatDoc>();
        return doc ? toPat(doc) : null;
      }),
    unrevokedHashesOfUser: (userId) =>
      guard(async () => {
        const docs = await Pats.find({ user_id: userId, revoked_at: null }, { token_hash: 1 }).lean<PatDoc[]>();
        return docs.map((d) => d.token_hash);
      }),
  };
}

function createOidcStore(Oidc: Model<OidcDoc>): OidcStore {
  const key = (model: string, id: string) => `${model}:${id}`;
  const notExpired = () => ({ $or: [{ expires_at: null }, { expires_at: { $gt: new Date() } }] });
  const parse = (doc: OidcDoc | null) => (doc ? (JSON.parse(doc.payload) as Record<string, unknown>) : undefined);
  return {
    upsert: (model, id, payload, expiresIn) =>
      guard(async () => {
        const doc: OidcDoc = { _id: key(model, id), model, payload: JSON.stringify(payload) };
        if (typeof payload.grantId === 'string') doc.grant_id = payload.grantId;
        if (typeof payload.uid === 'string') doc.uid = payload.uid;
        if (typeof payload.userCode === 'string') doc.user_code = payload.userCode;
        if (expiresIn) doc.expires_at = new Date(Date.now() + expiresIn * 1000);
        await raw(Oidc).replaceOne({ _id: key(model, id) }, doc, { upsert: true });
      }),
    find: (model, id) =>
      guard(async () => parse(await Oidc.findOne({ _id: key(model, id), ...notExpired() }).lean<OidcDoc>())),
    findByUid: (model, uid) =>
      guard(async () => parse(await Oidc.findOne({ model, uid, ...notExpired() }).lean<OidcDoc>())),
    findByUserCode: (model, userCode) =>
      guard(async () => parse(await Oidc.findOne({ model, user_code: userCode, ...notExpired() }).lean<OidcDoc>())),
    consume: (model, id) =>
      guard(async () => {
        const doc = await Oidc.findById(key(model, id)).lean<OidcDoc>();
        if (!doc) return;
        const payload = {
          ...(JSON.parse(doc.payload) as Record<string, unknown>),
          consumed: Math.floor(Date.now() / 1000),
        };
        await Oidc.updateOne({ _id: doc._id }, { $set: { payload: JSON.stringify(payload) } });
      }),
    destroy: (model, id) =>
      guard(async () => {
        await Oidc.deleteOne({ _id: key(model, id) });
      }),
    revokeByGrantId: (model, grantId) =>
      guard(async () => {
        await Oidc.deleteMany({ model, grant_id: grantId });
      }),
    list: (model) =>
      guard(async () => {
        const docs = await Oidc.find({ model, ...notExpired() }).lean<OidcDoc[]>();
        return docs.map((d) => JSON.parse(d.payload) as Record<string, unknown>);
      }),
  };
}

/**
 * Connects to MongoDB, creates the indexes (TTL where supported, a sweeper otherwise) and returns the stores.
 * @throws {StoreUnavailableError} when the server cannot be reached within the timeout.
 */
export async function createMongoStorage(opts: MongoStorageOptions): Promise<Storage> {
  const connection: Connection = mongoose.createConnection(opts.uri, {
    serverSelectionTimeoutMS: opts.timeoutMs,
    connectTimeoutMS: opts.timeoutMs,
    socketTimeoutMS: Math.max(opts.timeoutMs * 5, 10_000),
    bufferCommands: false,
    autoIndex: false,
    autoCreate: false,
    maxPoolSize: 20,
  });
  await guard(() => connection.asPromise());

  const Users = connection.model<UserDoc>('User', userSchema);
  const Pats = connection.model<PatDoc>('PersonalAccessToken', patSchema);
  const Oidc = connection.model<OidcDoc>('OidcPayload', oidcSchema);

  await guard(async () => {
    for (const M of [Users, Pats, Oidc] as unknown as Model<unknown>[]) {
      await M.createCollection().catch(() => undefined); // exists already
      await M.createIndexes();
    }
  });

  let sweeper: NodeJS.Timeout | undefined;
  try {
    await Oidc.collection.createIndex({ expires_at: 1 }, { expireAfterSeconds: 0, name: 'expires_at_ttl' });
  } catch (error) {
    opts.onTtlFallback?.(error);
    await Oidc.collection.createIndex({ expires_at: 1 }, { name: 'expires_at_1' }).catch(() => undefined);
    sweeper = setInterval(() => {
      Oidc.deleteMany({ expires_at: { $lte: new Date() } }).catch(() => undefined);
    }, opts.sweepIntervalMs ?? 60_000);
    sweeper.unref();
  }

  return {
    users: createUserStore(Users),
    pats: createPatStore(Pats),
    oidc: createOidcStore(Oidc),
    ping: () =>
      guard(async () => {
        await connection.db!.admin().ping();
      }),
    async close() {
      if (sweeper) clearInterval(sweeper);
      await connection.close();
    },
  };
}

/**
 * MongoDB storage through mongoose. Works on MongoDB 6+ and on FerretDB (no transactions, partial or TTL
 * indexes there): every write is a single-document atomic operation, uniqueness of live token names uses a plain
 * unique index on a derived `live_name` field, and expiry falls back to a sweeper when a TTL index cannot be made.
 */
import mongoose, { type Connection, type Model } from 'mongoose';

import {
  DuplicateError,
  LimitError,
  StoreError,
  type AuditStore,
  type Cursor,
  StoreUnavailableError,
  type OidcStore,
  type PatRecord,
  type PatStore,
  type Storage,
  type TokenQuery,
  type UserRecord,
  type UserStore,
} from '../types.ts';
import { guardClosedSocketWrites } from './closed-socket-guard.ts';

export interface MongoStorageOptions {
  readonly uri: string;
  /** Server selection / socket timeout: how long an operation may wait for an unreachable server. */
  readonly timeoutMs: number;
  /** Called once when expiry falls back to the sweeper (no TTL index support), for logging. */
  readonly onTtlFallback?: (error: unknown) => void;
  /** Sweeper period when TTL indexes are unavailable. Default 60 s. */
  readonly sweepIntervalMs?: number;
  /** Called when the driver lacks the internals `guardClosedSocketWrites` patches, for logging. */
  readonly onDriverUnguarded?: () => void;
}

const UNAVAILABLE =
  /Network|ServerSelection|NotConnected|PoolCleared|Timeout|Topology|Interrupted|ECONNREFUSED|closed/i;

function translate(error: unknown): Error {
  if (error instanceof StoreError) return error;
  const err = error as { code?: unknown; name?: string; message?: string; keyPattern?: Record<string, unknown> };
  // FerretDB reports a unique violation by an update as InternalError "UNIQUE constraint failed: index '<coll>_<hash>_<field>_1'".
  const ferret = /UNIQUE constraint failed: index '[^']*?_[0-9a-f]{8}_(\w+?)_1'/.exec(err?.message ?? '');
  if (err?.code === 11000 || err?.code === 11001 || ferret) {
    // MongoDB names the index in keyPattern; FerretDB's E11000 does not, so callers resolve `unknown` by a lookup.
    const field = Object.keys(err.keyPattern ?? {})[0] ?? ferret?.[1] ?? 'unknown';
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
  /** `<user_id>#<k>`, k < max live tokens, while the token is live; `released:<id>` afterwards. */
  live_slot: string;
  description: string | null;
  scopes: string[];
  resource: string | null;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  last_used_client: string | null;
  rotated_at: Date | null;
  revoked_at: Date | null;
}

interface RotatedDoc {
  _id: string;
  token_id: string;
  rotated_at: Date;
  valid_until: Date;
}

interface AuditDoc {
  _id: string;
  type: string;
  at: Date;
  user_id: string | null;
  token_id: string | null;
  actor: string;
  via: string;
  details: Record<string, string | number | boolean | null>;
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
userSchema.index({ created_at: -1, _id: -1 });

const patSchema = new Schema<PatDoc>(
  {
    _id: String,
    token_hash: { type: String, required: true, unique: true },
    user_id: { type: String, required: true },
    name: String,
    live_name: { type: String, required: true, unique: true },
    live_slot: { type: String, required: true, unique: true },
    description: { type: String, default: null },
    scopes: [String],
    resource: { type: String, default: null },
    created_at: Date,
    expires_at: { type: Date, default: null },
    last_used_at: { type: Date, default: null },
    last_used_client: { type: String, default: null },
    rotated_at: { type: Date, default: null },
    revoked_at: { type: Date, default: null },
  },
  { ...options, collection: 'personal_access_tokens' },
);
patSchema.index({ user_id: 1, created_at: -1 });
patSchema.index({ created_at: -1, _id: -1 });

const rotatedSchema = new Schema<RotatedDoc>(
  { _id: String, token_id: String, rotated_at: Date, valid_until: Date },
  { ...options, collection: 'rotated_token_values' },
);

const auditSchema = new Schema<AuditDoc>(
  {
    _id: String,
    type: String,
    at: Date,
    user_id: { type: String, default: null },
    token_id: { type: String, default: null },
    actor: String,
    via: String,
    details: Schema.Types.Mixed,
  },
  { ...options, collection: 'audit_events' },
);
auditSchema.index({ at: -1, _id: -1 });
auditSchema.index({ user_id: 1, at: -1 });
auditSchema.index({ token_id: 1, at: -1 });

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
const slotKey = (userId: string, k: number) => `${userId}#${k}`;
const released = (id: string) => `released:${id}`;

/** Newest-first keyset filter on (`field`, `_id`) after a cursor. */
function afterCursor(field: string, cursor: Cursor | undefined): Record<string, unknown> {
  if (!cursor) return {};
  return { $or: [{ [field]: { $lt: cursor.at } }, { [field]: cursor.at, _id: { $lt: cursor.id } }] };
}

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
    lastUsedClient: doc.last_used_client ?? null,
    rotatedAt: doc.rotated_at ?? null,
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
    list: (limit, after, search) =>
      guard(async () => {
        const and: Record<string, unknown>[] = after ? [afterCursor('created_at', after)] : [];
        if (search !== undefined) {
          // A literal substring, case-insensitive: every regex metacharacter escaped.
          const pattern = { $regex: search.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), $options: 'i' };
          and.push({ $or: [{ _id: pattern }, { username: pattern }, { email: pattern }] });
        }
        const docs = await Users.find(and.length > 0 ? { $and: and } : {})
          .sort({ created_at: -1, _id: -1 })
          .limit(limit)
          .lean<UserDoc[]>();
        return docs.map(toUser);
      }),
    delete: (id) =>
      guard(async () => {
        const result = await Users.deleteOne({ _id: id });
        return result.deletedCount === 1;
      }),
  };
}

function tokenFilter(q: TokenQuery): Record<string, unknown> {
  const and: Record<string, unknown>[] = [];
  if (q.userId !== undefined) and.push({ user_id: q.userId });
  if (q.status === 'active') {
    and.push({ revoked_at: null }, { $or: [{ expires_at: null }, { expires_at: { $gt: q.now } }] });
  } else if (q.status === 'expired') {
    and.push({ revoked_at: null }, { expires_at: { $ne: null, $lte: q.now } });
  } else if (q.status === 'revoked') {
    and.push({ revoked_at: { $ne: null } });
  }
  if (q.expiresBefore) and.push({ expires_at: { $ne: null, $lt: q.expiresBefore } });
  if (q.lastUsedBefore) and.push({ $or: [{ last_used_at: null }, { last_used_at: { $lt: q.lastUsedBefore } }] });
  if (q.createdBefore) and.push({ created_at: { $lt: q.createdBefore } });
  const cursor = afterCursor('created_at', q.after);
  if ('$or' in cursor) and.push(cursor);
  return and.length === 0 ? {} : { $and: and };
}

/**
 * Runs writes to the same key one after another (within this process). MongoDB applies each single-document
 * update atomically, but FerretDB 1.x does not: it reads the document, applies the update in its own process and
 * writes the whole document back, so two overlapping updates of one token lose one of them (a last-used write
 * landing after a revocation would undo it). Serialising this process's writes per token closes that window for a
 * single instance; on MongoDB it only orders what the server would have ordered anyway.
 */
function keyedSerial() {
  const tails = new Map<string, Promise<unknown>>();
  return async <T>(key: string, write: () => Promise<T>): Promise<T> => {
    const before = tails.get(key) ?? Promise.resolve();
    const mine = before.then(write, write);
    const tail = mine.catch(() => undefined);
    tails.set(key, tail);
    try {
      return await mine;
    } finally {
      if (tails.get(key) === tail) tails.delete(key);
    }
  };
}

function createPatStore(Pats: Model<PatDoc>, Rotated: Model<RotatedDoc>): PatStore {
  /** One write at a time per token id. */
  const serial = keyedSerial();
  /** Expired tokens of a user give back their name and slot (one indexed query; usually nothing to do). */
  async function releaseExpired(userId: string, now: Date): Promise<void> {
    const expired = await Pats.find(
      { user_id: userId, revoked_at: null, expires_at: { $ne: null, $lte: now }, live_slot: { $not: /^released:/ } },
      { _id: 1 },
    ).lean<Pick<PatDoc, '_id'>[]>();
    for (const { _id } of expired) {
      await serial(_id, () =>
        Pats.updateOne({ _id }, { $set: { live_name: released(_id), live_slot: released(_id) } }),
      );
    }
  }

  async function freeSlot(userId: string, maxLive: number): Promise<number | null> {
    const live = await Pats.find({ user_id: userId, revoked_at: null }, { live_slot: 1 }).lean<
      Pick<PatDoc, 'live_slot'>[]
    >();
    const used = new Set(live.map((d) => d.live_slot));
    for (let k = 0; k < maxLive; k++) if (!used.has(slotKey(userId, k))) return k;
    return null;
  }

  return {
    insert: (pat, now, maxLive) =>
      guard(async () => {
        await releaseExpired(pat.userId, now);
        // A concurrent creation may take the slot we picked: the unique index refuses ours, and we pick again.
        for (let attempt = 0; attempt < 8; attempt++) {
          const k = await freeSlot(pat.userId, maxLive);
          if (k === null) throw new LimitError(maxLive);
          try {
            await raw(Pats).insertOne({
              _id: pat.id,
              token_hash: pat.tokenHash,
              user_id: pat.userId,
              name: pat.name,
              live_name: liveNameKey(pat.userId, pat.name),
              live_slot: slotKey(pat.userId, k),
              description: pat.description,
              scopes: [...pat.scopes],
              resource: pat.resource,
              created_at: pat.createdAt,
              expires_at: pat.expiresAt,
              last_used_at: pat.lastUsedAt,
              last_used_client: pat.lastUsedClient,
              rotated_at: pat.rotatedAt,
              revoked_at: pat.revokedAt,
            });
            return;
          } catch (error) {
            const translated = translate(error);
            if (!(translated instanceof DuplicateError)) throw translated;
            const field =
              translated.field !== 'unknown'
                ? translated.field
                : (await Pats.exists({ live_name: liveNameKey(pat.userId, pat.name) }))
                  ? 'name'
                  : (await Pats.exists({ live_slot: slotKey(pat.userId, k) }))
                    ? 'live_slot'
                    : 'token_hash';
            if (field !== 'live_slot') throw new DuplicateError(field);
          }
        }
        throw new LimitError(maxLive);
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
    query: (q) =>
      guard(async () => {
        const docs = await Pats.find(tokenFilter(q)).sort({ created_at: -1, _id: -1 }).limit(q.limit).lean<PatDoc[]>();
        return docs.map(toPat);
      }),
    update: (id, changes) =>
      guard(() =>
        serial(id, async () => {
          const current = await Pats.findOne({ _id: id, revoked_at: null }).lean<PatDoc>();
          if (!current) return null;
          const set: Record<string, unknown> = {};
          if (changes.name !== undefined && changes.name !== current.name) {
            set.name = changes.name;
            if (!current.live_name.startsWith('released:')) set.live_name = liveNameKey(current.user_id, changes.name);
          }
          if (changes.description !== undefined) set.description = changes.description;
          const filter: Record<string, unknown> = { _id: id, revoked_at: null };
          if (changes.expiresAt !== undefined) {
            set.expires_at = changes.expiresAt;
            // Only ever earlier: the condition is part of the atomic update.
            filter.$or = [{ expires_at: null }, { expires_at: { $gt: changes.expiresAt } }];
          }
          if (Object.keys(set).length > 0) {
            try {
              const result = await Pats.updateOne(filter, { $set: set });
              if (result.matchedCount === 0 && changes.expiresAt !== undefined) {
                // The expiry was not earlier: apply the other changes alone.
                delete set.expires_at;
                delete filter.$or;
                if (Object.keys(set).length > 0) await Pats.updateOne(filter, { $set: set });
              }
            } catch (error) {
              const translated = translate(error);
              throw translated instanceof DuplicateError ? new DuplicateError('name') : translated;
            }
          }
          const doc = await Pats.findById(id).lean<PatDoc>();
          return doc && doc.revoked_at === null ? toPat(doc) : null;
        }),
      ),
    rotate: (id, fromHash, toHash, { expiresAt, at }) =>
      guard(() =>
        serial(id, async () => {
          const doc = await Pats.findOneAndUpdate(
            { _id: id, token_hash: fromHash, revoked_at: null },
            { $set: { token_hash: toHash, expires_at: expiresAt, rotated_at: at } },
            { returnDocument: 'after' },
          ).lean<PatDoc>();
          return doc ? toPat(doc) : null;
        }),
      ),
    revoke: (id, at) =>
      guard(() =>
        serial(id, async () => {
          await Pats.updateOne(
            { _id: id, revoked_at: null },
            { $set: { revoked_at: at, live_name: released(id), live_slot: released(id) } },
          );
          const doc = await Pats.findById(id).lean<PatDoc>();
          return doc ? toPat(doc) : null;
        }),
      ),
    revokeAllOfUser: (userId, at) =>
      guard(async () => {
        const live = await Pats.find({ user_id: userId, revoked_at: null }, { _id: 1 }).lean<Pick<PatDoc, '_id'>[]>();
        const out: PatRecord[] = [];
        for (const { _id } of live) {
          const doc = await serial(_id, () =>
            Pats.findOneAndUpdate(
              { _id, revoked_at: null },
              { $set: { revoked_at: at, live_name: released(_id), live_slot: released(_id) } },
              { returnDocument: 'after' },
            ).lean<PatDoc>(),
          );
          if (doc) out.push(toPat(doc));
        }
        return out;
      }),
    unrevokedHashesOfUser: (userId) =>
      guard(async () => {
        const docs = await Pats.find({ user_id: userId, revoked_at: null }, { token_hash: 1 }).lean<PatDoc[]>();
        return docs.map((d) => d.token_hash);
      }),
    touchLastUsed: (id, at, clientId, minIntervalMs) =>
      guard(() =>
        serial(id, async () => {
          const result = await Pats.updateOne(
            {
              _id: id,
              $or: [{ last_used_at: null }, { last_used_at: { $lte: new Date(at.getTime() - minIntervalMs) } }],
            },
            { $set: { last_used_at: at, last_used_client: clientId } },
          );
          return result.modifiedCount === 1;
        }),
      ),
    insertRotated: (value) =>
      guard(async () => {
        try {
          await raw(Rotated).insertOne({
            _id: value.tokenHash,
            token_id: value.tokenId,
            rotated_at: value.rotatedAt,
            valid_until: value.validUntil,
          });
        } catch (error) {
          if (!(translate(error) instanceof DuplicateError)) throw error;
        }
      }),
    findRotated: (tokenHash) =>
      guard(async () => {
        const doc = await Rotated.findById(tokenHash).lean<RotatedDoc>();
        return doc
          ? { tokenHash: doc._id, tokenId: doc.token_id, rotatedAt: doc.rotated_at, validUntil: doc.valid_until }
          : null;
      }),
    setRotatedValidUntil: (tokenHash, validUntil) =>
      guard(async () => {
        await Rotated.updateOne({ _id: tokenHash }, { $set: { valid_until: validUntil } });
      }),
  };
}

function createAuditStore(Audit: Model<AuditDoc>): AuditStore {
  return {
    insert: (event) =>
      guard(async () => {
        await raw(Audit).insertOne({
          _id: event.id,
          type: event.type,
          at: event.at,
          user_id: event.userId,
          token_id: event.tokenId,
          actor: event.actor,
          via: event.via,
          details: { ...event.details },
        });
      }),
    query: (q) =>
      guard(async () => {
        const and: Record<string, unknown>[] = [];
        if (q.userId !== undefined) and.push({ user_id: q.userId });
        if (q.tokenId !== undefined) and.push({ token_id: q.tokenId });
        if (q.type !== undefined) and.push({ type: q.type });
        if (q.from) and.push({ at: { $gte: q.from } });
        if (q.to) and.push({ at: { $lt: q.to } });
        const cursor = afterCursor('at', q.after);
        if ('$or' in cursor) and.push(cursor);
        const docs = await Audit.find(and.length ? { $and: and } : {})
          .sort({ at: -1, _id: -1 })
          .limit(q.limit)
          .lean<AuditDoc[]>();
        return docs.map((d) => ({
          id: d._id,
          type: d.type,
          at: d.at,
          userId: d.user_id ?? null,
          tokenId: d.token_id ?? null,
          actor: d.actor,
          via: d.via,
          details: d.details ?? {},
        }));
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
  if (!guardClosedSocketWrites()) opts.onDriverUnguarded?.();
  const connection: Connection = mongoose.createConnection(opts.uri, {
    serverSelectionTimeoutMS: opts.timeoutMs,
    connectTimeoutMS: opts.timeoutMs,
    // A hung server (connected, not answering) fails an operation after this, not after a long socket default.
    // (The driver's timeoutMS would be the tool, but this driver version ignores it.)
    socketTimeoutMS: Math.max(opts.timeoutMs, 1000),
    bufferCommands: false,
    autoIndex: false,
    autoCreate: false,
    maxPoolSize: 20,
  });
  await guard(() => connection.asPromise());

  const Users = connection.model<UserDoc>('User', userSchema);
  const Pats = connection.model<PatDoc>('PersonalAccessToken', patSchema);
  const Oidc = connection.model<OidcDoc>('OidcPayload', oidcSchema);
  const Rotated = connection.model<RotatedDoc>('RotatedTokenValue', rotatedSchema);
  const Audit = connection.model<AuditDoc>('AuditEvent', auditSchema);

  await guard(async () => {
    for (const M of [Users, Pats, Oidc, Rotated, Audit] as unknown as Model<unknown>[]) {
      await M.createCollection().catch(() => undefined); // exists already
      await M.createIndexes();
    }
  });

  const settings = connection.db!.collection<{ _id: string; at?: Date }>('settings');

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
    pats: createPatStore(Pats, Rotated),
    audit: createAuditStore(Audit),
    barrier: {
      read: () =>
        guard(async () => {
          const doc = await settings.findOne({ _id: 'cache_barrier' });
          return doc?.at instanceof Date ? doc.at.getTime() : 0;
        }),
      raise: (atMs) =>
        guard(async () => {
          await settings.updateOne({ _id: 'cache_barrier' }, { $max: { at: new Date(atMs) } }, { upsert: true });
        }),
    },
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

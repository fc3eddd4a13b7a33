/**
 * The `personal_access_tokens` and `rotated_token_values` collections, and their last uses (`token_usage`, see
 * `usage.ts`). MongoDB 6+ and FerretDB alike (no transactions or partial indexes there): every write is a
 * single-document operation; a live token's unique name and its slot among the user's live tokens are held by plain
 * unique indexes on derived fields (`live_name`, `live_slot`), released when the token is revoked or expires.
 *
 * A token's document is written only by changes someone asked for (creation, rename, rotation, revocation) and the
 * relay of their events, one at a time per token in this process (`keyedSerial`), never by introspection.
 */
import mongoose, { type Model } from 'mongoose';

import {
  DuplicateError,
  LimitError,
  type LifecycleEvent,
  StoreUnavailableError,
  type PatRecord,
  type PatStore,
  type RotatedValue,
  type TokenQuery,
} from '../types.ts';
import { SCHEMA_OPTIONS, afterCursor, keyedSerial, pendingEventsOf, pushEvents, type EventDoc } from './common.ts';
import { guard, translate } from './errors.ts';
import { createUsage, lastUse, type UsageDoc } from './usage.ts';

export interface PatDoc {
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
  /** Written by versions before `token_usage`, read still (the later of the two is the token's last use). */
  last_used_at?: Date | null;
  last_used_client?: string | null;
  rotated_at: Date | null;
  revoked_at: Date | null;
  /** Events written with a change of this token, until they are relayed to the outbox (absent when none). */
  pending_events?: EventDoc[];
}

export interface RotatedDoc {
  _id: string;
  token_id: string;
  rotated_at: Date;
  valid_until: Date;
}

/** The schema of `personal_access_tokens`. */
export const patSchema = new mongoose.Schema<PatDoc>(
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
    pending_events: { type: [mongoose.Schema.Types.Mixed], default: undefined },
  },
  { ...SCHEMA_OPTIONS, collection: 'personal_access_tokens' },
);
patSchema.index({ user_id: 1, created_at: -1 });
patSchema.index({ created_at: -1, _id: -1 });
patSchema.index({ expires_at: 1 });
// The sweeper's query for events a crash left on their token: documents without any are not in its range.
patSchema.index({ 'pending_events.at': 1 });

/** The schema of `rotated_token_values`: rotated-out values, by hash, with the end of their grace period. */
export const rotatedSchema = new mongoose.Schema<RotatedDoc>(
  { _id: String, token_id: String, rotated_at: Date, valid_until: Date },
  { ...SCHEMA_OPTIONS, collection: 'rotated_token_values' },
);
rotatedSchema.index({ token_id: 1 });

const liveNameKey = (userId: string, name: string) => `${userId}\n${name}`;
const slotKey = (userId: string, k: number) => `${userId}#${k}`;
const released = (id: string) => `released:${id}`;

function toPat(doc: PatDoc, usage: UsageDoc | undefined): PatRecord {
  const used = lastUse({ at: doc.last_used_at ?? null, client: doc.last_used_client ?? null }, usage);
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
    lastUsedAt: used.at,
    lastUsedClient: used.client,
    rotatedAt: doc.rotated_at ?? null,
    revokedAt: doc.revoked_at ?? null,
  };
}

/** The query for a token listing; its status filter is `tokenStatus` (adapters/types.ts) stated as a query. */
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
  if (q.createdBefore) and.push({ created_at: { $lt: q.createdBefore } });
  const cursor = afterCursor('created_at', q.after);
  if ('$or' in cursor) and.push(cursor);
  return and.length === 0 ? {} : { $and: and };
}

const toEventDoc = (event: LifecycleEvent): EventDoc => ({ ...event });

function toRotated(doc: RotatedDoc): RotatedValue {
  return { tokenHash: doc._id, tokenId: doc.token_id, rotatedAt: doc.rotated_at, validUntil: doc.valid_until };
}

/** Unused since `before`: never used, or last used earlier. */
const unusedSince = (before: Date) => (p: PatRecord) => p.lastUsedAt === null || p.lastUsedAt < before;

/** How many times a revocation is applied again when an overlapping write on FerretDB undid it. */
const REVOKE_ATTEMPTS = 3;

export interface PatModels {
  readonly Pats: Model<PatDoc>;
  readonly Usage: Model<UsageDoc>;
  readonly Rotated: Model<RotatedDoc>;
}

/** The token store over its models; a write without an answer after `deadlineMs` fails with a 503 for its caller. */
export function createPatStore({ Pats, Usage: UsageModel, Rotated }: PatModels, deadlineMs: number): PatStore {
  const usage = createUsage(UsageModel);
  /** One write at a time per token id. */
  const serial = keyedSerial(deadlineMs);

  /** Records with their last use (one query for all of them). */
  async function withUsage(docs: readonly PatDoc[]): Promise<PatRecord[]> {
    const byId = await usage.of(docs.map((d) => d._id));
    return docs.map((d) => toPat(d, byId.get(d._id)));
  }
  const oneWithUsage = async (doc: PatDoc | null) => (doc ? (await withUsage([doc]))[0]! : null);

  /**
   * Revokes one token and reads it back. On FerretDB a write of the same document by another instance can overlap
   * the update and write back the token as it was: then the revocation (with its events) is applied again, and a
   * revocation that still does not stand is a `StoreUnavailableError` (503), never an acknowledgement.
   */
  async function revokeOne(id: string, at: Date, events: readonly LifecycleEvent[] | undefined) {
    for (let attempt = 0; attempt < REVOKE_ATTEMPTS; attempt++) {
      await Pats.updateOne(
        { _id: id, revoked_at: null },
        { $set: { revoked_at: at, live_name: released(id), live_slot: released(id) }, ...pushEvents(events) },
      );
      const doc = await Pats.findById(id).lean<PatDoc>();
      if (!doc || doc.revoked_at !== null) return doc;
    }
    throw new StoreUnavailableError('the revocation did not stand');
  }

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
    // Every slot still held, whatever else the document says (a slot is only free once released).
    const live = await Pats.find({ user_id: userId, live_slot: { $not: /^released:/ } }, { live_slot: 1 }).lean<
      Pick<PatDoc, 'live_slot'>[]
    >();
    const used = new Set(live.map((d) => d.live_slot));
    for (let k = 0; k < maxLive; k++) if (!used.has(slotKey(userId, k))) return k;
    return null;
  }

  async function insertPat(pat: PatRecord, now: Date, maxLive: number, events?: readonly LifecycleEvent[]) {
    await releaseExpired(pat.userId, now);
    // A concurrent creation may take the slot we picked: the unique index refuses ours, and we pick again.
    for (let attempt = 0; attempt < 8; attempt++) {
      const k = await freeSlot(pat.userId, maxLive);
      if (k === null) throw new LimitError(maxLive);
      try {
        // Under its id's key: a withdrawal of a creation that timed out waits until the insert has landed or failed.
        await serial(pat.id, () =>
          Pats.insertOne({
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
            rotated_at: pat.rotatedAt,
            revoked_at: pat.revokedAt,
            ...(events && events.length > 0 ? { pending_events: events.map(toEventDoc) } : {}),
          }),
        );
        return;
      } catch (error) {
        const translated = translate(error);
        if (!(translated instanceof DuplicateError)) throw translated;
        // FerretDB does not name the index: look. A slot taken by a token revoked since is free again, so a clash
        // that is neither the name nor the (random) hash is the slot's, and the next attempt picks again.
        const field =
          translated.field !== 'unknown'
            ? translated.field
            : (await Pats.exists({ live_name: liveNameKey(pat.userId, pat.name) }))
              ? 'name'
              : (await Pats.exists({ token_hash: pat.tokenHash }))
                ? 'token_hash'
                : 'live_slot';
        if (field !== 'live_slot') throw new DuplicateError(field);
      }
    }
    throw new LimitError(maxLive);
  }

  return {
    insert: (pat, now, maxLive, events) => guard(() => insertPat(pat, now, maxLive, events)),
    findByHash: (tokenHash) =>
      guard(async () => {
        return oneWithUsage(await Pats.findOne({ token_hash: tokenHash }).lean<PatDoc>());
      }),
    findByHashes: (tokenHashes) =>
      guard(async () => {
        if (tokenHashes.length === 0) return [];
        return withUsage(await Pats.find({ token_hash: { $in: [...tokenHashes] } }).lean<PatDoc[]>());
      }),
    findById: (id) =>
      guard(async () => {
        const [doc, used] = await Promise.all([Pats.findById(id).lean<PatDoc>(), usage.one(id)]);
        return doc ? toPat(doc, used) : null;
      }),
    query: (q) =>
      guard(async () => {
        const page = (after: TokenQuery['after'], limit: number) =>
          Pats.find(tokenFilter({ ...q, after }))
            .sort({ created_at: -1, _id: -1 })
            .limit(limit)
            .lean<PatDoc[]>();
        if (!q.lastUsedBefore) return withUsage(await page(q.after, q.limit));
        // Last use lives in `token_usage`: pages of tokens matching the rest are read until enough were unused.
        const keep = unusedSince(q.lastUsedBefore);
        const out: PatRecord[] = [];
        const batch = Math.max(q.limit, 200);
        for (let after = q.after; out.length < q.limit;) {
          const docs = await page(after, batch);
          out.push(...(await withUsage(docs)).filter(keep));
          if (docs.length < batch) break;
          const last = docs[docs.length - 1]!;
          after = { at: last.created_at, id: last._id };
        }
        return out.slice(0, q.limit);
      }),
    async *scanExpiring(from, to) {
      const cursor = Pats.find({ revoked_at: null, expires_at: { $gt: from, $lte: to } })
        .lean<PatDoc[]>()
        .cursor({ batchSize: 1000 });
      try {
        // Last uses are read for a hundred tokens at a time, not one query per token.
        for (let ended = false; !ended;) {
          const batch: PatDoc[] = [];
          while (batch.length < 100) {
            const doc = await guard(() => cursor.next());
            if (doc === null) {
              ended = true;
              break;
            }
            batch.push(doc);
          }
          yield* await guard(() => withUsage(batch));
        }
      } finally {
        await cursor.close().catch(() => undefined);
      }
    },
    update: (id, changes, expiryEvents) =>
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
              // The events of an earlier expiry are recorded by the very update that brings it earlier.
              const events = changes.expiresAt !== undefined ? pushEvents(expiryEvents) : {};
              const result = await Pats.updateOne(filter, { $set: set, ...events });
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
          return doc && doc.revoked_at === null ? oneWithUsage(doc) : null;
        }),
      ),
    rotate: (id, fromHash, toHash, { expiresAt, at, events }) =>
      guard(() =>
        serial(id, async () => {
          const doc = await Pats.findOneAndUpdate(
            { _id: id, token_hash: fromHash, revoked_at: null },
            { $set: { token_hash: toHash, expires_at: expiresAt, rotated_at: at }, ...pushEvents(events) },
            { returnDocument: 'after' },
          ).lean<PatDoc>();
          return oneWithUsage(doc);
        }),
      ),
    revoke: (id, at, events) => guard(() => serial(id, async () => oneWithUsage(await revokeOne(id, at, events)))),
    revokeAllOfUser: (userId, at, eventsFor) =>
      guard(async () => {
        const live = await Pats.find({ user_id: userId, revoked_at: null }, { _id: 1 }).lean<Pick<PatDoc, '_id'>[]>();
        const revoked: PatDoc[] = [];
        for (const { _id } of live) {
          const doc = await serial(_id, () => revokeOne(_id, at, eventsFor?.(_id)));
          // Revoked by this call (not by an earlier one): its events are the ones just written.
          if (doc && doc.revoked_at?.getTime() === at.getTime()) revoked.push(doc);
        }
        return withUsage(revoked);
      }),
    unrevokedHashesOfUser: (userId) =>
      guard(async () => {
        const docs = await Pats.find({ user_id: userId, revoked_at: null }, { token_hash: 1 }).lean<PatDoc[]>();
        return docs.map((d) => d.token_hash);
      }),
    touchLastUsed: (id, at, clientId, minIntervalMs) => guard(() => usage.touch(id, at, clientId, minIntervalMs)),
    insertRotated: (value) =>
      guard(async () => {
        try {
          await Rotated.insertOne({
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
        return doc ? toRotated(doc) : null;
      }),
    findRotatedMany: (tokenHashes) =>
      guard(async () => {
        if (tokenHashes.length === 0) return [];
        const docs = await Rotated.find({ _id: { $in: [...tokenHashes] } }).lean<RotatedDoc[]>();
        return docs.map(toRotated);
      }),
    endGrace: (tokenId, exceptHash, at) =>
      guard(async () => {
        await Rotated.updateMany(
          { token_id: tokenId, _id: { $ne: exceptHash }, valid_until: { $gt: at } },
          { $set: { valid_until: at } },
        );
      }),
    setRotatedValidUntil: (tokenHash, validUntil) =>
      guard(async () => {
        await Rotated.updateOne({ _id: tokenHash }, { $set: { valid_until: validUntil } });
      }),
    pendingEvents: (query) =>
      guard(() =>
        pendingEventsOf(
          (filter, limit) =>
            Pats.find(filter, { _id: 1, pending_events: 1 })
              .limit(limit)
              .lean<Array<Pick<PatDoc, '_id' | 'pending_events'>>>(),
          query,
        ),
      ),
    eventsRelayed: (id, eventIds) =>
      guard(() =>
        serial(id, async () => {
          const doc = await Pats.findById(id, { pending_events: 1 }).lean<Pick<PatDoc, 'pending_events'>>();
          // One exact-value $pull per event: FerretDB 1.x ignores a $pull by condition ({id: …}).
          for (const event of doc?.pending_events ?? []) {
            if (eventIds.includes(event.id)) await Pats.updateOne({ _id: id }, { $pull: { pending_events: event } });
          }
        }),
      ),
  };
}

/**
 * The `users` collection. A deleted user stays as a tombstone (`deleted_at`), so its id is never given out again;
 * every read skips tombstones, and its username is released.
 */
import mongoose, { type Model } from 'mongoose';

import { DuplicateError, type UserRecord, type UserStore } from '../types.ts';
import { SCHEMA_OPTIONS, afterCursor, keyedSerial, pendingEventsOf, pushEvents, type EventDoc } from './common.ts';
import { guard, translate } from './errors.ts';

export interface UserDoc {
  _id: string;
  /** While deleted: `\\u001fdeleted:<id>` (a control character no username may hold), releasing the name. */
  username: string;
  email: string | null;
  disabled: boolean;
  created_at: Date;
  updated_at: Date;
  /** Set when the user was deleted: the document stays as a tombstone that reserves the id. */
  deleted_at?: Date | null;
  /** Events written with a change of this user, until they are relayed to the outbox (absent when none). */
  pending_events?: EventDoc[];
}

/** The schema of `users`. */
export const userSchema = new mongoose.Schema<UserDoc>(
  {
    _id: String,
    username: { type: String, required: true, unique: true },
    email: { type: String, default: null },
    disabled: { type: Boolean, default: false },
    created_at: Date,
    updated_at: Date,
    deleted_at: { type: Date, default: null },
    pending_events: { type: [mongoose.Schema.Types.Mixed], default: undefined },
  },
  { ...SCHEMA_OPTIONS, collection: 'users' },
);
userSchema.index({ created_at: -1, _id: -1 });
userSchema.index({ 'pending_events.at': 1 });

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

/** Deleted users stay as tombstones (their id stays reserved); every read skips them. */
const notDeleted = { deleted_at: null } as const;

/** The user store over the `users` model. */
export function createUserStore(Users: Model<UserDoc>, deadlineMs: number): UserStore {
  /** One write at a time per user: FerretDB 1.x rewrites whole documents (see `keyedSerial`). */
  const serial = keyedSerial(deadlineMs);
  const insertUser = (user: UserRecord) =>
    Users.insertOne({
      _id: user.id,
      username: user.username,
      email: user.email,
      disabled: user.disabled,
      created_at: user.createdAt,
      updated_at: user.updatedAt,
      deleted_at: null,
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
        const doc = await Users.findOne({ _id: id, ...notDeleted }).lean<UserDoc>();
        return doc ? toUser(doc) : null;
      }),
    setDisabled: (id, disabled, at, events) =>
      guard(() =>
        serial(id, async () => {
          // The change of the flag, with its events; when the flag already had that value, only updated_at moves.
          const changed = await Users.findOneAndUpdate(
            { _id: id, ...notDeleted, disabled: { $ne: disabled } },
            { $set: { disabled, updated_at: at }, ...pushEvents(events) },
            { returnDocument: 'after' },
          ).lean<UserDoc>();
          if (changed) return toUser(changed);
          const doc = await Users.findOneAndUpdate(
            { _id: id, ...notDeleted },
            { $set: { disabled, updated_at: at } },
            { returnDocument: 'after' },
          ).lean<UserDoc>();
          return doc ? toUser(doc) : null;
        }),
      ),
    list: (limit, after, search) =>
      guard(async () => {
        const and: Record<string, unknown>[] = [notDeleted];
        if (after) and.push(afterCursor('created_at', after));
        if (search !== undefined) {
          // A literal substring, case-insensitive: every regex metacharacter escaped.
          const pattern = { $regex: search.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), $options: 'i' };
          and.push({ $or: [{ _id: pattern }, { username: pattern }, { email: pattern }] });
        }
        const docs = await Users.find({ $and: and }).sort({ created_at: -1, _id: -1 }).limit(limit).lean<UserDoc[]>();
        return docs.map(toUser);
      }),
    delete: (id, at, events) =>
      guard(() =>
        serial(id, async () => {
          const result = await Users.updateOne(
            { _id: id, ...notDeleted },
            {
              $set: { deleted_at: at, updated_at: at, username: `\u001fdeleted:${id}`, email: null, disabled: true },
              ...pushEvents(events),
            },
          );
          return result.modifiedCount === 1;
        }),
      ),
    pendingEvents: (query) =>
      guard(() =>
        pendingEventsOf(
          (filter, limit) =>
            Users.find(filter, { _id: 1, pending_events: 1 })
              .limit(limit)
              .lean<Array<Pick<UserDoc, '_id' | 'pending_events'>>>(),
          query,
        ),
      ),
    eventsRelayed: (id, eventIds) =>
      guard(() =>
        serial(id, async () => {
          const doc = await Users.findById(id, { pending_events: 1 }).lean<Pick<UserDoc, 'pending_events'>>();
          // One exact-value $pull per event: FerretDB 1.x ignores a $pull by condition ({id: …}).
          for (const event of doc?.pending_events ?? []) {
            if (eventIds.includes(event.id)) await Users.updateOne({ _id: id }, { $pull: { pending_events: event } });
          }
        }),
      ),
  };
}

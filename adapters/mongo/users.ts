/**
 * The `users` collection. A deleted user stays as a tombstone (`deleted_at`), so its id is never given out again;
 * every read skips tombstones, and its username is released.
 */
import mongoose, { type Model } from 'mongoose';

import { DuplicateError, type UserRecord, type UserStore } from '../types.ts';
import { SCHEMA_OPTIONS, afterCursor } from './common.ts';
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
  },
  { ...SCHEMA_OPTIONS, collection: 'users' },
);
userSchema.index({ created_at: -1, _id: -1 });

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
export function createUserStore(Users: Model<UserDoc>): UserStore {
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
    setDisabled: (id, disabled, at) =>
      guard(async () => {
        const doc = await Users.findOneAndUpdate(
          { _id: id, ...notDeleted },
          { $set: { disabled, updated_at: at } },
          { returnDocument: 'after' },
        ).lean<UserDoc>();
        return doc ? toUser(doc) : null;
      }),
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
    delete: (id, at) =>
      guard(async () => {
        const result = await Users.updateOne(
          { _id: id, ...notDeleted },
          { $set: { deleted_at: at, updated_at: at, username: `\u001fdeleted:${id}`, email: null, disabled: true } },
        );
        return result.modifiedCount === 1;
      }),
  };
}

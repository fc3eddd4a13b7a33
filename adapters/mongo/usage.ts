/**
 * The `token_usage` collection: a token's last use (when, and at which resource server), one document per token
 * ever used, keyed by the token's id. Kept out of the token's own document because it is written on introspection,
 * by any instance, while the token's document holds what must never be undone (its revocation): FerretDB rewrites a
 * whole document per update, so a last-use write overlapping a revocation there would put the token back.
 */
import mongoose, { type Model } from 'mongoose';

import { DuplicateError } from '../types.ts';
import { SCHEMA_OPTIONS } from './common.ts';
import { translate } from './errors.ts';

export interface UsageDoc {
  _id: string;
  last_used_at: Date;
  last_used_client: string | null;
}

/** The schema of `token_usage`. */
export const usageSchema = new mongoose.Schema<UsageDoc>(
  { _id: String, last_used_at: Date, last_used_client: { type: String, default: null } },
  { ...SCHEMA_OPTIONS, collection: 'token_usage' },
);

/** A last use: recorded in `token_usage`, or on the token's document by a version before it. */
export interface LastUse {
  readonly at: Date | null;
  readonly client: string | null;
}

/** The later of the recorded use and the one an earlier version wrote on the token's document. */
export function lastUse(legacy: LastUse, usage: UsageDoc | undefined): LastUse {
  if (!usage || (legacy.at !== null && legacy.at > usage.last_used_at)) return legacy;
  return { at: usage.last_used_at, client: usage.last_used_client };
}

/** Reads and records last uses. */
export function createUsage(Usage: Model<UsageDoc>) {
  return {
    /** The last uses of these tokens, by token id (one query). */
    async of(ids: readonly string[]): Promise<Map<string, UsageDoc>> {
      if (ids.length === 0) return new Map();
      const docs = await Usage.find({ _id: { $in: [...ids] } }).lean<UsageDoc[]>();
      return new Map(docs.map((u) => [u._id, u]));
    },
    async one(id: string): Promise<UsageDoc | undefined> {
      return (await Usage.findById(id).lean<UsageDoc>()) ?? undefined;
    },
    /** Records a use unless one was recorded less than `minIntervalMs` before `at`; whether it wrote. */
    async touch(id: string, at: Date, clientId: string | null, minIntervalMs: number): Promise<boolean> {
      const due = await Usage.updateOne(
        { _id: id, last_used_at: { $lte: new Date(at.getTime() - minIntervalMs) } },
        { $set: { last_used_at: at, last_used_client: clientId } },
      );
      if (due.matchedCount > 0) return due.modifiedCount > 0;
      try {
        // The first use (or one within the interval, which the unique _id refuses).
        await Usage.insertOne({ _id: id, last_used_at: at, last_used_client: clientId });
        return true;
      } catch (error) {
        if (translate(error) instanceof DuplicateError) return false;
        throw error;
      }
    },
  };
}

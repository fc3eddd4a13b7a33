/**
 * The `notice_claims` collection: one document per notice and channel, keyed `<channel>/<notice key>`. Claiming is
 * an insert under that unique `_id`, so of any number of instances exactly one claims a notice, on MongoDB and on
 * FerretDB (whose updates are not atomic against each other, but whose unique indexes are). Only the holder of a
 * claim writes to it afterwards, except to take over an overdue one (a conditional update: on FerretDB two
 * instances may both take it over, which delivers that notice twice: at least once, as promised).
 */
import mongoose, { type Model } from 'mongoose';

import { DuplicateError, type NoticeClaim, type NoticeKind, type NoticeStore } from '../types.ts';
import { SCHEMA_OPTIONS } from './common.ts';
import { guard, translate } from './errors.ts';

export interface NoticeClaimDoc {
  _id: string;
  channel: string;
  key: string;
  kind: NoticeKind;
  token_id: string;
  user_id: string;
  threshold_days: number | null;
  at: Date | null;
  claimed_at: Date;
  lease_until: Date;
  attempts: number;
  delivered_at: Date | null;
  purge_after: Date;
}

/** The schema of `notice_claims`. */
export const noticeClaimSchema = new mongoose.Schema<NoticeClaimDoc>(
  {
    _id: String,
    channel: { type: String, required: true },
    key: { type: String, required: true },
    kind: { type: String, required: true },
    token_id: { type: String, required: true },
    user_id: { type: String, required: true },
    threshold_days: { type: Number, default: null },
    at: { type: Date, default: null },
    claimed_at: Date,
    lease_until: Date,
    attempts: Number,
    delivered_at: { type: Date, default: null },
    purge_after: Date,
  },
  { ...SCHEMA_OPTIONS, collection: 'notice_claims' },
);
noticeClaimSchema.index({ delivered_at: 1, lease_until: 1 });
noticeClaimSchema.index({ purge_after: 1 });

function toClaim(doc: NoticeClaimDoc): NoticeClaim {
  return {
    id: doc._id,
    channel: doc.channel,
    key: doc.key,
    kind: doc.kind,
    tokenId: doc.token_id,
    userId: doc.user_id,
    thresholdDays: doc.threshold_days ?? null,
    at: doc.at ?? null,
    claimedAt: doc.claimed_at,
    leaseUntil: doc.lease_until,
    attempts: doc.attempts,
    deliveredAt: doc.delivered_at ?? null,
    purgeAfter: doc.purge_after,
  };
}

/** `$in` lists are sent in chunks of this many ids. */
const CHUNK = 5000;

/** The notice store over the `notice_claims` model. */
export function createNoticeStore(Claims: Model<NoticeClaimDoc>): NoticeStore {
  return {
    claim: (c) =>
      guard(async () => {
        try {
          await Claims.insertOne({
            _id: c.id,
            channel: c.channel,
            key: c.key,
            kind: c.kind,
            token_id: c.tokenId,
            user_id: c.userId,
            threshold_days: c.thresholdDays,
            at: c.at,
            claimed_at: c.claimedAt,
            lease_until: c.leaseUntil,
            attempts: c.attempts,
            delivered_at: c.deliveredAt,
            purge_after: c.purgeAfter,
          });
          return true;
        } catch (error) {
          if (translate(error) instanceof DuplicateError) return false;
          throw error;
        }
      }),
    existing: (ids) =>
      guard(async () => {
        const found = new Set<string>();
        for (let i = 0; i < ids.length; i += CHUNK) {
          const docs = await Claims.find({ _id: { $in: ids.slice(i, i + CHUNK) } }, { _id: 1 }).lean<
            Pick<NoticeClaimDoc, '_id'>[]
          >();
          for (const d of docs) found.add(d._id);
        }
        return found;
      }),
    overdue: (now, limit) =>
      guard(async () => {
        const docs = await Claims.find({
          delivered_at: null,
          lease_until: { $lte: now },
          purge_after: { $gt: now },
        })
          .limit(limit)
          .lean<NoticeClaimDoc[]>();
        return docs.map(toClaim);
      }),
    retake: (id, attempts, now, leaseUntil) =>
      guard(async () => {
        const result = await Claims.updateOne(
          { _id: id, delivered_at: null, attempts, lease_until: { $lte: now } },
          { $set: { lease_until: leaseUntil, attempts: attempts + 1 } },
        );
        return result.modifiedCount === 1;
      }),
    delivered: (id, at) =>
      guard(async () => {
        await Claims.updateOne({ _id: id }, { $set: { delivered_at: at } });
      }),
    release: (id, retryAt) =>
      guard(async () => {
        await Claims.updateOne({ _id: id, delivered_at: null }, { $set: { lease_until: retryAt } });
      }),
    purge: (now) =>
      guard(async () => {
        const undelivered = await Claims.countDocuments({ purge_after: { $lte: now }, delivered_at: null });
        const { deletedCount } = await Claims.deleteMany({ purge_after: { $lte: now } });
        return { deleted: deletedCount, undelivered: Math.min(undelivered, deletedCount) };
      }),
  };
}

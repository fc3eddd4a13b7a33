/** The `audit_events` collection: append-only, read newest first with filters. */
import mongoose, { type Model } from 'mongoose';

import type { AuditStore } from '../types.ts';
import { SCHEMA_OPTIONS, afterCursor } from './common.ts';
import { guard } from './errors.ts';

export interface AuditDoc {
  _id: string;
  type: string;
  at: Date;
  user_id: string | null;
  token_id: string | null;
  actor: string;
  via: string;
  details: Record<string, string | number | boolean | null>;
}

/** The schema of `audit_events`. */
export const auditSchema = new mongoose.Schema<AuditDoc>(
  {
    _id: String,
    type: String,
    at: Date,
    user_id: { type: String, default: null },
    token_id: { type: String, default: null },
    actor: String,
    via: String,
    details: mongoose.Schema.Types.Mixed,
  },
  { ...SCHEMA_OPTIONS, collection: 'audit_events' },
);
auditSchema.index({ at: -1, _id: -1 });
auditSchema.index({ user_id: 1, at: -1 });
auditSchema.index({ token_id: 1, at: -1 });

/** The audit store over the `audit_events` model. */
export function createAuditStore(Audit: Model<AuditDoc>): AuditStore {
  return {
    insert: (event) =>
      guard(async () => {
        await Audit.insertOne({
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

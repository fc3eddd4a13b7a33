/**
 * The `events` (the outbox), `event_deliveries` and `delivery_locks` collections. Every write is a single-document
 * operation: an event is inserted once by its id (a second relay of it is a duplicate key, ignored), a delivery once
 * by `<subscriber>/<event>`.
 *
 * A push attempt is leased by **inserting** a lock `<delivery>#<generation>`: the unique `_id` makes exactly one
 * instance win each generation, on MongoDB and FerretDB alike. (A conditional `findOneAndUpdate` on the delivery
 * would be atomic on MongoDB only: FerretDB 1.x applies an update by reading the document and writing it back, and
 * two instances on one database then both "won" the same lease — measured: 38 of 60 deliveries sent twice.) A lock
 * is released when its attempt is recorded; one whose holder died expires at `lease_until`, and the next instance
 * takes the following generation. Only the lock's holder writes the delivery while it holds it.
 */
import mongoose, { type Model } from 'mongoose';

import type { DeliveryRecord, DeliveryStore, OutboxEvent, OutboxStore, OutboxState } from '../event-stores.ts';
import { DuplicateError, type JsonValue, type LifecycleEvent } from '../types.ts';
import { SCHEMA_OPTIONS } from './common.ts';
import { guard, translate } from './errors.ts';

export interface OutboxDoc {
  _id: string;
  type: string;
  at: Date;
  txn: string;
  data: Record<string, JsonValue>;
  state: OutboxState;
  created_at: Date;
  confirm_model: string | null;
  confirm_id: string | null;
  only: string | null;
}

/** The schema of `events`. */
export const outboxSchema = new mongoose.Schema<OutboxDoc>(
  {
    _id: String,
    type: String,
    at: Date,
    txn: String,
    data: mongoose.Schema.Types.Mixed,
    state: String,
    created_at: Date,
    confirm_model: { type: String, default: null },
    confirm_id: { type: String, default: null },
    only: { type: String, default: null },
  },
  { ...SCHEMA_OPTIONS, collection: 'events', minimize: false },
);
outboxSchema.index({ state: 1, created_at: 1 });

export interface DeliveryDoc {
  _id: string;
  subscriber_id: string;
  kind: DeliveryRecord['kind'];
  method: DeliveryRecord['method'];
  event: { id: string; type: string; at: Date; txn: string; data: Record<string, JsonValue> };
  state: DeliveryRecord['state'];
  attempts: number;
  created_at: Date;
  next_attempt_at: Date;
  lease_until: Date | null;
  lease_owner: string | null;
  last_attempt_at: Date | null;
  last_status: number | null;
  last_error: string | null;
  finished_at: Date | null;
}

/** The schema of `event_deliveries`. */
export const deliverySchema = new mongoose.Schema<DeliveryDoc>(
  {
    _id: String,
    subscriber_id: String,
    kind: String,
    method: String,
    event: mongoose.Schema.Types.Mixed,
    state: String,
    attempts: Number,
    created_at: Date,
    next_attempt_at: Date,
    lease_until: { type: Date, default: null },
    lease_owner: { type: String, default: null },
    last_attempt_at: { type: Date, default: null },
    last_status: { type: Number, default: null },
    last_error: { type: String, default: null },
    finished_at: { type: Date, default: null },
  },
  { ...SCHEMA_OPTIONS, collection: 'event_deliveries', minimize: false },
);
deliverySchema.index({ state: 1, method: 1, next_attempt_at: 1 });
deliverySchema.index({ subscriber_id: 1, state: 1, created_at: 1 });
deliverySchema.index({ subscriber_id: 1, created_at: -1, _id: -1 });
deliverySchema.index({ finished_at: 1 });

export interface LockDoc {
  _id: string;
  delivery_id: string;
  generation: number;
  owner: string;
  lease_until: Date;
  released: boolean;
  created_at: Date;
}

/** The schema of `delivery_locks`: one document per attempt's lease (see above). */
export const lockSchema = new mongoose.Schema<LockDoc>(
  {
    _id: String,
    delivery_id: String,
    generation: Number,
    owner: String,
    lease_until: Date,
    released: Boolean,
    created_at: Date,
  },
  { ...SCHEMA_OPTIONS, collection: 'delivery_locks' },
);
lockSchema.index({ delivery_id: 1, generation: -1 });
lockSchema.index({ created_at: 1 });

function toOutbox(doc: OutboxDoc): OutboxEvent {
  return {
    id: doc._id,
    type: doc.type,
    at: doc.at,
    txn: doc.txn,
    data: doc.data ?? {},
    state: doc.state,
    createdAt: doc.created_at,
    confirm:
      doc.confirm_model && doc.confirm_id !== null ? { model: doc.confirm_model, storedId: doc.confirm_id } : null,
    only: doc.only ?? null,
  };
}

function toDelivery(doc: DeliveryDoc): DeliveryRecord {
  const event: LifecycleEvent = {
    id: doc.event.id,
    type: doc.event.type,
    at: doc.event.at,
    txn: doc.event.txn,
    data: doc.event.data ?? {},
  };
  return {
    id: doc._id,
    subscriberId: doc.subscriber_id,
    kind: doc.kind,
    method: doc.method,
    event,
    state: doc.state,
    attempts: doc.attempts,
    createdAt: doc.created_at,
    nextAttemptAt: doc.next_attempt_at,
    leaseUntil: doc.lease_until ?? null,
    leaseOwner: doc.lease_owner ?? null,
    lastAttemptAt: doc.last_attempt_at ?? null,
    lastStatus: doc.last_status ?? null,
    lastError: doc.last_error ?? null,
    finishedAt: doc.finished_at ?? null,
  };
}

/** The outbox over the `events` model. */
export function createOutboxStore(Events: Model<OutboxDoc>): OutboxStore {
  return {
    insert: (event) =>
      guard(async () => {
        try {
          await Events.insertOne({
            _id: event.id,
            type: event.type,
            at: event.at,
            txn: event.txn,
            data: { ...event.data },
            state: event.state,
            created_at: event.createdAt,
            confirm_model: event.confirm?.model ?? null,
            confirm_id: event.confirm?.storedId ?? null,
            only: event.only,
          });
          return true;
        } catch (error) {
          if (translate(error) instanceof DuplicateError) return false;
          throw error;
        }
      }),
    setState: (id, state, from) =>
      guard(async () => {
        const filter: Record<string, unknown> = { _id: id };
        if (from !== undefined) filter.state = from;
        const result = await Events.updateOne(filter, { $set: { state } });
        return result.matchedCount === 1;
      }),
    remove: (id) =>
      guard(async () => {
        await Events.deleteOne({ _id: id });
      }),
    list: (state, before, limit) =>
      guard(async () => {
        const docs = await Events.find({ state, created_at: { $lt: before } })
          .sort({ created_at: 1 })
          .limit(limit)
          .lean<OutboxDoc[]>();
        return docs.map(toOutbox);
      }),
    purge: (before, type) =>
      guard(async () => {
        const result = await Events.deleteMany({
          state: 'fanned_out',
          created_at: { $lt: before },
          ...(type === undefined ? {} : { type }),
        });
        return result.deletedCount;
      }),
  };
}

/** The deliveries over the `event_deliveries` and `delivery_locks` models. */
export function createDeliveryStore(Deliveries: Model<DeliveryDoc>, Locks: Model<LockDoc>): DeliveryStore {
  /** Takes the next lease generation of a delivery unless a live lease holds it; true when this owner won it. */
  async function lease(id: string, now: Date, owner: string, leaseUntil: Date): Promise<string | null> {
    const [latest] = await Locks.find({ delivery_id: id }).sort({ generation: -1 }).limit(1).lean<LockDoc[]>();
    if (latest && !latest.released && latest.lease_until > now) return null;
    const generation = latest ? latest.generation + 1 : 0;
    const lockId = `${id}#${generation}`;
    try {
      await Locks.insertOne({
        _id: lockId,
        delivery_id: id,
        generation,
        owner,
        lease_until: leaseUntil,
        released: false,
        created_at: now,
      });
      return lockId;
    } catch (error) {
      if (translate(error) instanceof DuplicateError) return null;
      throw error;
    }
  }

  const pending = (subscriberId: string) => ({ subscriber_id: subscriberId, state: 'pending' as const });
  return {
    insertIfAbsent: (deliveries) =>
      guard(async () => {
        for (const d of deliveries) {
          try {
            await Deliveries.insertOne({
              _id: d.id,
              subscriber_id: d.subscriberId,
              kind: d.kind,
              method: d.method,
              event: { ...d.event, data: { ...d.event.data } },
              state: d.state,
              attempts: d.attempts,
              created_at: d.createdAt,
              next_attempt_at: d.nextAttemptAt,
              lease_until: d.leaseUntil,
              lease_owner: d.leaseOwner,
              last_attempt_at: d.lastAttemptAt,
              last_status: d.lastStatus,
              last_error: d.lastError,
              finished_at: d.finishedAt,
            });
          } catch (error) {
            if (!(translate(error) instanceof DuplicateError)) throw error;
          }
        }
      }),
    claim: (now, owner, leaseUntil, limit) =>
      guard(async () => {
        const due = await Deliveries.find(
          {
            state: 'pending',
            method: 'push',
            next_attempt_at: { $lte: now },
            $or: [{ lease_until: null }, { lease_until: { $lte: now } }],
          },
          { _id: 1 },
        )
          .sort({ next_attempt_at: 1 })
          .limit(limit * 4)
          .lean<Array<Pick<DeliveryDoc, '_id'>>>();
        const out: DeliveryRecord[] = [];
        for (const { _id } of due) {
          if (out.length >= limit) break;
          const lockId = await lease(_id, now, owner, leaseUntil);
          if (lockId === null) continue;
          // Won: still to be sent? (Another instance may have recorded it between the query and the lease.)
          const doc = await Deliveries.findById(_id).lean<DeliveryDoc>();
          if (!doc || doc.state !== 'pending' || doc.next_attempt_at > now) {
            await Locks.updateOne({ _id: lockId }, { $set: { released: true } });
            continue;
          }
          await Deliveries.updateOne({ _id }, { $set: { lease_until: leaseUntil, lease_owner: owner } });
          out.push(toDelivery({ ...doc, lease_until: leaseUntil, lease_owner: owner }));
        }
        return out;
      }),
    settle: (id, outcome) =>
      guard(async () => {
        await Deliveries.updateOne(
          { _id: id },
          {
            $set: {
              state: outcome.state,
              attempts: outcome.attempts,
              next_attempt_at: outcome.nextAttemptAt,
              last_attempt_at: outcome.lastAttemptAt,
              last_status: outcome.lastStatus,
              last_error: outcome.lastError,
              finished_at: outcome.finishedAt,
              lease_until: null,
              lease_owner: null,
            },
          },
        );
        // Recorded first, released after: whoever takes the next generation sees the outcome.
        await Locks.updateMany({ delivery_id: id, released: false }, { $set: { released: true } });
      }),
    list: (subscriberId, limit, after) =>
      guard(async () => {
        const filter: Record<string, unknown> = { subscriber_id: subscriberId };
        if (after) {
          filter.$or = [{ created_at: { $lt: after.at } }, { created_at: after.at, _id: { $lt: after.id } }];
        }
        const docs = await Deliveries.find(filter).sort({ created_at: -1, _id: -1 }).limit(limit).lean<DeliveryDoc[]>();
        return docs.map(toDelivery);
      }),
    pendingPolls: (subscriberId, limit) =>
      guard(async () => {
        const docs = await Deliveries.find({ ...pending(subscriberId), method: 'poll' })
          .sort({ created_at: 1, _id: 1 })
          .limit(limit)
          .lean<DeliveryDoc[]>();
        return docs.map(toDelivery);
      }),
    finish: (subscriberId, eventIds, state, at, errors = {}) =>
      guard(async () => {
        for (const eventId of eventIds) {
          const error = errors[eventId];
          await Deliveries.updateOne(
            { _id: `${subscriberId}/${eventId}`, state: 'pending' },
            { $set: { state, finished_at: at, ...(error === undefined ? {} : { last_error: error }) } },
          );
        }
      }),
    reschedule: (subscriberId, at) =>
      guard(async () => {
        await Deliveries.updateMany(pending(subscriberId), { $set: { next_attempt_at: at } });
      }),
    cancel: (subscriberId, reason, at) =>
      guard(async () => {
        await Deliveries.updateMany(pending(subscriberId), {
          $set: { state: 'failed', last_error: reason, finished_at: at },
        });
      }),
    expire: (before, reason, at) =>
      guard(async () => {
        const result = await Deliveries.updateMany(
          {
            state: 'pending',
            created_at: { $lt: before },
            $or: [{ lease_until: null }, { lease_until: { $lte: at } }],
          },
          { $set: { state: 'failed', last_error: reason, finished_at: at } },
        );
        return result.modifiedCount;
      }),
    purge: (before, type) =>
      guard(async () => {
        const result = await Deliveries.deleteMany({
          finished_at: { $ne: null, $lt: before },
          ...(type === undefined ? {} : { 'event.type': type }),
        });
        if (type === undefined) await Locks.deleteMany({ created_at: { $lt: before } });
        return result.deletedCount;
      }),
  };
}

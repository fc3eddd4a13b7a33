/**
 * What the MongoDB stores share: schema options (no version key, strict, indexes created once at start-up by
 * `connection.ts`, never by mongoose on first use) and newest-first keyset pagination.
 */
import {
  StoreUnavailableError,
  type Cursor,
  type JsonValue,
  type LifecycleEvent,
  type PendingEvents,
  type PendingQuery,
} from '../types.ts';

/** Options of every schema: collections and indexes are created explicitly at start-up. */
export const SCHEMA_OPTIONS = { versionKey: false, autoIndex: false, autoCreate: false, strict: true } as const;

/** Newest-first keyset filter on (`field`, `_id`) after a cursor. */
export function afterCursor(field: string, cursor: Cursor | undefined): Record<string, unknown> {
  if (!cursor) return {};
  return { $or: [{ [field]: { $lt: cursor.at } }, { [field]: cursor.at, _id: { $lt: cursor.id } }] };
}

/**
 * Runs writes to the same key one after another (within this process). MongoDB applies each single-document
 * update atomically, but FerretDB 1.x does not: it reads the document, applies the update in its own process and
 * writes the whole document back, so two overlapping updates of one document lose one of them (a write landing
 * after a revocation would undo it). Serialising this process's writes per document closes that window for a
 * single instance; on MongoDB it only orders what the server would have ordered anyway.
 *
 * A write that takes longer than `deadlineMs` fails for its caller (`StoreUnavailableError`, answered 503), but
 * keeps its key until the server answers: the server still executes a write its client gave up waiting for, and the
 * next write of the same document must not start before it has landed.
 */
export function keyedSerial(deadlineMs?: number) {
  const tails = new Map<string, Promise<unknown>>();
  return async <T>(key: string, write: () => Promise<T>): Promise<T> => {
    const before = tails.get(key) ?? Promise.resolve();
    const mine = before.then(write, write);
    const tail = mine.catch(() => undefined);
    tails.set(key, tail);
    void tail.then(() => {
      if (tails.get(key) === tail) tails.delete(key);
    });
    return deadlineMs === undefined ? mine : withDeadline(mine, deadlineMs);
  };
}

/** `work`, or a `StoreUnavailableError` once `ms` have passed without its answer (`work` goes on regardless). */
function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StoreUnavailableError(`MongoDB did not answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** A lifecycle event as kept in a document's `pending_events` (the same fields, dates as BSON dates). */
export interface EventDoc {
  id: string;
  type: string;
  at: Date;
  txn: string;
  data: Record<string, JsonValue>;
}

/** The `$push` that records events in the update making the change (nothing when there are none). */
export function pushEvents(events: readonly LifecycleEvent[] | undefined): Record<string, unknown> {
  if (!events || events.length === 0) return {};
  return { $push: { pending_events: { $each: events.map((e) => ({ ...e })) } } };
}

function toEvent(doc: EventDoc): LifecycleEvent {
  return { id: doc.id, type: doc.type, at: doc.at, txn: doc.txn, data: doc.data ?? {} };
}

/** Far enough in the future to match every pending event. */
const END_OF_TIME = new Date(8_640_000_000_000_000);

/**
 * Documents of `Model` with pending events: one document's, or those holding an event written before `before`,
 * through the `pending_events.at` index (documents without events are outside its range).
 */
export async function pendingEventsOf(
  find: (
    filter: Record<string, unknown>,
    limit: number,
  ) => Promise<Array<{ _id: string; pending_events?: EventDoc[] | undefined }>>,
  query: PendingQuery,
): Promise<PendingEvents[]> {
  const filter: Record<string, unknown> = { 'pending_events.at': { $lt: query.before ?? END_OF_TIME } };
  if (query.id !== undefined) filter._id = query.id;
  const docs = await find(filter, query.limit);
  return docs
    .filter((d) => (d.pending_events?.length ?? 0) > 0)
    .map((d) => ({ id: d._id, events: (d.pending_events ?? []).map(toEvent) }));
}

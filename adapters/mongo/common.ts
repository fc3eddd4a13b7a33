/**
 * What the MongoDB stores share: schema options (no version key, strict, indexes created once at start-up by
 * `connection.ts`, never by mongoose on first use) and newest-first keyset pagination.
 */
import type { Cursor } from '../types.ts';

/** Options of every schema: collections and indexes are created explicitly at start-up. */
export const SCHEMA_OPTIONS = { versionKey: false, autoIndex: false, autoCreate: false, strict: true } as const;

/** Newest-first keyset filter on (`field`, `_id`) after a cursor. */
export function afterCursor(field: string, cursor: Cursor | undefined): Record<string, unknown> {
  if (!cursor) return {};
  return { $or: [{ [field]: { $lt: cursor.at } }, { [field]: cursor.at, _id: { $lt: cursor.id } }] };
}

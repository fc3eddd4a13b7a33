/**
 * Keyset pagination, newest first: a store is asked for one row more than the page holds; if it has it, the last
 * row of the page is where the next page starts. One helper for users, tokens and audit events.
 */
import type { Cursor } from '../../adapters/types.ts';

/** A page of rows and the cursor of the next page, if any. */
export interface Page<T> {
  readonly items: T[];
  readonly next: Cursor | null;
}

/** Reads a page through `fetch` (asked for `limit + 1` rows); `cursorOf` names a row's position. */
export async function fetchPage<T>(
  limit: number,
  fetch: (rows: number) => Promise<T[]>,
  cursorOf: (row: T) => Cursor,
): Promise<Page<T>> {
  const rows = await fetch(limit + 1);
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, next: rows.length > limit && last !== undefined ? cursorOf(last) : null };
}

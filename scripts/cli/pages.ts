/**
 * The API's cursor pagination (`limit`, `cursor`, `next_cursor`) as options shared by every list command: one page
 * by default, `--all` for every page.
 */
import type { Command } from 'commander';

import type { ApiClient, Query } from './client.ts';
import { integer } from './context.ts';
import type { Output } from './output.ts';

/** A page as the API answers it. */
export interface Page<T> {
  readonly data: T[];
  readonly next_cursor: string | null;
}

/** The paging options as parsed. */
export interface PageOptions {
  readonly limit?: number;
  readonly cursor?: string;
  readonly all?: boolean;
}

/** Adds `--limit`, `--cursor` and `--all` to a list command. */
export function pageOptions(command: Command): Command {
  return command
    .option('--limit <n>', 'rows per page, 1-200 (the server defaults to 50)', integer(1, 200))
    .option('--cursor <cursor>', 'start at this page (the next_cursor of the one before)')
    .option('--all', 'fetch every page');
}

/** One page, or with `--all` every page joined into one whose `next_cursor` is null. */
export async function fetchPages<T>(
  api: ApiClient,
  path: string,
  query: Query,
  options: PageOptions,
): Promise<Page<T>> {
  const data: T[] = [];
  let cursor = options.cursor;
  for (;;) {
    const page = await api.call<Page<T>>('GET', path, { query: { ...query, limit: options.limit, cursor } });
    if (!options.all) return page;
    data.push(...page.data);
    if (page.next_cursor === null) return { data, next_cursor: null };
    cursor = page.next_cursor;
  }
}

/** Prints a page: its JSON, or `human` and, on standard error, how to get the next page. */
export function printPage<T>(out: Output, page: Page<T>, human: (rows: readonly T[]) => string): void {
  out.data(page, () => human(page.data));
  if (page.next_cursor !== null) out.note(`(more: --cursor ${page.next_cursor}, or --all)`);
}

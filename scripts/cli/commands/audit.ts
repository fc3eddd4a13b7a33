/**
 * `tokenwarden audit`: the audit log (`/api/audit`), a page at a time, or followed as it grows (`--follow`) until
 * SIGINT. The API lists events newest first; `--follow` prints them oldest first, each once.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import type { Query } from '../client.ts';
import { seconds, type Context, type Register } from '../context.ts';
import { usageError } from '../errors.ts';
import { cell, table, type Column } from '../output.ts';
import { fetchPages, pageOptions, printPage, type Page, type PageOptions } from '../pages.ts';

/** An audit event as the API shows one. */
interface AuditEvent {
  readonly id: string;
  readonly type: string;
  readonly at: string;
  readonly user_id: string | null;
  readonly token_id: string | null;
  readonly actor: string;
  readonly via: string;
  readonly details: Record<string, unknown>;
}

interface AuditOptions extends PageOptions {
  readonly user?: string;
  readonly token?: string;
  readonly type?: string;
  readonly from?: string;
  readonly to?: string;
  readonly follow?: boolean;
  readonly interval: number;
}

/**
 * How far back each poll of `--follow` looks behind the newest event it printed. Events are listed by the time
 * they happened, but one can be written a moment after a later one (concurrent requests, several instances, clocks
 * a few seconds apart); an event that turns up later than this is missed by `--follow` (read it with `--from`).
 */
const LOOKBACK_MS = 30_000;

const columns: Column<AuditEvent>[] = [
  { header: 'at', value: (e) => e.at },
  { header: 'type', value: (e) => e.type },
  { header: 'user', value: (e) => e.user_id },
  { header: 'token', value: (e) => e.token_id },
  { header: 'actor', value: (e) => e.actor },
  { header: 'via', value: (e) => e.via },
  { header: 'details', value: (e) => e.details },
];
/** Column widths when following (the rows to come are not known yet): an ISO time, the longest type, ids. */
const FOLLOW_WIDTHS = [20, 29, 16, 24, 24, 21];
const followLine = (cells: string[]) =>
  cells
    .map((text, i) => text.padEnd(FOLLOW_WIDTHS[i] ?? 0))
    .join('  ')
    .trimEnd();

const oldestFirst = (a: AuditEvent, b: AuditEvent) =>
  a.at < b.at ? -1 : a.at > b.at ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;

/** Prints the latest events, then new ones as they are written, oldest first, each once, until SIGINT. */
async function follow(cli: Context, filter: Query, options: AuditOptions): Promise<void> {
  const stop = new AbortController();
  const interrupt = () => stop.abort();
  process.once('SIGINT', interrupt);
  try {
    const api = await cli.api(stop.signal);
    const seen = new Map<string, number>(); // id → time, for the events inside the look-back window
    let newest = Number.NEGATIVE_INFINITY;
    const window = async () => {
      const floor = options.from ? Date.parse(options.from) : 0;
      const from = newest === Number.NEGATIVE_INFINITY ? options.from : new Date(Math.max(newest - LOOKBACK_MS, floor));
      const query = { ...filter, from: from instanceof Date ? from.toISOString() : from };
      return (await fetchPages<AuditEvent>(api, '/api/audit', query, { all: true, limit: 200 })).data;
    };
    const print = (events: readonly AuditEvent[]) => {
      for (const event of events.filter((e) => !seen.has(e.id)).sort(oldestFirst)) {
        seen.set(event.id, Date.parse(event.at));
        newest = Math.max(newest, Date.parse(event.at));
        cli.out.line(event, () => followLine(columns.map((c) => cell(c.value(event)))));
      }
    };

    // Like tail: the latest events; the older ones of their look-back window count as seen, without printing.
    const latest = await api.call<Page<AuditEvent>>('GET', '/api/audit', {
      query: { ...filter, limit: options.limit },
    });
    cli.out.done(followLine(columns.map((c) => c.header.toUpperCase())));
    print(latest.data);
    if (latest.data.length > 0) {
      for (const e of await window()) if (Date.parse(e.at) <= newest) seen.set(e.id, Date.parse(e.at));
    }
    for (;;) {
      for (const [id, at] of seen) if (at < newest - LOOKBACK_MS) seen.delete(id);
      await sleep(options.interval * 1000, undefined, { signal: stop.signal });
      print(await window());
    }
  } catch (error) {
    if (!stop.signal.aborted) throw error;
  } finally {
    process.off('SIGINT', interrupt);
  }
}

/** Registers `audit`. */
export const registerAudit: Register = (program, cli) => {
  pageOptions(
    program
      .command('audit')
      .description('read the audit log, newest first, or follow it (--follow) until interrupted')
      .option('--user <user>', 'events about this user')
      .option('--token <token-id>', 'events about this token')
      .option('--type <type>', 'events of this type, e.g. token.revoked')
      .option('--from <date-time>', 'events at or after this RFC 3339 time')
      .option('--to <date-time>', 'events before this RFC 3339 time')
      .option('--follow', 'print the latest events, then new ones as they happen, oldest first; stop with Ctrl-C')
      .option('--interval <seconds>', 'with --follow: seconds between polls', seconds(0.1, 3600), 2),
  ).action(async (options: AuditOptions) => {
    const filter = {
      user_id: options.user,
      token_id: options.token,
      type: options.type,
      from: options.from,
      to: options.to,
    };
    if (!options.follow) {
      const page = await fetchPages<AuditEvent>(await cli.api(), '/api/audit', filter, options);
      printPage(cli.out, page, (rows) => table(rows, columns));
      return;
    }
    if (options.to !== undefined || options.cursor !== undefined || options.all) {
      throw usageError('--follow cannot be combined with --to, --cursor or --all');
    }
    await follow(cli, filter, options);
  });
};

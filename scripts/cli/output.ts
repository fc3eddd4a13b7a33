/**
 * What the CLI prints. Data goes to standard output: the API's JSON with `--json`, else aligned tables and
 * "key: value" blocks. Notes and errors go to standard error, so `$(tokenwarden …)` captures data only.
 */

/** A table column: its header and how a row fills it. */
export interface Column<T> {
  readonly header: string;
  readonly value: (row: T) => unknown;
}

const ISO_MS = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\.\d+Z$/;

/** One value as text: `-` for none, lists space-separated, objects as `key=value`, no control characters. */
export function cell(value: unknown): string {
  let text: string;
  if (value === null || value === undefined || value === '') text = '-';
  else if (Array.isArray(value)) text = value.length === 0 ? '-' : value.map(cell).join(' ');
  else if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    text = entries.length === 0 ? '-' : entries.map(([k, v]) => `${k}=${cell(v)}`).join(' ');
  } else text = typeof value === 'string' ? value.replace(ISO_MS, '$1Z') : JSON.stringify(value);
  // A name or detail must not be able to move the cursor or recolour an operator's terminal.
  return text.replace(/\p{Cc}/gu, '?');
}

/** Rows under upper-case headers, columns two spaces apart. */
export function table<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const grid = [
    columns.map((c) => c.header.toUpperCase()),
    ...rows.map((row) => columns.map((c) => cell(c.value(row)))),
  ];
  const widths = columns.map((_, i) => Math.max(...grid.map((line) => line[i]!.length)));
  return grid
    .map((line) =>
      line
        .map((text, i) => text.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** A record as aligned `key: value` lines, in the order of `keys` (default: its own). */
export function fields(record: object, keys = Object.keys(record)): string {
  const values = record as Readonly<Record<string, unknown>>;
  const width = Math.max(...keys.map((k) => k.length));
  return keys.map((key) => `${`${key}:`.padEnd(width + 2)}${cell(values[key])}`).join('\n');
}

/** The CLI's printer, in the mode `--json` chose. */
export interface Output {
  readonly json: boolean;
  /** Prints data: `value` as JSON, or what `human` renders. */
  data(value: unknown, human: () => string): void;
  /** One JSON value per line (`audit --follow --json`), or a human line. */
  line(value: unknown, human: () => string): void;
  /**
   * A line for people on standard output (`Revoked token …`, a header); nothing with --json, where the exit code
   * says what happened.
   */
  done(message: string): void;
  /** A note for people, on standard error (not printed with --json). */
  note(message: string): void;
  /** A warning, on standard error in both modes. */
  warn(message: string): void;
  /**
   * A value the server returns once (a PAT, a client secret): with --json it is in the data; otherwise `intro` and
   * a warning go to standard error and the value alone, on its own line, to standard output.
   */
  once(value: unknown, intro: string, secret: string, what: string): void;
}

/** Creates the printer. */
export function createOutput(json: boolean): Output {
  const out = (text: string) => process.stdout.write(`${text}\n`);
  const err = (text: string) => process.stderr.write(`${text}\n`);
  return {
    json,
    data(value, human) {
      if (json) out(JSON.stringify(value, null, 2));
      else out(human());
    },
    line(value, human) {
      out(json ? JSON.stringify(value) : human());
    },
    done(message) {
      if (!json) out(message);
    },
    note(message) {
      if (!json) err(message);
    },
    warn(message) {
      err(`tokenwarden: warning: ${message}`);
    },
    once(value, intro, secret, what) {
      if (json) {
        out(JSON.stringify(value, null, 2));
      } else {
        err(`${intro}\n\nThe ${what} follows. It is shown this once and never again: store it now.\n`);
        out(secret);
      }
    },
  };
}

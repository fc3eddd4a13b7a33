/**
 * The fault-injection harness: Tokenwarden as a real process (so it can be signalled and killed), a steady,
 * bounded load of introspections, creations and revocations against it, and an oracle that judges every answer
 * against what the load has been told:
 *
 * - a PAT whose revocation was acknowledged before an introspection was sent must be inactive in its answer;
 * - a PAT whose creation was acknowledged, with no revocation sent before the answer came, must be active (and be
 *   the right one: same `sub` and `jti`);
 * - a value never created must be inactive.
 *
 * Anything else (a revocation still in flight, one answered with an error) is not judged per answer, but the final
 * {@link verifyLedger} checks that what MongoDB holds and what introspection says agree for every PAT.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';

import { createPatFormat } from '../../server/services/pat-format.ts';

/** An `Authorization: Basic` header for client credentials (RFC 6749 §2.3.1: each half form-encoded). */
export const basic = (c: { clientId: string; clientSecret: string }) =>
  `Basic ${Buffer.from(`${encodeURIComponent(c.clientId)}:${encodeURIComponent(c.clientSecret)}`).toString('base64')}`;

/** Tokenwarden run as `node --import tsx server/index.ts`, restartable on the same port and database. */
export interface TokenwardenProcess {
  readonly url: string;
  readonly adminSecret: string;
  /** The SECRET_KEY it runs with (another instance on the same database needs the same). */
  readonly secretKey: string;
  /** Starts (again) on the same port and database; `overrides` change variables for this run only. */
  start(overrides?: Record<string, string>): Promise<void>;
  /** Sends `signal` and resolves with the exit code (null when killed by a signal). */
  signal(signal: NodeJS.Signals): Promise<number | null>;
  /** Sends SIGKILL now, synchronously (for "right after the answer"). */
  killNow(): void;
  exited(): Promise<number | null>;
  output(): string;
  /** Every error-level log line (a 500 among thousands of outage warnings), the first 50 since start. */
  errors(): string[];
}

export function tokenwardenProcess(
  env: Record<string, string>,
  shared: { secretKey?: string; adminSecret?: string } = {},
): TokenwardenProcess {
  const port = Number(env.PORT);
  const url = `http://127.0.0.1:${port}`;
  const adminSecret = shared.adminSecret ?? randomBytes(24).toString('base64url');
  // Fixed for the process's life: a restart must read the signing keys and cache entries the first run wrote.
  const secretKey = shared.secretKey ?? randomBytes(32).toString('base64url');
  let child: ChildProcess | undefined;
  let out = '';
  let errors: string[] = [];
  const exited = () =>
    !child || child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve(child?.exitCode ?? null)
      : new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
  return {
    url,
    adminSecret,
    secretKey,
    async start(overrides = {}) {
      out = '';
      errors = [];
      child = spawn(process.execPath, ['--import', 'tsx', 'server/index.ts'], {
        env: {
          ...process.env,
          NODE_ENV: 'development',
          LOG_LEVEL: 'warn',
          HOST: '127.0.0.1',
          ISSUER: url,
          ADMIN_CLIENT_SECRET: adminSecret,
          SECRET_KEY: secretKey,
          ...env,
          ...overrides,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let partial = '';
      const keep = (c: Buffer) => {
        const text = c.toString();
        out = (out + text).slice(-20_000);
        const lines = (partial + text).split('\n');
        partial = lines.pop()!;
        for (const line of lines) if (line.includes('"level":50') && errors.length < 50) errors.push(line);
      };
      child.stdout!.on('data', keep);
      child.stderr!.on('data', keep);
      const deadline = Date.now() + 60_000;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`tokenwarden exited with ${child.exitCode}:\n${out}`);
        const ok = await fetch(`${url}/healthz`).then(
          (r) => r.ok,
          () => false,
        );
        if (ok) return;
        if (Date.now() > deadline) throw new Error(`tokenwarden did not come up:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async signal(signal) {
      const done = exited();
      child?.kill(signal);
      return done;
    },
    killNow() {
      child?.kill('SIGKILL');
    },
    exited,
    output: () => out,
    errors: () => [...errors],
  };
}

export interface Credentials {
  readonly clientId: string;
  readonly clientSecret: string;
}

/** Admin calls and the resource server's introspection, as a user of the HTTP API makes them. */
export interface Api {
  readonly url: string;
  readonly rs: Credentials;
  readonly users: readonly string[];
  readonly adminToken: string;
  admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }>;
  introspect(token: string): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }>;
}

async function readJson(res: Response): Promise<Record<string, unknown>> {
  const text = await res.text();
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

/** Gets an admin token, registers a resource server and creates `userCount` users. */
export async function bootstrap(tw: TokenwardenProcess, userCount: number): Promise<Api> {
  const tokenRes = await fetch(`${tw.url}/token`, {
    method: 'POST',
    headers: {
      Authorization: basic({ clientId: 'tokenwarden-admin', clientSecret: tw.adminSecret }),
      'Content-Type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials&scope=admin',
  });
  const adminToken = String((await readJson(tokenRes)).access_token);
  const admin: Api['admin'] = async (method, path, body) => {
    const res = await fetch(`${tw.url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${adminToken}`, 'Content-Type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    return { status: res.status, body: await readJson(res) };
  };
  const client = await admin('POST', '/api/clients', { client_name: 'fault-suite resource server' });
  const rs = { clientId: String(client.body.client_id), clientSecret: String(client.body.client_secret) };
  const users: string[] = [];
  for (let i = 0; i < userCount; i++) {
    const res = await admin('POST', '/api/users', { username: `faults-${i}-${randomBytes(3).toString('hex')}` });
    if (res.status !== 201) throw new Error(`user: ${res.status} ${JSON.stringify(res.body)}`);
    users.push(String(res.body.id));
  }
  return {
    url: tw.url,
    rs,
    users,
    adminToken,
    admin,
    async introspect(token) {
      const res = await fetch(`${tw.url}/introspect`, {
        method: 'POST',
        headers: { Authorization: basic(rs), 'Content-Type': 'application/x-www-form-urlencoded' },
        body: `token=${token}`,
        signal: AbortSignal.timeout(10_000),
      });
      return { status: res.status, headers: res.headers, body: await readJson(res) };
    },
  };
}

/** A PAT the load created (its creation was acknowledged with 201). */
export interface PatEntry {
  readonly value: string;
  readonly id: string;
  readonly userId: string;
  readonly name: string;
  /** When a revocation was first sent (ms since epoch). */
  revokeSentAt?: number;
  /** When a revocation was acknowledged. */
  revokeAckAt?: number;
  /** Through which door: RFC 7009 `/revoke` or the admin API. */
  revokeVia?: 'revoke' | 'admin';
}

export interface LoadSummary {
  readonly sent: number;
  readonly answered: number;
  readonly byOperation: Record<'introspect' | 'create' | 'revoke', number>;
  /** Failure kind → count, per phase: `<phase>: <kind>`. */
  readonly failures: Record<string, number>;
  readonly wrong: readonly string[];
  readonly ledger: ReadonlyMap<string, PatEntry>;
  /** Creations answered 503: nothing of them may remain. */
  readonly refusedCreates: ReadonlyArray<{ userId: string; name: string }>;
  /** Creations with no answer at all (connection lost): either outcome is legitimate. */
  readonly unansweredCreates: ReadonlyArray<{ userId: string; name: string }>;
}

export interface Load {
  /** Names the phase that failures are counted under from now on. */
  phase(name: string): void;
  /** Resolves once `n` more requests have been answered or have failed. */
  after(n: number): Promise<void>;
  /** Failures so far, by `<phase>: <kind>`. */
  failures(): Record<string, number>;
  /** Requests answered (or failed) so far. */
  answered(): number;
  stop(): Promise<LoadSummary>;
}

/** How a request ended, when it did not end well. */
function failureKind(error: unknown): string {
  const e = error as { name?: string; cause?: { code?: string; name?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'timeout';
  const code = e.cause?.code ?? '';
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE') return 'reset';
  return `network (${code || e.cause?.name || e.name || 'unknown'})`;
}

function statusKind(res: { status: number; headers: Headers; body: Record<string, unknown> }): string {
  if (res.status === 503) {
    const shaped = typeof res.body.error === 'string' && typeof res.body.error_description === 'string';
    return res.headers.get('retry-after') && shaped ? '503' : '503 without Retry-After or error body';
  }
  return res.status >= 500 ? `${res.status}` : `unexpected ${res.status}`;
}

/**
 * Starts the load: `ratePerSecond` requests a second, at most `concurrency` at once (a tick with all slots busy is
 * skipped, so a slow server is never buried). Default mix: 12% creations, 12% revocations (half RFC 7009 `/revoke`,
 * half the admin API), the rest introspections (of PATs the load made, live or revoked, and of values never created).
 */
export function startLoad(
  api: Api,
  opts: { ratePerSecond?: number; concurrency?: number; mix?: { create: number; revoke: number } } = {},
): Load {
  const rate = opts.ratePerSecond ?? 150;
  const concurrency = opts.concurrency ?? 8;
  const mix = opts.mix ?? { create: 0.12, revoke: 0.12 };
  const format = createPatFormat('pat');
  const ledger = new Map<string, PatEntry>();
  const values: string[] = [];
  const failures: Record<string, number> = {};
  const wrong: string[] = [];
  const refusedCreates: Array<{ userId: string; name: string }> = [];
  const unansweredCreates: Array<{ userId: string; name: string }> = [];
  const byOperation = { introspect: 0, create: 0, revoke: 0 };
  let phase = 'start';
  let sent = 0;
  let answered = 0;
  let inFlight = 0;
  let seq = 0;
  let credit = 0;
  const waiters: Array<{ at: number; resolve: () => void }> = [];
  const unknownValues = Array.from({ length: 50 }, () => format.generate());

  const fail = (kind: string) => {
    const key = `${phase}: ${kind}`;
    failures[key] = (failures[key] ?? 0) + 1;
  };
  const headers = { Authorization: basic(api.rs), 'Content-Type': 'application/x-www-form-urlencoded' };
  const post = (path: string, body: string) =>
    fetch(`${api.url}${path}`, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });

  async function introspect(): Promise<void> {
    const fromLedger = values.length > 0 && Math.random() < 0.85;
    const value = fromLedger
      ? values[
          Math.random() < 0.5
            ? values.length - 1 - Math.floor(Math.random() * Math.min(20, values.length))
            : Math.floor(Math.random() * values.length)
        ]!
      : unknownValues[Math.floor(Math.random() * unknownValues.length)]!;
    const sentAt = Date.now();
    const res = await post('/introspect', `token=${value}`);
    const body = await readJson(res);
    if (res.status !== 200) return fail(statusKind({ status: res.status, headers: res.headers, body }));
    const entry = ledger.get(value);
    const active = body.active === true;
    if (!entry) {
      if (active) wrong.push(`a value never created answered active (${phase})`);
    } else if (entry.revokeAckAt !== undefined && entry.revokeAckAt <= sentAt) {
      if (active) wrong.push(`PAT ${entry.id}, revoked before the request, answered active (${phase})`);
    } else if (entry.revokeSentAt === undefined) {
      if (!active) wrong.push(`live PAT ${entry.id} answered inactive (${phase})`);
      else if (body.sub !== entry.userId || body.jti !== entry.id) wrong.push(`PAT ${entry.id} answered as another`);
    }
  }

  async function create(): Promise<void> {
    const userId = api.users[seq % api.users.length]!;
    const name = `load-${++seq}`;
    let res: Response;
    try {
      res = await fetch(`${api.url}/api/users/${userId}/tokens`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${api.adminToken}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ name, scopes: [], expires_at: null }),
        signal: AbortSignal.timeout(10_000),
      });
    } catch (error) {
      unansweredCreates.push({ userId, name });
      throw error;
    }
    const body = await readJson(res).catch((): Record<string, unknown> => ({}));
    if (res.status === 201) {
      const entry: PatEntry = { value: String(body.token), id: String(body.id), userId, name };
      ledger.set(entry.value, entry);
      values.push(entry.value);
      return;
    }
    if (res.status === 503) refusedCreates.push({ userId, name });
    else unansweredCreates.push({ userId, name });
    fail(statusKind({ status: res.status, headers: res.headers, body }));
  }

  async function revoke(): Promise<void> {
    const live = values.filter((v) => ledger.get(v)!.revokeSentAt === undefined);
    if (live.length < 10) return introspect();
    const entry = ledger.get(live[Math.floor(Math.random() * live.length)]!)!;
    entry.revokeSentAt = Date.now();
    const viaRfc7009 = Math.random() < 0.5;
    entry.revokeVia = viaRfc7009 ? 'revoke' : 'admin';
    const res = viaRfc7009
      ? await post('/revoke', `token=${entry.value}`)
      : await fetch(`${api.url}/api/users/${entry.userId}/tokens/${entry.id}`, {
          method: 'DELETE',
          headers: { Authorization: `Bearer ${api.adminToken}` },
          signal: AbortSignal.timeout(10_000),
        });
    const body = await readJson(res).catch((): Record<string, unknown> => ({}));
    if (res.status === (viaRfc7009 ? 200 : 204)) entry.revokeAckAt = Date.now();
    else fail(statusKind({ status: res.status, headers: res.headers, body }));
  }

  const one = async () => {
    const r = Math.random();
    const [name, run] =
      r < mix.create
        ? (['create', create] as const)
        : r < mix.create + mix.revoke
          ? (['revoke', revoke] as const)
          : (['introspect', introspect] as const);
    byOperation[name]++;
    sent++;
    inFlight++;
    try {
      await run();
    } catch (error) {
      fail(failureKind(error));
    } finally {
      inFlight--;
      answered++;
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (answered >= waiters[i]!.at) waiters.splice(i, 1)[0]!.resolve();
      }
    }
  };

  const tick = setInterval(() => {
    credit = Math.min(credit + rate / 100, concurrency);
    while (credit >= 1) {
      credit--;
      if (inFlight < concurrency) void one();
    }
  }, 10);

  return {
    phase: (name) => {
      phase = name;
    },
    after: (n) => new Promise((resolve) => waiters.push({ at: answered + n, resolve })),
    failures: () => ({ ...failures }),
    answered: () => answered,
    async stop() {
      clearInterval(tick);
      while (inFlight > 0) await new Promise((r) => setTimeout(r, 10));
      return { sent, answered, byOperation, failures, wrong, ledger, refusedCreates, unansweredCreates };
    },
  };
}

export interface Verification {
  readonly checked: number;
  /** Acknowledged writes not found as acknowledged. */
  readonly lost: readonly string[];
  /** Introspection answers that disagree with what is stored. */
  readonly disagreements: readonly string[];
  /** Creations answered 503 that left a live token behind (one withdrawn, i.e. revoked, is not). */
  readonly halfWritten: readonly string[];
  /** Creations left without an answer that did create a live token (legitimate: the answer was lost, not the write). */
  readonly unansweredButStored: number;
}

/** Reads every PAT the load made back through the admin API and introspection, once the faults are over. */
export async function verifyLedger(api: Api, summary: LoadSummary): Promise<Verification> {
  const lost: string[] = [];
  const disagreements: string[] = [];
  const entries = [...summary.ledger.values()];
  let next = 0;
  const worker = async () => {
    while (next < entries.length) {
      const entry = entries[next++]!;
      const res = await api.admin('GET', `/api/users/${entry.userId}/tokens/${entry.id}`);
      if (res.status === 404) {
        lost.push(`created PAT ${entry.id} is missing`);
        continue;
      }
      if (res.status !== 200) throw new Error(`GET token: ${res.status} ${JSON.stringify(res.body)}`);
      const status = res.body.status;
      if (entry.revokeAckAt !== undefined && status !== 'revoked') lost.push(`revocation of ${entry.id} is lost`);
      if (entry.revokeSentAt === undefined && status !== 'active') {
        lost.push(`live PAT ${entry.id} is ${String(status)}`);
      }
      const answer = await api.introspect(entry.value);
      if (answer.status !== 200 || (answer.body.active === true) !== (status === 'active')) {
        disagreements.push(
          `${entry.id} is ${String(status)} but introspection answered ${answer.status} ${String(answer.body.active)}`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));

  const namesByUser = new Map<string, Set<string>>();
  for (const userId of api.users) {
    const names = new Set<string>();
    let cursor: string | undefined;
    do {
      const res = await api.admin(
        'GET',
        `/api/users/${userId}/tokens?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      if (res.status !== 200) throw new Error(`list tokens: ${res.status} ${JSON.stringify(res.body)}`);
      for (const t of res.body.data as Array<{ name: string; status: string }>) {
        if (t.status === 'active') names.add(t.name);
      }
      cursor = (res.body.next_cursor as string | null) ?? undefined;
    } while (cursor);
    namesByUser.set(userId, names);
  }
  const halfWritten = summary.refusedCreates
    .filter((c) => namesByUser.get(c.userId)?.has(c.name))
    .map((c) => `creation of "${c.name}" answered 503 but the token is live`);
  const unansweredButStored = summary.unansweredCreates.filter((c) => namesByUser.get(c.userId)?.has(c.name)).length;
  return { checked: entries.length, lost, disagreements, halfWritten, unansweredButStored };
}

/** One line per scenario, as `npm run test:faults` prints them at the end. */
export function summaryTable(
  rows: ReadonlyArray<{ scenario: string; load: LoadSummary; check: Verification }>,
): string {
  const lines = [
    '',
    'Fault-injection summary',
    '| scenario | requests sent | introspect / create / revoke | failures by kind | wrong answers | writes lost | half-written |',
    '|---|---|---|---|---|---|---|',
  ];
  let sent = 0;
  let wrong = 0;
  let lost = 0;
  for (const { scenario, load, check } of rows) {
    const failures =
      Object.entries(load.failures)
        .map(([k, n]) => `${k} ×${n}`)
        .join('; ') || 'none';
    const w = load.wrong.length + check.disagreements.length;
    sent += load.sent;
    wrong += w;
    lost += check.lost.length;
    lines.push(
      `| ${scenario} | ${load.sent} | ${load.byOperation.introspect} / ${load.byOperation.create} / ${load.byOperation.revoke} | ${failures} | ${w} | ${check.lost.length} | ${check.halfWritten.length} |`,
    );
  }
  lines.push(`| total | ${sent} | | | ${wrong} | ${lost} | |`, '');
  return lines.join('\n');
}

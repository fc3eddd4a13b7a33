/**
 * `npm run bench:resource-server`: what `tokenwarden/resource-server` costs an API. One `node:http` process serves
 * the same "hello" route twice: `/hello` behind the library (`protect`, scope `read`, built from `dist/` as users
 * get it) with a warm cache, and `/open/hello` unprotected. autocannon drives them from another process, at 10 and
 * 50 connections, for BENCH_DURATION seconds each (10) split into BENCH_ROUNDS rounds (3) that alternate the two
 * routes (and which goes first), each after an unreported warm-up of BENCH_WARMUP seconds (1): on a shared machine,
 * load that comes and goes then falls on both routes alike. Printed: req/s, p50, p99 (medians of the rounds), the
 * server process's CPU per request (user + system over the rounds and their warm-ups: the steadiest figure), the
 * ratio protected / unprotected, and the machine's load; exits 1 when the ratio at 50 connections is under 0.8.
 *
 * Tokenwarden (embedded store) runs in a third process. When it serves /.well-known/ssf-configuration the library
 * polls its SSF stream, as in production; otherwise events are off and the cache keeps answers for the whole run
 * (`fallbackTtl`), which exercises the same lookup on every request.
 *
 * Roles, by the first argument: none (the orchestrator), `serve <json>` (the API), `load <json>` (autocannon).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';

import autocannon from 'autocannon';

import type * as Library from '../server/resource-server/index.ts';
import { freePort } from '../scripts/lib/services.ts';
import { waitForHttp } from './wait.ts';

type Library = typeof Library;

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1);
const ROUND = DURATION / ROUNDS;
const TARGET = 0.8;
const HELLO = JSON.stringify({ hello: 'world' });

interface ServeOptions {
  issuer: string;
  clientId: string;
  clientSecret: string;
  events: boolean;
}

/** The API: `/hello` protected by the built library, `/open/hello` not. Prints its port. */
async function serve(options: ServeOptions): Promise<void> {
  const lib = (await import(new URL('../dist/server/resource-server/index.js', import.meta.url).href)) as Library;
  const rs = lib.createResourceServer({
    issuer: options.issuer,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    ...(options.events ? {} : { events: false as const, cache: { fallbackTtl: 3_600_000 } }),
  });
  const scopes = ['read'];
  const hello = (res: ServerResponse) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(HELLO);
  };
  const server = createServer((req, res) => {
    if (req.url === '/open/hello') return hello(res);
    if (req.url === '/status') return res.end(JSON.stringify(rs.status()));
    if (req.url !== '/hello') return void res.writeHead(404).end();
    void lib.protect(rs, req, res, scopes).then((token) => token && hello(res));
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`));
  // Exit normally on a signal, so that `node --cpu-prof` writes its profile.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(0));
}

interface LoadOptions {
  url: string;
  connections: number;
  headers: Record<string, string>;
}

/** autocannon, in its own process: a warm-up, then the measured run, printed as JSON. */
async function load(options: LoadOptions): Promise<void> {
  const run = (duration: number) =>
    new Promise<autocannon.Result>((resolve, reject) => {
      const instance = autocannon(
        { url: options.url, connections: options.connections, duration, headers: options.headers },
        (error, result) => (error ? reject(error as Error) : resolve(result)),
      );
      instance.on('error', () => undefined);
    });
  const warmupTotal = WARMUP > 0 ? (await run(WARMUP)).requests.total : 0;
  const result = await run(ROUND);
  process.stdout.write(
    JSON.stringify({
      warmupTotal,
      total: result.requests.total,
      p50: result.latency.p50,
      p99: result.latency.p99,
      non2xx: result.non2xx,
      errors: result.errors,
    }) + '\n',
  );
}

// --- The orchestrator ------------------------------------------------------------------------------------------

const children: ChildProcess[] = [];

function child(
  args: string[],
  env: Record<string, string> = {},
): { process: ChildProcess; firstLine: Promise<string> } {
  // The embedded store: no MongoDB or Redis from the caller's environment.
  const { MONGODB_URI: _mongo, REDIS_URL: _redis, ...inherited } = process.env;
  const proc = spawn(process.execPath, ['--import', 'tsx', ...args], {
    env: { ...inherited, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(proc);
  let out = '';
  const firstLine = new Promise<string>((resolve, reject) => {
    proc.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    proc.stderr.on('data', (c: Buffer) => (out += c.toString()));
    proc.on('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}:\n${out.slice(-2000)}`)));
  });
  return { process: proc, firstLine };
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function http(url: string, init: RequestInit = {}): Promise<Record<string, unknown>> {
  const res = await fetch(url, init);
  const body = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${url}: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

interface Round {
  warmupTotal: number;
  total: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  /** Server CPU seconds over the round and its warm-up. */
  cpu: number;
}

/** One round: autocannon against one route, in its own process, and the server's CPU meanwhile. */
async function round(url: string, connections: number, headers: Record<string, string>, pid: number): Promise<Round> {
  const before = cpuSeconds(pid);
  const { process: proc, firstLine } = child([
    'bench/resource-server.ts',
    'load',
    JSON.stringify({ url, connections, headers }),
  ]);
  const result = JSON.parse(await firstLine) as Omit<Round, 'cpu'>;
  await new Promise((r) => proc.once('exit', r));
  return { ...result, cpu: cpuSeconds(pid) - before };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** The rounds of one route, summed: req/s over the measured time, CPU per request answered (warm-ups included). */
function summary(rounds: Round[]) {
  const total = rounds.reduce((n, r) => n + r.total, 0);
  const answered = rounds.reduce((n, r) => n + r.total + r.warmupTotal, 0);
  return {
    rps: total / (ROUND * rounds.length),
    p50: median(rounds.map((r) => r.p50)),
    p99: median(rounds.map((r) => r.p99)),
    failed: rounds.reduce((n, r) => n + r.non2xx + r.errors, 0),
    cpuUs: (rounds.reduce((n, r) => n + r.cpu, 0) / answered) * 1e6,
  };
}

async function main(): Promise<number> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const adminSecret = randomBytes(24).toString('base64url');
  child(['server/index.ts'], {
    NODE_ENV: 'development',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    PORT: String(port),
    ISSUER: issuer,
    ADMIN_CLIENT_SECRET: adminSecret,
    SCOPES: JSON.stringify({ read: 'read' }),
  });
  await waitForHttp(`${issuer}/healthz`);
  const admin = await http(`${issuer}/token`, {
    method: 'POST',
    headers: {
      Authorization: `Basic ${Buffer.from(`tokenwarden-admin:${adminSecret}`).toString('base64')}`,
      'Content-Type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials&scope=admin',
  });
  const api = (path: string, body: unknown) =>
    http(`${issuer}${path}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${String(admin.access_token)}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  const client = await api('/api/clients', { client_name: 'bench API' });
  const user = await api('/api/users', { username: 'bench' });
  const pat = String((await api(`/api/users/${String(user.id)}/tokens`, { name: 'bench', scopes: ['read'] })).token);
  const events = (await fetch(`${issuer}/.well-known/ssf-configuration`)).status === 200;

  const api$ = child([
    'bench/resource-server.ts',
    'serve',
    JSON.stringify({
      issuer,
      clientId: String(client.client_id),
      clientSecret: String(client.client_secret),
      events,
    } satisfies ServeOptions),
  ]);
  const url = `http://127.0.0.1:${await api$.firstLine}`;
  const headers = { Authorization: `Bearer ${pat}` };
  const warm = await fetch(`${url}/hello`, { headers });
  if (warm.status !== 200) throw new Error(`the protected route answered ${warm.status}: ${await warm.text()}`);
  const status = (await http(`${url}/status`)) as { subscription: string; live: boolean };

  process.stdout.write(
    `tokenwarden/resource-server bench — Node ${process.version}, ${DURATION} s per case in ${ROUNDS} alternating rounds, ` +
      `each after ${WARMUP} s of warm-up\n` +
      `events: ${events ? `SSF poll (subscription ${status.subscription}, live ${status.live})` : 'off (Tokenwarden serves no SSF yet): the cache keeps answers for the run'}\n` +
      `machine load average before: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} on a shared 2-core machine\n\n`,
  );
  const rows: string[][] = [['route', 'conns', 'req/s', 'p50 ms', 'p99 ms', 'server CPU µs/req', 'non-2xx']];
  const ratios = new Map<number, number>();
  for (const connections of [10, 50]) {
    const open: Round[] = [];
    const guarded: Round[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const both = [
        async () => open.push(await round(`${url}/open/hello`, connections, {}, api$.process.pid!)),
        async () => guarded.push(await round(`${url}/hello`, connections, headers, api$.process.pid!)),
      ];
      for (const run of i % 2 === 0 ? both : both.reverse()) await run();
    }
    const [o, g] = [summary(open), summary(guarded)];
    for (const [name, m] of [
      ['unprotected', o],
      ['protected (warm cache)', g],
    ] as const) {
      rows.push([
        name,
        String(connections),
        String(Math.round(m.rps)),
        String(m.p50),
        String(m.p99),
        m.cpuUs.toFixed(1),
        String(m.failed),
      ]);
    }
    ratios.set(connections, g.rps / o.rps);
    if (g.failed > 0) throw new Error(`the protected route failed ${g.failed} requests`);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const [i, row] of rows.entries()) {
    process.stdout.write(`| ${row.map((c, j) => c.padEnd(widths[j]!)).join(' | ')} |\n`);
    if (i === 0) process.stdout.write(`| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |\n`);
  }
  process.stdout.write(
    `\nmachine load average after: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}\n`,
  );
  let failed = false;
  for (const [connections, ratio] of ratios) {
    const pass = connections !== 50 || ratio >= TARGET;
    failed ||= !pass;
    process.stdout.write(
      `${pass ? 'PASS' : 'FAIL'}  protected / unprotected (${connections} conns): ${ratio.toFixed(2)}` +
        `${connections === 50 ? ` (target ≥ ${TARGET})` : ''}\n`,
    );
  }
  return failed ? 1 : 0;
}

const [role, json] = process.argv.slice(2);
if (role === 'serve') await serve(JSON.parse(json!) as ServeOptions);
else if (role === 'load') await load(JSON.parse(json!) as LoadOptions);
else {
  let code = 1;
  try {
    code = await main();
  } catch (error) {
    process.stderr.write(`${(error as Error).stack}\n`);
  } finally {
    for (const c of children) c.kill('SIGTERM');
  }
  process.exit(code);
}

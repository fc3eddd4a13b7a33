/**
 * `npm run bench:profile`: where a warm PAT introspection's CPU goes. Starts Redis and the MongoDB-compatible
 * server, Tokenwarden from the build with V8's sampling profiler (`--cpu-prof`), warms one PAT, drives it with
 * autocannon (50 connections, PROFILE_SECONDS, default 15) from another process, stops Tokenwarden so it writes its
 * profile, and prints the self time of the hottest functions and grouped by area, in µs per request.
 *
 * With PROFILE_TARGET=node-http it profiles the bare `node:http` baseline (bench/baseline-http.ts) under the same
 * load instead, so the two summaries side by side say which µs per request the fast path adds, and where.
 *
 * Environment: PROFILE_SECONDS, PROFILE_TOP (default 40), NODE (the node binary to profile, default this one; `npm
 * run` sets NODE to the node running npm, so put another Node first on PATH instead), PROFILE_TARGET
 * (`tokenwarden`, the default, or `node-http`), PROFILE_CASE (`warm`, the default, or `malformed`: the warm PAT
 * with its last character changed, answered inactive by the checksum).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { freePort, startMongo, startRedis } from '../scripts/lib/services.ts';
import { waitForHttp } from './wait.ts';

const SECONDS = Number(process.env.PROFILE_SECONDS ?? 15);
const TOP = Number(process.env.PROFILE_TOP ?? 40);
const NODE = process.env.NODE ?? process.execPath;
const TARGET = process.env.PROFILE_TARGET ?? 'tokenwarden';
const CASE = process.env.PROFILE_CASE ?? 'warm';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/**
 * Steps of a request, by the function that does each, for the inclusive figures (the function and everything it
 * calls): what a step costs in the running server, where self times scatter it over V8 builtins and Node internals.
 * Node's own steps first (the baseline has them too), then the fast path's.
 */
const STEPS: ReadonlyArray<readonly [name: string, where: string, label: string]> = [
  ['parserOnHeadersComplete', '_http_common', "Node: request head parsed, 'request' emitted (includes dispatch)"],
  ['writeHead', '_http_server', 'Node: res.writeHead'],
  ['end', '_http_outgoing', 'Node: res.end (includes writev)'],
  ['writev', '', 'Node: writev, the response syscall (wall time: includes waking the client)'],
  ['dispatch', 'server/http/server', 'Tokenwarden: dispatch to the fast path, checks, body listeners'],
  ['parseParams', 'introspection/fast-transport', 'Tokenwarden: form parameters'],
  ['remembered', 'introspection/client-secrets', 'Tokenwarden: client authentication (remembered header)'],
  ['introspectCached', 'introspection/introspect', 'Tokenwarden: lookup (all of it)'],
  ['isWellFormed', 'services/pat-format', 'Tokenwarden: · checksum'],
  ['hash', 'crypto/hash', 'Tokenwarden: · SHA-256 of the value'],
  ['fromMemory', 'pats/lookup', 'Tokenwarden: · in-process cache, expiry, last use'],
  ['answer', 'introspection/fast-transport', 'Tokenwarden: answer (includes writeHead and end)'],
  ['observe', 'server/http/server', 'Tokenwarden: metrics'],
];
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The area a frame belongs to, for the summary. */
function areaOf(url: string, name: string): string {
  if (url.includes('/server/introspection/')) return 'Tokenwarden: introspection fast path';
  if (url.includes('/server/pats/') || url.includes('/services/pat-format')) return 'Tokenwarden: PAT lookup';
  if (url.includes('/server/')) return 'Tokenwarden: other';
  if (url.includes('node_modules/lru-cache')) return 'lru-cache';
  if (url.includes('node_modules/')) return `dependency: ${/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? '?'}`;
  if (url.startsWith('node:_http') || url.includes('node:_http')) return 'Node: http';
  if (url.startsWith('node:net') || url.includes('stream')) return 'Node: net and streams';
  if (url.startsWith('node:')) return 'Node: other';
  if (name === '(garbage collector)') return 'garbage collection';
  if (name === '(program)' || name === '(idle)') return name;
  return 'V8 and native';
}

/** Drives `url` with autocannon from another process; the requests sent and the rate. */
async function drive(url: string, authorization: string, body: string, dir: string) {
  const bodiesFile = join(dir, 'bodies.txt');
  writeFileSync(bodiesFile, body);
  const load = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'bench/load.ts',
      JSON.stringify({ url, connections: 50, duration: SECONDS, warmup: 2, headers: { authorization }, bodiesFile }),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  load.stdout.on('data', (c: Buffer) => (out += c.toString()));
  await new Promise((r) => load.once('exit', r));
  const result = JSON.parse(out) as { total: number; warmupTotal: number; rps: number };
  return { requests: result.total + result.warmupTotal, rps: result.rps };
}

/** Stops a profiled process and summarises the profile it writes. */
async function stopAndSummarise(
  server: ReturnType<typeof spawn>,
  dir: string,
  load: { requests: number; rps: number },
) {
  server.kill('SIGINT');
  await new Promise((r) => server.once('exit', r));
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error('no profile written');
  summarise(JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile, load.requests, load.rps);
}

/** The bare `node:http` baseline, profiled under the same load (any client and body: it answers fixed JSON). */
async function profileBaseline(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tokenwarden-profile-'));
  const port = await freePort();
  const server = spawn(
    NODE,
    ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--import', 'tsx', 'bench/baseline-http.ts', String(port)],
    { stdio: 'inherit' },
  );
  try {
    await waitForHttp(`http://127.0.0.1:${port}/`);
    const body = `token=twp_${'x'.repeat(40)}`;
    const load = await drive(`http://127.0.0.1:${port}/introspect`, `Basic ${btoa('client:secret')}`, body, dir);
    await stopAndSummarise(server, dir, load);
  } finally {
    if (server.exitCode === null) server.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  if (TARGET === 'node-http') return profileBaseline();
  const [redis, mongo] = await Promise.all([startRedis(), startMongo()]);
  const dir = mkdtempSync(join(tmpdir(), 'tokenwarden-profile-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const adminSecret = randomBytes(24).toString('base64url');
  const server = spawn(NODE, ['--cpu-prof', `--cpu-prof-dir=${dir}`, 'dist/server/index.js'], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      ISSUER: url,
      NODE_ENV: 'development',
      LOG_LEVEL: 'warn',
      MONGODB_URI: `${mongo.url}/tw_profile_${randomBytes(4).toString('hex')}`,
      REDIS_URL: redis.url,
      SECRET_KEY: randomBytes(32).toString('base64url'),
      ADMIN_CLIENT_SECRET: adminSecret,
      TOKEN_MAX_LIFETIME_DAYS: '0',
    },
    stdio: 'inherit',
  });
  try {
    await waitForHttp(`${url}/healthz`);
    const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
    const post = async (path: string, headers: Record<string, string>, body: string) =>
      (await (await fetch(`${url}${path}`, { method: 'POST', headers, body })).json()) as Record<string, unknown>;
    const admin = await post(
      '/token',
      { Authorization: basic('tokenwarden-admin', adminSecret), 'Content-Type': 'application/x-www-form-urlencoded' },
      'grant_type=client_credentials&scope=admin',
    );
    const bearer = { Authorization: `Bearer ${String(admin.access_token)}`, 'Content-Type': 'application/json' };
    const client = await post('/api/clients', bearer, '{}');
    await post('/api/users', bearer, JSON.stringify({ id: 'profiled', username: 'profiled' }));
    const pat = await post(
      '/api/users/profiled/tokens',
      bearer,
      JSON.stringify({ name: 'warm', scopes: ['read'], expires_at: null }),
    );
    const authorization = basic(String(client.client_id), String(client.client_secret));
    const warm = String(pat.token);
    const token = CASE === 'malformed' ? warm.slice(0, -1) + (warm.endsWith('A') ? 'B' : 'A') : warm;
    const load = await drive(`${url}/introspect`, authorization, `token=${token}`, dir);
    await stopAndSummarise(server, dir, load);
  } finally {
    if (server.exitCode === null) server.kill('SIGKILL');
    await Promise.allSettled([redis.stop(), mongo.stop()]);
  }
}

function summarise(profile: Profile, requests: number, rps: number): void {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const perFunction = new Map<string, number>();
  const perArea = new Map<string, number>();
  for (const [id, us] of self) {
    const frame = byId.get(id)!.callFrame;
    const where = frame.url.replace(/^file:\/\/.*?\/(server|node_modules|adapters)\//, '$1/');
    const key = `${frame.functionName || '(anonymous)'}  ${where}:${frame.lineNumber + 1}`;
    perFunction.set(key, (perFunction.get(key) ?? 0) + us);
    const area = areaOf(frame.url, frame.functionName);
    perArea.set(area, (perArea.get(area) ?? 0) + us);
  }
  const busy = [...perArea].filter(([a]) => a !== '(idle)').reduce((n, [, us]) => n + us, 0);
  const line = (us: number) =>
    `${(us / requests).toFixed(2).padStart(7)} µs/req  ${((us / busy) * 100).toFixed(1).padStart(5)}%`;
  process.stdout.write(
    `\n${requests} requests (${rps.toFixed(0)} req/s); busy ${(busy / requests).toFixed(1)} µs per request\n\nBy area:\n`,
  );
  for (const [area, us] of [...perArea].sort((a, b) => b[1] - a[1])) {
    if (area !== '(idle)') process.stdout.write(`  ${line(us)}  ${area}\n`);
  }
  // Inclusive time per step: each sample counts once for every step on its stack.
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inclusive = new Map<string, number>();
  for (const [id, us] of self) {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      const step = STEPS.find(([name, where]) => name === frame.functionName && frame.url.includes(where));
      if (step && !seen.has(step[0])) {
        seen.add(step[0]);
        inclusive.set(step[0], (inclusive.get(step[0]) ?? 0) + us);
      }
    }
  }
  process.stdout.write(`\nSteps (inclusive: the function and all it calls):\n`);
  for (const [name, , label] of STEPS) {
    const us = inclusive.get(name);
    if (us) process.stdout.write(`  ${line(us)}  ${label}\n`);
  }
  process.stdout.write(`\nHottest functions (self time):\n`);
  for (const [key, us] of [...perFunction].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
    if (!key.startsWith('(idle)')) process.stdout.write(`  ${line(us)}  ${key}\n`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`profile failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});

import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';

import { needsServices, services } from './support/hooks.ts';
import { freePort } from '../scripts/lib/services.ts';

/** Runs `server/index.ts` as `npm start` would (through tsx instead of the build). */
function startProcess(env: Record<string, string | undefined>): ChildProcess & { output: () => string } {
  const clean: Record<string, string | undefined> = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete clean[k];
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/index.ts'], {
    env: clean,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  return Object.assign(child, { output: () => out });
}

function waitFor(child: ChildProcess & { output: () => string }, pattern: RegExp, timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`timed out waiting for ${pattern}:\n${child.output()}`)),
      timeoutMs,
    );
    const check = () => {
      if (pattern.test(child.output())) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.once('exit', () => {
      clearTimeout(timer);
      if (pattern.test(child.output())) resolve();
      else reject(new Error(`exited before ${pattern}:\n${child.output()}`));
    });
    check();
  });
}

function exitCode(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

const noServices = { MONGODB_URI: undefined, REDIS_URL: undefined, NODE_ENV: 'development', LOG_LEVEL: 'warn' };

describe('the tokenwarden process', () => {
  before(needsServices);
  describe('embedded default (no MONGODB_URI)', () => {
    let child: ReturnType<typeof startProcess> | undefined;
    afterEach(async () => {
      if (child && child.exitCode === null) {
        child.kill('SIGKILL');
        await exitCode(child);
      }
    });

    it('prints credentials and copy-paste curl commands that mint a PAT, introspect it and revoke it', async function () {
      this.timeout(60_000);
      if (spawnSync('curl', ['--version']).status !== 0) this.skip();
      const port = await freePort();
      child = startProcess({ ...noServices, PORT: String(port), ADMIN_CLIENT_SECRET: undefined, ISSUER: undefined });
      await waitFor(child, /Discovery: /);
      const out = child.output();
      assert.match(out, /admin client\s+tokenwarden-admin \/ \S{32,}/);
      assert.match(out, /resource server\s+rs_\S+ \/ \S{32,}/);
      const commands = out.slice(out.indexOf('ADMIN=$('), out.indexOf('Discovery: '));
      const run = spawnSync('bash', ['-c', `set -e\n${commands}`], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(run.status, 0, run.stderr);
      const answers = run.stdout.trim().split(/(?<=\})\s*(?=\{)/);
      assert.equal(answers.length, 2, run.stdout);
      const first = JSON.parse(answers[0]!) as Record<string, unknown>;
      assert.equal(first.active, true);
      assert.equal(first.token_kind, 'personal_access_token');
      assert.equal(first.sub, 'demo');
      assert.deepEqual(JSON.parse(answers[1]!), { active: false });
    });

    it('refuses to start in-memory when NODE_ENV=production, naming MONGODB_URI', async () => {
      child = startProcess({ ...noServices, NODE_ENV: 'production', PORT: String(await freePort()) });
      assert.equal(await exitCode(child), 1);
      assert.match(child.output(), /invalid configuration: MONGODB_URI: is required when NODE_ENV=production/);
    });

    it('stops at start-up on a bad setting, naming the variable', async () => {
      child = startProcess({ ...noServices, PORT: 'eighty' });
      assert.equal(await exitCode(child), 1);
      assert.match(child.output(), /invalid configuration: PORT: /);
    });
  });

  describe('graceful shutdown on SIGTERM', () => {
    it('finishes the in-flight request, refuses new connections, closes connections and exits 0', async function () {
      this.timeout(60_000);
      const port = await freePort();
      const child = startProcess({
        MONGODB_URI: `${services().mongo.url}/tw_shutdown`,
        REDIS_URL: services().redis.url,
        SECRET_KEY: 's'.repeat(40),
        NODE_ENV: 'test',
        LOG_LEVEL: 'info',
        PORT: String(port),
        HOST: '127.0.0.1',
      });
      await waitFor(child, /"msg":"listening"/);

      // An introspection request whose body is still to come when SIGTERM arrives. `Expect: 100-continue` makes
      // the server say when it has taken the request in, so the signal surely lands mid-request.
      const body = 'token=pat_notarealtoken';
      const socket = connect({ port, host: '127.0.0.1' });
      socket.on('error', () => undefined);
      await new Promise((r) => socket.once('connect', r));
      let response = '';
      socket.on('data', (c: Buffer) => (response += c.toString()));
      const ended = new Promise((r) => socket.once('close', r));
      socket.write(
        `POST /introspect HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic ${Buffer.from('nobody:secret').toString('base64')}\r\n` +
          `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`,
      );
      await new Promise<void>((resolve) => {
        const seen = () => {
          if (response.includes('100 Continue')) {
            socket.off('data', seen);
            resolve();
          }
        };
        socket.on('data', seen);
      });
      response = '';

      child.kill('SIGTERM');
      await waitFor(child, /"msg":"shutting down"/);
      // New connections are refused once the listener is closed.
      const refused = await new Promise<boolean>((resolve) => {
        const probe = () => {
          const s = connect({ port, host: '127.0.0.1' });
          s.once('connect', () => {
            s.destroy();
            setTimeout(probe, 20);
          });
          s.once('error', () => resolve(true));
        };
        probe();
      });
      assert.equal(refused, true);

      socket.write(body);
      await ended;
      assert.match(response, /^HTTP\/1\.1 401 /, 'the in-flight request was answered');
      assert.match(response, /"error":"invalid_client"/);
      assert.equal(await exitCode(child), 0);
      assert.match(child.output(), /"msg":"stopped"/);
    });
  });
});

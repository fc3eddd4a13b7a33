import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';

import * as openid from 'openid-client';

import { DEV_SEED } from '../config/index.ts';
import { needsServices, services } from './support/hooks.ts';
import { freePort } from '../scripts/lib/services.ts';

/** Runs `server/index.ts` as `npm start` would (through tsx instead of the build). */
function startProcess(
  env: Record<string, string | undefined>,
  args: readonly string[] = [],
): ChildProcess & { output: () => string } {
  const clean: Record<string, string | undefined> = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete clean[k];
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/index.ts', ...args], {
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
      const commands = out.slice(out.indexOf('export TW='), out.indexOf('Discovery: '));
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

  describe('the development seed (--seed, DEV_SEED)', () => {
    let child: ReturnType<typeof startProcess> | undefined;
    afterEach(async () => {
      if (child && child.exitCode === null) {
        child.kill('SIGTERM');
        await exitCode(child);
      }
    });

    /** Through the seed's credentials only: an admin token, a PAT for the demo user, its introspection. */
    async function useSeedCredentials(base: string): Promise<Record<string, unknown>> {
      const form = (path: string, body: Record<string, string>, id: string, secret: string) =>
        fetch(`${base}${path}`, {
          method: 'POST',
          headers: { Authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` },
          body: new URLSearchParams(body),
        });
      const token = await form(
        '/token',
        { grant_type: 'client_credentials', scope: 'admin' },
        'tokenwarden-admin',
        DEV_SEED.adminClientSecret,
      );
      assert.equal(token.status, 200, await token.clone().text());
      const { access_token } = (await token.json()) as { access_token: string };
      const created = await fetch(`${base}/api/users/${DEV_SEED.user.id}/tokens`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${access_token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: 'seeded', scopes: ['read'] }),
      });
      assert.equal(created.status, 201, await created.clone().text());
      const { token: pat } = (await created.json()) as { token: string };
      const { clientId, clientSecret } = DEV_SEED.resourceServer;
      const answer = await form('/introspect', { token: pat }, clientId, clientSecret);
      assert.equal(answer.status, 200);
      return (await answer.json()) as Record<string, unknown>;
    }

    it('gives the same admin secret, resource server and user after a restart, and prints them', async function () {
      this.timeout(60_000);
      const port = await freePort();
      for (const run of [1, 2]) {
        child = startProcess({ ...noServices, PORT: String(port), ISSUER: undefined, ADMIN_CLIENT_SECRET: undefined }, [
          '--seed',
        ]);
        await waitFor(child, /Discovery: /);
        const out = child.output();
        assert.match(out, /DEVELOPMENT SEED/);
        assert.ok(out.includes(`tokenwarden-admin / ${DEV_SEED.adminClientSecret}`), out);
        const rs = DEV_SEED.resourceServer;
        assert.ok(out.includes(`${rs.clientId} / ${rs.clientSecret}`), out);
        assert.ok(out.includes(`issuer               http://localhost:${port}`), out);
        const answer = await useSeedCredentials(`http://127.0.0.1:${port}`);
        assert.equal(answer.active, true, `run ${run}`);
        assert.equal(answer.sub, DEV_SEED.user.id);
        child.kill('SIGTERM');
        assert.equal(await exitCode(child), 0);
      }
    });

    it('listens on loopback only unless HOST is set', async function () {
      this.timeout(60_000);
      const port = await freePort();
      child = startProcess({ ...noServices, LOG_LEVEL: 'info', PORT: String(port), HOST: undefined, DEV_SEED: 'true' });
      await waitFor(child, /Discovery: /);
      assert.doesNotMatch(child.output(), /WARNING: HOST=/);
      assert.match(child.output(), new RegExp(`"url":"http://127\\.0\\.0\\.1:${port}"`));
      child.kill('SIGTERM');
      await exitCode(child);
      child = startProcess({ ...noServices, PORT: String(port), HOST: '0.0.0.0', DEV_SEED: 'true' });
      await waitFor(child, /Discovery: /);
      assert.match(child.output(), /WARNING: HOST=0\.0\.0\.0 makes these public credentials reachable/);
    });

    for (const [what, env, named] of [
      ['NODE_ENV=production', { NODE_ENV: 'production' }, /DEV_SEED: is refused when NODE_ENV=production/],
      [
        'MongoDB',
        { MONGODB_URI: 'mongodb://127.0.0.1:1/tw', SECRET_KEY: 's'.repeat(40) },
        /DEV_SEED: is for the embedded in-memory store only, and MONGODB_URI is set/,
      ],
      [
        'Redis',
        { REDIS_URL: 'redis://127.0.0.1:1', SECRET_KEY: 's'.repeat(40) },
        /DEV_SEED: is for the embedded in-memory store only, and REDIS_URL is set/,
      ],
    ] as const) {
      it(`refuses to start seeded with ${what}, naming DEV_SEED`, async () => {
        child = startProcess({ ...noServices, PORT: String(await freePort()), ...env }, ['--seed']);
        assert.equal(await exitCode(child), 1);
        assert.match(child.output(), named);
      });
    }

    it('refuses an unknown command-line option with exit code 2', async () => {
      child = startProcess({ ...noServices, PORT: String(await freePort()) }, ['--sed']);
      assert.equal(await exitCode(child), 2);
      assert.match(child.output(), /Unknown option '--sed'/);
    });
  });

  describe('the issuer trap (ISSUER http://localhost:<PORT>, discovery through 127.0.0.1)', () => {
    it("fails openid-client's issuer check through 127.0.0.1, so the process prints the issuer and warns", async function () {
      this.timeout(60_000);
      const port = await freePort();
      const child = startProcess({ ...noServices, PORT: String(port), ISSUER: undefined }, ['--seed']);
      try {
        await waitFor(child, /Discovery: /);
        assert.match(
          child.output(),
          /discovery through http:\/\/127\.0\.0\.1:\d+ fails \(openid-client: issuer mismatch\)/,
        );
        const { clientId, clientSecret } = DEV_SEED.resourceServer;
        const discover = (origin: string) =>
          openid.discovery(new URL(origin), clientId, clientSecret, undefined, {
            execute: [openid.allowInsecureRequests],
          });
        await assert.rejects(
          discover(`http://127.0.0.1:${port}`),
          /discovered metadata issuer does not match the expected issuer/,
        );
        await waitFor(child, /request Host differs from the ISSUER host/);
        const warning = child
          .output()
          .split('\n')
          .find((l) => l.includes('request Host differs'))!;
        assert.equal((JSON.parse(warning) as { host: string }).host, `127.0.0.1:${port}`);
        const config = await discover(`http://localhost:${port}`);
        assert.equal(config.serverMetadata().issuer, `http://localhost:${port}`);
      } finally {
        child.kill('SIGTERM');
        await exitCode(child);
      }
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

import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { freePort } from '../scripts/lib/services.ts';
import { blocksOf } from './support/doc-blocks.ts';
import { eventually } from './support/eventually.ts';
import { startTokenwardenWithEvents, type TokenwardenWithEvents } from './support/ssf-transmitter.ts';

const root = new URL('..', import.meta.url).pathname;
const work = join(root, 'dist', 'resource-server-readme');
const tsc = join(root, 'node_modules', '.bin', 'tsc');

/** The guide whose Node SDK examples this file runs (their fences say `tested-by=test/resource-server-readme.test.ts`). */
const GUIDE = 'docs/protect-your-api.md';

/** The guide's examples by framework: the adapter each imports (`express`, `koa`, `fastify`), else `node:http`. */
function examples(): Map<string, string> {
  const byFramework = new Map<string, string>();
  for (const block of blocksOf(GUIDE)) {
    if (block.mode.kind !== 'tested-by' || block.mode.path !== 'test/resource-server-readme.test.ts') continue;
    const adapter = /from 'tokenwarden\/resource-server\/(\w+)'/.exec(block.code)?.[1] ?? 'node:http';
    assert.ok(!byFramework.has(adapter), `${GUIDE}:${block.line}: a second ${adapter} example`);
    byFramework.set(adapter, block.code);
  }
  return byFramework;
}

/**
 * The guide's Node SDK examples, run as written: the library is built as `npm run build` builds it, each block is
 * saved as a module inside this package (so `tokenwarden/resource-server` resolves through package.json `exports`,
 * as it will for users) and run by plain Node — no tsx. The Express one runs with a loader that fails on any import
 * of Koa or Fastify (the Express adapter must not load them). Its typings are checked the same way, through the
 * exports.
 */
describe(`${GUIDE}: "Node SDK (Express, Koa, Fastify)"`, function () {
  this.timeout(120_000);
  let tw: TokenwardenWithEvents;
  let example: ChildProcess | undefined;
  let output = '';
  let url: string;
  const others: ChildProcess[] = [];

  before(async () => {
    const build = spawnSync(tsc, ['-p', 'server/resource-server/tsconfig.build.json'], { cwd: root, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stdout + build.stderr);
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    for (const [framework, code] of examples()) writeFileSync(join(work, `${framework.replace(':', '-')}.mjs`), code);
    writeFileSync(
      join(work, 'no-other-framework.mjs'),
      `export async function resolve(specifier, context, next) {
        if (/^(koa|fastify|@koa\\/router)(\\/|$)/.test(specifier)) throw new Error('the library loaded ' + specifier);
        return next(specifier, context);
      }`,
    );
    writeFileSync(
      join(work, 'register.mjs'),
      `import { register } from 'node:module';\nregister('./no-other-framework.mjs', import.meta.url);\n`,
    );
  });
  after(async () => {
    example?.kill();
    for (const child of others) child.kill();
    await tw?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('has one example for each of Express, Koa, Fastify and node:http; the Express one under 10 lines', () => {
    const found = examples();
    assert.deepEqual([...found.keys()].sort(), ['express', 'fastify', 'koa', 'node:http']);
    const express = found.get('express') ?? '';
    assert.ok(express.trimEnd().split('\n').length < 10, express);
    for (const [framework, code] of found) assert.ok(code.trimEnd().split('\n').length <= 10, `${framework}:\n${code}`);
  });

  /** Runs one saved example on a free port; resolves once it answers HTTP. */
  async function startExample(file: string, loader: string[]): Promise<{ child: ChildProcess; url: string }> {
    const client = await tw.client();
    const port = await freePort();
    const child = spawn(process.execPath, [...loader, file], {
      cwd: work,
      env: {
        PATH: process.env.PATH,
        TOKENWARDEN_ISSUER: tw.issuer,
        RS_ID: client.clientId,
        RS_SECRET: client.clientSecret,
        PORT: String(port),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const at = `http://127.0.0.1:${port}`;
    await eventually(async () => {
      if (child.exitCode !== null) throw new Error(`${file} exited ${child.exitCode}:\n${output}`);
      return fetch(`${at}/hello`).then(
        () => true,
        () => false,
      );
    }, 30_000);
    return { child, url: at };
  }

  /** 200 with the scope (the user's id in the body), 401 without a token, 403 without the scope. */
  async function assertDecisions(at: string, framework: string): Promise<void> {
    const userId = await tw.app.createUser();
    const reader = await tw.app.createPat(userId, { scopes: ['read'] });
    const writer = await tw.app.createPat(userId, { scopes: ['write'] });
    const get = (token?: string) =>
      fetch(`${at}/hello`, token ? { headers: { Authorization: `Bearer ${token}` } } : {});

    let res = await get(reader.token);
    assert.equal(res.status, 200, framework);
    assert.deepEqual(await res.json(), { hello: userId }, framework);
    res = await get();
    assert.equal(res.status, 401, framework);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer', framework);
    res = await get(writer.token);
    assert.equal(res.status, 403, framework);
    assert.match(res.headers.get('www-authenticate')!, /error="insufficient_scope".*scope="read"/, framework);
  }

  it('runs against a real Tokenwarden: 200 with the scope, 401 and 403 as RFC 6750 says', async () => {
    tw = await startTokenwardenWithEvents();
    ({ child: example, url } = await startExample('express.mjs', ['--import', './register.mjs']));
    await assertDecisions(url, 'express');
  });

  it('refuses a revoked PAT within 1 s while its answer is cached (the default event subscription)', async () => {
    const userId = await tw.app.createUser();
    const pat = await tw.app.createPat(userId);
    const get = () => fetch(`${url}/hello`, { headers: { Authorization: `Bearer ${pat.token}` } });
    assert.equal((await get()).status, 200);
    const before = tw.gateway.count('/introspect');
    assert.equal((await get()).status, 200);
    assert.equal(tw.gateway.count('/introspect'), before, 'cached');
    const start = performance.now();
    await tw.app.api('DELETE', `/api/users/${userId}/tokens/${pat.id}`);
    await eventually(async () => (await get()).status === 401, 5000);
    const ms = performance.now() - start;
    assert.ok(ms < 1000, `refused after ${Math.round(ms)} ms`);
    assert.doesNotMatch(output, /tokenwarden\/resource-server:/, 'no failure was reported');
  });

  for (const framework of ['koa', 'fastify', 'node:http']) {
    it(`the ${framework} example makes the same decisions`, async () => {
      const started = await startExample(`${framework.replace(':', '-')}.mjs`, []);
      others.push(started.child);
      await assertDecisions(started.url, framework);
    });
  }

  it('loaded neither Koa nor Fastify (and the loader that says so does refuse them)', () => {
    assert.equal(example!.exitCode, null, output);
    const control = spawnSync(
      process.execPath,
      ['--import', './register.mjs', '--input-type=module', '-e', "await import('koa')"],
      {
        cwd: work,
        encoding: 'utf8',
      },
    );
    assert.notEqual(control.status, 0);
    assert.match(control.stderr, /the library loaded koa/);
  });

  it('has typings for every entry point, resolved through package.json exports', () => {
    writeFileSync(
      join(work, 'typings.ts'),
      `import { createResourceServer, protect, type AccessToken, type Verdict } from 'tokenwarden/resource-server';
import * as forExpress from 'tokenwarden/resource-server/express';
import * as forKoa from 'tokenwarden/resource-server/koa';
import * as forFastify from 'tokenwarden/resource-server/fastify';
const rs = createResourceServer({ issuer: 'https://tokens.example.com', clientId: 'api', clientSecret: 's' });
const verdict: Promise<Verdict> = rs.check('Bearer x', ['read']);
const sub = (token: AccessToken): string | undefined => token.sub;
// Each probe fails to compile only if the type is real (not an unresolved any): skipLibCheck cannot hide one.
// @ts-expect-error sub is not a number
const probe = (token: AccessToken): number => token.sub;
// @ts-expect-error scopes are strings
forExpress.requireToken(rs, [1]);
// @ts-expect-error scopes are strings
forKoa.requireToken(rs, [1]);
// @ts-expect-error scopes are strings
forFastify.requireToken(rs, [1]);
// @ts-expect-error an issuer is required
createResourceServer({ clientId: 'api', clientSecret: 's' });
export { verdict, sub, probe, protect };
`,
    );
    const check = spawnSync(
      tsc,
      [
        '--ignoreConfig',
        '--noEmit',
        '--skipLibCheck',
        '--strict',
        '--module',
        'nodenext',
        '--moduleResolution',
        'nodenext',
        '--types',
        'node',
        '--target',
        'es2023',
        'typings.ts',
      ],
      { cwd: work, encoding: 'utf8' },
    );
    assert.equal(check.status, 0, check.stdout + check.stderr);
  });
});

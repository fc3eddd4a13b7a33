import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { freePort } from '../scripts/lib/services.ts';
import { eventually } from './support/eventually.ts';
import { startTokenwardenWithEvents, type TokenwardenWithEvents } from './support/ssf-transmitter.ts';

const root = new URL('..', import.meta.url).pathname;
const work = join(root, 'dist', 'resource-server-readme');
const tsc = join(root, 'node_modules', '.bin', 'tsc');

/** The first code block after `heading` in the README. */
function readmeBlock(heading: string): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf(`\n${heading}\n`));
  const match = /```js\n([\s\S]*?)```/.exec(section);
  if (!match) throw new Error(`no code block under ${heading}`);
  return match[1]!;
}

/**
 * The README's Node SDK example, run as written: the library is built as `npm run build` builds it, the block is
 * saved as a module inside this package (so `tokenwarden/resource-server` resolves through package.json
 * `exports`, as it will for users) and run by plain Node — no tsx — with a loader that fails on any import of Koa
 * or Fastify (the Express adapter must not load them). Its typings are checked the same way, through the exports.
 */
describe('README: "Validating tokens in your API — Node SDK"', function () {
  this.timeout(120_000);
  let tw: TokenwardenWithEvents;
  let example: ChildProcess | undefined;
  let output = '';
  let url: string;

  before(async () => {
    const build = spawnSync(tsc, ['-p', 'server/resource-server/tsconfig.build.json'], { cwd: root, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stdout + build.stderr);
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    writeFileSync(join(work, 'example.mjs'), readmeBlock('## Validating tokens in your API — Node SDK'));
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
    await tw?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('the block is an Express API of fewer than 10 lines', () => {
    const block = readmeBlock('## Validating tokens in your API — Node SDK');
    assert.ok(block.trimEnd().split('\n').length < 10, block);
    assert.match(block, /from 'tokenwarden\/resource-server\/express'/);
  });

  it('runs against a real Tokenwarden: 200 with the scope, 401 and 403 as RFC 6750 says', async () => {
    tw = await startTokenwardenWithEvents();
    const client = await tw.client();
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    example = spawn(process.execPath, ['--import', './register.mjs', 'example.mjs'], {
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
    example.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    example.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    await eventually(async () => {
      if (example!.exitCode !== null) throw new Error(`the example exited ${example!.exitCode}:\n${output}`);
      return fetch(`${url}/hello`).then(
        () => true,
        () => false,
      );
    }, 30_000);

    const userId = await tw.app.createUser();
    const reader = await tw.app.createPat(userId, { scopes: ['read'] });
    const writer = await tw.app.createPat(userId, { scopes: ['write'] });
    const get = (token?: string) =>
      fetch(`${url}/hello`, token ? { headers: { Authorization: `Bearer ${token}` } } : {});

    let res = await get(reader.token);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { hello: userId });
    res = await get();
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer');
    res = await get(writer.token);
    assert.equal(res.status, 403);
    assert.match(res.headers.get('www-authenticate')!, /error="insufficient_scope".*scope="read"/);
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

/**
 * Executed documentation: every fenced block of README.md and docs/**\/*.md declares how it is checked (the
 * convention is in `support/doc-blocks.ts`), and this file checks it. The `run` blocks of a document run in order,
 * in one bash session, against a Tokenwarden process of their own started as `npm start -- --seed` does, with:
 *
 * - `$TW` its base URL (`http://localhost:<port>`; a block's `http://localhost:3000`, the default, is replaced by it);
 * - `$ADMIN_ID`/`$ADMIN_SECRET` the admin client and `$RS_ID`/`$RS_SECRET` the demo resource server (the seed's);
 * - `$ACCESS_TOKEN` a JWT access token for the seed's user `demo` from a stand-in identity provider that the server
 *   trusts (`TRUSTED_ISSUERS`), as an application that signs its users in would hold;
 * - loopback webhook and SSF push targets allowed (`EVENTS_ALLOWED_NETWORKS=127.0.0.0/8`), for the examples' own
 *   receivers;
 * - an empty working directory as `$HOME`, and curl failing on an HTTP error (>= 400) unless the block says
 *   `http-errors`;
 * - `tokenwarden` on `PATH`, as an installed package puts it (this checkout's `scripts/cli/tokenwarden.js`, which a
 *   reader in a checkout runs as `npx tokenwarden`).
 *
 * A block that fails, a command that drifted from the API, or an answer whose members differ from the `output`
 * block that documents it fails the test, naming the file and line.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { SignJWT, exportJWK, generateKeyPair } from 'jose';

import { ConfigError, DEV_SEED, loadConfig } from '../config/index.ts';
import { VARIABLES } from '../config/variables.ts';
import { freePort } from '../scripts/lib/services.ts';
import { ROOT, blocksOf, documents, jsonValues, shapeDifferences, where, type DocBlock } from './support/doc-blocks.ts';

/** At most this many illustrative blocks per document, the README included. */
const MAX_ILLUSTRATIVE = 2;

const DEFAULT_BASE = 'http://localhost:3000';

const all = documents().flatMap(blocksOf);

/** A stand-in identity provider: its JWKS over HTTP, and access tokens it signs. */
async function standInIdentityProvider(audience: string) {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'docs', alg: 'ES256', use: 'sig' };
  const server: Server = createServer((req, res) => {
    res.writeHead(req.url === '/jwks' ? 200 : 404, { 'Content-Type': 'application/json' });
    res.end(req.url === '/jwks' ? JSON.stringify({ keys: [jwk] }) : '{}');
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${port}`;
  return {
    trusted: { issuer, jwks_uri: `${issuer}/jwks`, audience, user_claim: 'sub' },
    accessToken: (sub: string) =>
      new SignJWT({ scope: 'openid profile', client_id: 'your-app' })
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'docs' })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject(sub)
        .setIssuedAt()
        .setExpirationTime('1h')
        .setJti(crypto.randomUUID())
        .sign(privateKey),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Tokenwarden as `npm start -- --seed` runs it (through tsx instead of the build); resolves once it prints. */
async function startSeeded(
  port: number,
  env: Record<string, string>,
): Promise<{ child: ChildProcess; out: () => string }> {
  const clean: Record<string, string> = { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', PORT: String(port), ...env };
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/index.ts', '--seed'], {
    cwd: ROOT,
    env: clean,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Tokenwarden did not start:\n${out}`)), 60_000);
    const check = () => {
      if (out.includes('Discovery: ')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', check);
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`Tokenwarden exited:\n${out}`));
    });
  });
  return { child, out: () => out };
}

interface Run {
  /** Exit code of the document's script. */
  readonly status: number | null;
  /** Each block's standard output and error, by its index among the document's run blocks. */
  readonly stdout: string[];
  readonly stderr: string[];
  /** The index of the block that failed, or -1. */
  readonly failed: number;
}

/** Where a JavaScript or TypeScript block is written to run. */
const exampleFile = (block: DocBlock) => `${block.file.replace(/\W+/g, '-')}-L${block.line}.${block.language}`;

/** The bash script of a document's run blocks, each preceded by a marker on both streams. */
function script(blocks: readonly DocBlock[], base: string, dir: string): string {
  const lines = ['set -euo pipefail', 'cd "$HOME"'];
  blocks.forEach((block, i) => {
    const code = block.code.replaceAll(DEFAULT_BASE, base);
    lines.push(`printf '\\n::block ${i}::\\n'; printf '\\n::block ${i}::\\n' >&2`);
    if (block.mode.kind === 'run' && block.mode.httpErrors) lines.push('export CURL_HOME="$HOME/curl-plain"');
    if (block.language === 'sh' || block.language === 'bash') {
      lines.push(code);
    } else {
      const file = join(dir, exampleFile(block));
      writeFileSync(file, code);
      // From the repository, where `--import tsx` resolves (a reader's Node 22.18+ runs TypeScript as it is).
      const loader = block.language === 'ts' ? '--import tsx ' : '';
      lines.push(`(cd ${JSON.stringify(ROOT)} && "${process.execPath}" ${loader}${JSON.stringify(file)})`);
    }
    if (block.mode.kind === 'run' && block.mode.httpErrors) lines.push('export CURL_HOME="$HOME/curl-fail"');
  });
  lines.push(`printf '\\n::block ${blocks.length}::\\n'`);
  return lines.join('\n');
}

/** Runs the script asynchronously: the stand-in identity provider answers from this process meanwhile. */
async function runDocument(blocks: readonly DocBlock[], env: Record<string, string>, base: string): Promise<Run> {
  const home = mkdtempSync(join(tmpdir(), 'tw-docs-'));
  // Inside the repository, so that the examples' imports resolve from its node_modules (.tmp/ is ignored by git).
  const dir = join(ROOT, '.tmp', 'docs-examples');
  mkdirSync(dir, { recursive: true });
  // curl reads the first .curlrc of $CURL_HOME, $XDG_CONFIG_HOME, $HOME: only curl-fail has one.
  mkdirSync(join(home, 'curl-plain'));
  // The CLI as an installed package puts it on PATH (its launcher resolves its source through the real path).
  mkdirSync(join(home, 'bin'));
  symlinkSync(join(ROOT, 'scripts', 'cli', 'tokenwarden.js'), join(home, 'bin', 'tokenwarden'));
  mkdirSync(join(home, 'curl-fail'));
  writeFileSync(join(home, 'curl-fail', '.curlrc'), 'fail-with-body\nshow-error\n');
  try {
    const child = spawn('bash', ['-c', script(blocks, base, dir)], {
      env: {
        PATH: [
          join(home, 'bin'),
          dirname(process.execPath),
          join(ROOT, 'node_modules', '.bin'),
          process.env.PATH ?? '',
        ].join(':'),
        HOME: home,
        XDG_CONFIG_HOME: join(home, '.config'),
        CURL_HOME: join(home, 'curl-fail'),
        LANG: 'C.UTF-8',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    const status = await new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    clearTimeout(timer);
    const result = { status, stdout: out, stderr: err };
    const split = (text: string) => text.split(/\n::block \d+::\n/).slice(1);
    const stdout = split(result.stdout ?? '');
    const stderr = split(result.stderr ?? '');
    const reached = stdout.length - 1;
    return {
      status: result.status,
      stdout,
      stderr,
      failed: result.status === 0 ? -1 : Math.max(0, Math.min(reached, blocks.length - 1)),
    };
  } finally {
    rmSync(home, { recursive: true, force: true });
    for (const block of blocks) rmSync(join(dir, exampleFile(block)), { force: true });
  }
}

describe("the documentation's examples (README.md, docs/)", () => {
  it('declare how each block is checked', () => {
    const undeclared = all.filter((b) => b.mode.kind === 'undeclared');
    assert.deepEqual(
      undeclared.map((b) => `${where(b)}: ${b.mode.kind === 'undeclared' ? b.mode.problem : ''}`),
      [],
    );
  });

  it('are illustrative only rarely, each saying why', () => {
    const counts = new Map<string, number>();
    for (const b of all) if (b.mode.kind === 'illustrative') counts.set(b.file, (counts.get(b.file) ?? 0) + 1);
    for (const [file, n] of counts) {
      assert.ok(n <= MAX_ILLUSTRATIVE, `${file} has ${n} illustrative blocks, at most ${MAX_ILLUSTRATIVE}`);
    }
  });

  it('name only npm scripts that exist', () => {
    const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: object }).scripts;
    for (const b of all) {
      for (const [, name] of b.code.matchAll(/\bnpm run ([\w:-]+)/g)) {
        assert.ok(name! in scripts, `${where(b)}: npm run ${name} is not a script of package.json`);
      }
    }
  });

  it('show the files they are the same as, verbatim (the suite that runs each file is named there)', () => {
    const same = all.filter((b) => b.mode.kind === 'same-as');
    for (const b of same) {
      const path = b.mode.kind === 'same-as' ? b.mode.path : '';
      assert.ok(path.startsWith('test/'), `${where(b)}: same-as must name a file a test runs (under test/)`);
      assert.equal(b.code, readFileSync(join(ROOT, path), 'utf8'), `${where(b)} differs from ${path}`);
    }
  });

  it('name, for a block another test runs, a test file that exists and reads that document', () => {
    for (const b of all.filter((x) => x.mode.kind === 'tested-by')) {
      const path = b.mode.kind === 'tested-by' ? b.mode.path : '';
      assert.match(path, /^test\/.+\.test\.ts$/, `${where(b)}: tested-by must name a test file (test/….test.ts)`);
      assert.ok(existsSync(join(ROOT, path)), `${where(b)}: ${path} does not exist`);
      assert.ok(readFileSync(join(ROOT, path), 'utf8').includes(b.file), `${where(b)}: ${path} never names ${b.file}`);
    }
  });

  it('set only configuration variables Tokenwarden reads, with values it accepts', () => {
    for (const b of all.filter((x) => x.mode.kind === 'config')) {
      // What the block adds to the environment: `env` before and after it, in one bash.
      const run = spawnSync('env', ['-i', 'bash', '-c', `env -0; printf '\\0\\0'; set -a\n${b.code}\nenv -0`], {
        encoding: 'utf8',
      });
      assert.equal(run.status, 0, `${where(b)}: ${run.stderr}`);
      const [before = '', after = ''] = run.stdout.split('\0\0\0');
      const parse = (text: string) =>
        new Map(
          text
            .split('\0')
            .filter(Boolean)
            .map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)] as const),
        );
      const initial = parse(before);
      const vars: Record<string, string> = {};
      for (const [name, value] of parse(after)) {
        if (initial.get(name) !== value && !['_', 'SHLVL', 'PWD', 'OLDPWD'].includes(name)) vars[name] = value;
      }
      assert.ok(Object.keys(vars).length > 0, `${where(b)} sets no variable`);
      for (const name of Object.keys(vars)) assert.ok(name in VARIABLES, `${where(b)}: ${name} is not a variable`);
      // Secrets a block leaves out (they would not be printed in a guide) are filled in.
      const filled = { SECRET_KEY: 'k'.repeat(40), ADMIN_CLIENT_SECRET: 's'.repeat(40), ...vars };
      try {
        loadConfig(filled);
      } catch (error) {
        if (error instanceof ConfigError) assert.fail(`${where(b)}: ${error.message}`);
        throw error;
      }
    }
  });

  for (const file of documents()) {
    const blocks = blocksOf(file);
    const runs = blocks.filter((b) => b.mode.kind === 'run');
    if (runs.length === 0) continue;

    describe(`${file}, run against a seeded Tokenwarden`, function () {
      this.timeout(240_000);
      let server: { child: ChildProcess; out: () => string } | undefined;
      let idp: Awaited<ReturnType<typeof standInIdentityProvider>> | undefined;
      let run: Run;

      before(async function () {
        const port = await freePort();
        const base = `http://localhost:${port}`;
        idp = await standInIdentityProvider(`${base}/api`);
        // Loopback webhook and SSF push targets allowed, as for the test harness: the examples run their own receivers.
        server = await startSeeded(port, {
          TRUSTED_ISSUERS: JSON.stringify([idp.trusted]),
          EVENTS_ALLOWED_NETWORKS: '127.0.0.0/8',
        });
        run = await runDocument(
          runs,
          {
            TW: base,
            ADMIN_ID: 'tokenwarden-admin',
            ADMIN_SECRET: DEV_SEED.adminClientSecret,
            RS_ID: DEV_SEED.resourceServer.clientId,
            RS_SECRET: DEV_SEED.resourceServer.clientSecret,
            ACCESS_TOKEN: await idp.accessToken(DEV_SEED.user.id),
          },
          base,
        );
      });

      after(async () => {
        if (server && server.child.exitCode === null) {
          const exited = new Promise((resolve) => server!.child.once('exit', resolve));
          server.child.kill('SIGTERM');
          await exited;
        }
        await idp?.close();
      });

      blocks.forEach((block, index) => {
        if (block.mode.kind === 'run') {
          const i = runs.indexOf(block);
          it(`${where(block)} runs`, () => {
            if (run.failed !== -1 && i > run.failed) assert.fail(`not reached: ${where(runs[run.failed]!)} failed`);
            assert.ok(
              i !== run.failed,
              `${where(block)} failed (exit ${run.status}):\n${run.stderr[i] ?? ''}\n--- stdout:\n${run.stdout[i] ?? ''}`,
            );
          });
        }
        if (block.mode.kind === 'output') {
          const before = blocks[index - 1];
          it(`${where(block)} is the shape of what the block before it printed`, () => {
            assert.ok(before?.mode.kind === 'run', `${where(block)}: an output block must follow a run block`);
            const i = runs.indexOf(before);
            assert.ok(run.failed === -1 || i < run.failed, `${where(before)} did not run`);
            const printed = jsonValues(run.stdout[i] ?? '');
            assert.ok(printed.length > 0, `${where(before)} printed no JSON:\n${run.stdout[i]}`);
            let documented: unknown;
            try {
              documented = JSON.parse(block.code);
            } catch (error) {
              assert.fail(`${where(block)} is not JSON: ${(error as Error).message}`);
            }
            assert.deepEqual(shapeDifferences(documented, printed.at(-1)), [], `${where(block)}`);
          });
        }
      });
    });
  }
});

import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { startApp, type TestApp } from './support/app.ts';
import { eventually } from './support/eventually.ts';
import { freePort } from '../scripts/lib/services.ts';

/** The package's bin, as `npx tokenwarden` runs it in a checkout (from the TypeScript source). */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'scripts/cli/tokenwarden.js');
/**
 * The same bin in the layout of an installed package (the launcher and dist/, no source), built in `before` with
 * the project's build settings: most tests run this one, which starts in a third of the time tsx needs.
 */
let installedBin = '';
/** The exit codes `--help` and docs/cli.md document. */
const EXIT = { ok: 0, usage: 2, auth: 3, api: 4, server: 5 };
const DAY_MS = 86_400_000;

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

interface RunOptions {
  /** The whole environment besides PATH and HOME (nothing is inherited: no real credentials leak in). */
  readonly env?: Record<string, string>;
  /** Standard input; it is closed after it either way (never a terminal). */
  readonly input?: string;
  readonly home: string;
  readonly command?: readonly string[];
}

type Spawned = ChildProcess & { output: () => Result; closed: Promise<Result> };

/**
 * Spawns the CLI (or `command`) with a clean environment. `closed` is listened for from the start: a child that
 * finishes before a test asks whether it has (a quick `login`) still resolves it.
 */
function spawnCli(args: readonly string[], options: RunOptions): Spawned {
  const [file, ...prefix] = options.command ?? [process.execPath, installedBin];
  const child = spawn(file!, [...prefix, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: options.home, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const output = () => ({ code: child.exitCode, stdout, stderr });
  const closed = new Promise<Result>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', () => resolve(output()));
  });
  closed.catch(() => undefined); // reported to whoever awaits it
  return Object.assign(child, { output, closed });
}

/** Runs the CLI to its end. */
function run(args: readonly string[], options: RunOptions): Promise<Result> {
  const child = spawnCli(args, options);
  child.stdin!.end(options.input ?? '');
  return child.closed;
}

const json = <T = Record<string, unknown>>(r: Result) => JSON.parse(r.stdout) as T;
const expectExit = (r: Result, code: number) =>
  assert.equal(r.code, code, `exit ${r.code}, expected ${code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);

type Row = Record<string, unknown>;

/**
 * Lays out what an installed package holds (package.json "files": the launcher and dist/), compiling the CLI with
 * the settings of `npm run build`; its dependencies are the checkout's. Returns the launcher's path.
 */
async function buildInstalled(pkg: string): Promise<string> {
  await mkdir(join(pkg, 'scripts/cli'), { recursive: true });
  await cp(BIN, join(pkg, 'scripts/cli/tokenwarden.js'));
  await symlink(join(ROOT, 'node_modules'), join(pkg, 'node_modules'));
  const tsconfig = join(pkg, 'tsconfig.json');
  await writeFile(
    tsconfig,
    JSON.stringify({
      extends: join(ROOT, 'tsconfig.build.json'),
      compilerOptions: { outDir: join(pkg, 'dist'), rootDir: ROOT, typeRoots: [join(ROOT, 'node_modules/@types')] },
      include: [join(ROOT, 'scripts/cli')],
    }),
  );
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', tsconfig], {
    encoding: 'utf8',
  });
  assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
  await rm(tsconfig);
  return join(pkg, 'scripts/cli/tokenwarden.js');
}

describe('the tokenwarden CLI', function () {
  this.timeout(60_000);
  let app: TestApp;
  let home: string;
  let admin: Record<string, string>;
  /** The CLI with the admin credentials in the environment. */
  const tw = (args: readonly string[], options: Partial<RunOptions> = {}) =>
    run(args, { home, ...options, env: { ...admin, ...options.env } });
  /** A fresh HOME, for tests of the stored credentials. */
  const freshHome = () => mkdtemp(join(home, 'home-'));

  before(async function () {
    this.timeout(180_000);
    app = await startApp();
    home = await mkdtemp(join(tmpdir(), 'tokenwarden-cli-'));
    installedBin = await buildInstalled(join(home, 'installed'));
    admin = {
      TOKENWARDEN_URL: app.url,
      TOKENWARDEN_CLIENT_ID: app.config.adminClient.clientId,
      TOKENWARDEN_CLIENT_SECRET: app.config.adminClient.clientSecret,
    };
  });
  after(async () => {
    await app?.close();
    if (home) await rm(home, { recursive: true, force: true });
  });

  describe('usage', () => {
    it('documents every command and the exit codes in --help', async () => {
      const r = await run(['--help'], { home, command: [process.execPath, BIN] });
      expectExit(r, EXIT.ok);
      for (const command of [
        'login',
        'logout',
        'users',
        'tokens',
        'clients',
        'audit',
        'introspect',
        'exchange',
        'webhooks',
      ]) {
        assert.match(r.stdout, new RegExp(`^  ${command}\\b`, 'm'), command);
      }
      for (const code of [
        '0  success',
        '2  usage error',
        '3  authentication failed',
        '4  the API refused',
        '5  server',
      ]) {
        assert.ok(r.stdout.includes(code), code);
      }
      const tokens = await run(['tokens', '--help'], { home });
      for (const sub of ['create', 'list', 'show', 'rename', 'rotate', 'revoke', 'revoke-all', 'stale']) {
        assert.match(tokens.stdout, new RegExp(`^  ${sub}\\b`, 'm'), sub);
      }
    });

    it('exits 2 on an unknown command or option, a missing argument or a malformed value, before any request', async () => {
      const results = await Promise.all(
        [
          ['bogus'],
          ['users', 'list', '--bogus'],
          ['users', 'show'],
          ['tokens', 'stale'],
          ['tokens', 'stale', '--unused-days', 'ninety'],
          ['users', 'list', '--limit', '0'],
          ['audit', '--follow', '--to', '2030-01-01T00:00:00Z'],
          ['tokens', 'create', 'someone', '--name', 'x', '--expires-at', '2030-01-01T00:00:00Z', '--no-expiry'],
          ['users'],
        ].map((args) => tw(args, { env: { TOKENWARDEN_URL: 'http://127.0.0.1:9' } })),
      );
      for (const r of results) {
        expectExit(r, EXIT.usage);
        assert.notEqual(r.stderr, '');
      }
    });

    it('runs as `npx tokenwarden` in a checkout', async () => {
      const r = await run(['users', 'list', '--json'], {
        home,
        env: admin,
        command: ['npx', '--no-install', 'tokenwarden'],
      });
      expectExit(r, EXIT.ok);
      assert.ok(Array.isArray(json(r).data));
    });

    it('runs from the TypeScript source in a checkout, and from dist/ in an installed package', async () => {
      const [checkout, installed] = await Promise.all([
        run(['users', 'list', '--json'], { home, env: admin, command: [process.execPath, BIN] }),
        run(['users', 'list', '--json'], { home, env: admin }),
      ]);
      for (const r of [checkout, installed]) {
        expectExit(r, EXIT.ok);
        assert.ok(Array.isArray(json(r).data));
      }
    });
  });

  describe('secrets never come from arguments', () => {
    it('refuses a client secret given to login as an option or an argument, and does not echo it', async () => {
      const secret = app.config.adminClient.clientSecret;
      const h = await freshHome();
      for (const args of [
        ['login', app.url, '--client-secret', secret],
        ['login', app.url, `--client-secret=${secret}`],
        ['login', app.url, secret],
      ]) {
        const r = await run(args, { home: h, input: secret });
        expectExit(r, EXIT.usage);
        assert.ok(!r.stderr.includes(secret) && !r.stdout.includes(secret), r.stderr);
      }
      await assert.rejects(stat(join(h, '.config/tokenwarden/credentials.json')), { code: 'ENOENT' });
    });

    it('refuses a token given to introspect as an argument', async () => {
      const pat = await app.createPat(await app.createUser());
      const r = await tw(['introspect', '--client-id', app.rs.clientId, pat.token], {
        env: { TOKENWARDEN_INTROSPECT_CLIENT_SECRET: app.rs.clientSecret },
        input: pat.token,
      });
      expectExit(r, EXIT.usage);
      assert.ok(!r.stderr.includes(pat.token));
    });
  });

  describe('login and stored credentials', () => {
    const file = (h: string) => join(h, '.config/tokenwarden/credentials.json');

    it('checks the secret from standard input and stores nothing when it is wrong (exit 3)', async () => {
      const h = await freshHome();
      const r = await run(['login', app.url], { home: h, input: 'not the secret\n' });
      expectExit(r, EXIT.auth);
      assert.match(r.stderr, /invalid_client/);
      await assert.rejects(stat(file(h)), { code: 'ENOENT' });
      expectExit(await run(['login', app.url], { home: h, input: '' }), EXIT.usage);
    });

    it('stores the credentials in ~/.config/tokenwarden with mode 0600, and later commands use them', async () => {
      const h = await freshHome();
      const login = await run(['login', `${app.url}/`], { home: h, input: `${app.config.adminClient.clientSecret}\n` });
      expectExit(login, EXIT.ok);
      assert.equal((await stat(file(h))).mode & 0o777, 0o600);
      assert.equal((await stat(join(h, '.config/tokenwarden'))).mode & 0o777, 0o700);
      assert.deepEqual(JSON.parse(await readFile(file(h), 'utf8')), {
        url: app.url,
        client_id: app.config.adminClient.clientId,
        client_secret: app.config.adminClient.clientSecret,
      });
      const users = await run(['users', 'list', '--json'], { home: h });
      expectExit(users, EXIT.ok);

      // The environment overrides what is stored, field by field.
      const wrong = await run(['users', 'list'], { home: h, env: { TOKENWARDEN_CLIENT_SECRET: 'wrong' } });
      expectExit(wrong, EXIT.auth);

      // A file others can read is used with a warning, and the next login writes a 0600 one in its place.
      await chmod(file(h), 0o644);
      const warned = await run(['users', 'list'], { home: h });
      expectExit(warned, EXIT.ok);
      assert.match(warned.stderr, /readable by other users/);
      expectExit(await run(['login', app.url], { home: h, input: app.config.adminClient.clientSecret }), EXIT.ok);
      assert.equal((await stat(file(h))).mode & 0o777, 0o600);

      const logout = await run(['logout'], { home: h });
      expectExit(logout, EXIT.ok);
      await assert.rejects(stat(file(h)), { code: 'ENOENT' });
      const after = await run(['users', 'list'], { home: h });
      expectExit(after, EXIT.auth);
      assert.match(after.stderr, /tokenwarden login/);
    });

    it('uses $XDG_CONFIG_HOME when it is set', async () => {
      const h = await freshHome();
      const xdg = join(h, 'xdg');
      const r = await run(['login', app.url], {
        home: h,
        env: { XDG_CONFIG_HOME: xdg },
        input: app.config.adminClient.clientSecret,
      });
      expectExit(r, EXIT.ok);
      assert.equal((await stat(join(xdg, 'tokenwarden/credentials.json'))).mode & 0o777, 0o600);
      await assert.rejects(stat(file(h)), { code: 'ENOENT' });
    });

    it('prompts for the secret on a terminal without echoing it', async function () {
      if (spawnSync('script', ['--version']).status !== 0) this.skip();
      const h = await freshHome();
      const secret = app.config.adminClient.clientSecret;
      // script(1) gives the CLI a pseudo-terminal; its own standard input is forwarded to it.
      const child = spawnCli([], {
        home: h,
        command: ['script', '-qec', `'${process.execPath}' '${installedBin}' login ${app.url}`, '/dev/null'],
      });
      await eventually(async () => child.output().stdout.includes('Client secret:'));
      child.stdin!.write(`${secret}\r`);
      await eventually(async () => child.output().stdout.includes('Logged in'));
      child.stdin!.end();
      const r = await child.closed;
      expectExit(r, EXIT.ok);
      assert.ok(!r.stdout.includes(secret), 'the secret was echoed');
      assert.equal((await stat(file(h))).mode & 0o777, 0o600);
    });

    it('exits 3 when the client may not have the admin scope', async () => {
      const r = await tw(['users', 'list'], {
        env: { TOKENWARDEN_CLIENT_ID: app.rs.clientId, TOKENWARDEN_CLIENT_SECRET: app.rs.clientSecret },
      });
      expectExit(r, EXIT.auth);
      assert.match(r.stderr, /invalid_scope/);
    });
  });

  describe('users', () => {
    it('creates, lists, shows, disables, enables and deletes a user', async () => {
      const created = await tw(['users', 'create', 'Ada Lovelace', '--id', 'ada', '--email', 'ada@example.com']);
      expectExit(created, EXIT.ok);
      assert.match(created.stdout, /^id: +ada$/m);
      assert.match(created.stdout, /^email: +ada@example\.com$/m);

      const [list, listed, show] = await Promise.all([
        tw(['users', 'list']),
        tw(['users', 'list', '--json', '--all', '--limit', '1']),
        tw(['users', 'show', 'ada', '--json']),
      ]);
      assert.match(list.stdout, /^ID +USERNAME +EMAIL +STATUS +CREATED$/m);
      assert.match(list.stdout, /^ada +Ada Lovelace +ada@example\.com +enabled /m);
      const page = json<{ data: Row[]; next_cursor: string | null }>(listed);
      assert.ok(page.data.length > 1, 'every page, one user at a time');
      assert.equal(page.next_cursor, null);
      assert.equal(json(show).username, 'Ada Lovelace');

      const disabled = await tw(['users', 'disable', 'ada', '--json']);
      assert.equal(json(disabled).disabled, true);
      assert.equal((await app.api('GET', '/api/users/ada')).body.disabled, true);
      const enabled = await tw(['users', 'enable', 'ada']);
      assert.match(enabled.stdout, /^disabled: +false$/m);

      const deleted = await tw(['users', 'delete', 'ada']);
      expectExit(deleted, EXIT.ok);
      assert.match(deleted.stdout, /Deleted user ada/);
      const gone = await tw(['users', 'show', 'ada']);
      expectExit(gone, EXIT.api);
      assert.match(gone.stderr, /not_found: user not found/);
    });

    it("exits 4 with the API's error and error_description", async () => {
      const id = await app.createUser();
      const r = await tw(['users', 'create', 'someone', '--id', id]);
      expectExit(r, EXIT.api);
      assert.match(r.stderr, /^tokenwarden: conflict: .+/m);
    });
  });

  describe('tokens', () => {
    let user: string;
    before(async () => {
      user = await app.createUser();
    });

    it('prints a new value once, alone on standard output, and it works', async () => {
      const r = await tw(['tokens', 'create', user, '--name', 'laptop', '--scope', 'read', '--scope', 'write']);
      expectExit(r, EXIT.ok);
      const value = r.stdout.trim();
      assert.match(value, /^pat_[0-9A-Za-z]{42}$/);
      assert.match(r.stderr, /Created token tok_\w+ "laptop" of .*scopes read write/);
      assert.match(r.stderr, /shown this once and never again/);
      assert.ok(!r.stderr.includes(value));
      const answer = await app.introspect(value);
      assert.equal(answer.body.active, true);
      assert.equal(answer.body.scope, 'read write');
    });

    it('lists, shows and renames tokens without ever printing a value', async () => {
      const created = json(await tw(['tokens', 'create', user, '--name', 'ci', '--scope', 'read', '--json']));
      assert.match(String(created.token), /^pat_/);
      const id = String(created.id);
      const other = await app.createPat(await app.createUser());

      const [list, all, show] = await Promise.all([
        tw(['tokens', 'list', user]),
        tw(['tokens', 'list', '--json', '--all']),
        tw(['tokens', 'show', user, id, '--json']),
      ]);
      const renamed = await tw(['tokens', 'rename', user, id, 'ci (old)']);
      assert.match(list.stdout, /^ID +USER +NAME +SCOPES +STATUS +CREATED +EXPIRES +LAST USED$/m);
      assert.match(list.stdout, new RegExp(`^${id} +${user} +ci +read +active `, 'm'));
      const ids = json<{ data: Row[] }>(all).data.map((t) => t.id);
      assert.ok(ids.includes(id) && ids.includes(other.id), 'every user’s tokens');
      assert.equal(json(show).name, 'ci');
      assert.match(renamed.stdout, /^name: +ci \(old\)$/m);
      for (const r of [list, all, show, renamed]) {
        expectExit(r, EXIT.ok);
        assert.ok(!/pat_[0-9A-Za-z]{42}/.test(r.stdout + r.stderr));
      }
    });

    it('rotates a token: the new value is printed once and the old one stops working', async () => {
      const pat = await app.createPat(user);
      const r = await tw(['tokens', 'rotate', user, pat.id]);
      expectExit(r, EXIT.ok);
      const value = r.stdout.trim();
      assert.match(value, /^pat_[0-9A-Za-z]{42}$/);
      assert.match(r.stderr, /the old value no longer works/);
      assert.equal((await app.introspect(value)).body.active, true);
      assert.equal((await app.introspect(pat.token)).body.active, false);

      const graced = json(await tw(['tokens', 'rotate', user, pat.id, '--grace-seconds', '600', '--json']));
      assert.equal(graced.id, pat.id);
      assert.equal((await app.introspect(String(graced.token))).body.active, true);
      assert.equal((await app.introspect(value)).body.active, true, 'within its grace period');
    });

    it('revokes one token, then all of a user', async () => {
      const [a, b, c] = [await app.createPat(user), await app.createPat(user), await app.createPat(user)];
      const revoked = await tw(['tokens', 'revoke', user, a.id]);
      expectExit(revoked, EXIT.ok);
      assert.match(revoked.stdout, new RegExp(`Revoked token ${a.id}`));
      assert.equal((await app.introspect(a.token)).body.active, false);
      assert.equal((await app.introspect(b.token)).body.active, true);

      const all = await tw(['tokens', 'revoke-all', user, '--json']);
      expectExit(all, EXIT.ok);
      assert.ok(Number(json(all).revoked) >= 2);
      for (const p of [b, c]) assert.equal((await app.introspect(p.token)).body.active, false);
      const none = await tw(['tokens', 'revoke-all', user]);
      assert.match(none.stdout, /Revoked 0 token\(s\)/);
    });

    it("exits 4 on the API's refusal (an unknown scope) and 2 on contradicting options", async () => {
      const [scope, options] = await Promise.all([
        tw(['tokens', 'create', user, '--name', 'x', '--scope', 'no-such-scope']),
        tw(['tokens', 'create', user, '--name', 'x', '--expires-at', '2030-01-01T00:00:00Z', '--no-expiry']),
      ]);
      expectExit(scope, EXIT.api);
      assert.match(scope.stderr, /invalid_scope: .*no-such-scope/);
      expectExit(options, EXIT.usage);
    });

    it('finds tokens unused for a number of days, leaving out recently used and recently created ones', async () => {
      const owner = await app.createUser();
      const expiresAt = new Date(Date.now() + 200 * DAY_MS).toISOString();
      app.clock.advance(-100 * DAY_MS);
      let unused: { id: string }, used: { id: string; token: string };
      try {
        unused = await app.createPat(owner, { expires_at: expiresAt });
        used = await app.createPat(owner, { expires_at: expiresAt });
      } finally {
        app.clock.advance(100 * DAY_MS);
      }
      const fresh = await app.createPat(owner);
      assert.equal((await app.introspect(used.token)).body.active, true);
      await eventually(
        async () => (await app.api('GET', `/api/users/${owner}/tokens/${used.id}`)).body.last_used_at !== null,
      );

      const r = await tw(['tokens', 'stale', '--unused-days', '90', '--user', owner, '--json', '--all']);
      expectExit(r, EXIT.ok);
      assert.deepEqual(
        json<{ data: Row[] }>(r).data.map((t) => t.id),
        [unused.id],
      );
      const human = await tw(['tokens', 'stale', '--unused-days', '90', '--user', owner]);
      assert.match(human.stdout, new RegExp(`^${unused.id} `, 'm'));
      assert.ok(!human.stdout.includes(fresh.id) && !human.stdout.includes(used.id));
    });
  });

  describe('clients', () => {
    it('registers a client and prints its secret once, lists it, deletes it', async () => {
      const created = await tw(['clients', 'create', '--name', 'orders API']);
      expectExit(created, EXIT.ok);
      const secret = created.stdout.trim();
      const clientId = /Registered client (\S+)/.exec(created.stderr)?.[1];
      assert.ok(clientId, created.stderr);
      assert.match(created.stderr, /shown this once and never again/);
      const pat = await app.createPat(await app.createUser());
      assert.equal((await app.introspect(pat.token, { clientId, clientSecret: secret })).body.active, true);

      const [list, listed] = await Promise.all([tw(['clients', 'list']), tw(['clients', 'list', '--json'])]);
      assert.match(list.stdout, new RegExp(`^${clientId} +orders API +client_secret_basic `, 'm'));
      assert.ok(!list.stdout.includes(secret) && !listed.stdout.includes(secret));
      assert.ok(json<{ data: Row[] }>(listed).data.some((c) => c.client_id === clientId));

      const asJson = json(await tw(['clients', 'create', '--json']));
      assert.equal(typeof asJson.client_secret, 'string');

      expectExit(await tw(['clients', 'delete', clientId]), EXIT.ok);
      assert.equal((await app.introspect(pat.token, { clientId, clientSecret: secret })).status, 401);
      const again = await tw(['clients', 'delete', clientId]);
      expectExit(again, EXIT.api);
      assert.match(again.stderr, /not_found/);
    });
  });

  describe('audit', () => {
    it('lists events newest first, filtered', async () => {
      const user = await app.createUser();
      const pat = await app.createPat(user);
      await app.api('DELETE', `/api/users/${user}/tokens/${pat.id}`);
      const [all, revoked, human] = await Promise.all([
        tw(['audit', '--user', user, '--json']),
        tw(['audit', '--user', user, '--type', 'token.revoked', '--json']),
        tw(['audit', '--token', pat.id]),
      ]);
      assert.deepEqual(
        json<{ data: Row[] }>(all).data.map((e) => e.type),
        ['token.revoked', 'token.created', 'user.created'],
      );
      assert.deepEqual(
        json<{ data: Row[] }>(revoked).data.map((e) => [e.type, e.token_id]),
        [['token.revoked', pat.id]],
      );
      assert.match(human.stdout, /^AT +TYPE +USER +TOKEN +ACTOR +VIA +DETAILS$/m);
      assert.match(human.stdout, new RegExp(`token\\.created +${user} +${pat.id} +admin:`));
    });

    it('--follow prints the latest events, then new ones oldest first, each once, and stops on SIGINT', async () => {
      const user = await app.createUser();
      await app.createPat(user);
      const child = spawnCli(['audit', '--follow', '--user', user, '--json', '--interval', '0.2', '--limit', '1'], {
        home,
        env: admin,
      });
      const events = () =>
        child
          .output()
          .stdout.split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as Row);
      try {
        await eventually(async () => events().length === 1);
        assert.equal(events()[0]!.type, 'token.created', 'the latest event only');
        const created = [];
        for (let i = 0; i < 3; i++) created.push(await app.createPat(user));
        await app.api('PATCH', `/api/users/${user}`, { disabled: true });
        await eventually(async () => events().length === 5);
        assert.deepEqual(
          events().map((e) => [e.type, e.token_id]),
          [
            ['token.created', events()[0]!.token_id],
            ...created.map((p) => ['token.created', p.id]),
            ['user.disabled', null],
          ],
        );
        child.kill('SIGINT');
        const r = await child.closed;
        expectExit(r, EXIT.ok);
        assert.equal(new Set(events().map((e) => e.id)).size, 5, 'each event once');
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    });
  });

  describe('introspect', () => {
    const rs = () => ({ TOKENWARDEN_INTROSPECT_CLIENT_SECRET: app.rs.clientSecret });

    it('reads the token from standard input and shows what a resource server sees', async () => {
      const pat = await app.createPat(await app.createUser(), { name: 'deploy' });
      const [asJson, human, garbage] = await Promise.all([
        tw(['introspect', '--client-id', app.rs.clientId, '--json'], { env: rs(), input: `${pat.token}\n` }),
        tw(['introspect', '--client-id', app.rs.clientId], { env: rs(), input: pat.token }),
        tw(['introspect', '--client-id', app.rs.clientId, '--json'], { env: rs(), input: 'pat_nonsense' }),
      ]);
      for (const r of [asJson, human, garbage]) expectExit(r, EXIT.ok);
      assert.equal(json(asJson).active, true);
      assert.equal(json(asJson).jti, pat.id);
      assert.match(human.stdout, /^active: +true$/m);
      assert.match(human.stdout, /^pat_name: +deploy$/m);
      assert.match(human.stdout, /^exp: +\d+ \(\d{4}-\d\d-\d\dT/m);
      assert.deepEqual(json(garbage), { active: false });
    });

    it('exits 3 for wrong client credentials and 2 without a client secret', async () => {
      const [wrong, missing] = await Promise.all([
        tw(['introspect', '--client-id', app.rs.clientId], {
          env: { TOKENWARDEN_INTROSPECT_CLIENT_SECRET: 'wrong' },
          input: 'pat_x',
        }),
        tw(['introspect', '--client-id', app.rs.clientId], { input: 'pat_x' }),
      ]);
      expectExit(wrong, EXIT.auth);
      assert.match(wrong.stderr, /invalid_client/);
      expectExit(missing, EXIT.usage);
      assert.match(missing.stderr, /TOKENWARDEN_INTROSPECT_CLIENT_SECRET/);
    });
  });

  describe('exchange and clients allowed to exchange', () => {
    const ORDERS = 'https://orders.example.com';

    it('registers a client allowed to exchange, then exchanges a PAT from standard input for a narrower JWT', async () => {
      const registered = json(
        await tw(['clients', 'create', '--name', 'gateway', '--token-exchange', '--resource', ORDERS, '--json']),
      );
      assert.equal(registered.token_exchange, true);
      assert.deepEqual(registered.resources, [ORDERS]);
      const clientId = String(registered.client_id);
      const env = { TOKENWARDEN_EXCHANGE_CLIENT_SECRET: String(registered.client_secret) };
      const user = await app.createUser();
      const pat = await app.createPat(user, { scopes: ['read', 'write'], resource: ORDERS });

      const r = await tw(['exchange', '--client-id', clientId, '--scope', 'read', '--resource', ORDERS, '--json'], {
        env,
        input: `${pat.token}\n`,
      });
      expectExit(r, EXIT.ok);
      const answer = json(r);
      assert.equal(answer.issued_token_type, 'urn:ietf:params:oauth:token-type:access_token');
      const [, payload] = String(answer.access_token).split('.');
      const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
      assert.equal(claims.sub, user);
      assert.equal(claims.scope, 'read');
      assert.ok(claims.aud === ORDERS || (Array.isArray(claims.aud) && claims.aud.includes(ORDERS)));
      assert.ok(!r.stderr.includes(pat.token));

      const widened = await tw(['exchange', '--client-id', clientId, '--scope', 'admin'], { env, input: pat.token });
      expectExit(widened, EXIT.api);
      assert.match(widened.stderr, /invalid_scope/);
      const inArgs = await tw(['exchange', '--client-id', clientId, pat.token], { env, input: pat.token });
      expectExit(inArgs, EXIT.usage);
    });

    it('changes whether a client may exchange and what it serves; a client that may not is refused', async () => {
      const registered = json(await tw(['clients', 'create', '--token-exchange', '--json']));
      const clientId = String(registered.client_id);
      const env = { TOKENWARDEN_EXCHANGE_CLIENT_SECRET: String(registered.client_secret) };
      const changed = json(
        await tw([
          'clients',
          'update',
          clientId,
          '--no-token-exchange',
          '--resource',
          ORDERS,
          '--name',
          'billing',
          '--json',
        ]),
      );
      assert.equal(changed.token_exchange, false);
      assert.deepEqual(changed.resources, [ORDERS]);
      const list = await tw(['clients', 'list']);
      assert.match(list.stdout, new RegExp(`^${clientId} +billing +client_secret_basic +no +${ORDERS} `, 'm'));

      const pat = await app.createPat(await app.createUser());
      const refused = await tw(['exchange', '--client-id', clientId], { env, input: pat.token });
      expectExit(refused, EXIT.api);
      assert.match(refused.stderr, /unauthorized_client/);
      const missing = await tw(['exchange', '--client-id', clientId], { input: pat.token });
      expectExit(missing, EXIT.usage);
      assert.match(missing.stderr, /TOKENWARDEN_EXCHANGE_CLIENT_SECRET/);

      const cleared = json(await tw(['clients', 'update', clientId, '--no-resources', '--json']));
      assert.deepEqual(cleared.resources, []);
    });
  });

  describe('webhooks', () => {
    it('registers an endpoint with its secret shown once, lists it, sends a test event, shows its delivery, disables it', async () => {
      const received: Array<{ headers: Record<string, unknown>; body: string }> = [];
      const receiver = createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          received.push({ headers: req.headers, body });
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
      try {
        const url = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hooks`;
        const created = await tw(['webhooks', 'create', url, '--event', 'token.revoked', '--description', 'ops']);
        expectExit(created, EXIT.ok);
        const secret = created.stdout.trim();
        assert.match(secret, /^whsec_/);
        const id = /Registered webhook (\S+)/.exec(created.stderr)?.[1];
        assert.ok(id, created.stderr);

        const list = await tw(['webhooks', 'list']);
        assert.match(list.stdout, new RegExp(`^${id} +${url} +token.revoked +yes `, 'm'));
        assert.ok(!list.stdout.includes(secret));

        const tested = json(await tw(['webhooks', 'test', id, '--json']));
        assert.equal(typeof tested.event_id, 'string');
        await eventually(async () => received.some((r) => r.headers['webhook-id'] === tested.event_id));
        await eventually(async () => {
          const deliveries = json<{ data: Row[] }>(await tw(['webhooks', 'deliveries', id, '--json'])).data;
          return deliveries.find((d) => d.event_id === tested.event_id)?.status === 'delivered';
        });
        const human = await tw(['webhooks', 'deliveries', id]);
        assert.match(human.stdout, new RegExp(`^${String(tested.event_id)} +webhook.test +delivered +1 +204 `, 'm'));

        const disabled = await tw(['webhooks', 'disable', id]);
        expectExit(disabled, EXIT.ok);
        assert.equal(json(await tw(['webhooks', 'show', id, '--json'])).enabled, false);
        const refused = await tw(['webhooks', 'create', 'ftp://example.com/x']);
        expectExit(refused, EXIT.api);
      } finally {
        receiver.close();
      }
    });
  });

  describe('server and network failures (exit 5)', () => {
    let server: Server;
    let url: string;
    before(async () => {
      // Not Tokenwarden: a server that grants tokens, then fails in the ways a broken deployment does.
      server = createServer((req, res) => {
        if (req.url === '/token') {
          res.setHeader('Content-Type', 'application/json');
          res.end(JSON.stringify({ access_token: 'x', token_type: 'Bearer', expires_in: 60 }));
        } else if (req.url?.startsWith('/api/users')) {
          res.writeHead(503, { 'Content-Type': 'application/json', 'Retry-After': '5' });
          res.end(JSON.stringify({ error: 'temporarily_unavailable', error_description: 'the token store is down' }));
        } else {
          res.writeHead(200, { 'Content-Type': 'text/html' });
          res.end('<html>a proxy page</html>');
        }
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const address = server.address();
      url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('exits 5 when the server cannot be reached, answers 5xx, or answers something that is not the API', async () => {
      const closed = `http://127.0.0.1:${await freePort()}`;
      const [unreachable, unavailable, html] = await Promise.all([
        tw(['users', 'list'], { env: { TOKENWARDEN_URL: closed } }),
        tw(['users', 'list'], { env: { TOKENWARDEN_URL: url } }),
        tw(['clients', 'list'], { env: { TOKENWARDEN_URL: url } }),
      ]);
      expectExit(unreachable, EXIT.server);
      assert.match(unreachable.stderr, /cannot reach .*ECONNREFUSED/);
      expectExit(unavailable, EXIT.server);
      assert.match(unavailable.stderr, /temporarily_unavailable: the token store is down \(retry after 5 s\)/);
      expectExit(html, EXIT.server);
      assert.match(html.stderr, /not JSON/);
    });
  });
});

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

import mongoose from 'mongoose';

import { basic, startApp, type TestApp } from './support/app.ts';
import { services } from './support/hooks.ts';

type Row = Record<string, unknown>;

describe('management API (/api)', () => {
  let app: TestApp;

  before(async () => {
    app = await startApp();
  });
  after(() => app.close());

  describe('authentication (RFC 6750)', () => {
    it('answers 401 with a Bearer challenge when no token is sent', async () => {
      const res = await app.api('GET', '/api/clients', undefined, null);
      assert.equal(res.status, 401);
      assert.equal(res.body.error, 'invalid_token');
      assert.match(String(res.headers.get('www-authenticate')), /^Bearer realm="tokenwarden"$/);
    });

    it('answers 401 invalid_token for an unknown or revoked token', async () => {
      const user = await app.createUser();
      const pat = await app.createPat(user);
      await app.revoke(pat.token);
      for (const token of ['nonsense', pat.token, app.tw.services.format.generate()]) {
        const res = await app.api('GET', '/api/clients', undefined, token);
        assert.equal(res.status, 401, token);
        assert.equal(res.body.error, 'invalid_token');
        assert.match(String(res.headers.get('www-authenticate')), /^Bearer .*error="invalid_token"/);
      }
    });

    it('answers 403 insufficient_scope to a user’s PAT on an admin route', async () => {
      const pat = await app.createPat(await app.createUser(), { scopes: ['tokens:manage'] });
      const res = await app.api('GET', '/api/clients', undefined, pat.token);
      assert.equal(res.status, 403);
      assert.equal(res.body.error, 'insufficient_scope');
    });

    it('answers 401 for a malformed Authorization header', async () => {
      const res = await fetch(`${app.url}/api/clients`, { headers: { Authorization: 'Basic Zm9vOmJhcg==' } });
      assert.equal(res.status, 401);
      assert.equal(((await res.json()) as Row).error, 'invalid_token');
    });

    it('answers 403 insufficient_scope for a token without the admin scope', async () => {
      const issued = await app.form('/token', { grant_type: 'client_credentials' }, { Authorization: basic(app.rs) });
      const res = await app.api('GET', '/api/clients', undefined, String(issued.body.access_token));
      assert.equal(res.status, 403);
      assert.equal(res.body.error, 'insufficient_scope');
      assert.match(String(res.headers.get('www-authenticate')), /scope="admin"/);
    });

    it('does not let a resource-server client obtain the admin scope', async () => {
      const res = await app.form(
        '/token',
        { grant_type: 'client_credentials', scope: 'admin' },
        { Authorization: basic(app.rs) },
      );
      assert.equal(res.status, 400);
      assert.equal(res.body.error, 'invalid_scope');
    });

    it('rejects a revoked admin token', async () => {
      const admin = { clientId: app.config.adminClient.clientId, clientSecret: app.config.adminClient.clientSecret };
      const issued = await app.form(
        '/token',
        { grant_type: 'client_credentials', scope: 'admin' },
        { Authorization: basic(admin) },
      );
      const token = String(issued.body.access_token);
      assert.equal((await app.api('GET', '/api/clients', undefined, token)).status, 200);
      await app.revoke(token, admin);
      assert.equal((await app.api('GET', '/api/clients', undefined, token)).status, 401);
    });
  });

  describe('users', () => {
    it('creates a user with a generated id, or with the id given', async () => {
      const generated = await app.api('POST', '/api/users', { username: 'carol', email: 'carol@example.com' });
      assert.equal(generated.status, 201);
      assert.match(String(generated.body.id), /^usr_[0-9A-Za-z]{16}$/);
      assert.equal(generated.body.email, 'carol@example.com');
      assert.equal(generated.body.disabled, false);
      const given = await app.api('POST', '/api/users', { id: 'ext-42', username: 'dave' });
      assert.equal(given.status, 201);
      assert.equal(given.body.id, 'ext-42');
      assert.equal((await app.api('GET', '/api/users/ext-42')).body.username, 'dave');
    });

    it('answers 409 for a taken username or id', async () => {
      await app.api('POST', '/api/users', { id: 'dup-id', username: 'erin' });
      const byName = await app.api('POST', '/api/users', { username: 'erin' });
      assert.equal(byName.status, 409);
      assert.equal(byName.body.error, 'conflict');
      const byId = await app.api('POST', '/api/users', { id: 'dup-id', username: 'frank' });
      assert.equal(byId.status, 409);
    });

    it('answers 404 for an unknown user', async () => {
      const res = await app.api('GET', '/api/users/nobody');
      assert.equal(res.status, 404);
      assert.equal(res.body.error, 'not_found');
      assert.equal((await app.api('PATCH', '/api/users/nobody', { disabled: true })).status, 404);
    });

    it('names the field in validation errors and rejects unknown fields', async () => {
      const badEmail = await app.api('POST', '/api/users', { username: 'gina', email: 'not-an-email' });
      assert.equal(badEmail.status, 400);
      assert.equal(badEmail.body.error, 'invalid_request');
      assert.match(String(badEmail.body.error_description), /^email: /);
      const unknown = await app.api('POST', '/api/users', { username: 'gina', admin: true });
      assert.equal(unknown.status, 400);
      assert.match(String(unknown.body.error_description), /unknown field: admin/);
      const patch = await app.api('PATCH', '/api/users/ext-42', { disabled: 'yes' });
      assert.equal(patch.status, 400);
      assert.match(String(patch.body.error_description), /^disabled: /);
    });
  });

  describe('tokens', () => {
    let userId: string;
    before(async () => {
      userId = await app.createUser();
    });

    it('returns the value exactly once, at creation, in the PAT format', async () => {
      const res = await app.api('POST', `/api/users/${userId}/tokens`, {
        name: '  laptop  ',
        description: 'my laptop',
        scopes: ['read', 'write', 'read'],
      });
      assert.equal(res.status, 201);
      assert.match(String(res.body.token), /^pat_[0-9A-Za-z]{42}$/);
      assert.match(String(res.body.id), /^tok_[0-9A-Za-z]{20}$/);
      assert.equal(res.body.name, 'laptop');
      assert.deepEqual(res.body.scopes, ['read', 'write']);
      const days = (Date.parse(String(res.body.expires_at)) - Date.now()) / 86_400_000;
      assert.ok(days > 29.9 && days <= 30, 'the default lifetime is 30 days');
      assert.equal(typeof res.body.created_at, 'string');
      assert.equal(res.headers.get('cache-control'), 'no-store');

      const token = String(res.body.token);
      const hash = createHash('sha256').update(token).digest('hex');
      const list = await app.api('GET', `/api/users/${userId}/tokens`);
      assert.equal(list.status, 200);
      assert.equal(list.text.includes(token), false);
      assert.equal(list.text.includes(hash), false);
      assert.equal(list.text.includes('"token"'), false);
    });

    it('stores only the SHA-256 hash of the value', async () => {
      const pat = await app.createPat(userId);
      const conn = await mongoose.createConnection(`${services().mongo.url}/${app.dbName}`).asPromise();
      try {
        const doc = await conn.db!.collection('personal_access_tokens').findOne({ _id: pat.id as never });
        assert.ok(doc);
        assert.equal(doc.token_hash, createHash('sha256').update(pat.token).digest('hex'));
        assert.equal(JSON.stringify(doc).includes(pat.token), false);
      } finally {
        await conn.close();
      }
    });

    it('lists a user’s tokens newest first, with their status', async () => {
      const other = await app.createUser();
      const first = await app.createPat(other, { name: 'first' });
      app.clock.advance(1000);
      const second = await app.createPat(other, { name: 'second' });
      app.clock.advance(-1000);
      await app.api('DELETE', `/api/users/${other}/tokens/${first.id}`);
      const list = await app.api('GET', `/api/users/${other}/tokens`);
      const rows = list.body.data as Row[];
      assert.deepEqual(
        rows.map((r) => r.id),
        [second.id, first.id],
      );
      assert.deepEqual(
        rows.map((r) => r.status),
        ['active', 'revoked'],
      );
    });

    it('keeps names unique per user among live tokens only', async () => {
      const u = await app.createUser();
      const a = await app.createPat(u, { name: 'deploy' });
      const dup = await app.api('POST', `/api/users/${u}/tokens`, { name: 'deploy', scopes: [] });
      assert.equal(dup.status, 409);
      assert.equal(dup.body.error, 'conflict');
      const otherUser = await app.createUser();
      assert.equal(
        (await app.api('POST', `/api/users/${otherUser}/tokens`, { name: 'deploy', scopes: [] })).status,
        201,
      );
      await app.api('DELETE', `/api/users/${u}/tokens/${a.id}`);
      assert.equal((await app.api('POST', `/api/users/${u}/tokens`, { name: 'deploy', scopes: [] })).status, 201);
    });

    it('frees the name of an expired token', async () => {
      const u = await app.createUser();
      await app.createPat(u, { name: 'nightly', expires_at: new Date(Date.now() + 60_000).toISOString() });
      app.clock.advance(120_000);
      try {
        const again = await app.api('POST', `/api/users/${u}/tokens`, { name: 'nightly', scopes: [] });
        assert.equal(again.status, 201, again.text);
      } finally {
        app.clock.advance(-120_000);
      }
    });

    it('refuses an expiry in the past, bad scopes, bad names and bad resources, naming the field', async () => {
      const cases: Array<[Row, RegExp]> = [
        [
          { name: 'x', scopes: [], expires_at: new Date(Date.now() - 1000).toISOString() },
          /^expires_at must be in the future/,
        ],
        [{ name: 'x', scopes: [], expires_at: 'tomorrow' }, /^expires_at: /],
        [{ name: 'x', scopes: ['has space'] }, /^scopes\.0: /],
        [{ name: 'x', scopes: 'read' }, /^scopes: /],
        [{ name: '   ', scopes: [] }, /^name: /],
        [{ name: 'x'.repeat(101), scopes: [] }, /^name: /],
        [{ name: 'tab\there', scopes: [] }, /^name: /],
        [{ name: 'x', scopes: [], resource: 'not a uri' }, /^resource: /],
        [{ name: 'x', scopes: [], resource: 'https://api.example.com/#frag' }, /^resource: /],
        [{ scopes: [] }, /^name: /],
        [{ name: 'x' }, /^scopes: /],
      ];
      for (const [body, description] of cases) {
        const res = await app.api('POST', `/api/users/${userId}/tokens`, body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(res.body.error, 'invalid_request');
        assert.match(String(res.body.error_description), description, JSON.stringify(body));
      }
    });

    it('refuses tokens for unknown and disabled users', async () => {
      assert.equal((await app.api('POST', '/api/users/ghost/tokens', { name: 'x', scopes: [] })).status, 404);
      const u = await app.createUser();
      await app.api('PATCH', `/api/users/${u}`, { disabled: true });
      const res = await app.api('POST', `/api/users/${u}/tokens`, { name: 'x', scopes: [] });
      assert.equal(res.status, 400);
      assert.match(String(res.body.error_description), /disabled/);
    });

    it('deletes (revokes) only the user’s own token; 404 otherwise; idempotent', async () => {
      const u1 = await app.createUser();
      const u2 = await app.createUser();
      const pat = await app.createPat(u1);
      assert.equal((await app.api('DELETE', `/api/users/${u2}/tokens/${pat.id}`)).status, 404);
      assert.equal((await app.introspect(pat.token)).body.active, true);
      assert.equal((await app.api('DELETE', `/api/users/${u1}/tokens/tok_unknownunknownunkn`)).status, 404);
      assert.equal((await app.api('DELETE', `/api/users/${u1}/tokens/${pat.id}`)).status, 204);
      assert.equal((await app.api('DELETE', `/api/users/${u1}/tokens/${pat.id}`)).status, 204);
      assert.deepEqual((await app.introspect(pat.token)).body, { active: false });
    });
  });

  describe('clients', () => {
    it('returns the secret once, lists clients without it, deletes them', async () => {
      const created = await app.api('POST', '/api/clients', { client_name: 'orders service' });
      assert.equal(created.status, 201);
      const secret = String(created.body.client_secret);
      assert.ok(secret.length >= 43);
      const list = await app.api('GET', '/api/clients');
      assert.equal(list.text.includes(secret), false);
      const row = (list.body.data as Row[]).find((c) => c.client_id === created.body.client_id);
      assert.equal(row?.client_name, 'orders service');
      assert.equal(row?.token_endpoint_auth_method, 'client_secret_basic');
      assert.equal((await app.api('DELETE', `/api/clients/${String(created.body.client_id)}`)).status, 204);
      assert.equal((await app.api('DELETE', `/api/clients/${String(created.body.client_id)}`)).status, 404);
      const client = { clientId: String(created.body.client_id), clientSecret: secret };
      const res = await app.introspect('whatever', client);
      assert.equal(res.status, 401);
      assert.equal(res.body.error, 'invalid_client');
    });

    it('requires jwks for private_key_jwt and validates the metadata', async () => {
      const res = await app.api('POST', '/api/clients', { token_endpoint_auth_method: 'private_key_jwt' });
      assert.equal(res.status, 400);
      assert.match(String(res.body.error_description), /jwks/);
      const bad = await app.api('POST', '/api/clients', { token_endpoint_auth_method: 'none' });
      assert.equal(bad.status, 400);
      assert.match(String(bad.body.error_description), /^token_endpoint_auth_method: /);
    });
  });

  describe('what the web console needs', () => {
    it('publishes the token policy, without authentication', async () => {
      const res = await app.api('GET', '/api/policy', undefined, null);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, {
        max_lifetime_days: 365,
        default_lifetime_days: 30,
        max_tokens_per_user: 100,
        max_grace_seconds: 86_400,
      });
    });

    it('searches users by part of their id, username or email, case-insensitively, regex characters literal', async () => {
      const tag = Math.random().toString(36).slice(2, 8);
      const a = await app.api('POST', '/api/users', { username: `Search.${tag}.one`, email: `one-${tag}@example.com` });
      const b = await app.api('POST', '/api/users', { id: `srch-${tag}`, username: `other-${tag}` });
      await app.api('POST', '/api/users', { username: `unrelated-${tag.split('').reverse().join('')}` });
      const ids = async (q: string) =>
        ((await app.api('GET', `/api/users?q=${encodeURIComponent(q)}`)).body.data as Row[]).map((u) => u.id).sort();
      assert.deepEqual(await ids(`SEARCH.${tag.toUpperCase()}`), [a.body.id]);
      assert.deepEqual(await ids(`one-${tag}@EXAMPLE`), [a.body.id]);
      assert.deepEqual(await ids(`srch-${tag}`), [b.body.id]);
      assert.deepEqual(await ids(`${tag}`), [a.body.id, b.body.id].sort());
      assert.deepEqual(await ids(`search.${tag}.*`), [], 'a dot and a star are themselves, not a pattern');
      assert.equal((await app.api('GET', '/api/users?q=')).status, 400);
      const page = await app.api('GET', `/api/users?q=${tag}&limit=1`);
      assert.equal((page.body.data as Row[]).length, 1);
      const next = await app.api('GET', `/api/users?q=${tag}&limit=1&cursor=${String(page.body.next_cursor)}`);
      assert.equal((next.body.data as Row[]).length, 1);
      assert.notEqual((next.body.data as Row[])[0]?.id, (page.body.data as Row[])[0]?.id);
    });

    it('finds tokens created before an instant (so that "unused for N days" leaves new tokens out)', async () => {
      const userId = await app.createUser();
      const old = await app.createPat(userId);
      app.clock.advance(10 * 86_400_000);
      try {
        const fresh = await app.createPat(userId);
        const cutoff = new Date(app.clock.now().getTime() - 5 * 86_400_000).toISOString();
        const found = await app.api('GET', `/api/tokens?user_id=${userId}&created_before=${cutoff}`);
        assert.deepEqual(
          (found.body.data as Row[]).map((t) => t.id),
          [old.id],
        );
        const all = await app.api('GET', `/api/tokens?user_id=${userId}`);
        assert.deepEqual(
          (all.body.data as Row[]).map((t) => t.id),
          [fresh.id, old.id],
        );
      } finally {
        app.clock.advance(-10 * 86_400_000);
      }
    });

    it('audits client registration and deletion', async () => {
      const created = await app.api('POST', '/api/clients', { client_name: 'audited' });
      const clientId = String(created.body.client_id);
      await app.api('DELETE', `/api/clients/${clientId}`);
      const registered = await app.api('GET', '/api/audit?type=client.registered');
      const deleted = await app.api('GET', '/api/audit?type=client.deleted');
      const find = (res: typeof registered) =>
        (res.body.data as Row[]).find((e) => (e.details as Row).client_id === clientId);
      assert.equal(find(registered)?.actor, `admin:${app.config.adminClient.clientId}`);
      assert.equal((find(registered)?.details as Row).client_name, 'audited');
      assert.equal(find(deleted)?.via, 'admin_api');
      assert.ok(!registered.text.includes(String(created.body.client_secret)));
    });
  });

  describe('request hygiene', () => {
    it('answers malformed JSON with 400 invalid_request', async () => {
      const res = await app.api('POST', '/api/users', '{"username": ');
      assert.equal(res.status, 400);
      assert.equal(res.body.error, 'invalid_request');
      assert.match(String(res.body.error_description), /not valid JSON/);
    });

    it('answers a non-JSON content type with 415', async () => {
      const res = await fetch(`${app.url}/api/users`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${await app.adminToken()}`, 'Content-Type': 'text/plain' },
        body: '{"username":"x"}',
      });
      assert.equal(res.status, 415);
      assert.equal(((await res.json()) as Row).error, 'invalid_request');
    });

    it('answers a body over 16 KiB with 413', async () => {
      const res = await app.api('POST', '/api/users', { username: 'x', email: `${'a'.repeat(20_000)}@example.com` });
      assert.equal(res.status, 413);
      assert.equal(res.body.error, 'invalid_request');
    });

    it('answers a body that is not valid UTF-8 with 400', async () => {
      const res = await fetch(`${app.url}/api/users`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${await app.adminToken()}`, 'Content-Type': 'application/json' },
        body: Buffer.concat([Buffer.from('{"username":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]),
      });
      assert.equal(res.status, 400);
      assert.match(((await res.json()) as Record<string, string>).error_description!, /UTF-8/);
    });

    it('answers a JSON value that is not an object with 400', async () => {
      for (const body of ['[]', '"x"', 'null', '42']) {
        const res = await app.api('POST', '/api/users', body);
        assert.equal(res.status, 400, body);
        assert.equal(res.body.error, 'invalid_request');
      }
    });

    it('answers unknown routes with 404 and wrong methods with 405', async () => {
      const missing = await app.api('GET', '/api/nothing-here');
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error, 'not_found');
      const wrong = await app.api('PUT', '/api/clients', {});
      assert.equal(wrong.status, 405);
      assert.match(String(wrong.headers.get('allow')), /GET/);
    });
  });
});

import assert from 'node:assert/strict';

import { TEST_SCOPES, startApp, type TestApp } from './support/app.ts';

describe('token policies', () => {
  let app: TestApp;
  before(async () => {
    app = await startApp({
      env: { MAX_TOKENS_PER_USER: '3', TOKEN_MAX_LIFETIME_DAYS: '90', TOKEN_DEFAULT_LIFETIME_DAYS: '7' },
    });
  });
  after(() => app.close());

  describe('scope catalogue', () => {
    it('is published at GET /api/scopes without authentication', async () => {
      const res = await fetch(`${app.url}/api/scopes`);
      assert.equal(res.status, 200);
      const body = (await res.json()) as { data: Array<{ name: string; description: string }> };
      assert.deepEqual(
        body.data,
        Object.entries(TEST_SCOPES).map(([name, description]) => ({ name, description })),
      );
    });

    it('rejects unknown scopes with invalid_scope, naming them', async () => {
      const u = await app.createUser();
      const res = await app.api('POST', `/api/users/${u}/tokens`, { name: 'x', scopes: ['read', 'sudo', 'root'] });
      assert.equal(res.status, 400);
      assert.equal(res.body.error, 'invalid_scope');
      assert.match(String(res.body.error_description), /unknown scopes: sudo, root/);
    });

    it('defaults to read, write and tokens:manage', async () => {
      const plain = await startApp({ env: { SCOPES: '' } });
      try {
        const res = await fetch(`${plain.url}/api/scopes`);
        const names = ((await res.json()) as { data: Array<{ name: string }> }).data.map((s) => s.name);
        assert.deepEqual(names, ['read', 'write', 'tokens:manage']);
      } finally {
        await plain.close();
      }
    });
  });

  describe('lifetimes', () => {
    it('applies the default lifetime when none is given', async () => {
      const res = await app.api('POST', `/api/users/${await app.createUser()}/tokens`, { name: 'x', scopes: [] });
      const days = (Date.parse(String(res.body.expires_at)) - Date.now()) / 86_400_000;
      assert.ok(days > 6.99 && days <= 7, String(days));
    });

    it('refuses an expiry beyond the maximum lifetime, naming expires_at', async () => {
      const res = await app.api('POST', `/api/users/${await app.createUser()}/tokens`, {
        name: 'x',
        scopes: [],
        expires_at: new Date(Date.now() + 91 * 86_400_000).toISOString(),
      });
      assert.equal(res.status, 400);
      assert.match(String(res.body.error_description), /^expires_at must be within 90 days/);
    });

    it('refuses a token that never expires unless the maximum lifetime is 0', async () => {
      const res = await app.api('POST', `/api/users/${await app.createUser()}/tokens`, {
        name: 'x',
        scopes: [],
        expires_at: null,
      });
      assert.equal(res.status, 400);
      assert.match(String(res.body.error_description), /^expires_at: tokens must expire/);
      const unlimited = await startApp({ env: { TOKEN_MAX_LIFETIME_DAYS: '0' } });
      try {
        const ok = await unlimited.api('POST', `/api/users/${await unlimited.createUser()}/tokens`, {
          name: 'x',
          scopes: [],
          expires_at: null,
        });
        assert.equal(ok.status, 201);
        assert.equal(ok.body.expires_at, null);
      } finally {
        await unlimited.close();
      }
    });
  });

  describe('live tokens per user', () => {
    it('refuses the token over the limit with 409 limit_exceeded; revoking frees a place', async () => {
      const u = await app.createUser();
      const made = [await app.createPat(u), await app.createPat(u), await app.createPat(u)];
      const over = await app.api('POST', `/api/users/${u}/tokens`, { name: 'fourth', scopes: [] });
      assert.equal(over.status, 409);
      assert.equal(over.body.error, 'limit_exceeded');
      await app.api('DELETE', `/api/users/${u}/tokens/${made[0]!.id}`);
      assert.equal((await app.api('POST', `/api/users/${u}/tokens`, { name: 'fourth', scopes: [] })).status, 201);
    });

    it('does not count expired tokens', async () => {
      const u = await app.createUser();
      for (let i = 0; i < 3; i++) await app.createPat(u, { expires_at: new Date(Date.now() + 60_000).toISOString() });
      app.clock.advance(120_000);
      try {
        assert.equal((await app.api('POST', `/api/users/${u}/tokens`, { name: 'after', scopes: [] })).status, 201);
      } finally {
        app.clock.advance(-120_000);
      }
    });

    it('holds under concurrent creations', async () => {
      const u = await app.createUser();
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) => app.api('POST', `/api/users/${u}/tokens`, { name: `t${i}`, scopes: [] })),
      );
      const created = results.filter((r) => r.status === 201).length;
      assert.equal(created, 3, results.map((r) => `${r.status} ${JSON.stringify(r.body.error)}`).join(', '));
      for (const r of results) if (r.status !== 201) assert.equal(r.body.error, 'limit_exceeded');
      const live = await app.api('GET', `/api/users/${u}/tokens?status=active`);
      assert.equal((live.body.data as unknown[]).length, 3);
    });

    it('keeps names unique under concurrent creations', async () => {
      const u = await app.createUser();
      const results = await Promise.all(
        Array.from({ length: 6 }, () => app.api('POST', `/api/users/${u}/tokens`, { name: 'same', scopes: [] })),
      );
      assert.equal(results.filter((r) => r.status === 201).length, 1);
      for (const r of results) if (r.status !== 201) assert.equal(r.body.error, 'conflict');
    });
  });
});

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

import { StoreUnavailableError, type Storage } from '../adapters/types.ts';
import { startApp, type TestApp } from './support/app.ts';
import { eventually } from './support/eventually.ts';

type Row = Record<string, unknown>;

describe('audit log', () => {
  let app: TestApp;
  let userId: string;
  const values: string[] = [];

  before(async () => {
    app = await startApp();
    userId = await app.createUser();
  });
  after(() => app.close());

  const events = async (query: string) => {
    const res = await app.api('GET', `/api/audit?${query}`);
    assert.equal(res.status, 200, res.text);
    return res.body.data as Row[];
  };
  const admin = () => `admin:${app.config.adminClient.clientId}`;

  it('records creation, rename, expiry shortening, rotation and revocation, with who and how', async () => {
    const pat = await app.createPat(userId, {
      name: 'audited',
      expires_at: new Date(Date.now() + 86_400_000).toISOString(),
    });
    values.push(pat.token);
    await app.api('PATCH', `/api/users/${userId}/tokens/${pat.id}`, {
      name: 'audited again',
      expires_at: new Date(Date.now() + 3_600_000).toISOString(),
    });
    const rotated = await app.api('POST', `/api/users/${userId}/tokens/${pat.id}/rotate`, {});
    values.push(String(rotated.body.token));
    await app.revoke(String(rotated.body.token));

    const log = await events(`token_id=${pat.id}`);
    assert.deepEqual(
      log.map((e) => e.type),
      ['token.revoked', 'token.rotated', 'token.expiry_shortened', 'token.renamed', 'token.created'],
    );
    const byType: Record<string, Row> = Object.fromEntries(log.map((e) => [String(e.type), e]));
    assert.equal(byType['token.created']?.actor, admin());
    assert.equal(byType['token.created']?.via, 'admin_api');
    assert.deepEqual((byType['token.renamed']?.details as Row).to, 'audited again');
    assert.equal(byType['token.revoked']?.actor, `client:${app.rs.clientId}`);
    assert.equal(byType['token.revoked']?.via, 'revocation_endpoint');
    for (const e of log) assert.equal(e.user_id, userId);
  });

  it('records users disabled, enabled and deleted', async () => {
    const u = await app.createUser();
    await app.api('PATCH', `/api/users/${u}`, { disabled: true });
    await app.api('PATCH', `/api/users/${u}`, { disabled: false });
    await app.api('DELETE', `/api/users/${u}`);
    const log = await events(`user_id=${u}`);
    assert.deepEqual(
      log.map((e) => e.type),
      ['user.deleted', 'user.enabled', 'user.disabled', 'user.created'],
    );
  });

  it('filters by type and time range, and pages', async () => {
    const from = new Date(Date.now() - 60_000).toISOString();
    const created = await events(`type=token.created&from=${from}&limit=1`);
    assert.equal(created.length, 1);
    const future = await events(`from=${new Date(Date.now() + 60_000).toISOString()}`);
    assert.equal(future.length, 0);
    const page1 = await app.api('GET', '/api/audit?limit=2');
    const page2 = await app.api('GET', `/api/audit?limit=2&cursor=${String(page1.body.next_cursor)}`);
    const ids = [...(page1.body.data as Row[]), ...(page2.body.data as Row[])].map((e) => e.id);
    assert.equal(new Set(ids).size, 4);
    assert.equal((await app.api('GET', '/api/audit?type=token.exploded')).status, 400);
  });

  it('never holds a token value or hash', async () => {
    const all = JSON.stringify(await events('limit=200'));
    for (const v of values) {
      assert.equal(all.includes(v), false);
      assert.equal(all.includes(createHash('sha256').update(v).digest('hex')), false);
    }
  });

  it('is for admins only', async () => {
    const pat = await app.createPat(userId, { scopes: ['tokens:manage'] });
    assert.equal((await app.api('GET', '/api/audit', undefined, pat.token)).status, 403);
  });

  it('keeps an event whose write failed after its change was committed, and writes it when MongoDB answers again', async () => {
    const audit = { down: false };
    const flaky = await startApp({
      wrapStorage: (s: Storage) => ({
        ...s,
        audit: {
          ...s.audit,
          insert: (event) =>
            audit.down
              ? Promise.reject(new StoreUnavailableError('audit store down (injected)'))
              : s.audit.insert(event),
        },
      }),
    });
    try {
      const user = await flaky.createUser();
      audit.down = true;
      const res = await flaky.api('POST', `/api/users/${user}/tokens`, { name: 'audit-deferred', scopes: [] });
      // The token exists: the caller gets it, rather than an error for a change that happened.
      assert.equal(res.status, 201, res.text);
      assert.equal((await flaky.introspect(String(res.body.token))).body.active, true);
      assert.equal(flaky.tw.services.audit.pending(), 1);
      audit.down = false;
      await eventually(async () => flaky.tw.services.audit.pending() === 0, 5000);
      const stored = await flaky.api('GET', `/api/audit?type=token.created&token_id=${String(res.body.id)}`);
      assert.equal((stored.body.data as Row[]).length, 1, stored.text);
    } finally {
      await flaky.close();
    }
  });
});

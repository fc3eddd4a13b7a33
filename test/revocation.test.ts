import assert from 'node:assert/strict';

import { Redis } from 'ioredis';

import { basic, cacheBody, startApp, type TestApp } from './support/app.ts';
import { services } from './support/hooks.ts';

describe('POST /revoke (RFC 7009)', () => {
  let app: TestApp;
  let userId: string;
  let redis: Redis;

  before(async () => {
    app = await startApp();
    userId = await app.createUser();
    redis = new Redis(services().redis.url);
  });
  after(async () => {
    redis.disconnect();
    await app.close();
  });

  it('revokes a PAT presented by a resource server, effective in the answer that follows', async () => {
    const pat = await app.createPat(userId);
    assert.equal((await app.introspect(pat.token)).body.active, true);
    const res = await app.revoke(pat.token);
    assert.equal(res.status, 200);
    assert.equal(res.text, '');
    assert.deepEqual((await app.introspect(pat.token)).body, { active: false });
    const listed = await app.api('GET', `/api/users/${userId}/tokens`);
    const row = (listed.body.data as Array<Record<string, unknown>>).find((t) => t.id === pat.id)!;
    assert.equal(row.status, 'revoked');
    assert.equal(typeof row.revoked_at, 'string');
  });

  it('replaces the cached answer before responding, so every instance sees the revocation', async () => {
    const pat = await app.createPat(userId);
    await app.introspect(pat.token); // warms the shared cache
    const key = `tw:pat:${app.tw.services.format.hash(pat.token)}`;
    assert.match(String(cacheBody(await redis.get(key))), /^\{/);
    await app.revoke(pat.token);
    assert.equal(cacheBody(await redis.get(key)), 'revoked');
  });

  it('lets any authenticated client revoke a PAT it presents (leaked-token policy)', async () => {
    const other = await app.api('POST', '/api/clients', { client_name: 'another resource server' });
    const client = { clientId: String(other.body.client_id), clientSecret: String(other.body.client_secret) };
    const pat = await app.createPat(userId);
    assert.equal((await app.revoke(pat.token, client)).status, 200);
    assert.deepEqual((await app.introspect(pat.token)).body, { active: false });
  });

  it('answers 200 for unknown, malformed and already revoked tokens', async () => {
    const pat = await app.createPat(userId);
    await app.revoke(pat.token);
    for (const token of [pat.token, app.tw.services.format.generate(), 'pat_garbage', 'opaque-nonsense']) {
      const res = await app.revoke(token);
      assert.equal(res.status, 200, token);
    }
  });

  it('requires client authentication: none at all is 401 invalid_client (RFC 6749 §5.2)', async () => {
    const pat = await app.createPat(userId);
    const res = await app.form('/revoke', { token: pat.token });
    assert.equal(res.status, 401);
    assert.equal(res.body.error, 'invalid_client');
    assert.equal((await app.introspect(pat.token)).body.active, true);
  });

  it('revokes an OAuth access token for the client it was issued to', async () => {
    const issued = await app.form('/token', { grant_type: 'client_credentials' }, { Authorization: basic(app.rs) });
    const token = String(issued.body.access_token);
    assert.equal((await app.introspect(token)).body.active, true);
    assert.equal((await app.revoke(token)).status, 200);
    assert.deepEqual((await app.introspect(token)).body, { active: false });
  });

  it("refuses to revoke another client's OAuth access token", async () => {
    const issued = await app.form('/token', { grant_type: 'client_credentials' }, { Authorization: basic(app.rs) });
    const token = String(issued.body.access_token);
    const other = await app.api('POST', '/api/clients', {});
    const client = { clientId: String(other.body.client_id), clientSecret: String(other.body.client_secret) };
    const res = await app.revoke(token, client);
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'invalid_request');
    assert.equal((await app.introspect(token)).body.active, true);
  });
});

/**
 * OAuth access tokens from `/token` answered at PAT speed: through the same in-process and shared caches as PATs
 * (server/pats/oauth-lookup.ts), with the same guarantees: revocation, deleting the client and expiry end the cached
 * answer before the response on the instance that did it, and on every other instance within a second.
 */
import assert from 'node:assert/strict';

import { basic, startApp, type TestApp } from './support/app.ts';
import { eventually } from './support/eventually.ts';

describe('OAuth access tokens through the token caches', () => {
  let a: TestApp;
  let b: TestApp;
  before(async () => {
    a = await startApp({ env: { ACCESS_TOKEN_TTL_SECONDS: '120' } });
    const uri = a.config.storage.kind === 'mongodb' ? a.config.storage.uri : '';
    b = await startApp({ env: { MONGODB_URI: uri, ACCESS_TOKEN_TTL_SECONDS: '120' } });
  });
  after(async () => {
    await b.close();
    await a.close();
  });

  const issue = async (client = a.rs) => {
    const res = await a.form('/token', { grant_type: 'client_credentials' }, { Authorization: basic(client) });
    assert.equal(res.status, 200, res.text);
    return String(res.body.access_token);
  };
  /** Introspects on `app` until the answer comes from memory (the invalidation subscription may still be starting). */
  const warm = (app: TestApp, token: string) =>
    eventually(async () => {
      await app.introspect(token, a.rs);
      app.counter.reset();
      const res = await app.introspect(token, a.rs);
      return res.body.active === true && app.counter.total('redis.get') === 0 && app.counter.total('mongo.oidc') === 0;
    });
  const inactiveOn = (app: TestApp, token: string) => async () =>
    (await app.introspect(token, a.rs)).body.active === false;

  it('answers a warm token from memory, without Redis or MongoDB', async () => {
    const token = await issue();
    await warm(a, token);
    a.counter.reset();
    const res = await a.introspect(token);
    assert.equal(res.body.active, true);
    assert.equal(a.counter.total('mongo.oidc'), 0, 'no token or client read from MongoDB');
    assert.equal(a.counter.total('redis.get'), 0, 'no Redis read');
  });

  it('ends a revoked token at once on the revoking instance, and within a second on the other', async () => {
    const token = await issue();
    await warm(a, token);
    await warm(b, token);
    assert.equal((await a.revoke(token)).status, 200);
    assert.deepEqual((await a.introspect(token)).body, { active: false });
    await eventually(inactiveOn(b, token), 1000);
  });

  it('ends every token of a deleted client, on every instance', async () => {
    const registered = await a.api('POST', '/api/clients', { client_name: 'to be deleted' });
    const client = { clientId: String(registered.body.client_id), clientSecret: String(registered.body.client_secret) };
    const tokens = [await issue(client), await issue(client)];
    for (const token of tokens) {
      await warm(a, token);
      await warm(b, token);
    }
    assert.equal((await a.api('DELETE', `/api/clients/${client.clientId}`)).status, 204);
    for (const token of tokens) {
      assert.deepEqual((await a.introspect(token)).body, { active: false });
      await eventually(inactiveOn(b, token), 1000);
    }
  });

  it('ends a token at its expiry, cached or not (clock moved, no sleep)', async () => {
    const token = await issue();
    await warm(a, token);
    a.clock.advance(121_000);
    try {
      assert.deepEqual((await a.introspect(token)).body, { active: false });
    } finally {
      a.clock.advance(-121_000);
    }
  });
});

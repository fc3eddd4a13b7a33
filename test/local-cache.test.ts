import assert from 'node:assert/strict';

import { startApp, type TestApp } from './support/app.ts';
import { eventually } from './support/eventually.ts';

/** The in-process LRU in front of Redis, invalidated on every instance through Redis pub/sub. */
describe('the in-process cache', () => {
  let a: TestApp;
  let b: TestApp;
  let userId: string;

  before(async () => {
    a = await startApp();
    const uri = a.config.storage.kind === 'mongodb' ? a.config.storage.uri : '';
    b = await startApp({ env: { MONGODB_URI: uri } });
    userId = await a.createUser();
  });
  after(async () => {
    await b.close();
    await a.close();
  });

  /** Introspects on `app` until the answer comes from memory (the subscription may still be starting). */
  async function warm(app: TestApp, token: string) {
    await eventually(async () => {
      await app.introspect(token, a.rs);
      app.counter.reset();
      await app.introspect(token, a.rs);
      return app.counter.total('redis.get') === 0;
    });
  }

  it('answers a hot PAT without any Redis or MongoDB round trip', async () => {
    const pat = await a.createPat(userId);
    await warm(a, pat.token);
    a.counter.reset();
    assert.equal((await a.introspect(pat.token)).body.active, true);
    assert.equal(a.counter.total('redis.get'), 0);
    assert.equal(a.counter.total('mongo.pats') + a.counter.total('mongo.users'), 0);
  });

  it('drops a revoked PAT on another instance within 1 second, in 100 of 100 trials', async function () {
    this.timeout(120_000);
    const inactive = (token: string) => async () => (await b.introspect(token, a.rs)).body.active === false;
    for (let i = 0; i < 100; i++) {
      const pat = await a.createPat(userId, { name: `trial ${i}` });
      await warm(b, pat.token);
      assert.equal((await a.revoke(pat.token)).status, 200);
      // The guarantee is the bound: the other instance answers inactive within a second of the revocation.
      await eventually(inactive(pat.token), 1000).catch(() => assert.fail(`trial ${i}: still active after 1 s`));
    }
  });

  it('drops the entries of a disabled user, and of a rotated-out value, everywhere', async () => {
    const u = await a.createUser();
    const pat = await a.createPat(u);
    await warm(b, pat.token);
    const inactiveOnB = (token: string) => async () => (await b.introspect(token, a.rs)).body.active === false;
    await a.api('PATCH', `/api/users/${u}`, { disabled: true });
    await eventually(inactiveOnB(pat.token), 1000);
    await a.api('PATCH', `/api/users/${u}`, { disabled: false });
    await warm(b, pat.token);
    const rotated = await a.api('POST', `/api/users/${u}/tokens/${pat.id}/rotate`, {});
    await eventually(inactiveOnB(pat.token), 1000);
    assert.equal((await b.introspect(String(rotated.body.token), a.rs)).body.active, true);
  });

  it('remembers unknown well-formed values, so guesses do not reach MongoDB', async () => {
    const guess = a.tw.services.format.generate();
    assert.deepEqual((await a.introspect(guess)).body, { active: false });
    a.counter.reset();
    for (let i = 0; i < 20; i++) assert.deepEqual((await a.introspect(guess)).body, { active: false });
    assert.equal(a.counter.total('mongo.pats'), 0);
  });
});

import assert from 'node:assert/strict';

import { StoreUnavailableError, type Storage } from '../adapters/types.ts';
import { startApp, type TestApp } from './support/app.ts';
import { eventually } from './support/eventually.ts';

describe('last used', () => {
  let app: TestApp;
  let userId: string;
  before(async () => {
    app = await startApp();
    userId = await app.createUser();
  });
  after(() => app.close());

  it('records when and by which resource server a token was last introspected', async () => {
    const pat = await app.createPat(userId);
    const before = await app.api('GET', `/api/users/${userId}/tokens/${pat.id}`);
    assert.equal(before.body.last_used_at, null);
    assert.equal(before.body.last_used_client, null);
    await app.introspect(pat.token);
    const used = async () => (await app.api('GET', `/api/users/${userId}/tokens/${pat.id}`)).body.last_used_at !== null;
    await eventually(used); // recorded in the background, off the request's critical path
    const after = await app.api('GET', `/api/users/${userId}/tokens/${pat.id}`);
    assert.ok(Math.abs(Date.parse(String(after.body.last_used_at)) - Date.now()) < 60_000);
    assert.equal(after.body.last_used_client, app.rs.clientId);
  });

  it('writes at most once per token per minute, however many introspections', async () => {
    const pat = await app.createPat(userId);
    app.counter.reset();
    for (let i = 0; i < 50; i++) assert.equal((await app.introspect(pat.token)).body.active, true);
    assert.equal(app.counter.counts.get('mongo.pats.touchLastUsed'), 1);

    app.clock.advance(61_000);
    try {
      await app.introspect(pat.token);
      await app.introspect(pat.token);
    } finally {
      app.clock.advance(-61_000);
    }
    assert.equal(app.counter.counts.get('mongo.pats.touchLastUsed'), 2);
  });

  it('does not retry a failed write before the interval is over (a slow store is not sent one per request)', async () => {
    const attempts = { count: 0 };
    const slow = await startApp({
      wrapStorage: (s: Storage) => ({
        ...s,
        pats: {
          ...s.pats,
          touchLastUsed: () => {
            attempts.count++;
            return Promise.reject(new StoreUnavailableError('timed out (injected)'));
          },
        },
      }),
    });
    try {
      const pat = await slow.createPat(await slow.createUser());
      for (let i = 0; i < 20; i++) assert.equal((await slow.introspect(pat.token)).body.active, true);
      assert.equal(attempts.count, 1);
      const errors = async () =>
        Number(
          /^tokenwarden_store_errors_total\{store="mongodb"\} (\d+)$/m.exec(
            await (await fetch(`${slow.url}/metrics`)).text(),
          )?.[1],
        );
      assert.equal(await errors(), 1, 'the failure is counted');
      slow.clock.advance(61_000);
      try {
        await slow.introspect(pat.token);
      } finally {
        slow.clock.advance(-61_000);
      }
      assert.equal(attempts.count, 2, 'tried again once the interval is over');
    } finally {
      await slow.close();
    }
  });

  it('does not count a revocation as a use', async () => {
    const pat = await app.createPat(userId);
    await app.revoke(pat.token);
    const res = await app.api('GET', `/api/users/${userId}/tokens/${pat.id}`);
    assert.equal(res.body.last_used_at, null);
  });

  it('writes once per minute across instances sharing the database', async () => {
    const pat = await app.createPat(userId);
    const second = await startApp({
      env: { MONGODB_URI: app.config.storage.kind === 'mongodb' ? app.config.storage.uri : '' },
    });
    try {
      await app.introspect(pat.token);
      await eventually(
        async () => (await app.api('GET', `/api/users/${userId}/tokens/${pat.id}`)).body.last_used_at !== null,
      );
      const first = await app.api('GET', `/api/users/${userId}/tokens/${pat.id}`);
      // The other instance has its own throttle, but the conditional update refuses a second write in the minute.
      second.counter.reset();
      await second.introspect(pat.token, app.rs);
      await eventually(async () => second.counter.settled.get('mongo.pats.touchLastUsed') === 1);
      const after = await app.api('GET', `/api/users/${userId}/tokens/${pat.id}`);
      assert.equal(after.body.last_used_at, first.body.last_used_at);
    } finally {
      await second.close();
    }
  });
});

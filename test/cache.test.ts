import assert from 'node:assert/strict';

import { Redis } from 'ioredis';

import { cacheBody, startApp, type TestApp } from './support/app.ts';
import { eventually } from './support/eventually.ts';
import { services } from './support/hooks.ts';

describe('the Redis cache in front of MongoDB', () => {
  let app: TestApp;
  let userId: string;
  let redis: Redis;

  before(async () => {
    // The in-process layer is off here: these tests are about the Redis layer (test/local-cache.test.ts covers it).
    app = await startApp({
      env: { MONGODB_TIMEOUT_MS: '500', CACHE_TTL_SECONDS: '300', LOCAL_CACHE_TTL_SECONDS: '0' },
      captureLogs: true,
    });
    userId = await app.createUser();
    redis = new Redis(services().redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    redis.on('error', () => undefined);
  });
  after(async () => {
    redis.disconnect();
    await app.close();
  });

  it('answers a warm PAT with one cache read and no MongoDB query', async () => {
    const pat = await app.createPat(userId);
    assert.equal((await app.introspect(pat.token)).body.active, true); // cold: fills the cache
    app.counter.reset();
    const warm = await app.introspect(pat.token);
    assert.equal(warm.body.active, true);
    const queries =
      app.counter.total('mongo.pats') + app.counter.total('mongo.users') + app.counter.total('mongo.oidc');
    assert.equal(queries, 0, JSON.stringify([...app.counter.counts]));
    assert.equal(app.counter.counts.get('redis.get'), 1);
    assert.equal(app.counter.total('redis.'), 1);
  });

  it('never keeps an entry past the PAT expiry', async () => {
    const pat = await app.createPat(userId, { expires_at: new Date(Date.now() + 100_000).toISOString() });
    await app.introspect(pat.token);
    await redis.connect().catch(() => undefined);
    const ttl = await redis.ttl(`tw:pat:${app.tw.services.format.hash(pat.token)}`);
    assert.ok(ttl > 0 && ttl <= 100, `ttl ${ttl}`);
  });

  it('keeps entries for at most CACHE_TTL_SECONDS', async () => {
    const pat = await app.createPat(userId);
    await app.introspect(pat.token);
    const ttl = await redis.ttl(`tw:pat:${app.tw.services.format.hash(pat.token)}`);
    assert.ok(ttl > 250 && ttl <= 300, `ttl ${ttl}`);
  });

  it('drops the entries of a disabled user before answering', async () => {
    const u = await app.createUser();
    const pat = await app.createPat(u);
    await app.introspect(pat.token);
    await app.api('PATCH', `/api/users/${u}`, { disabled: true });
    assert.equal(cacheBody(await redis.get(`tw:pat:${app.tw.services.format.hash(pat.token)}`)), 'stale');
    app.counter.reset();
    assert.deepEqual((await app.introspect(pat.token)).body, { active: false });
    assert.equal(app.counter.counts.get('mongo.users.get'), 1, 'the stale entry sends the lookup to MongoDB');
  });

  describe('with Redis stopped mid-test', function () {
    before(function () {
      if (!services().redis.controllable) this.skip();
    });

    it('keeps answering correctly from MongoDB, logs a warning, and resumes the cache by itself', async () => {
      const live = await app.createPat(userId);
      const toRevoke = await app.createPat(userId);
      await app.introspect(live.token);
      await app.introspect(toRevoke.token);

      await services().redis.stop();
      try {
        const a = await app.introspect(live.token);
        assert.equal(a.status, 200);
        assert.equal(a.body.active, true);
        const created = await app.createPat(userId);
        assert.equal((await app.introspect(created.token)).body.active, true);
        assert.equal((await app.revoke(toRevoke.token)).status, 200);
        assert.deepEqual((await app.introspect(toRevoke.token)).body, { active: false });
        assert.ok(
          app.logs.some((line) => line.includes('"level":40') && line.includes('Redis unavailable')),
          'a warning is logged',
        );
      } finally {
        await services().redis.start();
      }

      // Once Redis is back, the pending tombstone is written without any request, and the cache fills again.
      const key = `tw:pat:${app.tw.services.format.hash(toRevoke.token)}`;
      await eventually(async () => cacheBody(await redis.get(key).catch(() => null)) === 'revoked');
      await eventually(async () => {
        app.counter.reset();
        await app.introspect(live.token);
        return app.counter.total('mongo.pats') + app.counter.total('mongo.users') === 0;
      });
      assert.deepEqual((await app.introspect(toRevoke.token)).body, { active: false });
    });
  });

  describe('with MongoDB stopped mid-test', function () {
    before(function () {
      if (!services().mongo.controllable) this.skip();
    });

    it('answers cached PATs from the cache, uncached ones with 503 + Retry-After, and recovers', async function () {
      this.timeout(60_000);
      const cached = await app.createPat(userId);
      const revoked = await app.createPat(userId);
      const uncached = await app.createPat(userId);
      await app.introspect(cached.token);
      await app.revoke(revoked.token);
      await app.adminToken();

      await services().mongo.stop();
      try {
        const hit = await app.introspect(cached.token);
        assert.equal(hit.status, 200);
        assert.equal(hit.body.active, true);
        // Past the client cache's TTL, the resource server's client is still served from memory (stale-if-error).
        app.clock.advance(120_000);
        try {
          const later = await app.introspect(cached.token);
          assert.equal(later.status, 200);
          assert.equal(later.body.active, true);
        } finally {
          app.clock.advance(-120_000);
        }

        assert.deepEqual((await app.introspect(revoked.token)).body, { active: false });

        const miss = await app.introspect(uncached.token);
        assert.equal(miss.status, 503);
        assert.equal(miss.body.error, 'temporarily_unavailable');
        assert.equal(miss.headers.get('retry-after'), '5');

        const create = await app.api('POST', `/api/users/${userId}/tokens`, { name: 'during outage', scopes: [] });
        assert.equal(create.status, 503);
        assert.equal(create.body.error, 'temporarily_unavailable');
        assert.equal(create.headers.get('retry-after'), '5');
      } finally {
        await services().mongo.start();
      }

      await eventually(async () => (await app.introspect(uncached.token)).body.active === true, 30_000);
      const list = await app.api('GET', `/api/users/${userId}/tokens`);
      const names = (list.body.data as Array<{ name: string }>).map((t) => t.name);
      assert.equal(names.includes('during outage'), false, 'no half-written token');
    });
  });
});

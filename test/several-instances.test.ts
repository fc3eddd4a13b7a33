import assert from 'node:assert/strict';

import { startApp, type TestApp } from './support/app.ts';
import { ask, startRedisCluster, type RedisClusterHandle } from './support/redis-topologies.ts';

/**
 * Three Tokenwarden instances on one Redis Cluster (3 masters, a replica each) and one database, each with its
 * in-process cache on: a revocation through any of them is inactive on all three as soon as its answer is back.
 */
describe('three instances on one Redis Cluster and one database', function () {
  this.timeout(120_000);
  let cluster: RedisClusterHandle;
  let apps: TestApp[] = [];

  before(async () => {
    cluster = await startRedisCluster();
    const first = await startApp({ env: cluster.env });
    const uri = first.config.storage.kind === 'mongodb' ? first.config.storage.uri : '';
    const others = await Promise.all([1, 2].map(() => startApp({ env: { ...cluster.env, MONGODB_URI: uri } })));
    apps = [first, ...others];
  });
  after(async () => {
    await Promise.all(apps.map((a) => a.close()));
    await cluster?.stop();
  });

  const introspectEverywhere = (token: string) =>
    Promise.all(apps.map(async (app) => (await app.introspect(token)).body.active));

  it('keeps PAT answers in the cluster and hot PATs in each instance’s memory', async () => {
    const userId = await apps[0]!.createUser();
    const pat = await apps[0]!.createPat(userId);
    assert.deepEqual(await introspectEverywhere(pat.token), [true, true, true]);
    const key = `tw:pat:${apps[0]!.tw.services.format.hash(pat.token)}`;
    const stored = await ask(await cluster.masterOf(key), (conn) => conn.get(key));
    assert.ok(stored !== null, 'the answer is stored on the master of its slot');
    for (const app of apps) app.counter.reset();
    assert.deepEqual(await introspectEverywhere(pat.token), [true, true, true]);
    for (const app of apps) assert.equal(app.counter.total('redis.'), 0, 'answered from memory');
  });

  it('makes a revocation through any instance inactive on all three before its answer returns, 100 of 100 times', async () => {
    // Spread over ten users: a creation counts the user's live tokens.
    const users = await Promise.all(Array.from({ length: 10 }, () => apps[0]!.createUser()));
    const pats: Array<{ id: string; token: string; userId: string }> = [];
    for (const userId of users) {
      const made = await Promise.all(Array.from({ length: 10 }, () => apps[0]!.createPat(userId)));
      pats.push(...made.map((p) => ({ ...p, userId })));
    }
    const misses: string[] = [];
    for (const [trial, pat] of pats.entries()) {
      const through = apps[trial % 3]!;
      // Every instance answers it first, so every instance holds it in memory, and Redis holds it too.
      assert.deepEqual(await introspectEverywhere(pat.token), [true, true, true]);
      if (trial % 2 === 0) {
        assert.equal((await through.revoke(pat.token)).status, 200);
      } else {
        assert.equal((await through.api('DELETE', `/api/users/${pat.userId}/tokens/${pat.id}`)).status, 204);
      }
      const after = await introspectEverywhere(pat.token);
      if (after.some((active) => active !== false)) misses.push(`trial ${trial}: ${after.join(', ')}`);
    }
    assert.equal(pats.length, 100);
    assert.deepEqual(misses, [], 'inactive everywhere in every trial');
  });
});

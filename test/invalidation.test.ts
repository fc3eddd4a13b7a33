import assert from 'node:assert/strict';

import { StoreUnavailableError, type Cache, type Storage } from '../adapters/types.ts';
import { startApp } from './support/app.ts';
import { eventually } from './support/eventually.ts';

/** A cache whose writes fail while `broken` is set: the instance cannot reach Redis to invalidate, others can. */
function partitionable(cache: Cache, state: { broken: boolean }): Cache {
  const refuse = async () => {
    throw new StoreUnavailableError('Redis is unreachable (injected)');
  };
  return {
    ...cache,
    get: (key) => (state.broken ? refuse() : cache.get(key)),
    set: (...args) => (state.broken ? refuse() : cache.set(...args)),
    replace: (...args) => (state.broken ? refuse() : cache.replace(...args)),
    del: (keys) => (state.broken ? refuse() : cache.del(keys)),
  };
}

describe('cache invalidation under races and partial failures', () => {
  it('never lets a lookup that read MongoDB before a revocation put the live answer back after it', async () => {
    const gate: { armed: boolean; reached?: () => void; release?: Promise<void> } = { armed: false };
    const app = await startApp({
      wrapStorage: (s: Storage) => ({
        ...s,
        users: {
          ...s.users,
          get: async (id) => {
            if (gate.armed) {
              gate.armed = false;
              gate.reached?.();
              await gate.release;
            }
            return s.users.get(id);
          },
        },
      }),
    });
    try {
      const user = await app.createUser();
      const pat = await app.createPat(user);
      let release!: () => void;
      gate.release = new Promise<void>((r) => (release = r));
      const reached = new Promise<void>((r) => (gate.reached = r));
      gate.armed = true;
      const inFlight = app.introspect(pat.token); // reads the live token, then waits before filling the cache
      await reached;
      assert.equal((await app.api('DELETE', `/api/users/${user}/tokens/${pat.id}`)).status, 204);
      release();
      await inFlight;
      assert.deepEqual((await app.introspect(pat.token)).body, { active: false });
    } finally {
      await app.close();
    }
  });

  it('makes a revocation reach another instance within seconds when the revoking one cannot write to Redis', async () => {
    const state = { broken: false };
    const a = await startApp({ wrapCache: (c) => partitionable(c, state) });
    const uri = a.config.storage.kind === 'mongodb' ? a.config.storage.uri : '';
    const b = await startApp({ env: { MONGODB_URI: uri } });
    try {
      const user = await a.createUser();
      const pat = await a.createPat(user);
      assert.equal((await b.introspect(pat.token, a.rs)).body.active, true); // B's answer is now in Redis
      state.broken = true;
      assert.equal((await a.revoke(pat.token)).status, 200, 'the revocation is durable in MongoDB');
      assert.deepEqual((await a.introspect(pat.token)).body, { active: false }, 'at once on the revoking instance');
      const started = Date.now();
      await eventually(async () => (await b.introspect(pat.token, a.rs)).body.active === false, 5000);
      assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
      state.broken = false;
    } finally {
      await b.close();
      await a.close();
    }
  });

  it('folds the barrier writes of a Redis outage into one at a time, the last one carrying the latest time', async () => {
    const state = { broken: false };
    const raised: number[] = [];
    let writing = 0;
    let mostAtOnce = 0;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let store!: Storage;
    const app = await startApp({
      wrapCache: (c) => partitionable(c, state),
      wrapStorage: (s: Storage) => {
        store = s;
        return {
          ...s,
          barrier: {
            ...s.barrier,
            raise: async (atMs) => {
              raised.push(atMs);
              mostAtOnce = Math.max(mostAtOnce, ++writing);
              try {
                await held; // the first write is slow: every later raise arrives while it is in flight
                await s.barrier.raise(atMs);
              } finally {
                writing--;
              }
            },
          },
        };
      },
    });
    try {
      const user = await app.createUser();
      const pats = await Promise.all(Array.from({ length: 10 }, () => app.createPat(user)));
      state.broken = true;
      const started = Date.now();
      for (const res of await Promise.all(pats.map((p) => app.revoke(p.token)))) assert.equal(res.status, 200);
      const answered = Date.now();
      release();
      await eventually(async () => writing === 0 && (await store.barrier.read()) >= started);
      // Each revocation raised the barrier (its cache writes failed), at least ten raises: two writes carried them.
      assert.equal(raised.length, 2, `barrier writes: ${raised.length}`);
      assert.equal(mostAtOnce, 1, 'one barrier write at a time');
      const last = raised.at(-1)!;
      assert.ok(last >= started && last <= answered, 'the follow-up carries a raise from the last revocations');
      assert.equal(await store.barrier.read(), last);
      state.broken = false;
    } finally {
      await app.close();
    }
  });

  it('answers an expired PAT inactive from MongoDB too, not only from the cache', async () => {
    const app = await startApp();
    try {
      const pat = await app.createPat(await app.createUser(), {
        expires_at: new Date(Date.now() + 3_600_000).toISOString(),
      });
      app.clock.advance(7_200_000);
      assert.deepEqual((await app.introspect(pat.token)).body, { active: false });
    } finally {
      await app.close();
    }
  });

  it('leaves no cache answering the old state when a process dies between the database write and the tombstone', async () => {
    const crash = { armed: false };
    const dying = await startApp({
      wrapStorage: (s: Storage) => ({
        ...s,
        pats: {
          ...s.pats,
          // The revocation reaches MongoDB, then the process "dies": nothing after the write runs.
          revoke: async (id, at) => {
            const done = await s.pats.revoke(id, at);
            if (crash.armed) throw new Error('process died here (injected)');
            return done;
          },
        },
      }),
    });
    const uri = dying.config.storage.kind === 'mongodb' ? dying.config.storage.uri : '';
    const other = await startApp({ env: { MONGODB_URI: uri, LOCAL_CACHE_TTL_SECONDS: '0' } });
    try {
      const user = await dying.createUser();
      const pat = await dying.createPat(user);
      assert.equal((await other.introspect(pat.token)).body.active, true, 'cached in Redis as live');
      // That introspection records the use in the background; on FerretDB a write from another instance that
      // overlaps the revocation can undo it (see docs/operate.md), so let it land first.
      await eventually(async () => other.counter.settled.get('mongo.pats.touchLastUsed') === 1);
      crash.armed = true;
      const res = await dying.api('DELETE', `/api/users/${user}/tokens/${pat.id}`);
      assert.equal(res.status, 500);
      assert.equal((await other.api('GET', `/api/users/${user}/tokens/${pat.id}`)).body.status, 'revoked');
      assert.equal((await other.introspect(pat.token)).body.active, false, 'the shared cache does not say live');
    } finally {
      await other.close();
      await dying.close();
    }
  });

  it('withdraws a token whose creation was answered 503 although its insert landed (the answer was lost)', async () => {
    const lose = { armed: false };
    const app = await startApp({
      wrapStorage: (s: Storage) => ({
        ...s,
        pats: {
          ...s.pats,
          insert: async (pat, now, max) => {
            await s.pats.insert(pat, now, max);
            if (lose.armed) throw new StoreUnavailableError('connection closed before the reply (injected)');
          },
        },
      }),
    });
    try {
      const user = await app.createUser();
      lose.armed = true;
      const res = await app.api('POST', `/api/users/${user}/tokens`, { name: 'lost-answer', scopes: [] });
      assert.equal(res.status, 503);
      lose.armed = false;
      const named = async () =>
        ((await app.api('GET', `/api/users/${user}/tokens`)).body.data as Array<{ name: string; status: string }>).find(
          (t) => t.name === 'lost-answer',
        );
      assert.ok(await named(), 'the insert did land');
      await eventually(async () => (await named())?.status === 'revoked', 5000);
      // Its name is free again.
      assert.equal(
        (await app.api('POST', `/api/users/${user}/tokens`, { name: 'lost-answer', scopes: [] })).status,
        201,
      );
    } finally {
      await app.close();
    }
  });
});

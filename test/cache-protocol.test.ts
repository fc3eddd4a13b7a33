/**
 * The cache protocol (server/pats/cache-protocol.ts) on its own: two instances' protocol objects on one real Redis
 * and one shared barrier, with injected clocks, and the races each marker, the barrier and the broadcast prevent.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

import { Redis } from 'ioredis';

import { createMemoryStorage } from '../adapters/memory/storage.ts';
import { createRedisCache } from '../adapters/redis/cache.ts';
import type { BarrierStore, Cache } from '../adapters/types.ts';
import { createCacheCodec } from '../server/pats/cache-codec.ts';
import { SKEW_MARGIN_MS, createPatCache, type PatCache } from '../server/pats/cache-protocol.ts';
import type { LivePat } from '../server/pats/types.ts';
import { createKeyring } from '../server/services/keyring.ts';
import { clockFrom } from '../server/services/clock.ts';
import { eventually } from './support/eventually.ts';
import { needsServices, services } from './support/hooks.ts';

const codec = createCacheCodec(createKeyring(['a-secret-key-for-the-cache-protocol-tests']));

class Clocks {
  /** PAT expiry is judged by this one (seconds matter). */
  expiryMs = Date.UTC(2026, 11, 1, 12);
  /** Entry write times and the barrier use this one (wall clock). */
  wall = Date.UTC(2026, 11, 1, 12);
  readonly clock = clockFrom(() => this.expiryMs);
  readonly wallMs = () => this.wall;
}

const live = (overrides: Partial<LivePat> = {}): LivePat => ({
  kind: 'pat',
  id: `tok_${randomBytes(10).toString('hex').slice(0, 20)}`,
  userId: 'alice',
  username: 'alice',
  name: 'laptop',
  scopes: ['read'],
  resource: null,
  issuedAt: 1_700_000_000,
  expiresAt: null,
  credential: 'current',
  ...overrides,
});
const hash = () => randomBytes(32).toString('hex');

/** A real Redis cache whose writes can be refused and whose "ready again" signal the test gives. */
function faultyCache(real: Cache) {
  const ready: Array<(reconnect: boolean) => void> = [];
  const state = { refuseWrites: false };
  const refuse = async () => {
    throw new Error('refused by the test');
  };
  const cache: Cache = {
    ...real,
    set: (...args) => (state.refuseWrites ? refuse() : real.set(...args)),
    publish: (...args) => (state.refuseWrites ? refuse() : real.publish(...args)),
    onReady: (listener) => {
      ready.push(listener);
      real.onReady(listener);
    },
  };
  return { cache, state, backAgain: () => ready.forEach((listener) => listener(true)) };
}

describe('the cache protocol (unit, on real Redis)', () => {
  before(needsServices);
  const prefix = `tw-protocol-${randomBytes(4).toString('hex')}:`;
  let redis: Redis;
  const opened: Array<{ protocol: PatCache; cache: Cache }> = [];
  let barrier: BarrierStore;

  /** A protocol instance on its own connection, once that connection (and its subscription) is ready. */
  async function instance(clocks: Clocks, options: { cache?: Cache; localTtlMs?: number } = {}) {
    const cache =
      options.cache ??
      createRedisCache({
        topology: { kind: 'single', url: services().redis.url },
        commandTimeoutMs: 1000,
        keyPrefix: prefix,
      });
    await eventually(() =>
      cache.ping().then(
        () => true,
        () => false,
      ),
    );
    const protocol = createPatCache({
      cache,
      barrier,
      codec,
      ttlSeconds: 300,
      negativeTtlSeconds: 60,
      local: { ttlMs: options.localTtlMs ?? 60_000, max: 1000 },
      barrierPollMs: 20,
      clock: clocks.clock,
      wallMs: clocks.wallMs,
      onCacheError: () => undefined,
      onBackgroundError: () => undefined,
    });
    opened.push({ protocol, cache });
    // The in-process layer is used only while the invalidation subscription is live.
    const probe = hash();
    await eventually(async () => {
      protocol.keep(probe, live(), protocol.epoch());
      return protocol.memory(probe) !== undefined;
    });
    return protocol;
  }
  const raw = (h: string) => redis.get(`${prefix}pat:${h}`);

  before(() => {
    redis = new Redis(services().redis.url);
    barrier = createMemoryStorage().barrier;
  });
  after(async () => {
    for (const { protocol, cache } of opened) {
      protocol.close();
      await cache.close();
    }
    redis.disconnect();
  });

  it('fills a miss with the live answer, for no longer than the PAT has left', async () => {
    const clocks = new Clocks();
    const p = await instance(clocks);
    const h = hash();
    const answer = live({ expiresAt: Math.floor(clocks.expiryMs / 1000) + 100 });
    await p.remember(h, await p.shared(h), { kind: 'live', live: answer }, p.epoch());
    const entry = await p.shared(h);
    assert.equal(entry.kind, 'live');
    const ttl = await redis.ttl(`${prefix}pat:${h}`);
    assert.ok(ttl > 0 && ttl <= 100, `ttl ${ttl}`);
  });

  it('never caches a rotated-out value in its grace period', async () => {
    const p = await instance(new Clocks());
    const h = hash();
    await p.remember(h, await p.shared(h), { kind: 'live', live: live({ credential: 'grace' }) }, p.epoch());
    assert.equal(await raw(h), null);
    assert.equal(p.memory(h), undefined);
  });

  it('lets no late fill put back an answer a revocation replaced (fills are SET NX)', async () => {
    const clocks = new Clocks();
    const p = await instance(clocks);
    const h = hash();
    const before = await p.shared(h); // a lookup reads the shared cache: a miss …
    await p.invalidate([h], 'revoked'); // … a revocation lands …
    await p.remember(h, before, { kind: 'live', live: live() }, p.epoch()); // … then the lookup's late fill
    assert.equal((await p.shared(h)).kind, 'revoked');
  });

  it('points entries at MongoDB around a change: stale, and nothing kept in memory meanwhile', async () => {
    const p = await instance(new Clocks());
    const h = hash();
    await p.remember(h, await p.shared(h), { kind: 'live', live: live() }, p.epoch());
    await p.pointAtDatabase([h]);
    const entry = await p.shared(h);
    assert.equal(entry.kind, 'stale');
    await p.remember(h, entry, { kind: 'live', live: live() }, p.epoch());
    assert.equal((await p.shared(h)).kind, 'stale', 'a lookup under the marker does not refill');
    assert.equal(p.memory(h), undefined, 'nor keeps the answer in memory');
    const ttl = await redis.ttl(`${prefix}pat:${h}`);
    assert.ok(ttl > 0 && ttl <= 30, `a change marker is short-lived (${ttl} s)`);
  });

  it('remembers an unknown value briefly, so guesses cost no database query', async () => {
    const p = await instance(new Clocks());
    const h = hash();
    await p.remember(h, await p.shared(h), { kind: 'unknown' }, p.epoch());
    assert.equal(await p.knownUnknown(h), true);
    const ttl = await redis.ttl(`${prefix}pat:${h}`);
    assert.ok(ttl > 0 && ttl <= 60, `ttl ${ttl}`);
  });

  it('treats an entry that fails authentication as suspect, and repairs it by compare-and-set', async () => {
    const p = await instance(new Clocks());
    const h = hash();
    const forged = codec.live('pat:another-key', live(), Date.now());
    await redis.set(`${prefix}pat:${h}`, forged);
    const entry = await p.shared(h);
    assert.equal(entry.kind, 'suspect');
    await p.remember(h, entry, { kind: 'revoked' }, p.epoch());
    assert.equal((await p.shared(h)).kind, 'revoked');
  });

  it('drops every instance’s in-process copy when one invalidates (pub/sub), before the next lookup', async () => {
    const [clocksA, clocksB] = [new Clocks(), new Clocks()];
    const a = await instance(clocksA);
    const b = await instance(clocksB);
    const h = hash();
    a.keep(h, live(), a.epoch());
    b.keep(h, live(), b.epoch());
    assert.ok(a.memory(h) && b.memory(h));
    await a.invalidate([h], 'revoked');
    assert.equal(a.memory(h), undefined, 'at once on the instance that invalidated');
    await eventually(async () => b.memory(h) === undefined, 2000);
  });

  it('does not keep a fill that overlapped an invalidation message (the epoch moved)', async () => {
    const a = await instance(new Clocks());
    const b = await instance(new Clocks());
    const h = hash();
    const epoch = a.epoch();
    await b.invalidate([hash()], 'revoked'); // any message moves the epoch
    await eventually(async () => a.epoch() !== epoch, 2000);
    a.keep(h, live(), epoch);
    assert.equal(a.memory(h), undefined);
  });

  it('raises the barrier when Redis refuses an invalidation, so other instances distrust older entries', async () => {
    const [clocksA, clocksB] = [new Clocks(), new Clocks()];
    const faulty = faultyCache(
      createRedisCache({
        topology: { kind: 'single', url: services().redis.url },
        commandTimeoutMs: 1000,
        keyPrefix: prefix,
      }),
    );
    const a = await instance(clocksA, { cache: faulty.cache });
    const b = await instance(clocksB);
    const h = hash();
    await b.remember(h, await b.shared(h), { kind: 'live', live: live() }, b.epoch());
    assert.equal((await b.shared(h)).kind, 'live');

    faulty.state.refuseWrites = true;
    clocksA.wall += 1000;
    await a.invalidate([h], 'revoked');
    assert.equal((await a.shared(h)).kind, 'off', 'the instance that could not write does not trust Redis for it');
    assert.ok((await barrier.read()) >= clocksA.wall, 'the barrier is raised in the shared store');
    await eventually(async () => (await b.shared(h)).kind === 'suspect', 2000);

    // An entry written well after the barrier (past the skew margin) is trusted again.
    clocksB.wall = clocksA.wall + SKEW_MARGIN_MS + 1;
    const later = hash();
    await b.remember(later, await b.shared(later), { kind: 'live', live: live() }, b.epoch());
    assert.equal((await b.shared(later)).kind, 'live');

    // Redis is back: the pending marker is written without any request.
    faulty.state.refuseWrites = false;
    faulty.backAgain();
    await eventually(async () => (await b.shared(h)).kind === 'revoked', 2000);
  });
});

import assert from 'node:assert/strict';

import { createRedisCache } from '../adapters/redis/cache.ts';
import { StoreUnavailableError, type Cache } from '../adapters/types.ts';
import { loadConfig } from '../config/index.ts';
import { TEST_SECRET_KEY } from './support/app.ts';
import { eventually } from './support/eventually.ts';
import { needsServices, services } from './support/hooks.ts';
import {
  ask,
  startRedisCluster,
  startRedisSentinel,
  type RedisClusterHandle,
  type RedisSentinelHandle,
} from './support/redis-topologies.ts';

/** What a test needs of a running topology: its environment, where a key lives, and how to fail its master over. */
interface Rig {
  readonly env: Record<string, string>;
  masterOf(key: string): Promise<number>;
  readonly failover?: {
    replicaOf(master: number): Promise<number>;
    signal(port: number, signal: NodeJS.Signals): Promise<void>;
    promoted(replica: number): Promise<void>;
  };
  /** Behind Sentinel: the setup itself, for a manual failover. */
  readonly sentinel?: RedisSentinelHandle;
  /** A Redis Cluster: the cluster itself, for a manual failover. */
  readonly cluster?: RedisClusterHandle;
  stop(): Promise<void>;
}

const SENTINEL = 'Redis Sentinel (REDIS_SENTINELS)';
const CLUSTER = 'Redis Cluster (REDIS_CLUSTER_NODES)';
const topologies: Array<{ name: string; start: () => Promise<Rig> }> = [
  {
    name: 'one server (REDIS_URL)',
    start: async () => {
      const { redis } = services();
      return { env: { REDIS_URL: redis.url }, masterOf: async () => redis.port, stop: async () => undefined };
    },
  },
  {
    name: CLUSTER,
    start: async () => {
      const cluster: RedisClusterHandle = await startRedisCluster();
      return {
        env: cluster.env,
        masterOf: (key) => cluster.masterOf(key),
        failover: {
          replicaOf: (master) => cluster.replicaOf(master),
          signal: (port, signal) => cluster.nodes.get(port)!.signal(signal),
          promoted: (replica) => cluster.promoted(replica),
        },
        cluster,
        stop: () => cluster.stop(),
      };
    },
  },
  {
    name: SENTINEL,
    start: async () => {
      const sentinel: RedisSentinelHandle = await startRedisSentinel();
      return {
        env: sentinel.env,
        masterOf: () => sentinel.master(),
        failover: {
          replicaOf: async (master) => [...sentinel.servers.keys()].find((p) => p !== master)!,
          signal: (port, signal) => sentinel.servers.get(port)!.signal(signal),
          promoted: (replica) => sentinel.promoted(replica),
        },
        sentinel,
        stop: () => sentinel.stop(),
      };
    },
  },
];

/**
 * The same {@link Cache} contract on one server, a Redis Cluster (3 masters, a replica each) and a master behind
 * three Sentinels, all real. On the two that fail over, a write acknowledged by the master alone is lost by the
 * failover: the cache must refuse at once while it happens, and report `onReady(true)` before it answers anything
 * from the promoted replica (the PAT service distrusts older entries right then).
 */
describe('the Redis cache on each topology', function () {
  before(needsServices);
  this.timeout(180_000);

  for (const { name, start } of topologies) {
    describe(name, () => {
      let rig: Rig;
      let cache: Cache;
      const ready: boolean[] = [];
      const readyAt: number[] = [];
      const states: boolean[] = [];
      const messages: string[] = [];

      before(async () => {
        rig = await start();
        // A generous timeout, so a busy test machine does not fail commands: refusals must be quick regardless.
        const config = loadConfig({ ...rig.env, SECRET_KEY: TEST_SECRET_KEY, REDIS_COMMAND_TIMEOUT_MS: '1000' });
        cache = createRedisCache({
          topology: config.redis!.topology,
          commandTimeoutMs: config.redis!.commandTimeoutMs,
        });
        cache.onReady((reconnect) => {
          ready.push(reconnect);
          readyAt.push(Date.now());
        });
        cache.subscribe(
          'topology-test',
          (m) => messages.push(m),
          (live) => states.push(live),
        );
        await eventually(async () => states.at(-1) === true);
      });
      after(async () => {
        await cache?.close();
        await rig?.stop();
      });

      it('is ready once, then keeps the contract: get, set with expiry, set-if-absent, compare-and-set', async () => {
        assert.deepEqual(ready, [false]);
        await cache.ping();
        await cache.set('contract:a', 'one', 60);
        assert.equal(await cache.get('contract:a'), 'one');
        await cache.set('contract:a', 'two', 60, true);
        assert.equal(await cache.get('contract:a'), 'one', 'set-if-absent leaves an existing value');
        await cache.set('contract:absent', 'fresh', 60, true);
        assert.equal(await cache.get('contract:absent'), 'fresh');
        assert.equal(await cache.replace('contract:a', 'one', 'three', 60), true);
        assert.equal(await cache.replace('contract:a', 'one', 'four', 60), false);
        assert.equal(await cache.get('contract:a'), 'three');
        await cache.set('contract:short', 'x', 1);
        await eventually(async () => (await cache.get('contract:short')) === null, 5000);
      });

      it('deletes keys that live on different masters in one call', async () => {
        const keys = Array.from({ length: 12 }, (_, i) => `contract:del:${i}`);
        await Promise.all(keys.map((k) => cache.set(k, 'v', 60)));
        const masters = new Set(await Promise.all(keys.map((k) => rig.masterOf(`tw:${k}`))));
        if (rig.env.REDIS_CLUSTER_NODES) assert.ok(masters.size > 1, 'the keys span several masters');
        await cache.del(keys);
        assert.deepEqual(await Promise.all(keys.map((k) => cache.get(k))), Array(keys.length).fill(null));
      });

      it('delivers what is published to the subscriber', async () => {
        await cache.publish('topology-test', 'hello');
        await eventually(async () => messages.includes('hello'), 5000);
      });

      if (name === topologies[0]!.name) return;

      it('during a failover refuses at once, is ready again before answering from the promoted replica, resubscribes', async () => {
        const failover = rig.failover!;
        await cache.set('lost-write', 'before', 300);
        const master = await rig.masterOf('tw:lost-write');
        const replica = await failover.replicaOf(master);
        assert.equal(await ask(master, (c) => c.call('WAIT', '1', '5000')), 1, 'the replica has "before"');
        // The replica stops reading and the master drops its replication link: the next write reaches the master
        // only. Then the master dies, and the replica that never saw it takes over.
        await failover.signal(replica, 'SIGSTOP');
        await ask(master, (c) => c.call('CLIENT', 'KILL', 'TYPE', 'replica'));
        await cache.set('lost-write', 'lost', 300);
        assert.equal(await cache.get('lost-write'), 'lost');
        const statesBefore = states.length;
        await failover.signal(master, 'SIGKILL');
        const killedAt = Date.now();
        await failover.signal(replica, 'SIGCONT');

        const reads: Array<{ value: string | null; reconnected: boolean }> = [];
        const refusals: number[] = [];
        let polling = true;
        const poll = (async () => {
          while (polling) {
            const started = performance.now();
            try {
              const value = await cache.get('lost-write');
              reads.push({ value, reconnected: ready.includes(true) });
            } catch (error) {
              assert.ok(error instanceof StoreUnavailableError, String(error));
              refusals.push(performance.now() - started);
            }
            await new Promise((r) => setTimeout(r, 10));
          }
        })();
        await failover.promoted(replica);
        const promotedAt = Date.now();
        await eventually(async () => reads.some((r) => r.value === 'before'), 20_000);
        polling = false;
        await poll;

        assert.ok(refusals.length > 0, 'the failover was felt');
        assert.ok(Math.max(...refusals) < 1000, `no refusal waited for the timeout: ${Math.max(...refusals)} ms`);
        const early = reads.filter((r) => r.value === 'before' && !r.reconnected);
        assert.equal(early.length, 0, 'nothing was answered from the promoted replica before onReady(true)');
        assert.ok(
          reads.some((r) => r.value === 'before'),
          'the write acknowledged by the master alone was lost (what onReady(true) is for)',
        );
        assert.equal(ready.length >= 2 && ready.slice(1).every(Boolean), true, `onReady: ${ready.join(', ')}`);
        await eventually(async () => states.at(-1) === true, 5000);
        assert.equal(states[statesBefore], false, 'the subscription was reported down, then live again');
        await cache.publish('topology-test', 'after the failover');
        await eventually(async () => messages.includes('after the failover'), 5000);
        process.stdout.write(
          `      (master killed; replica promoted after ${promotedAt - killedAt} ms, cache ready again after ${
            readyAt[1]! - killedAt
          } ms; ${refusals.length} refusals, the slowest in ${Math.round(Math.max(...refusals))} ms)\n`,
        );
      });

      if (name === CLUSTER) {
        it('after a manual CLUSTER FAILOVER (no connection lost) is ready again, resubscribed on the new master', async () => {
          const cluster = rig.cluster!;
          // The master killed above comes back as a replica.
          for (const [port, node] of cluster.nodes) if (!node.running()) await cluster.restart(port);
          const master = await cluster.masterOf('tw:topology-test');
          const replica = await cluster.replicaOf(master);
          const [readyBefore, statesBefore] = [ready.length, states.length];
          await ask(replica, (c) => c.call('CLUSTER', 'FAILOVER'));
          await cluster.promoted(replica);
          // The old master is now a replica: Redis unsubscribed its shard-channel subscribers, and redirects
          // commands; neither goes unnoticed.
          await eventually(async () => ready.length > readyBefore && states.at(-1) === true, 10_000);
          assert.equal(states[statesBefore], false, 'the subscription was reported down, then live again');
          await cache.publish('topology-test', 'after the manual failover');
          await eventually(async () => messages.includes('after the manual failover'), 5000);
          await cache.set('after-manual-failover', 'x', 300);
          const owner = await cluster.masterOf('tw:after-manual-failover');
          assert.equal(await ask(owner, (c) => c.get('tw:after-manual-failover')), 'x');
        });
      }

      if (name !== SENTINEL) return;

      it('after SENTINEL FAILOVER, writes only to the new master, though the old one takes writes for seconds more', async () => {
        const sentinel = rig.sentinel!;
        // The server killed above comes back as a replica of the current master, ready to take over.
        const master = await sentinel.master();
        const replica = [...sentinel.servers.keys()].find((p) => p !== master)!;
        if (!sentinel.servers.get(replica)!.running()) await sentinel.servers.get(replica)!.start();
        await sentinel.demoted(replica);

        const readyBefore = ready.length;
        const promoted = await sentinel.failover();
        assert.equal(promoted, replica);
        await eventually(async () => ready.length > readyBefore, 5000);
        for (let i = 1; i <= 20; i++) await cache.set('after-failover', String(i), 300);
        assert.equal(
          ((await ask(master, (c) => c.call('ROLE'))) as string[])[0],
          'master',
          'the old master is one still',
        );
        assert.equal(await ask(master, (c) => c.get('tw:after-failover')), null, 'nothing reached the old master');
        assert.equal(await ask(promoted, (c) => c.get('tw:after-failover')), '20');
      });
    });
  }
});

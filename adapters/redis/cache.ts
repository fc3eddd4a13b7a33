/**
 * The {@link Cache} on Redis through ioredis: one server, a Redis Cluster or a master behind Sentinel, with the same
 * contract on each. Fails fast instead of queueing: with the offline queue disabled and a command timeout, an
 * unreachable Redis turns into an immediate {@link StoreUnavailableError}, never a hang; ioredis keeps reconnecting
 * in the background. `onReady` listeners run each time the link settles on the servers that hold the data now,
 * after a reconnection and after a failover alike, before anything is read from them (see `link.ts`).
 *
 * In a cluster every command touches one key, so one slot: `del` deletes key by key (a multi-key `DEL` across slots
 * fails with `CROSSSLOT`), and the compare-and-set script reads and writes its one key. No keys need to live
 * together, so none carries a hash tag: the PAT entries spread over every master. A future command that must touch
 * several keys at once has to put a shared `{tag}` in their names.
 */
import type { Cache } from '../types.ts';
import { createRedisLink, type RedisTopology } from './link.ts';
import { createSubscription } from './subscription.ts';

export type { RedisAddress, RedisTopology } from './link.ts';

export interface RedisCacheOptions {
  readonly topology: RedisTopology;
  readonly commandTimeoutMs: number;
  /** Prefix of every key and channel, so several deployments can share one Redis. Default `tw:`. */
  readonly keyPrefix?: string;
}

/** `SET key new EX ttl` only if `key` still holds `expected`; 1 when it did. One key: one slot. */
const COMPARE_AND_SET =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) return 1 end return 0";

/** Creates the cache and starts connecting; it does not wait for the connection (Redis is optional). */
export function createRedisCache(opts: RedisCacheOptions): Cache {
  const keyPrefix = opts.keyPrefix ?? 'tw:';
  const link = createRedisLink({ topology: opts.topology, commandTimeoutMs: opts.commandTimeoutMs, keyPrefix });
  const redis = link.client;
  redis.defineCommand('casSet', { numberOfKeys: 1, lua: COMPARE_AND_SET });
  const casSet = (
    redis as unknown as { casSet(k: string, e: string, v: string, t: number): Promise<number> }
  ).casSet.bind(redis);
  const subscriptions: Array<{ close(): void }> = [];
  const ttl = (seconds: number) => Math.max(1, Math.floor(seconds));

  return {
    get: (key) => link.run(() => redis.get(key)),
    set: (key, value, ttlSeconds, onlyIfAbsent = false) =>
      link.run(async () => {
        if (onlyIfAbsent) await redis.set(key, value, 'EX', ttl(ttlSeconds), 'NX');
        else await redis.set(key, value, 'EX', ttl(ttlSeconds));
      }),
    del: (keys) =>
      link.run(async () => {
        await Promise.all(keys.map((key) => redis.del(key)));
      }),
    replace: (key, expected, value, ttlSeconds) =>
      link.run(async () => (await casSet(key, expected, value, ttl(ttlSeconds))) === 1),
    ping: () =>
      link.run(async () => {
        await redis.ping();
      }),
    onReady(listener) {
      link.onSettled(listener);
    },
    // A cluster publishes on the shard channel (ioredis prefixes it like a key and sends it to the slot's master);
    // see subscription.ts for why sharded pub/sub.
    publish: (channel, message) =>
      link.run(async () => {
        if (link.topology.kind === 'cluster') await redis.spublish(channel, message);
        else await redis.publish(`${keyPrefix}${channel}`, message);
      }),
    subscribe(channel, onMessage, onState) {
      subscriptions.push(createSubscription(link, `${keyPrefix}${channel}`, onMessage, onState));
    },
    async close() {
      for (const s of subscriptions.splice(0)) s.close();
      link.close();
    },
  };
}

/**
 * Redis cache through ioredis. Fails fast instead of queueing: with the offline queue disabled and a command
 * timeout, a stopped Redis turns into an immediate {@link StoreUnavailableError}, never a hang; ioredis keeps
 * reconnecting in the background and `onReady` listeners run each time it is back.
 */
import { Redis } from 'ioredis';

import { StoreUnavailableError, type Cache } from '../types.ts';

export interface RedisCacheOptions {
  readonly url: string;
  readonly commandTimeoutMs: number;
  /** Prefix of every key, so several deployments can share one Redis. Default `tw:`. */
  readonly keyPrefix?: string;
}

/** Creates the cache and starts connecting; it does not wait for the connection (Redis is optional). */
export function createRedisCache(opts: RedisCacheOptions): Cache {
  const redis = new Redis(opts.url, {
    keyPrefix: opts.keyPrefix ?? 'tw:',
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: opts.commandTimeoutMs,
    connectTimeout: Math.max(opts.commandTimeoutMs * 4, 1000),
    retryStrategy: (times) => Math.min(100 * times, 1000),
    lazyConnect: false,
  });
  const listeners: Array<(reconnect: boolean) => void> = [];
  let readyBefore = false;
  redis.on('ready', () => {
    const reconnect = readyBefore;
    readyBefore = true;
    for (const listener of listeners) listener(reconnect);
  });
  redis.defineCommand('casSet', {
    numberOfKeys: 1,
    lua: "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) return 1 end return 0",
  });
  const casSet = (
    redis as unknown as { casSet(k: string, e: string, v: string, t: number): Promise<number> }
  ).casSet.bind(redis);
  // Without a listener ioredis prints every connection error; callers see failures through rejections instead.
  redis.on('error', () => undefined);

  const run = async <T>(command: () => Promise<T>): Promise<T> => {
    try {
      return await command();
    } catch (error) {
      throw new StoreUnavailableError('Redis is unreachable', { cause: error });
    }
  };

  let subscriber: Redis | undefined;

  return {
    get: (key) => run(() => redis.get(key)),
    publish: (channel, message) =>
      run(async () => {
        await redis.publish(`${opts.keyPrefix ?? 'tw:'}${channel}`, message);
      }),
    subscribe(channel, onMessage, onState) {
      const fullChannel = `${opts.keyPrefix ?? 'tw:'}${channel}`;
      subscriber ??= redis.duplicate({
        enableOfflineQueue: true,
        maxRetriesPerRequest: null,
        commandTimeout: undefined,
      });
      const sub = subscriber;
      sub.on('error', () => undefined);
      sub.on('message', (ch: string, message: string) => {
        if (ch === fullChannel) onMessage(message);
      });
      const live = () => {
        sub.subscribe(fullChannel).then(
          () => onState(true),
          () => onState(false),
        );
      };
      sub.on('ready', live);
      sub.on('close', () => onState(false));
      if (sub.status === 'ready') live();
    },
    set: (key, value, ttlSeconds, onlyIfAbsent = false) =>
      run(async () => {
        const ttl = Math.max(1, Math.floor(ttlSeconds));
        if (onlyIfAbsent) await redis.set(key, value, 'EX', ttl, 'NX');
        else await redis.set(key, value, 'EX', ttl);
      }),
    del: (keys) =>
      run(async () => {
        if (keys.length > 0) await redis.del(...keys);
      }),
    replace: (key, expected, value, ttlSeconds) =>
      run(async () => (await casSet(key, expected, value, Math.max(1, Math.floor(ttlSeconds)))) === 1),
    ping: () =>
      run(async () => {
        await redis.ping();
      }),
    onReady(listener) {
      listeners.push(listener);
    },
    async close() {
      subscriber?.disconnect();
      redis.disconnect();
    },
  };
}

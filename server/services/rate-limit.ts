/**
 * Fixed-window rate limiting per key (a client id, a source address), in process, bounded by lru-cache. Each
 * instance counts for itself: with N instances behind a balancer the effective limit is up to N times higher.
 */
import { LRUCache } from 'lru-cache';

import type { Clock } from './clock.ts';

export interface RateLimiter {
  /** Counts `count` events (default 1) for `key`; returns the seconds to wait when it is now over its limit, else 0. */
  hit(key: string, count?: number): number;
  /** Without counting: the seconds to wait when `key` has used up its window, else 0. */
  blocked(key: string): number;
}

/** Creates a limiter allowing `limit` events per `windowMs` per key. */
export function createRateLimiter(opts: { limit: number; windowMs: number; clock: Clock; max?: number }): RateLimiter {
  const windows = new LRUCache<string, { count: number; resetAt: number }>({ max: opts.max ?? 100_000 });
  const now = () => opts.clock.nowMs();
  const wait = (resetAt: number) => Math.max(1, Math.ceil((resetAt - now()) / 1000));
  return {
    hit(key, count = 1) {
      const t = now();
      let w = windows.get(key);
      if (!w || t >= w.resetAt) {
        w = { count: 0, resetAt: t + opts.windowMs };
        windows.set(key, w);
      }
      w.count += count;
      return w.count > opts.limit ? wait(w.resetAt) : 0;
    },
    blocked(key) {
      const w = windows.get(key);
      return w && now() < w.resetAt && w.count >= opts.limit ? wait(w.resetAt) : 0;
    },
  };
}

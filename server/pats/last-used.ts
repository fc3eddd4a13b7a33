/**
 * Last-used tracking: `last_used_at` and `last_used_client` (the resource server it was used at), written at most
 * once per token per interval. Per instance, an in-memory note of the last write skips the database round trip;
 * across instances, the store's conditional update makes one write per interval win. Off the request's critical
 * path: a use is recorded in the background.
 */
import { LRUCache } from 'lru-cache';

import type { PatStore } from '../../adapters/types.ts';
import type { Clock } from '../services/clock.ts';

export interface LastUsed {
  /** Records a use of token `id` by `clientId` (null: not a client, e.g. a self-service call). */
  touch(id: string, clientId: string | null): void;
}

export interface LastUsedDeps {
  readonly pats: PatStore;
  readonly clock: Clock;
  readonly intervalSeconds: number;
  /** Told about each write that happened (metrics). */
  readonly onWrite?: () => void;
  readonly onError: (operation: string, error: unknown) => void;
}

/** Creates the tracker. */
export function createLastUsed(deps: LastUsedDeps): LastUsed {
  const intervalMs = deps.intervalSeconds * 1000;
  /**
   * When each token's last write was sent (epoch ms). Checked on every introspection: a plain bounded LRU whose
   * entries are compared with the clock here (an LRU with its own TTL reads a timer and arms another each
   * millisecond).
   */
  const touched = new LRUCache<string, number>({ max: 100_000 });
  return {
    touch(id, clientId) {
      const nowMs = deps.clock.nowMs();
      const last = touched.get(id);
      if (last !== undefined && nowMs - last < intervalMs) return;
      const now = new Date(nowMs);
      touched.set(id, nowMs);
      deps.pats.touchLastUsed(id, now, clientId, intervalMs).then(
        (wrote) => {
          if (wrote) deps.onWrite?.();
        },
        // Not retried before the interval is over: a store too slow to answer (FerretDB scanning a large collection
        // for this update keeps going after the driver gives up) would otherwise get a new write on every request.
        (error: unknown) => deps.onError('last_used', error),
      );
    },
  };
}

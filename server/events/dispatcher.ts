/**
 * The push worker: leases due deliveries (one conditional update each, so instances sharing the database do not
 * send one delivery at the same time), sends them through the subscriber kind's transport (a webhook, an SSF push),
 * and records each outcome: delivered, tried again later ({@link nextAttemptAt}), or given up. A lease outlives the
 * attempt's deadline; a process killed mid-send leaves the lease to run out, and the delivery is sent again by
 * whichever instance comes next (at-least-once: the receiver de-duplicates by the event id).
 */
import type { DeliveryRecord, DeliveryStore, SubscriberKind } from '../../adapters/event-stores.ts';
import type { Clock } from '../services/clock.ts';
import { nextAttemptAt } from './backoff.ts';

/** What one attempt came to. */
export type AttemptResult =
  | { readonly outcome: 'delivered'; readonly status: number }
  | {
      readonly outcome: 'failed';
      readonly status: number | null;
      readonly error: string;
      readonly retryAfterSeconds?: number | null;
      /** No point trying again (the receiver refused the event itself, or the subscriber is gone or disabled). */
      readonly final?: boolean;
    }
  /** Not sent: its subscriber is paused; it waits, untried, until resumed (`DeliveryStore.reschedule`). */
  | { readonly outcome: 'held' };

/** Sends one delivery to its subscriber. Never throws: every failure is a result. */
export interface Transport {
  deliver(delivery: DeliveryRecord): Promise<AttemptResult>;
}

export interface DispatcherDeps {
  readonly deliveries: DeliveryStore;
  readonly transports: Readonly<Record<SubscriberKind, Transport>>;
  readonly clock: Clock;
  /** This instance's lease owner id. */
  readonly owner: string;
  /** An attempt's deadline (the lease lasts it plus a margin). */
  readonly timeoutMs: number;
  /** Pushes are given up this long after the event was fanned out. */
  readonly retryMs: number;
  /** Attempts in flight at once. Default 8. */
  readonly concurrency?: number;
  /** How often due deliveries are looked for besides {@link Dispatcher.kick}. Default 1000 ms. */
  readonly pollMs?: number;
  readonly onError: (operation: string, error: unknown) => void;
  /** Told about every settled attempt (metrics, tests). */
  readonly onAttempt?: (delivery: DeliveryRecord, result: AttemptResult) => void;
}

export interface Dispatcher {
  /** Looks for due deliveries now (after a fan-out). */
  kick(): void;
  start(): void;
  /** Stops looking and waits for the attempts in flight. */
  close(): Promise<void>;
}

/** How long a paused subscriber's delivery waits before it is looked at again (resuming reschedules it at once). */
const HOLD_MS = 3600_000;

/** Creates the worker. */
export function createDispatcher(deps: DispatcherDeps): Dispatcher {
  const { deliveries, clock } = deps;
  const concurrency = deps.concurrency ?? 8;
  const inFlight = new Set<Promise<void>>();
  let timer: NodeJS.Timeout | undefined;
  let rounding: Promise<void> | undefined;
  let again = false;
  let closed = false;

  async function attempt(delivery: DeliveryRecord): Promise<void> {
    const transport = deps.transports[delivery.kind];
    const result = await transport.deliver(delivery);
    const now = clock.now();
    if (result.outcome === 'held') {
      await deliveries.settle(delivery.id, {
        state: 'pending',
        attempts: delivery.attempts,
        nextAttemptAt: new Date(now.getTime() + HOLD_MS),
        lastAttemptAt: delivery.lastAttemptAt,
        lastStatus: delivery.lastStatus,
        lastError: delivery.lastError,
        finishedAt: null,
      });
      return;
    }
    const attempts = delivery.attempts + 1;
    if (result.outcome === 'delivered') {
      await deliveries.settle(delivery.id, {
        state: 'delivered',
        attempts,
        nextAttemptAt: delivery.nextAttemptAt,
        lastAttemptAt: now,
        lastStatus: result.status,
        lastError: null,
        finishedAt: now,
      });
    } else {
      const next = result.final ? null : nextAttemptAt(delivery, attempts, now, deps.retryMs, result.retryAfterSeconds);
      await deliveries.settle(delivery.id, {
        state: next === null ? 'failed' : 'pending',
        attempts,
        nextAttemptAt: next ?? delivery.nextAttemptAt,
        lastAttemptAt: now,
        lastStatus: result.status,
        lastError: next === null && !result.final ? `${result.error}; given up` : result.error,
        finishedAt: next === null ? now : null,
      });
    }
    deps.onAttempt?.(delivery, result);
  }

  async function round(): Promise<void> {
    do {
      again = false;
      const room = concurrency - inFlight.size;
      if (room <= 0 || closed) return;
      const now = clock.now();
      let claimed: DeliveryRecord[];
      try {
        // Long enough for the attempt's deadline and its recording; short enough that a killed instance's leases
        // are taken over soon.
        claimed = await deliveries.claim(now, deps.owner, new Date(now.getTime() + 2 * deps.timeoutMs + 1000), room);
      } catch (error) {
        deps.onError('claim', error);
        return;
      }
      for (const delivery of claimed) {
        const running: Promise<void> = attempt(delivery)
          .catch((error: unknown) => deps.onError('settle', error))
          .finally(() => {
            inFlight.delete(running);
            kick();
          });
        inFlight.add(running);
      }
      if (claimed.length === room) again = true;
    } while (again && !closed);
  }

  function kick(): void {
    if (closed) return;
    if (rounding) {
      again = true;
      return;
    }
    rounding = round().finally(() => {
      rounding = undefined;
      if (again) kick();
    });
  }

  return {
    kick,
    start() {
      if (timer || closed) return;
      timer = setInterval(kick, deps.pollMs ?? 1000);
      timer.unref();
      kick();
    },
    async close() {
      closed = true;
      if (timer) clearInterval(timer);
      timer = undefined;
      await rounding;
      await Promise.allSettled([...inFlight]);
    },
  };
}

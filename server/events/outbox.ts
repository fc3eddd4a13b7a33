/**
 * The outbox: how an event gets from the change that caused it to one delivery per subscriber, with nothing lost
 * for an acknowledged change and nothing delivered twice but as at-least-once requires.
 *
 * The hard part is that FerretDB, and MongoDB without a replica set, have no transactions: the change (a token
 * revoked) and its event cannot be written in one transaction across two collections. So:
 *
 * 1. **A change carries its events.** The store writes the events into the changed document itself
 *    (`pending_events` on the token or user), in the same single-document update that makes the change, and only when
 *    that update makes it (the revocation of a token already revoked records nothing). An acknowledged change has its
 *    events, durably, whatever happens next.
 * 2. **Relay.** Right after the change, {@link Outbox.relaySoon} copies the document's events into the `events`
 *    collection (inserted by event id: a second copy is a duplicate key, ignored), then removes them from the
 *    document. A crash in between leaves them on the document; the sweeper ({@link Outbox.sweep}, at start-up and
 *    every `EVENTS_SWEEP_SECONDS`) relays whatever a document still holds, and the insert by id makes a second relay
 *    harmless.
 * 3. **Fan-out.** An event in the outbox (`ready`) gets one delivery per subscriber that wants it, keyed
 *    `<subscriber>/<event>` (a second fan-out adds nothing), then becomes `fanned_out`. A crash in between leaves it
 *    `ready`, and the sweeper fans it out again.
 * 4. **Delivery** (`dispatcher.ts`): pushes are leased one at a time, so two instances do not send the same one at
 *    once; a receiver that polls (RFC 8936) reads its pending deliveries and acknowledges them.
 *
 * Changes that have no document to carry their events are deletions (an OAuth token revoked at `/revoke`, a client
 * deleted, which retires its tokens): for those an **intent** is written to the outbox first ({@link Outbox.intend}),
 * the change made, and the intent confirmed. An intent left unconfirmed by a crash is settled by the sweeper against
 * the stored state once it is older than a minute: the payload is gone, so the change happened (the event is
 * delivered), or it is still there, so it did not (the intent is dropped).
 *
 * Events not tied to a change (the expiry notices a scheduler sends, a webhook's test event, an SSF verification)
 * are inserted directly ({@link Outbox.emit}); with an idempotency key, the event id is derived from it, so emitting
 * again after a crash adds nothing.
 */
import type { DeliveryMethod, EventStorage, OutboxEvent, SubscriberKind } from '../../adapters/event-stores.ts';
import type { HashedOidcStore, JsonValue, LifecycleEvent, PatStore, UserStore } from '../../adapters/types.ts';
import type { Clock } from '../services/clock.ts';
import { SSF_VERIFICATION, keyedEventId, lifecycleEvent } from './catalogue.ts';

/** A subscriber an event is delivered to. */
export interface Target {
  readonly id: string;
  readonly kind: SubscriberKind;
  readonly method: DeliveryMethod;
}

/** Who gets an event: the subscribers that want it now (or its one subscriber, for an event meant for one). */
export interface Audience {
  targetsFor(event: OutboxEvent): Promise<Target[]>;
}

/** An intent written before a change without a document ({@link Outbox.intend}). */
export interface Intent {
  /** The change was made: deliver the event. */
  confirmed(): Promise<void>;
  /** The change is known not to have happened: forget the event. */
  abandoned(): Promise<void>;
}

/** Options of {@link Outbox.emit}. */
export interface EmitOptions {
  /**
   * At-least-once emitters (a scheduler that may emit again after a crash): the same key gives the same event id, so
   * the outbox keeps one event per key for as long as it keeps events (`EVENTS_RETENTION_DAYS`). E.g.
   * `token.expiring:<token id>:7d`.
   */
  readonly idempotencyKey?: string | undefined;
  /** Only this subscriber gets the event. */
  readonly only?: string | undefined;
  readonly at?: Date | undefined;
}

export interface Outbox {
  /** Relays the events a change just wrote on a token or user document (in the background; never throws). */
  relaySoon(source: 'pat' | 'user', id: string): void;
  /**
   * Emits an event tied to no document change. Resolves once it is in the outbox; `created` is false when an event
   * with the same idempotency key was emitted before.
   */
  emit(
    type: string,
    data: Readonly<Record<string, JsonValue>>,
    options?: EmitOptions,
  ): Promise<{ id: string; created: boolean }>;
  /** Writes the intent of a deletion (see above); `confirm` names the stored payload whose absence proves it. */
  intend(event: LifecycleEvent, confirm: { model: string; storedId: string }): Promise<Intent>;
  /**
   * Relays, confirms and fans out what a crash (or another instance) left behind, gives up deliveries past the retry
   * period and purges what is past retention. `everything`: at start-up, also what is too fresh to be left over.
   */
  sweep(options?: { everything?: boolean }): Promise<void>;
  /** Called after each fan-out with the subscribers that got a delivery (wakes the push worker and long polls). */
  onFannedOut(listener: (targets: readonly Target[]) => void): void;
  /** Adds housekeeping to every sweep (run last, its failure logged like the sweep's own steps). */
  onSweep(name: string, task: () => Promise<unknown>): void;
  /** Starts the periodic sweep (and runs one at once). */
  start(): void;
  /** Stops sweeping and waits for relays in flight. */
  close(): Promise<void>;
}

export interface OutboxDeps {
  readonly stores: EventStorage;
  readonly pats: PatStore;
  readonly users: UserStore;
  readonly oidc: HashedOidcStore;
  readonly audience: Audience;
  readonly clock: Clock;
  /** False: this instance records events but leaves relaying and fan-out to the instances that dispatch. */
  readonly dispatch: boolean;
  /** Sweep period. */
  readonly sweepMs: number;
  /** Deliveries not made within this time are given up. */
  readonly retryMs: number;
  /** Events and finished deliveries are deleted after this time. */
  readonly retentionMs: number;
  readonly onError: (operation: string, error: unknown) => void;
}

/** Pending events younger than this are left to the instance that wrote them (it relays them itself). */
const LEFT_OVER_MS = 10_000;
/** Intents younger than this may still be waiting for their change. */
const INTENT_SETTLE_MS = 60_000;
const BATCH = 100;

/** Creates the outbox. */
export function createOutbox(deps: OutboxDeps): Outbox {
  const { stores, clock } = deps;
  const listeners: Array<(targets: readonly Target[]) => void> = [];
  const housekeeping: Array<{ name: string; task: () => Promise<unknown> }> = [];
  const inFlight = new Set<Promise<void>>();
  let timer: NodeJS.Timeout | undefined;
  let sweeping: Promise<void> | undefined;
  let closed = false;

  const track = (work: Promise<void>) => {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  };

  async function fanOut(event: OutboxEvent): Promise<void> {
    const targets = await deps.audience.targetsFor(event);
    const now = clock.now();
    await stores.deliveries.insertIfAbsent(
      targets.map((t) => ({
        id: `${t.id}/${event.id}`,
        subscriberId: t.id,
        kind: t.kind,
        method: t.method,
        event: { id: event.id, type: event.type, at: event.at, txn: event.txn, data: event.data },
        state: 'pending',
        attempts: 0,
        createdAt: now,
        nextAttemptAt: now,
        leaseUntil: null,
        leaseOwner: null,
        lastAttemptAt: null,
        lastStatus: null,
        lastError: null,
        finishedAt: null,
      })),
    );
    await stores.outbox.setState(event.id, 'fanned_out', 'ready');
    if (targets.length > 0) for (const listener of listeners) listener(targets);
  }

  const ready = (event: LifecycleEvent, now: Date): OutboxEvent => ({
    ...event,
    state: 'ready',
    createdAt: now,
    confirm: null,
    only: null,
  });

  /** Copies one document's pending events into the outbox, forgets them there, and fans them out. */
  async function relay(source: 'pat' | 'user', id: string, events: readonly LifecycleEvent[]): Promise<void> {
    const store = source === 'pat' ? deps.pats : deps.users;
    const now = clock.now();
    const inserted: OutboxEvent[] = [];
    for (const event of events) {
      const entry = ready(event, now);
      // Inserted now, or by an earlier relay that did not get to forget it: either way it is in the outbox.
      if (await stores.outbox.insert(entry)) inserted.push(entry);
    }
    await store.eventsRelayed(
      id,
      events.map((e) => e.id),
    );
    for (const event of inserted) await fanOut(event);
  }

  async function relayNow(source: 'pat' | 'user', id: string): Promise<void> {
    const store = source === 'pat' ? deps.pats : deps.users;
    const [found] = await store.pendingEvents({ id, limit: 1 });
    if (found) await relay(source, id, found.events);
  }

  async function relayLeftOvers(before: Date | undefined): Promise<void> {
    for (const source of ['pat', 'user'] as const) {
      const store = source === 'pat' ? deps.pats : deps.users;
      for (let round = 0; round < 50 && !closed; round++) {
        const batch = await store.pendingEvents({ before, limit: BATCH });
        for (const { id, events } of batch) await relay(source, id, events);
        if (batch.length < BATCH) break;
      }
    }
  }

  async function settleIntents(now: Date): Promise<void> {
    const stale = await stores.outbox.list('intent', new Date(now.getTime() - INTENT_SETTLE_MS), BATCH);
    for (const intent of stale) {
      const gone =
        intent.confirm === null || !(await deps.oidc.existsStored(intent.confirm.model, intent.confirm.storedId));
      if (gone) {
        if (await stores.outbox.setState(intent.id, 'ready', 'intent')) await fanOut({ ...intent, state: 'ready' });
      } else {
        await stores.outbox.remove(intent.id);
      }
    }
  }

  async function fanOutReady(before: Date): Promise<void> {
    for (let round = 0; round < 50 && !closed; round++) {
      const batch = await stores.outbox.list('ready', before, BATCH);
      for (const event of batch) await fanOut(event);
      if (batch.length < BATCH) break;
    }
  }

  async function sweepOnce(everything: boolean): Promise<void> {
    const now = clock.now();
    const step = async (operation: string, work: () => Promise<unknown>) => {
      try {
        await work();
      } catch (error) {
        deps.onError(operation, error);
      }
    };
    await step('relay', () => relayLeftOvers(everything ? undefined : new Date(now.getTime() - LEFT_OVER_MS)));
    await step('intents', () => settleIntents(now));
    await step('fan_out', () =>
      fanOutReady(everything ? new Date(now.getTime() + 1) : new Date(now.getTime() - 5_000)),
    );
    await step('give_up', () =>
      stores.deliveries.expire(
        new Date(now.getTime() - deps.retryMs),
        `not delivered within ${Math.round(deps.retryMs / 3600_000)} h; given up`,
        now,
      ),
    );
    await step('purge', async () => {
      const before = new Date(now.getTime() - deps.retentionMs);
      await stores.outbox.purge(before);
      await stores.deliveries.purge(before);
      // Verification events only say "the stream works" at the time: a receiver may ask for one every few seconds
      // (the Node SDK's push heartbeat), so they are kept no longer than they can be delivered, not for retention.
      const verifiedBefore = new Date(now.getTime() - deps.retryMs);
      await stores.outbox.purge(verifiedBefore, SSF_VERIFICATION);
      await stores.deliveries.purge(verifiedBefore, SSF_VERIFICATION);
    });
    for (const { name, task } of housekeeping) await step(name, task);
  }

  return {
    relaySoon(source, id) {
      if (!deps.dispatch || closed) return;
      track(
        relayNow(source, id).catch((error: unknown) => {
          // Left on the document: the sweeper relays it.
          deps.onError('relay', error);
        }),
      );
    },

    async emit(type, data, options = {}) {
      const now = clock.now();
      const at = options.at ?? now;
      const id = options.idempotencyKey === undefined ? undefined : keyedEventId(options.idempotencyKey);
      const event: OutboxEvent = { ...ready(lifecycleEvent(type, data, { at, id }), now), only: options.only ?? null };
      const created = await stores.outbox.insert(event);
      if (created && deps.dispatch) {
        track(fanOut(event).catch((error: unknown) => deps.onError('fan_out', error)));
      }
      return { id: event.id, created };
    },

    async intend(event, confirm) {
      const now = clock.now();
      const intent: OutboxEvent = { ...event, state: 'intent', createdAt: now, confirm, only: null };
      await stores.outbox.insert(intent);
      return {
        async confirmed() {
          try {
            if ((await stores.outbox.setState(intent.id, 'ready', 'intent')) && deps.dispatch) {
              track(fanOut({ ...intent, state: 'ready' }).catch((error: unknown) => deps.onError('fan_out', error)));
            }
          } catch (error) {
            // Still an intent: the sweeper confirms it against the stored state.
            deps.onError('confirm', error);
          }
        },
        async abandoned() {
          await stores.outbox.remove(intent.id).catch((error: unknown) => deps.onError('abandon', error));
        },
      };
    },

    async sweep(options = {}) {
      if (!deps.dispatch) return;
      sweeping ??= sweepOnce(options.everything === true).finally(() => (sweeping = undefined));
      await sweeping;
    },

    onFannedOut(listener) {
      listeners.push(listener);
    },

    onSweep(name, task) {
      housekeeping.push({ name, task });
    },

    start() {
      if (!deps.dispatch || timer || closed) return;
      // At start-up nothing of this instance's own is in flight: whatever a document still holds is left over.
      track(this.sweep({ everything: true }));
      timer = setInterval(() => void this.sweep(), deps.sweepMs);
      timer.unref();
    },

    async close() {
      closed = true;
      if (timer) clearInterval(timer);
      timer = undefined;
      await sweeping;
      await Promise.allSettled([...inFlight]);
    },
  };
}

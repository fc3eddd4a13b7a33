/**
 * Storage contracts of lifecycle events and their delivery: the outbox (events relayed from the documents they were
 * written with, or emitted directly), the deliveries (one per event and subscriber: a webhook endpoint or an SSF
 * stream), and the subscribers themselves. Implemented for MongoDB (`mongo/events.ts`, `mongo/subscribers.ts`) and
 * memory (`memory/events.ts`). Every method resolves or rejects with a `StoreError`, like the other stores.
 */
import type { LifecycleEvent } from './types.ts';

/**
 * Where an event is in the outbox:
 * - `intent`: written before a change that has no document to carry it (a deletion: an OAuth token revoked, a client
 *   deleted); it becomes `ready` once the change is confirmed, or is dropped if the change never happened;
 * - `ready`: to be fanned out to the subscribers;
 * - `fanned_out`: every subscriber's delivery exists.
 */
export type OutboxState = 'intent' | 'ready' | 'fanned_out';

/** An event in the outbox. */
export interface OutboxEvent extends LifecycleEvent {
  readonly state: OutboxState;
  readonly createdAt: Date;
  /**
   * For an intent: the stored oidc-provider payload whose absence confirms the change (`model`, and its key as
   * stored, a hash for tokens). Null otherwise.
   */
  readonly confirm: { readonly model: string; readonly storedId: string } | null;
  /** Only this subscriber gets the event (a webhook's test event, a stream's verification); null: every one that wants it. */
  readonly only: string | null;
}

export interface OutboxStore {
  /** Inserts the event unless one with its id exists (then nothing changes); resolves with whether it inserted. */
  insert(event: OutboxEvent): Promise<boolean>;
  /** Moves an event to `state`, from `from` only when given (false when it was not there). */
  setState(id: string, state: OutboxState, from?: OutboxState): Promise<boolean>;
  remove(id: string): Promise<void>;
  /** Events in `state` created before `before`, oldest first. */
  list(state: OutboxState, before: Date, limit: number): Promise<OutboxEvent[]>;
  /** Deletes fanned-out events created before `before` (of `type` only, when given); resolves with how many. */
  purge(before: Date, type?: string): Promise<number>;
}

/** Who receives events: a webhook endpoint or an SSF stream. */
export type SubscriberKind = 'webhook' | 'ssf';

/** How a delivery reaches its subscriber: pushed by Tokenwarden, or polled by the receiver (RFC 8936). */
export type DeliveryMethod = 'push' | 'poll';

export type DeliveryState = 'pending' | 'delivered' | 'failed';

/** One event on its way to one subscriber. Its id is `<subscriber id>/<event id>`, so a second fan-out adds nothing. */
export interface DeliveryRecord {
  readonly id: string;
  readonly subscriberId: string;
  readonly kind: SubscriberKind;
  readonly method: DeliveryMethod;
  readonly event: LifecycleEvent;
  readonly state: DeliveryState;
  readonly attempts: number;
  readonly createdAt: Date;
  /** When a push is next due (for a poll delivery: its creation). */
  readonly nextAttemptAt: Date;
  /** A push in progress: until when, and by which instance (another may take it over after). */
  readonly leaseUntil: Date | null;
  readonly leaseOwner: string | null;
  readonly lastAttemptAt: Date | null;
  /** The HTTP status of the last attempt, if it got one. */
  readonly lastStatus: number | null;
  /** Why the last attempt failed (never a response body). */
  readonly lastError: string | null;
  /** When it was delivered, or given up. */
  readonly finishedAt: Date | null;
}

/** What an attempt changes on a delivery. */
export interface DeliveryOutcome {
  readonly state: DeliveryState;
  readonly attempts: number;
  readonly nextAttemptAt: Date;
  readonly lastAttemptAt: Date | null;
  readonly lastStatus: number | null;
  readonly lastError: string | null;
  readonly finishedAt: Date | null;
}

export interface DeliveryStore {
  /** Inserts each delivery unless one with its id exists. */
  insertIfAbsent(deliveries: readonly DeliveryRecord[]): Promise<void>;
  /**
   * Leases up to `limit` pending pushes due at `now` (unleased, or whose lease ran out) to `owner` until
   * `leaseUntil`, oldest due first, so that no two instances attempt one delivery at once. Resolves with those this
   * owner holds.
   */
  claim(now: Date, owner: string, leaseUntil: Date, limit: number): Promise<DeliveryRecord[]>;
  /** Records an attempt's outcome, then ends the lease. */
  settle(id: string, outcome: DeliveryOutcome): Promise<void>;
  /** Newest first, for the admin's view of a subscriber's deliveries. */
  list(subscriberId: string, limit: number, after?: { at: Date; id: string }): Promise<DeliveryRecord[]>;
  /** Pending poll deliveries of a stream, oldest first. */
  pendingPolls(subscriberId: string, limit: number): Promise<DeliveryRecord[]>;
  /** Marks pending deliveries of the subscriber (by event id) `state` at `at`; `errors` gives each one's reason. */
  finish(
    subscriberId: string,
    eventIds: readonly string[],
    state: 'delivered' | 'failed',
    at: Date,
    errors?: Readonly<Record<string, string>>,
  ): Promise<void>;
  /** Pending pushes of the subscriber become due at `at` (a paused stream enabled again). */
  reschedule(subscriberId: string, at: Date): Promise<void>;
  /** Gives up every pending delivery of the subscriber, with `reason` (disabled or deleted). */
  cancel(subscriberId: string, reason: string, at: Date): Promise<void>;
  /** Pending deliveries created before `before` are given up with `reason` (the retry period is over). */
  expire(before: Date, reason: string, at: Date): Promise<number>;
  /**
   * Deletes finished deliveries that finished before `before` (of events of `type` only, when given); resolves with
   * how many.
   */
  purge(before: Date, type?: string): Promise<number>;
}

/** A registered webhook endpoint (Standard Webhooks). */
export interface WebhookRecord {
  /** `wh_…` */
  readonly id: string;
  readonly url: string;
  /** Event types it wants; null: every type. */
  readonly events: readonly string[] | null;
  readonly description: string | null;
  readonly enabled: boolean;
  /** Why it was disabled, when Tokenwarden did it (the endpoint answered 410 Gone). */
  readonly disabledReason: string | null;
  /** The `whsec_` secret, sealed under `SECRET_KEY` (it must be recoverable: it is an HMAC key). */
  readonly secretSealed: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** Fields a webhook update may change; absent fields are left alone. */
export interface WebhookChanges {
  readonly events?: readonly string[] | null;
  readonly description?: string | null;
  readonly enabled?: boolean;
  readonly disabledReason?: string | null;
}

export interface WebhookStore {
  insert(webhook: WebhookRecord): Promise<void>;
  get(id: string): Promise<WebhookRecord | null>;
  /** Oldest first. */
  list(): Promise<WebhookRecord[]>;
  update(id: string, changes: WebhookChanges, at: Date): Promise<WebhookRecord | null>;
  /** False when unknown. */
  remove(id: string): Promise<boolean>;
}

/** SSF stream status (SSF 1.0 §8.1.2). */
export type StreamStatus = 'enabled' | 'paused' | 'disabled';

/** An SSF event stream, owned by the registered client that created it (its `aud`). */
export interface StreamRecord {
  /** The `stream_id`. */
  readonly id: string;
  readonly clientId: string;
  /** Receiver-supplied; null: not given (every type Tokenwarden sends). */
  readonly eventsRequested: readonly string[] | null;
  readonly description: string | null;
  readonly method: DeliveryMethod;
  /** Push: the receiver's endpoint; poll: null (the poll URL is Tokenwarden's). */
  readonly endpointUrl: string | null;
  /** Push: the `Authorization` header value to send, sealed under `SECRET_KEY`; null when none. */
  readonly authorizationSealed: string | null;
  readonly status: StreamStatus;
  readonly reason: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  /** The receiver's last call on the stream, or push it accepted (SSF 1.0 §8.1.1 `inactivity_timeout`). */
  readonly lastActivityAt: Date;
}

export interface StreamStore {
  insert(stream: StreamRecord): Promise<void>;
  get(id: string): Promise<StreamRecord | null>;
  /** Every stream, or one client's; oldest first. */
  list(clientId?: string): Promise<StreamRecord[]>;
  /** Replaces the stream (same id and owner); null when it is gone. */
  replace(stream: StreamRecord): Promise<StreamRecord | null>;
  /** Records activity on the stream at `at` (nothing when it is gone). */
  touch(id: string, at: Date): Promise<void>;
  remove(id: string): Promise<boolean>;
}

/** The event stores a storage backend offers. */
export interface EventStorage {
  readonly outbox: OutboxStore;
  readonly deliveries: DeliveryStore;
  readonly webhooks: WebhookStore;
  readonly streams: StreamStore;
}

/**
 * Storage contracts. `adapters/` implements them for MongoDB (mongoose), Redis (ioredis) and memory; services
 * depend only on these interfaces. Every method either resolves or rejects with a {@link StoreError}.
 */
import { TokenwardenError } from '../config/errors.ts';
import type { EventStorage } from './event-stores.ts';

/** A user who owns personal access tokens. */
export interface UserRecord {
  readonly id: string;
  readonly username: string;
  readonly email: string | null;
  readonly disabled: boolean;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** A personal access token as stored: never its value, only the SHA-256 hash of it. */
export interface PatRecord {
  /** Public id (`tok_…`), safe to show and log; reported as `jti` by introspection. */
  readonly id: string;
  /** Hex SHA-256 of the token value. Unique. Never leaves the store layer except to key the cache. */
  readonly tokenHash: string;
  readonly userId: string;
  readonly name: string;
  readonly description: string | null;
  readonly scopes: readonly string[];
  /** Audience (RFC 8707 resource) the token is bound to, if any. */
  readonly resource: string | null;
  readonly createdAt: Date;
  readonly expiresAt: Date | null;
  readonly lastUsedAt: Date | null;
  /** The client that last introspected the token (the resource server it was used at). */
  readonly lastUsedClient: string | null;
  /** When the value was last rotated (the id stays, the value and hash change). */
  readonly rotatedAt: Date | null;
  readonly revokedAt: Date | null;
}

/** A value a rotation replaced: valid until `validUntil` (the grace period), then only recognised for auditing. */
export interface RotatedValue {
  readonly tokenHash: string;
  readonly tokenId: string;
  readonly rotatedAt: Date;
  readonly validUntil: Date;
}

export type TokenStatus = 'active' | 'expired' | 'revoked' | 'all';

/**
 * A token's status at `now`, the one definition: revoked once revoked, else expired once its expiry is not in the
 * future, else active. (The MongoDB store's query filter in `mongo/pats.ts` states the same rule as a query.)
 */
export function tokenStatus(pat: Pick<PatRecord, 'revokedAt' | 'expiresAt'>, now: Date): Exclude<TokenStatus, 'all'> {
  if (pat.revokedAt !== null) return 'revoked';
  return pat.expiresAt !== null && pat.expiresAt <= now ? 'expired' : 'active';
}

/** Newest-first keyset position: the last row of the previous page. */
export interface Cursor {
  readonly at: Date;
  readonly id: string;
}

export interface TokenQuery {
  readonly userId?: string | undefined;
  readonly status: TokenStatus;
  /** Only tokens with an expiry before this instant. */
  readonly expiresBefore?: Date | undefined;
  /** Only tokens last used before this instant, or never used. */
  readonly lastUsedBefore?: Date | undefined;
  /** Only tokens created before this instant. */
  readonly createdBefore?: Date | undefined;
  /** "Now", for the active/expired distinction. */
  readonly now: Date;
  readonly limit: number;
  readonly after?: Cursor | undefined;
}

/** Fields a token update may change; absent fields are left alone. */
export interface TokenChanges {
  readonly name?: string;
  readonly description?: string | null;
  readonly expiresAt?: Date;
}

/** One audit log entry. Never a token value or hash. */
export interface AuditEvent {
  readonly id: string;
  readonly type: string;
  readonly at: Date;
  readonly userId: string | null;
  readonly tokenId: string | null;
  /** Who did it: `admin:<client_id>`, `user:<user_id>`, `client:<client_id>`, `system`. */
  readonly actor: string;
  /** How: `admin_api`, `self_service`, `revocation_endpoint`, `introspection`, `token_exchange`. */
  readonly via: string;
  readonly details: Readonly<Record<string, string | number | boolean | null>>;
}

export interface AuditQuery {
  readonly userId?: string | undefined;
  readonly tokenId?: string | undefined;
  readonly type?: string | undefined;
  readonly from?: Date | undefined;
  readonly to?: Date | undefined;
  readonly limit: number;
  readonly after?: Cursor | undefined;
}

/** A JSON value, as event data carries it. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/**
 * A lifecycle event (a token revoked, a user disabled, …), written with the change it describes: in the same
 * single-document write when the change is one (`pending_events` on the token or user), so that no acknowledged
 * change can lose its event, then relayed to the outbox ({@link EventStore}). Never a token value or hash.
 */
export interface LifecycleEvent {
  /** `evt_…`: unique, the same for every delivery and retry (the `webhook-id`, the SET's `jti`). */
  readonly id: string;
  /** `token.revoked`, `user.disabled`, … (the webhook event type). */
  readonly type: string;
  readonly at: Date;
  /** Shared by the events one change caused (a leak revokes and reports: two events, one `txn`; the SET's `txn`). */
  readonly txn: string;
  readonly data: Readonly<Record<string, JsonValue>>;
}

/** Events waiting on one document to be relayed to the outbox. */
export interface PendingEvents {
  /** The token's or user's id. */
  readonly id: string;
  readonly events: readonly LifecycleEvent[];
}

/** Which documents' pending events to read: one document's, or those written before an instant (oldest first). */
export interface PendingQuery {
  readonly id?: string | undefined;
  readonly before?: Date | undefined;
  readonly limit: number;
}

export interface UserStore {
  /** @throws {DuplicateError} with field `id` or `username`. */
  insert(user: UserRecord): Promise<void>;
  /** The user, or null when unknown or deleted. */
  get(id: string): Promise<UserRecord | null>;
  /**
   * Sets `disabled` atomically; returns the updated user or null when unknown or deleted. `events` are recorded in
   * the same write, and only when it changes the flag.
   */
  setDisabled(id: string, disabled: boolean, at: Date, events?: readonly LifecycleEvent[]): Promise<UserRecord | null>;
  /**
   * Newest first, `limit` rows after the cursor; deleted users are not listed. With `search`, only users whose id,
   * username or email contains it (case-insensitive).
   */
  list(limit: number, after?: Cursor, search?: string): Promise<UserRecord[]>;
  /**
   * Deletes the user; false when unknown or already deleted. The id stays reserved (a later insert with it fails
   * with {@link DuplicateError} `id`), so a new user can never inherit the tokens and audit trail of a deleted one;
   * the username is released. `events` are recorded in the same write (on the tombstone).
   */
  delete(id: string, at: Date, events?: readonly LifecycleEvent[]): Promise<boolean>;
  /** Users (deleted ones included) with events not yet relayed to the outbox. */
  pendingEvents(query: PendingQuery): Promise<PendingEvents[]>;
  /** Forgets events the outbox now holds (after they were relayed). */
  eventsRelayed(id: string, eventIds: readonly string[]): Promise<void>;
}

export interface PatStore {
  /**
   * Inserts a token, enforcing per user, among live (unrevoked, unexpired) tokens: a unique name, and at most
   * `maxLive` tokens. Expired tokens release their name and slot first. Single-document writes only, so it holds
   * under concurrency without transactions.
   * `events` are stored with the token, in the same write.
   * @throws {DuplicateError} with field `name`, or {@link LimitError}.
   */
  insert(pat: PatRecord, now: Date, maxLive: number, events?: readonly LifecycleEvent[]): Promise<void>;
  findByHash(tokenHash: string): Promise<PatRecord | null>;
  /** The tokens whose current value has one of these hashes, in one query. */
  findByHashes(tokenHashes: readonly string[]): Promise<PatRecord[]>;
  findById(id: string): Promise<PatRecord | null>;
  /** Newest first (created_at, then id), at most `limit` rows after the cursor. */
  query(q: TokenQuery): Promise<PatRecord[]>;
  /**
   * Every unrevoked token whose expiry is after `from` and at or before `to`, in no particular order, streamed from
   * one query however many there are (what the expiry notices read at each run). Iterating rejects with
   * {@link StoreError} like any method.
   */
  scanExpiring(from: Date, to: Date): AsyncIterable<PatRecord>;
  /**
   * Applies changes to an unrevoked token, atomically. An `expiresAt` change only applies when it is earlier than
   * the stored expiry (or the token had none). Returns the token as it now stands, or null when the id is unknown
   * or the token is revoked. `expiryEvents` are recorded in the write that brings the expiry earlier, and only if
   * it does. @throws {DuplicateError} with field `name` when the new name is taken.
   */
  update(id: string, changes: TokenChanges, expiryEvents?: readonly LifecycleEvent[]): Promise<PatRecord | null>;
  /**
   * Replaces the value of an unrevoked token whose current hash is `fromHash` (compare-and-swap), so of two
   * concurrent rotations exactly one wins. Returns the rotated token or null when the swap did not happen. `events`
   * are recorded by the swap itself (only the winner's).
   */
  rotate(
    id: string,
    fromHash: string,
    toHash: string,
    changes: { expiresAt: Date | null; at: Date; events?: readonly LifecycleEvent[] },
  ): Promise<PatRecord | null>;
  /**
   * Marks the token revoked at `at` unless it already is (single-document atomic update), recording `events` in
   * that update (not when the token was revoked already). Returns the token as it now stands (revoked), or null
   * when the id is unknown.
   */
  revoke(id: string, at: Date, events?: readonly LifecycleEvent[]): Promise<PatRecord | null>;
  /**
   * Revokes every unrevoked token of the user; returns those it revoked. `eventsFor(tokenId)` gives the events each
   * revocation records in its own update.
   */
  revokeAllOfUser(
    userId: string,
    at: Date,
    eventsFor?: (tokenId: string) => readonly LifecycleEvent[],
  ): Promise<PatRecord[]>;
  /** Hashes of the user's tokens that are not revoked (used to invalidate cache entries). */
  unrevokedHashesOfUser(userId: string): Promise<string[]>;
  /**
   * Records a use, unless one was recorded less than `minIntervalMs` before `at` (conditional update: at most
   * one write per interval per token, across every instance). Returns whether it wrote.
   */
  touchLastUsed(id: string, at: Date, clientId: string | null, minIntervalMs: number): Promise<boolean>;
  /** Remembers a rotated-out value, unless it is already remembered (never overwrites). */
  insertRotated(value: RotatedValue): Promise<void>;
  findRotated(tokenHash: string): Promise<RotatedValue | null>;
  /** The remembered rotated-out values with these hashes, in one query. */
  findRotatedMany(tokenHashes: readonly string[]): Promise<RotatedValue[]>;
  /** Sets when a remembered rotated-out value stops working. */
  setRotatedValidUntil(tokenHash: string, validUntil: Date): Promise<void>;
  /**
   * Ends, at `at`, the grace period of every rotated-out value of the token except `exceptHash` (a later rotation
   * ends the grace of every earlier value). Values whose grace ended before `at` keep their end.
   */
  endGrace(tokenId: string, exceptHash: string, at: Date): Promise<void>;
  /** Tokens with events not yet relayed to the outbox. */
  pendingEvents(query: PendingQuery): Promise<PendingEvents[]>;
  /** Forgets events the outbox now holds (after they were relayed). */
  eventsRelayed(id: string, eventIds: readonly string[]): Promise<void>;
}

export interface AuditStore {
  insert(event: AuditEvent): Promise<void>;
  /** Newest first. */
  query(q: AuditQuery): Promise<AuditEvent[]>;
}

/** Storage of oidc-provider's own models (clients, access tokens, …), following its adapter contract. */
export interface OidcStore {
  upsert(model: string, id: string, payload: OidcPayload, expiresInSeconds: number | undefined): Promise<void>;
  find(model: string, id: string): Promise<OidcPayload | undefined>;
  findByUid(model: string, uid: string): Promise<OidcPayload | undefined>;
  findByUserCode(model: string, userCode: string): Promise<OidcPayload | undefined>;
  consume(model: string, id: string): Promise<void>;
  destroy(model: string, id: string): Promise<void>;
  revokeByGrantId(model: string, grantId: string): Promise<void>;
  /** Every live payload of a model (used to list registered clients). */
  list(model: string): Promise<OidcPayload[]>;
  /**
   * The stored ids (hashes) of the access tokens issued to a client (`AccessToken` and `ClientCredentials`), so
   * their cached answers can be ended when the client is deleted.
   */
  tokenIdsOfClient(clientId: string): Promise<string[]>;
}

export type OidcPayload = Record<string, unknown> & {
  grantId?: string;
  uid?: string;
  userCode?: string;
  consumed?: number;
};

/** oidc-provider's store as `createHashedOidcStore` keeps it: every id but a client's hashed. */
export interface HashedOidcStore extends OidcStore {
  /** Whether a live payload is stored under this key as stored (a token's: the hash of its id; a client's: its id). */
  existsStored(model: string, storedId: string): Promise<boolean>;
}

/**
 * A shared key-value cache with TTLs (Redis). Methods reject with {@link StoreError} when the cache is
 * unreachable: callers decide whether that is fatal (it never is for introspection).
 */
export interface Cache {
  get(key: string): Promise<string | null>;
  /** SET with expiry; with `onlyIfAbsent`, does nothing when the key exists (SET NX). */
  set(key: string, value: string, ttlSeconds: number, onlyIfAbsent?: boolean): Promise<void>;
  del(keys: readonly string[]): Promise<void>;
  /** Atomically sets `key` to `value` only if it still holds `expected` (compare-and-set). */
  replace(key: string, expected: string, value: string, ttlSeconds: number): Promise<boolean>;
  ping(): Promise<void>;
  /**
   * Registers a callback run each time the cache becomes ready: the first time with `reconnect` false, then true
   * after every reconnection and every failover or topology change (a promoted replica may lack writes its master
   * acknowledged). It runs before anything is read from the new servers; until then every method rejects at once.
   */
  onReady(listener: (reconnect: boolean) => void): void;
  /** Publishes a message to every subscriber of `channel` (Redis pub/sub; sharded pub/sub in a cluster). */
  publish(channel: string, message: string): Promise<void>;
  /**
   * Subscribes (on a separate connection) to `channel`. `onState(true)` is called once the subscription is live,
   * again after every reconnection or failover; `onState(false)` as soon as messages may be missed (the connection
   * lost, a failover or topology change under way). Only changes are reported.
   */
  subscribe(channel: string, onMessage: (message: string) => void, onState: (live: boolean) => void): void;
  close(): Promise<void>;
}

/**
 * A shared "do not trust cache entries written before" instant. An instance that could not write a cache
 * invalidation raises it; every instance reads it every second and then ignores older cache entries.
 */
export interface BarrierStore {
  /** Epoch milliseconds, 0 when never raised. */
  read(): Promise<number>;
  /** Moves the barrier forward to `atMs` (never back). */
  raise(atMs: number): Promise<void>;
}

/**
 * The server's own signing keys (JWKS), kept sealed (encrypted by the caller) so that every instance on one
 * database publishes the same keys and they survive restarts.
 */
export interface SigningKeyStore {
  /** The sealed key set, or null when none was stored yet. */
  read(): Promise<string | null>;
  /** Stores `sealed` unless a key set is already stored; resolves with the one stored (the first writer wins). */
  insertIfAbsent(sealed: string): Promise<string>;
  /** Replaces the stored key set (rotation). */
  replace(sealed: string): Promise<void>;
}

/** What a notice tells: a token will expire, has expired, or was revoked by the inactive-token policy. */
export type NoticeKind = 'expiring' | 'expired' | 'revoked_inactive';

/**
 * A notice claimed for one channel (the audit log, email, webhooks, …). There is at most one claim per channel and
 * notice (its `id`), across every instance and restart; the instance that claims a notice delivers it, then marks
 * it delivered. A claim left undelivered (its holder crashed, or the delivery failed) is taken over once its lease
 * has ended: every notice reaches every channel at least once.
 */
export interface NoticeClaim {
  /** `<channel>/<key>`: unique. */
  readonly id: string;
  readonly channel: string;
  /** The notice's idempotency key (`expiring-7d:tok_…`), the same on every channel. */
  readonly key: string;
  readonly kind: NoticeKind;
  readonly tokenId: string;
  readonly userId: string;
  /** Expiring notices: how many days before the expiry this one is; null for the other kinds. */
  readonly thresholdDays: number | null;
  /** Expiring: the expiry; expired: when it expired; revoked_inactive: when it was last used (null: never). */
  readonly at: Date | null;
  readonly claimedAt: Date;
  /** Until then its holder is delivering it (or waits to try again); afterwards any instance may take it over. */
  readonly leaseUntil: Date;
  /** Deliveries attempted so far (the claim itself is the first). */
  readonly attempts: number;
  readonly deliveredAt: Date | null;
  /** From then on the notice is moot, delivered or not, and the claim is deleted. */
  readonly purgeAfter: Date;
}

/** The notice claims (`notice_claims`). */
export interface NoticeStore {
  /**
   * Inserts the claim unless one with its id exists; true when this call claimed it. Atomic across instances on
   * MongoDB and FerretDB alike: a unique id, no read-modify-write.
   */
  claim(claim: NoticeClaim): Promise<boolean>;
  /** Which of these ids are claimed (delivered or not). */
  existing(ids: readonly string[]): Promise<Set<string>>;
  /** Undelivered claims whose lease has ended by `now` and that are not moot yet, at most `limit`. */
  overdue(now: Date, limit: number): Promise<NoticeClaim[]>;
  /**
   * Takes over an overdue claim: only while it is undelivered, its lease has ended by `now` and it has had
   * `attempts` attempts (compare-and-set); counts one more and leases it until `leaseUntil`. True when taken.
   */
  retake(id: string, attempts: number, now: Date, leaseUntil: Date): Promise<boolean>;
  /** Records that the claim was delivered. */
  delivered(id: string, at: Date): Promise<void>;
  /** Records a failed delivery: the claim may be taken over once `retryAt` has passed. */
  release(id: string, retryAt: Date): Promise<void>;
  /** Deletes the claims that are moot at `now`; how many, and how many of those were never delivered. */
  purge(now: Date): Promise<{ deleted: number; undelivered: number }>;
}

/** A named lease (one inactive-token sweep at a time, across instances). */
export interface Lease {
  readonly name: string;
  /** Each taking of the lease is a new generation; the highest generation is the lease. */
  readonly generation: number;
  readonly holder: string;
  readonly until: Date;
}

/** Leases (`leases`). */
export interface LeaseStore {
  /**
   * Takes the lease for `holder` until `until` if it is free at `now` (never taken, released, or past its `until`);
   * null when another holds it. Atomic across instances on MongoDB and FerretDB alike: the next generation is an
   * insert under a unique id (of two instances, one inserts it), and a generation that finds a higher one after its
   * insert gives way.
   */
  acquire(name: string, holder: string, now: Date, until: Date): Promise<Lease | null>;
  /**
   * Extends a lease still held (the highest generation, not released); null when it was lost. Callers renew well
   * before `until`: an expired lease may be taken by another at any moment.
   */
  renew(lease: Lease, until: Date): Promise<Lease | null>;
  /** Gives the lease up (the next `acquire` may take it at once). */
  release(lease: Lease): Promise<void>;
}

/** What a storage backend offers the composition root. */
export interface Storage {
  readonly users: UserStore;
  readonly pats: PatStore;
  readonly audit: AuditStore;
  readonly barrier: BarrierStore;
  readonly signingKeys: SigningKeyStore;
  readonly notices: NoticeStore;
  readonly leases: LeaseStore;
  /** oidc-provider's models, every id but a client's kept only as a hash (`createHashedOidcStore`). */
  readonly oidc: HashedOidcStore;
  /** Lifecycle events: the outbox, deliveries, webhook endpoints and SSF streams. */
  readonly events: EventStorage;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Base class of storage failures (`ERR_STORE`: the store refused the operation for another reason). */
export class StoreError extends TokenwardenError {
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(options?.code ?? 'ERR_STORE', message, options);
  }
}

/** `ERR_STORE_UNAVAILABLE`: the backend could not be reached or did not answer in time; the outcome is unknown. */
export class StoreUnavailableError extends StoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, code: 'ERR_STORE_UNAVAILABLE' });
  }
}

/** `ERR_DUPLICATE`: a unique constraint refused the write; `field` names it. */
export class DuplicateError extends StoreError {
  constructor(readonly field: string) {
    super(`duplicate ${field}`, { code: 'ERR_DUPLICATE' });
  }
}

/** `ERR_LIMIT`: the user already has the maximum number of live tokens. */
export class LimitError extends StoreError {
  constructor(readonly limit: number) {
    super(`at most ${limit} live tokens per user`, { code: 'ERR_LIMIT' });
  }
}

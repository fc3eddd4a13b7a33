/**
 * Storage contracts. `adapters/` implements them for MongoDB (mongoose), Redis (ioredis) and memory; services
 * depend only on these interfaces. Every method either resolves or rejects with a {@link StoreError}.
 */

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
  readonly revokedAt: Date | null;
}

export interface UserStore {
  /** @throws {DuplicateError} with field `id` or `username`. */
  insert(user: UserRecord): Promise<void>;
  get(id: string): Promise<UserRecord | null>;
  /** Sets `disabled` atomically; returns the updated user or null when unknown. */
  setDisabled(id: string, disabled: boolean, at: Date): Promise<UserRecord | null>;
}

export interface PatStore {
  /**
   * Inserts a token. The name is unique per user among live tokens: a live (unrevoked) token with the same name
   * makes it throw {@link DuplicateError} with field `name`. Expired holders of the name are released first.
   */
  insert(pat: PatRecord, now: Date): Promise<void>;
  findByHash(tokenHash: string): Promise<PatRecord | null>;
  findById(id: string): Promise<PatRecord | null>;
  /** Newest first. */
  listByUser(userId: string): Promise<PatRecord[]>;
  /**
   * Marks the token revoked at `at` unless it already is (single-document atomic update).
   * Returns the token as it now stands (revoked), or null when the id is unknown.
   */
  revoke(id: string, at: Date): Promise<PatRecord | null>;
  /** Hashes of the user's tokens that are not revoked (used to invalidate cache entries). */
  unrevokedHashesOfUser(userId: string): Promise<string[]>;
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
}

export type OidcPayload = Record<string, unknown> & {
  grantId?: string;
  uid?: string;
  userCode?: string;
  consumed?: number;
};

/**
 * A shared key-value cache with TTLs (Redis). Methods reject with {@link StoreError} when the cache is
 * unreachable: callers decide whether that is fatal (it never is for introspection).
 */
export interface Cache {
  get(key: string): Promise<string | null>;
  /** SET with expiry; with `onlyIfAbsent`, does nothing when the key exists (SET NX). */
  set(key: string, value: string, ttlSeconds: number, onlyIfAbsent?: boolean): Promise<void>;
  del(keys: readonly string[]): Promise<void>;
  ping(): Promise<void>;
  /** Registers a callback run each time the connection becomes ready again. */
  onReady(listener: () => void): void;
  close(): Promise<void>;
}

/** What a storage backend offers the composition root. */
export interface Storage {
  readonly users: UserStore;
  readonly pats: PatStore;
  readonly oidc: OidcStore;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Base class of storage failures, with a stable `code`. */
export class StoreError extends Error {
  readonly code: string = 'ERR_STORE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The backend could not be reached or did not answer in time: the operation's outcome is unknown or nil. */
export class StoreUnavailableError extends StoreError {
  override readonly code = 'ERR_STORE_UNAVAILABLE';
}

/** A unique constraint refused the write; `field` names it. */
export class DuplicateError extends StoreError {
  override readonly code = 'ERR_DUPLICATE';
  constructor(readonly field: string) {
    super(`duplicate ${field}`);
  }
}

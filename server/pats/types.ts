/**
 * The PAT module's public types: what the rest of the server sees of personal access tokens. The module itself
 * (`service.ts`) is assembled from the policy, the lifecycle commands, the lookup pipeline, last-used tracking and
 * the cache protocol, each in its own file.
 */
import type { Cursor, PatRecord, TokenQuery } from '../../adapters/types.ts';
import type { RevocationReason } from '../events/catalogue.ts';
import type { Actor } from '../services/audit.ts';

/** What introspection needs to know about a live PAT. */
export interface LivePat {
  readonly kind: 'pat';
  readonly id: string;
  readonly userId: string;
  readonly username: string;
  readonly name: string;
  readonly scopes: readonly string[];
  readonly resource: string | null;
  /** Seconds since the epoch. */
  readonly issuedAt: number;
  readonly expiresAt: number | null;
  /**
   * Which value was presented: the token's `current` one, or a rotated-out one still in its `grace` period. A grace
   * value may be introspected (resource access) and revoked, nothing else.
   */
  readonly credential: 'current' | 'grace';
}

/**
 * An OAuth access token issued by `/token`, as introspection answers it and the caches keep it: never its value (its
 * `jti` is derived from the value, see `oauthTokenId`).
 */
export interface OAuthToken {
  readonly kind: 'oauth';
  /** The public identifier introspection reports (`at_…`). */
  readonly jti: string;
  readonly clientId: string;
  /** The user, for tokens issued on behalf of one; absent for client_credentials. */
  readonly accountId?: string | undefined;
  readonly scope?: string | undefined;
  /** Seconds since the epoch. */
  readonly expiresAt: number;
  readonly issuedAt: number;
  readonly aud?: string | readonly string[] | undefined;
  readonly extra?: Readonly<Record<string, unknown>> | undefined;
  /** Tokens tied to a grant (the console's sign-in) are not cached: their grant can end them. */
  readonly grantBound: boolean;
}

/** What the token caches keep: a live PAT, or a live OAuth access token. */
export type CachedAnswer = LivePat | OAuthToken;

/**
 * Limits a PAT caller puts on what it creates or rotates through self-service: never more scopes, a later
 * expiry, or another resource than itself.
 */
export interface Constraints {
  readonly scopes: ReadonlySet<string>;
  /** Seconds, or null when the calling token does not expire. */
  readonly expiresAt: number | null;
  readonly resource: string | null;
}

/** A use of a token, recorded as `last_used_at` and `last_used_client` (by which client, if any). */
export interface TokenUse {
  readonly clientId: string | null;
  readonly actor: Actor;
  /**
   * Whether this user may see the token at all (introspection: the token's resource binding). A use it may not see
   * is not recorded as a use of the token. Default: every token.
   */
  readonly admits?: ((live: LivePat) => boolean) | undefined;
}

/** Who acts, and under which limits. */
export interface ActionContext {
  readonly actor: Actor;
  readonly constraints?: Constraints | undefined;
  /** Why tokens are revoked, when it is not the action itself (a user's deletion revokes their tokens). */
  readonly reason?: RevocationReason | undefined;
  /** Groups the lifecycle events of one change (the SET `txn`): a user's deletion and the revocations it makes. */
  readonly txn?: string | undefined;
}

export interface CreatePatInput {
  readonly name: string;
  readonly description?: string | null | undefined;
  readonly scopes: readonly string[];
  /** Undefined: the default lifetime; null: never expires (only when the policy allows it). */
  readonly expiresAt?: Date | null | undefined;
  readonly resource?: string | null | undefined;
}

export interface UpdatePatInput {
  readonly name?: string | undefined;
  readonly description?: string | null | undefined;
  /** Only ever earlier than the current expiry. */
  readonly expiresAt?: Date | undefined;
}

export interface RotatePatInput {
  readonly expiresAt?: Date | null | undefined;
  /** How long the replaced value keeps working (0 to 86,400 s). */
  readonly graceSeconds: number;
}

export interface PatService {
  /** Mints a PAT. The value is in the result and nowhere else, ever. */
  create(userId: string, input: CreatePatInput, ctx: ActionContext): Promise<{ record: PatRecord; token: string }>;
  /** Newest first; `next` is the cursor of the following page, if any. */
  list(query: TokenQuery): Promise<{ items: PatRecord[]; next: Cursor | null }>;
  /** @throws {NotFound} unless the token is the user's. */
  get(userId: string, id: string): Promise<PatRecord>;
  update(userId: string, id: string, input: UpdatePatInput, ctx: ActionContext): Promise<PatRecord>;
  /** A new value under the same id; the old one works for `graceSeconds` more, then never again. */
  rotate(
    userId: string,
    id: string,
    input: RotatePatInput,
    ctx: ActionContext,
  ): Promise<{ record: PatRecord; token: string }>;
  /** Revokes a user's token; idempotent. @throws {NotFound} when the token is not that user's. */
  revoke(userId: string, id: string, ctx: ActionContext): Promise<PatRecord>;
  /** Revokes every live token of the user; returns how many. */
  revokeAll(userId: string, ctx: ActionContext): Promise<number>;
  /**
   * Revokes the token behind a presented value (RFC 7009 `/revoke`): its current value, or a rotated-out one still
   * in its grace period, whatever the state of its user. Returns false when the value revokes nothing.
   */
  revokeByValue(value: string, ctx: ActionContext): Promise<boolean>;
  /**
   * Revokes every live PAT among presented values (a secret scanner reporting leaks). Values that are not PATs,
   * unknown or already dead are ignored; a rotated-out value still in its grace period revokes its token.
   * Returns how many tokens it revoked (for logs and tests; never told to the caller).
   */
  revokeLeaked(values: readonly string[], ctx: ActionContext): Promise<number>;
  /**
   * The live PAT for a presented value, or null. Malformed values cost no I/O. Rejects only on storage outage.
   * With `use`, records the use (`last_used_at`, at most once per interval per token).
   */
  lookup(value: string, use?: TokenUse): Promise<LivePat | null>;
  /**
   * {@link lookup}'s answer when it needs no I/O (a malformed value, or the in-process layer holds the answer);
   * undefined when it does. For the introspection fast path, which then stays synchronous.
   */
  lookupCached(value: string, use?: TokenUse): LivePat | null | undefined;
  /**
   * The live PAT for a presented value read from MongoDB alone (no cache layer is trusted), or null; for the
   * self-service writes, which must not act on a cache entry. Grace values are answered as such.
   */
  lookupInStore(value: string): Promise<LivePat | null>;
  /**
   * The inactive-token policy's revocation, through the one revoke routine (audit reason `inactive`, with
   * `details`): revokes the token if it is still active and unused since `unusedSince` (never used: created before
   * it), read afresh from MongoDB. Returns the token when this call revoked it; null when it was used, revoked or
   * expired meanwhile, or another revocation's write stood.
   */
  revokeInactive(
    id: string,
    unusedSince: Date,
    ctx: ActionContext,
    details?: Readonly<Record<string, string | number | boolean | null>>,
  ): Promise<PatRecord | null>;
  /**
   * The live PAT `id` when `valueId` (`valueIdOfHash` in `pat-format.ts`) names its current value, or null: what an exchanged
   * access token was issued for, looked up through the same layers as {@link lookup} (a warm token costs no I/O). A
   * rotation ends it, grace period or not. With `use`, records the use. Rejects only on storage outage.
   */
  lookupById(id: string, valueId: string, use?: TokenUse): Promise<LivePat | null>;
  /** Drops every cached answer for the user's tokens (called when the user is disabled or deleted). */
  invalidateUser(userId: string): Promise<void>;
  /** Removes the `stale` markers left by {@link invalidateUser} (the user is enabled again): best effort. */
  uncacheUser(userId: string): Promise<void>;
  /** Stops retrying withdrawals of failed creations. */
  close(): void;
}

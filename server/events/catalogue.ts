/**
 * The lifecycle events Tokenwarden emits, one source for both channels: webhooks get them as they are (Standard
 * Webhooks payloads, `type` below), SSF streams as Security Event Tokens of the CAEP or RISC type they map to
 * (`ssf/mapping.ts`). The builders here are the only place an event's data is shaped; no event carries a token value
 * or hash, a secret, or a client secret.
 */
import { createHash } from 'node:crypto';

import type { JsonValue, LifecycleEvent, PatRecord } from '../../adapters/types.ts';
import type { Actor } from '../services/audit.ts';
import { randomBase62 } from '../services/pat-format.ts';

/** Webhook event types, stable strings (Standard Webhooks: full-stop delimited, `[a-z_]`). */
export const WEBHOOK_EVENT_TYPES = [
  'token.created',
  'token.rotated',
  'token.revoked',
  'token.leaked',
  'token.expiry_shortened',
  'token.expiring',
  'token.expired',
  'user.disabled',
  'user.enabled',
  'user.deleted',
  'oauth_token.revoked',
  'webhook.test',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** The internal type of an SSF verification event (SSF 1.0 §8.1.4): sent to one stream, never to webhooks. */
export const SSF_VERIFICATION = 'ssf.verification';

/** Why a token was revoked, as `token.revoked` says. */
export type RevocationReason =
  | 'revoked'
  | 'revoke_all'
  | 'user_deleted'
  | 'leaked'
  | 'creation_failed'
  /** The inactive-token policy (`INACTIVE_TOKEN_DAYS`): unused for that long. */
  | 'inactive';

/** Why an OAuth access token stopped working, as `oauth_token.revoked` says. */
export type OAuthRevocationReason = 'revocation_endpoint' | 'client_deleted';

const BASE62_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** A new event id: `evt_` and 24 random base62 characters (about 143 bits). */
export function newEventId(): string {
  return `evt_${randomBase62(24)}`;
}

/**
 * The event id for an idempotency key: the same key always gives the same id, so emitting an event twice (a
 * scheduler retrying after a crash) leaves one event in the outbox.
 */
export function keyedEventId(key: string): string {
  // Base62 like a random id (`webhook-id` receivers may match on it), from 24 bytes of SHA-256.
  const digest = createHash('sha256').update(`tokenwarden event\u0000${key}`).digest();
  let id = 'evt_';
  for (let i = 0; i < 24; i++) id += BASE62_ALPHABET[digest[i]! % 62];
  return id;
}

/** An event of `type` at `at`, with its own id and `txn` unless given. */
export function lifecycleEvent(
  type: string,
  data: Readonly<Record<string, JsonValue>>,
  options: { at: Date; id?: string | undefined; txn?: string | undefined },
): LifecycleEvent {
  const id = options.id ?? newEventId();
  return { id, type, at: options.at, txn: options.txn ?? id, data };
}

const iso = (d: Date | null) => (d === null ? null : d.toISOString());

/** Who did it and through which door, as every event's data records it. */
function by(actor: Actor): Record<string, JsonValue> {
  return {
    actor: actor.id,
    via: actor.via,
    ...(actor.credential === undefined ? {} : { credential: actor.credential }),
  };
}

/** The builders of the change events, used by the services that make the changes. */
export const events = {
  tokenCreated: (pat: PatRecord, actor: Actor, at: Date) =>
    lifecycleEvent(
      'token.created',
      {
        token_id: pat.id,
        user_id: pat.userId,
        name: pat.name,
        scopes: [...pat.scopes],
        expires_at: iso(pat.expiresAt),
        resource: pat.resource,
        ...by(actor),
      },
      { at },
    ),
  tokenRotated: (
    token: { id: string; userId: string },
    change: { expiresAt: Date | null; previousValidUntil: Date },
    actor: Actor,
    at: Date,
  ) =>
    lifecycleEvent(
      'token.rotated',
      {
        token_id: token.id,
        user_id: token.userId,
        expires_at: iso(change.expiresAt),
        previous_value_valid_until: iso(change.previousValidUntil),
        ...by(actor),
      },
      { at },
    ),
  tokenRevoked: (
    token: { id: string; userId: string },
    reason: RevocationReason,
    actor: Actor,
    at: Date,
    txn?: string,
  ) =>
    lifecycleEvent('token.revoked', { token_id: token.id, user_id: token.userId, reason, ...by(actor) }, { at, txn }),
  tokenLeaked: (token: { id: string; userId: string }, actor: Actor, at: Date, txn: string) =>
    lifecycleEvent('token.leaked', { token_id: token.id, user_id: token.userId, ...by(actor) }, { at, txn }),
  expiryShortened: (
    token: { id: string; userId: string },
    change: { from: Date | null; to: Date },
    actor: Actor,
    at: Date,
  ) =>
    lifecycleEvent(
      'token.expiry_shortened',
      {
        token_id: token.id,
        user_id: token.userId,
        expires_at: change.to.toISOString(),
        previous_expires_at: iso(change.from),
        ...by(actor),
      },
      { at },
    ),
  /** A token will expire within `thresholdDays` (an expiry notice, `EXPIRY_NOTICE_DAYS`). */
  tokenExpiring: (
    token: { id: string; userId: string },
    notice: { expiresAt: Date; thresholdDays: number },
    actor: Actor,
    at: Date,
  ) =>
    lifecycleEvent(
      'token.expiring',
      {
        token_id: token.id,
        user_id: token.userId,
        expires_at: notice.expiresAt.toISOString(),
        threshold_days: notice.thresholdDays,
        ...by(actor),
      },
      { at },
    ),
  /** A token has expired (an expiry notice). */
  tokenExpired: (token: { id: string; userId: string }, expiredAt: Date, actor: Actor, at: Date) =>
    lifecycleEvent(
      'token.expired',
      { token_id: token.id, user_id: token.userId, expired_at: expiredAt.toISOString(), ...by(actor) },
      { at },
    ),
  user: (
    type: 'user.disabled' | 'user.enabled' | 'user.deleted',
    userId: string,
    actor: Actor,
    at: Date,
    txn?: string,
  ) => lifecycleEvent(type, { user_id: userId, ...by(actor) }, { at, txn }),
  oauthTokenRevoked: (
    subject: { tokenId: string | null; clientId: string; userId: string | null },
    reason: OAuthRevocationReason,
    actor: Actor,
    at: Date,
  ) =>
    lifecycleEvent(
      'oauth_token.revoked',
      {
        ...(subject.tokenId === null ? {} : { token_id: subject.tokenId }),
        client_id: subject.clientId,
        user_id: subject.userId,
        reason,
        ...by(actor),
      },
      { at },
    ),
};

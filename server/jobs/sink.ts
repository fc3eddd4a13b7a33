/**
 * Where notices go. A {@link NoticeSink} receives the expiry notices and the inactive-token policy's revocations;
 * each sink is a channel ({@link NoticeChannel}) with its own claims, so every channel gets every notice at least
 * once whatever the others do (a failing mail server does not make the audit log or the webhooks repeat
 * themselves). The channels are listed once, in `compose/jobs.ts`: the audit log always, email when configured,
 * and the lifecycle events (webhooks) there too.
 */
import type { AuditService } from '../services/audit.ts';
import type { Actor } from '../services/audit.ts';

/** A token will expire within `thresholdDays`. */
export interface ExpiringNotice {
  readonly tokenId: string;
  readonly userId: string;
  readonly expiresAt: Date;
  readonly thresholdDays: number;
  /** The same for every delivery of this notice, on every channel: `expiring-<days>d:<token id>`. */
  readonly idempotencyKey: string;
}

/** A token has expired. */
export interface ExpiredNotice {
  readonly tokenId: string;
  readonly userId: string;
  readonly expiredAt: Date;
  /** `expired:<token id>`. */
  readonly idempotencyKey: string;
}

/** The inactive-token policy revoked a token (the revocation itself went through the PAT service). */
export interface RevokedInactiveNotice {
  readonly tokenId: string;
  readonly userId: string;
  /** Null: never used. */
  readonly lastUsedAt: Date | null;
  /** `revoked-inactive:<token id>`. */
  readonly idempotencyKey: string;
}

/** Where notices go: the lead connects this to the lifecycle events (webhooks) when merging. */
export interface NoticeSink {
  /** A token will expire within `thresholdDays` (emitted once per token and threshold, at-least-once). */
  expiring(notice: ExpiringNotice): Promise<void>;
  /** A token has expired (once per token). */
  expired(notice: ExpiredNotice): Promise<void>;
  /** A token was revoked by the inactive-token policy (the revocation itself goes through the PAT service). */
  revokedInactive(notice: RevokedInactiveNotice): Promise<void>;
}

/**
 * A sink and the name of its channel. The name keys its claims (`<name>/<idempotency key>`): keep it stable, or
 * every pending notice goes out again on the renamed channel.
 */
export interface NoticeChannel {
  readonly name: string;
  readonly sink: NoticeSink;
}

/** Who the scheduled jobs act as in the audit log. */
export const SCHEDULER: Actor = { id: 'system', via: 'scheduler' };

/**
 * The audit log as a sink: `token.expiring` (details `threshold_days`, `expires_at`) and `token.expired` (details
 * `expired_at`), by `system` via `scheduler`, each event's id derived from the notice's idempotency key so a notice
 * delivered again after a crash is stored once. A revocation by the inactive-token policy is already in the log as
 * its own `token.revoked` with reason `inactive` (the revoke routine records it), so `revokedInactive` adds nothing.
 */
export function createAuditSink(audit: AuditService): NoticeSink {
  return {
    async expiring(n) {
      await audit.record(
        'token.expiring',
        SCHEDULER,
        { userId: n.userId, tokenId: n.tokenId },
        { threshold_days: n.thresholdDays, expires_at: n.expiresAt.toISOString() },
        { key: n.idempotencyKey },
      );
    },
    async expired(n) {
      await audit.record(
        'token.expired',
        SCHEDULER,
        { userId: n.userId, tokenId: n.tokenId },
        { expired_at: n.expiredAt.toISOString() },
        { key: n.idempotencyKey },
      );
    },
    async revokedInactive() {},
  };
}

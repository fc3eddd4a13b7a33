/**
 * Notice delivery, at least once per channel and notice, across instances and restarts: claim (an insert under a
 * unique id: one instance wins), deliver, mark delivered. A claim whose delivery failed is retried with back-off;
 * one whose holder died (a crash between the claim and the delivery) is taken over once its lease has ended. A
 * notice that is moot (its token has expired, or long since) is given up and its claim deleted.
 */
import type { NoticeClaim, NoticeKind, NoticeStore } from '../../adapters/types.ts';
import type { Clock } from '../services/clock.ts';
import type { NoticeChannel, NoticeSink } from './sink.ts';

const DAY_MS = 86_400_000;

/** How long after a token expired its `expired` notice may still go out (a scheduler down for less catches up). */
export const EXPIRED_NOTICE_WINDOW_MS = 7 * DAY_MS;

/** A notice, before it is claimed on a channel. */
export type Notice =
  | {
      readonly kind: 'expiring';
      readonly tokenId: string;
      readonly userId: string;
      readonly expiresAt: Date;
      readonly thresholdDays: number;
    }
  | { readonly kind: 'expired'; readonly tokenId: string; readonly userId: string; readonly expiredAt: Date }
  | {
      readonly kind: 'revoked_inactive';
      readonly tokenId: string;
      readonly userId: string;
      readonly lastUsedAt: Date | null;
    };

/** The notice's idempotency key: the same on every channel and every delivery. */
export function noticeKey(notice: Notice): string {
  switch (notice.kind) {
    case 'expiring':
      return `expiring-${notice.thresholdDays}d:${notice.tokenId}`;
    case 'expired':
      return `expired:${notice.tokenId}`;
    case 'revoked_inactive':
      return `revoked-inactive:${notice.tokenId}`;
  }
}

/**
 * When the notice becomes moot, and its claim can go: once that moment has passed the notice can neither be due
 * again (so no instance claims it anew) nor be worth sending. An expiring notice is due until the token expires; an
 * expired one within {@link EXPIRED_NOTICE_WINDOW_MS} of it; each is kept a day longer for instances whose clocks
 * lag. A revoked token is never stale again; its notice is retried for the same window.
 */
function purgeAfter(notice: Notice, now: Date): Date {
  switch (notice.kind) {
    case 'expiring':
      return new Date(notice.expiresAt.getTime() + DAY_MS);
    case 'expired':
      return new Date(notice.expiredAt.getTime() + EXPIRED_NOTICE_WINDOW_MS + DAY_MS);
    case 'revoked_inactive':
      return new Date(now.getTime() + EXPIRED_NOTICE_WINDOW_MS);
  }
}

/** The instant a claim records about its notice. */
function instantOf(notice: Notice): Date | null {
  return notice.kind === 'expiring'
    ? notice.expiresAt
    : notice.kind === 'expired'
      ? notice.expiredAt
      : notice.lastUsedAt;
}

/** The notice a claim stands for (what an instance that takes it over delivers). */
function noticeOf(claim: NoticeClaim): Notice {
  const base = { tokenId: claim.tokenId, userId: claim.userId };
  const kind: NoticeKind = claim.kind;
  switch (kind) {
    case 'expiring':
      return { kind, ...base, expiresAt: claim.at ?? claim.purgeAfter, thresholdDays: claim.thresholdDays ?? 0 };
    case 'expired':
      return { kind, ...base, expiredAt: claim.at ?? claim.claimedAt };
    case 'revoked_inactive':
      return { kind, ...base, lastUsedAt: claim.at };
  }
}

/** Hands a notice to a sink. */
function send(sink: NoticeSink, notice: Notice, idempotencyKey: string): Promise<void> {
  switch (notice.kind) {
    case 'expiring': {
      const { tokenId, userId, expiresAt, thresholdDays } = notice;
      return sink.expiring({ tokenId, userId, expiresAt, thresholdDays, idempotencyKey });
    }
    case 'expired':
      return sink.expired({ ...without(notice), expiredAt: notice.expiredAt, idempotencyKey });
    case 'revoked_inactive':
      return sink.revokedInactive({ ...without(notice), lastUsedAt: notice.lastUsedAt, idempotencyKey });
  }
}

const without = (notice: Notice) => ({ tokenId: notice.tokenId, userId: notice.userId });

/** What a dispatcher did. */
export interface DispatchCounts {
  claimed: number;
  delivered: number;
  failed: number;
}

export interface NoticeDispatcher {
  /** The channels, in order. */
  readonly channels: readonly NoticeChannel[];
  /** Those of `notices` still unclaimed on some channel (one query for all of them). */
  pending(notices: readonly Notice[]): Promise<Notice[]>;
  /** Claims the notice on every channel where no instance has, and delivers it there. */
  announce(notice: Notice, counts?: DispatchCounts): Promise<void>;
  /** Delivers claims whose delivery failed or whose holder died, once their lease has ended; how many it took. */
  retryOverdue(signal: AbortSignal, counts?: DispatchCounts): Promise<number>;
  /** Deletes moot claims; how many, and how many of those were never delivered (given up). */
  purge(): Promise<{ deleted: number; undelivered: number }>;
}

export interface NoticeDispatcherDeps {
  readonly store: NoticeStore;
  readonly channels: readonly NoticeChannel[];
  readonly clock: Clock;
  /**
   * How long a claim's holder has to deliver before another instance may take it over (default 10 minutes). A
   * delivery that takes longer is abandoned as failed.
   */
  readonly leaseMs?: number;
  /** The first retry of a failed delivery waits this long, doubling each time up to six hours (default 5 minutes). */
  readonly retryMs?: number;
  /** Told about each failed delivery (the channel, the notice's key; never a token value). */
  readonly onFailure?: (channel: string, key: string, error: unknown) => void;
}

/** A sink that takes longer than this has failed. */
function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`delivery took longer than ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Creates the dispatcher. */
export function createNoticeDispatcher(deps: NoticeDispatcherDeps): NoticeDispatcher {
  const { store, channels, clock } = deps;
  const leaseMs = deps.leaseMs ?? 10 * 60_000;
  const retryMs = deps.retryMs ?? 5 * 60_000;
  const claimId = (channel: NoticeChannel, key: string) => `${channel.name}/${key}`;
  const byName = new Map(channels.map((c) => [c.name, c]));

  /** Delivers a claimed notice and records the outcome: delivered, or released for a later retry. */
  async function deliver(
    channel: NoticeChannel,
    id: string,
    notice: Notice,
    key: string,
    attempts: number,
    counts?: DispatchCounts,
  ) {
    try {
      await withTimeout(send(channel.sink, notice, key), leaseMs / 2);
    } catch (error) {
      if (counts) counts.failed++;
      deps.onFailure?.(channel.name, key, error);
      const backoff = Math.min(retryMs * 2 ** Math.max(0, attempts - 1), 6 * 3_600_000);
      await store.release(id, new Date(clock.nowMs() + backoff));
      return;
    }
    await store.delivered(id, clock.now());
    if (counts) counts.delivered++;
  }

  return {
    channels,

    async pending(notices) {
      if (notices.length === 0 || channels.length === 0) return [];
      const ids = notices.flatMap((n) => channels.map((c) => claimId(c, noticeKey(n))));
      const claimed = await store.existing(ids);
      return notices.filter((n) => channels.some((c) => !claimed.has(claimId(c, noticeKey(n)))));
    },

    async announce(notice, counts) {
      const key = noticeKey(notice);
      for (const channel of channels) {
        const now = clock.now();
        const id = claimId(channel, key);
        const won = await store.claim({
          id,
          channel: channel.name,
          key,
          kind: notice.kind,
          tokenId: notice.tokenId,
          userId: notice.userId,
          thresholdDays: notice.kind === 'expiring' ? notice.thresholdDays : null,
          at: instantOf(notice),
          claimedAt: now,
          leaseUntil: new Date(now.getTime() + leaseMs),
          attempts: 1,
          deliveredAt: null,
          purgeAfter: purgeAfter(notice, now),
        });
        if (!won) continue;
        if (counts) counts.claimed++;
        await deliver(channel, id, notice, key, 1, counts);
      }
    },

    async retryOverdue(signal, counts) {
      const now = clock.now();
      let taken = 0;
      for (const claim of await store.overdue(now, 500)) {
        if (signal.aborted) break;
        const channel = byName.get(claim.channel);
        if (!channel) continue; // a channel no longer configured: its claims are purged in time
        const leaseUntil = new Date(clock.nowMs() + leaseMs);
        if (!(await store.retake(claim.id, claim.attempts, now, leaseUntil))) continue;
        taken++;
        await deliver(channel, claim.id, noticeOf(claim), claim.key, claim.attempts + 1, counts);
      }
      return taken;
    },

    purge: () => store.purge(clock.now()),
  };
}

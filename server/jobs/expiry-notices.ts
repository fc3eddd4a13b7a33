/**
 * Expiry notices: at each run, every unrevoked token within the largest threshold of its expiry, or expired within
 * the last week, is read in one streamed query; for each, the one notice now due (if any) is announced on every
 * channel that has not had it. Which notice is due is {@link dueNotice}, a pure rule of the token and the clock.
 *
 * Cost: one scan of the tokens near their expiry (FerretDB scans the whole collection), one query for the claims
 * of the notices due (in chunks of 5,000 ids), then per new notice one insert and one update per channel. Users
 * are read only for the notices not yet claimed.
 */
import type { PatRecord, PatStore, UserRecord, UserStore } from '../../adapters/types.ts';
import type { Clock } from '../services/clock.ts';
import { EXPIRED_NOTICE_WINDOW_MS, type DispatchCounts, type Notice, type NoticeDispatcher } from './dispatcher.ts';

const DAY_MS = 86_400_000;

/**
 * The notice due for a token at `now`, or null:
 * - expired less than {@link EXPIRED_NOTICE_WINDOW_MS} ago: `expired`;
 * - otherwise the smallest threshold it is within (`expiring`, with that threshold), among the thresholds shorter
 *   than its lifetime: a token made to last 30 days gets no "30 days left" notice the moment it is created, and a
 *   scheduler that was down does not send the 30-day notice of a token now 5 days from its expiry, only the 7-day
 *   one.
 */
export function dueNotice(pat: PatRecord, thresholdsDays: readonly number[], now: Date): Notice | null {
  if (pat.expiresAt === null || pat.revokedAt !== null) return null;
  const left = pat.expiresAt.getTime() - now.getTime();
  const base = { tokenId: pat.id, userId: pat.userId };
  if (left <= 0) {
    return -left < EXPIRED_NOTICE_WINDOW_MS ? { kind: 'expired', ...base, expiredAt: pat.expiresAt } : null;
  }
  const lifetime = pat.expiresAt.getTime() - pat.createdAt.getTime();
  let due: number | null = null;
  for (const days of thresholdsDays) {
    if (left <= days * DAY_MS && days * DAY_MS < lifetime && (due === null || days < due)) due = days;
  }
  return due === null ? null : { kind: 'expiring', ...base, expiresAt: pat.expiresAt, thresholdDays: due };
}

/** What a run did. */
export interface ExpiryNoticeReport extends DispatchCounts {
  /** Tokens read (near their expiry, or just past it). */
  scanned: number;
  /** Notices due and not yet claimed on every channel. */
  pending: number;
  /** Notices skipped because the token's user is disabled or deleted. */
  skipped: number;
}

export interface ExpiryNotices {
  /** One run: find the notices due now and announce them. */
  run(signal: AbortSignal): Promise<ExpiryNoticeReport>;
}

export interface ExpiryNoticesDeps {
  readonly pats: PatStore;
  readonly users: UserStore;
  readonly dispatcher: NoticeDispatcher;
  readonly clock: Clock;
  /** `EXPIRY_NOTICE_DAYS`, any order. */
  readonly thresholdsDays: readonly number[];
}

/** Creates the expiry-notice job. */
export function createExpiryNotices(deps: ExpiryNoticesDeps): ExpiryNotices {
  const { pats, users, dispatcher, clock } = deps;
  const horizonMs = Math.max(0, ...deps.thresholdsDays) * DAY_MS;

  return {
    async run(signal) {
      const report: ExpiryNoticeReport = { scanned: 0, pending: 0, skipped: 0, claimed: 0, delivered: 0, failed: 0 };
      const now = clock.now();
      const due: Notice[] = [];
      const scan = pats.scanExpiring(
        new Date(now.getTime() - EXPIRED_NOTICE_WINDOW_MS),
        new Date(now.getTime() + horizonMs),
      );
      for await (const pat of scan) {
        if (signal.aborted) return report;
        report.scanned++;
        const notice = dueNotice(pat, deps.thresholdsDays, now);
        if (notice) due.push(notice);
      }
      const pending = await dispatcher.pending(due);
      report.pending = pending.length;
      // A disabled user's tokens are inactive (they come back if the user is enabled: so do their notices).
      const known = new Map<string, UserRecord | null>();
      for (const notice of pending) {
        if (signal.aborted) break;
        if (!known.has(notice.userId)) known.set(notice.userId, await users.get(notice.userId));
        const user = known.get(notice.userId);
        if (!user || user.disabled) {
          report.skipped++;
          continue;
        }
        await dispatcher.announce(notice, report);
      }
      return report;
    },
  };
}

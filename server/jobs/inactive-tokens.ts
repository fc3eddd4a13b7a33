/**
 * The inactive-token policy (`INACTIVE_TOKEN_DAYS`): each sweep revokes the active tokens neither used nor created
 * in that many days, through the PAT service's one revoke routine (audit `token.revoked`, reason `inactive`), and
 * announces each revocation on the notice channels. The listing (`GET /api/tokens/inactive`) runs the very query
 * the sweep runs, so it shows what the next sweep would revoke.
 *
 * One sweep at a time across instances: a sweep first takes a lease in the database (atomic on MongoDB and
 * FerretDB alike) and renews it as it goes; an instance that cannot take it skips its sweep. Each token is read
 * again just before it is revoked (a use since the listing keeps it), and the revoke routine records a token's
 * revocation once however many try.
 */
import type { Cursor, LeaseStore, PatRecord, TokenQuery } from '../../adapters/types.ts';
import type { PatService } from '../pats/types.ts';
import type { Clock } from '../services/clock.ts';
import type { DispatchCounts, NoticeDispatcher } from './dispatcher.ts';
import { SCHEDULER } from './sink.ts';

const DAY_MS = 86_400_000;
/** The lease's name in the `leases` collection. */
export const SWEEP_LEASE = 'inactive-token-sweep';

/**
 * The policy's query: active tokens last used before `unusedSince` (or never) and created before it. (The PAT
 * service's `revokeInactive` re-checks the same rule on each token.)
 */
export function inactiveQuery(now: Date, days: number): Omit<TokenQuery, 'limit' | 'after'> & { unusedSince: Date } {
  const unusedSince = new Date(now.getTime() - days * DAY_MS);
  return { status: 'active', lastUsedBefore: unusedSince, createdBefore: unusedSince, now, unusedSince };
}

/** A page of the listing. */
export interface InactivePage {
  readonly days: number;
  /** Tokens neither used nor created since this instant are listed. */
  readonly unusedSince: Date;
  readonly items: PatRecord[];
  readonly next: Cursor | null;
}

/** What a sweep did. */
export type SweepReport =
  ({ revoked: number; lost: boolean } & DispatchCounts) | { skipped: 'another instance is sweeping' };

export interface InactiveTokenPolicy {
  /** `INACTIVE_TOKEN_DAYS`, or null when the policy is off. */
  readonly days: number | null;
  /** What a sweep with `days` (default: the policy's) would revoke now, newest first. */
  list(page: { days: number; limit: number; after?: Cursor | undefined }): Promise<InactivePage>;
  /** One sweep (the policy must be on). */
  sweep(signal: AbortSignal): Promise<SweepReport>;
}

export interface InactiveTokenPolicyDeps {
  readonly pats: PatService;
  readonly leases: LeaseStore;
  readonly dispatcher: NoticeDispatcher;
  readonly clock: Clock;
  readonly days: number | null;
  /** This instance, as the lease's holder. */
  readonly holder: string;
  /** How long the lease lasts without renewal (default 5 minutes); renewed when half of it is left. */
  readonly leaseMs?: number;
  /** Tokens read per query (default 500). */
  readonly pageSize?: number;
}

/** Creates the policy. */
export function createInactiveTokenPolicy(deps: InactiveTokenPolicyDeps): InactiveTokenPolicy {
  const { pats, leases, dispatcher, clock } = deps;
  const leaseMs = deps.leaseMs ?? 5 * 60_000;
  const pageSize = deps.pageSize ?? 500;

  /** The lease, renewed when half of it has run out; null once it is lost (or too near its end to trust). */
  async function keep(lease: Awaited<ReturnType<LeaseStore['acquire']>>) {
    if (!lease) return null;
    const left = lease.until.getTime() - clock.nowMs();
    if (left > leaseMs / 2) return lease;
    if (left < leaseMs / 10) return null;
    return leases.renew(lease, new Date(clock.nowMs() + leaseMs));
  }

  return {
    days: deps.days,

    async list({ days, limit, after }) {
      const { unusedSince, ...query } = inactiveQuery(clock.now(), days);
      const { items, next } = await pats.list({ ...query, limit, after });
      return { days, unusedSince, items, next };
    },

    async sweep(signal) {
      const days = deps.days;
      if (days === null) throw new Error('the inactive-token policy is off');
      const start = clock.now();
      let lease = await leases.acquire(SWEEP_LEASE, deps.holder, start, new Date(start.getTime() + leaseMs));
      if (!lease) return { skipped: 'another instance is sweeping' };
      const report = { revoked: 0, lost: false, claimed: 0, delivered: 0, failed: 0 };
      const held = lease;
      try {
        const { unusedSince, ...query } = inactiveQuery(start, days);
        let after: Cursor | undefined;
        do {
          const page = await pats.list({ ...query, limit: pageSize, after });
          for (const token of page.items) {
            if (signal.aborted) return report;
            lease = await keep(lease);
            if (!lease) {
              report.lost = true;
              return report;
            }
            const revoked = await pats.revokeInactive(
              token.id,
              unusedSince,
              { actor: SCHEDULER },
              {
                inactive_days: days,
                last_used_at: token.lastUsedAt?.toISOString() ?? null,
              },
            );
            if (!revoked) continue;
            report.revoked++;
            await dispatcher.announce(
              { kind: 'revoked_inactive', tokenId: revoked.id, userId: revoked.userId, lastUsedAt: revoked.lastUsedAt },
              report,
            );
          }
          after = page.next ?? undefined;
        } while (after);
        return report;
      } finally {
        await leases.release(lease ?? held).catch(() => undefined);
      }
    },
  };
}

/**
 * Revocation: one routine for every way a token ends (the admin API, self-service, RFC 7009 `/revoke`, a leak
 * report, the inactive-token policy, revoking all of a user's tokens). Each one points the caches at MongoDB first,
 * revokes the token with an acknowledged single-document update, then writes the `revoked` marker everywhere and
 * records the event.
 *
 * A token is revoked once: of several concurrent revocations (two instances, an admin and the inactive-token
 * sweep), only the one whose write stands records it, and the event's id is derived from the token's id, so even
 * two that both believe they won (FerretDB, whose updates are not atomic against each other) store one event.
 */
import type { LifecycleEvent, PatRecord, PatStore } from '../../adapters/types.ts';
import { events, keyedEventId, type RevocationReason } from '../events/catalogue.ts';
import type { AuditService } from '../services/audit.ts';
import type { Clock } from '../services/clock.ts';
import type { PatFormat } from '../services/pat-format.ts';
import type { PatCache } from './cache-protocol.ts';
import type { PolicyRules } from './policy.ts';
import type { ActionContext, LivePat } from './types.ts';

/**
 * What the audit log's `token.revoked` event records besides who and how: the reason, when it is not simply someone's
 * decision (`leaked`, `inactive`), and facts that explain it.
 */
export type RevocationDetails = { readonly reason?: Extract<RevocationReason, 'leaked' | 'inactive'> } & Readonly<
  Record<string, string | number | boolean | null>
>;

export interface Revocation {
  /**
   * Revokes one token; null when it was already revoked, or another revocation's write stood (nothing recorded
   * twice).
   */
  revokeRecord(before: PatRecord, ctx: ActionContext, details?: RevocationDetails): Promise<PatRecord | null>;
  /** Revokes every unrevoked token of a user; returns those it revoked. */
  revokeAllOf(userId: string, ctx: ActionContext): Promise<PatRecord[]>;
  /**
   * The unrevoked tokens behind presented values, each once, with the kind of value that named it: the current
   * value, or a rotated-out one still in its grace period. Two queries however many values.
   */
  tokensBehind(values: readonly string[]): Promise<Array<{ record: PatRecord; credential: LivePat['credential'] }>>;
}

export interface RevocationDeps {
  readonly pats: PatStore;
  readonly audit: AuditService;
  readonly format: PatFormat;
  readonly clock: Clock;
  readonly rules: PolicyRules;
  readonly cache: PatCache;
  /** Relays the events a revocation wrote on its token (see `server/events/outbox.ts`). */
  readonly relay: (tokenId: string) => void;
}

/**
 * The lifecycle events of a revocation, written by the revoking update itself: `token.revoked` (with why, and by
 * whom), preceded by `token.leaked` when a leak report caused it.
 */
function revocationEvents(
  token: { id: string; userId: string },
  ctx: ActionContext,
  at: Date,
  fallback: 'revoked' | 'revoke_all',
): LifecycleEvent[] {
  const reason = ctx.reason ?? fallback;
  // A token is revoked once: its `token.revoked` has an id derived from the token's, so the outbox keeps one even if
  // two revocations both wrote theirs (FerretDB applies concurrent updates of one document without isolation).
  const id = keyedEventId(`token.revoked:${token.id}`);
  const revoked = { ...events.tokenRevoked(token, reason, ctx.actor, at, ctx.txn ?? id), id };
  if (reason !== 'leaked') return [revoked];
  return [events.tokenLeaked(token, ctx.actor, at, revoked.txn), revoked];
}

/** Creates the routine. */
export function createRevocation(deps: RevocationDeps): Revocation {
  const { pats, audit, format, clock, rules, cache, relay } = deps;

  async function recordRevocations(
    revoked: readonly PatRecord[],
    ctx: ActionContext,
    details: RevocationDetails = {},
  ): Promise<void> {
    await cache.invalidate(
      revoked.map((p) => p.tokenHash),
      'revoked',
    );
    for (const p of revoked) {
      await audit.record('token.revoked', ctx.actor, { userId: p.userId, tokenId: p.id }, details, {
        key: `token.revoked:${p.id}`,
      });
    }
  }

  return {
    async revokeRecord(before, ctx, details = {}) {
      if (before.revokedAt !== null) return null;
      await cache.pointAtDatabase([before.tokenHash]);
      const at = clock.now();
      const after = await pats.revoke(before.id, at, revocationEvents(before, ctx, at, 'revoked'));
      // Revoked by another revocation in the meantime: that one records it (its events went with its write).
      if (after?.revokedAt?.getTime() !== at.getTime()) return null;
      relay(after.id);
      await recordRevocations([after], ctx, details);
      return after;
    },

    async revokeAllOf(userId, ctx) {
      await cache.pointAtDatabase(await pats.unrevokedHashesOfUser(userId));
      const at = clock.now();
      const revoked = await pats.revokeAllOfUser(userId, at, (tokenId) =>
        revocationEvents({ id: tokenId, userId }, ctx, at, 'revoke_all'),
      );
      for (const p of revoked) relay(p.id);
      await recordRevocations(revoked, ctx);
      return revoked;
    },

    async tokensBehind(values) {
      const hashes = [...new Set(values)].filter((v) => format.isWellFormed(v)).map((v) => format.hash(v));
      // Values the shared cache remembers as unknown cost no query (a scanner's report is mostly noise).
      const unknown = await Promise.all(hashes.map((hash) => cache.knownUnknown(hash)));
      const candidates = hashes.filter((_, i) => !unknown[i]);
      const out = new Map<string, { record: PatRecord; credential: LivePat['credential'] }>();
      const current = await pats.findByHashes(candidates);
      for (const record of current)
        if (record.revokedAt === null) out.set(record.id, { record, credential: 'current' });
      const matched = new Set(current.map((p) => p.tokenHash));
      for (const value of await pats.findRotatedMany(candidates.filter((hash) => !matched.has(hash)))) {
        if (rules.isPast(value.validUntil) || out.has(value.tokenId)) continue;
        const record = await pats.findById(value.tokenId);
        if (record && record.revokedAt === null) out.set(record.id, { record, credential: 'grace' });
      }
      return [...out.values()];
    },
  };
}

/**
 * The PAT service: personal access tokens' lifecycle, policy and introspection lookup, assembled from
 *
 * - `policy.ts`: the catalogue, lifetimes and what a PAT caller may grant;
 * - `commands.ts`: create, update and rotate;
 * - `revocation.ts`: the one revoke routine;
 * - `lookup.ts`: the lookup pipeline, as named steps;
 * - `last-used.ts`: `last_used_at`, at most once per interval;
 * - `cache-protocol.ts` and `cache-codec.ts`: the in-process and shared caches in front of MongoDB.
 *
 * No HTTP here: callers get records, or RFC-shaped errors (`server/errors.ts`).
 */
import { tokenStatus, type PatRecord, type PatStore, type UserStore } from '../../adapters/types.ts';
import { NotFound, assertThat } from '../errors.ts';
import { newEventId } from '../events/catalogue.ts';
import type { AuditService } from '../services/audit.ts';
import type { Clock } from '../services/clock.ts';
import { fetchPage } from '../services/pagination.ts';
import type { PatFormat } from '../services/pat-format.ts';
import type { PatCache } from './cache-protocol.ts';
import { createCommands } from './commands.ts';
import { createLastUsed } from './last-used.ts';
import { createLookup, type LookupLayer } from './lookup.ts';
import { createPolicyRules, type TokenPolicy } from './policy.ts';
import { createRevocation } from './revocation.ts';
import type { PatService } from './types.ts';

export interface PatServiceDeps {
  readonly pats: PatStore;
  readonly users: UserStore;
  /** The token caches (`cache-protocol.ts`), shared with the OAuth token lookup. */
  readonly tokenCache: PatCache;
  /** How often a failed creation's withdrawal is retried. Default 1000 ms. */
  readonly retryMs?: number;
  readonly audit: AuditService;
  readonly format: PatFormat;
  readonly clock: Clock;
  readonly policy: TokenPolicy;
  /** Told about failed background writes (last-used, audit of a rotated-out value). */
  readonly onBackgroundError: (operation: string, error: unknown) => void;
  /** Told which layer answered each lookup (metrics). */
  readonly onLookup?: (layer: LookupLayer) => void;
  /** Told about each last-used write that happened (metrics). */
  readonly onLastUsedWrite?: () => void;
  /**
   * Relays the lifecycle events a change wrote on a token to the outbox (`server/events/outbox.ts`). Default: none
   * (the events wait on the token for the outbox's sweeper).
   */
  readonly events?: { relaySoon(source: 'pat', id: string): void };
}

/**
 * The inactive-token policy's rule: active, and neither used nor created since `unusedSince`. (Stated as a query by
 * the policy's listing: status active, `last_used_before` and `created_before` both `unusedSince`, which is the same
 * set since a token is never used before it is created.)
 */
export function isInactive(pat: PatRecord, unusedSince: Date, now: Date): boolean {
  return tokenStatus(pat, now) === 'active' && (pat.lastUsedAt ?? pat.createdAt) < unusedSince;
}

/** Creates the PAT service. */
export function createPatService(deps: PatServiceDeps): PatService {
  const { pats, users, audit, format, clock, policy } = deps;
  const rules = createPolicyRules(policy, clock);
  const relay = (id: string) => deps.events?.relaySoon('pat', id);
  const cache = deps.tokenCache;
  const lastUsed = createLastUsed({
    pats,
    clock,
    intervalSeconds: policy.lastUsedIntervalSeconds,
    ...(deps.onLastUsedWrite ? { onWrite: deps.onLastUsedWrite } : {}),
    onError: deps.onBackgroundError,
  });
  const lookup = createLookup({
    pats,
    users,
    audit,
    format,
    clock,
    rules,
    cache,
    lastUsed,
    ...(deps.onLookup ? { onLayer: deps.onLookup } : {}),
    onBackgroundError: deps.onBackgroundError,
  });
  const commands = createCommands({
    pats,
    users,
    audit,
    format,
    clock,
    policy,
    rules,
    cache,
    relay,
    ...(deps.retryMs === undefined ? {} : { retryMs: deps.retryMs }),
    onBackgroundError: deps.onBackgroundError,
  });
  const revocation = createRevocation({ pats, audit, format, clock, rules, cache, relay });

  return {
    create: commands.create,
    update: commands.update,
    rotate: commands.rotate,
    get: commands.requireToken,
    list: (query) =>
      fetchPage(
        query.limit,
        (limit) => pats.query({ ...query, limit }),
        (p) => ({ at: p.createdAt, id: p.id }),
      ),

    async revoke(userId, id, ctx) {
      const before = await commands.requireToken(userId, id);
      const revoked = await revocation.revokeRecord(before, ctx);
      if (revoked) return revoked;
      const current = await pats.findById(id);
      assertThat(current, () => new NotFound('token'));
      return current;
    },

    async revokeAll(userId, ctx) {
      await commands.requireUser(userId);
      return (await revocation.revokeAllOf(userId, ctx)).length;
    },

    async revokeByValue(value, ctx) {
      const [behind] = await revocation.tokensBehind([value]);
      if (!behind) return false;
      const actor = { ...ctx.actor, credential: behind.credential };
      return (await revocation.revokeRecord(behind.record, { actor })) !== null;
    },

    async revokeLeaked(values, ctx) {
      let count = 0;
      for (const { record, credential } of await revocation.tokensBehind(values)) {
        const actor = { ...ctx.actor, credential };
        // The leak and the revocation it causes: two events of one transaction.
        const leak = { actor, reason: 'leaked' as const, txn: newEventId() };
        if (await revocation.revokeRecord(record, leak, { reason: 'leaked' })) count++;
      }
      return count;
    },

    async revokeInactive(id, unusedSince, ctx, details = {}) {
      const current = await pats.findById(id);
      if (!current || !isInactive(current, unusedSince, clock.now())) return null;
      return revocation.revokeRecord(current, { ...ctx, reason: 'inactive' }, { ...details, reason: 'inactive' });
    },

    lookup: lookup.lookup,
    lookupCached: lookup.lookupCached,
    lookupInStore: lookup.lookupInStore,
    lookupById: lookup.lookupById,

    async invalidateUser(userId) {
      await cache.invalidate(await pats.unrevokedHashesOfUser(userId), 'stale');
    },

    async uncacheUser(userId) {
      await cache.forget(await pats.unrevokedHashesOfUser(userId));
    },

    close() {
      commands.close();
    },
  };
}

/**
 * The lookup pipeline: what is the live PAT behind a presented value? Named steps, cheapest first:
 *
 * 1. `checksum`: a value whose format or checksum is wrong was never issued: inactive, no I/O;
 * 2. `fromMemory`: the in-process layer;
 * 3. `fromSharedCache`: Redis (trusted live answers and markers answer; suspect entries go on);
 * 4. `fromStore`: MongoDB (the token by its current hash, else a rotated-out value in its grace period, then its
 *    user);
 * 5. `remember`: what the store said goes back into the caches (`cache-protocol.ts` decides how).
 *
 * Every answered use the user may see (`TokenUse.admits`) is recorded (`last-used.ts`). Rejects only when MongoDB
 * is needed and unreachable.
 *
 * An exchanged access token names its PAT by id and value id (`lookupById`): the id's current hash, remembered in
 * memory (or read from MongoDB), goes through the same steps 2-5, so a warm one costs no I/O either.
 */
import { LRUCache } from 'lru-cache';

import type { PatStore, RotatedValue, UserStore } from '../../adapters/types.ts';
import type { Actor, AuditService } from '../services/audit.ts';
import type { Clock } from '../services/clock.ts';
import { valueIdOfHash, type PatFormat } from '../services/pat-format.ts';
import type { PatCache, StoreAnswer } from './cache-protocol.ts';
import type { LastUsed } from './last-used.ts';
import type { PolicyRules } from './policy.ts';
import type { CachedAnswer, LivePat, TokenUse } from './types.ts';

/** The layer that answered a lookup (metrics). */
export type LookupLayer = 'memory' | 'redis' | 'database' | 'malformed';

export interface Lookup {
  readonly lookup: (value: string, use?: TokenUse) => Promise<LivePat | null>;
  readonly lookupCached: (value: string, use?: TokenUse) => LivePat | null | undefined;
  readonly lookupInStore: (value: string) => Promise<LivePat | null>;
  readonly lookupById: (id: string, valueId: string, use?: TokenUse) => Promise<LivePat | null>;
}

export interface LookupDeps {
  readonly pats: PatStore;
  readonly users: UserStore;
  readonly audit: AuditService;
  readonly format: PatFormat;
  readonly clock: Clock;
  readonly rules: PolicyRules;
  readonly cache: PatCache;
  readonly lastUsed: LastUsed;
  readonly onLayer?: (layer: LookupLayer) => void;
  readonly onBackgroundError: (operation: string, error: unknown) => void;
}

const seconds = (date: Date) => Math.floor(date.getTime() / 1000);
/** A PAT's hash only ever holds a PAT's answer (OAuth tokens never carry the PAT prefix). */
const patOf = (answer: CachedAnswer | null): LivePat | null => (answer?.kind === 'pat' ? answer : null);

/** Whether a use is recorded: the user may see the token. */
const counts = (use: TokenUse | undefined, live: LivePat): use is TokenUse =>
  use !== undefined && use.admits?.(live) !== false;

/** Creates the pipeline. */
export function createLookup(deps: LookupDeps): Lookup {
  const { pats, users, format, rules, cache, lastUsed } = deps;
  const layer = deps.onLayer ?? (() => undefined);
  /** Rotated-out values presented recently: one audit event per value per minute, however often it is replayed. */
  const presented = new LRUCache<string, true>({
    max: 10_000,
    ttl: 60_000,
    perf: { now: () => deps.clock.nowMs() },
  });

  /** Step 1: the value's hash, or null when the checksum says it was never issued (no I/O). */
  function checksum(value: string): string | null {
    if (format.isWellFormed(value)) return format.hash(value);
    layer('malformed');
    return null;
  }

  /** Step 2: the in-process layer's answer, or undefined when it has none. */
  function fromMemory(hash: string, use: TokenUse | undefined): LivePat | null | undefined {
    const hot = cache.memory(hash);
    if (!hot) return undefined;
    layer('memory');
    const live = patOf(hot.live);
    if (!live || rules.isPast(live.expiresAt)) return null;
    if (counts(use, live)) lastUsed.touch(live.id, use.clientId);
    return live;
  }

  /** Step 4: what MongoDB says of a hash. */
  async function fromStore(
    hash: string,
    use: TokenUse | undefined,
  ): Promise<(Extract<StoreAnswer, { kind: 'live' }> & { live: LivePat }) | Exclude<StoreAnswer, { kind: 'live' }>> {
    let pat = await pats.findByHash(hash);
    let credential: LivePat['credential'] = 'current';
    if (!pat) {
      const rotated = await pats.findRotated(hash);
      if (!rotated) return { kind: 'unknown' };
      if (rules.isPast(rotated.validUntil)) {
        if (use) recordRotatedValuePresented(hash, rotated, use.actor);
        return { kind: 'gone' };
      }
      pat = await pats.findById(rotated.tokenId);
      credential = 'grace';
    }
    if (!pat || pat.revokedAt !== null) return { kind: 'revoked' };
    // Expired, or the user disabled or deleted: inactive, but not for good (the user may be enabled again).
    if (rules.isPast(pat.expiresAt)) return { kind: 'stale' };
    const user = await users.get(pat.userId);
    if (!user || user.disabled) return { kind: 'stale' };
    return {
      kind: 'live',
      live: {
        kind: 'pat',
        id: pat.id,
        userId: pat.userId,
        username: user.username,
        name: pat.name,
        scopes: pat.scopes,
        resource: pat.resource,
        issuedAt: seconds(pat.rotatedAt ?? pat.createdAt),
        expiresAt: pat.expiresAt === null ? null : seconds(pat.expiresAt),
        credential,
      },
    };
  }

  function recordRotatedValuePresented(hash: string, rotated: RotatedValue, actor: Actor): void {
    if (presented.has(hash)) return;
    presented.set(hash, true);
    pats
      .findById(rotated.tokenId)
      .then((holder) =>
        deps.audit.record(
          'token.rotated_value_presented',
          actor,
          { userId: holder?.userId ?? null, tokenId: rotated.tokenId },
          { rotated_at: rotated.rotatedAt.toISOString() },
        ),
      )
      .catch((error: unknown) => deps.onBackgroundError('audit', error));
  }

  /** Steps 2 to 5 for a hash. */
  async function fromLayers(hash: string, use: TokenUse | undefined): Promise<LivePat | null> {
    const hot = fromMemory(hash, use);
    if (hot !== undefined) return hot;

    const epoch = cache.epoch();
    // Step 3: the shared cache.
    const shared = await cache.shared(hash);
    if (shared.kind === 'revoked' || shared.kind === 'unknown') {
      layer('redis');
      cache.keep(hash, null, epoch);
      return null;
    }
    if (shared.kind === 'live') {
      layer('redis');
      const live = patOf(shared.live);
      if (!live || rules.isPast(live.expiresAt)) return null;
      cache.keep(hash, live, epoch);
      if (counts(use, live)) lastUsed.touch(live.id, use.clientId);
      return live;
    }

    layer('database');
    const answer = await fromStore(hash, use);
    // Step 5: the caches learn what the store said.
    await cache.remember(hash, shared, answer, epoch);
    if (answer.kind !== 'live') return null;
    if (counts(use, answer.live)) lastUsed.touch(answer.live.id, use.clientId);
    return answer.live;
  }

  /** The current hash of tokens looked up by id: a rotation changes it, and then the value id no longer matches. */
  const currentHash = new LRUCache<string, string>({ max: 10_000 });

  return {
    lookupCached(value, use) {
      const hash = checksum(value);
      return hash === null ? null : fromMemory(hash, use);
    },

    async lookup(value, use) {
      const hash = checksum(value);
      return hash === null ? null : fromLayers(hash, use);
    },

    async lookupById(id, valueId, use) {
      let hash = currentHash.get(id);
      if (hash === undefined || valueIdOfHash(hash) !== valueId) {
        // Unknown here, or remembered before a rotation (or the token was rotated since): MongoDB says which is current.
        const pat = await pats.findById(id);
        if (!pat) return null;
        hash = pat.tokenHash;
        currentHash.set(id, hash);
        if (valueIdOfHash(hash) !== valueId) return null;
      }
      // A value remembered as current may have been rotated out since: the layers then answer it as a grace value
      // (or not at all), and an exchanged token ends with its value's rotation (nor is that a use of the token).
      const current = (live: LivePat) => live.credential === 'current' && use?.admits?.(live) !== false;
      const live = await fromLayers(hash, use && { ...use, admits: current });
      return live?.credential === 'current' ? live : null;
    },

    async lookupInStore(value) {
      if (!format.isWellFormed(value)) return null;
      const answer = await fromStore(format.hash(value), undefined);
      return answer.kind === 'live' ? answer.live : null;
    },
  };
}

/** The embedded store's notice claims: the MongoDB store's semantics in one process (a map keyed by claim id). */
import type { NoticeClaim, NoticeStore } from '../types.ts';

/** Creates an empty notice store. */
export function createMemoryNoticeStore(): NoticeStore {
  const claims = new Map<string, NoticeClaim>();
  const update = (id: string, changes: Partial<NoticeClaim>) => {
    const claim = claims.get(id);
    if (claim) claims.set(id, { ...claim, ...changes });
  };
  return {
    async claim(claim) {
      if (claims.has(claim.id)) return false;
      claims.set(claim.id, claim);
      return true;
    },
    async existing(ids) {
      return new Set(ids.filter((id) => claims.has(id)));
    },
    async overdue(now, limit) {
      return [...claims.values()]
        .filter((c) => c.deliveredAt === null && c.leaseUntil <= now && c.purgeAfter > now)
        .slice(0, limit);
    },
    async retake(id, attempts, now, leaseUntil) {
      const c = claims.get(id);
      if (!c || c.deliveredAt !== null || c.attempts !== attempts || c.leaseUntil > now) return false;
      update(id, { attempts: attempts + 1, leaseUntil });
      return true;
    },
    async delivered(id, at) {
      update(id, { deliveredAt: at });
    },
    async release(id, retryAt) {
      if (claims.get(id)?.deliveredAt === null) update(id, { leaseUntil: retryAt });
    },
    async purge(now) {
      let deleted = 0;
      let undelivered = 0;
      for (const [id, c] of claims) {
        if (c.purgeAfter > now) continue;
        claims.delete(id);
        deleted++;
        if (c.deliveredAt === null) undelivered++;
      }
      return { deleted, undelivered };
    },
  };
}

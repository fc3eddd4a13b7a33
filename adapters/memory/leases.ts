/** The embedded store's leases: one process, so taking a lease is a plain check-and-set on a map. */
import type { Lease, LeaseStore } from '../types.ts';

/** Creates an empty lease store. */
export function createMemoryLeaseStore(): LeaseStore {
  const leases = new Map<string, Lease & { released: boolean }>();
  const holds = (lease: Lease) => {
    const current = leases.get(lease.name);
    return current !== undefined && current.generation === lease.generation && !current.released;
  };
  return {
    async acquire(name, holder, now, until) {
      const current = leases.get(name);
      if (current && !current.released && current.until > now) return null;
      const lease = { name, generation: (current?.generation ?? 0) + 1, holder, until };
      leases.set(name, { ...lease, released: false });
      return lease;
    },
    async renew(lease, until) {
      if (!holds(lease)) return null;
      const renewed = { ...lease, until };
      leases.set(lease.name, { ...renewed, released: false });
      return renewed;
    },
    async release(lease) {
      if (holds(lease)) leases.set(lease.name, { ...leases.get(lease.name)!, released: true });
    },
  };
}

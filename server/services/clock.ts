/** The source of "now" for business rules (PAT expiry), injected so tests move time without sleeping. */
export interface Clock {
  now(): Date;
  /**
   * The same instant in epoch milliseconds, without allocating a `Date`: what the per-request checks read (a PAT's
   * expiry, cache ages), on every introspection.
   */
  nowMs(): number;
}

/** A clock that reads `nowMs`: its two readings are the same instant by construction. */
export function clockFrom(nowMs: () => number): Clock {
  return { nowMs, now: () => new Date(nowMs()) };
}

/** The real clock. */
export const systemClock: Clock = clockFrom(Date.now);

/** The source of "now" for business rules (PAT expiry), injected so tests move time without sleeping. */
export interface Clock {
  now(): Date;
  /**
   * The same instant in epoch milliseconds, without allocating a `Date`: what the per-request checks read (a PAT's
   * expiry, cache ages), on every introspection.
   */
  nowMs(): number;
}

/** The real clock. */
export const systemClock: Clock = { now: () => new Date(), nowMs: Date.now };

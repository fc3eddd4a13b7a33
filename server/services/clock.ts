/** The source of "now" for business rules (PAT expiry), injected so tests move time without sleeping. */
export interface Clock {
  now(): Date;
}

/** The real clock. */
export const systemClock: Clock = { now: () => new Date() };

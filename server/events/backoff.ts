/**
 * When a failed push is tried again: exponential back-off with jitter over about a day (the Standard Webhooks
 * recommendation: "a retry schedule spanning multiple days, with an exponential backoff" and "some level of random
 * jitter"). 5 s after the first failure, then ×4 each time (20 s, 80 s, 5 min, 21 min, 85 min, 5.7 h), at most 6 h
 * apart, each ±20%: about ten attempts within `EVENTS_RETRY_HOURS` (default 24), after which the delivery is given up
 * and recorded as failed. A `Retry-After` the receiver sent is honoured when it asks for longer (up to the cap).
 */

/** Longest wait between two attempts. */
export const MAX_RETRY_DELAY_MS = 6 * 3600_000;

/** How long to wait after the `failures`-th failed attempt (1 for the first), jitter included. */
export function retryDelayMs(failures: number, random: () => number = Math.random): number {
  const base = Math.min(5_000 * 4 ** Math.max(0, failures - 1), MAX_RETRY_DELAY_MS);
  return Math.round(base * (0.8 + 0.4 * random()));
}

/**
 * When to try again after a failed attempt, or null to give up: the delivery is `createdAt`'s, and it is given up
 * once the next attempt would fall after `createdAt + retryMs`.
 */
export function nextAttemptAt(
  delivery: { readonly createdAt: Date },
  failures: number,
  now: Date,
  retryMs: number,
  retryAfterSeconds: number | null = null,
  random: () => number = Math.random,
): Date | null {
  const asked = retryAfterSeconds === null ? 0 : Math.min(retryAfterSeconds * 1000, MAX_RETRY_DELAY_MS);
  const next = new Date(now.getTime() + Math.max(retryDelayMs(failures, random), asked));
  return next.getTime() > delivery.createdAt.getTime() + retryMs ? null : next;
}

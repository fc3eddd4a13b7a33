/**
 * Token policy: the scope catalogue, lifetimes (default and maximum), grace periods, and what a PAT caller may
 * grant through self-service (never more scopes, a later expiry or another resource than itself). Pure rules over
 * the configured policy and the clock; each refusal is an RFC-shaped error naming the field.
 */
import { AccessDenied, InvalidRequest, InvalidScope, assertThat } from '../errors.ts';
import type { Clock } from '../services/clock.ts';
import type { Constraints } from './types.ts';

/** The configured policy (`TOKEN_*`, `MAX_TOKENS_PER_USER`, `SCOPES`, `LAST_USED_INTERVAL_SECONDS`). */
export interface TokenPolicy {
  readonly maxLifetimeDays: number;
  readonly defaultLifetimeDays: number;
  readonly maxTokensPerUser: number;
  readonly scopes: Readonly<Record<string, string>>;
  readonly lastUsedIntervalSeconds: number;
}

/** Largest grace period a rotation may give the replaced value. */
export const MAX_GRACE_SECONDS = 86_400;

const DAY_MS = 86_400_000;

export interface PolicyRules {
  /** Refuses scopes outside the catalogue, and scopes the calling token does not have. */
  checkScopes(scopes: readonly string[], constraints: Constraints | undefined): void;
  /** Refuses a resource other than the calling token's own. */
  checkResource(resource: string | null, constraints: Constraints | undefined): void;
  /** The expiry to store for a new token: requested, default, or capped by the calling token. */
  resolveExpiry(requested: Date | null | undefined, constraints: Constraints | undefined): Date | null;
  /** The expiry of a rotated token: the current one unless an earlier one is asked for; never later. */
  rotatedExpiry(
    current: Date | null,
    requested: Date | null | undefined,
    constraints: Constraints | undefined,
  ): Date | null;
  /** Refuses a grace period outside 0 to {@link MAX_GRACE_SECONDS}. */
  checkGrace(graceSeconds: number): void;
  /** Whether an instant (a Date, or epoch seconds) has passed. */
  isPast(at: Date | number | null): boolean;
}

/** The rules for a policy, on a clock. */
export function createPolicyRules(policy: TokenPolicy, clock: Clock): PolicyRules {
  function isPast(at: Date | number | null): boolean {
    if (at === null) return false;
    const ms = typeof at === 'number' ? at * 1000 : at.getTime();
    return ms <= clock.nowMs();
  }

  function resolveExpiry(requested: Date | null | undefined, constraints: Constraints | undefined): Date | null {
    const now = clock.nowMs();
    const cap = constraints?.expiresAt == null ? null : constraints.expiresAt * 1000;
    const max = policy.maxLifetimeDays === 0 ? null : now + policy.maxLifetimeDays * DAY_MS;
    if (requested === undefined) {
      const byDefault = policy.defaultLifetimeDays === 0 ? null : now + policy.defaultLifetimeDays * DAY_MS;
      const at = cap === null ? byDefault : byDefault === null ? cap : Math.min(byDefault, cap);
      return at === null ? null : new Date(at);
    }
    if (requested === null) {
      assertThat(
        policy.maxLifetimeDays === 0,
        () => new InvalidRequest(`expires_at: tokens must expire within ${policy.maxLifetimeDays} days`, 'expires_at'),
      );
      assertThat(cap === null, () => new AccessDenied('expires_at: a token cannot outlive the token that makes it'));
      return null;
    }
    assertThat(requested.getTime() > now, () => new InvalidRequest('expires_at must be in the future', 'expires_at'));
    assertThat(
      max === null || requested.getTime() <= max,
      () => new InvalidRequest(`expires_at must be within ${policy.maxLifetimeDays} days`, 'expires_at'),
    );
    assertThat(
      cap === null || requested.getTime() <= cap,
      () => new AccessDenied('expires_at: a token cannot outlive the token that makes it'),
    );
    return requested;
  }

  const neverLater = () =>
    new InvalidRequest('expires_at: a rotation keeps the expiry or brings it earlier, never later', 'expires_at');

  return {
    isPast,
    resolveExpiry,

    checkScopes(scopes, constraints) {
      const unknown = scopes.filter((s) => !Object.hasOwn(policy.scopes, s));
      assertThat(
        unknown.length === 0,
        () =>
          new InvalidScope(
            `unknown scope${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')} (see GET /api/scopes)`,
          ),
      );
      if (constraints) {
        const beyond = scopes.filter((s) => !constraints.scopes.has(s));
        assertThat(
          beyond.length === 0,
          () => new AccessDenied(`the calling token cannot grant scopes it does not have: ${beyond.join(', ')}`),
        );
      }
    },

    checkResource(resource, constraints) {
      assertThat(
        !constraints || constraints.resource === null || constraints.resource === resource,
        () => new AccessDenied('resource: a token bound to a resource can only manage tokens bound to the same one'),
      );
    },

    rotatedExpiry(current, requested, constraints) {
      // Rotation never extends a token (an admin's shortening stays), nor outlives the calling token.
      const cap = constraints?.expiresAt == null ? null : new Date(constraints.expiresAt * 1000);
      const earliest = (a: Date | null, b: Date | null) => (a === null ? b : b === null ? a : a < b ? a : b);
      if (requested === undefined) return earliest(current, cap);
      if (requested === null) {
        assertThat(current === null, neverLater);
        return resolveExpiry(null, constraints);
      }
      assertThat(current === null || requested <= current, neverLater);
      return resolveExpiry(requested, constraints);
    },

    checkGrace(graceSeconds) {
      assertThat(
        Number.isInteger(graceSeconds) && graceSeconds >= 0 && graceSeconds <= MAX_GRACE_SECONDS,
        () => new InvalidRequest(`grace_seconds must be an integer from 0 to ${MAX_GRACE_SECONDS}`, 'grace_seconds'),
      );
    },
  };
}

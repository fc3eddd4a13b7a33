/**
 * The lifecycle commands that change a token (create, update, rotate), under the policy. A change that alters what
 * introspection answers points the caches at MongoDB before it is written, and marks them after.
 */
import {
  DuplicateError,
  LimitError,
  StoreUnavailableError,
  type PatRecord,
  type PatStore,
  type UserRecord,
  type UserStore,
} from '../../adapters/types.ts';
import { Conflict, InvalidRequest, LimitExceeded, NotFound, assertThat } from '../errors.ts';
import { events } from '../events/catalogue.ts';
import type { AuditService } from '../services/audit.ts';
import type { Clock } from '../services/clock.ts';
import { newPatId, type PatFormat } from '../services/pat-format.ts';
import type { PatCache } from './cache-protocol.ts';
import type { PolicyRules, TokenPolicy } from './policy.ts';
import type { ActionContext, CreatePatInput, RotatePatInput, UpdatePatInput } from './types.ts';

export interface Commands {
  readonly create: (
    userId: string,
    input: CreatePatInput,
    ctx: ActionContext,
  ) => Promise<{ record: PatRecord; token: string }>;
  readonly update: (userId: string, id: string, input: UpdatePatInput, ctx: ActionContext) => Promise<PatRecord>;
  readonly rotate: (
    userId: string,
    id: string,
    input: RotatePatInput,
    ctx: ActionContext,
  ) => Promise<{ record: PatRecord; token: string }>;
  /** The user, or 404. */
  readonly requireUser: (userId: string) => Promise<UserRecord>;
  /** The user's token, or 404 (also when it is another user's). */
  readonly requireToken: (userId: string, id: string) => Promise<PatRecord>;
  /** Stops retrying withdrawals. */
  readonly close: () => void;
}

export interface CommandDeps {
  readonly pats: PatStore;
  readonly users: UserStore;
  readonly audit: AuditService;
  readonly format: PatFormat;
  readonly clock: Clock;
  readonly policy: TokenPolicy;
  readonly rules: PolicyRules;
  readonly cache: PatCache;
  /** Relays the events a change wrote on its token (see `server/events/outbox.ts`). */
  readonly relay: (tokenId: string) => void;
  /** How often a withdrawal of a failed creation is retried (default 1000 ms). */
  readonly retryMs?: number;
  readonly onBackgroundError: (operation: string, error: unknown) => void;
}

const nameTaken = (name: string | undefined) =>
  new Conflict(`a live token named "${name}" already exists for this user`, 'name');

/** Creates the commands. */
export function createCommands(deps: CommandDeps): Commands {
  const { pats, users, audit, format, clock, policy, rules, cache, relay } = deps;
  /** Who withdraws a creation that failed (its events say so). */
  const SYSTEM = { id: 'system', via: 'admin_api' } as const;

  /**
   * Creations that failed with an unknown outcome: the insert may have landed although its answer was lost (the
   * database went away mid-write). The caller was told it failed and never saw the value, so such a token must not
   * stay live: it is revoked as soon as the database answers.
   */
  const withdrawals = new Map<string, string>();
  /** The one loop sending withdrawals, while there are any: one at a time, so a slow store is not flooded. */
  let withdrawing: Promise<void> | undefined;
  let closed = false;
  const pause = () => new Promise<void>((resolve) => setTimeout(resolve, deps.retryMs ?? 1000).unref());
  async function sendWithdrawals(): Promise<void> {
    while (withdrawals.size > 0 && !closed) {
      await pause();
      for (const [tokenId, owner] of [...withdrawals]) {
        if (closed) return;
        const at = clock.now();
        const withdrawn = events.tokenRevoked({ id: tokenId, userId: owner }, 'creation_failed', SYSTEM, at);
        try {
          await pats.revoke(tokenId, at, [withdrawn]);
        } catch (error) {
          deps.onBackgroundError('withdraw_failed_creation', error);
          break; // the store is still away: try again after a pause
        }
        withdrawals.delete(tokenId);
        relay(tokenId);
      }
    }
  }
  function startWithdrawals(): void {
    withdrawing ??= sendWithdrawals()
      .catch((error: unknown) => deps.onBackgroundError('withdraw_failed_creation', error))
      .finally(() => {
        withdrawing = undefined;
        // One added after the loop's last look is not left waiting.
        if (withdrawals.size > 0 && !closed) startWithdrawals();
      });
  }
  function withdraw(id: string, userId: string): void {
    if (withdrawals.size < 10_000) withdrawals.set(id, userId);
    startWithdrawals();
  }

  async function requireUser(userId: string): Promise<UserRecord> {
    const user = await users.get(userId);
    assertThat(user, () => new NotFound('user'));
    return user;
  }

  async function requireToken(userId: string, id: string): Promise<PatRecord> {
    const pat = await pats.findById(id);
    assertThat(pat && pat.userId === userId, () => new NotFound('token'));
    return pat;
  }

  async function requireEnabledUser(userId: string): Promise<void> {
    const user = await requireUser(userId);
    assertThat(!user.disabled, () => new InvalidRequest('the user is disabled', 'user_id'));
  }

  return {
    requireUser,
    requireToken,

    async create(userId, input, ctx) {
      await requireEnabledUser(userId);
      const scopes = [...new Set(input.scopes)];
      rules.checkScopes(scopes, ctx.constraints);
      const resource = input.resource === undefined ? (ctx.constraints?.resource ?? null) : input.resource;
      rules.checkResource(resource, ctx.constraints);
      const expiresAt = rules.resolveExpiry(input.expiresAt, ctx.constraints);
      const now = clock.now();
      const token = format.generate();
      const record: PatRecord = {
        id: newPatId(),
        tokenHash: format.hash(token),
        userId,
        name: input.name,
        description: input.description ?? null,
        scopes,
        resource,
        createdAt: now,
        expiresAt,
        lastUsedAt: null,
        lastUsedClient: null,
        rotatedAt: null,
        revokedAt: null,
      };
      try {
        await pats.insert(record, now, policy.maxTokensPerUser, [events.tokenCreated(record, ctx.actor, now)]);
      } catch (error) {
        if (error instanceof StoreUnavailableError) withdraw(record.id, userId);
        if (error instanceof DuplicateError && error.field === 'name') throw nameTaken(input.name);
        if (error instanceof LimitError) {
          throw new LimitExceeded(`the user already has ${error.limit} live tokens (MAX_TOKENS_PER_USER)`);
        }
        throw error;
      }
      relay(record.id);
      await audit.record(
        'token.created',
        ctx.actor,
        { userId, tokenId: record.id },
        { name: record.name, scopes: scopes.join(' '), expires_at: expiresAt?.toISOString() ?? null },
      );
      return { record, token };
    },

    async update(userId, id, input, ctx) {
      const pat = await requireToken(userId, id);
      assertThat(pat.revokedAt === null, () => new Conflict('the token is revoked', 'id'));
      if (input.expiresAt !== undefined) {
        assertThat(
          !rules.isPast(input.expiresAt),
          () => new InvalidRequest('expires_at must be in the future', 'expires_at'),
        );
        assertThat(
          pat.expiresAt === null || input.expiresAt < pat.expiresAt,
          () => new InvalidRequest('expires_at may only be brought earlier, never later', 'expires_at'),
        );
      }
      const changesAnswer = input.name !== undefined || input.expiresAt !== undefined;
      if (changesAnswer) await cache.pointAtDatabase([pat.tokenHash]);
      let updated: PatRecord | null;
      const at = clock.now();
      try {
        updated = await pats.update(
          id,
          {
            ...(input.name === undefined ? {} : { name: input.name }),
            ...(input.description === undefined ? {} : { description: input.description }),
            ...(input.expiresAt === undefined ? {} : { expiresAt: input.expiresAt }),
          },
          // Recorded only by the write that does bring the expiry earlier.
          input.expiresAt === undefined
            ? undefined
            : [events.expiryShortened(pat, { from: pat.expiresAt, to: input.expiresAt }, ctx.actor, at)],
        );
      } catch (error) {
        if (error instanceof DuplicateError) throw nameTaken(input.name);
        throw error;
      }
      assertThat(updated, () => new Conflict('the token is revoked', 'id'));
      const subject = { userId, tokenId: id };
      if (updated.name !== pat.name) {
        await audit.record('token.renamed', ctx.actor, subject, { from: pat.name, to: updated.name });
      }
      if (updated.description !== pat.description) {
        await audit.record('token.description_changed', ctx.actor, subject);
      }
      const expiryChanged = updated.expiresAt?.getTime() !== pat.expiresAt?.getTime();
      if (input.expiresAt !== undefined) relay(id);
      if (expiryChanged) {
        await audit.record('token.expiry_shortened', ctx.actor, subject, {
          from: pat.expiresAt?.toISOString() ?? null,
          to: updated.expiresAt?.toISOString() ?? null,
        });
      }
      // Short-lived: long enough for any lookup that read the old state to have finished, then caching resumes.
      if (updated.name !== pat.name || expiryChanged) await cache.pointAtDatabase([updated.tokenHash]);
      return updated;
    },

    async rotate(userId, id, input, ctx) {
      const pat = await requireToken(userId, id);
      assertThat(pat.revokedAt === null, () => new Conflict('the token is revoked', 'id'));
      assertThat(!rules.isPast(pat.expiresAt), () => new Conflict('the token has expired', 'id'));
      await requireEnabledUser(userId);
      rules.checkScopes(
        pat.scopes.filter((s) => Object.hasOwn(policy.scopes, s)),
        ctx.constraints,
      );
      rules.checkResource(pat.resource, ctx.constraints);
      rules.checkGrace(input.graceSeconds);
      const expiresAt = rules.rotatedExpiry(pat.expiresAt, input.expiresAt, ctx.constraints);
      const now = clock.now();
      const token = format.generate();
      // Remember the old value before the swap, so it is never unknown while in its grace period. The record is
      // created once (a concurrent rotation of the same value cannot overwrite it) and harmless if the swap fails;
      // the winner of the swap then sets its own grace period.
      const validUntil = new Date(now.getTime() + input.graceSeconds * 1000);
      await pats.insertRotated({ tokenHash: pat.tokenHash, tokenId: id, rotatedAt: now, validUntil });
      await cache.pointAtDatabase([pat.tokenHash]);
      const rotated = await pats.rotate(id, pat.tokenHash, format.hash(token), {
        expiresAt,
        at: now,
        events: [events.tokenRotated(pat, { expiresAt, previousValidUntil: validUntil }, ctx.actor, now)],
      });
      assertThat(rotated, () => new Conflict('the token was changed concurrently (rotated or revoked); retry', 'id'));
      await pats.setRotatedValidUntil(pat.tokenHash, validUntil);
      // A later rotation ends the grace of every earlier value: only the value rotated out now may keep one.
      await pats.endGrace(id, pat.tokenHash, now);
      await cache.invalidate([pat.tokenHash], 'stale');
      // Once every value answers as it now should: a receiver asking again on the event gets the new answers.
      relay(id);
      await audit.record(
        'token.rotated',
        ctx.actor,
        { userId, tokenId: id },
        { grace_seconds: input.graceSeconds, expires_at: expiresAt?.toISOString() ?? null },
      );
      return { record: rotated, token };
    },

    close() {
      closed = true;
    },
  };
}

/**
 * Users who own PATs. Disabling a user makes every one of its PATs inactive at once (cache entries invalidated
 * before the call returns); deleting one revokes all of its PATs first.
 */
import { DuplicateError, type Cursor, type UserRecord, type UserStore } from '../../adapters/types.ts';
import { Conflict, NotFound, assertThat } from '../errors.ts';
import { events, newEventId } from '../events/catalogue.ts';
import type { AuditService } from './audit.ts';
import type { Clock } from './clock.ts';
import { fetchPage } from './pagination.ts';
import { randomBase62 } from './pat-format.ts';
import type { ActionContext, PatService } from '../pats/types.ts';

export interface CreateUserInput {
  readonly id?: string | undefined;
  readonly username: string;
  readonly email?: string | null | undefined;
}

export interface UserService {
  /** @throws {Conflict} when the id or username is taken. */
  create(input: CreateUserInput, ctx: ActionContext): Promise<UserRecord>;
  get(id: string): Promise<UserRecord>;
  /** Newest first; `search` keeps users whose id, username or email contains it (case-insensitive). */
  list(limit: number, after?: Cursor, search?: string): Promise<{ items: UserRecord[]; next: Cursor | null }>;
  setDisabled(id: string, disabled: boolean, ctx: ActionContext): Promise<UserRecord>;
  /** Revokes all of the user's PATs, then deletes the user. */
  remove(id: string, ctx: ActionContext): Promise<void>;
}

/** Creates the user service. */
export function createUserService(deps: {
  users: UserStore;
  pats: PatService;
  audit: AuditService;
  clock: Clock;
  /** Relays the lifecycle events a change wrote on a user (`server/events/outbox.ts`). Default: none. */
  events?: { relaySoon(source: 'user', id: string): void };
}): UserService {
  const { users, pats, audit, clock } = deps;
  const relay = (id: string) => deps.events?.relaySoon('user', id);

  /**
   * A user id that owned tokens or audit events before (a user deleted before deletions left a tombstone) is never
   * given out again: the new user would inherit the old one's tokens and audit trail.
   */
  async function refuseInheritance(id: string): Promise<void> {
    const [tokens, events] = await Promise.all([
      pats.list({ userId: id, status: 'all', now: clock.now(), limit: 1 }),
      audit.list({ userId: id, limit: 1 }),
    ]);
    assertThat(
      tokens.items.length === 0 && events.items.length === 0,
      () => new Conflict('this user id belonged to a deleted user and cannot be reused', 'id'),
    );
  }

  async function requireUser(id: string): Promise<UserRecord> {
    const user = await users.get(id);
    assertThat(user, () => new NotFound('user'));
    return user;
  }

  return {
    async create(input, ctx) {
      const now = clock.now();
      if (input.id !== undefined) await refuseInheritance(input.id);
      const user: UserRecord = {
        id: input.id ?? `usr_${randomBase62(16)}`,
        username: input.username,
        email: input.email ?? null,
        disabled: false,
        createdAt: now,
        updatedAt: now,
      };
      try {
        await users.insert(user);
      } catch (error) {
        if (error instanceof DuplicateError) {
          const field = error.field === 'username' ? 'username' : 'id';
          throw new Conflict(
            field === 'id'
              ? 'a user with this id exists or existed (user ids are never reused)'
              : 'a user with this username already exists',
            field,
          );
        }
        throw error;
      }
      await audit.record('user.created', ctx.actor, { userId: user.id }, { username: user.username });
      return user;
    },

    get: requireUser,

    list: (limit, after, search) =>
      fetchPage(
        limit,
        (rows) => users.list(rows, after, search),
        (u) => ({ at: u.createdAt, id: u.id }),
      ),

    async setDisabled(id, disabled, ctx) {
      const before = await requireUser(id);
      // Before and after: a crash in between must not leave a disabled user's tokens answered from a cache.
      if (disabled) await pats.invalidateUser(id);
      const at = clock.now();
      // Recorded by the write only if it does change the flag.
      const event = events.user(disabled ? 'user.disabled' : 'user.enabled', id, ctx.actor, at);
      const user = await users.setDisabled(id, disabled, at, [event]);
      assertThat(user, () => new NotFound('user'));
      if (disabled) await pats.invalidateUser(id);
      else if (before.disabled) await pats.uncacheUser(id);
      // Only now: a receiver that drops its cached answers on the event and asks again must not get one cached in
      // between the first invalidation and the write (a crash before this line leaves the event to the sweeper).
      relay(id);
      if (before.disabled !== disabled) {
        await audit.record(disabled ? 'user.disabled' : 'user.enabled', ctx.actor, { userId: id });
      }
      return user;
    },

    async remove(id, ctx) {
      await requireUser(id);
      // One transaction: the revocations of the user's tokens and the deletion.
      const txn = newEventId();
      await pats.revokeAll(id, { ...ctx, reason: 'user_deleted', txn });
      const at = clock.now();
      await users.delete(id, at, [events.user('user.deleted', id, ctx.actor, at, txn)]);
      relay(id);
      await audit.record('user.deleted', ctx.actor, { userId: id });
    },
  };
}

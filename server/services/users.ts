/**
 * Users who own PATs. Disabling a user makes every one of its PATs inactive at once (cache entries invalidated
 * before the call returns); deleting one revokes all of its PATs first.
 */
import { DuplicateError, type Cursor, type UserRecord, type UserStore } from '../../adapters/types.ts';
import { Conflict, NotFound, assertThat } from '../errors.ts';
import type { AuditService } from './audit.ts';
import type { Clock } from './clock.ts';
import { randomBase62 } from './pat-format.ts';
import type { ActionContext, PatService } from './pats.ts';

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
}): UserService {
  const { users, pats, audit, clock } = deps;

  async function requireUser(id: string): Promise<UserRecord> {
    const user = await users.get(id);
    assertThat(user, () => new NotFound('user'));
    return user;
  }

  return {
    async create(input, ctx) {
      const now = clock.now();
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
          throw new Conflict(`a user with this ${field} already exists`, field);
        }
        throw error;
      }
      await audit.record('user.created', ctx.actor, { userId: user.id }, { username: user.username });
      return user;
    },

    get: requireUser,

    async list(limit, after, search) {
      const rows = await users.list(limit + 1, after, search);
      const items = rows.slice(0, limit);
      const last = items.at(-1);
      return { items, next: rows.length > limit && last ? { at: last.createdAt, id: last.id } : null };
    },

    async setDisabled(id, disabled, ctx) {
      const before = await requireUser(id);
      // Before and after: a crash in between must not leave a disabled user's tokens answered from a cache.
      if (disabled) await pats.invalidateUser(id);
      const user = await users.setDisabled(id, disabled, clock.now());
      assertThat(user, () => new NotFound('user'));
      if (disabled) await pats.invalidateUser(id);
      else if (before.disabled) await pats.uncacheUser(id);
      if (before.disabled !== disabled) {
        await audit.record(disabled ? 'user.disabled' : 'user.enabled', ctx.actor, { userId: id });
      }
      return user;
    },

    async remove(id, ctx) {
      await requireUser(id);
      await pats.revokeAll(id, ctx);
      await users.delete(id);
      await audit.record('user.deleted', ctx.actor, { userId: id });
    },
  };
}

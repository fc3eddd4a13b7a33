/**
 * Users who own PATs. Disabling a user makes every one of its PATs inactive at once: the cache entries are
 * invalidated before the call returns.
 */
import { DuplicateError, type UserRecord, type UserStore } from '../../adapters/types.ts';
import { Conflict, NotFound, assertThat } from '../errors.ts';
import type { Clock } from './clock.ts';
import { randomBase62 } from './pat-format.ts';
import type { PatService } from './pats.ts';

export interface CreateUserInput {
  readonly id?: string | undefined;
  readonly username: string;
  readonly email?: string | null | undefined;
}

export interface UserService {
  /** @throws {Conflict} when the id or username is taken. */
  create(input: CreateUserInput): Promise<UserRecord>;
  get(id: string): Promise<UserRecord>;
  setDisabled(id: string, disabled: boolean): Promise<UserRecord>;
}

/** Creates the user service. */
export function createUserService(deps: { users: UserStore; pats: PatService; clock: Clock }): UserService {
  const { users, pats, clock } = deps;
  return {
    async create(input) {
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
      return user;
    },

    async get(id) {
      const user = await users.get(id);
      assertThat(user, () => new NotFound('user'));
      return user;
    },

    async setDisabled(id, disabled) {
      const user = await users.setDisabled(id, disabled, clock.now());
      assertThat(user, () => new NotFound('user'));
      if (disabled) await pats.invalidateUser(id);
      return user;
    },
  };
}

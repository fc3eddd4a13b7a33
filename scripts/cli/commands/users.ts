/** `tokenwarden users …`: create, list, show, disable, enable and delete users (`/api/users`). */
import { segment } from '../client.ts';
import type { Register } from '../context.ts';
import { fields, table } from '../output.ts';
import { fetchPages, pageOptions, printPage, type PageOptions } from '../pages.ts';

/** A user as the API shows one. */
interface User {
  readonly id: string;
  readonly username: string;
  readonly email: string | null;
  readonly disabled: boolean;
  readonly created_at: string;
}

const userTable = (rows: readonly User[]) =>
  table(rows, [
    { header: 'id', value: (u) => u.id },
    { header: 'username', value: (u) => u.username },
    { header: 'email', value: (u) => u.email },
    { header: 'status', value: (u) => (u.disabled ? 'disabled' : 'enabled') },
    { header: 'created', value: (u) => u.created_at },
  ]);

/** Registers `users`. */
export const registerUsers: Register = (program, cli) => {
  const users = program.command('users').description('create, list, show, disable, enable and delete users');
  const path = (id: string) => `/api/users/${segment(id)}`;

  users
    .command('create')
    .description('create a user')
    .argument('<username>', 'a display name, 1-100 characters')
    .option('--id <id>', 'the user id, as your identity provider knows it (default: generated)')
    .option('--email <email>', 'email address')
    .action(async (username: string, options: { id?: string; email?: string }) => {
      const api = await cli.api();
      const user = await api.call<User>('POST', '/api/users', { body: { username, ...options } });
      cli.out.data(user, () => fields(user));
    });

  pageOptions(users.command('list').description('list users, newest first')).action(async (options: PageOptions) => {
    const page = await fetchPages<User>(await cli.api(), '/api/users', {}, options);
    printPage(cli.out, page, userTable);
  });

  users
    .command('show')
    .description('show a user')
    .argument('<user>', 'user id')
    .action(async (id: string) => {
      const user = await (await cli.api()).call<User>('GET', path(id));
      cli.out.data(user, () => fields(user));
    });

  for (const [name, disabled, description] of [
    ['disable', true, 'disable a user: all their tokens stop working at once'],
    ['enable', false, 'enable a user again: their tokens not revoked or expired work again'],
  ] as const) {
    users
      .command(name)
      .description(description)
      .argument('<user>', 'user id')
      .action(async (id: string) => {
        const user = await (await cli.api()).call<User>('PATCH', path(id), { body: { disabled } });
        cli.out.data(user, () => fields(user));
      });
  }

  users
    .command('delete')
    .description('delete a user, revoking all their tokens')
    .argument('<user>', 'user id')
    .action(async (id: string) => {
      await (await cli.api()).call('DELETE', path(id));
      cli.out.done(`Deleted user ${id}; their tokens are revoked.`);
    });
};

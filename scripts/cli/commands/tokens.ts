/**
 * `tokenwarden tokens …`: personal access tokens (`/api/users/{user}/tokens…` and `/api/tokens`). A new or rotated
 * value is printed once, alone on standard output.
 */
import { segment } from '../client.ts';
import { collect, integer, type Register } from '../context.ts';
import { usageError } from '../errors.ts';
import { cell, fields, table } from '../output.ts';
import { fetchPages, pageOptions, printPage, type PageOptions } from '../pages.ts';

/** A token as the API shows one (never its value). */
interface Token {
  readonly id: string;
  readonly user_id: string;
  readonly name: string;
  readonly scopes: string[];
  readonly status: string;
  readonly created_at: string;
  readonly expires_at: string | null;
  readonly last_used_at: string | null;
}

/** A created or rotated token, with its value. */
type WithValue = Token & { readonly token: string };

const DAY_MS = 86_400_000;

const tokenTable = (rows: readonly Token[]) =>
  table(rows, [
    { header: 'id', value: (t) => t.id },
    { header: 'user', value: (t) => t.user_id },
    { header: 'name', value: (t) => t.name },
    { header: 'scopes', value: (t) => t.scopes },
    { header: 'status', value: (t) => t.status },
    { header: 'created', value: (t) => t.created_at },
    { header: 'expires', value: (t) => t.expires_at ?? 'never' },
    { header: 'last used', value: (t) => t.last_used_at ?? 'never' },
  ]);

/** `expires_at` from `--expires-at` and `--no-expiry`: a date-time, null for none, undefined for the default. */
function expiry(options: { expiresAt?: string; expiry: boolean }): string | null | undefined {
  if (options.expiresAt !== undefined && !options.expiry)
    throw usageError('give --expires-at or --no-expiry, not both');
  return options.expiry ? options.expiresAt : null;
}

const describe = (t: Token) =>
  `token ${t.id} "${cell(t.name)}" of ${t.user_id}: scopes ${cell(t.scopes)}, expires ${cell(t.expires_at ?? 'never')}`;

/** Registers `tokens`. */
export const registerTokens: Register = (program, cli) => {
  const tokens = program
    .command('tokens')
    .description('create, list, show, rename, rotate and revoke personal access tokens; find stale ones');
  const path = (user: string, id?: string) =>
    `/api/users/${segment(user)}/tokens${id === undefined ? '' : `/${segment(id)}`}`;

  tokens
    .command('create')
    .description('create a token for a user; its value is printed once')
    .argument('<user>', 'user id')
    .requiredOption('--name <name>', 'a name unique among the user’s live tokens')
    .option('--scope <scope>', 'a scope from the catalogue (repeat for several)', collect, [])
    .option('--description <text>', 'what the token is for')
    .option('--expires-at <date-time>', 'RFC 3339 expiry (default: the server’s default lifetime)')
    .option('--no-expiry', 'never expire (only when the server allows it)')
    .option('--resource <uri>', 'bind the token to one resource server (RFC 8707)')
    .action(
      async (
        user: string,
        options: {
          name: string;
          scope: string[];
          description?: string;
          expiresAt?: string;
          expiry: boolean;
          resource?: string;
        },
      ) => {
        const body = {
          name: options.name,
          scopes: options.scope,
          description: options.description,
          expires_at: expiry(options),
          resource: options.resource,
        };
        const created = await (await cli.api()).call<WithValue>('POST', path(user), { body });
        cli.out.once(created, `Created ${describe(created)}.`, created.token, 'token');
      },
    );

  pageOptions(
    tokens
      .command('list')
      .description('list a user’s tokens, or every user’s, newest first (never a value)')
      .argument('[user]', 'user id (default: all users)')
      .option('--status <status>', 'active, expired, revoked or all', 'all'),
  ).action(async (user: string | undefined, options: PageOptions & { status: string }) => {
    const page = await fetchPages<Token>(
      await cli.api(),
      user === undefined ? '/api/tokens' : path(user),
      { status: options.status },
      options,
    );
    printPage(cli.out, page, tokenTable);
  });

  tokens
    .command('show')
    .description('show a token')
    .argument('<user>', 'user id')
    .argument('<token-id>', 'token id (tok_…)')
    .action(async (user: string, id: string) => {
      const token = await (await cli.api()).call<Token>('GET', path(user, id));
      cli.out.data(token, () => fields(token));
    });

  tokens
    .command('rename')
    .description('rename a token')
    .argument('<user>', 'user id')
    .argument('<token-id>', 'token id (tok_…)')
    .argument('<name>', 'the new name')
    .action(async (user: string, id: string, name: string) => {
      const token = await (await cli.api()).call<Token>('PATCH', path(user, id), { body: { name } });
      cli.out.data(token, () => fields(token));
    });

  tokens
    .command('rotate')
    .description('issue a new value under the same id; the new value is printed once')
    .argument('<user>', 'user id')
    .argument('<token-id>', 'token id (tok_…)')
    .option('--grace-seconds <n>', 'how long the old value keeps working, 0-86400', integer(0, 86_400))
    .option('--expires-at <date-time>', 'RFC 3339 expiry of the new value')
    .option('--no-expiry', 'the new value never expires (only when the server allows it)')
    .action(
      async (user: string, id: string, options: { graceSeconds?: number; expiresAt?: string; expiry: boolean }) => {
        const body = { grace_seconds: options.graceSeconds, expires_at: expiry(options) };
        const rotated = await (await cli.api()).call<WithValue>('POST', `${path(user, id)}/rotate`, { body });
        const grace = options.graceSeconds ?? 0;
        const old = grace > 0 ? `the old value works for ${grace} more seconds` : 'the old value no longer works';
        cli.out.once(rotated, `Rotated ${describe(rotated)}; ${old}.`, rotated.token, 'new value');
      },
    );

  tokens
    .command('revoke')
    .description('revoke a token')
    .argument('<user>', 'user id')
    .argument('<token-id>', 'token id (tok_…)')
    .action(async (user: string, id: string) => {
      await (await cli.api()).call('DELETE', path(user, id));
      cli.out.done(`Revoked token ${id} of ${user}.`);
    });

  tokens
    .command('revoke-all')
    .description('revoke every live token of a user')
    .argument('<user>', 'user id')
    .action(async (user: string) => {
      const answer = await (await cli.api()).call<{ revoked: number }>('POST', `${path(user)}/revoke-all`);
      cli.out.data(answer, () => `Revoked ${answer.revoked} token(s) of ${user}.`);
    });

  pageOptions(
    tokens
      .command('stale')
      .description('find tokens unused for a number of days (and older than that), across users')
      .requiredOption('--unused-days <days>', 'not used in this many days', integer(1, 36_500))
      .option('--user <user>', 'only this user’s tokens')
      .option('--status <status>', 'active, expired, revoked or all', 'active'),
  ).action(async (options: PageOptions & { unusedDays: number; user?: string; status: string }) => {
    const cutoff = new Date(Date.now() - options.unusedDays * DAY_MS).toISOString();
    const query = { status: options.status, user_id: options.user, last_used_before: cutoff };
    const page = await fetchPages<Token>(await cli.api(), '/api/tokens', query, options);
    // The API counts a never-used token as unused whatever its age; one created since the cutoff is not stale.
    const stale = { ...page, data: page.data.filter((t) => t.created_at < cutoff) };
    printPage(cli.out, stale, tokenTable);
  });
};

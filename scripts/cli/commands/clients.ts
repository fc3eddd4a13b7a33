/**
 * `tokenwarden clients …`: register, list, change and delete resource-server clients (`/api/clients`): how they
 * authenticate, whether they may exchange PATs for JWTs (RFC 8693), and the resources (RFC 8707) they serve.
 */
import { readFile } from 'node:fs/promises';

import { segment } from '../client.ts';
import { collect, type Register } from '../context.ts';
import { usageError } from '../errors.ts';
import { fields, table } from '../output.ts';

/** A registered client as the API shows one. */
interface Client {
  readonly client_id: string;
  readonly client_name: string | null;
  readonly token_endpoint_auth_method: string;
  readonly token_exchange?: boolean;
  readonly resources?: readonly string[];
  readonly created_at: string;
  /** Only in the answer to its registration. */
  readonly client_secret?: string;
}

async function readJwks(file: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as unknown;
  } catch (error) {
    throw usageError(`--jwks-file: ${(error as Error).message}`);
  }
}

const RESOURCE_HELP = 'a resource (RFC 8707 URI) it serves: PATs bound to it introspect active for it (repeatable)';

/** Registers `clients`. */
export const registerClients: Register = (program, cli) => {
  const clients = program.command('clients').description('register, list and delete resource-server clients');

  clients
    .command('create')
    .description('register a client; its secret is printed once')
    .option('--name <name>', 'a name to recognise it by')
    .option(
      '--auth-method <method>',
      'client_secret_basic (default), client_secret_post, client_secret_jwt or private_key_jwt',
    )
    .option('--jwks-file <file>', 'its public keys as a JWK Set (for private_key_jwt)')
    .option('--token-exchange', 'allow it to exchange PATs for short-lived JWT access tokens (RFC 8693)')
    .option('--resource <uri>', RESOURCE_HELP, collect)
    .action(
      async (options: {
        name?: string;
        authMethod?: string;
        jwksFile?: string;
        tokenExchange?: boolean;
        resource?: string[];
      }) => {
        const body = {
          client_name: options.name,
          token_endpoint_auth_method: options.authMethod,
          jwks: options.jwksFile === undefined ? undefined : await readJwks(options.jwksFile),
          token_exchange: options.tokenExchange,
          resources: options.resource,
        };
        const client = await (await cli.api()).call<Client>('POST', '/api/clients', { body });
        const { client_secret: secret, ...shown } = client;
        const intro = `Registered client ${client.client_id} (${client.token_endpoint_auth_method}).`;
        if (secret === undefined) cli.out.data(client, () => fields(shown));
        else cli.out.once(client, intro, secret, 'client secret');
      },
    );

  clients
    .command('update')
    .description('change a client: its name, whether it may exchange tokens, the resources it serves')
    .argument('<client-id>', 'client id')
    .option('--name <name>', 'a new name')
    .option('--token-exchange', 'allow token exchange')
    .option('--no-token-exchange', 'forbid token exchange')
    .option('--resource <uri>', `${RESOURCE_HELP}; replaces the list`, collect)
    .option('--no-resources', 'serve no resource (bound PATs then introspect inactive for it)')
    .action(
      async (
        id: string,
        options: { name?: string; tokenExchange?: boolean; resource?: string[]; resources?: boolean },
      ) => {
        if (options.resources === false && options.resource !== undefined) {
          throw usageError('--resource and --no-resources contradict each other');
        }
        const body = {
          client_name: options.name,
          token_exchange: options.tokenExchange,
          resources: options.resources === false ? [] : options.resource,
        };
        const client = await (await cli.api()).call<Client>('PATCH', `/api/clients/${segment(id)}`, { body });
        cli.out.data(client, () => fields({ ...client, resources: client.resources?.join(' ') }));
      },
    );

  clients
    .command('list')
    .description('list registered clients (never a secret)')
    .action(async () => {
      const answer = await (await cli.api()).call<{ data: Client[] }>('GET', '/api/clients');
      cli.out.data(answer, () =>
        table(answer.data, [
          { header: 'client id', value: (c) => c.client_id },
          { header: 'name', value: (c) => c.client_name },
          { header: 'auth method', value: (c) => c.token_endpoint_auth_method },
          { header: 'exchange', value: (c) => (c.token_exchange ? 'yes' : 'no') },
          { header: 'resources', value: (c) => c.resources?.join(' ') ?? '' },
          { header: 'created', value: (c) => c.created_at },
        ]),
      );
    });

  clients
    .command('delete')
    .description('delete a client; the OAuth tokens issued to it stop working')
    .argument('<client-id>', 'client id')
    .action(async (id: string) => {
      await (await cli.api()).call('DELETE', `/api/clients/${segment(id)}`);
      cli.out.done(`Deleted client ${id}.`);
    });
};

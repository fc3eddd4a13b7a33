/** `tokenwarden clients …`: register, list and delete resource-server clients (`/api/clients`). */
import { readFile } from 'node:fs/promises';

import { segment } from '../client.ts';
import type { Register } from '../context.ts';
import { usageError } from '../errors.ts';
import { fields, table } from '../output.ts';

/** A registered client as the API shows one. */
interface Client {
  readonly client_id: string;
  readonly client_name: string | null;
  readonly token_endpoint_auth_method: string;
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
    .action(async (options: { name?: string; authMethod?: string; jwksFile?: string }) => {
      const body = {
        client_name: options.name,
        token_endpoint_auth_method: options.authMethod,
        jwks: options.jwksFile === undefined ? undefined : await readJwks(options.jwksFile),
      };
      const client = await (await cli.api()).call<Client>('POST', '/api/clients', { body });
      const { client_secret: secret, ...shown } = client;
      const intro = `Registered client ${client.client_id} (${client.token_endpoint_auth_method}).`;
      if (secret === undefined) cli.out.data(client, () => fields(shown));
      else cli.out.once(client, intro, secret, 'client secret');
    });

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

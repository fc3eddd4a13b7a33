/**
 * `tokenwarden exchange`: exchanges a PAT for a short-lived JWT access token at `/token` (RFC 8693), as a client
 * allowed to would, to see what an API that verifies JWTs locally receives. The PAT is read from standard input or
 * a prompt; the client's secret from `TOKENWARDEN_EXCHANGE_CLIENT_SECRET` or a prompt.
 */
import { postForm } from '../client.ts';
import type { Register } from '../context.ts';
import { exchangeSecret } from '../credentials.ts';
import { CliError, EXIT } from '../errors.ts';
import { interactive, readSecret } from '../input.ts';
import { fields } from '../output.ts';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

/** Registers `exchange`. */
export const registerExchange: Register = (program, cli) => {
  program
    .command('exchange')
    .description('exchange a PAT (read from standard input or a prompt) for a short-lived JWT access token')
    .requiredOption(
      '--client-id <id>',
      'a client allowed to exchange tokens (its secret: TOKENWARDEN_EXCHANGE_CLIENT_SECRET or a prompt)',
    )
    .option('--scope <scopes>', 'narrow the scopes (space-separated, a subset of the PAT’s)')
    .option('--resource <uri>', 'the API the JWT is for (its aud; within the PAT’s binding)')
    .action(async (options: { clientId: string; scope?: string; resource?: string }) => {
      const url = await cli.url();
      let clientSecret = exchangeSecret();
      if (clientSecret === undefined) {
        if (!interactive()) {
          throw new CliError(EXIT.usage, 'set TOKENWARDEN_EXCHANGE_CLIENT_SECRET when the PAT comes on standard input');
        }
        clientSecret = await readSecret('Client secret');
      }
      const token = await readSecret('PAT');
      const request = {
        grant_type: GRANT,
        subject_token: token,
        subject_token_type: ACCESS_TOKEN,
        ...(options.scope === undefined ? {} : { scope: options.scope }),
        ...(options.resource === undefined ? {} : { resource: options.resource }),
      };
      const client = { clientId: options.clientId, clientSecret };
      const answer = await postForm(url, '/token', client, request, { what: 'token exchange' });
      cli.out.data(answer, () => fields(answer));
    });
};

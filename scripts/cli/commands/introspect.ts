/**
 * `tokenwarden introspect`: asks `/introspect` (RFC 7662) about a token, as a registered resource server would, to
 * see what resource servers see. The token is read from standard input or a prompt; the client's secret from
 * `TOKENWARDEN_INTROSPECT_CLIENT_SECRET` or a prompt.
 */
import { postForm } from '../client.ts';
import type { Register } from '../context.ts';
import { introspectionSecret } from '../credentials.ts';
import { CliError, EXIT } from '../errors.ts';
import { interactive, readSecret } from '../input.ts';
import { cell, fields } from '../output.ts';

/** Members that are NumericDate (RFC 7519 §2), shown with their date for people. */
const TIMES = new Set(['exp', 'iat', 'nbf']);

const withDates = (answer: Record<string, unknown>) =>
  Object.fromEntries(
    Object.entries(answer).map(([key, value]) => [
      key,
      TIMES.has(key) && typeof value === 'number' ? `${value} (${cell(new Date(value * 1000).toISOString())})` : value,
    ]),
  );

/** Registers `introspect`. */
export const registerIntrospect: Register = (program, cli) => {
  program
    .command('introspect')
    .description('introspect a token (read from standard input or a prompt) as a registered resource server')
    .requiredOption(
      '--client-id <id>',
      'the resource server’s client id (its secret: TOKENWARDEN_INTROSPECT_CLIENT_SECRET or a prompt)',
    )
    .action(async (options: { clientId: string }) => {
      const url = await cli.url();
      let clientSecret = introspectionSecret();
      if (clientSecret === undefined) {
        if (!interactive()) {
          throw new CliError(
            EXIT.usage,
            'set TOKENWARDEN_INTROSPECT_CLIENT_SECRET when the token comes on standard input',
          );
        }
        clientSecret = await readSecret('Client secret');
      }
      const token = await readSecret('Token');
      const client = { clientId: options.clientId, clientSecret };
      const answer = await postForm(url, '/introspect', client, { token }, { what: 'introspection' });
      cli.out.data(answer, () => fields(withDates(answer)));
    });
};

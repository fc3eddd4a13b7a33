/**
 * `tokenwarden login <url>` and `logout`: the admin client's credentials, checked against `/token` before they are
 * stored (mode 0600). The secret comes from standard input or a prompt, never from an argument.
 */
import { adminToken } from '../client.ts';
import type { Register } from '../context.ts';
import { normalizeUrl, removeCredentials, saveCredentials, credentialsFile } from '../credentials.ts';
import { readSecret } from '../input.ts';

/** Registers `login` and `logout`. */
export const registerLogin: Register = (program, cli) => {
  program
    .command('login')
    .description("store the admin client's credentials (the secret is read from standard input or a prompt)")
    .argument('<url>', 'the server, e.g. https://tokens.example.com')
    .option('--client-id <id>', 'the admin client (ADMIN_CLIENT_ID on the server)', 'tokenwarden-admin')
    .action(async (rawUrl: string, options: { clientId: string }) => {
      const url = normalizeUrl(rawUrl);
      const clientSecret = await readSecret('Client secret');
      const credentials = { url, clientId: options.clientId, clientSecret };
      await adminToken(url, credentials);
      const path = await saveCredentials(credentials);
      cli.out.done(`Logged in to ${url} as ${options.clientId}. Credentials saved to ${path} (mode 0600).`);
    });

  program
    .command('logout')
    .description('delete the stored credentials')
    .action(async () => {
      const removed = await removeCredentials();
      cli.out.done(removed ? `Removed ${credentialsFile()}.` : 'No stored credentials.');
    });
};

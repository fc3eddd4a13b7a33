/**
 * Process entry point (`npm start`): read the configuration, start Tokenwarden, print how to try it when running
 * on the embedded in-memory store, and shut down gracefully on SIGTERM/SIGINT (exit 0).
 */
import { setFlagsFromString } from 'node:v8';

import { ConfigError, loadConfigFromProcess, type Config } from '../config/index.ts';
import { createTokenwarden, type Tokenwarden } from './main.ts';

async function seedDemo(tw: Tokenwarden): Promise<{ userId: string; clientId: string; clientSecret: string }> {
  const user = await tw.services.users.create(
    { id: 'demo', username: 'demo', email: null },
    { actor: { id: 'system', via: 'admin_api' } },
  );
  const { client, clientSecret } = await tw.services.clients.register({ clientName: 'demo resource server' });
  return { userId: user.id, clientId: client.clientId, clientSecret: clientSecret ?? '' };
}

/** The banner printed on the embedded store: credentials and copy-paste commands (terminal only, not the logs). */
function banner(config: Config, url: string, demo: { userId: string; clientId: string; clientSecret: string }): string {
  const base = config.issuer.startsWith('http://localhost') ? url.replace('127.0.0.1', 'localhost') : config.issuer;
  const json = (field: string) => `node -pe 'JSON.parse(require("fs").readFileSync(0)).${field}'`;
  const console =
    config.console.mode === 'embedded'
      ? `
Open the web console and sign in as "${demo.userId}" (or the built-in admin) to create a token in your browser:

  ${base}/console/
`
      : '';
  return `
Tokenwarden is running on the embedded in-memory store (nothing is persisted; set MONGODB_URI for real use).
${console}
  issuer               ${config.issuer}
  admin client         ${config.adminClient.clientId} / ${config.adminClient.clientSecret}
  resource server      ${demo.clientId} / ${demo.clientSecret}
  demo user            ${demo.userId}

Try it (copy and paste into a shell):

  ADMIN=$(curl -s -u '${config.adminClient.clientId}:${config.adminClient.clientSecret}' \\
    -d grant_type=client_credentials -d scope=admin ${base}/token | ${json('access_token')})

  PAT=$(curl -s -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \\
    -d '{"name":"my first token","scopes":["read"]}' ${base}/api/users/${demo.userId}/tokens | ${json('token')})

  curl -s -u '${demo.clientId}:${demo.clientSecret}' -d "token=$PAT" ${base}/introspect

  curl -s -u '${demo.clientId}:${demo.clientSecret}' -d "token=$PAT" ${base}/revoke
  curl -s -u '${demo.clientId}:${demo.clientSecret}' -d "token=$PAT" ${base}/introspect

Discovery: ${base}/.well-known/oauth-authorization-server
`;
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfigFromProcess();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`tokenwarden: invalid configuration: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  // Process-wide, so here rather than in createTokenwarden. V8 reads this limit each time it resizes the heap after a
  // collection, so setting it at start-up is enough; measured with `npm run bench` (server RSS), see the README.
  if (config.heapGrowthPercent > 0) setFlagsFromString(`--heap-growing-percent=${config.heapGrowthPercent}`);

  const tw = await createTokenwarden(config);
  const { url } = await tw.listen();
  tw.logger.info(
    {
      url,
      issuer: config.issuer,
      storage: config.storage.kind,
      redis: config.redis !== null,
      console: config.console.mode === 'off' ? null : `${config.issuer}/console/`,
    },
    'listening',
  );
  if (config.storage.kind === 'memory') {
    process.stdout.write(banner(config, url, await seedDemo(tw)));
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    tw.logger.info({ signal }, 'shutting down');
    tw.close().then(
      () => {
        tw.logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        tw.logger.error({ err: { message: (error as Error).message } }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`tokenwarden: failed to start: ${(error as Error).message}\n`);
  process.exit(1);
});

/**
 * Process entry point (`npm start`): read the configuration, start Tokenwarden, print how to try it when running
 * on the embedded in-memory store, and shut down gracefully on SIGTERM/SIGINT (exit 0).
 */
import { setFlagsFromString } from 'node:v8';
import { parseArgs } from 'node:util';

import { ConfigError, loadConfigFromProcess, type Config } from '../config/index.ts';
import { DEV_SEED } from '../config/dev-seed.ts';
import { createTokenwarden, type Tokenwarden } from './main.ts';

interface Demo {
  readonly userId: string;
  readonly clientId: string;
  readonly clientSecret: string;
}

/**
 * The demo user and resource-server client of the embedded mode: the development seed's fixed ones with `--seed`
 * (`DEV_SEED`), else a user `demo` and a client with a random secret, new at every start.
 */
async function seedDemo(tw: Tokenwarden, config: Config): Promise<Demo> {
  const seed = config.devSeed;
  const actor = { actor: { id: 'system', via: 'admin_api' as const } };
  const user = await tw.services.users.create(
    { id: seed?.user.id ?? 'demo', username: seed?.user.username ?? 'demo', email: null },
    actor,
  );
  const { client, clientSecret } = await tw.services.clients.register(
    seed
      ? {
          clientName: seed.resourceServer.name,
          fixed: seed.resourceServer,
          resources: seed.resourceServer.resources,
          tokenExchange: true,
        }
      : { clientName: 'demo resource server', resources: DEV_SEED.resourceServer.resources, tokenExchange: true },
  );
  return { userId: user.id, clientId: client.clientId, clientSecret: clientSecret ?? '' };
}

/** Where `localhost` in the issuer is not what a client would type, the issuer's host with the port. */
function issuerAdvice(config: Config): string {
  const { hostname } = new URL(config.issuer);
  const other = hostname === 'localhost' ? '127.0.0.1' : hostname === '127.0.0.1' ? 'localhost' : null;
  return other === null
    ? ''
    : `
  Use the issuer exactly as printed: OAuth clients compare it with the "issuer" of the discovery document, so
  discovery through ${config.issuer.replace(hostname, other)} fails (openid-client: issuer mismatch). Set ISSUER to
  change it.
`;
}

/** The banner printed on the embedded store: credentials and copy-paste commands (terminal only, not the logs). */
function banner(config: Config, url: string, demo: Demo): string {
  const base = config.issuer.startsWith('http://localhost') ? url.replace('127.0.0.1', 'localhost') : config.issuer;
  const json = (field: string) => `node -pe 'JSON.parse(require("fs").readFileSync(0)).${field}'`;
  const seeded = config.devSeed !== null;
  const console =
    config.console.mode === 'embedded'
      ? `
Open the web console and sign in as "${demo.userId}" (or the built-in admin) to create a token in your browser:

  ${base}/console/
`
      : '';
  const state = seeded
    ? `Tokenwarden is running on the embedded in-memory store with the DEVELOPMENT SEED (--seed, DEV_SEED): the
credentials below are fixed and public, the same after every restart; users and tokens are not kept.
Never use them anywhere but on this machine.`
    : `Tokenwarden is running on the embedded in-memory store (nothing is persisted; set MONGODB_URI for real use).
The credentials below are new at every start; \`npm start -- --seed\` keeps fixed development ones instead.`;
  const exposed =
    seeded && !['127.0.0.1', '::1', 'localhost'].includes(config.host)
      ? `
WARNING: HOST=${config.host} makes these public credentials reachable from other machines.
`
      : '';
  return `
${state}
${exposed}${console}
  issuer               ${config.issuer}
${issuerAdvice(config)}
  admin client         ${config.adminClient.clientId} / ${config.adminClient.clientSecret}
  resource server      ${demo.clientId} / ${demo.clientSecret}
                       serves ${DEV_SEED.resourceServer.resources.join(' ')}, may exchange PATs for JWTs
  demo user            ${demo.userId}

Try it (copy and paste into a shell):

  export TW=${base}
  export ADMIN_ID='${config.adminClient.clientId}' ADMIN_SECRET='${config.adminClient.clientSecret}'
  export RS_ID='${demo.clientId}' RS_SECRET='${demo.clientSecret}'

  ADMIN=$(curl -s -u "$ADMIN_ID:$ADMIN_SECRET" \\
    -d grant_type=client_credentials -d scope=admin $TW/token | ${json('access_token')})

  PAT=$(curl -s -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \\
    -d '{"name":"my first token","scopes":["read"]}' $TW/api/users/${demo.userId}/tokens | ${json('token')})

  curl -s -u "$RS_ID:$RS_SECRET" -d "token=$PAT" $TW/introspect

  curl -s -u "$RS_ID:$RS_SECRET" -d "token=$PAT" $TW/revoke
  curl -s -u "$RS_ID:$RS_SECRET" -d "token=$PAT" $TW/introspect

Discovery: ${base}/.well-known/oauth-authorization-server
`;
}

/** `--seed` is the one option; anything else is a usage error (exit 2). */
function parseCommandLine(): { seed: boolean } {
  try {
    const { values } = parseArgs({ options: { seed: { type: 'boolean', default: false } }, strict: true });
    return { seed: values.seed };
  } catch (error) {
    process.stderr.write(`tokenwarden: ${(error as Error).message}\nusage: tokenwarden-server [--seed]\n`);
    process.exit(2);
  }
}

async function main(): Promise<void> {
  const args = parseCommandLine();
  let config: Config;
  try {
    config = loadConfigFromProcess({ seed: args.seed });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`tokenwarden: invalid configuration: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  // Process-wide, so here rather than in createTokenwarden. V8 reads this limit each time it resizes the heap after a
  // collection, so setting it at start-up is enough; measured with `npm run bench` (server RSS), see docs/performance.md.
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
    process.stdout.write(banner(config, url, await seedDemo(tw, config)));
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

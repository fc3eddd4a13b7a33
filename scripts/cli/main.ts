/**
 * `tokenwarden`, the command-line client of Tokenwarden's management API. It shares no code with the server: it
 * knows only the HTTP API (docs/reference.md, `GET /openapi.json`). Parsing and help are commander's; each
 * command group lives in `commands/` and registers itself.
 */
import { Command, CommanderError } from 'commander';

import { registerAudit } from './commands/audit.ts';
import { registerClients } from './commands/clients.ts';
import { registerExchange } from './commands/exchange.ts';
import { registerIntrospect } from './commands/introspect.ts';
import { registerLogin } from './commands/login.ts';
import { registerTokens } from './commands/tokens.ts';
import { registerUsers } from './commands/users.ts';
import { registerWebhooks } from './commands/webhooks.ts';
import { createContext, type Register } from './context.ts';
import { CliError, EXIT, EXIT_CODES_HELP } from './errors.ts';

/** The command groups, in the order `--help` lists them. */
const COMMANDS: readonly Register[] = [
  registerLogin,
  registerUsers,
  registerTokens,
  registerClients,
  registerAudit,
  registerWebhooks,
  registerIntrospect,
  registerExchange,
];

const CREDENTIALS_HELP = `Credentials:
  tokenwarden login <url> stores the admin client's id and secret in
  $XDG_CONFIG_HOME/tokenwarden/credentials.json (default ~/.config/tokenwarden/), mode 0600.
  TOKENWARDEN_URL, TOKENWARDEN_CLIENT_ID and TOKENWARDEN_CLIENT_SECRET override what is stored.
  Secrets and tokens are read from standard input or a prompt, never from arguments.`;

/** Builds the program. */
export function createProgram(): Command {
  const program = new Command('tokenwarden')
    .description("Manage Tokenwarden's users, personal access tokens and clients through its management API.")
    .option('--json', 'print the API’s JSON instead of tables (for scripts)')
    .addHelpText('after', `\n${CREDENTIALS_HELP}\n\n${EXIT_CODES_HELP}`)
    .showHelpAfterError('(run with --help for usage)')
    // "unknown option '--client-secret=…'" must not repeat the value: it may be the secret that has no place there.
    .configureOutput({ outputError: (text, write) => write(text.replace(/('-{1,2}[^=' ]+)=[^']*'/g, "$1=…'")) })
    .exitOverride();
  const context = createContext(program);
  for (const register of COMMANDS) register(program, context);
  return program;
}

/** Runs the CLI on `argv` (as `process.argv`: node, script, arguments…); resolves with the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    await createProgram().parseAsync(argv);
    return EXIT.ok;
  } catch (error) {
    // Commander has printed its message (or the help): 0 for --help, a usage error otherwise.
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (error instanceof CliError) {
      process.stderr.write(`tokenwarden: ${error.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(`tokenwarden: unexpected failure: ${(error as Error).stack ?? String(error)}\n`);
    return EXIT.failure;
  }
}

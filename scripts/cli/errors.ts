/**
 * The CLI's exit codes and the one error class that carries them. Every failure a command can meet ends as a
 * {@link CliError}; `main` prints its message and exits with its code.
 */

/** Exit codes, documented in `--help` and docs/cli.md. */
export const EXIT = {
  ok: 0,
  /** A bug: anything not foreseen below. */
  failure: 1,
  /** Unknown command or option, a missing or malformed argument, no secret on standard input. */
  usage: 2,
  /** No credentials, a wrong client id or secret, or 401/403 from the API. */
  auth: 3,
  /** The API refused the request (any other 4xx); its `error_description` is printed. */
  api: 4,
  /** The server is unreachable, timed out, answered 5xx, or answered something that is not the API's. */
  server: 5,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Help text listing the exit codes. */
export const EXIT_CODES_HELP = `Exit codes:
  0  success
  1  unexpected failure (a bug)
  2  usage error: unknown command or option, bad or missing argument, no secret on standard input
  3  authentication failed: no credentials, wrong client id or secret, 401 or 403 from the API
  4  the API refused the request (another 4xx); its error and error_description are printed
  5  server or network error: unreachable, timed out, 5xx, or an answer that is not the API's`;

/** A failure with its exit code; `error` is the API's RFC 6749/6750 error code when the API gave one. */
export class CliError extends Error {
  readonly exitCode: ExitCode;
  readonly error: string | undefined;
  readonly status: number | undefined;

  constructor(exitCode: ExitCode, message: string, error?: string, status?: number) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
    this.error = error;
    this.status = status;
  }
}

/** A usage error found after parsing (e.g. two options that exclude each other). */
export const usageError = (message: string) => new CliError(EXIT.usage, message);

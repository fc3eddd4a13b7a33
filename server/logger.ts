/**
 * Structured JSON logs (pino: fast, JSON by default, with path redaction as a second line of defence).
 * Nothing in Tokenwarden logs a token value, a client secret, a hash of either, or an Authorization header; the
 * redaction paths below only catch mistakes.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

/** Creates the process logger writing JSON lines to `destination` (stdout by default). */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'tokenwarden' },
      redact: {
        paths: ['token', 'client_secret', 'authorization', 'headers.authorization', '*.token', '*.client_secret'],
        censor: '[redacted]',
      },
    },
    // Synchronous writes by default: the last lines before process.exit (shutdown, start-up failure) are not lost.
    (destination ?? pino.destination({ dest: 1, sync: true })) as Parameters<typeof pino>[1],
  );
}

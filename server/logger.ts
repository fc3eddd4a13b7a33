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

/** Logs a warning at most once per interval per key (a dead Redis must not flood the logs). */
export type ThrottledWarn = (key: string, fields: Record<string, unknown>, message: string) => void;

/** Creates a {@link ThrottledWarn} over `logger`. */
export function createThrottledWarn(logger: Logger, intervalMs: number): ThrottledWarn {
  const last = new Map<string, number>();
  return (key, fields, message) => {
    const now = Date.now();
    if ((last.get(key) ?? 0) + intervalMs > now) return;
    last.set(key, now);
    logger.warn(fields, message);
  };
}

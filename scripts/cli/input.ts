/**
 * Secrets and tokens come in through standard input or a prompt that does not echo, never through arguments,
 * where they would be kept in shell history and shown to every user by `ps`.
 */
import { read } from 'read';

import { CliError, EXIT } from './errors.ts';

/** The most a secret read from standard input may be. */
const MAX_BYTES = 64 * 1024;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BYTES) throw new CliError(EXIT.usage, `standard input is over ${MAX_BYTES / 1024} KiB`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Whether a prompt can be shown (standard input is a terminal). */
export const interactive = () => process.stdin.isTTY === true;

async function prompt(what: string): Promise<string> {
  try {
    return await read({ prompt: `${what}: `, silent: true, replace: '', output: process.stderr });
  } catch {
    throw new CliError(EXIT.usage, 'cancelled at the prompt');
  } finally {
    process.stderr.write('\n'); // the silent prompt leaves the cursor after itself
  }
}

/**
 * Reads one secret: from a silent prompt on the terminal, else the whole of standard input with surrounding
 * whitespace (the final newline of `echo`) removed.
 */
export async function readSecret(what: string): Promise<string> {
  const value = interactive() ? await prompt(what) : await readStdin();
  const secret = value.trim();
  if (secret === '') throw new CliError(EXIT.usage, `no ${what.toLowerCase()} on standard input or at the prompt`);
  if (/\p{Cc}/u.test(secret)) throw new CliError(EXIT.usage, `the ${what.toLowerCase()} must be one line`);
  return secret;
}

/**
 * What every command gets: the printer in the mode `--json` chose, and the management API with the admin
 * credentials found in the environment or the stored login. A command group is a function that adds its commands
 * to the program ({@link Register}), so a new group (`webhooks`, `exchange`) is one file and one line in `main.ts`.
 */
import { InvalidArgumentError, type Command } from 'commander';

import { createApiClient, type ApiClient } from './client.ts';
import { loadCredentials, loadUrl } from './credentials.ts';
import { createOutput, type Output } from './output.ts';

/** The services a command's action uses. */
export interface Context {
  /** The printer (valid inside an action, once the global options are parsed). */
  readonly out: Output;
  /** The management API as the admin client; `signal` aborts its requests (SIGINT during `audit --follow`). */
  api(signal?: AbortSignal): Promise<ApiClient>;
  /** The server URL alone, for endpoints that need no admin client (`introspect`). */
  url(): Promise<string>;
}

/** Adds a command group to the program. */
export type Register = (program: Command, context: Context) => void;

/** Creates the context of one run of the program. */
export function createContext(program: Command): Context {
  const out = () => createOutput(program.opts<{ json?: boolean }>().json === true);
  const warn = (message: string) => out().warn(message);
  return {
    get out() {
      return out();
    },
    async api(signal) {
      const { url, clientId, clientSecret } = await loadCredentials(warn);
      return createApiClient(url, { clientId, clientSecret }, signal);
    },
    url: () => loadUrl(warn),
  };
}

/** An option parser for integers in `[min, max]`. */
export function integer(min: number, max: number): (raw: string) => number {
  return (raw) => {
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`must be an integer from ${min} to ${max}`);
    }
    return value;
  };
}

/** An option parser for positive numbers of seconds (fractions allowed) in `[min, max]`. */
export function seconds(min: number, max: number): (raw: string) => number {
  return (raw) => {
    const value = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(value) || value < min || value > max) {
      throw new InvalidArgumentError(`must be a number of seconds from ${min} to ${max}`);
    }
    return value;
  };
}

/** Collects a repeatable option's values. */
export const collect = (value: string, previous: string[] = []) => [...previous, value];

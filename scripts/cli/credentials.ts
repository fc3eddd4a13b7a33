/**
 * Where the CLI finds the admin client's credentials: `TOKENWARDEN_URL`, `TOKENWARDEN_CLIENT_ID` and
 * `TOKENWARDEN_CLIENT_SECRET` in the environment, each overriding the same field of the file `tokenwarden login`
 * wrote (`$XDG_CONFIG_HOME/tokenwarden/credentials.json`, else `~/.config/tokenwarden/credentials.json`). The file
 * is created with mode 0600 in a 0700 directory, and replaced atomically. This module is the CLI's only reader of
 * `process.env` for credentials.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

import { CliError, EXIT } from './errors.ts';

/** The admin client's credentials and the server they are for. */
export interface Credentials {
  readonly url: string;
  readonly clientId: string;
  readonly clientSecret: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/** The CLI's configuration directory (XDG Base Directory: a relative `XDG_CONFIG_HOME` is ignored). */
export function configDir(env: Env = process.env): string {
  const xdg = env.XDG_CONFIG_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.config'), 'tokenwarden');
}

/** The credentials file. */
export const credentialsFile = (env: Env = process.env) => join(configDir(env), 'credentials.json');

/** A server URL without a trailing slash; anything but an absolute http(s) URL is a usage error. */
export function normalizeUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CliError(EXIT.usage, `not a URL: ${raw}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new CliError(EXIT.usage, `the server URL must be http:// or https://, not ${url.protocol}`);
  }
  if (url.search || url.hash || url.username || url.password) {
    throw new CliError(EXIT.usage, 'the server URL must not carry credentials, a query or a fragment');
  }
  return url.href.replace(/\/+$/, '');
}

/** Writes the credentials file: a fresh 0600 file renamed over the old one, in a 0700 directory. */
export async function saveCredentials(credentials: Credentials, env: Env = process.env): Promise<string> {
  const dir = configDir(env);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = credentialsFile(env);
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const { url, clientId, clientSecret } = credentials;
  const file = await open(temporary, 'wx', 0o600);
  try {
    await file.writeFile(`${JSON.stringify({ url, client_id: clientId, client_secret: clientSecret }, null, 2)}\n`);
    await file.sync();
    await file.close();
    await rename(temporary, path);
  } catch (error) {
    await file.close().catch(() => undefined);
    await rm(temporary, { force: true });
    throw error;
  }
  return path;
}

/** Deletes the credentials file; whether there was one. */
export async function removeCredentials(env: Env = process.env): Promise<boolean> {
  const path = credentialsFile(env);
  const existed = await stat(path).then(
    () => true,
    () => false,
  );
  await rm(path, { force: true });
  return existed;
}

async function readStored(path: string, warn: (message: string) => void): Promise<Partial<Credentials>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new CliError(EXIT.auth, `cannot read ${path}: ${(error as Error).message}`);
  }
  if (((await stat(path)).mode & 0o077) !== 0) warn(`${path} is readable by other users: run chmod 600 ${path}`);
  let stored: Record<string, unknown>;
  try {
    stored = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new CliError(EXIT.auth, `${path} is not valid JSON: run tokenwarden login again`);
  }
  const field = (key: string) => (typeof stored[key] === 'string' ? stored[key] : undefined);
  return { url: field('url'), clientId: field('client_id'), clientSecret: field('client_secret') };
}

/** The server URL alone (enough for `introspect`), from the environment or the stored login. */
export async function loadUrl(warn: (message: string) => void, env: Env = process.env): Promise<string> {
  const url = env.TOKENWARDEN_URL || (await readStored(credentialsFile(env), warn)).url;
  if (!url) throw new CliError(EXIT.auth, 'no server URL: run tokenwarden login <url>, or set TOKENWARDEN_URL');
  return normalizeUrl(url);
}

/** The admin client's credentials; each environment variable overrides the stored field. */
export async function loadCredentials(warn: (message: string) => void, env: Env = process.env): Promise<Credentials> {
  const stored = await readStored(credentialsFile(env), warn);
  const url = env.TOKENWARDEN_URL || stored.url;
  const clientId = env.TOKENWARDEN_CLIENT_ID || stored.clientId;
  const clientSecret = env.TOKENWARDEN_CLIENT_SECRET || stored.clientSecret;
  if (!url || !clientId || !clientSecret) {
    throw new CliError(
      EXIT.auth,
      'not logged in: run tokenwarden login <url>, or set TOKENWARDEN_URL, TOKENWARDEN_CLIENT_ID and TOKENWARDEN_CLIENT_SECRET',
    );
  }
  return { url: normalizeUrl(url), clientId, clientSecret };
}

/** The secret `introspect` authenticates its resource-server client with, when given in the environment. */
export const introspectionSecret = (env: Env = process.env) => env.TOKENWARDEN_INTROSPECT_CLIENT_SECRET || undefined;

/** The secret of the client `tokenwarden exchange` acts as, from the environment; undefined when unset. */
export const exchangeSecret = (env: Env = process.env) => env.TOKENWARDEN_EXCHANGE_CLIENT_SECRET || undefined;

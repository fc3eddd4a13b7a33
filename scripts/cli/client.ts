/**
 * The CLI's HTTP side, and all it knows of the server: OAuth 2.0 endpoints called as a client with
 * `client_secret_basic` (`/token` for an admin access token by client credentials, RFC 6749 §4.4; `/introspect`,
 * RFC 7662), and the management API under `/api` with that token as a bearer token (RFC 6750). Every answer becomes
 * a value or a {@link CliError} whose exit code says whose fault it was.
 */
import { CliError, EXIT, type ExitCode } from './errors.ts';

/** How long one request may take. */
const TIMEOUT_MS = 30_000;

/** A registered OAuth client's credentials. */
export interface ClientCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
}

type Json = Record<string, unknown>;

/** RFC 6749 §2.3.1: the id and secret are form-urlencoded before they are joined and base64-encoded. */
function basic({ clientId, clientSecret }: ClientCredentials): string {
  const pair = `${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`;
  return `Basic ${Buffer.from(pair).toString('base64')}`;
}

function networkFailure(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message;
}

/** Sends a request; a network failure or timeout is a server error, an abort by `signal` is rethrown as it is. */
async function send(url: string, init: RequestInit, signal?: AbortSignal): Promise<{ status: number; text: string }> {
  const timeout = AbortSignal.timeout(TIMEOUT_MS);
  const origin = new URL(url).origin;
  try {
    const response = await fetch(url, {
      ...init,
      redirect: 'manual',
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    if (response.status >= 300 && response.status < 400) {
      const location = response.headers.get('location') ?? 'elsewhere';
      throw new CliError(EXIT.server, `${origin} redirected to ${location}: log in with the server's own URL`);
    }
    const retryAfter = response.headers.get('retry-after');
    const text = await response.text();
    return { status: response.status, text: retryAfter && response.status >= 500 ? withRetry(text, retryAfter) : text };
  } catch (error) {
    if (error instanceof CliError || signal?.aborted) throw error;
    if (timeout.aborted) throw new CliError(EXIT.server, `no answer from ${origin} within ${TIMEOUT_MS / 1000} s`);
    throw new CliError(EXIT.server, `cannot reach ${origin}: ${networkFailure(error)}`);
  }
}

/** Adds "retry after N s" to a 5xx error description (503 with `Retry-After`). */
function withRetry(text: string, retryAfter: string): string {
  try {
    const body = JSON.parse(text) as Json;
    if (typeof body.error_description === 'string') {
      body.error_description = `${body.error_description} (retry after ${retryAfter} s)`;
      return JSON.stringify(body);
    }
  } catch {
    // not JSON: left as it is
  }
  return text;
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Judges an answer: 2xx is its JSON body (undefined when empty); an error is a CliError carrying the API's `error`
 * and `error_description`, with exit code `auth` for 401/403, `api` for other 4xx and `server` for the rest.
 */
function judge(status: number, text: string, what: string | null, clientError: ExitCode = EXIT.api): unknown {
  const body = parse(text);
  if (status >= 200 && status < 300) {
    if (text === '') return undefined;
    if (body === undefined) throw new CliError(EXIT.server, `the server's answer is not JSON (HTTP ${status})`);
    return body;
  }
  const rfc = body as Json | undefined;
  const error = typeof rfc?.error === 'string' ? rfc.error : undefined;
  const description = typeof rfc?.error_description === 'string' ? rfc.error_description : undefined;
  const reason = error ? `${error}${description ? `: ${description}` : ''}` : `HTTP ${status}, not an API answer`;
  const code = status >= 500 || status < 400 ? EXIT.server : status === 401 || status === 403 ? EXIT.auth : clientError;
  throw new CliError(code, what ? `${what}: ${reason}` : reason, error, status);
}

/** How {@link postForm} reports a refusal: a prefix for the message, and the exit code of a 4xx (default `api`). */
export interface FormOptions {
  readonly what: string;
  readonly clientError?: ExitCode;
  readonly signal?: AbortSignal;
}

/** POSTs a form to an OAuth endpoint (`/token`, `/introspect`) as `client`; its JSON answer. */
export async function postForm(
  url: string,
  path: string,
  client: ClientCredentials,
  fields: Record<string, string>,
  { what, clientError = EXIT.api, signal }: FormOptions,
): Promise<Json> {
  const headers = { Authorization: basic(client), 'Content-Type': 'application/x-www-form-urlencoded' };
  const body = new URLSearchParams(fields).toString();
  const { status, text } = await send(`${url}${path}`, { method: 'POST', headers, body }, signal);
  return judge(status, text, what, clientError) as Json;
}

/** An admin access token (client credentials, scope `admin`); any refusal is an authentication failure. */
export async function adminToken(url: string, client: ClientCredentials, signal?: AbortSignal): Promise<string> {
  const grant = { grant_type: 'client_credentials', scope: 'admin' };
  const what = 'cannot obtain an admin token';
  const answer = await postForm(url, '/token', client, grant, { what, clientError: EXIT.auth, signal });
  if (typeof answer.access_token !== 'string') throw new CliError(EXIT.server, '/token answered no access_token');
  return answer.access_token;
}

/** Query parameters; undefined ones are left out. */
export type Query = Readonly<Record<string, string | number | undefined>>;

/** The management API, called with admin access tokens obtained as needed. */
export interface ApiClient {
  readonly url: string;
  /** A JSON answer, or undefined for 204. */
  call<T>(method: string, path: string, options?: { query?: Query; body?: unknown }): Promise<T>;
}

/** A path segment, percent-encoded. */
export const segment = (value: string) => encodeURIComponent(value);

/** Creates the API client; it asks `/token` for an admin token on its first call, and again if one is refused. */
export function createApiClient(url: string, client: ClientCredentials, signal?: AbortSignal): ApiClient {
  let token: Promise<string> | undefined;

  async function attempt(method: string, path: string, query: Query, body: unknown, fresh: boolean) {
    const bearer = await (token ??= adminToken(url, client, signal));
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined) search.set(key, String(value));
    const headers: Record<string, string> = { Authorization: `Bearer ${bearer}`, Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const target = `${url}${path}${search.size > 0 ? `?${search.toString()}` : ''}`;
    const init = { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) };
    const answer = await send(target, init, signal);
    // An admin token can expire or be revoked while a long command (audit --follow) runs: get another, once.
    if (answer.status === 401 && !fresh) {
      token = undefined;
      return attempt(method, path, query, body, true);
    }
    return judge(answer.status, answer.text, null);
  }

  return {
    url,
    async call<T>(method: string, path: string, options: { query?: Query; body?: unknown } = {}) {
      return (await attempt(method, path, options.query ?? {}, options.body, token === undefined)) as T;
    },
  };
}

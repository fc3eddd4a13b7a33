/**
 * Tokenwarden as an OAuth 2.0 authorization server, seen from the resource server: its RFC 8414 metadata, RFC 7662
 * introspection with client authentication, and `client_credentials` access tokens (RFC 6749 §4.4) for the SSF
 * management API. All of it through oauth4webapi, which implements these RFCs exactly (issuer check on discovery,
 * `client_secret_basic` with RFC 6749 §2.3.1's form-encoding, `private_key_jwt` assertions, response validation)
 * and has no dependencies.
 *
 * Every failure to get a usable answer becomes an {@link UnavailableError}: the caller answers 503 and never
 * admits a request on it.
 */
import { importJWK, type JWK } from 'jose';
import * as oauth from 'oauth4webapi';

import { OptionsError, ProtocolError, UnavailableError } from './errors.ts';

/** How this resource server authenticates to Tokenwarden (it is a registered client: `POST /api/clients`). */
export interface ClientAuthOptions {
  readonly clientId: string;
  /** The client secret, for `client_secret_basic` (the default) or `client_secret_post`. */
  readonly clientSecret?: string;
  /** With `clientSecret`: `client_secret_basic` (default) or `client_secret_post`. */
  readonly clientAuthMethod?: 'client_secret_basic' | 'client_secret_post';
  /** For `private_key_jwt`: the private key whose public half the client registered (a CryptoKey or a JWK). */
  readonly privateKey?: CryptoKey | JWK;
  /** With `privateKey`: the `kid` of the registered public key (sent in the assertion's header). */
  readonly keyId?: string;
}

/** The authorization server's operations the resource server needs. */
export interface AuthorizationServerClient {
  readonly issuer: string;
  /** Whether plain `http:` is allowed (only for a loopback issuer). */
  readonly insecure: boolean;
  /** RFC 8414 metadata, fetched once (again after a failure). */
  metadata(): Promise<oauth.AuthorizationServer>;
  /** The RFC 7662 answer for a token. */
  introspect(token: string): Promise<Readonly<Record<string, unknown>>>;
  /** A `client_credentials` access token for this client, reused until shortly before it expires. */
  accessToken(): Promise<string>;
  /** Forgets the access token (after a 401 from a protected endpoint). */
  forgetAccessToken(): void;
  /** `fetch` with the request timeout. */
  fetch(url: string, init?: RequestInit): Promise<Response>;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Whether a URL may be used: https, or http to a loopback host (traffic that never leaves the machine). */
export function usableUrl(url: string, option: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new OptionsError(option, `${JSON.stringify(url)} is not a URL`);
  }
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && LOOPBACK.has(parsed.hostname)))
    throw new OptionsError(option, 'must be an https URL (http only for localhost, 127.0.0.1 or [::1])');
  return parsed;
}

/** The oauth4webapi client authentication for the options (checked: exactly one secret or key). */
async function clientAuth(options: ClientAuthOptions): Promise<oauth.ClientAuth> {
  if (options.privateKey !== undefined) {
    const key =
      options.privateKey instanceof CryptoKey
        ? options.privateKey
        : await importJWK(options.privateKey, options.privateKey.alg);
    if (!(key instanceof CryptoKey) || key.type !== 'private')
      throw new OptionsError('privateKey', 'must be a private asymmetric key');
    return oauth.PrivateKeyJwt(options.keyId === undefined ? key : { key, kid: options.keyId });
  }
  const secret = options.clientSecret!;
  return options.clientAuthMethod === 'client_secret_post'
    ? oauth.ClientSecretPost(secret)
    : oauth.ClientSecretBasic(secret);
}

/** Checks the client-authentication options at construction. */
export function checkClientAuth(options: ClientAuthOptions): void {
  if (typeof options.clientId !== 'string' || options.clientId === '')
    throw new OptionsError('clientId', 'is required');
  const hasSecret = options.clientSecret !== undefined;
  const hasKey = options.privateKey !== undefined;
  if (hasSecret === hasKey) throw new OptionsError('clientSecret', 'give exactly one of clientSecret and privateKey');
  if (hasSecret && (typeof options.clientSecret !== 'string' || options.clientSecret === ''))
    throw new OptionsError('clientSecret', 'must be a non-empty string');
  if (hasKey && options.clientAuthMethod !== undefined)
    throw new OptionsError('clientAuthMethod', 'applies to clientSecret only (privateKey is private_key_jwt)');
  if (hasKey && !(options.privateKey instanceof CryptoKey) && typeof options.privateKey?.alg !== 'string')
    throw new OptionsError('privateKey', 'a JWK needs its alg (e.g. "ES256")');
}

/** Seconds from a `Retry-After` header given in seconds, bounded to an hour. */
function retryAfterOf(response: Response): number | undefined {
  const value = Number(response.headers.get('retry-after'));
  return Number.isInteger(value) && value >= 0 ? Math.min(value, 3600) : undefined;
}

/** Turns a non-usable HTTP answer into an {@link UnavailableError} naming what happened (never the token). */
export async function unusable(response: Response, what: string): Promise<UnavailableError> {
  await response.body?.cancel();
  const reason =
    response.status === 401 || response.status === 400
      ? `Tokenwarden refused this resource server's client credentials at ${what} (${response.status})`
      : `Tokenwarden answered ${what} with ${response.status}`;
  return new UnavailableError(reason, retryAfterOf(response));
}

/** Creates the client. `timeout` bounds every request (ms). */
export function createAuthorizationServerClient(
  issuer: string,
  options: ClientAuthOptions,
  timeout: number,
  clock: () => number,
): AuthorizationServerClient {
  const issuerUrl = usableUrl(issuer, 'issuer');
  const insecure = issuerUrl.protocol === 'http:';
  const client: oauth.Client = { client_id: options.clientId };
  const http = () => ({ signal: AbortSignal.timeout(timeout), [oauth.allowInsecureRequests]: insecure });
  let authentication: Promise<oauth.ClientAuth> | undefined;
  let discovered: Promise<oauth.AuthorizationServer> | undefined;
  let token: { value: string; until: number } | undefined;
  let tokenRequest: Promise<string> | undefined;

  const unavailable = (what: string, cause: unknown) =>
    cause instanceof UnavailableError || cause instanceof OptionsError
      ? cause
      : new UnavailableError(`${what} failed: ${(cause as Error)?.message ?? String(cause)}`, undefined, { cause });

  const metadata = () => {
    discovered ??= (async () => {
      const response = await oauth.discoveryRequest(issuerUrl, { algorithm: 'oauth2', ...http() });
      if (response.status !== 200) throw await unusable(response, 'discovery');
      return oauth.processDiscoveryResponse(issuerUrl, response);
    })().catch((cause: unknown) => {
      // Forget a failed discovery after a second, so a burst of requests does not each retry it.
      setTimeout(() => (discovered = undefined), 1000).unref();
      throw unavailable('discovery', cause);
    });
    return discovered;
  };
  const auth = () => (authentication ??= clientAuth(options));

  return {
    issuer,
    insecure,
    metadata,
    async introspect(value) {
      try {
        const as = await metadata();
        const response = await oauth.introspectionRequest(as, client, await auth(), value, http());
        if (response.status !== 200) throw await unusable(response, 'introspection');
        return await oauth.processIntrospectionResponse(as, client, response);
      } catch (cause) {
        throw unavailable('introspection', cause);
      }
    },
    async accessToken() {
      if (token && clock() < token.until) return token.value;
      tokenRequest ??= (async () => {
        try {
          const as = await metadata();
          const started = clock();
          const response = await oauth.clientCredentialsGrantRequest(as, client, await auth(), {}, http());
          if (response.status !== 200) throw await unusable(response, 'the token endpoint');
          const answer = await oauth.processClientCredentialsResponse(as, client, response);
          const lifetime = (answer.expires_in ?? 300) * 1000;
          token = { value: answer.access_token, until: started + Math.max(lifetime - 30_000, lifetime / 2) };
          return answer.access_token;
        } catch (cause) {
          throw unavailable('client_credentials', cause);
        } finally {
          tokenRequest = undefined;
        }
      })();
      return tokenRequest;
    },
    forgetAccessToken() {
      token = undefined;
    },
    async fetch(url, init = {}) {
      try {
        return await fetch(url, { ...init, signal: AbortSignal.timeout(timeout), redirect: 'error' });
      } catch (cause) {
        throw new UnavailableError(`request to ${new URL(url).pathname} failed`, undefined, { cause });
      }
    },
  };
}

/** Reads a JSON object from a response, or fails with a {@link ProtocolError}. */
export async function jsonObject(response: Response, what: string): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = await response.json();
  } catch (cause) {
    throw new ProtocolError(`${what}: the answer is not JSON`, { cause });
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new ProtocolError(`${what}: the answer is not a JSON object`);
  return body as Record<string, unknown>;
}

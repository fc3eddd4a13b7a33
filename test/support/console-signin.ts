/**
 * Signs a person in to the embedded console's provider over plain HTTP, as a browser would (authorization code +
 * PKCE + state, following redirects with a cookie jar), with oauth4webapi as the independent OAuth client. Returns
 * the token response. For the tests of the sign-in itself; the browser suite drives the real pages.
 */
import * as oauth from 'oauth4webapi';

/** A browser's cookie jar, just enough for one origin. */
export class CookieJar {
  private readonly cookies = new Map<string, string>();
  take(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const at = pair.indexOf('=');
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1).trim();
      if (/expires=Thu, 01 Jan 1970/i.test(line) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header(): string {
    return [...this.cookies].map(([n, v]) => `${n}=${v}`).join('; ');
  }
}

export interface SignInResult {
  /** The final answer of the sign-in page when it refused (status and HTML), or null when it signed in. */
  readonly refused: { status: number; html: string } | null;
  readonly tokens: oauth.TokenEndpointResponse | null;
  readonly jar: CookieJar;
}

export interface SignInOptions {
  readonly issuer: string;
  readonly clientId?: string;
  readonly redirectUri?: string;
  readonly resource?: string;
  readonly account: string;
  readonly jar?: CookieJar;
  /** Extra authorization request parameters. */
  readonly params?: Record<string, string>;
}

/** Runs the whole code flow through the development sign-in page. */
export async function signInEmbedded(options: SignInOptions): Promise<SignInResult> {
  const issuer = new URL(options.issuer);
  const jar = options.jar ?? new CookieJar();
  const as = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { algorithm: 'oidc', [oauth.allowInsecureRequests]: true }),
  );
  const client: oauth.Client = { client_id: options.clientId ?? 'tokenwarden-console' };
  const redirectUri = options.redirectUri ?? `${options.issuer}/console/`;
  const resource = options.resource ?? `${options.issuer}/api`;
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const auth = new URL(as.authorization_endpoint!);
  auth.search = new URLSearchParams({
    client_id: client.client_id,
    redirect_uri: redirectUri,
    response_type: 'code',
    scope: 'openid',
    resource,
    state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...options.params,
  }).toString();

  const go = async (url: string, init: RequestInit = {}) => {
    const response = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers as Record<string, string>), Cookie: jar.header() },
    });
    jar.take(response);
    return response;
  };

  let response = await go(auth.href);
  let location: string | null = null;
  for (let hop = 0; hop < 10; hop += 1) {
    if (response.status >= 300 && response.status < 400) {
      location = new URL(response.headers.get('Location')!, options.issuer).href;
      if (location.startsWith(redirectUri)) break;
      response = await go(location);
      continue;
    }
    const html = await response.text();
    if (response.status !== 200 || !html.includes('name="account"')) {
      return { refused: { status: response.status, html }, tokens: null, jar };
    }
    const action = /<form method="post" action="([^"]+\/login)"/.exec(html)?.[1];
    if (!action) throw new Error('no sign-in form on the page');
    response = await go(new URL(action, options.issuer).href, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ account: options.account }).toString(),
    });
    if (response.status === 400) return { refused: { status: 400, html: await response.text() }, tokens: null, jar };
  }
  if (!location) throw new Error('the sign-in did not come back to the console');
  const params = oauth.validateAuthResponse(as, client, new URL(location), state);
  const tokens = await oauth.processAuthorizationCodeResponse(
    as,
    client,
    await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, redirectUri, verifier, {
      additionalParameters: { resource },
      [oauth.allowInsecureRequests]: true,
      headers: { Origin: issuer.origin },
    }),
  );
  return { refused: null, tokens, jar };
}

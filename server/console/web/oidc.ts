/**
 * Signing in: OpenID Connect authorization code flow with PKCE (S256) and state, as a public client, with
 * oauth4webapi (discovery, the authorization response's checks including RFC 9207 `iss`, the code exchange).
 *
 * What is kept where (OAuth 2.0 for Browser-Based Applications): the PKCE verifier and state live in
 * sessionStorage only between leaving for the provider and coming back; the access token lives in sessionStorage
 * for this tab (so a reload keeps the session), never in localStorage, never in a cookie. No PAT value is ever
 * stored anywhere.
 */
import * as oauth from 'oauth4webapi';

/** The console's public settings (`/console/config.json`). */
export interface Settings {
  readonly mode: 'off' | 'embedded' | 'external';
  readonly issuer: string;
  readonly client_id: string;
  readonly redirect_uri: string;
  readonly scope: string;
  readonly resource: string | null;
  readonly languages: { code: string; name: string }[];
  readonly default_language: string;
}

/** A signed-in session. */
export interface Session {
  readonly accessToken: string;
  /** Epoch ms, when the access token expires (if the provider said). */
  readonly expiresAt: number | null;
  /** Who signed in, from the ID token: a name to show. */
  readonly name: string | null;
  readonly subject: string | null;
}

const PENDING = 'tw.oidc.pending';
const SESSION = 'tw.oidc.session';
const SIGNED_OUT = 'tw.oidc.signed-out';

async function discover(settings: Settings): Promise<oauth.AuthorizationServer> {
  const issuer = new URL(settings.issuer);
  const response = await oauth.discoveryRequest(issuer, {
    algorithm: 'oidc',
    [oauth.allowInsecureRequests]: issuer.protocol === 'http:',
  });
  return oauth.processDiscoveryResponse(issuer, response);
}

/** Leaves for the provider's sign-in page; `returnTo` is the console route to come back to. */
export async function signIn(settings: Settings, returnTo: string, uiLocales: string): Promise<never> {
  const as = await discover(settings);
  if (!as.authorization_endpoint) throw new Error('the identity provider has no authorization endpoint');
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const url = new URL(as.authorization_endpoint);
  const params: Record<string, string> = {
    client_id: settings.client_id,
    redirect_uri: settings.redirect_uri,
    response_type: 'code',
    scope: settings.scope,
    state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ui_locales: uiLocales,
  };
  if (settings.resource) params.resource = settings.resource;
  // After signing out, ask the provider to sign in again rather than reuse its session silently.
  if (sessionStorage.getItem(SIGNED_OUT)) params.prompt = 'login';
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, returnTo }));
  location.assign(url.href);
  return new Promise<never>(() => {});
}

/** Whether this page load is the provider sending the browser back. */
export function isCallback(): boolean {
  const params = new URLSearchParams(location.search);
  return params.has('state') && (params.has('code') || params.has('error'));
}

/** The provider refused (`error=access_denied` …): its words. */
export class SignInRefused extends Error {
  constructor(
    readonly error: string,
    readonly description: string | null,
  ) {
    super(description ?? error);
    this.name = 'SignInRefused';
  }
}

/**
 * Completes the sign-in: checks state and issuer, exchanges the code with the PKCE verifier, keeps the session.
 * Resolves with the route to return to. The code and state are removed from the address bar in any case.
 */
export async function completeSignIn(settings: Settings): Promise<string> {
  const current = new URL(location.href);
  const pending = sessionStorage.getItem(PENDING);
  sessionStorage.removeItem(PENDING);
  history.replaceState(null, '', settings.redirect_uri);
  if (!pending) throw new SignInRefused('invalid_request', null);
  const { verifier, state, returnTo } = JSON.parse(pending) as { verifier: string; state: string; returnTo: string };
  const as = await discover(settings);
  const client: oauth.Client = { client_id: settings.client_id };
  let params: URLSearchParams;
  try {
    params = oauth.validateAuthResponse(as, client, current, state);
  } catch (error) {
    if (error instanceof oauth.AuthorizationResponseError) {
      throw new SignInRefused(error.error, error.error_description ?? null);
    }
    throw error;
  }
  const response = await oauth.authorizationCodeGrantRequest(
    as,
    client,
    oauth.None(),
    params,
    settings.redirect_uri,
    verifier,
    {
      ...(settings.resource ? { additionalParameters: { resource: settings.resource } } : {}),
      [oauth.allowInsecureRequests]: new URL(settings.issuer).protocol === 'http:',
    },
  );
  let result: oauth.TokenEndpointResponse;
  try {
    result = await oauth.processAuthorizationCodeResponse(as, client, response);
  } catch (error) {
    if (error instanceof oauth.ResponseBodyError) throw new SignInRefused(error.error, error.error_description ?? null);
    throw error;
  }
  const claims = result.id_token ? oauth.getValidatedIdTokenClaims(result) : undefined;
  const name = [claims?.name, claims?.preferred_username, claims?.email].find((v) => typeof v === 'string');
  const session: Session = {
    accessToken: result.access_token,
    expiresAt: typeof result.expires_in === 'number' ? Date.now() + result.expires_in * 1000 : null,
    name: name ?? null,
    subject: claims?.sub ?? null,
  };
  sessionStorage.setItem(SESSION, JSON.stringify(session));
  sessionStorage.removeItem(SIGNED_OUT);
  return returnTo;
}

/** The session of this tab, if any. */
export function currentSession(): Session | null {
  const raw = sessionStorage.getItem(SESSION);
  if (!raw) return null;
  try {
    return JSON.parse(raw) as Session;
  } catch {
    return null;
  }
}

/** Forgets the session; the next sign-in asks the provider to sign in again (`prompt=login`). */
export function signOut(): void {
  sessionStorage.removeItem(SESSION);
  sessionStorage.setItem(SIGNED_OUT, '1');
}

/** Forgets a session the API refused (expired, or the person was disabled). */
export function dropSession(): void {
  sessionStorage.removeItem(SESSION);
}

/**
 * Tokenwarden's steps inside oidc-provider's own endpoints. oidc-provider writes each endpoint as an exported array
 * of small named middleware (`lib/actions/introspection.js`: no-cache, parse body, params, client authentication,
 * reject duplicates, require `token`, reject JWTs, render), spread into its router when a Provider is built. We keep
 * its parsing, client authentication (every method) and JWT responses, and change these steps:
 *
 * - `requireClientAuthentication` (token, introspection, revocation): a request that authenticates no client at
 *   all is `401 invalid_client` (RFC 6749 §5.2), where oidc-provider says `400 invalid_request`.
 * - `rejectStructuredTokens` is removed (introspection, revocation): a JWT this server did not issue is just an
 *   unknown token, `{"active":false}` (RFC 7662 §2.2) or `200` (RFC 7009 §2.2), never `unsupported_token_type`.
 * - `allowedGrantTypeCheck` (token): a client whose `grant_types` lack the requested grant type gets
 *   `unauthorized_client` (RFC 6749 §5.2), where oidc-provider says `invalid_request`. That is how a client not
 *   allowed to exchange tokens is refused.
 * - `renderTokenResponse` (introspection) is replaced by Tokenwarden's introspection, which answers PATs, OAuth
 *   access tokens and exchanged access tokens with the one renderer the fast path also uses.
 * - `revokeToken` (revocation): a PAT is revoked by Tokenwarden, whatever the state of its user, grace values
 *   included; an access token from token exchange is refused with `unsupported_token_type` (RFC 7009 §2.2.1: it is
 *   not revocable on its own; revoking its PAT ends it at introspection); anything else is left to oidc-provider's
 *   own step, wrapped so that the revocation of an OAuth token is recorded as a lifecycle event.
 *
 * A store outage in any of Tokenwarden's steps (and in the token exchange grant) is answered as the adapter's are:
 * `503 temporarily_unavailable` with `Retry-After`, never oidc-provider's `500 server_error`.
 *
 * The arrays are module singletons shared by every Provider in the process, so the steps are installed once and
 * find the Tokenwarden instance they serve through the provider that runs them ({@link registerEndpointHooks}).
 * If an oidc-provider upgrade renames a step, installation throws at start-up rather than silently changing an
 * endpoint, so every test that starts Tokenwarden fails on such an upgrade.
 */
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import introspection from 'oidc-provider/lib/actions/introspection.js';
import revocation from 'oidc-provider/lib/actions/revocation.js';
import token from 'oidc-provider/lib/actions/token.js';

import { StoreUnavailableError } from '../../adapters/types.ts';
import { ServiceUnavailable, UnauthorizedClient, UnsupportedTokenType } from '../errors.ts';

type Step = (ctx: unknown, next: () => Promise<void>) => unknown;

/** The part of oidc-provider's request context these steps read. */
interface OidcContext {
  oidc: {
    provider: Provider;
    params?: Record<string, unknown>;
    client?: IntrospectingClient & { clientAuthMethod: string; grantTypeAllowed(type: unknown): boolean };
  };
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  status: number;
}

/**
 * The authenticated client as oidc-provider loaded it: its id, and the resources it serves (its `resources`
 * metadata, `RESOURCES_METADATA` in `server/services/clients.ts`; oidc-provider keeps extra metadata's names).
 */
export interface IntrospectingClient {
  readonly clientId: string;
  readonly resources?: unknown;
}

/** What the steps ask the Tokenwarden instance behind a provider. */
export interface EndpointHooks {
  /** The introspection answer for `token`, asked by `client` (already authenticated). */
  introspect(token: string, client: IntrospectingClient): Promise<Record<string, unknown>>;
  /** Whether a token value is Tokenwarden's to revoke (a PAT), rather than oidc-provider's. */
  ownsToken(token: string): boolean;
  /** Revokes the PAT behind `token`, presented by `clientId`. */
  revoke(token: string, clientId: string): Promise<void>;
  /**
   * Wraps oidc-provider's own revocation of an OAuth token (`revoke`), so that the revocation's event is recorded
   * around it (an intent before, confirmed after).
   */
  revokeOAuth(token: string, clientId: string, revoke: () => Promise<void>): Promise<void>;
  /** Whether `token` is an access token issued by token exchange (which `/revoke` does not revoke). */
  isExchangedToken(token: string): Promise<boolean>;
}

const hooksByProvider = new WeakMap<Provider, EndpointHooks>();

/**
 * Runs a step's work, turning an unreachable store into `503 temporarily_unavailable` (rendered by oidc-provider
 * like its own errors; the HTTP layer adds `Retry-After`).
 */
export async function storeOutageAs503<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof StoreUnavailableError) throw new ServiceUnavailable(undefined, undefined, error);
    throw error;
  }
}

/** Connects a provider to the Tokenwarden instance its endpoints serve. */
export function registerEndpointHooks(provider: Provider, hooks: EndpointHooks): void {
  hooksByProvider.set(provider, {
    introspect: (token, client) => storeOutageAs503(() => hooks.introspect(token, client)),
    ownsToken: (token) => hooks.ownsToken(token),
    revoke: (token, clientId) => storeOutageAs503(() => hooks.revoke(token, clientId)),
    isExchangedToken: (token) => storeOutageAs503(() => hooks.isExchangedToken(token)),
    revokeOAuth: (token, clientId, revoke) => storeOutageAs503(() => hooks.revokeOAuth(token, clientId, revoke)),
  });
}

function hooksOf(ctx: OidcContext): EndpointHooks {
  const hooks = hooksByProvider.get(ctx.oidc.provider);
  if (!hooks) throw new Error('no Tokenwarden hooks registered for this oidc-provider instance');
  return hooks;
}

async function requireClientAuthentication(ctx: OidcContext, next: () => Promise<void>): Promise<void> {
  const params = ctx.oidc.params ?? {};
  const presented =
    ctx.headers.authorization !== undefined ||
    ctx.headers['oauth-client-attestation'] !== undefined ||
    params.client_id !== undefined ||
    params.client_secret !== undefined ||
    params.client_assertion !== undefined;
  if (!presented) {
    const error = new errors.InvalidClientAuth('no client authentication mechanism provided');
    error.error_description =
      'client authentication is required (client_secret_basic, client_secret_post or private_key_jwt)';
    throw error;
  }
  await next();
}

async function renderTokenResponse(ctx: OidcContext): Promise<void> {
  const { params, client } = ctx.oidc;
  // A public client (the embedded console) authenticated with nothing: it must not learn whether a token is live.
  if (client!.clientAuthMethod === 'none') {
    ctx.body = { active: false };
    return;
  }
  ctx.body = await hooksOf(ctx).introspect(String(params?.token), client!);
}

async function allowedGrantTypeCheck(ctx: OidcContext, next: () => Promise<void>): Promise<void> {
  if (!ctx.oidc.client!.grantTypeAllowed(ctx.oidc.params?.grant_type)) {
    throw new UnauthorizedClient('requested grant type is not allowed for this client');
  }
  await next();
}

function stepNamed(steps: Step[], name: string): number {
  const at = steps.findIndex((step) => step.name === name);
  if (at === -1) {
    throw new Error(`oidc-provider's endpoint has no step named ${name}: Tokenwarden's endpoint steps need updating`);
  }
  return at;
}

let installed = false;

/** Installs the steps into oidc-provider's endpoint arrays (once per process; before any Provider is built). */
export function installEndpointSteps(): void {
  if (installed) return;
  const steps = {
    introspection: introspection as Step[],
    revocation: revocation as Step[],
    token: token as Step[],
  };
  // Check every step first, so that a mismatch changes nothing.
  for (const list of Object.values(steps)) stepNamed(list, 'rejectClientAuthDupes');
  for (const list of [steps.introspection, steps.revocation]) stepNamed(list, 'rejectStructuredTokens');
  stepNamed(steps.introspection, 'renderTokenResponse');
  stepNamed(steps.token, 'allowedGrantTypeCheck');
  const originalRevoke = steps.revocation[stepNamed(steps.revocation, 'revokeToken')]!;

  for (const list of Object.values(steps)) {
    list.splice(stepNamed(list, 'rejectClientAuthDupes'), 0, requireClientAuthentication as Step);
  }
  for (const list of [steps.introspection, steps.revocation]) list.splice(stepNamed(list, 'rejectStructuredTokens'), 1);
  steps.introspection[stepNamed(steps.introspection, 'renderTokenResponse')] = renderTokenResponse as Step;
  steps.token[stepNamed(steps.token, 'allowedGrantTypeCheck')] = allowedGrantTypeCheck as Step;
  steps.revocation[stepNamed(steps.revocation, 'revokeToken')] = async function revokeToken(
    ctx: unknown,
    next: () => Promise<void>,
  ) {
    const c = ctx as OidcContext;
    const value = String(c.oidc.params?.token);
    const hooks = hooksOf(c);
    if (hooks.ownsToken(value)) await hooks.revoke(value, c.oidc.client!.clientId);
    else if (await hooks.isExchangedToken(value)) {
      throw new UnsupportedTokenType(
        'an access token from token exchange is not revoked on its own: revoke the personal access token it came from',
      );
    } else await hooks.revokeOAuth(value, c.oidc.client!.clientId, async () => void (await originalRevoke(ctx, next)));
  };
  installed = true;
}

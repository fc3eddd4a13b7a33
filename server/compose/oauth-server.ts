/**
 * Composition, part 3: the OAuth 2.0 authorization server (oidc-provider) with Tokenwarden's steps in its
 * endpoints and the token exchange grant, the introspection both transports share, the client registry, and the
 * one-time migration of client secrets stored in plaintext by earlier versions.
 */
import type Provider from 'oidc-provider';

import { storedOidcId } from '../../adapters/hashed-oidc-store.ts';
import { StoreUnavailableError } from '../../adapters/types.ts';
import type { Config } from '../../config/index.ts';
import { ServiceUnavailable } from '../errors.ts';
import { events } from '../events/catalogue.ts';
import { describeError } from '../http/errors.ts';
import {
  createIntrospector,
  introspectionClientOf,
  type IntrospectionClient,
  type Introspector,
} from '../introspection/introspect.ts';
import { INACTIVE, oauthTokenId, renderActive } from '../introspection/render.ts';
import type { Logger, ThrottledWarn } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { publicKeysOf, withEmbeddedConsole } from '../oidc/embedded-console.ts';
import type { EndpointHooks, IntrospectingClient } from '../oidc/endpoint-steps.ts';
import { findOAuthToken } from '../oidc/oauth-tokens.ts';
import { createProvider, signingAlgOf } from '../oidc/provider.ts';
import { createOAuthLookup, type OAuthLookup } from '../pats/oauth-lookup.ts';
import { createClientService, type ClientService } from '../services/clients.ts';
import type { Clock } from '../services/clock.ts';
import { createTokenExchange, type TokenExchange } from '../services/token-exchange.ts';
import type { Services } from './services.ts';
import type { Stores } from './stores.ts';

export interface OAuthServer {
  readonly provider: Provider;
  readonly introspector: Introspector;
  readonly clients: ClientService;
}

/** The OAuth token (of the kinds `/revoke` destroys) with this value, or null. */
async function findRevocable(
  provider: Provider,
  value: string,
): Promise<{ kind: 'AccessToken' | 'ClientCredentials'; clientId: string; accountId: string | null } | null> {
  type Found = { clientId?: string; accountId?: string } | undefined;
  const [access, credentials] = (await Promise.all([
    provider.AccessToken.find(value),
    provider.ClientCredentials.find(value),
  ])) as unknown as [Found, Found];
  if (access?.clientId !== undefined) {
    return { kind: 'AccessToken', clientId: access.clientId, accountId: access.accountId ?? null };
  }
  if (credentials?.clientId !== undefined) {
    return { kind: 'ClientCredentials', clientId: credentials.clientId, accountId: null };
  }
  return null;
}

/** What Tokenwarden's steps inside oidc-provider's endpoints do, over the shared introspector. */
function endpointHooks(
  config: Config,
  services: Services,
  introspector: Introspector,
  exchange: TokenExchange,
  provider: Provider,
  clock: Clock,
): EndpointHooks {
  const { pats, format } = services;
  /** Per client instance oidc-provider loaded (it builds a new one when the stored metadata changes). */
  const clients = new WeakMap<IntrospectingClient, IntrospectionClient>();
  const clientOf = (client: IntrospectingClient) => {
    let found = clients.get(client);
    if (!found) {
      found = introspectionClientOf(client.clientId, client.resources);
      clients.set(client, found);
    }
    return found;
  };
  return {
    async introspect(token, client) {
      const subject = await introspector.introspect(token, clientOf(client));
      return subject ? renderActive(subject, config.issuer, config.pat.clientId) : { ...INACTIVE };
    },
    ownsToken: (token) => format.hasPrefix(token),
    async revoke(token, clientId) {
      await pats.revokeByValue(token, { actor: { id: `client:${clientId}`, via: 'revocation_endpoint' } });
    },
    async revokeOAuth(token, clientId, revoke) {
      const found = await findRevocable(provider, token);
      // Only the client a token was issued to may revoke it (the revocation endpoint's policy): nothing else changes.
      if (!found || found.clientId !== clientId) return revoke();
      const event = events.oauthTokenRevoked(
        { tokenId: oauthTokenId(token), clientId: found.clientId, userId: found.accountId },
        'revocation_endpoint',
        { id: `client:${clientId}`, via: 'revocation_endpoint' },
        clock.now(),
      );
      const intent = await services.outbox.intend(event, {
        model: found.kind,
        storedId: storedOidcId(found.kind, token),
      });
      try {
        await revoke();
      } catch (error) {
        // Storage unreachable: the token may be gone or not; the outbox's sweeper settles the intent against it.
        if (!(error instanceof ServiceUnavailable || error instanceof StoreUnavailableError)) await intent.abandoned();
        throw error;
      }
      await intent.confirmed();
    },
    isExchangedToken: async (token) => (await exchange.verify(token)) !== null,
  };
}

/** Creates the authorization server and migrates stored client secrets. */
export async function createOAuthServer(
  config: Config,
  stores: Stores,
  services: Services,
  deps: { clock: Clock; metrics: Metrics; logger: Logger; warn: ThrottledWarn },
): Promise<OAuthServer> {
  const { metrics, logger, warn } = deps;
  const exchange = createTokenExchange({
    pats: services.pats,
    format: services.format,
    audit: services.audit,
    clock: deps.clock,
    issuer: config.issuer,
    ttlSeconds: config.tokenExchangeTtlSeconds,
    verification: {
      keys: publicKeysOf(stores.jwks.keys),
      algorithms: [...new Set(stores.jwks.keys.map((k) => signingAlgOf(k)))],
    },
  });
  let introspector: Introspector | undefined;
  let oauthLookup: OAuthLookup | undefined;
  const provider = createProvider({
    config,
    store: stores.oidcStore,
    format: services.format,
    jwks: stores.jwks,
    cookieKeys: config.cookieKeys ?? stores.keyring.cookieKeys(),
    hooks: (p) => {
      oauthLookup = createOAuthLookup({
        cache: services.tokenCache,
        find: (value, clientId) => findOAuthToken(p, value, clientId),
        clock: deps.clock,
        onLayer: (layer) => metrics.lookup(layer),
      });
      introspector = createIntrospector({
        pats: services.pats,
        format: services.format,
        oauth: oauthLookup,
        exchange,
        audit: services.audit,
        clock: deps.clock,
      });
      return endpointHooks(config, services, introspector, exchange, p, deps.clock);
    },
    tokenDestroyed: {
      before: async (value) => oauthLookup?.beforeDestroy(value),
      after: async (value) => oauthLookup?.afterDestroy(value),
    },
    exchange,
    ...(config.console.mode === 'embedded'
      ? { configure: withEmbeddedConsole({ config, users: stores.storage.users, jwks: stores.jwks }) }
      : {}),
    onUnavailable: (error) => {
      metrics.storeError('mongodb');
      warn('storage', { err: describeError(error) }, 'token store unreachable; answering 503 where the cache cannot');
    },
  });
  provider.on('server_error', (ctx: { path: string }, error: unknown) => {
    logger.error({ err: describeError(error), path: ctx.path }, 'oidc-provider server error');
  });

  const clients = createClientService({
    store: stores.oidcStore,
    clock: deps.clock,
    events: services.outbox,
    validate: async (metadata) => {
      await provider.Client.validate(metadata as unknown as Parameters<typeof provider.Client.validate>[0]);
    },
    aroundRemove: async (clientId) => {
      const tokens = await stores.oidcStore.tokenIdsOfClient(clientId);
      await oauthLookup?.clientRemoved(tokens, 'before');
      return async () => oauthLookup?.clientRemoved(tokens, 'after');
    },
  });
  const migrated = await clients.hashStoredSecrets();
  if (migrated.hashed.length > 0) {
    logger.warn(
      { clients: migrated.hashed },
      'client secrets stored in plaintext by an earlier version are now hashed',
    );
  }
  if (migrated.switchedFromJwt.length > 0) {
    logger.warn(
      { clients: migrated.switchedFromJwt },
      'clients registered with client_secret_jwt (no longer offered: it needs the secret kept recoverable) now authenticate with client_secret_basic, same secret',
    );
  }
  if (!introspector) throw new Error('oidc-provider was built without Tokenwarden’s endpoint hooks');
  return { provider, introspector, clients };
}

/**
 * oidc-provider 9, configured as Tokenwarden's OAuth 2.0 authorization server: client_credentials and RFC 8693 token
 * exchange (`token-exchange.ts`) at `/token`, RFC 7662 introspection at `/introspect`, RFC 7009 revocation at
 * `/revoke`, JWKS at `/jwks`, RFC 8414 discovery.
 *
 * oidc-provider parses requests and authenticates clients (every method) at those endpoints; Tokenwarden's steps
 * inside them (`endpoint-steps.ts`) answer introspection for PATs and OAuth tokens alike and revoke PATs. Its own
 * models are stored through the {@link OidcStore}, which keeps every token only as a hash of its value; client
 * secrets are stored hashed too, and compared hashed here.
 */
import { randomBytes } from 'node:crypto';

import Provider, {
  errors,
  type Adapter,
  type AdapterPayload,
  type ClientMetadata,
  type Configuration,
} from 'oidc-provider';

import { StoreUnavailableError, type OidcStore } from '../../adapters/types.ts';
import type { Config, SigningJwk } from '../../config/index.ts';
import { ServiceUnavailable } from '../errors.ts';
import { clientSecretMatches, hashClientSecret, storedSecretDigest } from '../services/client-secret-hash.ts';
import { CLIENT_AUTH_METHODS, CLIENT_SCOPE, MAX_RESOURCES, RESOURCES_METADATA } from '../services/clients.ts';
import type { PatFormat } from '../services/pat-format.ts';
import { isResourceIndicator } from '../services/resources.ts';
import type { TokenExchange } from '../services/token-exchange.ts';
import { installEndpointSteps, registerEndpointHooks, type EndpointHooks } from './endpoint-steps.ts';
import { registerTokenExchange, tokenExchangeClaims } from './token-exchange.ts';

/** The scope that grants access to the management API. */
export const ADMIN_SCOPE = 'admin';

/** Token models whose lookups may receive a PAT value. */
const TOKEN_MODELS = new Set(['AccessToken', 'ClientCredentials', 'RefreshToken']);

/** Access tokens whose introspection answers are cached (`pats/oauth-lookup.ts`). */
const CACHED_MODELS = new Set(['AccessToken', 'ClientCredentials']);

/** What ends an access token's cached answers when the token is destroyed (revoked). */
export interface TokenDestroyedHooks {
  before(value: string): Promise<void>;
  after(value: string): Promise<void>;
}

/** Builds the adapter class oidc-provider instantiates once per model name. */
export function createAdapterClass(deps: {
  store: OidcStore;
  format: PatFormat;
  /** Told when storage is unreachable (oidc-provider does not report an exposed 503 as a server error). */
  onUnavailable?: (error: StoreUnavailableError) => void;
  /** Around destroying an access token (revocation): its cached answers end with it. */
  tokenDestroyed?: TokenDestroyedHooks;
}): new (name: string) => Adapter {
  const { store, format, onUnavailable, tokenDestroyed } = deps;
  const guard = async <T>(operation: () => Promise<T>): Promise<T> => {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof StoreUnavailableError) {
        onUnavailable?.(error);
        // Rendered by oidc-provider as 503 temporarily_unavailable (our errors keep its shape).
        throw new ServiceUnavailable(undefined, undefined, error);
      }
      throw error;
    }
  };
  return class TokenwardenAdapter implements Adapter {
    private readonly tokenModel: boolean;
    constructor(readonly name: string) {
      this.tokenModel = TOKEN_MODELS.has(name);
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number) {
      await guard(() => store.upsert(this.name, id, payload as Record<string, unknown>, expiresIn));
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      // A PAT-shaped value is never one of oidc-provider's tokens (they are drawn apart): "not mine", without I/O.
      if (this.tokenModel && format.hasPrefix(id)) return undefined;
      return guard(() => store.find(this.name, id));
    }

    async findByUid(uid: string) {
      return guard(() => store.findByUid(this.name, uid)) as Promise<AdapterPayload | undefined>;
    }

    async findByUserCode(userCode: string) {
      return guard(() => store.findByUserCode(this.name, userCode)) as Promise<AdapterPayload | undefined>;
    }

    async consume(id: string) {
      await guard(() => store.consume(this.name, id));
    }

    async destroy(id: string) {
      const cached = tokenDestroyed && CACHED_MODELS.has(this.name);
      if (cached) await tokenDestroyed.before(id);
      await guard(() => store.destroy(this.name, id));
      if (cached) await tokenDestroyed.after(id);
    }

    async revokeByGrantId(grantId: string) {
      await guard(() => store.revokeByGrantId(this.name, grantId));
    }
  };
}

/** The JWS algorithm of a signing key: its `alg`, or the usual one for its key type. */
export function signingAlgOf(jwk: { kty: string; crv?: unknown; alg?: unknown }): string {
  if (typeof jwk.alg === 'string') return jwk.alg;
  if (jwk.kty === 'RSA') return 'RS256';
  if (jwk.kty === 'OKP') return 'EdDSA';
  return (
    ({ 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' } as Record<string, string>)[String(jwk.crv)] ?? 'ES256'
  );
}

/**
 * oidc-provider's opaque tokens are random base64url strings; one in 64^(prefix length + 1) would start with
 * `<prefix>_` and then be taken for a PAT (and never found). Draw again in that case, so that a value carrying the
 * PAT prefix is never an OAuth token and can be answered without I/O.
 */
function keepOpaqueTokensApartFromPats(provider: Provider, format: PatFormat): void {
  for (const model of [provider.AccessToken, provider.ClientCredentials, provider.RefreshToken]) {
    const proto = model.prototype as unknown as { generateTokenId: (this: unknown) => string };
    const draw = proto.generateTokenId;
    proto.generateTokenId = function generateTokenId(this: unknown) {
      let id: string;
      do id = draw.call(this);
      while (format.hasPrefix(id));
      return id;
    };
  }
}

/**
 * Client secrets are stored as hashes (`client-secret-hash.ts`): oidc-provider compares a presented secret with
 * the stored hash of the registered one, in constant time. Nothing else in oidc-provider reads a secret here:
 * `client_secret_jwt` (where the secret is an HMAC key) is not offered, and responses are signed with the server's
 * asymmetric keys.
 */
function compareHashedClientSecrets(provider: Provider): void {
  const proto = provider.Client.prototype as unknown as {
    clientSecret?: string;
    compareClientSecret(this: { clientSecret?: string }, actual: string): boolean;
  };
  proto.compareClientSecret = function compareClientSecret(actual: string) {
    const digest = storedSecretDigest(this.clientSecret ?? '');
    return digest !== null && typeof actual === 'string' && clientSecretMatches(digest, actual);
  };
}

export interface ProviderDeps {
  readonly config: Config;
  readonly store: OidcStore;
  readonly format: PatFormat;
  /** The signing keys (configured, or kept in the store). */
  readonly jwks: { readonly keys: readonly SigningJwk[] };
  /** Keys for oidc-provider's signed cookies. */
  readonly cookieKeys: readonly string[];
  /** What Tokenwarden's steps inside the endpoints ask of this instance, once the provider exists. */
  readonly hooks: (provider: Provider) => EndpointHooks;
  /** Around destroying an access token (revocation). */
  readonly tokenDestroyed?: TokenDestroyedHooks;
  /** The rules of RFC 8693 token exchange (the grant type is registered on the provider). */
  readonly exchange: TokenExchange;
  readonly onUnavailable?: (error: StoreUnavailableError) => void;
  /** Extends the configuration before the provider is built (the embedded console: `embedded-console.ts`). */
  readonly configure?: (configuration: Configuration) => Configuration;
}

/**
 * oidc-provider's `extraClientMetadata` validator for `resources` (the RFC 8707 resource indicators a resource-server
 * client serves): absent, or a list of distinct absolute URIs without a fragment. Runs whenever a client is loaded
 * or registered.
 */
function validateClientResources(_ctx: unknown, key: string, value: unknown): void {
  if (key !== RESOURCES_METADATA || value === undefined) return;
  if (!Array.isArray(value) || value.length > MAX_RESOURCES || new Set(value).size !== value.length) {
    throw new errors.InvalidClientMetadata(`${key} must be a list of at most ${MAX_RESOURCES} distinct resources`);
  }
  if (!value.every(isResourceIndicator)) {
    throw new errors.InvalidClientMetadata(`${key} must be absolute URIs without a fragment (RFC 8707)`);
  }
}

/** Creates the configured oidc-provider instance (a Koa application). */
export function createProvider(deps: ProviderDeps): Provider {
  const { config } = deps;
  const patClientId = config.pat.clientId;
  const signingAlg = signingAlgOf(deps.jwks.keys[0]!);

  const clients: ClientMetadata[] = [
    {
      client_id: config.adminClient.clientId,
      client_secret: hashClientSecret(config.adminClient.clientSecret),
      client_name: 'Tokenwarden administrator',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: ADMIN_SCOPE,
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      // The client_id PAT introspection reports. Nobody can authenticate as it: its secret is random and unknown.
      client_id: patClientId,
      client_secret: hashClientSecret(randomBytes(32).toString('base64url')),
      client_name: 'Personal access tokens',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
  ];

  const configuration: Configuration = {
    adapter: createAdapterClass({
      store: deps.store,
      format: deps.format,
      ...(deps.onUnavailable ? { onUnavailable: deps.onUnavailable } : {}),
      ...(deps.tokenDestroyed ? { tokenDestroyed: deps.tokenDestroyed } : {}),
    }),
    clients,
    jwks: { keys: deps.jwks.keys.map((k) => ({ ...k })) },
    cookies: { keys: [...deps.cookieKeys] },
    scopes: [ADMIN_SCOPE, CLIENT_SCOPE],
    claims: { openid: ['sub'] },
    clientAuthMethods: [...CLIENT_AUTH_METHODS],
    extraClientMetadata: { properties: [RESOURCES_METADATA], validator: validateClientResources },
    // The claims token exchange adds to the JWTs it issues (`pat_id`, `pat_vid`); nothing for other tokens.
    async extraTokenClaims(_ctx, token) {
      return tokenExchangeClaims(token);
    },
    clientDefaults: {
      grant_types: ['client_credentials'],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: signingAlg,
      introspection_signed_response_alg: signingAlg,
    } as Configuration['clientDefaults'],
    routes: {
      token: '/token',
      introspection: '/introspect',
      revocation: '/revoke',
      jwks: '/jwks',
    },
    ttl: {
      ClientCredentials: config.accessTokenTtlSeconds,
      AccessToken: config.accessTokenTtlSeconds,
    },
    // No end-user flows: PATs are minted through the management API, machines use client_credentials.
    responseTypes: [],
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: false },
      rpInitiatedLogout: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
      clientCredentials: { enabled: true },
      jwtIntrospection: { enabled: true },
      // Answered by Tokenwarden's step inside the endpoint (see endpoint-steps.ts and server/introspection/).
      introspection: { enabled: true },
      revocation: {
        enabled: true,
        // OAuth tokens: only the client they were issued to may revoke them (RFC 7009 §2.1). PATs never get here:
        // Tokenwarden's step revokes them for any authenticated client that presents one (leaked-token policy).
        async allowedPolicy(_ctx, client, token) {
          if (token.clientId === client.clientId) return true;
          throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
        },
      },
    },
    clientBasedCORS: () => false,
    async renderError(ctx, out) {
      ctx.type = 'application/json';
      ctx.body = out;
    },
    async findAccount(_ctx, sub) {
      return { accountId: sub, claims: () => ({ sub }) };
    },
  };

  installEndpointSteps();
  const provider = new Provider(config.issuer, deps.configure ? deps.configure(configuration) : configuration);
  // Koa reads the protocol and host from X-Forwarded-*; the HTTP layer sets both from ISSUER on every request
  // (`issuerOrigin`), so every URL oidc-provider builds is the issuer's, whatever Host the client sent.
  provider.proxy = true;
  keepOpaqueTokensApartFromPats(provider, deps.format);
  compareHashedClientSecrets(provider);
  registerEndpointHooks(provider, deps.hooks(provider));
  registerTokenExchange(provider, { exchange: deps.exchange, signingAlg });
  return provider;
}

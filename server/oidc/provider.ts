/**
 * oidc-provider 9, configured as Tokenwarden's OAuth 2.0 authorization server: client_credentials at `/token`,
 * RFC 7662 introspection at `/introspect`, RFC 7009 revocation at `/revoke`, JWKS at `/jwks`, RFC 8414 discovery.
 *
 * PATs reach oidc-provider through its storage adapter: for the token models, a value that carries the PAT prefix
 * is resolved by the PAT service (checksum first, then cache, then MongoDB) and handed back as an AccessToken
 * payload whose `jti` is the PAT's public id and whose `clientId` is the dedicated PAT client. Everything else is
 * oidc-provider's own business, stored through the {@link OidcStore}.
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
import type { Config } from '../../config/index.ts';
import { STORE_UNAVAILABLE } from '../errors.ts';
import { CLIENT_AUTH_METHODS, CLIENT_SCOPE } from '../services/clients.ts';
import { PAT_ID, type PatFormat } from '../services/pat-format.ts';
import type { LivePat, PatService } from '../services/pats.ts';

/** The scope that grants access to the management API. */
export const ADMIN_SCOPE = 'admin';

/** Token models whose lookups may receive a PAT value. */
const TOKEN_MODELS = new Set(['AccessToken', 'ClientCredentials', 'RefreshToken']);

/**
 * The error oidc-provider renders when storage is unreachable: 503 `temporarily_unavailable`, exposed to the client
 * (oidc-provider's own errors hide every 5xx behind `server_error`). `Retry-After` is added by the HTTP layer.
 */
export class ProviderStoreUnavailable extends Error {
  readonly expose = true;
  readonly status = 503;
  readonly statusCode = 503;
  readonly error = 'temporarily_unavailable';
  readonly error_description = STORE_UNAVAILABLE;
  constructor(cause: unknown) {
    super('temporarily_unavailable', { cause });
    this.name = 'ProviderStoreUnavailable';
  }
}

/** The AccessToken payload oidc-provider sees for a live PAT (its introspection then renders it). */
export function patPayload(live: LivePat, patClientId: string): AdapterPayload {
  return {
    jti: live.id,
    kind: 'AccessToken',
    accountId: live.userId,
    clientId: patClientId,
    iat: live.issuedAt,
    ...(live.expiresAt === null ? {} : { exp: live.expiresAt }),
    ...(live.scopes.length === 0 ? {} : { scope: live.scopes.join(' ') }),
    ...(live.resource === null ? {} : { aud: live.resource }),
    extra: { username: live.username, token_kind: 'personal_access_token', pat_name: live.name },
  };
}

interface OidcContext {
  oidc?: { route?: string; client?: { clientId: string } };
}

/** The request oidc-provider is serving (its AsyncLocalStorage), if any. */
function currentContext(): OidcContext | undefined {
  return Provider.ctx;
}

function clientActor(ctx: OidcContext | undefined): string {
  const clientId = ctx?.oidc?.client?.clientId;
  return clientId ? `client:${clientId}` : 'system';
}

/** Builds the adapter class oidc-provider instantiates once per model name. */
export function createAdapterClass(deps: {
  store: OidcStore;
  pats: PatService;
  format: PatFormat;
  patClientId: string;
  /** Told when storage is unreachable (oidc-provider does not report an exposed 503 as a server error). */
  onUnavailable?: (error: StoreUnavailableError) => void;
}): new (name: string) => Adapter {
  const { store, pats, format, patClientId, onUnavailable } = deps;
  const guard = async <T>(operation: () => Promise<T>): Promise<T> => {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof StoreUnavailableError) {
        onUnavailable?.(error);
        throw new ProviderStoreUnavailable(error);
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
      if (this.tokenModel && format.hasPrefix(id)) {
        // A PAT-shaped value is only ever an AccessToken; other models answer "not mine" without I/O.
        if (this.name !== 'AccessToken') return undefined;
        // Introspection is a use of the token (last_used_at, last_used_client); revocation is not.
        const ctx = currentContext();
        const live = await guard(() =>
          pats.lookup(
            id,
            ctx?.oidc?.route === 'introspection'
              ? { clientId: ctx.oidc.client?.clientId ?? null, actor: { id: clientActor(ctx), via: 'introspection' } }
              : undefined,
          ),
        );
        return live ? patPayload(live, patClientId) : undefined;
      }
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
      // oidc-provider destroys a token by its jti; a PAT's jti is its public id (never its value).
      if (this.name === 'AccessToken' && PAT_ID.test(id)) {
        const actor = { id: clientActor(currentContext()), via: 'revocation_endpoint' } as const;
        await guard(() => pats.revokeById(id, { actor }));
        return;
      }
      await guard(() => store.destroy(this.name, id));
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

export interface ProviderDeps {
  readonly config: Config;
  readonly store: OidcStore;
  readonly pats: PatService;
  readonly format: PatFormat;
  readonly onUnavailable?: (error: StoreUnavailableError) => void;
  /** Extends the configuration before the provider is built (the embedded console: `embedded-console.ts`). */
  readonly configure?: (configuration: Configuration) => Configuration;
}

/** Creates the configured oidc-provider instance (a Koa application). */
export function createProvider(deps: ProviderDeps): Provider {
  const { config } = deps;
  const patClientId = config.pat.clientId;
  const signingAlg = signingAlgOf(config.jwks.keys[0]!);

  const clients: ClientMetadata[] = [
    {
      client_id: config.adminClient.clientId,
      client_secret: config.adminClient.clientSecret,
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
      client_secret: randomBytes(32).toString('base64url'),
      client_name: 'Personal access tokens',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
  ];

  const configuration: Configuration = {
    adapter: createAdapterClass({
      store: deps.store,
      pats: deps.pats,
      format: deps.format,
      patClientId,
      ...(deps.onUnavailable ? { onUnavailable: deps.onUnavailable } : {}),
    }),
    clients,
    jwks: { keys: config.jwks.keys },
    cookies: { keys: [...config.cookieKeys] },
    scopes: [ADMIN_SCOPE, CLIENT_SCOPE],
    claims: { openid: ['sub'] },
    clientAuthMethods: [...CLIENT_AUTH_METHODS],
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
      introspection: {
        enabled: true,
        // Any authenticated client may introspect a PAT; an OAuth token only while the client it was issued to
        // still exists (deleting a client retires its tokens).
        async allowedPolicy(ctx, client, token) {
          if (token.clientId === patClientId || token.clientId === client.clientId) return true;
          return (await ctx.oidc.provider.Client.find(token.clientId!)) !== undefined;
        },
      },
      revocation: {
        enabled: true,
        // Leaked-token policy: any authenticated client may revoke a PAT it presents. OAuth tokens: only the
        // client they were issued to (RFC 7009 §2.1).
        async allowedPolicy(_ctx, client, token) {
          if (token.clientId === patClientId || token.clientId === client.clientId) return true;
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

  const provider = new Provider(config.issuer, deps.configure ? deps.configure(configuration) : configuration);
  provider.proxy = config.trustProxy;
  keepOpaqueTokensApartFromPats(provider, deps.format);
  return provider;
}

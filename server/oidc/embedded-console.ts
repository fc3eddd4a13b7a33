/**
 * The embedded identity provider for the web console (`npm start` with nothing configured): Tokenwarden's own
 * oidc-provider signs people in for the console with the authorization code grant + PKCE (S256) + state, as a static
 * public client, through the development sign-in page (`dev-signin.ts`). The console's access tokens are RFC 9068
 * JWTs (`typ: at+jwt`) for the resource `${ISSUER}/api`, and the built-in admin's carry the admin claim. Tokenwarden
 * trusts its own issuer for them, verified against its own public keys (no HTTP round trip).
 *
 * Nothing here applies to any other client: only the console client may use the authorization endpoint or be given
 * a token for the API resource (a client_credentials JWT could otherwise name a user in `sub`).
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';

import { errors, type ClientMetadata, type Configuration } from 'oidc-provider';

import type { UserStore } from '../../adapters/types.ts';
import type { Config, SigningJwk, TrustedIssuer } from '../../config/index.ts';
import { signingAlgOf } from './provider.ts';

/** The console's client id at the embedded provider. */
export const CONSOLE_CLIENT_ID = 'tokenwarden-console';
/** The account id of the development sign-in's built-in admin (audited as `user:dev-admin`). */
export const DEV_ADMIN_ID = 'dev-admin';
/** The claim that makes a person an admin: `roles` (RFC 9068 §2.2.3.1) containing `tokenwarden-admin`. */
const ADMIN_CLAIM = { name: 'roles', value: 'tokenwarden-admin' } as const;

/** Where the provider sends the browser back to: the console's own page. */
export const consoleRedirectUri = (issuer: string) => `${issuer}/console/`;
/** The RFC 8707 resource indicator of the management API, and the `aud` of the console's access tokens. */
export const apiResource = (issuer: string) => `${issuer}/api`;

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

/** The public halves of the signing keys (what `/jwks` publishes). */
export function publicKeysOf(keys: readonly SigningJwk[]): Record<string, unknown>[] {
  return keys.map((jwk) => {
    const pub = createPublicKey(createPrivateKey({ key: jwk, format: 'jwk' })).export({ format: 'jwk' });
    const kept = Object.fromEntries(Object.entries(jwk).filter(([name]) => !PRIVATE_MEMBERS.includes(name)));
    return { ...kept, ...pub, alg: signingAlgOf(jwk) };
  });
}

/** Tokenwarden's own issuer as a trusted issuer of the console's access tokens. */
export function embeddedTrustedIssuer(config: Config, jwks: { readonly keys: readonly SigningJwk[] }): TrustedIssuer {
  return {
    issuer: config.issuer,
    jwksUri: `${config.issuer}/jwks`,
    audience: apiResource(config.issuer),
    userClaim: 'sub',
    algorithms: [...new Set(jwks.keys.map((k) => signingAlgOf(k)))],
    tokenTypes: ['at+jwt'],
    requiredScope: null,
    adminClaim: { ...ADMIN_CLAIM },
    keys: publicKeysOf(jwks.keys),
  };
}

export interface EmbeddedConsoleDeps {
  readonly config: Config;
  readonly users: UserStore;
  /** The signing keys (configured, or kept in the store). */
  readonly jwks: { readonly keys: readonly SigningJwk[] };
}

type FindAccount = NonNullable<Configuration['findAccount']>;
type ClientCors = NonNullable<Configuration['clientBasedCORS']>;
type ExtraTokenClaims = NonNullable<Configuration['extraTokenClaims']>;

/**
 * Extends Tokenwarden's provider configuration with the console client, the authorization endpoint, the
 * interactions of the development sign-in, and JWT access tokens for the API resource.
 */
export function withEmbeddedConsole(deps: EmbeddedConsoleDeps): (base: Configuration) => Configuration {
  const { config, users, jwks: signingKeys } = deps;
  const resource = apiResource(config.issuer);
  const origin = new URL(config.issuer).origin;
  const client: ClientMetadata = {
    client_id: CONSOLE_CLIENT_ID,
    client_name: 'Tokenwarden console',
    application_type: 'web',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [consoleRedirectUri(config.issuer)],
    scope: 'openid',
  };
  const isConsole = (clientId: string | undefined) => clientId === CONSOLE_CLIENT_ID;

  return (base) => {
    const baseFindAccount = base.findAccount;
    const baseCors = base.clientBasedCORS;
    const baseExtraClaims = base.extraTokenClaims;

    /** The console's people: enabled Tokenwarden users and the built-in admin. Other clients: as before. */
    const findAccount: FindAccount = async (ctx, sub, token) => {
      if (!isConsole(ctx.oidc?.client?.clientId)) {
        return baseFindAccount ? baseFindAccount(ctx, sub, token) : undefined;
      }
      if (sub === DEV_ADMIN_ID) return { accountId: sub, claims: () => ({ sub, name: 'Built-in admin' }) };
      const user = await users.get(sub);
      // A user disabled since signing in gets no more tokens.
      if (!user || user.disabled) return undefined;
      return { accountId: sub, claims: () => ({ sub, preferred_username: user.username }) };
    };

    /** The console calls `/token` from the issuer's own origin (a same-origin fetch still sends Origin). */
    const clientBasedCORS: ClientCors = (ctx, requestOrigin, requester) =>
      (isConsole(requester.clientId) && requestOrigin === origin) ||
      (baseCors ? baseCors(ctx, requestOrigin, requester) : false);

    const extraTokenClaims: ExtraTokenClaims = async (ctx, token) => {
      const extra = baseExtraClaims ? await baseExtraClaims(ctx, token) : undefined;
      const { accountId, clientId } = token as { accountId?: string; clientId?: string };
      if (!isConsole(clientId) || accountId !== DEV_ADMIN_ID) return extra;
      return { ...extra, [ADMIN_CLAIM.name]: [ADMIN_CLAIM.value] };
    };

    const jwt = { sign: { alg: signingAlgOf(signingKeys.keys[0]!) } };
    return {
      ...base,
      clients: [...(base.clients ?? []), client],
      // `none` for the console alone: the admin API registers clients with the four secret or key methods only.
      clientAuthMethods: [...(base.clientAuthMethods ?? []), 'none'],
      responseTypes: ['code'],
      findAccount,
      clientBasedCORS,
      extraTokenClaims,
      interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
      // A sign-in page lives 10 minutes; a provider session and its grant a working day (then sign in again).
      ttl: { ...base.ttl, Interaction: 600, Session: 8 * 3600, Grant: 8 * 3600, IdToken: 3600, AuthorizationCode: 60 },
      features: {
        ...base.features,
        resourceIndicators: {
          enabled: true,
          defaultResource: (_ctx, requester, oneOf) => (isConsole(requester.clientId) ? resource : oneOf),
          useGrantedResource: () => true,
          getResourceServerInfo: (_ctx, indicator, requester) => {
            if (!isConsole(requester.clientId) || indicator !== resource) throw new errors.InvalidTarget();
            return {
              scope: 'openid',
              audience: resource,
              accessTokenFormat: 'jwt',
              accessTokenTTL: config.accessTokenTtlSeconds,
              jwt,
            };
          },
        },
      },
    } as Configuration;
  };
}

/**
 * OAuth access tokens issued by oidc-provider (`/token`), found for introspection with oidc-provider's own models
 * and rules: the token exists and has not expired, its grant (if any) is intact, and the client it was issued to
 * still exists (deleting a client retires its tokens). What oidc-provider's introspection checks, minus the
 * features Tokenwarden does not enable (refresh tokens, pairwise subjects, sender-constrained tokens).
 */
import type Provider from 'oidc-provider';

import { oauthTokenId } from '../introspection/render.ts';
import type { OAuthToken } from '../pats/types.ts';

interface TokenModel {
  isValid: boolean;
  clientId?: string;
  accountId?: string;
  grantId?: string;
  scope?: string;
  exp?: number;
  iat?: number;
  aud?: string | string[];
  extra?: Record<string, unknown>;
}

/** The active OAuth access token with this value, asked about by `clientId`; null when there is none. */
export async function findOAuthToken(provider: Provider, value: string, clientId: string): Promise<OAuthToken | null> {
  const [access, credentials] = (await Promise.all([
    provider.AccessToken.find(value),
    provider.ClientCredentials.find(value),
  ])) as unknown as [TokenModel | undefined, TokenModel | undefined];
  const token = access ?? credentials;
  if (!token?.isValid || token.clientId === undefined || token.exp === undefined || token.iat === undefined) {
    return null;
  }
  if (token.grantId) {
    const grant = (await provider.Grant.find(token.grantId, { ignoreExpiration: true })) as
      { isExpired: boolean; clientId?: string; accountId?: string } | undefined;
    if (!grant || grant.isExpired || grant.clientId !== token.clientId || grant.accountId !== token.accountId) {
      return null;
    }
  }
  if (token.clientId !== clientId && !(await provider.Client.find(token.clientId))) return null;
  return {
    kind: 'oauth',
    jti: oauthTokenId(value),
    clientId: token.clientId,
    accountId: token.accountId,
    scope: token.scope,
    expiresAt: token.exp,
    issuedAt: token.iat,
    aud: token.aud,
    extra: token.extra,
    grantBound: token.grantId !== undefined,
  };
}

/**
 * The client behind a `client_credentials` access token (the admin API's bearer), with the scopes it was issued;
 * null when the token is unknown or expired, or its client no longer exists.
 */
export async function findClientCredentials(
  provider: Provider,
  value: string,
): Promise<{ clientId: string; scopes: ReadonlySet<string> } | null> {
  const found = (await provider.ClientCredentials.find(value)) as
    { isExpired: boolean; clientId?: string; scope?: string } | undefined;
  if (!found || found.isExpired || found.clientId === undefined) return null;
  if (!(await provider.Client.find(found.clientId))) return null;
  return { clientId: found.clientId, scopes: new Set(found.scope?.split(' ').filter(Boolean) ?? []) };
}

/**
 * Verification of the bearer access tokens that call the management API: OAuth access tokens issued by `/token`
 * (client_credentials), looked up through oidc-provider's own model so expiry and revocation are its rules.
 */
import type Provider from 'oidc-provider';

/** Who is calling, as established by a valid bearer access token. */
export interface Caller {
  readonly clientId: string;
  readonly scopes: ReadonlySet<string>;
}

/** Resolves a bearer token to its caller, or null when it is unknown, expired, revoked or its client is gone. */
export type AccessTokenVerifier = (token: string) => Promise<Caller | null>;

/** Creates the verifier over oidc-provider's ClientCredentials model. */
export function createAccessTokenVerifier(provider: Provider): AccessTokenVerifier {
  return async (token) => {
    const found = await provider.ClientCredentials.find(token);
    if (!found || found.isExpired || found.clientId === undefined) return null;
    const client = await provider.Client.find(found.clientId);
    if (!client) return null;
    return { clientId: found.clientId, scopes: new Set(found.scope?.split(' ').filter(Boolean) ?? []) };
  };
}

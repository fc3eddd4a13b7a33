/**
 * The RFC 8693 token exchange grant type at `/token`, registered the way oidc-provider intends extension grants
 * (`provider.registerGrantType`): oidc-provider parses the request, authenticates the client, checks that its
 * `grant_types` allow this grant (else `unauthorized_client`, `endpoint-steps.ts`), rejects repeated parameters and
 * checks the scope's syntax; this handler asks the token exchange service (`server/services/token-exchange.ts`) what
 * to issue, and has oidc-provider's own `AccessToken` model build and sign it as an RFC 9068 JWT (`typ: at+jwt`) with
 * the server's signing keys, the way its own grants issue JWT access tokens for a resource server.
 *
 * JWT access tokens are not stored: nothing is written but the audit event.
 */
import type Provider from 'oidc-provider';

import {
  TOKEN_EXCHANGE_GRANT,
  TOKEN_EXCHANGE_PARAMETERS,
  TOKEN_EXCHANGE_REPEATABLE,
  type TokenExchange,
} from '../services/token-exchange.ts';
import { storeOutageAs503 } from './endpoint-steps.ts';

/** The part of oidc-provider's request context the handler reads and writes. */
interface TokenContext {
  oidc: {
    client?: { clientId: string };
    params?: Record<string, unknown>;
    entity(name: string, value: unknown): void;
  };
  body: unknown;
}

/** The part of oidc-provider's `AccessToken` model used here. */
interface AccessTokenModel {
  jti: string;
  tokenType: string;
  resourceServer: unknown;
  save(): Promise<string>;
}

/**
 * The extra claims of an access token issued by this grant (for oidc-provider's `extraTokenClaims`), or undefined
 * for any other token. The handler gives them to the token as its `extra`, which oidc-provider replaces with what
 * `extraTokenClaims` answers when it builds the JWT.
 */
export function tokenExchangeClaims(token: unknown): Record<string, unknown> | undefined {
  const { gty, extra } = token as { gty?: unknown; extra?: Record<string, unknown> };
  return gty === TOKEN_EXCHANGE_GRANT ? extra : undefined;
}

/** Registers the grant type on a provider (after it is built: discovery then lists it in `grant_types_supported`). */
export function registerTokenExchange(
  provider: Provider,
  deps: { readonly exchange: TokenExchange; readonly signingAlg: string },
): void {
  const { exchange, signingAlg } = deps;
  const AccessToken = provider.AccessToken as unknown as new (input: Record<string, unknown>) => AccessTokenModel;
  const ResourceServer = (provider as unknown as { ResourceServer: new (id: string, info: object) => unknown })
    .ResourceServer;

  async function tokenExchangeHandler(ctx: TokenContext): Promise<void> {
    const client = ctx.oidc.client!;
    const grant = await storeOutageAs503(() =>
      exchange.grant({ clientId: client.clientId, params: ctx.oidc.params ?? {} }),
    );
    const token = new AccessToken({
      accountId: grant.pat.userId,
      client,
      gty: TOKEN_EXCHANGE_GRANT,
      scope: grant.scope,
      iat: grant.iat,
      exp: grant.exp,
      expiresIn: grant.exp - grant.iat,
      extra: { ...grant.claims },
    });
    // A resource server whose tokens are JWTs signed with the server's key: what makes oidc-provider issue one.
    token.resourceServer = new ResourceServer(grant.audience, {
      audience: grant.audience,
      scope: grant.scope ?? '',
      accessTokenFormat: 'jwt',
      jwt: { sign: { alg: signingAlg } },
    });
    ctx.oidc.entity('AccessToken', token);
    const value = await token.save();
    await exchange.issued(grant, client.clientId, token.jti);
    // RFC 8693 §2.2.1; `scope` always, since it may differ from what was requested.
    ctx.body = {
      access_token: value,
      issued_token_type: grant.issuedTokenType,
      token_type: token.tokenType,
      expires_in: grant.exp - grant.iat,
      ...(grant.scope === undefined ? {} : { scope: grant.scope }),
    };
  }

  provider.registerGrantType(
    TOKEN_EXCHANGE_GRANT,
    tokenExchangeHandler,
    [...TOKEN_EXCHANGE_PARAMETERS],
    [...TOKEN_EXCHANGE_REPEATABLE],
  );
}

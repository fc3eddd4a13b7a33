/**
 * The one renderer of an active introspection answer (RFC 7662 §2.2), for PATs, OAuth access tokens and access
 * tokens from token exchange alike, used by both transports (the fast path and oidc-provider's endpoint). Members in
 * the order oidc-provider writes them, so the answer reads like any oidc-provider answer.
 */
import { hash } from 'node:crypto';

import type { LivePat, OAuthToken } from '../pats/types.ts';
import type { ExchangedToken } from '../services/token-exchange.ts';

/** What introspection found active. */
export type ActiveSubject =
  | { readonly kind: 'pat'; readonly live: LivePat }
  | { readonly kind: 'oauth'; readonly token: OAuthToken }
  | { readonly kind: 'exchanged'; readonly token: ExchangedToken; readonly live: LivePat };

/**
 * The public identifier (`jti`) of an OAuth access token: derived from its value, so it names the token without
 * being it (oidc-provider's own `jti` is the value itself, which it therefore leaves out).
 */
export function oauthTokenId(value: string): string {
  return `at_${hash('sha256', `tokenwarden token id\u0000${value}`, 'base64url').slice(0, 27)}`;
}

/** The answer for an active token. */
export function renderActive(subject: ActiveSubject, issuer: string, patClientId: string): Record<string, unknown> {
  if (subject.kind === 'pat') {
    const live = subject.live;
    return {
      active: true,
      sub: live.userId,
      username: live.username,
      token_kind: 'personal_access_token',
      pat_name: live.name,
      client_id: patClientId,
      ...(live.expiresAt === null ? {} : { exp: live.expiresAt }),
      iat: live.issuedAt,
      iss: issuer,
      jti: live.id,
      ...(live.resource === null ? {} : { aud: live.resource }),
      ...(live.scopes.length === 0 ? {} : { scope: live.scopes.join(' ') }),
      token_type: 'Bearer',
    };
  }
  if (subject.kind === 'exchanged') {
    // Like an OAuth access token, with the claims the JWT itself carries (what a resource server verifying it
    // locally reads), and the PAT it came from.
    const { token, live } = subject;
    return {
      active: true,
      sub: token.sub,
      username: live.username,
      pat_id: token.patId,
      client_id: token.clientId,
      exp: token.exp,
      iat: token.iat,
      iss: issuer,
      jti: token.jti,
      aud: token.aud,
      ...(token.scope ? { scope: token.scope } : {}),
      token_type: 'Bearer',
    };
  }
  const token = subject.token;
  return {
    active: true,
    // client_credentials tokens act for the client itself: it is their subject (resource servers such as
    // mod_auth_openidc need a `sub` to name the caller).
    sub: token.accountId ?? token.clientId,
    ...token.extra,
    client_id: token.clientId,
    exp: token.expiresAt,
    iat: token.issuedAt,
    iss: issuer,
    jti: token.jti,
    ...(token.aud === undefined ? {} : { aud: token.aud }),
    ...(token.scope ? { scope: token.scope } : {}),
    token_type: 'Bearer',
  };
}

/** The answer for anything not active: unknown, expired, revoked, malformed or not ours (RFC 7662 §2.2). */
export const INACTIVE = Object.freeze({ active: false });

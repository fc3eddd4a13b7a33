/**
 * A stand-in for the operator's identity provider, run as its own process by the browser tests: a plain
 * oidc-provider with its development login (any login name, any password), one public client for the console
 * (code + PKCE), and RFC 9068 JWT access tokens (`typ: at+jwt`) for Tokenwarden's API resource. The account
 * `idp-admin` carries `groups: ["token-admins"]`, the admin claim Tokenwarden is configured with.
 *
 * Usage: node --import tsx stand-in-idp.ts <port> <tokenwarden base URL> <client id>
 * Prints `ready <issuer>` once listening; exits on SIGTERM.
 */
import { generateKeyPairSync } from 'node:crypto';

import Provider, { type Configuration } from 'oidc-provider';

const [port = '0', tokenwarden = '', clientId = 'tokenwarden-console'] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const resource = `${tokenwarden}/api`;
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig', kid: 'stand-in' };

const configuration: Configuration = {
  clients: [
    {
      client_id: clientId,
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [`${tokenwarden}/console/`],
      id_token_signed_response_alg: 'ES256',
    },
  ],
  jwks: { keys: [jwk] },
  features: {
    devInteractions: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'openid',
        audience: resource,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
  // Consent is not what is being tested: the console is a trusted first-party client here too.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session!.grantIdFor(ctx.oidc.client!.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client!.clientId,
      accountId: ctx.oidc.session!.accountId!,
    });
    grant.addOIDCScope('openid');
    grant.addResourceScope(resource, 'openid');
    await grant.save();
    return grant;
  },
  async findAccount(_ctx, sub) {
    return { accountId: sub, claims: () => ({ sub, name: sub === 'idp-admin' ? 'IdP Admin' : sub }) };
  },
  async extraTokenClaims(_ctx, token) {
    return (token as { accountId?: string }).accountId === 'idp-admin' ? { groups: ['token-admins'] } : undefined;
  },
  ttl: { Session: 3600, Interaction: 600, Grant: 3600, IdToken: 3600, AccessToken: 3600, AuthorizationCode: 60 },
};

const provider = new Provider(issuer, configuration);
const server = provider.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
process.on('SIGTERM', () => {
  server.closeAllConnections?.();
  server.close(() => process.exit(0));
});

import assert from 'node:assert/strict';

import { exportJWK, generateKeyPair } from 'jose';
import * as oauth from 'oauth4webapi';

import { startApp, type TestApp } from './support/app.ts';

/**
 * A real OAuth client library (oauth4webapi) against the running server: discovery, client_credentials,
 * introspection and revocation, with every supported client authentication method.
 */
describe('a standard OAuth client (oauth4webapi)', () => {
  let app: TestApp;
  let as: oauth.AuthorizationServer;
  let pat: { id: string; token: string };
  const insecure = { [oauth.allowInsecureRequests]: true };

  before(async () => {
    app = await startApp();
    const issuer = new URL(app.config.issuer);
    as = await oauth.processDiscoveryResponse(
      issuer,
      await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }),
    );
    pat = await app.createPat(await app.createUser(), { scopes: ['repo:read'] });
  });
  after(() => app.close());

  it('discovers the introspection and revocation endpoints and the auth methods through RFC 8414', () => {
    assert.equal(as.issuer, app.config.issuer);
    assert.equal(as.token_endpoint, `${app.config.issuer}/token`);
    assert.equal(as.introspection_endpoint, `${app.config.issuer}/introspect`);
    assert.equal(as.revocation_endpoint, `${app.config.issuer}/revoke`);
    assert.equal(as.authorization_endpoint, undefined, 'no grant type here uses an authorization endpoint');
    for (const method of ['client_secret_basic', 'client_secret_post', 'private_key_jwt']) {
      assert.ok(as.introspection_endpoint_auth_methods_supported?.includes(method), method);
      assert.ok(as.revocation_endpoint_auth_methods_supported?.includes(method), method);
    }
    // Its secret would have to be stored recoverable (it is an HMAC key): Tokenwarden stores only hashes.
    assert.equal(as.token_endpoint_auth_methods_supported?.includes('client_secret_jwt'), false);
    assert.equal(as.introspection_endpoint_auth_methods_supported?.includes('client_secret_jwt'), false);
  });

  async function registered(body: Record<string, unknown>): Promise<{ client: oauth.Client; secret?: string }> {
    const res = await app.api('POST', '/api/clients', body);
    assert.equal(res.status, 201, res.text);
    return {
      client: { client_id: String(res.body.client_id) },
      ...(typeof res.body.client_secret === 'string' ? { secret: res.body.client_secret } : {}),
    };
  }

  async function exercise(client: oauth.Client, auth: () => oauth.ClientAuth) {
    const tokenResponse = await oauth.processClientCredentialsResponse(
      as,
      client,
      await oauth.clientCredentialsGrantRequest(as, client, auth(), new URLSearchParams({ scope: 'api' }), insecure),
    );
    const accessToken = tokenResponse.access_token;

    const oauthIntrospection = await oauth.processIntrospectionResponse(
      as,
      client,
      await oauth.introspectionRequest(as, client, auth(), accessToken, insecure),
    );
    assert.equal(oauthIntrospection.active, true);
    assert.equal(oauthIntrospection.client_id, client.client_id);

    const patIntrospection = await oauth.processIntrospectionResponse(
      as,
      client,
      await oauth.introspectionRequest(as, client, auth(), pat.token, insecure),
    );
    assert.equal(patIntrospection.active, true);
    assert.equal(patIntrospection.scope, 'repo:read');
    assert.equal(patIntrospection.jti, pat.id);

    await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, auth(), accessToken, insecure));
    const after = await oauth.processIntrospectionResponse(
      as,
      client,
      await oauth.introspectionRequest(as, client, auth(), accessToken, insecure),
    );
    assert.equal(after.active, false);
  }

  it('works with client_secret_basic', async () => {
    const { client, secret } = await registered({ token_endpoint_auth_method: 'client_secret_basic' });
    await exercise(client, () => oauth.ClientSecretBasic(secret!));
  });

  it('works with client_secret_post', async () => {
    const { client, secret } = await registered({ token_endpoint_auth_method: 'client_secret_post' });
    await exercise(client, () => oauth.ClientSecretPost(secret!));
  });

  it('introspects an OAuth access token with its client as sub, and a jti that is not the token', async () => {
    const { client, secret } = await registered({});
    const { access_token: accessToken } = await oauth.processClientCredentialsResponse(
      as,
      client,
      await oauth.clientCredentialsGrantRequest(
        as,
        client,
        oauth.ClientSecretBasic(secret!),
        new URLSearchParams({ scope: 'api' }),
        insecure,
      ),
    );
    const answer = await oauth.processIntrospectionResponse(
      as,
      client,
      await oauth.introspectionRequest(as, client, oauth.ClientSecretBasic(secret!), accessToken, insecure),
    );
    assert.equal(answer.active, true);
    assert.equal(answer.sub, client.client_id, 'client_credentials tokens act for their client');
    assert.equal(typeof answer.jti, 'string');
    assert.ok(!String(answer.jti).includes(accessToken) && answer.jti !== accessToken);
    assert.equal(answer.token_type, 'Bearer');
    assert.equal(answer.iss, app.config.issuer);
  });

  it('works with private_key_jwt', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'rs-key-1', alg: 'ES256', use: 'sig' };
    const { client, secret } = await registered({
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [jwk] },
    });
    assert.equal(secret, undefined);
    await exercise(client, () => oauth.PrivateKeyJwt({ key: privateKey, kid: 'rs-key-1' }));
  });

  it('refuses to register a client_secret_jwt client', async () => {
    const res = await app.api('POST', '/api/clients', { token_endpoint_auth_method: 'client_secret_jwt' });
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'invalid_request');
  });

  it('rejects a private_key_jwt assertion signed with a key the client did not register', async () => {
    const registeredKey = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(registeredKey.publicKey)), kid: 'rs-key-1', alg: 'ES256', use: 'sig' };
    const { client } = await registered({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } });
    const other = await generateKeyPair('ES256');
    const res = await oauth.introspectionRequest(
      as,
      client,
      oauth.PrivateKeyJwt({ key: other.privateKey, kid: 'rs-key-1' }),
      pat.token,
      insecure,
    );
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_client');
  });

  it('revokes a PAT through the library, after which it introspects inactive', async () => {
    const { client, secret } = await registered({});
    const own = await app.createPat(await app.createUser());
    await oauth.processRevocationResponse(
      await oauth.revocationRequest(as, client, oauth.ClientSecretBasic(secret!), own.token, insecure),
    );
    const res = await oauth.processIntrospectionResponse(
      as,
      client,
      await oauth.introspectionRequest(as, client, oauth.ClientSecretBasic(secret!), own.token, insecure),
    );
    assert.equal(res.active, false);
  });
});

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { SignJWT, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, type CryptoKey } from 'jose';

import { basic, startApp, type TestApp } from './support/app.ts';
import { signInEmbedded } from './support/console-signin.ts';

type Row = Record<string, unknown>;

describe('console sign-in: the embedded provider and the admin claim', () => {
  let app: TestApp;
  before(async () => {
    app = await startApp({ env: { CONSOLE_DEV_SIGNIN: 'true' } });
  });
  after(() => app.close());

  const signIn = (account: string) => signInEmbedded({ issuer: app.url, account });

  it('signs a user in with code + PKCE and gives an RFC 9068 access token the API accepts', async () => {
    const userId = await app.createUser();
    const { tokens, refused } = await signIn(userId);
    assert.equal(refused, null);
    const at = String(tokens?.access_token);
    assert.equal(decodeProtectedHeader(at).typ, 'at+jwt');
    const claims = decodeJwt(at);
    assert.equal(claims.sub, userId);
    assert.equal(claims.aud, `${app.url}/api`);
    assert.equal(claims.client_id, 'tokenwarden-console');
    assert.equal(claims.roles, undefined, 'a user carries no admin claim');
    const me = await app.api('GET', '/api/me', undefined, at);
    assert.equal(me.status, 200);
    assert.equal(me.body.id, userId);
    const created = await app.api('POST', '/api/me/tokens', { name: 'from the console', scopes: ['read'] }, at);
    assert.equal(created.status, 201, created.text);
    assert.equal((await app.introspect(String(created.body.token))).body.active, true);
  });

  it('refuses the admin routes to a user who is not an admin', async () => {
    const { tokens } = await signIn(await app.createUser());
    const res = await app.api('GET', '/api/users', undefined, String(tokens?.access_token));
    assert.equal(res.status, 403);
    assert.equal(res.body.error, 'insufficient_scope');
  });

  it('lets the built-in admin call the admin routes, and audits them under the person, via admin_api', async () => {
    const { tokens } = await signIn('dev-admin');
    const at = String(tokens?.access_token);
    assert.deepEqual(decodeJwt(at).roles, ['tokenwarden-admin']);
    const created = await app.api('POST', '/api/users', { username: 'made-by-a-person' }, at);
    assert.equal(created.status, 201, created.text);
    const disabled = await app.api('PATCH', `/api/users/${String(created.body.id)}`, { disabled: true }, at);
    assert.equal(disabled.status, 200);
    const client = await app.api('POST', '/api/clients', { client_name: 'orders API' }, at);
    assert.equal(client.status, 201);
    const audit = await app.api('GET', `/api/audit?user_id=${String(created.body.id)}`);
    const types = (audit.body.data as Row[]).map((e) => [e.type, e.actor, e.via]);
    assert.deepEqual(types, [
      ['user.disabled', 'user:dev-admin', 'admin_api'],
      ['user.created', 'user:dev-admin', 'admin_api'],
    ]);
    const registered = await app.api('GET', '/api/audit?type=client.registered');
    const event = (registered.body.data as Row[]).find((e) => (e.details as Row).client_id === client.body.client_id);
    assert.equal(event?.actor, 'user:dev-admin');
    // The built-in admin is no Tokenwarden user: it has no tokens of its own.
    assert.equal((await app.api('GET', '/api/me', undefined, at)).status, 404);
  });

  it('refuses to sign in a disabled user or an unknown id, saying why', async () => {
    const userId = await app.createUser('to-be-disabled');
    await app.api('PATCH', `/api/users/${userId}`, { disabled: true });
    const disabled = await signIn(userId);
    assert.equal(disabled.tokens, null);
    assert.equal(disabled.refused?.status, 400);
    assert.match(disabled.refused?.html ?? '', /to-be-disabled is disabled/);
    const unknown = await signIn('nobody-by-this-id');
    assert.equal(unknown.refused?.status, 400);
    assert.match(unknown.refused?.html ?? '', /There is no user with id/);
  });

  it('answers 401 with the reason when a signed-in user is disabled afterwards', async () => {
    const userId = await app.createUser();
    const { tokens } = await signIn(userId);
    await app.api('PATCH', `/api/users/${userId}`, { disabled: true });
    const res = await app.api('GET', '/api/me/tokens', undefined, String(tokens?.access_token));
    assert.equal(res.status, 401);
    assert.equal(res.body.error, 'invalid_token');
    assert.match(String(res.body.error_description), /disabled/);
  });

  it('gives the public console client no introspection, and no other client a token for the API resource', async () => {
    const userId = await app.createUser();
    const pat = await app.createPat(userId);
    const asConsole = await app.form('/introspect', { token: pat.token, client_id: 'tokenwarden-console' });
    assert.deepEqual(asConsole.body, { active: false });
    const admin = { clientId: app.config.adminClient.clientId, clientSecret: app.config.adminClient.clientSecret };
    const resourceToken = await app.form(
      '/token',
      { grant_type: 'client_credentials', scope: 'admin', resource: `${app.url}/api` },
      { Authorization: basic(admin) },
    );
    assert.equal(resourceToken.status, 400);
    assert.equal(resourceToken.body.error, 'invalid_target');
    const discovery = await fetch(`${app.url}/.well-known/oauth-authorization-server`);
    const metadata = (await discovery.json()) as Row;
    assert.equal(metadata.authorization_endpoint, `${app.url}/auth`);
    assert.deepEqual(metadata.code_challenge_methods_supported, ['S256']);
    assert.ok(!(metadata.introspection_endpoint_auth_methods_supported as string[]).includes('none'));
  });

  it('sends a cancelled sign-in back to the console with access_denied', async () => {
    const page = await fetch(
      `${app.url}/auth?${new URLSearchParams({
        client_id: 'tokenwarden-console',
        redirect_uri: `${app.url}/console/`,
        response_type: 'code',
        scope: 'openid',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSBT2bcM',
        code_challenge_method: 'S256',
        state: 'xyz',
      }).toString()}`,
      { redirect: 'manual' },
    );
    const cookies = page.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const interaction = String(page.headers.get('Location'));
    const abort = await fetch(new URL(`${interaction}/abort`, app.url), {
      method: 'POST',
      headers: { Cookie: cookies },
      redirect: 'manual',
    });
    assert.equal(abort.status, 303);
    const back = await fetch(new URL(String(abort.headers.get('Location')), app.url), {
      headers: { Cookie: cookies },
      redirect: 'manual',
    });
    const location = new URL(String(back.headers.get('Location')));
    assert.equal(location.origin + location.pathname, `${app.url}/console/`);
    assert.equal(location.searchParams.get('error'), 'access_denied');
    assert.equal(location.searchParams.get('state'), 'xyz');
  });

  it('serves the sign-in page under the strict policy, to loopback browsers only', async () => {
    const res = await fetch(`${app.url}/interaction/nonexistent`);
    assert.equal(res.status, 400, 'no interaction cookie: the page says the sign-in expired');
    assert.match(String(res.headers.get('Content-Security-Policy')), /script-src 'self'/);
    const html = await res.text();
    assert.doesNotMatch(html, /<script|style=/);
    const proxied = await startApp({
      env: { CONSOLE_DEV_SIGNIN: 'true', TRUST_PROXY: 'true' },
      memory: true,
    });
    try {
      const remote = await fetch(`${proxied.url}/interaction/abc`, { headers: { 'X-Forwarded-For': '192.0.2.7' } });
      assert.equal(remote.status, 403);
      assert.equal(((await remote.json()) as Row).error, 'access_denied');
    } finally {
      await proxied.close();
    }
  });
});

describe('console sign-in: an external trusted issuer with an admin claim', () => {
  let app: TestApp;
  let jwks: Server;
  let key: CryptoKey;
  const issuer = 'https://login.example.com';
  const audience = 'https://tokens.example.com/api';

  before(async () => {
    const pair = await generateKeyPair('ES256');
    key = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    jwks = createServer((_req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const { port } = jwks.address() as AddressInfo;
    app = await startApp({
      env: {
        TRUSTED_ISSUERS: JSON.stringify([
          {
            issuer,
            jwks_uri: `http://127.0.0.1:${port}/jwks`,
            audience,
            admin_claim: { name: 'groups', value: 'token-admins' },
          },
        ]),
      },
    });
  });
  after(async () => {
    await app.close();
    jwks.closeAllConnections();
    await new Promise((r) => jwks.close(r));
  });

  const token = (sub: string, claims: Record<string, unknown> = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject(sub)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(key);

  it('makes admins of people whose claim is the value or an array containing it, and nobody else', async () => {
    const asString = await app.api('GET', '/api/users', undefined, await token('ann', { groups: 'token-admins' }));
    assert.equal(asString.status, 200);
    const asArray = await app.api(
      'GET',
      '/api/users',
      undefined,
      await token('bob', { groups: ['x', 'token-admins'] }),
    );
    assert.equal(asArray.status, 200);
    const userId = await app.createUser();
    for (const claims of [{}, { groups: 'token-admins-not' }, { groups: ['x'] }, { roles: 'token-admins' }]) {
      const res = await app.api('GET', '/api/users', undefined, await token(userId, claims));
      assert.equal(res.status, 403, JSON.stringify(claims));
    }
    // Without the claim, a person unknown to Tokenwarden is nobody, and hears why.
    const stranger = await app.api('GET', '/api/me', undefined, await token('stranger'));
    assert.equal(stranger.status, 401);
    assert.match(String(stranger.body.error_description), /no Tokenwarden user/);
  });

  it('refuses an admin whose own Tokenwarden user is disabled', async () => {
    const userId = await app.createUser();
    await app.api('PATCH', `/api/users/${userId}`, { disabled: true });
    const res = await app.api('GET', '/api/users', undefined, await token(userId, { groups: 'token-admins' }));
    assert.equal(res.status, 401);
  });

  it('audits what an admin person does under their id, never a client', async () => {
    const at = await token('carol', { groups: ['token-admins'] });
    const userId = await app.createUser();
    const pat = await app.createPat(userId);
    const revoked = await app.api('DELETE', `/api/users/${userId}/tokens/${pat.id}`, undefined, at);
    assert.equal(revoked.status, 204);
    const audit = await app.api('GET', `/api/audit?token_id=${pat.id}&type=token.revoked`);
    const [event] = audit.body.data as Row[];
    assert.equal(event?.actor, 'user:carol');
    assert.equal(event?.via, 'admin_api');
  });
});

import assert from 'node:assert/strict';

import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import * as client from 'openid-client';

import { StoreUnavailableError, type Storage } from '../adapters/types.ts';
import { basic, startApp, type JsonResponse, type TestApp } from './support/app.ts';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const JWT = 'urn:ietf:params:oauth:token-type:jwt';
const LOGTO_PAT = 'urn:logto:token-type:personal_access_token';
const ORDERS = 'https://orders.example.com';
const BILLING = 'https://billing.example.com';

type Client = { clientId: string; clientSecret: string };

/**
 * RFC 8693 token exchange: a PAT for a short-lived RFC 9068 JWT access token. A real client library (openid-client
 * 6) performs the exchange; jose verifies the JWT against `/jwks`; the token then introspects like an access token
 * while its PAT lives, and every refusal is the RFC's error.
 */
describe('token exchange (RFC 8693): PAT → JWT access token', () => {
  let app: TestApp;
  let userId: string;
  let exchanger: Client;
  let ordersApi: Client;
  let billingApi: Client;
  let openid: client.Configuration;
  let jwks: ReturnType<typeof createRemoteJWKSet>;

  async function register(body: Record<string, unknown>): Promise<Client> {
    const res = await app.api('POST', '/api/clients', body);
    assert.equal(res.status, 201, res.text);
    return { clientId: String(res.body.client_id), clientSecret: String(res.body.client_secret) };
  }

  before(async () => {
    app = await startApp();
    userId = await app.createUser('exchange-user');
    exchanger = await register({ client_name: 'gateway', token_exchange: true });
    ordersApi = await register({ client_name: 'orders API', resources: [ORDERS] });
    billingApi = await register({ client_name: 'billing API', resources: [BILLING] });
    openid = await client.discovery(
      new URL(app.config.issuer),
      exchanger.clientId,
      undefined,
      client.ClientSecretBasic(exchanger.clientSecret),
      { algorithm: 'oauth2', execute: [client.allowInsecureRequests] },
    );
    jwks = createRemoteJWKSet(new URL(`${app.config.issuer}/jwks`));
  });
  after(() => app.close());

  /** A token request with this grant type, as raw HTTP (to see every member and error as sent). */
  const exchange = (fields: Record<string, string>, as: Client = exchanger, extra = '') =>
    app.form('/token', new URLSearchParams({ grant_type: GRANT, ...fields }).toString() + extra, {
      Authorization: basic(as),
    });

  const verify = async (token: string, audience: string): Promise<JWTPayload> =>
    (await jwtVerify(token, jwks, { issuer: app.config.issuer, audience, typ: 'at+jwt' })).payload;

  function refused(res: JsonResponse, error: string, description?: RegExp): void {
    assert.equal(res.status, error === 'invalid_client' ? 401 : 400, res.text);
    assert.equal(res.body.error, error, res.text);
    assert.equal(typeof res.body.error_description, 'string');
    if (description) assert.match(String(res.body.error_description), description);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal('access_token' in res.body, false);
  }

  it('is listed in discovery (RFC 8414 grant_types_supported)', () => {
    assert.ok(openid.serverMetadata().grant_types_supported?.includes(GRANT));
  });

  it('exchanges a PAT through openid-client for a JWT signed with the keys /jwks publishes', async () => {
    const expiresAt = new Date(Date.now() + 30 * 86_400_000);
    const pat = await app.createPat(userId, {
      scopes: ['read', 'write'],
      expires_at: expiresAt.toISOString(),
    });
    const before = Math.floor(Date.now() / 1000);
    const response = await client.genericGrantRequest(openid, GRANT, {
      subject_token: pat.token,
      subject_token_type: ACCESS_TOKEN,
      resource: ORDERS,
      scope: 'read',
    });
    assert.equal(response.issued_token_type, ACCESS_TOKEN);
    assert.equal(response.token_type, 'bearer', 'oauth4webapi lower-cases the Bearer it received');
    assert.equal(response.scope, 'read');
    assert.equal(response.expires_in, 600, 'the default lifetime: 10 minutes');

    const header = decodeProtectedHeader(response.access_token);
    assert.equal(header.typ, 'at+jwt');
    const published = (await (await fetch(`${app.config.issuer}/jwks`)).json()) as { keys: Array<{ kid: string }> };
    assert.ok(
      published.keys.some((k) => k.kid === header.kid),
      'signed with a key /jwks publishes',
    );

    const claims = await verify(response.access_token, ORDERS);
    assert.equal(claims.iss, app.config.issuer);
    assert.equal(claims.sub, userId);
    assert.equal(claims.aud, ORDERS);
    assert.equal(claims.scope, 'read');
    assert.equal(claims.client_id, exchanger.clientId);
    assert.equal(claims.pat_id, pat.id);
    assert.equal(typeof claims.jti, 'string');
    assert.notEqual(claims.jti, pat.token);
    assert.ok(!response.access_token.includes(pat.token), 'the PAT is not in the token');
    assert.ok(claims.iat! >= before - 1 && claims.iat! <= before + 5);
    assert.equal(claims.exp! - claims.iat!, 600);
  });

  it('answers with the raw RFC 8693 members, and names the issued type as asked', async () => {
    const pat = await app.createPat(userId, { scopes: ['read'], resource: ORDERS });
    const res = await exchange({ subject_token: pat.token, subject_token_type: LOGTO_PAT });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.deepEqual(Object.keys(res.body).sort(), [
      'access_token',
      'expires_in',
      'issued_token_type',
      'scope',
      'token_type',
    ]);
    assert.equal(res.body.token_type, 'Bearer');
    assert.equal(res.body.issued_token_type, ACCESS_TOKEN);
    // Without resource, a bound PAT's token is for its resource.
    assert.equal((await verify(String(res.body.access_token), ORDERS)).aud, ORDERS);

    const asJwt = await exchange({
      subject_token: pat.token,
      subject_token_type: ACCESS_TOKEN,
      requested_token_type: JWT,
      resource: ORDERS,
    });
    assert.equal(asJwt.status, 200, asJwt.text);
    assert.equal(asJwt.body.issued_token_type, JWT);
  });

  it('never outlives its PAT, and the lifetime is configurable', async () => {
    const soon = await app.createPat(userId, { expires_at: new Date(Date.now() + 120_000).toISOString() });
    const res = await exchange({ subject_token: soon.token, subject_token_type: ACCESS_TOKEN, resource: ORDERS });
    assert.equal(res.status, 200, res.text);
    const claims = await verify(String(res.body.access_token), ORDERS);
    const patExp = Number((await app.introspect(soon.token)).body.exp);
    assert.equal(claims.exp, patExp, 'exp is the PAT expiry, sooner than 10 minutes');
    assert.equal(res.body.expires_in, claims.exp - claims.iat!);

    const short = await startApp({ env: { TOKEN_EXCHANGE_TTL_SECONDS: '60' } });
    try {
      const gateway = await short.api('POST', '/api/clients', { token_exchange: true });
      const pat = await short.createPat(await short.createUser(), {});
      const answer = await short.form(
        '/token',
        { grant_type: GRANT, subject_token: pat.token, subject_token_type: ACCESS_TOKEN, resource: ORDERS },
        {
          Authorization: basic({
            clientId: String(gateway.body.client_id),
            clientSecret: String(gateway.body.client_secret),
          }),
        },
      );
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.body.expires_in, 60);
    } finally {
      await short.close();
    }
  });

  it('refuses a client not allowed to exchange: unauthorized_client', async () => {
    const pat = await app.createPat(userId);
    refused(
      await exchange({ subject_token: pat.token, subject_token_type: ACCESS_TOKEN, resource: ORDERS }, ordersApi),
      'unauthorized_client',
    );
    // A library sees the same error.
    const other = await client.discovery(
      new URL(app.config.issuer),
      ordersApi.clientId,
      undefined,
      client.ClientSecretBasic(ordersApi.clientSecret),
      { algorithm: 'oauth2', execute: [client.allowInsecureRequests] },
    );
    await assert.rejects(
      client.genericGrantRequest(other, GRANT, { subject_token: pat.token, subject_token_type: ACCESS_TOKEN }),
      (error: unknown) => error instanceof client.ResponseBodyError && error.error === 'unauthorized_client',
    );
    refused(
      await exchange(
        { subject_token: pat.token, subject_token_type: ACCESS_TOKEN },
        { ...exchanger, clientSecret: 'x' },
      ),
      'invalid_client',
    );
  });

  it('refuses malformed requests: invalid_request', async () => {
    const pat = await app.createPat(userId, { resource: ORDERS });
    refused(await exchange({ subject_token_type: ACCESS_TOKEN }), 'invalid_request', /subject_token/);
    refused(await exchange({ subject_token: pat.token }), 'invalid_request', /subject_token_type/);
    refused(await exchange({ subject_token: pat.token, subject_token_type: '' }), 'invalid_request');
    for (const type of [JWT, 'urn:ietf:params:oauth:token-type:refresh_token', 'personal_access_token']) {
      refused(await exchange({ subject_token: pat.token, subject_token_type: type }), 'invalid_request', /type/);
    }
    refused(
      await exchange({ subject_token: pat.token, subject_token_type: ACCESS_TOKEN, actor_token: pat.token }),
      'invalid_request',
      /actor_token/,
    );
    refused(
      await exchange({
        subject_token: pat.token,
        subject_token_type: ACCESS_TOKEN,
        requested_token_type: 'urn:ietf:params:oauth:token-type:id_token',
      }),
      'invalid_request',
      /requested_token_type/,
    );
    refused(
      await exchange({ subject_token: pat.token, subject_token_type: ACCESS_TOKEN }, exchanger, `&subject_token=x`),
      'invalid_request',
    );
  });

  it('refuses a subject token that is not a live PAT value: invalid_grant', async () => {
    const grant = async (token: string, description?: RegExp) =>
      refused(
        await exchange({ subject_token: token, subject_token_type: ACCESS_TOKEN, resource: ORDERS }),
        'invalid_grant',
        description,
      );

    const revoked = await app.createPat(userId);
    await app.revoke(revoked.token);
    await grant(revoked.token);
    await grant(app.tw.services.format.generate(), /not an active personal access token/);
    await grant(`${revoked.token.slice(0, -1)}${revoked.token.endsWith('A') ? 'B' : 'A'}`);
    await grant('not-a-token');

    const expiring = await app.createPat(userId, { expires_at: new Date(Date.now() + 60_000).toISOString() });
    app.clock.advance(61_000);
    try {
      await grant(expiring.token);
    } finally {
      app.clock.advance(-61_000);
    }

    // A rotated-out value in its grace period is good at resource servers, and for nothing else.
    const rotating = await app.createPat(userId, { resource: ORDERS });
    const rotated = await app.api('POST', `/api/users/${userId}/tokens/${rotating.id}/rotate`, { grace_seconds: 600 });
    assert.equal(rotated.status, 200, rotated.text);
    assert.equal((await app.introspect(rotating.token, ordersApi)).body.active, true, 'the grace value introspects');
    await grant(rotating.token, /grace period/);
    const fresh = await exchange({ subject_token: String(rotated.body.token), subject_token_type: ACCESS_TOKEN });
    assert.equal(fresh.status, 200, 'the current value exchanges');

    const bob = await app.createUser('exchange-disabled');
    const bobs = await app.createPat(bob);
    await app.api('PATCH', `/api/users/${bob}`, { disabled: true });
    await grant(bobs.token);

    // Neither an OAuth access token nor an exchanged token is a PAT.
    const oauth = await app.form(
      '/token',
      { grant_type: 'client_credentials', scope: 'api' },
      { Authorization: basic(exchanger) },
    );
    await grant(String(oauth.body.access_token));
    const live = await app.createPat(userId);
    const jwt = await exchange({ subject_token: live.token, subject_token_type: ACCESS_TOKEN, resource: ORDERS });
    await grant(String(jwt.body.access_token));
  });

  it('refuses to widen the scopes: invalid_scope', async () => {
    const pat = await app.createPat(userId, { scopes: ['read'], resource: ORDERS });
    refused(
      await exchange({ subject_token: pat.token, subject_token_type: ACCESS_TOKEN, scope: 'read write' }),
      'invalid_scope',
      /write/,
    );
    refused(
      await exchange({ subject_token: pat.token, subject_token_type: ACCESS_TOKEN, scope: 'admin' }),
      'invalid_scope',
    );
    const narrowed = await exchange({ subject_token: pat.token, subject_token_type: ACCESS_TOKEN, scope: 'read' });
    assert.equal(narrowed.body.scope, 'read');
    const bare = await app.createPat(userId, { scopes: [], resource: ORDERS });
    const none = await exchange({ subject_token: bare.token, subject_token_type: ACCESS_TOKEN });
    assert.equal(none.status, 200, none.text);
    assert.equal('scope' in none.body, false);
    assert.equal((await verify(String(none.body.access_token), ORDERS)).scope, undefined);
  });

  it('refuses a resource outside the binding, or none for an unbound PAT: invalid_target', async () => {
    const bound = await app.createPat(userId, { resource: ORDERS });
    const unbound = await app.createPat(userId);
    const target = async (token: string, fields: Record<string, string>, extra = '', description?: RegExp) =>
      refused(
        await exchange({ subject_token: token, subject_token_type: ACCESS_TOKEN, ...fields }, exchanger, extra),
        'invalid_target',
        description,
      );
    await target(bound.token, { resource: BILLING }, '', /bound to another resource/);
    await target(unbound.token, {}, '', /resource is required/);
    await target(unbound.token, { resource: 'not a uri' });
    await target(unbound.token, { resource: `${ORDERS}/#fragment` });
    await target(unbound.token, { resource: ORDERS }, `&resource=${encodeURIComponent(BILLING)}`, /only one/);
    await target(unbound.token, { audience: 'orders' }, '', /audience/);
    await target(unbound.token, { resource: `${app.config.issuer}/api` }, '', /Tokenwarden/);
    await target(unbound.token, { resource: app.config.issuer });
  });

  describe('the exchanged token at /introspect and /revoke', () => {
    async function exchanged(body: Record<string, unknown> = {}, resource = ORDERS) {
      const pat = await app.createPat(userId, { scopes: ['read', 'write'], ...body });
      const res = await exchange({ subject_token: pat.token, subject_token_type: ACCESS_TOKEN, resource });
      assert.equal(res.status, 200, res.text);
      return { pat, jwt: String(res.body.access_token) };
    }

    it('introspects active like an access token, for the resource server it is for', async () => {
      const { pat, jwt } = await exchanged();
      const claims = await verify(jwt, ORDERS);
      const res = await app.introspect(jwt, ordersApi);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.deepEqual(res.body, {
        active: true,
        sub: userId,
        username: 'exchange-user',
        pat_id: pat.id,
        client_id: exchanger.clientId,
        exp: claims.exp,
        iat: claims.iat,
        iss: app.config.issuer,
        jti: claims.jti,
        aud: ORDERS,
        scope: 'read write',
        token_type: 'Bearer',
      });
      // oidc-provider's JWT introspection response renders the same answer, signed.
      const signed = await fetch(`${app.url}/introspect`, {
        method: 'POST',
        headers: {
          Authorization: basic(ordersApi),
          'Content-Type': 'application/x-www-form-urlencoded',
          Accept: 'application/token-introspection+jwt',
        },
        body: new URLSearchParams({ token: jwt }).toString(),
      });
      const { payload } = await jwtVerify(await signed.text(), jwks, { issuer: app.config.issuer });
      assert.deepEqual((payload as { token_introspection: unknown }).token_introspection, res.body);
    });

    it('introspects inactive for a resource server that does not serve its audience', async () => {
      const { jwt } = await exchanged();
      assert.deepEqual((await app.introspect(jwt, billingApi)).body, { active: false });
      assert.deepEqual((await app.introspect(jwt)).body, { active: false }, 'a client serving nothing');
    });

    it('introspects inactive once its PAT is revoked, expired, rotated, or its user disabled', async () => {
      const revoked = await exchanged();
      assert.equal((await app.introspect(revoked.jwt, ordersApi)).body.active, true);
      await app.revoke(revoked.pat.token);
      assert.deepEqual((await app.introspect(revoked.jwt, ordersApi)).body, { active: false });
      // Still a valid signature until exp: a resource server verifying locally would accept it (documented).
      await verify(revoked.jwt, ORDERS);

      const byAdmin = await exchanged();
      assert.equal((await app.introspect(byAdmin.jwt, ordersApi)).body.active, true);
      await app.api('DELETE', `/api/users/${userId}/tokens/${byAdmin.pat.id}`);
      assert.deepEqual((await app.introspect(byAdmin.jwt, ordersApi)).body, { active: false });

      // Rotations: of a token already introspected (its current value remembered in memory), and of one never
      // introspected before (nothing remembered: MongoDB says which value is current).
      for (const introspectedBefore of [true, false]) {
        const rotated = await exchanged();
        if (introspectedBefore) assert.equal((await app.introspect(rotated.jwt, ordersApi)).body.active, true);
        const rotation = await app.api('POST', `/api/users/${userId}/tokens/${rotated.pat.id}/rotate`, {
          grace_seconds: 600,
        });
        assert.deepEqual(
          (await app.introspect(rotated.jwt, ordersApi)).body,
          { active: false },
          'a rotation ends tokens exchanged from the old value, grace period or not',
        );
        const renewed = await exchange({
          subject_token: String(rotation.body.token),
          subject_token_type: ACCESS_TOKEN,
          resource: ORDERS,
        });
        assert.equal((await app.introspect(String(renewed.body.access_token), ordersApi)).body.active, true);
      }

      const carol = await app.createUser('exchange-carol');
      const carols = await app.createPat(carol);
      const carolJwt = await exchange({
        subject_token: carols.token,
        subject_token_type: ACCESS_TOKEN,
        resource: ORDERS,
      });
      const jwt = String(carolJwt.body.access_token);
      assert.equal((await app.introspect(jwt, ordersApi)).body.active, true);
      await app.api('PATCH', `/api/users/${carol}`, { disabled: true });
      assert.deepEqual((await app.introspect(jwt, ordersApi)).body, { active: false });

      const expiring = await exchanged();
      app.clock.advance(601_000);
      try {
        assert.deepEqual((await app.introspect(expiring.jwt, ordersApi)).body, { active: false }, 'past its exp');
      } finally {
        app.clock.advance(-601_000);
      }
    });

    it('is not revoked on its own at /revoke: unsupported_token_type (RFC 7009 §2.2.1)', async () => {
      const { jwt } = await exchanged();
      for (const who of [exchanger, ordersApi]) {
        const res = await app.revoke(jwt, who);
        assert.equal(res.status, 400, res.text);
        assert.equal(res.body.error, 'unsupported_token_type');
      }
      assert.equal((await app.introspect(jwt, ordersApi)).body.active, true);
    });

    it('cannot call the management API, even where the embedded console trusts this issuer', async () => {
      const { jwt } = await exchanged({ scopes: ['tokens:manage'] });
      assert.equal((await app.api('GET', '/api/me/tokens', undefined, jwt)).status, 401);

      // The embedded console's access tokens are this issuer's JWTs for `${ISSUER}/api`: never an exchange target.
      const embedded = await startApp({ memory: true });
      try {
        assert.equal(embedded.config.console.mode, 'embedded');
        const gateway = await embedded.api('POST', '/api/clients', { token_exchange: true });
        const auth = {
          Authorization: basic({
            clientId: String(gateway.body.client_id),
            clientSecret: String(gateway.body.client_secret),
          }),
        };
        const api = `${embedded.config.issuer}/api`;
        const owner = await embedded.createUser();
        const manager = await embedded.createPat(owner, { scopes: ['tokens:manage'] });
        const boundToApi = await embedded.createPat(owner, { scopes: ['tokens:manage'], resource: api });
        for (const [token, fields] of [
          [manager.token, { resource: api }],
          [boundToApi.token, {}],
        ] as const) {
          const res = await embedded.form(
            '/token',
            { grant_type: GRANT, subject_token: token, subject_token_type: ACCESS_TOKEN, ...fields },
            auth,
          );
          refused(res, 'invalid_target', /Tokenwarden/);
        }
      } finally {
        await embedded.close();
      }
    });
  });

  it('records token.exchanged in the audit log, with the client, never a token', async () => {
    const pat = await app.createPat(userId, { scopes: ['read'], resource: ORDERS });
    const res = await exchange({ subject_token: pat.token, subject_token_type: ACCESS_TOKEN });
    const claims = await verify(String(res.body.access_token), ORDERS);
    const audit = await app.api('GET', `/api/audit?token_id=${pat.id}&type=token.exchanged`);
    const events = audit.body.data as Array<Record<string, unknown>>;
    assert.equal(events.length, 1);
    const event = events[0]!;
    assert.equal(event.user_id, userId);
    assert.equal(event.actor, `client:${exchanger.clientId}`);
    assert.equal(event.via, 'token_exchange');
    assert.deepEqual(event.details, {
      client_id: exchanger.clientId,
      jti: claims.jti,
      aud: ORDERS,
      scope: 'read',
      expires_at: new Date(claims.exp! * 1000).toISOString(),
    });
    assert.ok(!audit.text.includes(pat.token) && !audit.text.includes(String(res.body.access_token)));

    // An exchange is a use of the PAT, by the client that exchanged it.
    const token = await app.api('GET', `/api/users/${userId}/tokens/${pat.id}`);
    assert.equal(token.body.last_used_client, exchanger.clientId);
  });
});

describe('token exchange while MongoDB is unreachable', () => {
  it('answers 503 temporarily_unavailable with Retry-After, at /token and /introspect, never a 500', async () => {
    let down = false;
    /** The PAT store, failing as an unreachable MongoDB does while `down`. */
    const outage = (storage: Storage): Storage => ({
      ...storage,
      pats: new Proxy(storage.pats, {
        get(target, prop, receiver) {
          const value = Reflect.get(target, prop, receiver) as unknown;
          if (typeof value !== 'function') return value;
          return (...args: unknown[]) =>
            down
              ? Promise.reject(new StoreUnavailableError('unreachable'))
              : (value as (...a: unknown[]) => unknown).apply(target, args);
        },
      }),
    });
    // No Redis: every lookup needs MongoDB.
    const app = await startApp({ noRedis: true, wrapStorage: outage });
    try {
      const registered = await app.api('POST', '/api/clients', { token_exchange: true, resources: [ORDERS] });
      const gateway = {
        clientId: String(registered.body.client_id),
        clientSecret: String(registered.body.client_secret),
      };
      const pat = await app.createPat(await app.createUser());
      const fields = {
        grant_type: GRANT,
        subject_token: pat.token,
        subject_token_type: ACCESS_TOKEN,
        resource: ORDERS,
      };
      const ok = await app.form('/token', fields, { Authorization: basic(gateway) });
      assert.equal(ok.status, 200, ok.text);
      down = true;
      const answers = [
        await app.form('/token', fields, { Authorization: basic(gateway) }),
        await app.introspect(String(ok.body.access_token), gateway),
        // A PAT through oidc-provider's transport (the fast path never answers a JWT response).
        await app.form(
          '/introspect',
          { token: pat.token },
          {
            Authorization: basic(gateway),
            Accept: 'application/token-introspection+jwt',
          },
        ),
      ];
      for (const res of answers) {
        assert.equal(res.status, 503, res.text);
        assert.equal(res.body.error, 'temporarily_unavailable');
        assert.equal(res.headers.get('retry-after'), String(app.config.retryAfterSeconds));
      }
    } finally {
      down = false;
      await app.close();
    }
  });
});

describe('token exchange permission and served resources in the admin API', () => {
  let app: TestApp;
  before(async () => {
    app = await startApp();
  });
  after(() => app.close());

  it('registers, shows and changes a client’s token exchange permission and resources', async () => {
    const created = await app.api('POST', '/api/clients', {
      client_name: 'gateway',
      token_exchange: true,
      resources: [ORDERS, BILLING],
    });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.token_exchange, true);
    assert.deepEqual(created.body.resources, [ORDERS, BILLING]);
    const id = String(created.body.client_id);
    const plain = await app.api('POST', '/api/clients', {});
    assert.equal(plain.body.token_exchange, false);
    assert.deepEqual(plain.body.resources, []);

    const changed = await app.api('PATCH', `/api/clients/${id}`, { token_exchange: false, resources: [BILLING] });
    assert.equal(changed.status, 200, changed.text);
    assert.equal(changed.body.token_exchange, false);
    assert.deepEqual(changed.body.resources, [BILLING]);
    assert.equal(changed.body.client_name, 'gateway');
    const listed = (await app.api('GET', '/api/clients')).body.data as Array<Record<string, unknown>>;
    assert.deepEqual(
      listed.find((c) => c.client_id === id),
      { ...changed.body },
    );

    // The change holds at /token at once: this instance's client cache dropped the old metadata.
    const secret = String(created.body.client_secret);
    const pat = await app.createPat(await app.createUser());
    const refusedNow = await app.form(
      '/token',
      { grant_type: GRANT, subject_token: pat.token, subject_token_type: ACCESS_TOKEN, resource: BILLING },
      { Authorization: basic({ clientId: id, clientSecret: secret }) },
    );
    assert.equal(refusedNow.body.error, 'unauthorized_client');
    await app.api('PATCH', `/api/clients/${id}`, { token_exchange: true });
    const allowed = await app.form(
      '/token',
      { grant_type: GRANT, subject_token: pat.token, subject_token_type: ACCESS_TOKEN, resource: BILLING },
      { Authorization: basic({ clientId: id, clientSecret: secret }) },
    );
    assert.equal(allowed.status, 200, allowed.text);
    // Client credentials still work for it.
    const cc = await app.form(
      '/token',
      { grant_type: 'client_credentials', scope: 'api' },
      { Authorization: basic({ clientId: id, clientSecret: secret }) },
    );
    assert.equal(cc.status, 200, cc.text);

    const audit = (await app.api('GET', '/api/audit?type=client.updated')).body.data as Array<Record<string, unknown>>;
    assert.deepEqual(audit[0]!.details, { client_id: id, token_exchange: true });
    assert.deepEqual(audit[1]!.details, { client_id: id, token_exchange: false, resources: BILLING });
  });

  it('validates them, naming the field', async () => {
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ resources: ['not a uri'] }, /^resources/],
      [{ resources: [`${ORDERS}#x`] }, /^resources/],
      [{ resources: [ORDERS, ORDERS] }, /^resources/],
      [{ resources: ORDERS }, /^resources/],
      [{ token_exchange: 'yes' }, /^token_exchange/],
    ];
    for (const [body, description] of bad) {
      const res = await app.api('POST', '/api/clients', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body.error, 'invalid_request');
      assert.match(String(res.body.error_description), description);
    }
    const client = await app.api('POST', '/api/clients', {});
    const id = String(client.body.client_id);
    assert.equal((await app.api('PATCH', `/api/clients/${id}`, {})).status, 400);
    assert.equal((await app.api('PATCH', `/api/clients/${id}`, { resources: ['x'] })).status, 400);
    assert.equal((await app.api('PATCH', `/api/clients/${id}`, { client_secret: 'x' })).status, 400);
    assert.equal((await app.api('PATCH', '/api/clients/rs_nobody', { token_exchange: true })).status, 404);
    assert.equal(
      (await app.api('PATCH', `/api/clients/${app.config.adminClient.clientId}`, { resources: [] })).status,
      404,
    );
  });
});

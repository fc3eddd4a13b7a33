import assert from 'node:assert/strict';

import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';

import { parseAuthorization, challengeDescription } from '../server/resource-server/bearer.ts';
import { fromIntrospection } from '../server/resource-server/claims.ts';
import {
  createResourceServer,
  OptionsError,
  UnavailableError,
  type ResourceServer,
  type ResourceServerOptions,
} from '../server/resource-server/index.ts';
import { requireToken } from '../server/resource-server/express.ts';
import {
  challengeParams,
  RFC6750_DESCRIPTION,
  serveProtected,
  type ApiAnswer,
  type ProtectedApi,
} from './support/protected-api.ts';
import { startTokenwardenWithEvents, type TokenwardenWithEvents } from './support/ssf-transmitter.ts';

/**
 * `tokenwarden/resource-server` against a real Tokenwarden (behind a gateway the tests can break): introspection
 * with `client_secret_basic` and `private_key_jwt`, every RFC 6750 answer, the checks a resource server must make
 * (active, scope, aud, iss, exp), exchanged JWTs verified locally, and 503 — never an admission — when Tokenwarden
 * cannot answer. Events and the cache's revocation bound: test/resource-server-events.test.ts.
 */
describe('tokenwarden/resource-server: validating bearer tokens', () => {
  const RESOURCE = 'https://api.example.com';
  let tw: TokenwardenWithEvents;
  let basicClient: { clientId: string; clientSecret?: string };
  let userId: string;
  let pat: { id: string; token: string };
  const started: { rs: ResourceServer; api: ProtectedApi }[] = [];
  const errors: Error[] = [];

  /** A resource server (events off: they have their own file) and the API it protects. */
  async function protectedApi(options: Partial<ResourceServerOptions> = {}) {
    const rs = createResourceServer({
      issuer: tw.issuer,
      clientId: basicClient.clientId,
      clientSecret: basicClient.clientSecret!,
      realm: 'test-api',
      events: false,
      onError: (error) => errors.push(error),
      ...options,
    });
    const api = await serveProtected(rs);
    started.push({ rs, api });
    return api;
  }
  const bearer = (token: string) => `Bearer ${token}`;

  before(async function () {
    this.timeout(120_000);
    tw = await startTokenwardenWithEvents();
    basicClient = await tw.client();
    userId = await tw.app.createUser();
    pat = await tw.app.createPat(userId, { scopes: ['read', 'repo:read'] });
  });
  after(async () => {
    for (const { rs, api } of started) {
      await api.close();
      await rs.close();
    }
    await tw?.close();
  });
  beforeEach(() => {
    errors.length = 0;
    tw.gateway.fail(undefined);
  });

  describe('introspection with client authentication', () => {
    it('admits a live PAT through client_secret_basic, with what introspection says of it', async () => {
      const api = await protectedApi();
      const before = tw.gateway.count('/introspect');
      const res = await api.get('/read', bearer(pat.token));
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, {
        sub: userId,
        jti: pat.id,
        scopes: ['read', 'repo:read'],
        source: 'introspection',
        aud: [],
      });
      const [request] = tw.gateway.headers('/introspect').slice(before);
      assert.match(String(request!.authorization), /^Basic /, 'the client secret went in the Basic header');
    });

    it('admits a live PAT through private_key_jwt (the client has no secret at all)', async () => {
      const { privateKey, publicKey } = await generateKeyPair('ES256');
      const jwk = { ...(await exportJWK(publicKey)), kid: 'rs-key-1', alg: 'ES256', use: 'sig' };
      const client = await tw.client({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } });
      assert.equal(client.clientSecret, undefined);
      const api = await protectedApi({
        clientId: client.clientId,
        clientSecret: undefined,
        privateKey,
        keyId: 'rs-key-1',
      });
      const before = tw.gateway.count('/introspect');
      const res = await api.get('/read', bearer(pat.token));
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.jti, pat.id);
      const [request] = tw.gateway.headers('/introspect').slice(before);
      assert.equal(request!.authorization, undefined, 'no secret in a header: the assertion is in the body');
    });

    it('accepts the private key as a JWK too', async () => {
      const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
      const client = await tw.client({
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k2', alg: 'ES256' }] },
      });
      const privateJwk = { ...(await exportJWK(privateKey)), alg: 'ES256' };
      const api = await protectedApi({
        clientId: client.clientId,
        clientSecret: undefined,
        privateKey: privateJwk,
        keyId: 'k2',
      });
      assert.equal((await api.get('/read', bearer(pat.token))).status, 200);
    });

    it('answers from the cache after the first request, and introspects a token once however many ask at once', async () => {
      const api = await protectedApi();
      const fresh = await tw.app.createPat(userId);
      const before = tw.gateway.count('/introspect');
      const answers = await Promise.all(Array.from({ length: 20 }, () => api.get('/read', bearer(fresh.token))));
      assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([200]));
      assert.equal(tw.gateway.count('/introspect') - before, 1);
      assert.equal((await api.get('/hello', bearer(fresh.token))).status, 200);
      assert.equal(tw.gateway.count('/introspect') - before, 1);
    });

    it('refuses a token Tokenwarden does not know, and does not cache the refusal', async () => {
      const api = await protectedApi();
      const unknown = `pat_${'A'.repeat(42)}`;
      const before = tw.gateway.count('/introspect');
      for (let i = 0; i < 2; i++) {
        const res = await api.get('/hello', bearer(unknown));
        assert.equal(res.status, 401);
        assert.equal(res.body.error, 'invalid_token');
      }
      assert.equal(tw.gateway.count('/introspect') - before, 2);
    });

    it('refuses an expired PAT', async () => {
      const api = await protectedApi();
      const soon = await tw.app.createPat(userId, { expires_at: new Date(Date.now() + 86_400_000).toISOString() });
      tw.app.clock.advance(2 * 86_400_000);
      try {
        const res = await api.get('/read', bearer(soon.token));
        assert.equal(res.status, 401);
        assert.equal(res.body.error, 'invalid_token');
      } finally {
        tw.app.clock.advance(-2 * 86_400_000);
      }
    });
  });

  describe('RFC 6750 answers', () => {
    let api: ProtectedApi;
    before(async () => {
      api = await protectedApi();
    });

    const challenge = (res: ApiAnswer) => challengeParams(res.headers.get('www-authenticate'));

    it('no credentials: 401 with a challenge and no error code (§3.1)', async () => {
      for (const authorization of [undefined, '', 'Basic dXNlcjpwYXNz', 'Negotiate abc', 'Bearerx abc']) {
        const res = await api.get('/read', authorization);
        assert.equal(res.status, 401, String(authorization));
        assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="test-api"');
        assert.equal(res.body.error, undefined);
        assert.equal(typeof res.body.error_description, 'string');
      }
    });

    it('a malformed Authorization header: 400 invalid_request (§3.1)', async () => {
      for (const authorization of [
        'Bearer',
        'Bearer ',
        'Bearer a b',
        'Bearer to"ken',
        'Bearer tok\\en',
        'Bearer a=b',
      ]) {
        const res = await api.get('/read', authorization);
        assert.equal(res.status, 400, authorization);
        assert.equal(res.body.error, 'invalid_request');
        assert.equal(challenge(res).error, 'invalid_request');
        assert.equal(challenge(res).realm, 'test-api');
      }
    });

    it('an invalid token: 401 invalid_token with a description RFC 6750 allows', async () => {
      const res = await api.get('/read', bearer('nope'));
      assert.equal(res.status, 401);
      assert.equal(res.body.error, 'invalid_token');
      assert.equal(challenge(res).error, 'invalid_token');
      assert.match(challenge(res).error_description!, RFC6750_DESCRIPTION);
    });

    it('a valid token without the scope: 403 insufficient_scope naming the scopes required (§3.1)', async () => {
      let res = await api.get('/write', bearer(pat.token));
      assert.equal(res.status, 403);
      assert.equal(res.body.error, 'insufficient_scope');
      assert.deepEqual(challenge(res), {
        realm: 'test-api',
        error: 'insufficient_scope',
        error_description: 'the access token lacks a scope this resource requires',
        scope: 'write',
      });
      res = await api.get('/read-write', bearer(pat.token));
      assert.equal(res.status, 403);
      assert.equal(challenge(res).scope, 'read write');
    });

    it('the scheme is case-insensitive and may be followed by several spaces', async () => {
      assert.equal((await api.get('/read', `bearer ${pat.token}`)).status, 200);
      assert.equal((await api.get('/read', `BEARER   ${pat.token}`)).status, 200);
    });

    it('refusals are not cached by intermediaries, and every quoted value is within RFC 6750 characters', async () => {
      for (const [path, authorization] of [
        ['/read', undefined],
        ['/read', 'Bearer'],
        ['/read', bearer('nope')],
        ['/write', bearer(pat.token)],
      ] as const) {
        const res = await api.get(path, authorization);
        assert.equal(res.headers.get('cache-control'), 'no-store');
        assert.equal(res.headers.get('content-type'), 'application/json');
        for (const value of Object.values(challenge(res))) assert.match(value, RFC6750_DESCRIPTION);
      }
    });

    it('reads the header exactly as §2.1 says (unit)', () => {
      assert.equal(parseAuthorization('Bearer abc-._~+/=='), 'abc-._~+/==');
      assert.equal(typeof parseAuthorization('Bearer ab=c'), 'object');
      assert.equal(typeof parseAuthorization(['Bearer a', 'Bearer b']), 'object', 'two headers: malformed');
      assert.equal((parseAuthorization(['Bearer a', 'Bearer b']) as { status: number }).status, 400);
    });

    it('drops the characters RFC 6750 forbids from error_description, and refuses a realm or scope with them', () => {
      assert.equal(challengeDescription('say "hi" \\ to é\n'), 'say hi  to ');
      assert.throws(() => createResourceServer({ issuer: tw.issuer, clientId: 'x', clientSecret: 'y', realm: 'a"b' }), {
        code: 'ERR_RS_OPTIONS',
        option: 'realm',
      });
      const rs = createResourceServer({ issuer: tw.issuer, clientId: 'x', clientSecret: 'y', events: false });
      assert.throws(() => requireToken(rs, ['re"ad']), OptionsError);
      assert.throws(() => requireToken(rs, ['read write']), OptionsError, 'one scope per entry');
    });
  });

  describe('resource binding, issuer and token type', () => {
    it('refuses a PAT bound to another resource, admits one bound to this one and, by default, an unbound one', async () => {
      // Tokenwarden answers a bound PAT active only to a client that serves its resource (issue #14, part 5); this
      // client serves both, so the library's own audience check is what refuses the other API's token.
      const serving = await tw.client({ resources: [RESOURCE, 'https://other.example.com'] });
      const api = await protectedApi({
        resource: RESOURCE,
        clientId: serving.clientId,
        clientSecret: serving.clientSecret!,
      });
      const ours = await tw.app.createPat(userId, { resource: RESOURCE });
      const theirs = await tw.app.createPat(userId, { resource: 'https://other.example.com' });
      const ok = await api.get('/read', bearer(ours.token));
      assert.equal(ok.status, 200);
      assert.deepEqual(ok.body.aud, [RESOURCE]);
      const refused = await api.get('/read', bearer(theirs.token));
      assert.equal(refused.status, 401);
      assert.equal(refused.body.error, 'invalid_token');
      assert.equal(refused.body.error_description, 'the access token is not meant for this resource');
      assert.equal((await api.get('/read', bearer(pat.token))).status, 200, 'unbound PATs work everywhere');
      const notServing = await protectedApi({ resource: RESOURCE });
      const unseen = await notServing.get('/read', bearer(theirs.token));
      assert.equal(unseen.status, 401);
      assert.equal(unseen.body.error_description, 'the access token is not active', 'Tokenwarden answered inactive');
    });

    it('with requireResource, refuses unbound tokens too', async () => {
      const api = await protectedApi({ resource: RESOURCE, requireResource: true });
      assert.equal((await api.get('/read', bearer(pat.token))).status, 401);
    });

    it('checks iss, exp, nbf and sender constraint in an introspection answer (unit)', () => {
      const rules = {
        issuer: 'https://tw.example.com',
        resource: undefined,
        requireResource: false,
        clockTolerance: 0,
      };
      const now = 1_800_000_000_000;
      const active = { active: true, iss: 'https://tw.example.com', sub: 'alice', scope: 'read' };
      const refusal = (answer: Record<string, unknown>) =>
        (
          fromIntrospection({ ...active, ...answer }, rules, now) as {
            error_description?: string;
            description?: string;
          }
        ).description;
      assert.equal(refusal({ active: false }), 'the access token is not active');
      assert.equal(refusal({ active: 'true' }), 'the access token is not active');
      assert.equal(
        refusal({ iss: 'https://evil.example.com' }),
        'the access token was issued by another authorization server',
      );
      assert.equal(refusal({ exp: now / 1000 }), 'the access token has expired');
      assert.equal(refusal({ nbf: now / 1000 + 60 }), 'the access token is not valid yet');
      assert.match(String(refusal({ cnf: { jkt: 'x' } })), /sender-constrained/);
      assert.match(String(refusal({ token_type: 'DPoP' })), /sender-constrained/);
      assert.equal(refusal({}), undefined, 'an ordinary active answer is a token');
    });
  });

  describe('JWT access tokens (RFC 9068), verified locally', () => {
    const jwt = (claims: Record<string, unknown>, options: { typ?: string; key?: CryptoKey; kid?: string } = {}) => {
      const now = Math.floor(Date.now() / 1000);
      const payload = Object.fromEntries(
        Object.entries({
          iss: tw.issuer,
          aud: RESOURCE,
          iat: now,
          exp: now + 300,
          sub: userId,
          client_id: 'exchanger',
          scope: 'read',
          jti: 'jwt-1',
          ...claims,
        }).filter(([, value]) => value !== undefined),
      );
      return new SignJWT(payload)
        .setProtectedHeader({ alg: 'ES256', typ: options.typ ?? 'at+jwt', kid: options.kid ?? tw.key.kid })
        .sign(options.key ?? tw.key.privateKey);
    };

    it('admits a JWT signed with the keys at /jwks for this resource, without introspecting it', async () => {
      const api = await protectedApi({ resource: RESOURCE });
      const token = await jwt({});
      const before = tw.gateway.count('/introspect');
      const res = await api.get('/read', bearer(token));
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body, { sub: userId, jti: 'jwt-1', scopes: ['read'], source: 'jwt', aud: [RESOURCE] });
      assert.equal(tw.gateway.count('/introspect'), before);
      assert.equal((await api.get('/write', bearer(token))).status, 403, 'its scopes are checked like any');
    });

    it('refuses a JWT for another audience, expired, from another issuer, or signed with another key', async () => {
      const api = await protectedApi({ resource: RESOURCE });
      const other = await generateKeyPair('ES256');
      const refused = [
        await jwt({ aud: 'https://other.example.com' }),
        await jwt({ exp: Math.floor(Date.now() / 1000) - 10 }),
        await jwt({ iss: 'https://issuer.example.com' }),
        await jwt({}, { key: other.privateKey }),
        await jwt({}, { key: other.privateKey, kid: 'unknown-kid' }),
        await jwt({ client_id: undefined }),
      ];
      for (const token of refused) {
        const res = await api.get('/read', bearer(token));
        assert.equal(res.status, 401, JSON.stringify(res.body));
        assert.equal(res.body.error, 'invalid_token');
      }
    });

    it('introspects a JWT that is not typed at+jwt (Tokenwarden does not know it: inactive)', async () => {
      const api = await protectedApi({ resource: RESOURCE });
      const before = tw.gateway.count('/introspect');
      const res = await api.get('/read', bearer(await jwt({}, { typ: 'JWT' })));
      assert.equal(res.status, 401);
      assert.equal(tw.gateway.count('/introspect') - before, 1);
    });

    it('refuses every JWT when the API has no resource identifier (its audience could not be checked)', async () => {
      const api = await protectedApi();
      assert.equal((await api.get('/read', bearer(await jwt({})))).status, 401);
    });

    it('answers 503 when the keys cannot be fetched', async () => {
      const api = await protectedApi({ resource: RESOURCE });
      tw.gateway.fail((path) => path === '/jwks');
      const res = await api.get('/read', bearer(await jwt({})));
      assert.equal(res.status, 503);
      assert.equal(res.body.error, 'temporarily_unavailable');
    });
  });

  describe('when Tokenwarden cannot answer: 503, never an admission', () => {
    it('answers 503 with Tokenwarden’s Retry-After when introspection fails', async () => {
      const api = await protectedApi();
      const fresh = await tw.app.createPat(userId);
      tw.gateway.fail((path) => path === '/introspect');
      const res = await api.get('/read', bearer(fresh.token));
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('retry-after'), '7');
      assert.equal(res.headers.get('www-authenticate'), null, 'a 503 says nothing about the token');
      assert.deepEqual(Object.keys(res.body), ['error', 'error_description']);
      assert.equal(res.body.error, 'temporarily_unavailable');
      assert.ok(errors.some((e) => e instanceof UnavailableError && /introspection/.test(e.message)));
      tw.gateway.fail(undefined);
      assert.equal((await api.get('/read', bearer(fresh.token))).status, 200, 'and recovers');
    });

    it('answers 503 with the configured Retry-After while Tokenwarden refuses connections', async () => {
      const api = await protectedApi({ retryAfter: 3 });
      assert.equal((await api.get('/read', bearer(pat.token))).status, 200, 'discovery done');
      const fresh = await tw.app.createPat(userId);
      await tw.gateway.stop();
      try {
        const res = await api.get('/read', bearer(fresh.token));
        assert.equal(res.status, 503);
        assert.equal(res.headers.get('retry-after'), '3');
      } finally {
        await tw.gateway.start();
      }
      assert.equal((await api.get('/read', bearer(fresh.token))).status, 200);
    });

    it('answers 503 when discovery fails, and tries it again later', async () => {
      tw.gateway.fail((path) => path === '/.well-known/oauth-authorization-server');
      const api = await protectedApi();
      assert.equal((await api.get('/read', bearer(pat.token))).status, 503);
      tw.gateway.fail(undefined);
      // A failed discovery is remembered for a second, so a burst does not retry it on every request.
      const deadline = Date.now() + 5000;
      let status = 503;
      while (status === 503 && Date.now() < deadline) {
        status = (await api.get('/read', bearer(pat.token))).status;
        if (status === 503) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(status, 200);
    });

    it('answers 503 even when the application’s onError throws', async () => {
      const api = await protectedApi({
        onError: () => {
          throw new Error('a broken logger');
        },
      });
      const fresh = await tw.app.createPat(userId);
      tw.gateway.fail((path) => path === '/introspect');
      assert.equal((await api.get('/read', bearer(fresh.token))).status, 503);
    });

    it('answers 503 when Tokenwarden refuses the resource server’s own client secret, and says why', async () => {
      const api = await protectedApi({ clientSecret: 'not-the-secret' });
      const res = await api.get('/read', bearer(pat.token));
      assert.equal(res.status, 503);
      const reported = errors.find((e) => e instanceof UnavailableError)!;
      assert.match(reported.message, /refused this resource server's client credentials/);
      assert.ok(!reported.message.includes(pat.token) && !reported.message.includes('not-the-secret'));
    });
  });

  describe('options', () => {
    it('refuses bad options at construction, naming them', () => {
      const base = { issuer: 'https://tw.example.com', clientId: 'rs', clientSecret: 's' };
      const bad: [Record<string, unknown>, string][] = [
        [{ issuer: 'http://tw.example.com' }, 'issuer'],
        [{ issuer: 'not a url' }, 'issuer'],
        [{ clientSecret: undefined }, 'clientSecret'],
        [{ privateKey: {} }, 'clientSecret'],
        [{ requireResource: true }, 'requireResource'],
        [{ cache: { fallbackTtl: -1 } }, 'cache.fallbackTtl'],
        [{ events: { pollInterval: 1000, maxLag: 500 } }, 'events.maxLag'],
        [{ events: { delivery: 'push' } }, 'events.endpointUrl'],
        [{ events: { delivery: 'push', endpointUrl: 'http://api.example.com/events' } }, 'events.endpointUrl'],
      ];
      for (const [options, option] of bad) {
        assert.throws(
          () => createResourceServer({ ...base, ...options }),
          (error: OptionsError) => error.code === 'ERR_RS_OPTIONS' && error.option === option,
          option,
        );
      }
    });
  });
});

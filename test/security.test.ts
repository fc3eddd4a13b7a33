/**
 * The security review's findings (issue #10), one `describe` per defect: each test reproduces the attack or the
 * non-conformance by a request and fails on the code before the fix.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

import { SignJWT, createRemoteJWKSet, generateKeyPair, jwtVerify } from 'jose';
import mongoose from 'mongoose';
import { Redis } from 'ioredis';
import * as oauth from 'oauth4webapi';

import { createMongoStorage } from '../adapters/mongo/storage.ts';
import { createKeyring } from '../server/services/keyring.ts';
import { retireSigningKeys, rotateSigningKeys } from '../server/services/signing-keys.ts';
import { TEST_SECRET_KEY, basic, startApp, type TestApp } from './support/app.ts';
import { services } from './support/hooks.ts';

type Row = Record<string, unknown>;

async function withDatabase<T>(app: TestApp, use: (db: mongoose.mongo.Db) => Promise<T>): Promise<T> {
  const conn = await mongoose.createConnection(`${services().mongo.url}/${app.dbName}`).asPromise();
  try {
    return await use(conn.db!);
  } finally {
    await conn.close();
  }
}

/** Every document of every collection of the app's database, as one JSON text. */
async function dumpDatabase(app: TestApp): Promise<string> {
  return withDatabase(app, async (db) => {
    const out: Record<string, unknown[]> = {};
    for (const { name } of await db.listCollections().toArray()) out[name] = await db.collection(name).find().toArray();
    return JSON.stringify(out);
  });
}

describe('security hardening (issue #10)', () => {
  let app: TestApp;
  let userId: string;
  before(async () => {
    app = await startApp();
    userId = await app.createUser();
  });
  after(() => app.close());

  const rotate = async (id: string, body: Row = {}, as: string | undefined = undefined, owner = userId) =>
    as === undefined
      ? app.api('POST', `/api/users/${owner}/tokens/${id}/rotate`, body)
      : app.api('POST', `/api/me/tokens/${id}/rotate`, body, as);

  describe('rotated-out values in their grace period', () => {
    it('may be introspected, but not used on /api/me, so they cannot rotate the token or mint new ones', async () => {
      const pat = await app.createPat(userId, { scopes: ['read', 'tokens:manage'] });
      const rotated = await rotate(pat.id, { grace_seconds: 600 }, pat.token);
      assert.equal(rotated.status, 200);
      const fresh = String(rotated.body.token);
      assert.equal((await app.introspect(pat.token)).body.active, true, 'the grace value still opens resources');

      for (const [method, path, body] of [
        ['GET', '/api/me', undefined],
        ['POST', `/api/me/tokens/${pat.id}/rotate`, {}],
        ['POST', '/api/me/tokens', { name: 'minted with a grace value', scopes: ['read'] }],
      ] as const) {
        const res = await app.api(method, path, body, pat.token);
        assert.equal(res.status, 401, `${method} ${path}`);
        assert.equal(res.body.error, 'invalid_token');
        assert.match(String(res.body.error_description), /grace/);
      }
      assert.equal((await app.introspect(fresh)).body.active, true, 'the owner’s new value survives');
      assert.equal((await app.api('GET', '/api/me', undefined, fresh)).status, 200);
    });

    it('end when a later rotation happens', async () => {
      const pat = await app.createPat(userId);
      const second = String((await rotate(pat.id, { grace_seconds: 600 })).body.token);
      const third = String((await rotate(pat.id, { grace_seconds: 600 })).body.token);
      assert.deepEqual((await app.introspect(pat.token)).body, { active: false }, 'the first value’s grace ended');
      assert.equal((await app.introspect(second)).body.active, true, 'the value rotated out just now keeps its grace');
      assert.equal((await app.introspect(third)).body.active, true);
    });

    it('are recorded as such in the audit log when they act', async () => {
      const pat = await app.createPat(userId, { scopes: ['read', 'tokens:manage'] });
      const fresh = String((await rotate(pat.id, { grace_seconds: 600 }, pat.token)).body.token);
      await app.api('PATCH', `/api/me/tokens/${pat.id}`, { description: 'by the current value' }, fresh);
      assert.equal((await app.revoke(pat.token)).status, 200);
      const events = (await app.api('GET', `/api/audit?token_id=${pat.id}`)).body.data as Row[];
      const byType = (type: string) => events.find((e) => e.type === type)?.details as Row | undefined;
      assert.equal(byType('token.rotated')?.credential, 'current');
      assert.equal(byType('token.description_changed')?.credential, 'current');
      assert.equal(byType('token.revoked')?.credential, 'grace');
      assert.deepEqual((await app.introspect(fresh)).body, { active: false }, 'revoking by the grace value worked');
    });
  });

  describe('POST /revoke', () => {
    it('revokes a disabled user’s PAT, so re-enabling the user does not bring it back', async () => {
      const owner = await app.createUser();
      const pat = await app.createPat(owner);
      const graceful = await app.createPat(owner);
      const rotated = String((await rotate(graceful.id, { grace_seconds: 600 }, undefined, owner)).body.token);
      await app.api('PATCH', `/api/users/${owner}`, { disabled: true });
      assert.equal((await app.revoke(pat.token)).status, 200);
      assert.equal((await app.revoke(graceful.token)).status, 200, 'a grace value of a disabled user');
      await app.api('PATCH', `/api/users/${owner}`, { disabled: false });
      assert.deepEqual((await app.introspect(pat.token)).body, { active: false });
      assert.deepEqual((await app.introspect(rotated)).body, { active: false });
      const listed = (await app.api('GET', `/api/users/${owner}/tokens`)).body.data as Row[];
      assert.deepEqual(
        listed.map((t) => t.status),
        ['revoked', 'revoked'],
      );
    });

    it('answers 200 for a JWT it did not issue, and introspection {"active":false} (RFC 7009, RFC 7662)', async () => {
      const { privateKey } = await generateKeyPair('ES256');
      const jwt = await new SignJWT({ sub: 'someone' })
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' })
        .setIssuer('https://elsewhere.example')
        .setExpirationTime('5m')
        .sign(privateKey);
      const introspected = await app.introspect(jwt);
      assert.equal(introspected.status, 200);
      assert.deepEqual(introspected.body, { active: false });
      const revoked = await app.revoke(jwt);
      assert.equal(revoked.status, 200);
    });
  });

  describe('nothing in the database can be presented as a credential', () => {
    it('keeps no PAT, access token or client secret in any collection', async () => {
      const pat = await app.createPat(userId);
      const adminToken = await app.adminToken();
      const rsToken = String(
        (await app.form('/token', { grant_type: 'client_credentials', scope: 'api' }, { Authorization: basic(app.rs) }))
          .body.access_token,
      );
      assert.equal((await app.introspect(rsToken)).body.active, true);
      const dump = await dumpDatabase(app);
      for (const [what, secret] of [
        ['a PAT', pat.token],
        ['the admin access token', adminToken],
        ['a resource server access token', rsToken],
        ['a client secret', app.rs.clientSecret],
        ['the admin client secret', app.config.adminClient.clientSecret],
      ] as const) {
        assert.equal(dump.includes(secret), false, `${what} is stored`);
      }
    });

    it('hashes tokens and client secrets stored in plaintext by an earlier version, which keep working', async () => {
      const legacy = await startApp();
      const value = randomBytes(32).toString('base64url');
      const secret = randomBytes(32).toString('base64url');
      const clientId = `rs_legacy${randomBytes(4).toString('hex')}`;
      const now = Math.floor(Date.now() / 1000);
      await withDatabase(legacy, async (db) => {
        const payloads = db.collection<{ _id: string }>('oidc_payloads');
        await payloads.insertOne({
          _id: `Client:${clientId}`,
          model: 'Client',
          payload: JSON.stringify({
            client_id: clientId,
            client_secret: secret,
            grant_types: ['client_credentials'],
            scope: 'api',
            response_types: [],
            redirect_uris: [],
            token_endpoint_auth_method: 'client_secret_basic',
          }),
        } as never);
        await payloads.insertOne({
          _id: `ClientCredentials:${value}`,
          model: 'ClientCredentials',
          payload: JSON.stringify({
            iat: now,
            exp: now + 3600,
            clientId,
            kind: 'ClientCredentials',
            jti: value,
            scope: 'api',
            extra: {},
          }),
          expires_at: new Date((now + 3600) * 1000),
        } as never);
      });
      await legacy.close();
      const upgraded = await startApp({
        env: {
          MONGODB_URI: `${services().mongo.url}/${legacy.dbName}`,
          ADMIN_CLIENT_SECRET: legacy.config.adminClient.clientSecret,
        },
      });
      try {
        const client = { clientId, clientSecret: secret };
        const answer = await upgraded.introspect(value, client);
        assert.equal(answer.status, 200, answer.text);
        assert.equal(answer.body.active, true, 'the legacy token still works, and so does the legacy secret');
        const dump = await dumpDatabase(upgraded);
        assert.equal(dump.includes(value), false, 'the token is stored hashed now');
        assert.equal(dump.includes(secret), false, 'the secret is stored hashed now');
      } finally {
        await upgraded.close();
      }
    });
  });

  describe('the shared cache', () => {
    let redis: Redis;
    before(() => {
      redis = new Redis(services().redis.url, { lazyConnect: true });
    });
    after(() => redis.disconnect());

    it('does not make a value active by an entry copied to its key, or an entry written without the key', async () => {
      const pat = await app.createPat(userId, { scopes: ['read', 'write'] });
      await app.introspect(pat.token);
      const format = app.tw.services.format;
      const entry = await redis.get(`tw:pat:${format.hash(pat.token)}`);
      assert.ok(entry, 'cached');
      const forged = format.generate();
      await redis.set(`tw:pat:${format.hash(forged)}`, entry, 'EX', 300);
      assert.deepEqual((await app.introspect(forged)).body, { active: false }, 'a copied entry does not verify');
      const body = entry.slice(entry.indexOf('.', 2) + 1);
      const invented = format.generate();
      await redis.set(`tw:pat:${format.hash(invented)}`, `2.${'A'.repeat(43)}.${body}`, 'EX', 300);
      assert.deepEqual((await app.introspect(invented)).body, { active: false }, 'an invented MAC does not verify');
      assert.equal((await app.introspect(pat.token)).body.active, true, 'the real entry still works');
    });

    it('is not trusted for self-service writes: the calling PAT is read from MongoDB', async () => {
      const pat = await app.createPat(userId, { scopes: ['read', 'tokens:manage'] });
      assert.equal((await app.api('GET', '/api/me', undefined, pat.token)).status, 200, 'cached now');
      // Revoked behind the caches' back (as if a cache entry were forged, or stale).
      await withDatabase(app, (db) =>
        db
          .collection<{ _id: string }>('personal_access_tokens')
          .updateOne({ _id: pat.id }, { $set: { revoked_at: new Date() } }),
      );
      const minted = await app.api('POST', '/api/me/tokens', { name: 'should not exist', scopes: ['read'] }, pat.token);
      assert.equal(minted.status, 401);
      assert.equal(minted.body.error, 'invalid_token');
    });
  });

  describe('discovery', () => {
    it('builds every URL from ISSUER, whatever Host the request carries, and may be cached', async () => {
      for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
        const res = await fetch(`${app.url}${path}`, {
          headers: { Host: 'evil.example', 'X-Forwarded-Host': 'evil.example', 'X-Forwarded-Proto': 'https' },
        });
        const text = await res.text();
        assert.equal(text.includes('evil.example'), false, text);
        const metadata = JSON.parse(text) as Row;
        assert.equal(metadata.issuer, app.config.issuer);
        assert.equal(metadata.introspection_endpoint, `${app.config.issuer}/introspect`);
        assert.equal(metadata.jwks_uri, `${app.config.issuer}/jwks`);
        assert.match(String(res.headers.get('cache-control')), /max-age=\d+/);
        const scopes = metadata.scopes_supported as string[];
        for (const scope of Object.keys(app.config.policy.scopes)) assert.ok(scopes.includes(scope), scope);
      }
    });

    it('allows any origin on the public documents, and sends no CORS headers on /introspect', async () => {
      const discovery = await fetch(`${app.url}/.well-known/oauth-authorization-server`, {
        headers: { Origin: 'https://app.example' },
      });
      assert.ok(discovery.headers.get('access-control-allow-origin'));
      const introspection = await fetch(`${app.url}/introspect`, {
        method: 'POST',
        headers: { Authorization: basic(app.rs), 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'token=x',
      });
      assert.equal(introspection.status, 200);
      assert.equal(introspection.headers.get('access-control-allow-origin'), null);
      const preflight = await fetch(`${app.url}/introspect`, {
        method: 'OPTIONS',
        headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'POST' },
      });
      assert.equal(preflight.headers.get('access-control-allow-origin'), null);
    });
  });

  describe('rotation', () => {
    it('keeps the expiry an admin shortened, and never extends it', async () => {
      const pat = await app.createPat(userId, { expires_at: new Date(Date.now() + 30 * 86_400_000).toISOString() });
      const twoDays = new Date(Date.now() + 2 * 86_400_000);
      twoDays.setMilliseconds(0);
      await app.api('PATCH', `/api/users/${userId}/tokens/${pat.id}`, { expires_at: twoDays.toISOString() });
      const rotated = await rotate(pat.id);
      assert.equal(rotated.status, 200);
      assert.equal(rotated.body.expires_at, twoDays.toISOString());
      const later = await rotate(pat.id, { expires_at: new Date(Date.now() + 10 * 86_400_000).toISOString() });
      assert.equal(later.status, 400);
      assert.equal(later.body.error, 'invalid_request');
      const earlier = new Date(Date.now() + 86_400_000);
      earlier.setMilliseconds(0);
      const shorter = await rotate(pat.id, { expires_at: earlier.toISOString() });
      assert.equal(shorter.status, 200);
      assert.equal(shorter.body.expires_at, earlier.toISOString());
    });

    it('is refused for a disabled user, like creation', async () => {
      const owner = await app.createUser();
      const pat = await app.createPat(owner);
      await app.api('PATCH', `/api/users/${owner}`, { disabled: true });
      const res = await rotate(pat.id, {}, undefined, owner);
      assert.equal(res.status, 400);
      assert.match(String(res.body.error_description), /disabled/);
    });
  });

  describe('user ids', () => {
    it('are never given to a new user once a deleted one had them', async () => {
      const id = `reused-${randomBytes(3).toString('hex')}`;
      await app.api('POST', '/api/users', { id, username: id });
      const pat = await app.createPat(id);
      assert.equal((await app.api('DELETE', `/api/users/${id}`)).status, 204);
      assert.equal((await app.api('GET', `/api/users/${id}`)).status, 404);
      const again = await app.api('POST', '/api/users', { id, username: `${id}-new` });
      assert.equal(again.status, 409);
      assert.equal(again.body.error, 'conflict');
      assert.equal((await app.api('POST', '/api/users', { username: id })).status, 201, 'the username is free');
      assert.deepEqual((await app.introspect(pat.token)).body, { active: false });
    });

    it('are refused when tokens of a user deleted before tombstones still name them', async () => {
      const id = `legacy-${randomBytes(3).toString('hex')}`;
      await app.api('POST', '/api/users', { id, username: id });
      await app.createPat(id);
      await withDatabase(app, (db) => db.collection<{ _id: string }>('users').deleteOne({ _id: id }));
      const again = await app.api('POST', '/api/users', { id, username: `${id}-new` });
      assert.equal(again.status, 409);
    });
  });

  describe('signing keys without JWKS', () => {
    it('are the same on every instance on one database, and survive a restart', async () => {
      const uri = `${services().mongo.url}/tw_keys_${randomBytes(4).toString('hex')}`;
      const first = await startApp({ env: { MONGODB_URI: uri } });
      const second = await startApp({ env: { MONGODB_URI: uri } });
      const jwks = async (a: TestApp) => (await fetch(`${a.url}/jwks`)).text();
      try {
        assert.equal(await jwks(first), await jwks(second));
        const before = await jwks(first);
        await first.close();
        const restarted = await startApp({ env: { MONGODB_URI: uri } });
        try {
          assert.equal(await jwks(restarted), before);
          const dump = await dumpDatabase(restarted);
          assert.equal(dump.includes('"d":'), false, 'no private key member in the clear');
          // A signed introspection answer from one instance verifies with another's keys.
          const pat = await restarted.createPat(await restarted.createUser());
          const signed = await fetch(`${restarted.url}/introspect`, {
            method: 'POST',
            headers: {
              Authorization: basic(restarted.rs),
              'Content-Type': 'application/x-www-form-urlencoded',
              Accept: 'application/token-introspection+jwt',
            },
            body: new URLSearchParams({ token: pat.token }).toString(),
          });
          assert.equal(signed.status, 200);
          const { payload } = await jwtVerify(await signed.text(), createRemoteJWKSet(new URL(`${second.url}/jwks`)));
          assert.equal((payload.token_introspection as Row).active, true);
        } finally {
          await restarted.close();
        }
      } finally {
        await second.close();
      }
    });
  });

  describe('signing key rotation', () => {
    it('puts a new key first and keeps the old one published, then retires it', async () => {
      const uri = `${services().mongo.url}/tw_rotation_${randomBytes(4).toString('hex')}`;
      const kids = async () => {
        const a = await startApp({ env: { MONGODB_URI: uri } });
        try {
          return ((await (await fetch(`${a.url}/jwks`)).json()) as { keys: Row[] }).keys.map((k) => String(k.kid));
        } finally {
          await a.close();
        }
      };
      const [original] = await kids();
      const storage = await createMongoStorage({ uri, timeoutMs: 5000 });
      try {
        const keyring = createKeyring([TEST_SECRET_KEY]);
        const rotated = await rotateSigningKeys(storage.signingKeys, keyring);
        assert.equal(rotated.keys.length, 2);
        assert.deepEqual(await kids(), [rotated.keys[0]!.kid, original]);
        await retireSigningKeys(storage.signingKeys, keyring);
        assert.deepEqual(await kids(), [rotated.keys[0]!.kid]);
      } finally {
        await storage.close();
      }
    });
  });

  describe('management API challenges (RFC 6750)', () => {
    const call = (token: string | null, headers: Record<string, string> = {}) =>
      oauth.protectedResourceRequest(
        token ?? '',
        'GET',
        new URL(`${app.url}/api/clients`),
        new Headers(headers),
        null,
        { [oauth.allowInsecureRequests]: true },
      );

    it('writes challenges every client parses, escaping nothing it must not', async () => {
      const issued = await app.form('/token', { grant_type: 'client_credentials' }, { Authorization: basic(app.rs) });
      await assert.rejects(call(String(issued.body.access_token)), (error: unknown) => {
        assert.ok(error instanceof oauth.WWWAuthenticateChallengeError, String(error));
        const [challenge] = error.cause;
        assert.equal(challenge?.scheme, 'bearer');
        assert.equal(challenge?.parameters.error, 'insufficient_scope');
        assert.match(String(challenge?.parameters.error_description), /lacks the 'admin' scope/);
        return true;
      });
      await assert.rejects(call('nonsense'), (error: unknown) => {
        assert.ok(error instanceof oauth.WWWAuthenticateChallengeError);
        assert.equal(error.cause[0]?.parameters.error, 'invalid_token');
        return true;
      });
    });

    it('answers a malformed Bearer header with 400 invalid_request, and no credentials without an error code', async () => {
      for (const header of ['Bearer', 'Bearer ', 'Bearer a b', 'Bearer ###']) {
        const res = await fetch(`${app.url}/api/clients`, { headers: { Authorization: header } });
        assert.equal(res.status, 400, header);
        assert.equal(((await res.json()) as Row).error, 'invalid_request', header);
      }
      for (const headers of [{}, { Authorization: 'Basic Zm9vOmJhcg==' }]) {
        const res = await fetch(`${app.url}/api/clients`, { headers });
        assert.equal(res.status, 401);
        assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="tokenwarden"');
      }
    });
  });

  describe('client authentication at the OAuth endpoints', () => {
    it('answers none at all with 401 invalid_client (RFC 6749 §5.2)', async () => {
      const pat = await app.createPat(userId);
      for (const [path, fields] of [
        ['/introspect', { token: pat.token }],
        ['/revoke', { token: pat.token }],
        ['/token', { grant_type: 'client_credentials' }],
      ] as const) {
        const res = await app.form(path, fields);
        assert.equal(res.status, 401, path);
        assert.equal(res.body.error, 'invalid_client', path);
      }
      assert.equal((await app.introspect(pat.token)).body.active, true);
    });
  });

  describe('client addresses behind a proxy', () => {
    it('records in the audit log the address the trusted proxy saw, not one the client wrote', async () => {
      const proxied = await startApp({ env: { TRUST_PROXY: '1' } });
      try {
        const pat = await proxied.createPat(await proxied.createUser());
        await fetch(`${proxied.url}/api/credentials/revoke`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': '203.0.113.66, 198.51.100.23' },
          body: JSON.stringify({ credentials: [pat.token] }),
        });
        const events = (await proxied.api('GET', `/api/audit?token_id=${pat.id}&type=token.revoked`)).body
          .data as Row[];
        assert.equal(events[0]?.actor, 'address:198.51.100.23');
      } finally {
        await proxied.close();
      }
    });
  });
});

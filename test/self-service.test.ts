import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';

import { startApp, type TestApp } from './support/app.ts';

type Row = Record<string, unknown>;

describe('self-service API (/api/me)', () => {
  let app: TestApp;
  let jwksServer: Server;
  let signingKey: CryptoKey;
  let strangerKey: CryptoKey;
  const issuer = 'https://login.example.com';
  const audience = 'tokenwarden';
  const strictIssuer = 'https://strict.example.com';

  before(async () => {
    const pair = await generateKeyPair('ES256');
    signingKey = pair.privateKey;
    strangerKey = (await generateKeyPair('ES256')).privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'idp-1', alg: 'ES256', use: 'sig' };
    jwksServer = createServer((_req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    const { port } = jwksServer.address() as AddressInfo;
    app = await startApp({
      env: {
        TRUSTED_ISSUERS: JSON.stringify([
          { issuer, jwks_uri: `http://127.0.0.1:${port}/jwks`, audience, user_claim: 'tokenwarden_user' },
          {
            issuer: strictIssuer,
            jwks_uri: `http://127.0.0.1:${port}/jwks`,
            audience,
            user_claim: 'tokenwarden_user',
            required_scope: 'tokenwarden',
          },
        ]),
      },
    });
  });
  after(async () => {
    await app.close();
    jwksServer.closeAllConnections();
    await new Promise((r) => jwksServer.close(r));
  });

  describe('with a PAT carrying tokens:manage', () => {
    let userId: string;
    let manager: { id: string; token: string };
    const expiresAt = new Date(Date.now() + 5 * 86_400_000);

    before(async () => {
      userId = await app.createUser();
      manager = await app.createPat(userId, {
        name: 'manager',
        scopes: ['tokens:manage', 'repo:read'],
        expires_at: expiresAt.toISOString(),
      });
    });

    const me = (method: string, path: string, body?: unknown, token = manager.token) =>
      app.api(method, `/api/me${path}`, body, token);

    it('shows the calling user and the current token', async () => {
      assert.equal((await me('GET', '')).body.id, userId);
      const current = await me('GET', '/tokens/current');
      assert.equal(current.status, 200);
      assert.equal(current.body.id, manager.id);
      assert.equal(current.body.name, 'manager');
    });

    it('creates a token with a subset of its scopes, capped at its own expiry by default', async () => {
      const res = await me('POST', '/tokens', { name: 'reader', scopes: ['repo:read'] });
      assert.equal(res.status, 201, res.text);
      assert.equal(
        res.body.expires_at,
        new Date(Math.floor(expiresAt.getTime() / 1000) * 1000).toISOString(),
        'the default lifetime (30 d) is capped by the caller (5 d)',
      );
      assert.equal((await app.introspect(String(res.body.token))).body.active, true);
    });

    it('refuses to mint more scopes, a later expiry, or no expiry', async () => {
      const more = await me('POST', '/tokens', { name: 'x', scopes: ['repo:write'] });
      assert.equal(more.status, 403);
      assert.equal(more.body.error, 'access_denied');
      assert.match(String(more.body.error_description), /repo:write/);
      const later = await me('POST', '/tokens', {
        name: 'x',
        scopes: ['repo:read'],
        expires_at: new Date(expiresAt.getTime() + 1000).toISOString(),
      });
      assert.equal(later.status, 403);
      assert.equal(later.body.error, 'access_denied');
    });

    it('keeps a resource-bound caller to its resource', async () => {
      const bound = await app.createPat(userId, { scopes: ['tokens:manage'], resource: 'https://api.example.com' });
      const inherits = await me('POST', '/tokens', { name: 'child', scopes: [] }, bound.token);
      assert.equal(inherits.status, 201);
      assert.equal(inherits.body.resource, 'https://api.example.com');
      const other = await me(
        'POST',
        '/tokens',
        { name: 'x', scopes: [], resource: 'https://other.example.com' },
        bound.token,
      );
      assert.equal(other.status, 403);
      const none = await me('POST', '/tokens', { name: 'y', scopes: [], resource: null }, bound.token);
      assert.equal(none.status, 403);
    });

    it('refuses to rotate a token with more scopes than itself', async () => {
      const strong = await app.createPat(userId, { name: 'strong', scopes: ['repo:write'] });
      const res = await me('POST', `/tokens/${strong.id}/rotate`, {});
      assert.equal(res.status, 403);
      assert.equal((await app.introspect(strong.token)).body.active, true, 'nothing changed');
    });

    it('lists, renames and revokes its user’s tokens, and only those', async () => {
      const mine = await app.createPat(userId, { name: 'to rename', scopes: ['repo:read'] });
      const foreign = await app.createPat(await app.createUser(), { name: 'not mine' });
      const list = await me('GET', '/tokens?status=active');
      const ids = (list.body.data as Row[]).map((t) => t.id);
      assert.ok(ids.includes(mine.id) && ids.includes(manager.id));
      assert.ok(!ids.includes(foreign.id));
      assert.equal((await me('GET', `/tokens/${foreign.id}`)).status, 404);
      assert.equal((await me('DELETE', `/tokens/${foreign.id}`)).status, 404);
      assert.equal((await app.introspect(foreign.token)).body.active, true);
      assert.equal((await me('PATCH', `/tokens/${mine.id}`, { name: 'renamed' })).body.name, 'renamed');
      assert.equal((await me('DELETE', `/tokens/${mine.id}`)).status, 204);
      assert.deepEqual((await app.introspect(mine.token)).body, { active: false });
    });

    it('rotates the current token: the new value works, the old one does not', async () => {
      const own = await app.createPat(userId, {
        name: 'rotating',
        scopes: ['tokens:manage'],
        expires_at: expiresAt.toISOString(),
      });
      const res = await me('POST', '/tokens/current/rotate', {}, own.token);
      assert.equal(res.status, 200);
      assert.equal(res.body.id, own.id);
      const fresh = String(res.body.token);
      assert.deepEqual((await app.introspect(own.token)).body, { active: false });
      assert.equal((await me('GET', '/tokens/current', undefined, fresh)).body.id, own.id);
      assert.equal((await me('GET', '', undefined, own.token)).status, 401);
    });

    it('shows the user’s own audit log only', async () => {
      const res = await me('GET', '/audit');
      assert.equal(res.status, 200);
      const events = res.body.data as Row[];
      assert.ok(events.length > 0);
      for (const e of events) assert.equal(e.user_id, userId);
      assert.ok(
        events.some((e) => e.type === 'token.created' && e.actor === `user:${userId}` && e.via === 'self_service'),
      );
    });
  });

  describe('refusals', () => {
    it('answers 403 insufficient_scope to a PAT without tokens:manage', async () => {
      const pat = await app.createPat(await app.createUser(), { scopes: ['read'] });
      const res = await app.api('GET', '/api/me/tokens', undefined, pat.token);
      assert.equal(res.status, 403);
      assert.equal(res.body.error, 'insufficient_scope');
      assert.match(String(res.headers.get('www-authenticate')), /scope="tokens:manage"/);
    });

    it('answers 403 to the admin client on /api/me, and 401 without a token', async () => {
      assert.equal((await app.api('GET', '/api/me')).status, 403);
      assert.equal((await app.api('GET', '/api/me', undefined, null)).status, 401);
    });
  });

  describe('with a JWT from a trusted identity provider', () => {
    let userId: string;
    before(async () => {
      userId = await app.createUser();
    });

    const jwt = (
      claims: Record<string, unknown>,
      opts: { key?: CryptoKey; iss?: string; aud?: string; exp?: string; typ?: string } = {},
    ) =>
      new SignJWT({ tokenwarden_user: userId, ...claims })
        .setProtectedHeader({ alg: 'ES256', kid: 'idp-1', typ: opts.typ ?? 'at+jwt' })
        .setIssuer(opts.iss ?? issuer)
        .setAudience(opts.aud ?? audience)
        .setIssuedAt()
        .setExpirationTime(opts.exp ?? '5m')
        .sign(opts.key ?? signingKey);

    it('lets the user manage their tokens without scope limits of a calling PAT', async () => {
      const token = await jwt({});
      assert.equal((await app.api('GET', '/api/me', undefined, token)).body.id, userId);
      const created = await app.api(
        'POST',
        '/api/me/tokens',
        { name: 'from the web app', scopes: ['repo:write'] },
        token,
      );
      assert.equal(created.status, 201);
      assert.equal((await app.introspect(String(created.body.token))).body.sub, userId);
      const current = await app.api('GET', '/api/me/tokens/current', undefined, token);
      assert.equal(current.status, 400);
      const audit = await app.api('GET', `/api/audit?user_id=${userId}&type=token.created`);
      assert.equal((audit.body.data as Row[])[0]?.actor, `user:${userId}`);
    });

    it('refuses a wrong audience, an expired token, an unknown issuer, a foreign key, an unknown user', async () => {
      const bad = [
        await jwt({}, { aud: 'someone-else' }),
        await jwt({}, { exp: '-1m' }),
        await jwt({}, { iss: 'https://evil.example.com' }),
        await jwt({}, { key: strangerKey }),
        await jwt({ tokenwarden_user: 'nobody' }),
        await jwt({ tokenwarden_user: 42 }),
      ];
      for (const token of bad) {
        const res = await app.api('GET', '/api/me', undefined, token);
        assert.equal(res.status, 401, token);
        assert.equal(res.body.error, 'invalid_token');
      }
    });

    it('refuses an access token exchanged from a PAT (it speaks for a PAT, and carries pat_id)', async () => {
      const res = await app.api('GET', '/api/me', undefined, await jwt({ pat_id: 'tok_00000000000000000000' }));
      assert.equal(res.status, 401);
      assert.match(String(res.body.error_description), /token exchange/);
    });

    it('refuses an ID token (typ JWT) or a token without typ: only RFC 9068 access tokens', async () => {
      for (const typ of ['JWT', 'jwt', 'id_token+jwt']) {
        const res = await app.api('GET', '/api/me', undefined, await jwt({}, { typ }));
        assert.equal(res.status, 401, typ);
        assert.match(String(res.body.error_description), /typ must be at\+jwt/);
      }
      const untyped = await new SignJWT({ tokenwarden_user: userId })
        .setProtectedHeader({ alg: 'ES256', kid: 'idp-1' })
        .setIssuer(issuer)
        .setAudience(audience)
        .setExpirationTime('5m')
        .sign(signingKey);
      assert.equal((await app.api('GET', '/api/me', undefined, untyped)).status, 401);
      const prefixed = await jwt({}, { typ: 'application/at+jwt' });
      assert.equal(
        (await app.api('GET', '/api/me', undefined, prefixed)).status,
        200,
        'the media type form is the same',
      );
    });

    it('requires the scope an issuer is configured to require', async () => {
      const without = await app.api('GET', '/api/me', undefined, await jwt({ scope: 'openid' }, { iss: strictIssuer }));
      assert.equal(without.status, 401);
      assert.match(String(without.body.error_description), /tokenwarden/);
      const withScope = await jwt({ scope: 'openid tokenwarden' }, { iss: strictIssuer });
      assert.equal((await app.api('GET', '/api/me', undefined, withScope)).status, 200);
      const asArray = await jwt({ scp: ['tokenwarden'] }, { iss: strictIssuer });
      assert.equal((await app.api('GET', '/api/me', undefined, asArray)).status, 200);
    });

    it('refuses a disabled user', async () => {
      const u = await app.createUser();
      await app.api('PATCH', `/api/users/${u}`, { disabled: true });
      const res = await app.api('GET', '/api/me', undefined, await jwt({ tokenwarden_user: u }));
      assert.equal(res.status, 401);
    });
  });
});

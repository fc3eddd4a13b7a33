import assert from 'node:assert/strict';

import { createRemoteJWKSet, jwtVerify } from 'jose';

import { basic, startApp, type TestApp } from './support/app.ts';

describe('POST /introspect (RFC 7662)', () => {
  let app: TestApp;
  let userId: string;

  before(async () => {
    app = await startApp();
    userId = await app.createUser('alice');
  });
  after(() => app.close());

  it('answers a live PAT with every RFC 7662 member and the PAT extensions', async () => {
    const expiresAt = new Date(Date.now() + 86_400_000);
    const pat = await app.createPat(userId, {
      name: 'ci deploy',
      scopes: ['repo:read', 'repo:write'],
      expires_at: expiresAt.toISOString(),
      resource: 'https://api.example.com',
    });
    // A bound PAT answers the resource servers that serve its resource (see resource-binding.test.ts).
    const served = await app.api('POST', '/api/clients', { resources: ['https://api.example.com'] });
    const res = await app.introspect(pat.token, {
      clientId: String(served.body.client_id),
      clientSecret: String(served.body.client_secret),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const b = res.body;
    assert.equal(b.active, true);
    assert.equal(b.sub, userId);
    assert.equal(b.username, 'alice');
    assert.equal(b.client_id, 'personal-access-token');
    assert.equal(b.scope, 'repo:read repo:write');
    assert.equal(b.exp, Math.floor(expiresAt.getTime() / 1000));
    assert.equal(typeof b.iat, 'number');
    assert.ok(Math.abs(Number(b.iat) - Date.now() / 1000) < 60);
    assert.equal(b.iss, app.config.issuer);
    assert.equal(b.aud, 'https://api.example.com');
    assert.equal(b.jti, pat.id);
    assert.notEqual(b.jti, pat.token);
    assert.equal(b.token_type, 'Bearer');
    assert.equal(b.token_kind, 'personal_access_token');
    assert.equal(b.pat_name, 'ci deploy');
  });

  it('omits exp and aud for a PAT without expiry or resource', async () => {
    const unlimited = await startApp({ env: { TOKEN_MAX_LIFETIME_DAYS: '0' } });
    try {
      const pat = await unlimited.createPat(await unlimited.createUser(), { scopes: ['read'], expires_at: null });
      const res = await unlimited.introspect(pat.token);
      assert.equal(res.body.active, true);
      assert.equal('exp' in res.body, false);
      assert.equal('aud' in res.body, false);
    } finally {
      await unlimited.close();
    }
  });

  it('uses the configured PAT client_id', async () => {
    const custom = await startApp({ env: { PAT_CLIENT_ID: 'my-pats' } });
    try {
      const user = await custom.createUser();
      const pat = await custom.createPat(user);
      assert.equal((await custom.introspect(pat.token)).body.client_id, 'my-pats');
    } finally {
      await custom.close();
    }
  });

  it('returns exactly {"active":false} for an unknown well-formed PAT', async () => {
    const value = app.tw.services.format.generate();
    const res = await app.introspect(value);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { active: false });
  });

  it('answers a PAT with a bad checksum without touching MongoDB or Redis', async () => {
    const pat = await app.createPat(userId);
    const last = pat.token.at(-1) === 'A' ? 'B' : 'A';
    const tampered = pat.token.slice(0, -1) + last;
    app.counter.reset();
    const res = await app.introspect(tampered);
    assert.deepEqual(res.body, { active: false });
    assert.equal(app.counter.total('mongo.pats'), 0);
    assert.equal(app.counter.total('mongo.users'), 0);
    assert.equal(app.counter.total('redis'), 0);
  });

  it('returns {"active":false} for values that are not tokens at all', async () => {
    for (const value of [
      'x',
      'pat_',
      'pat_short',
      'not-a-token-at-all',
      `${app.config.pat.prefix}_${'a'.repeat(42)}`,
    ]) {
      const res = await app.introspect(value);
      assert.equal(res.status, 200, value);
      assert.deepEqual(res.body, { active: false }, value);
    }
  });

  it('returns {"active":false} once the PAT has expired (clock moved, no sleep)', async () => {
    const pat = await app.createPat(userId, { expires_at: new Date(Date.now() + 3_600_000).toISOString() });
    assert.equal((await app.introspect(pat.token)).body.active, true);
    app.clock.advance(3_600_000 + 1000);
    try {
      assert.deepEqual((await app.introspect(pat.token)).body, { active: false });
    } finally {
      app.clock.advance(-(3_600_000 + 1000));
    }
  });

  it('returns {"active":false} for a revoked PAT', async () => {
    const pat = await app.createPat(userId);
    assert.equal((await app.introspect(pat.token)).body.active, true);
    const del = await app.api('DELETE', `/api/users/${userId}/tokens/${pat.id}`);
    assert.equal(del.status, 204);
    assert.deepEqual((await app.introspect(pat.token)).body, { active: false });
  });

  it('returns {"active":false} while the user is disabled, and active again once re-enabled', async () => {
    const bob = await app.createUser('bob');
    const pat = await app.createPat(bob);
    assert.equal((await app.introspect(pat.token)).body.active, true);
    const off = await app.api('PATCH', `/api/users/${bob}`, { disabled: true });
    assert.equal(off.status, 200);
    assert.equal(off.body.disabled, true);
    assert.deepEqual((await app.introspect(pat.token)).body, { active: false });
    await app.api('PATCH', `/api/users/${bob}`, { disabled: false });
    assert.equal((await app.introspect(pat.token)).body.active, true);
  });

  it('introspects OAuth access tokens from /token through the same endpoint', async () => {
    const issued = await app.form('/token', { grant_type: 'client_credentials' }, { Authorization: basic(app.rs) });
    assert.equal(issued.status, 200);
    const token = String(issued.body.access_token);
    const res = await app.introspect(token);
    assert.equal(res.body.active, true);
    assert.equal(res.body.client_id, app.rs.clientId);
    assert.equal(res.body.token_type, 'Bearer');
    assert.equal('token_kind' in res.body, false);
  });

  it('answers {"active":false} for OAuth tokens of a client that has been deleted', async () => {
    const created = await app.api('POST', '/api/clients', { client_name: 'short-lived' });
    const client = { clientId: String(created.body.client_id), clientSecret: String(created.body.client_secret) };
    const issued = await app.form('/token', { grant_type: 'client_credentials' }, { Authorization: basic(client) });
    const token = String(issued.body.access_token);
    assert.equal((await app.introspect(token)).body.active, true);
    assert.equal((await app.api('DELETE', `/api/clients/${client.clientId}`)).status, 204);
    assert.deepEqual((await app.introspect(token)).body, { active: false });
  });

  it('answers a token_type_hint of refresh_token for a PAT just the same', async () => {
    const pat = await app.createPat(userId);
    const res = await app.form(
      '/introspect',
      { token: pat.token, token_type_hint: 'refresh_token' },
      { Authorization: basic(app.rs) },
    );
    assert.equal(res.body.active, true);
  });

  it('answers with a signed JWT (RFC 9701) when asked with Accept: application/token-introspection+jwt', async () => {
    const pat = await app.createPat(userId, { name: 'jwt please' });
    const res = await fetch(`${app.url}/introspect`, {
      method: 'POST',
      headers: {
        Authorization: basic(app.rs),
        Accept: 'application/token-introspection+jwt',
        'Content-Type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token: pat.token }).toString(),
    });
    assert.equal(res.status, 200);
    assert.match(String(res.headers.get('content-type')), /^application\/token-introspection\+jwt/);
    const jwks = createRemoteJWKSet(new URL(`${app.url}/jwks`));
    const { payload, protectedHeader } = await jwtVerify(await res.text(), jwks, {
      issuer: app.config.issuer,
      audience: app.rs.clientId,
      typ: 'token-introspection+jwt',
    });
    assert.equal(protectedHeader.alg, 'ES256');
    const answer = payload.token_introspection as Record<string, unknown>;
    assert.equal(answer.active, true);
    assert.equal(answer.jti, pat.id);
    assert.equal(answer.pat_name, 'jwt please');
  });
});

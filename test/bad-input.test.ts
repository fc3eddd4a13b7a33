import assert from 'node:assert/strict';

import { basic, startApp, type TestApp } from './support/app.ts';

describe('bad input at /introspect and /revoke', () => {
  let app: TestApp;
  let pat: { id: string; token: string };

  before(async () => {
    app = await startApp();
    pat = await app.createPat(await app.createUser());
  });
  after(() => app.close());

  const endpoints = ['/introspect', '/revoke'] as const;

  for (const path of endpoints) {
    describe(path, () => {
      it('answers a missing token with 400 invalid_request', async () => {
        const res = await app.form(path, {}, { Authorization: basic(app.rs) });
        assert.equal(res.status, 400);
        assert.equal(res.body.error, 'invalid_request');
        assert.match(String(res.body.error_description), /token/);
      });

      it('answers an empty token with 400 invalid_request', async () => {
        const res = await app.form(path, 'token=', { Authorization: basic(app.rs) });
        assert.equal(res.status, 400);
        assert.equal(res.body.error, 'invalid_request');
      });

      it('answers a 10 KB token without error', async () => {
        const res = await app.form(path, { token: 'a'.repeat(10_240) }, { Authorization: basic(app.rs) });
        assert.equal(res.status, 200);
        if (path === '/introspect') assert.deepEqual(res.body, { active: false });
      });

      it('rejects a repeated token parameter with 400 invalid_request', async () => {
        const body = `token=${pat.token}&token=${pat.token}`;
        const res = await app.form(path, body, { Authorization: basic(app.rs) });
        assert.equal(res.status, 400);
        assert.equal(res.body.error, 'invalid_request');
        assert.match(String(res.body.error_description), /token/);
      });

      it('rejects a body that is not application/x-www-form-urlencoded with 400', async () => {
        const res = await fetch(`${app.url}${path}`, {
          method: 'POST',
          headers: { Authorization: basic(app.rs), 'Content-Type': 'application/json' },
          body: JSON.stringify({ token: pat.token }),
        });
        assert.equal(res.status, 400);
        const body = (await res.json()) as Record<string, unknown>;
        assert.equal(body.error, 'invalid_request');
      });

      it('answers a wrong client secret over Basic with 401 invalid_client and a Basic challenge', async () => {
        const res = await app.form(
          path,
          { token: pat.token },
          {
            Authorization: basic({ clientId: app.rs.clientId, clientSecret: 'wrong' }),
          },
        );
        assert.equal(res.status, 401);
        assert.equal(res.body.error, 'invalid_client');
        assert.match(String(res.headers.get('www-authenticate')), /^Basic /);
      });

      it('answers a wrong client secret in the body with 401 invalid_client', async () => {
        const res = await app.form(path, { token: pat.token, client_id: app.rs.clientId, client_secret: 'wrong' });
        assert.equal(res.status, 401);
        assert.equal(res.body.error, 'invalid_client');
      });

      it('answers an unknown client with 401 invalid_client', async () => {
        const res = await app.form(
          path,
          { token: pat.token },
          { Authorization: basic({ clientId: 'nobody', clientSecret: 'x' }) },
        );
        assert.equal(res.status, 401);
        assert.equal(res.body.error, 'invalid_client');
      });

      it('answers a garbled Authorization header with 400 invalid_request', async () => {
        const res = await app.form(path, { token: pat.token }, { Authorization: 'Basic !!!not-base64' });
        assert.equal(res.status, 400);
        assert.equal(res.body.error, 'invalid_request');
      });

      it('answers GET with a JSON 404, not a crash', async () => {
        const res = await fetch(`${app.url}${path}?token=${pat.token}`, { headers: { Authorization: basic(app.rs) } });
        assert.equal(res.status, 404);
        assert.equal(((await res.json()) as Record<string, unknown>).error, 'not_found');
      });
    });
  }

  it('left the PAT untouched through all of the above', async () => {
    assert.equal((await app.introspect(pat.token)).body.active, true);
  });

  it('accepts client_secret_post as well as client_secret_basic', async () => {
    const res = await app.form('/introspect', {
      token: pat.token,
      client_id: app.rs.clientId,
      client_secret: app.rs.clientSecret,
    });
    assert.equal(res.status, 200);
    assert.equal(res.body.active, true);
  });
});

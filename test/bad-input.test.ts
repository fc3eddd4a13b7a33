import assert from 'node:assert/strict';
import { connect } from 'node:net';

import { basic, startApp, type TestApp } from './support/app.ts';

describe('bad input at /introspect and /revoke', () => {
  let app: TestApp;
  let pat: { id: string; token: string };

  let userId: string;
  before(async () => {
    app = await startApp();
    userId = await app.createUser();
  });
  after(() => app.close());
  // Every test has its own PAT, and none of these requests may change it: no test depends on another's order.
  beforeEach(async () => {
    pat = await app.createPat(userId);
  });
  afterEach(async function () {
    if (this.currentTest?.state !== 'passed') return;
    assert.equal((await app.introspect(pat.token)).body.active, true, 'the bad request left the PAT untouched');
  });

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

      it('answers GET, PUT and DELETE with 405 and Allow: POST', async () => {
        for (const method of ['GET', 'PUT', 'DELETE']) {
          const res = await fetch(`${app.url}${path}?token=${pat.token}`, {
            method,
            headers: { Authorization: basic(app.rs) },
          });
          assert.equal(res.status, 405, method);
          assert.equal(res.headers.get('allow'), 'POST', method);
          assert.equal(((await res.json()) as Record<string, unknown>).error, 'invalid_request', method);
        }
      });
    });
  }

  it('accepts client_secret_post as well as client_secret_basic', async () => {
    const res = await app.form('/introspect', {
      token: pat.token,
      client_id: app.rs.clientId,
      client_secret: app.rs.clientSecret,
    });
    assert.equal(res.status, 200);
    assert.equal(res.body.active, true);
  });

  it('shrugs off clients that go away mid-body: no error logged, the next request answered', async () => {
    const watched = await startApp({ captureLogs: true });
    try {
      const { port } = new URL(watched.url);
      for (const auth of [`Authorization: ${basic(watched.rs)}\r\n`, '']) {
        await new Promise<void>((resolve, reject) => {
          const socket = connect({ port: Number(port), host: '127.0.0.1' }, () => {
            socket.write(
              `POST /introspect HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/x-www-form-urlencoded\r\n` +
                'Content-Length: 200\r\n\r\ntoken=pat_',
              () => socket.destroy(),
            );
          });
          socket.once('close', () => resolve());
          socket.once('error', reject);
        });
      }
      const own = await watched.createPat(await watched.createUser());
      const next = await watched.introspect(own.token);
      assert.equal(next.status, 200);
      assert.equal(next.body.active, true);
      const errors = watched.logs.filter((line) => /"level":(50|60)/.test(line));
      assert.deepEqual(errors, []);
    } finally {
      await watched.close();
    }
  });
});

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

import { StoreUnavailableError, type Storage } from '../adapters/types.ts';
import { basic, startApp, type TestApp } from './support/app.ts';

const sha256 = (v: string) => createHash('sha256').update(v).digest('hex');

describe('logs', () => {
  let app: TestApp;
  const secrets: string[] = [];

  before(async () => {
    app = await startApp({ captureLogs: true });
    secrets.push(app.config.adminClient.clientSecret, app.rs.clientSecret, await app.adminToken());
    const user = await app.createUser();
    const pat = await app.createPat(user, { scopes: ['tokens:manage'] });
    secrets.push(pat.token);
    await app.introspect(pat.token);
    await app.introspect(pat.token.slice(0, -1) + 'x');
    const rotated = await app.api('POST', `/api/users/${user}/tokens/${pat.id}/rotate`, { grace_seconds: 5 });
    secrets.push(String(rotated.body.token));
    await app.api('GET', '/api/me/tokens', undefined, String(rotated.body.token));
    await app.form(
      '/introspect',
      { token: String(rotated.body.token) },
      { Authorization: basic({ clientId: app.rs.clientId, clientSecret: 'wrong' }) },
    );
    await app.revoke(String(rotated.body.token));
    const issued = await app.form('/token', { grant_type: 'client_credentials' }, { Authorization: basic(app.rs) });
    secrets.push(String(issued.body.access_token));
    await app.introspect(String(issued.body.access_token));
    await fetch(`${app.url}/introspect?token=${pat.token}`);
  });
  after(() => app.close());

  it('writes one structured JSON line per request: method, path, status, duration, request id', () => {
    const requests = app.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request');
    assert.ok(requests.length >= 10);
    for (const r of requests) {
      assert.equal(typeof r.method, 'string');
      assert.match(String(r.path), /^\//);
      assert.equal(typeof r.status, 'number');
      assert.equal(typeof r.ms, 'number');
      assert.equal(typeof r.req_id, 'string');
    }
    assert.ok(requests.some((r) => r.path === '/introspect' && r.status === 401));
  });

  it('never contains a token value, client secret, access token, or a hash of one, even at debug level', () => {
    assert.ok(app.logs.length > 0);
    const all = app.logs.join('\n');
    for (const secret of secrets) {
      assert.equal(all.includes(secret), false, 'a secret leaked into the logs');
      assert.equal(all.includes(sha256(secret)), false, 'a hash of a secret leaked into the logs');
    }
    assert.equal(/authorization/i.test(all), false, 'no Authorization header is logged');
  });

  it('logs a store outage (503) as a warning and anything unexpected (500) as an error', async () => {
    const failWith: { error: Error | null } = { error: null };
    const broken = await startApp({
      captureLogs: true,
      wrapStorage: (storage: Storage) => ({
        ...storage,
        users: {
          ...storage.users,
          get: (id) => (failWith.error ? Promise.reject(failWith.error) : storage.users.get(id)),
        },
      }),
    });
    try {
      const user = await broken.createUser();
      const failed = async (error: Error, status: number) => {
        failWith.error = error;
        const res = await broken.api('GET', `/api/users/${user}`);
        failWith.error = null;
        assert.equal(res.status, status);
        const line = broken.logs
          .map((l) => JSON.parse(l) as { level: number; msg: string; path?: string })
          .findLast((l) => l.msg === 'request failed' && l.path === `/api/users/${user}`);
        return line?.level;
      };
      assert.equal(await failed(new StoreUnavailableError('MongoDB is unreachable (injected)'), 503), 40);
      assert.equal(await failed(new Error('a bug (injected)'), 500), 50);
    } finally {
      await broken.close();
    }
  });
});

import assert from 'node:assert/strict';
import { request } from 'node:http';

import { basic, startApp, type TestApp } from './support/app.ts';

type Row = Record<string, unknown>;

/** POST from a chosen loopback source address (the server sees it as the client's address). */
function postFrom(localAddress: string, url: string, body: string, headers: Record<string, string>) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: Row }>((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', localAddress, headers: { ...headers, 'Content-Length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? (JSON.parse(text) as Row) : {} }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('leaked-credential revocation (POST /api/credentials/revoke)', () => {
  let app: TestApp;
  let userId: string;
  before(async () => {
    app = await startApp({ env: { CREDENTIAL_REVOCATIONS_PER_ADDRESS: '5' } });
    userId = await app.createUser();
  });
  after(() => app.close());

  const report = (credentials: unknown, from = '127.0.0.1') =>
    postFrom(from, `${app.url}/api/credentials/revoke`, JSON.stringify({ credentials }), {
      'Content-Type': 'application/json',
    });

  it('revokes every live PAT among the values, answers 202 either way, and audits the reason', async () => {
    const leaked = await app.createPat(userId, { name: 'leaked' });
    const safe = await app.createPat(userId, { name: 'safe' });
    const res = await report([leaked.token, 'ghp_notours', app.tw.services.format.generate(), leaked.token]);
    assert.equal(res.status, 202);
    assert.deepEqual((await app.introspect(leaked.token)).body, { active: false });
    assert.equal((await app.introspect(safe.token)).body.active, true);
    const nothing = await report(['nothing to see'], '127.0.0.2');
    assert.equal(nothing.status, 202, 'no oracle: the same answer when nothing matched');
    const events = (await app.api('GET', `/api/audit?token_id=${leaked.id}&type=token.revoked`)).body.data as Row[];
    assert.equal(events.length, 1);
    assert.deepEqual(events[0]?.details, { reason: 'leaked' });
    assert.equal(events[0]?.via, 'credential_revocation');
  });

  it('revokes the token behind a rotated-out value still in its grace period', async () => {
    const pat = await app.createPat(userId);
    const rotated = await app.api('POST', `/api/users/${userId}/tokens/${pat.id}/rotate`, { grace_seconds: 600 });
    await report([pat.token], '127.0.0.3');
    assert.deepEqual((await app.introspect(String(rotated.body.token))).body, { active: false });
  });

  it('refuses more than 1,000 values, bad shapes, and unknown fields with 400', async () => {
    for (const bad of [Array.from({ length: 1001 }, () => 'x'), [], 'pat_x', [42]]) {
      const res = await report(bad, '127.0.0.4');
      assert.equal(res.status, 400);
      assert.equal(res.body.error, 'invalid_request');
    }
  });

  it('is rate-limited per source address with 429 and Retry-After', async () => {
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await report(['x'], '127.0.0.9')).status);
    assert.deepEqual(statuses, [202, 202, 202, 202, 202, 429]);
    const limited = await report(['x'], '127.0.0.9');
    assert.equal(limited.body.error, 'too_many_requests');
    assert.ok(Number(limited.headers['retry-after']) > 0);
    assert.equal((await report(['x'], '127.0.0.10')).status, 202, 'other addresses are not affected');
  });
});

describe('failed client authentication limits', () => {
  let app: TestApp;
  let pat: { token: string };
  before(async () => {
    app = await startApp({ env: { AUTH_FAILURES_PER_CLIENT: '3', AUTH_FAILURES_PER_ADDRESS: '6' } });
    pat = await app.createPat(await app.createUser());
  });
  after(() => app.close());

  const introspectFrom = (from: string, client: { clientId: string; clientSecret: string }, viaBody = false) =>
    postFrom(
      from,
      `${app.url}/introspect`,
      viaBody
        ? new URLSearchParams({
            token: pat.token,
            client_id: client.clientId,
            client_secret: client.clientSecret,
          }).toString()
        : new URLSearchParams({ token: pat.token }).toString(),
      { 'Content-Type': 'application/x-www-form-urlencoded', ...(viaBody ? {} : { Authorization: basic(client) }) },
    );

  it('answers 429 to a client id after repeated failures, even with the right secret, without slowing others', async () => {
    const victim = await app.api('POST', '/api/clients', {});
    const client = { clientId: String(victim.body.client_id), clientSecret: String(victim.body.client_secret) };
    const wrong = { ...client, clientSecret: 'guess' };
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await introspectFrom(`127.0.1.${i + 1}`, wrong, i % 2 === 1)).status);
    assert.deepEqual(statuses, [401, 401, 401, 429]);
    const right = await introspectFrom('127.0.1.9', client);
    assert.equal(right.status, 429);
    assert.ok(Number(right.headers['retry-after']) > 0);
    assert.equal(right.body.error, 'too_many_requests');
    const other = await introspectFrom('127.0.1.9', app.rs);
    assert.equal(other.status, 200);
    assert.equal(other.body.active, true);
  });

  it('answers 429 to an address after repeated failures across client ids', async () => {
    const statuses = [];
    for (let i = 0; i < 7; i++) {
      statuses.push((await introspectFrom('127.0.2.1', { clientId: `nobody-${i}`, clientSecret: 'x' })).status);
    }
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 401, 429]);
    assert.equal((await introspectFrom('127.0.2.1', app.rs)).status, 429);
    assert.equal((await introspectFrom('127.0.2.2', app.rs)).status, 200);
  });

  it('lets the window pass', async () => {
    app.clock.advance(61_000);
    try {
      assert.equal((await introspectFrom('127.0.2.1', app.rs)).status, 200);
    } finally {
      app.clock.advance(-61_000);
    }
  });
});

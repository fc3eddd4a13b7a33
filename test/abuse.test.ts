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
    assert.deepEqual(events[0]?.details, { reason: 'leaked', credential: 'current' });
    assert.equal(events[0]?.via, 'credential_revocation');
  });

  it('revokes the token behind a rotated-out value still in its grace period', async () => {
    const pat = await app.createPat(userId);
    const rotated = await app.api('POST', `/api/users/${userId}/tokens/${pat.id}/rotate`, { grace_seconds: 600 });
    await report([pat.token], '127.0.0.3');
    assert.deepEqual((await app.introspect(String(rotated.body.token))).body, { active: false });
    const events = (await app.api('GET', `/api/audit?token_id=${pat.id}&type=token.revoked`)).body.data as Row[];
    assert.equal(events[0]?.details?.['credential' as never], 'grace', 'the audit log says a grace value acted');
  });

  it('looks every value up at once, not one query per value', async () => {
    const roomy = await startApp();
    try {
      const owner = await roomy.createUser();
      const pats = await Promise.all([1, 2, 3].map((i) => roomy.createPat(owner, { name: `batch ${i}` })));
      const unknown = Array.from({ length: 200 }, () => roomy.tw.services.format.generate());
      roomy.counter.reset();
      const res = await postFrom(
        '127.0.0.5',
        `${roomy.url}/api/credentials/revoke`,
        JSON.stringify({ credentials: [...unknown, ...pats.map((p) => p.token)] }),
        { 'Content-Type': 'application/json' },
      );
      assert.equal(res.status, 202);
      assert.equal(roomy.counter.counts.get('mongo.pats.findByHashes'), 1, 'one query for the current values');
      assert.equal(roomy.counter.counts.get('mongo.pats.findRotatedMany'), 1, 'one for the rotated-out values');
      assert.equal(roomy.counter.counts.get('mongo.pats.findByHash') ?? 0, 0, 'no query per value');
      for (const p of pats) assert.deepEqual((await roomy.introspect(p.token)).body, { active: false });
    } finally {
      await roomy.close();
    }
  });

  it('refuses more than 1,000 values, bad shapes, and unknown fields with 400', async () => {
    for (const bad of [Array.from({ length: 1001 }, () => 'x'), [], 'pat_x', [42]]) {
      const res = await report(bad, '127.0.0.4');
      assert.equal(res.status, 400);
      assert.equal(res.body.error, 'invalid_request');
    }
  });

  it('is rate-limited per value from one source address, with 429 and Retry-After', async () => {
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await report(['x'], '127.0.0.9')).status);
    assert.deepEqual(statuses, [202, 202, 202, 202, 202, 429]);
    const limited = await report(['x'], '127.0.0.9');
    assert.equal(limited.body.error, 'too_many_requests');
    assert.ok(Number(limited.headers['retry-after']) > 0);
    assert.equal((await report(['x'], '127.0.0.10')).status, 202, 'other addresses are not affected');
    assert.equal((await report(['a', 'b', 'c', 'd', 'e', 'f'], '127.0.0.11')).status, 429, 'six values count six');
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

  const introspectFrom = (
    from: string,
    client: { clientId: string; clientSecret: string },
    options: { viaBody?: boolean; forwardedFor?: string; to?: TestApp } = {},
  ) =>
    postFrom(
      from,
      `${(options.to ?? app).url}/introspect`,
      options.viaBody
        ? new URLSearchParams({
            token: pat.token,
            client_id: client.clientId,
            client_secret: client.clientSecret,
          }).toString()
        : new URLSearchParams({ token: pat.token }).toString(),
      {
        'Content-Type': 'application/x-www-form-urlencoded',
        ...(options.viaBody ? {} : { Authorization: basic(client) }),
        ...(options.forwardedFor === undefined ? {} : { 'X-Forwarded-For': options.forwardedFor }),
      },
    );
  const newClient = async () => {
    const res = await app.api('POST', '/api/clients', {});
    return { clientId: String(res.body.client_id), clientSecret: String(res.body.client_secret) };
  };

  it('never refuses a correct secret, whatever failures others caused with its client id', async () => {
    const victim = await newClient();
    const wrong = { ...victim, clientSecret: 'guess' };
    for (let i = 0; i < 30; i++) await introspectFrom(`127.0.1.${(i % 5) + 1}`, wrong, { viaBody: i % 2 === 1 });
    for (const from of ['127.0.1.1', '127.0.1.9']) {
      for (const viaBody of [false, true]) {
        const right = await introspectFrom(from, victim, { viaBody });
        assert.equal(right.status, 200, `from ${from}${viaBody ? ', in the body' : ''}`);
        assert.equal(right.body.active, true);
      }
    }
    const token = await postFrom('127.0.1.1', `${app.url}/token`, 'grant_type=client_credentials&scope=api', {
      'Content-Type': 'application/x-www-form-urlencoded',
      Authorization: basic(victim),
    });
    assert.equal(token.status, 200, 'nor at /token');
  });

  it('answers failures past the limit with 429, backing off longer each time, per client and address', async () => {
    const client = await newClient();
    const wrong = { ...client, clientSecret: 'guess' };
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await introspectFrom('127.0.3.1', wrong)).status);
    assert.deepEqual(statuses, [401, 401, 401, 429]);
    const first = await introspectFrom('127.0.3.1', wrong);
    assert.equal(first.status, 429);
    assert.equal(first.body.error, 'too_many_requests');
    assert.equal(first.headers['www-authenticate'], undefined);
    assert.equal(Number(first.headers['retry-after']), 1);
    assert.equal((await introspectFrom('127.0.3.2', wrong)).status, 401, 'another address has its own count');
    assert.equal((await introspectFrom('127.0.3.1', client)).status, 200, 'the right secret passes meanwhile');

    // A minute later (the address's own count starts over), the pair's next back-off is twice as long.
    app.clock.advance(61_000);
    try {
      for (let i = 0; i < 3; i++) assert.equal((await introspectFrom('127.0.3.1', wrong)).status, 401);
      const second = await introspectFrom('127.0.3.1', wrong);
      assert.equal(second.status, 429);
      assert.equal(Number(second.headers['retry-after']), 2, 'the back-off doubles');
    } finally {
      app.clock.advance(-61_000);
    }
  });

  it('answers an address 429 after repeated failures across client ids, but never for a right secret', async () => {
    const statuses = [];
    for (let i = 0; i < 7; i++) {
      statuses.push((await introspectFrom('127.0.2.1', { clientId: `nobody-${i}`, clientSecret: 'x' })).status);
    }
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 401, 429]);
    assert.equal((await introspectFrom('127.0.2.1', app.rs)).status, 200);
    assert.equal((await introspectFrom('127.0.2.2', { clientId: 'nobody', clientSecret: 'x' })).status, 401);
  });

  it('lets the window pass', async () => {
    app.clock.advance(61_000);
    try {
      const res = await introspectFrom('127.0.2.1', { clientId: 'nobody-else', clientSecret: 'x' });
      assert.equal(res.status, 401);
    } finally {
      app.clock.advance(-61_000);
    }
  });

  it('counts the address the trusted proxy saw, on the fast path and oidc-provider alike', async () => {
    const behindProxy = await startApp({
      env: { TRUST_PROXY: '1', AUTH_FAILURES_PER_CLIENT: '1000', AUTH_FAILURES_PER_ADDRESS: '4' },
    });
    try {
      const rs = behindProxy.rs;
      const wrong = { ...rs, clientSecret: 'guess' };
      // The client prepends made-up entries; the proxy appends the address it saw (198.51.100.7): that counts.
      const statuses = [];
      for (let i = 0; i < 5; i++) {
        const forwardedFor = `10.9.9.${i}, 198.51.100.7`;
        statuses.push((await introspectFrom('127.0.4.1', wrong, { forwardedFor, to: behindProxy })).status);
      }
      assert.deepEqual(statuses, [401, 401, 401, 401, 429], 'prepended entries do not dodge the address limit');
      // The fast path answers a right secret from that address (never throttled)…
      const right = await introspectFrom('127.0.4.1', rs, { forwardedFor: '198.51.100.7', to: behindProxy });
      assert.equal(right.status, 200);
      // …and a wrong one through the fast path's fallback is counted for the same address.
      const viaBody = await introspectFrom('127.0.4.1', wrong, {
        forwardedFor: '1.2.3.4, 198.51.100.7',
        viaBody: true,
        to: behindProxy,
      });
      assert.equal(viaBody.status, 429);
      const elsewhere = await introspectFrom('127.0.4.1', wrong, { forwardedFor: '198.51.100.8', to: behindProxy });
      assert.equal(elsewhere.status, 401, 'another client address behind the same proxy is not affected');
    } finally {
      await behindProxy.close();
    }
  });
});

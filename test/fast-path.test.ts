import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';

import { clientSecretMatches, hashClientSecret, storedSecretDigest } from '../server/services/client-secret-hash.ts';
import { basic, startApp, type TestApp } from './support/app.ts';
import { eventually } from './support/eventually.ts';

/**
 * Parity: the same requests through the PAT fast path (instance `fast`) and through oidc-provider only
 * (instance `slow`, INTROSPECTION_FAST_PATH=false), both on the same database and cache. Status, the headers that
 * matter and the JSON text (member order included) must be identical.
 */
describe('introspection fast path', () => {
  let fast: TestApp;
  let slow: TestApp;
  let userId: string;
  /** A resource server registered as serving https://api.example.com (resource binding). */
  let api: { clientId: string; clientSecret: string };

  before(async () => {
    fast = await startApp();
    const uri = fast.config.storage.kind === 'mongodb' ? fast.config.storage.uri : '';
    slow = await startApp({ env: { MONGODB_URI: uri, ISSUER: fast.config.issuer, INTROSPECTION_FAST_PATH: 'false' } });
    userId = await fast.createUser('parity-user');
    const registered = await fast.api('POST', '/api/clients', { resources: ['https://api.example.com'] });
    api = { clientId: String(registered.body.client_id), clientSecret: String(registered.body.client_secret) };
  });
  after(async () => {
    await slow.close();
    await fast.close();
  });

  async function fastPathCount(): Promise<number> {
    const text = await (await fetch(`${fast.url}/metrics`)).text();
    return [...text.matchAll(/^tokenwarden_introspection_fast_path_total\{[^}]*\} (\d+)/gm)].reduce(
      (n, m) => n + Number(m[1]),
      0,
    );
  }

  async function both(body: string, headers: Record<string, string>) {
    const send = (app: TestApp) =>
      fetch(`${app.url}/introspect`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
        body,
      });
    const [a, b] = [await send(fast), await send(slow)];
    const [ta, tb] = [await a.text(), await b.text()];
    assert.equal(a.status, b.status, `status for ${body}`);
    assert.equal(ta, tb, `body for ${body}`);
    for (const h of ['content-type', 'cache-control', 'www-authenticate', 'retry-after']) {
      assert.equal(a.headers.get(h), b.headers.get(h), `${h} for ${body}`);
    }
    return { status: a.status, text: ta };
  }

  const auth = () => ({ Authorization: basic(fast.rs) });
  const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

  it('answers live PATs exactly like oidc-provider, through the fast path', async () => {
    const full = await fast.createPat(userId, {
      name: 'full',
      scopes: ['repo:read', 'repo:write'],
      expires_at: new Date(Date.now() + 86_400_000).toISOString(),
      resource: 'https://api.example.com',
    });
    const bare = await fast.createPat(userId, { name: 'bare', scopes: [] });
    const before = await fastPathCount();
    for (const token of [full.token, bare.token]) {
      const res = await both(form({ token }), { Authorization: basic(api) });
      assert.equal((JSON.parse(res.text) as { active: unknown }).active, true);
      await both(form({ token, token_type_hint: 'access_token' }), { Authorization: basic(api) });
      await both(form({ token, client_id: api.clientId, client_secret: api.clientSecret }), {});
    }
    assert.equal((await fastPathCount()) - before, 6, 'the fast path answered each of them');
  });

  it('applies resource binding exactly like oidc-provider, through the fast path', async () => {
    const bound = await fast.createPat(userId, { name: 'bound', resource: 'https://api.example.com' });
    const unbound = await fast.createPat(userId, { name: 'unbound' });
    const before = await fastPathCount();
    const answers: string[] = [];
    for (const [token, headers] of [
      [bound.token, { Authorization: basic(api) }],
      [bound.token, auth()],
      [bound.token, {}],
      [unbound.token, auth()],
    ] as const) {
      const body =
        'Authorization' in headers
          ? form({ token })
          : form({ token, client_id: fast.rs.clientId, client_secret: fast.rs.clientSecret });
      answers.push((await both(body, headers)).text);
    }
    assert.equal((await fastPathCount()) - before, 4, 'the fast path answered each of them');
    assert.equal((JSON.parse(answers[0]!) as { aud: unknown }).aud, 'https://api.example.com');
    assert.equal(answers[1], '{"active":false}', 'a client that does not serve the resource');
    assert.equal(answers[2], '{"active":false}');
    assert.equal((JSON.parse(answers[3]!) as { active: unknown }).active, true, 'unbound: every client');
  });

  it('reads encoded and oddly split bodies as oidc-provider does, through the fast path', async () => {
    const { token } = await fast.createPat(userId, { name: 'encoded' });
    const enc = (s: string) => [...s].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('');
    const { clientId, clientSecret } = fast.rs;
    const bodies = [
      `&token=${token}&&`,
      `%74oken=${token}`,
      `token=${enc(token)}`,
      `token=${token}&token_type_hint=access%5Ftoken`,
      `token=${token}&client_id=${enc(clientId)}&client_secret=${enc(clientSecret)}`,
    ];
    const before = await fastPathCount();
    for (const body of bodies) {
      const res = await both(body, body.includes('client_secret') ? {} : auth());
      assert.equal((JSON.parse(res.text) as { active: unknown }).active, true, body);
    }
    assert.equal((await fastPathCount()) - before, bodies.length, 'the fast path answered each of them');
    const inactive = await both(`token=${token.slice(0, 5)}+${token.slice(6)}`, auth());
    assert.equal(inactive.text, '{"active":false}');
    // Raw non-ASCII bytes (UTF-8, no escapes): the fast path reads the body as oidc-provider does, whatever the bytes.
    const counting = await fastPathCount();
    for (const body of [`token=${token}\u00e9`, `token=\u00e9${token.slice(1)}`]) {
      assert.equal((await both(body, auth())).text, '{"active":false}', body);
    }
    const hinted = await both(`token=${token}&token_type_hint=\u4e2d`, auth());
    assert.equal((JSON.parse(hinted.text) as { active: unknown }).active, true, 'an unknown hint is ignored');
    assert.equal((await fastPathCount()) - counting, 3, 'answered by the fast path');

    // oidc-provider's body parser stops at the 1000th separator: the fast path must not read further than it does.
    const counted = await fastPathCount();
    const within = await both(`${'&'.repeat(999)}token=${token}`, auth());
    assert.equal((JSON.parse(within.text) as { active: unknown }).active, true);
    assert.equal(await fastPathCount(), counted + 1, '999 separators: still the fast path');
    for (const body of [`${'&'.repeat(1000)}token=${token}`, `${'a=1&'.repeat(1000)}token=${token}`]) {
      assert.equal((await both(body, auth())).status, 400, 'the token after the 1000th separator is not read');
    }
    assert.equal(await fastPathCount(), counted + 1, 'left to oidc-provider');
  });

  it('reads Basic credentials as oidc-provider does, and checks secrets of every length', async () => {
    const { token } = await fast.createPat(userId, { name: 'basic-variants' });
    const { clientId, clientSecret } = fast.rs;
    const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
    const enc = (s: string) => [...s].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('');
    const accepted = [
      `Basic ${b64(`${clientId}:${clientSecret}`).replace(/=+$/, '')}`,
      `basic ${b64(`${clientId}:${clientSecret}`)}`,
      `Basic ${b64(`${enc(clientId)}:${enc(clientSecret)}`)}`,
    ];
    const before = await fastPathCount();
    for (const Authorization of accepted) {
      const res = await both(form({ token }), { Authorization });
      assert.equal((JSON.parse(res.text) as { active: unknown }).active, true, Authorization);
    }
    assert.equal((await fastPathCount()) - before, accepted.length, 'the fast path answered each of them');

    // Near misses: each one is refused by both paths in the same words.
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    const refused = [
      clientSecret.slice(0, -1),
      `${clientSecret}x`,
      `${clientSecret}${clientSecret}`,
      flip(clientSecret, 0),
      flip(clientSecret, clientSecret.length - 1),
      `${clientSecret.slice(0, -1)}é`,
      ' ',
    ];
    for (const secret of refused) {
      const res = await both(form({ token }), { Authorization: `Basic ${b64(`${clientId}:${secret}`)}` });
      // Non-ASCII credentials are malformed (400); the others are wrong (401).
      assert.equal(res.status, /^[\x20-\x7e]+$/.test(secret) ? 401 : 400, `secret ${JSON.stringify(secret)}`);
    }
    for (const Authorization of [
      `Basic  ${b64(`${clientId}:${clientSecret}`)}`,
      `Basic ${b64(`${clientId}:${clientSecret}`).replace(/\+/g, '-').replace(/\//g, '_')}x`,
      `Basic ${b64(`${clientId}\u0000:${clientSecret}`)}`,
      `Basic ${b64(clientId)}`,
      'Basic',
      'Basic ',
    ]) {
      const res = await both(form({ token }), { Authorization });
      assert.notEqual(res.status, 200, Authorization);
    }
  });

  it('counts every introspection it answers in the request metrics, with its latency', async () => {
    const pat = await fast.createPat(userId, { name: 'counted' });
    await fast.introspect(pat.token);
    const read = async () => {
      const text = await (await fetch(`${fast.url}/metrics`)).text();
      const value = (pattern: RegExp) => Number(text.match(pattern)?.[1] ?? Number.NaN);
      const labels = 'endpoint="\\/introspect",outcome="active"';
      return {
        requests: value(new RegExp(`^tokenwarden_http_requests_total\\{${labels}\\} (\\S+)$`, 'm')),
        count: value(new RegExp(`^tokenwarden_http_request_duration_seconds_count\\{${labels}\\} (\\S+)$`, 'm')),
        sum: value(new RegExp(`^tokenwarden_http_request_duration_seconds_sum\\{${labels}\\} (\\S+)$`, 'm')),
        inf: value(
          new RegExp(`^tokenwarden_http_request_duration_seconds_bucket\\{le="\\+Inf",${labels}\\} (\\S+)$`, 'm'),
        ),
        fast: value(/^tokenwarden_introspection_fast_path_total\{outcome="active"\} (\S+)$/m),
        memory: value(/^tokenwarden_pat_lookups_total\{layer="memory"\} (\S+)$/m),
      };
    };
    const before = await read();
    for (let i = 0; i < 7; i++) assert.equal((await fast.introspect(pat.token)).body.active, true);
    const after = await read();
    for (const key of ['requests', 'count', 'inf', 'fast', 'memory'] as const) {
      assert.equal(after[key] - before[key], 7, key);
    }
    assert.ok(after.sum > before.sum, 'latency was added to the sum');
  });

  it('answers inactive PATs exactly like oidc-provider', async () => {
    const revoked = await fast.createPat(userId);
    await fast.revoke(revoked.token);
    const bob = await fast.createUser('parity-disabled');
    const disabled = await fast.createPat(bob);
    await fast.api('PATCH', `/api/users/${bob}`, { disabled: true });
    const tampered = revoked.token.slice(0, -1) + (revoked.token.endsWith('A') ? 'B' : 'A');
    for (const token of [revoked.token, disabled.token, tampered, fast.tw.services.format.generate(), 'pat_short']) {
      const res = await both(form({ token }), auth());
      assert.equal(res.text, '{"active":false}');
    }
  });

  it('leaves every other request to oidc-provider, with the same answers', async () => {
    const pat = await fast.createPat(userId);
    const before = await fastPathCount();
    const cases: Array<[string, Record<string, string>]> = [
      [form({ token: pat.token }), { Authorization: basic({ clientId: fast.rs.clientId, clientSecret: 'wrong' }) }],
      [form({ token: pat.token, client_id: fast.rs.clientId, client_secret: 'wrong' }), {}],
      [form({ token: pat.token }), { Authorization: basic({ clientId: 'nobody', clientSecret: 'x' }) }],
      [form({ token: pat.token }), {}],
      [`token=${pat.token}&token=${pat.token}`, auth()],
      [form({ token: pat.token, extra: '1' }), auth()],
      [form({ token: '' }), auth()],
      [form({}), auth()],
      [form({ token: pat.token, client_id: 'someone-else' }), auth()],
      [form({ token: pat.token, client_secret: fast.rs.clientSecret }), auth()],
      [form({ token: pat.token }), { Authorization: 'Basic !!!' }],
    ];
    for (const [body, headers] of cases) await both(body, headers);
    assert.equal(await fastPathCount(), before, 'none of these went through the fast path');
  });

  it('answers OAuth access tokens through the fast path too, exactly like oidc-provider', async () => {
    const issued = await fast.form('/token', { grant_type: 'client_credentials' }, auth());
    const accessToken = String(issued.body.access_token);
    const before = await fastPathCount();
    const live = await both(form({ token: accessToken }), auth());
    const answer = JSON.parse(live.text) as Record<string, unknown>;
    assert.equal(answer.active, true);
    assert.equal(answer.sub, fast.rs.clientId);
    await both(form({ token: accessToken }), auth()); // now from the caches
    await both(form({ token: 'an-opaque-oauth-token' }), auth());
    assert.equal((await fastPathCount()) - before, 3);
    assert.equal((await fast.revoke(accessToken)).status, 200);
    // The other instance drops its in-process copy on the broadcast (within a second).
    await eventually(async () => (await slow.introspect(accessToken)).body.active === false, 1000);
    assert.deepEqual(JSON.parse((await both(form({ token: accessToken }), auth())).text), { active: false });
  });

  it('remembers an Authorization header only while its client is unchanged, and never a failed one', async () => {
    const registered = await fast.api('POST', '/api/clients', { client_name: 'short-lived' });
    const client = { clientId: String(registered.body.client_id), clientSecret: String(registered.body.client_secret) };
    const { token } = await fast.createPat(userId, { name: 'remembered header' });
    const before = await fastPathCount();
    for (let i = 0; i < 3; i++) assert.equal((await fast.introspect(token, client)).body.active, true);
    assert.equal((await fastPathCount()) - before, 3, 'answered by the fast path, the header remembered');
    const wrong = { ...client, clientSecret: `${client.clientSecret}x` };
    for (let i = 0; i < 2; i++) assert.equal((await fast.introspect(token, wrong)).status, 401);
    assert.equal((await fast.api('DELETE', `/api/clients/${client.clientId}`)).status, 204);
    const after = await fast.introspect(token, client);
    assert.equal(after.status, 401, 'a deleted client’s remembered header no longer authenticates');
    assert.equal(after.body.error, 'invalid_client');
  });

  it('remembers a header per keep-alive connection, and still follows every change of its client at once', async () => {
    const resource = 'https://orders.example.com';
    const registered = await fast.api('POST', '/api/clients', { client_name: 'one connection', resources: [resource] });
    const clientId = String(registered.body.client_id);
    const authorization = basic({ clientId, clientSecret: String(registered.body.client_secret) });
    const { token } = await fast.createPat(userId, { name: 'bound to orders, one connection', resource });
    // One socket for every request: the per-connection memory is what answers after the first.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const ports = new Set<number>();
    const introspect = (auth: string) =>
      new Promise<{ status: number; active: unknown }>((resolve, reject) => {
        const req = httpRequest(
          `${fast.url}/introspect`,
          {
            method: 'POST',
            agent,
            headers: { Authorization: auth, 'Content-Type': 'application/x-www-form-urlencoded' },
          },
          (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => {
              ports.add(req.socket!.localPort!);
              resolve({ status: res.statusCode!, active: (JSON.parse(text) as { active?: unknown }).active });
            });
          },
        );
        req.on('error', reject);
        req.end(`token=${token}`);
      });
    try {
      const before = await fastPathCount();
      for (let i = 0; i < 3; i++) assert.deepEqual(await introspect(authorization), { status: 200, active: true });
      assert.equal((await fastPathCount()) - before, 3);
      // Another header on the same connection is its own check: a wrong secret fails, and the right one still works.
      assert.equal((await introspect(basic({ clientId, clientSecret: 'not-the-secret' }))).status, 401);
      assert.equal((await introspect(authorization)).active, true);
      // The client stops serving the resource: the very next request on this connection sees it.
      assert.equal((await fast.api('PATCH', `/api/clients/${clientId}`, { resources: [] })).status, 200);
      assert.deepEqual(await introspect(authorization), { status: 200, active: false });
      assert.equal((await fast.api('PATCH', `/api/clients/${clientId}`, { resources: [resource] })).status, 200);
      assert.equal((await introspect(authorization)).active, true);
      // Deleted: the remembered header no longer authenticates, on this connection either.
      assert.equal((await fast.api('DELETE', `/api/clients/${clientId}`)).status, 204);
      assert.equal((await introspect(authorization)).status, 401);
      assert.equal(ports.size, 1, 'every request went over one connection');
    } finally {
      agent.destroy();
    }
  });

  it('leaves JWT responses to oidc-provider', async () => {
    const pat = await fast.createPat(userId);
    const before = await fastPathCount();
    const res = await fetch(`${fast.url}/introspect`, {
      method: 'POST',
      headers: {
        ...auth(),
        'Content-Type': 'application/x-www-form-urlencoded',
        Accept: 'application/token-introspection+jwt',
      },
      body: form({ token: pat.token }),
    });
    assert.match(String(res.headers.get('content-type')), /token-introspection\+jwt/);
    assert.equal(await fastPathCount(), before);
  });

  it('records last use and exposes lookups by layer in /metrics', async () => {
    const pat = await fast.createPat(userId);
    await fast.introspect(pat.token);
    await fast.introspect(pat.token);
    const text = await (await fetch(`${fast.url}/metrics`)).text();
    assert.match(text, /tokenwarden_pat_lookups_total\{layer="database"\} \d+/);
    assert.match(text, /tokenwarden_pat_lookups_total\{layer="redis"\} \d+/);
    assert.match(text, /tokenwarden_http_requests_total\{endpoint="\/introspect",outcome="active"\} \d+/);
    assert.match(
      text,
      /tokenwarden_http_request_duration_seconds_bucket\{le="0.005",endpoint="\/introspect",outcome="active"\} \d+/,
    );
    assert.match(text, /tokenwarden_last_used_writes_total \d+/);
  });
});

describe('client secret comparison', () => {
  it('matches only the secret whose hash is stored, whatever the lengths involved', () => {
    for (const length of [1, 43, 255, 256, 257, 1000, 4096]) {
      const secret = 'S'.repeat(length - 1) + 'x';
      const digest = storedSecretDigest(hashClientSecret(secret))!;
      assert.equal(clientSecretMatches(digest, secret), true, `length ${length}`);
      assert.equal(clientSecretMatches(digest, secret.slice(0, -1)), false, `prefix of ${length}`);
      assert.equal(clientSecretMatches(digest, `${secret}x`), false, `extension of ${length}`);
      assert.equal(clientSecretMatches(digest, `${secret.slice(0, -1)}y`), false, `last byte of ${length}`);
      assert.equal(clientSecretMatches(digest, ''), false, `empty against ${length}`);
    }
    const accented = storedSecretDigest(hashClientSecret('ab\u00e9'))!;
    assert.equal(clientSecretMatches(accented, 'ab\u00e9'), true);
    assert.equal(clientSecretMatches(accented, 'abcd'), false);
  });

  it('stores no secret: a stored value is a hash, and a plaintext one is no digest', () => {
    const stored = hashClientSecret('the-secret');
    assert.ok(!stored.includes('the-secret'));
    assert.equal(storedSecretDigest('the-secret'), null);
  });
});

import assert from 'node:assert/strict';

import fc from 'fast-check';

import { basic, startApp, type TestApp } from './support/app.ts';

/**
 * Hostile input, property-based (fast-check): random and adversarial methods, content types, bodies (JSON of any
 * shape, deep nesting, form fields repeated, invalid UTF-8, NUL bytes, large) and Authorization headers, sent to
 * every endpoint. Never a 5xx, never a hang; every rejection is an RFC-shaped JSON error. FUZZ_RUNS sets the number
 * of cases per endpoint (CI runs 10,000 through `npm run test:fuzz`).
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 150);

describe(`hostile input (${RUNS} cases per endpoint)`, function () {
  this.timeout(Math.max(60_000, RUNS * 200));
  let app: TestApp;
  let admin: string;
  let pat: { id: string; token: string };
  let userId: string;

  before(async () => {
    app = await startApp();
    admin = await app.adminToken();
    userId = await app.createUser();
    pat = await app.createPat(userId, { scopes: ['tokens:manage'] });
  });
  after(async () => {
    // Nothing stored was lost: the user and the token made before the storm are still there (the storm may
    // legitimately have rotated or revoked the token: it had the admin's and the token's own credentials).
    assert.equal((await app.api('GET', `/api/users/${userId}`)).status, 200);
    assert.equal((await app.api('GET', `/api/users/${userId}/tokens/${pat.id}`)).status, 200);
    await app.close();
  });

  const text = fc.oneof(
    fc.string({ maxLength: 64 }),
    fc.string({ unit: 'binary', maxLength: 64 }),
    fc.constantFrom(
      '',
      '\u0000',
      'pat_',
      '%',
      '%zz',
      '+',
      '&',
      '=',
      '\uD800',
      '{"a":',
      'null',
      '[]',
      'A'.repeat(70_000),
    ),
  );
  const form = fc
    .array(
      fc.tuple(
        fc.constantFrom('token', 'token_type_hint', 'client_id', 'client_secret', 'grant_type', 'scope', 'x'),
        text,
      ),
      {
        maxLength: 6,
      },
    )
    .map((pairs) => new URLSearchParams(pairs).toString());
  const nested = fc.integer({ min: 1, max: 20_000 }).map((depth) => `${'['.repeat(depth)}${']'.repeat(depth)}`);
  const body = fc.oneof(
    form,
    fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.stringify(v)),
    fc
      .dictionary(
        fc.constantFrom('name', 'scopes', 'expires_at', 'username', 'credentials', '__proto__', 'constructor', 'x'),
        fc.jsonValue({ maxDepth: 3 }),
      )
      .map((o) => JSON.stringify(o)),
    nested,
    fc.uint8Array({ maxLength: 512 }).map((bytes) => Buffer.from(bytes)),
    text,
  );
  const contentType = fc.constantFrom(
    undefined,
    'application/x-www-form-urlencoded',
    'application/x-www-form-urlencoded; charset=latin1',
    'application/json',
    'application/json; charset=utf-16',
    'text/plain',
    'multipart/form-data; boundary=x',
    'application/jwt',
    '*/*',
    'garbage',
  );
  const authorization = fc.oneof(
    fc.constant(undefined),
    fc.constant('ADMIN'),
    fc.constant('RS'),
    fc.constant('PAT'),
    text.map((t) => `Basic ${Buffer.from(t.slice(0, 2000)).toString('base64')}`),
    text.map((t) => `Bearer ${t.slice(0, 4000).replace(/[\r\n]/g, '')}`),
    fc.string({ maxLength: 40 }).map((t) => t.replace(/[\r\n]/g, '')),
  );
  const method = fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD');

  const endpoints = [
    '/introspect',
    '/revoke',
    '/token',
    '/api/users',
    `/api/users/USER/tokens`,
    `/api/users/USER/tokens/PAT/rotate`,
    '/api/me/tokens',
    '/api/credentials/revoke',
    '/api/tokens?status=all&limit=5',
    '/.well-known/oauth-authorization-server',
  ];

  for (const endpoint of endpoints) {
    it(`survives anything sent to ${endpoint.split('?')[0]}`, async () => {
      await fc.assert(
        fc.asyncProperty(method, contentType, body, authorization, async (m, type, payload, auth) => {
          const headers: Record<string, string> = {};
          if (type) headers['Content-Type'] = type;
          if (auth === 'ADMIN') headers.Authorization = `Bearer ${admin}`;
          else if (auth === 'RS') headers.Authorization = basic(app.rs);
          else if (auth === 'PAT') headers.Authorization = `Bearer ${pat.token}`;
          else if (auth !== undefined) {
            if (!/^[\t\x20-\x7e\x80-\xff]*$/.test(auth)) return; // not a header value an HTTP client can send
            headers.Authorization = auth;
          }
          const path = endpoint.replace('USER', userId).replace('PAT', pat.id);
          const withBody = m !== 'GET' && m !== 'HEAD';
          const res = await fetch(`${app.url}${path}`, {
            method: m,
            headers,
            ...(withBody ? { body: payload } : {}),
            signal: AbortSignal.timeout(10_000),
          });
          const answer = await res.text();
          assert.ok(res.status < 500, `${m} ${path} → ${res.status} ${answer.slice(0, 200)}`);
          if (res.status >= 400 && m !== 'HEAD' && res.status !== 431) {
            const parsed = JSON.parse(answer) as { error?: unknown; error_description?: unknown };
            assert.equal(typeof parsed.error, 'string', `${m} ${path} → ${res.status} ${answer.slice(0, 200)}`);
          }
        }),
        { numRuns: RUNS },
      );
    });
  }
});

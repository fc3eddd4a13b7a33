/**
 * The admit/refuse decisions every resource server in front of Tokenwarden must make, written once and run against
 * each of them (Apache's mod_auth_openidc, an openid-client API): a live PAT is admitted as its user; no token, an
 * unknown, revoked, expired or disabled user's PAT is refused with 401; scope rules admit a PAT with several scopes
 * and refuse a missing scope with 403 `insufficient_scope`; an OAuth access token is admitted as its client.
 */
import assert from 'node:assert/strict';

import { eventually } from '../support/eventually.ts';
import { interop } from './hooks.ts';

/** What a resource server answered. */
export interface Answer {
  readonly status: number;
  readonly body: string;
  /** Who the resource server decided the caller is (`X-Remote-User`). */
  readonly remoteUser: string;
  readonly challenge: string;
  /** What the resource server logged during the request, for failure messages. */
  readonly log: string;
}

/** Asks the resource server for `path` with `token` as the bearer (none when undefined). */
export type Call = (path: string, token?: string) => Promise<Answer>;

/** Asserts the status, with the resource server's answer and log in the message when it differs. */
export function expectStatus(answer: Answer, status: number, what: string): void {
  // (Not "expected …": mocha cuts a message at ": expected".)
  assert.equal(
    answer.status,
    status,
    `${what}: the resource server answered ${answer.status}\nWWW-Authenticate: ${answer.challenge}\n` +
      `${answer.body.startsWith('<') ? '' : `body: ${answer.body.slice(0, 200)}\n`}` +
      `its log during the request:\n${answer.log || '(nothing)'}`,
  );
}

/** Registers the shared cases (inside a `describe`). */
export function resourceServerDecisions(call: Call): void {
  it('refuses a request without a token at every protected location', async function () {
    for (const path of ['/api/hello', '/api/read', '/api/write']) {
      const answer = await call(path);
      expectStatus(answer, 401, path);
      assert.match(answer.challenge, /^Bearer\b/);
    }
  });

  it('admits a live PAT, as its user', async function () {
    const { createUser, createPat } = interop();
    const userId = await createUser();
    const { token } = await createPat(userId, ['read']);
    const answer = await call('/api/hello', token);
    expectStatus(answer, 200, 'live PAT');
    assert.equal(answer.remoteUser, userId);
  });

  it('refuses an unknown PAT and a value that is no PAT at all', async function () {
    for (const value of [interop().unknownPat(), 'not-a-token']) {
      const answer = await call('/api/hello', value);
      expectStatus(answer, 401, value);
      assert.match(answer.challenge, /error="invalid_token"/);
    }
  });

  it('refuses a PAT as soon as it is revoked', async function () {
    const { createUser, createPat, revoke } = interop();
    const { token } = await createPat(await createUser(), ['read']);
    expectStatus(await call('/api/hello', token), 200, 'before revocation');
    await revoke(token);
    const answer = await call('/api/hello', token);
    expectStatus(answer, 401, 'after revocation');
    assert.match(answer.challenge, /error="invalid_token"/);
  });

  it('refuses a PAT once its expiry, brought two seconds ahead through the admin API, has passed', async function () {
    const { createUser, createPat, admin, introspect } = interop();
    const userId = await createUser();
    const { id, token } = await createPat(userId, ['read']);
    expectStatus(await call('/api/hello', token), 200, 'before the new expiry');
    // Whole seconds: introspection's exp is in seconds, so the refusal is due from this instant on.
    const expiresAt = new Date((Math.floor(Date.now() / 1000) + 2) * 1000);
    const patched = await admin('PATCH', `/api/users/${userId}/tokens/${id}`, { expires_at: expiresAt.toISOString() });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal((await introspect(token)).exp, expiresAt.getTime() / 1000);

    let refusedAt = 0;
    await eventually(async () => {
      const answer = await call('/api/hello', token);
      if (answer.status === 200) return false;
      refusedAt = Date.now();
      expectStatus(answer, 401, 'after the expiry');
      return true;
    }, 15_000);
    assert.ok(refusedAt >= expiresAt.getTime(), `refused ${expiresAt.getTime() - refusedAt} ms before the expiry`);
    assert.deepEqual(await introspect(token), { active: false });
  });

  it('refuses the PAT of a user once the user is disabled', async function () {
    const { createUser, createPat, admin } = interop();
    const userId = await createUser();
    const { token } = await createPat(userId, ['read', 'write']);
    expectStatus(await call('/api/hello', token), 200, 'before disabling');
    const patched = await admin('PATCH', `/api/users/${userId}`, { disabled: true });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    expectStatus(await call('/api/hello', token), 401, 'user disabled');
  });

  it('applies scope rules to a PAT with several scopes and to PATs with one', async function () {
    const { createUser, createPat } = interop();
    const userId = await createUser();
    const both = (await createPat(userId, ['read', 'write'])).token;
    const readOnly = (await createPat(userId, ['read'])).token;
    const writeOnly = (await createPat(userId, ['write'])).token;
    const repoRead = (await createPat(userId, ['repo:read'])).token;

    expectStatus(await call('/api/read', both), 200, '"read write" at /api/read');
    expectStatus(await call('/api/write', both), 200, '"read write" at /api/write');
    expectStatus(await call('/api/read', readOnly), 200, '"read" at /api/read');
    expectStatus(await call('/api/write', writeOnly), 200, '"write" at /api/write');

    for (const [token, path, scope] of [
      [readOnly, '/api/write', 'read'],
      [writeOnly, '/api/read', 'write'],
      [repoRead, '/api/read', 'repo:read'],
    ] as const) {
      const answer = await call(path, token);
      expectStatus(answer, 403, `"${scope}" at ${path}`);
      assert.match(answer.challenge, /error="insufficient_scope"/);
      assert.equal(answer.remoteUser, userId);
    }
  });

  it('admits an OAuth access token (client_credentials), as its client', async function () {
    const { clientId, token } = await interop().clientCredentialsToken();
    const answer = await call('/api/hello', token);
    expectStatus(answer, 200, 'client_credentials access token');
    if (answer.remoteUser !== clientId) {
      const introspection = JSON.stringify(await interop().introspect(token));
      assert.fail(
        `the caller is "${answer.remoteUser}", not the client ${clientId}; Tokenwarden's answer: ${introspection}`,
      );
    }
  });
}

/**
 * Apache httpd with mod_auth_openidc (Debian's build) as an OAuth 2.0 resource server in front of a few static
 * files, validating bearer tokens at Tokenwarden's `/introspect` through its https front, with the guide's
 * configuration included unchanged. The OAuth access token is admitted with mod_auth_openidc's defaults (REMOTE_USER
 * from `sub`, no OIDCOAuthRemoteUserClaim).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { RESOURCE_SERVER_CONF } from './apache.ts';
import { expectStatus, resourceServerDecisions, type Answer } from './decisions.ts';
import { interop } from './hooks.ts';

async function get(path: string, token?: string): Promise<Answer> {
  const { apache } = interop();
  const mark = apache.errorLogMark();
  const res = await fetch(`${apache.url}${path}`, {
    headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(10_000),
  });
  return {
    status: res.status,
    body: await res.text(),
    remoteUser: res.headers.get('x-remote-user') ?? '',
    challenge: res.headers.get('www-authenticate') ?? '',
    log: apache.errorLogSince(mark),
  };
}

describe('Apache mod_auth_openidc as a resource server', function () {
  resourceServerDecisions(get);

  it('serves the protected document itself once it admits a token', async function () {
    const { createUser, createPat } = interop();
    const { token } = await createPat(await createUser(), ['read', 'write']);
    for (const path of ['/api/hello', '/api/read', '/api/write']) {
      const answer = await get(path, token);
      expectStatus(answer, 200, path);
      assert.equal(answer.body, `${path}\n`);
    }
  });

  it("keeps admitting a revoked PAT where mod_auth_openidc's default introspection cache is left on", async function () {
    // Why the guide's configuration sets OIDCOAuthTokenIntrospectionInterval -1.
    const { createUser, createPat, revoke } = interop();
    const { token } = await createPat(await createUser(), ['read']);
    expectStatus(await get('/cached', token), 200, 'before revocation, cached');
    await revoke(token);
    expectStatus(await get('/api/hello', token), 401, 'after revocation, asked every time');
    expectStatus(await get('/cached', token), 200, 'after revocation, from the cache');
  });

  it('runs the configuration docs/protect-your-api.md shows, verbatim', function () {
    const conf = readFileSync(RESOURCE_SERVER_CONF, 'utf8');
    const fence = '```apache same-as=test/interop/apache-resource-server.conf\n';
    const text = readFileSync(join(import.meta.dirname, '../../docs/protect-your-api.md'), 'utf8');
    assert.ok(text.includes(fence + conf + '```\n'), 'docs/protect-your-api.md must show apache-resource-server.conf');
  });
});

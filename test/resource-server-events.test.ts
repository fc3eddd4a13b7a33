import assert from 'node:assert/strict';

import { generateKeyPair, SignJWT } from 'jose';

import { createResourceServer, type ResourceServerOptions } from '../server/resource-server/index.ts';
import { eventually } from './support/eventually.ts';
import { serveProtected, type ProtectedApi } from './support/protected-api.ts';
import { startTokenwardenWithEvents, type TokenwardenWithEvents } from './support/ssf-transmitter.ts';

/**
 * Revocation events and the cache's bound, end to end: a real Tokenwarden, its SSF transmitter (Tokenwarden's own
 * once it serves /.well-known/ssf-configuration, until then the stand-in of test/support/ssf-transmitter.ts), and
 * an API protected by `tokenwarden/resource-server`.
 *
 * - With the subscription live, a warm cache answers without asking Tokenwarden, and a revoked PAT is refused
 *   within 1 s of its revocation (poll and push, whatever revoked it).
 * - With the subscription down, an answer is served at most `fallbackTtl` (or not at all with 0), Tokenwarden
 *   down means 503 once that is over, and the events missed meanwhile are applied when it comes back.
 */
describe('tokenwarden/resource-server: revocation events', function () {
  this.timeout(30_000);
  let tw: TokenwardenWithEvents;
  let client: { clientId: string; clientSecret?: string };
  const running: ProtectedApi[] = [];
  const user = async () => tw.app.createUser();
  const bearer = (token: string) => `Bearer ${token}`;

  /** A resource server with events (poll unless said otherwise) and its API, once its subscription is up. */
  async function subscribed(options: Partial<ResourceServerOptions> = {}, pushPath?: string) {
    const api = await serveProtected(
      (url) =>
        createResourceServer({
          issuer: tw.issuer,
          clientId: client.clientId,
          clientSecret: client.clientSecret!,
          onError: () => undefined,
          ...(pushPath ? { events: { delivery: 'push', endpointUrl: `${url}${pushPath}`, verifyInterval: 1000 } } : {}),
          ...options,
        }),
      pushPath,
    );
    running.push(api);
    if (options.events !== false) await eventually(async () => api.rs.status().subscription === 'up');
    return api;
  }

  /** Milliseconds from `revoke` until the route refuses the token (polling every 25 ms). */
  async function timeToRefusal(api: ProtectedApi, token: string, revoke: () => Promise<unknown>): Promise<number> {
    const start = performance.now();
    await revoke();
    await eventually(async () => (await api.get('/read', bearer(token))).status === 401, 5000);
    return performance.now() - start;
  }

  /** Requests a token until it is answered from the cache (no introspection), proving the cache warm. */
  async function warm(api: ProtectedApi, token: string) {
    assert.equal((await api.get('/read', bearer(token))).status, 200);
    const before = tw.gateway.count('/introspect');
    assert.equal((await api.get('/read', bearer(token))).status, 200);
    assert.equal(tw.gateway.count('/introspect'), before, 'answered from the cache');
  }

  before(async function () {
    this.timeout(120_000);
    tw = await startTokenwardenWithEvents();
    client = await tw.client();
  });
  after(async () => {
    for (const api of running) {
      await api.close();
      await api.rs.close();
    }
    await tw?.close();
  });
  afterEach(() => tw.gateway.fail(undefined));

  describe(`subscription live (poll)`, () => {
    let api: ProtectedApi;
    before(async () => {
      api = await subscribed();
    });

    it('refuses a PAT revoked through the admin API within 1 s while the cache is warm', async () => {
      const userId = await user();
      const pat = await tw.app.createPat(userId);
      await warm(api, pat.token);
      const ms = await timeToRefusal(api, pat.token, () =>
        tw.app.api('DELETE', `/api/users/${userId}/tokens/${pat.id}`),
      );
      assert.ok(ms < 1000, `refused after ${Math.round(ms)} ms`);
      const res = await api.get('/read', bearer(pat.token));
      assert.equal(res.body.error, 'invalid_token');
    });

    it('refuses a PAT revoked at /revoke (RFC 7009) within 1 s', async () => {
      const pat = await tw.app.createPat(await user());
      await warm(api, pat.token);
      const ms = await timeToRefusal(api, pat.token, () => tw.app.revoke(pat.token));
      assert.ok(ms < 1000, `refused after ${Math.round(ms)} ms`);
    });

    it('refuses every PAT of a disabled user within 1 s (an event without a token)', async () => {
      const userId = await user();
      const pats = [await tw.app.createPat(userId), await tw.app.createPat(userId)];
      for (const pat of pats) await warm(api, pat.token);
      const ms = await timeToRefusal(api, pats[0]!.token, () =>
        tw.app.api('PATCH', `/api/users/${userId}`, { disabled: true }),
      );
      assert.ok(ms < 1000, `refused after ${Math.round(ms)} ms`);
      assert.equal((await api.get('/read', bearer(pats[1]!.token))).status, 401);
    });

    it('keeps answering other tokens from the cache meanwhile', async () => {
      const kept = await tw.app.createPat(await user());
      await warm(api, kept.token);
      const gone = await tw.app.createPat(await user());
      await warm(api, gone.token);
      await timeToRefusal(api, gone.token, () => tw.app.revoke(gone.token));
      const before = tw.gateway.count('/introspect');
      assert.equal((await api.get('/read', bearer(kept.token))).status, 200);
      assert.equal(tw.gateway.count('/introspect'), before);
    });

    it('acknowledges every SET it applied, in a later poll (RFC 8936)', async function () {
      if (!tw.standIn) this.skip();
      const pat = await tw.app.createPat(await user());
      const acknowledged = tw.standIn.acknowledged.length;
      await tw.app.revoke(pat.token);
      await eventually(async () => tw.standIn!.acknowledged.length > acknowledged);
      await eventually(async () => tw.standIn!.streams.every((s) => s.deleted || s.queue.size === 0));
      assert.deepEqual(tw.standIn.errors, []);
    });
  });

  describe('events the receiver must read conservatively (stand-in only: they need a transmitter to misbehave)', () => {
    let api: ProtectedApi;
    before(async function () {
      if (!tw.standIn) this.skip();
      api = await subscribed();
    });

    /** Whether the next request for `token` had to introspect (its cached answer was dropped). */
    async function dropped(token: string): Promise<boolean> {
      const before = tw.gateway.count('/introspect');
      assert.equal((await api.get('/read', bearer(token))).status, 200);
      return tw.gateway.count('/introspect') > before;
    }

    it('drops the token an event names, whatever its type', async () => {
      const userId = await user();
      const pat = await tw.app.createPat(userId);
      await warm(api, pat.token);
      const [jti] = tw.standIn!.emit('https://example.com/secevent/a-type-nobody-knows', {
        format: 'complex',
        user: { format: 'iss_sub', iss: tw.issuer, sub: userId },
        token: { format: 'opaque', id: pat.id },
      });
      await eventually(async () => tw.standIn!.acknowledged.includes(jti!));
      assert.equal(await dropped(pat.token), true);
    });

    it('empties the cache for an event whose subject it cannot read', async () => {
      const pats = [await tw.app.createPat(await user()), await tw.app.createPat(await user())];
      for (const pat of pats) await warm(api, pat.token);
      const [jti] = tw.standIn!.emit('https://schemas.openid.net/secevent/caep/event-type/session-revoked', {
        format: 'email',
        email: 'someone@example.com',
      });
      await eventually(async () => tw.standIn!.acknowledged.includes(jti!));
      for (const pat of pats) assert.equal(await dropped(pat.token), true);
    });

    it('reports a SET signed with another key (setErrs) and empties the cache', async () => {
      const pat = await tw.app.createPat(await user());
      await warm(api, pat.token);
      const forged = await new SignJWT({ events: { 'https://example.com/x': {} } })
        .setProtectedHeader({ alg: 'ES256', typ: 'secevent+jwt', kid: tw.key.kid })
        .setIssuer(tw.issuer)
        .setAudience(client.clientId)
        .setIssuedAt()
        .setJti('forged-1')
        .sign((await generateKeyPair('ES256')).privateKey);
      const [jti] = tw.standIn!.emit('https://example.com/x', {}, {}, forged);
      await eventually(async () => tw.standIn!.errors.some((e) => e.jti === jti));
      assert.equal(tw.standIn!.errors.find((e) => e.jti === jti)!.err, 'authentication_failed');
      assert.equal(await dropped(pat.token), true);
      tw.standIn!.errors.length = 0;
    });

    it('creates a new stream, and empties the cache, when the transmitter has lost its stream', async () => {
      const pat = await tw.app.createPat(await user());
      await warm(api, pat.token);
      const before = tw.standIn!.streams.filter((s) => !s.deleted && s.aud === client.clientId).length;
      const ours = tw.standIn!.streams.filter((s) => !s.deleted && s.aud === client.clientId).at(-1)!;
      tw.standIn!.forget(ours.id);
      await eventually(
        async () => tw.standIn!.streams.filter((s) => !s.deleted && s.aud === client.clientId).length === before,
      );
      await eventually(async () => api.rs.status().subscription === 'up');
      assert.equal(await dropped(pat.token), true);
    });

    it('stops counting as live while the transmitter pauses the stream, and empties the cache when it resumes', async () => {
      const pat = await tw.app.createPat(await user());
      await warm(api, pat.token);
      const ours = tw.standIn!.streams.filter((s) => !s.deleted && s.aud === client.clientId).at(-1)!;
      tw.standIn!.setStatus(ours.id, 'paused');
      await eventually(async () => api.rs.status().subscription === 'down');
      tw.standIn!.setStatus(ours.id, 'enabled');
      await eventually(async () => api.rs.status().subscription === 'up');
      assert.equal(await dropped(pat.token), true);
    });
  });

  describe('push delivery (RFC 8935)', () => {
    let api: ProtectedApi;
    before(async () => {
      api = await subscribed({}, '/ssf/events');
    });

    it('refuses a PAT revoked through the admin API within 1 s while the cache is warm', async () => {
      const userId = await user();
      const pat = await tw.app.createPat(userId);
      await warm(api, pat.token);
      const ms = await timeToRefusal(api, pat.token, () =>
        tw.app.api('DELETE', `/api/users/${userId}/tokens/${pat.id}`),
      );
      assert.ok(ms < 1000, `refused after ${Math.round(ms)} ms`);
    });

    it('answers the push endpoint as RFC 8935 says', async function () {
      const push = (headers: Record<string, string>, body: string) =>
        fetch(`${api.url}/ssf/events`, { method: 'POST', headers, body });
      let res = await push({ 'Content-Type': 'application/secevent+jwt', Authorization: 'Bearer wrong' }, 'x.y.z');
      assert.equal(res.status, 401);
      assert.equal(((await res.json()) as { err: string }).err, 'authentication_failed');
      if (!tw.standIn) return;
      const stream = tw.standIn.streams.filter((s) => !s.deleted && s.authorizationHeader).at(-1)!;
      const authorization = stream.authorizationHeader!;
      res = await push({ 'Content-Type': 'text/plain', Authorization: authorization }, 'x.y.z');
      assert.equal(res.status, 400);
      assert.equal(((await res.json()) as { err: string }).err, 'invalid_request');
      res = await push({ 'Content-Type': 'application/secevent+jwt', Authorization: authorization }, 'x.y.z');
      assert.equal(res.status, 400);
      res = await fetch(`${api.url}/ssf/events`);
      assert.equal(res.status, 405);
    });
  });

  describe('subscription down', () => {
    let offset = 0;
    const clock = () => Date.now() + offset;
    beforeEach(() => (offset = 0));
    // The stand-in transmitter's endpoints are under /ssf/, Tokenwarden's own under /api/ssf/.
    const ssfDown = () => tw.gateway.fail((path) => path.startsWith('/ssf/') || path.startsWith('/api/ssf/'));

    it('serves a warm answer at most fallbackTtl, then asks Tokenwarden again (and so refuses a revoked PAT)', async () => {
      const api = await subscribed({ clock, cache: { fallbackTtl: 20_000 }, events: { maxLag: 2000 } });
      const userId = await user();
      const [revoked, live] = [await tw.app.createPat(userId), await tw.app.createPat(userId)];
      await warm(api, revoked.token);
      await warm(api, live.token);
      ssfDown();
      await tw.app.api('DELETE', `/api/users/${userId}/tokens/${revoked.id}`);
      // The revocation event cannot arrive. Within the bound, the cached answer is still served…
      assert.equal((await api.get('/read', bearer(revoked.token))).status, 200);
      offset += 10_000;
      assert.equal(api.rs.status().live, false, 'the watermark is older than maxLag');
      await eventually(async () => api.rs.status().subscription === 'down');
      assert.equal((await api.get('/read', bearer(revoked.token))).status, 200, 'answers under fallbackTtl old');
      // …and not beyond it.
      offset += 11_000;
      const before = tw.gateway.count('/introspect');
      assert.equal((await api.get('/read', bearer(revoked.token))).status, 401);
      assert.equal((await api.get('/read', bearer(live.token))).status, 200, 'a live token is asked again');
      assert.equal(tw.gateway.count('/introspect') - before, 2);
      assert.equal((await api.get('/read', bearer(live.token))).status, 200, 'and cached again, for fallbackTtl');
      assert.equal(tw.gateway.count('/introspect') - before, 2);
      // Back up: the events missed meanwhile are delivered (unacknowledged SETs are sent again).
      tw.gateway.fail(undefined);
      await eventually(async () => api.rs.status().live);
    });

    it('with fallbackTtl 0, asks Tokenwarden on every request while the subscription is down', async () => {
      const api = await subscribed({ clock, cache: { fallbackTtl: 0 }, events: { maxLag: 2000 } });
      const pat = await tw.app.createPat(await user());
      await warm(api, pat.token);
      ssfDown();
      offset += 3000;
      const before = tw.gateway.count('/introspect');
      for (let i = 0; i < 3; i++) assert.equal((await api.get('/read', bearer(pat.token))).status, 200);
      assert.equal(tw.gateway.count('/introspect') - before, 3);
    });

    it('without events, keeps answers fallbackTtl', async () => {
      const api = await subscribed({ clock, events: false, cache: { fallbackTtl: 5000 } });
      const pat = await tw.app.createPat(await user());
      await warm(api, pat.token);
      assert.equal(api.rs.status().subscription, 'off');
      offset += 4000;
      const before = tw.gateway.count('/introspect');
      assert.equal((await api.get('/read', bearer(pat.token))).status, 200);
      assert.equal(tw.gateway.count('/introspect'), before);
      offset += 2000;
      assert.equal((await api.get('/read', bearer(pat.token))).status, 200);
      assert.equal(tw.gateway.count('/introspect') - before, 1);
    });

    it('with Tokenwarden down, serves warm answers fallbackTtl, then answers 503 (never 200 on a guess)', async () => {
      const api = await subscribed({ clock, cache: { fallbackTtl: 20_000 }, events: { maxLag: 2000 } });
      const pat = await tw.app.createPat(await user());
      await warm(api, pat.token);
      await tw.gateway.stop();
      try {
        offset += 10_000;
        assert.equal((await api.get('/read', bearer(pat.token))).status, 200);
        offset += 11_000;
        const res = await api.get('/read', bearer(pat.token));
        assert.equal(res.status, 503);
        assert.equal(res.headers.get('retry-after'), '5');
      } finally {
        await tw.gateway.start();
      }
      await eventually(async () => api.rs.status().live);
      assert.equal((await api.get('/read', bearer(pat.token))).status, 200);
    });
  });

  it('deletes its stream when closed', async function () {
    if (!tw.standIn) this.skip();
    const api = await subscribed();
    const stream = tw.standIn.streams.filter((s) => !s.deleted && s.aud === client.clientId).at(-1)!;
    await api.rs.close();
    assert.equal(stream.deleted, true);
    assert.equal(api.rs.status().subscription, 'closed');
  });

  it('is tested against the transmitter it reports', () => {
    // Which transmitter these tests ran against: the stand-in until Tokenwarden serves SSF itself.
    assert.ok(['stand-in', 'tokenwarden'].includes(tw.transmitter));
    if (tw.transmitter === 'stand-in') assert.ok(tw.standIn);
  });
});

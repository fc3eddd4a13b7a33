import assert from 'node:assert/strict';

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';

import type { Cache, Storage } from '../adapters/types.ts';
import { basic, startApp, type TestApp } from './support/app.ts';
import { eventsSettled } from './support/events.ts';
import { eventually } from './support/eventually.ts';
import { needsServices } from './support/hooks.ts';
import { startReceiver, type Receiver } from './support/receiver.ts';

const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';
const RISC = 'https://schemas.openid.net/secevent/risc/event-type/';
const VERIFICATION = 'https://schemas.openid.net/secevent/ssf/event-type/verification';
const PUSH = 'urn:ietf:rfc:8935';
const POLL = 'urn:ietf:rfc:8936';

interface Client {
  clientId: string;
  clientSecret: string;
  token: string;
}

async function registerClient(app: TestApp, name: string): Promise<Client> {
  const res = await app.api('POST', '/api/clients', { client_name: name });
  const client = { clientId: String(res.body.client_id), clientSecret: String(res.body.client_secret) };
  const token = await app.form('/token', { grant_type: 'client_credentials' }, { Authorization: basic(client) });
  assert.equal(token.status, 200, token.text);
  return { ...client, token: String(token.body.access_token) };
}

/** The SETs a receiver verified for `name`, as claims. */
async function setsAt(receiver: Receiver, channel: 'push' | 'poll', name: string): Promise<JWTPayload[]> {
  const all = await receiver.received();
  const mine = all.filter((r) => r.channel === channel && r.name === name);
  assert.ok(
    mine.every((r) => r.verified),
    JSON.stringify(mine.filter((r) => !r.verified)),
  );
  return mine.map((r) => r.body as JWTPayload);
}

const typeOf = (set: JWTPayload) => Object.keys(set.events as object)[0]!;
const eventOf = (set: JWTPayload) => Object.values(set.events as object)[0] as Record<string, unknown>;
const subjectOf = (set: JWTPayload) =>
  set.sub_id as {
    format: string;
    user?: { sub: string; iss: string };
    token?: { id: string };
    application?: { id: string };
  };

async function expectSet(
  receiver: Receiver,
  channel: 'push' | 'poll',
  name: string,
  match: (set: JWTPayload) => boolean,
): Promise<JWTPayload> {
  let found: JWTPayload | undefined;
  await eventually(async () => {
    found = (await setsAt(receiver, channel, name)).find(match);
    return found !== undefined;
  }, 15_000);
  return found!;
}

describe('SSF transmitter (SSF 1.0, RFC 8417, RFC 8935 push, RFC 8936 poll)', function () {
  this.timeout(90_000);
  before(needsServices);
  let app: TestApp;
  let receiver: Receiver;
  let pusher: Client;
  let poller: Client;
  let pushStream: string;
  let pollStream: string;

  const ssf = (client: Client, method: string, path: string, body?: unknown) =>
    app.api(method, path, body, client.token);

  before(async () => {
    receiver = await startReceiver();
    app = await startApp({ env: { EVENTS_ALLOWED_NETWORKS: '127.0.0.0/8', SSF_POLL_MAX_WAIT_SECONDS: '2' } });
    await receiver.transmitter(app.config.issuer);
    pusher = await registerClient(app, 'push receiver');
    poller = await registerClient(app, 'poll receiver');
    const push = await ssf(pusher, 'POST', '/api/ssf/stream', {
      delivery: {
        method: PUSH,
        endpoint_url: `${receiver.url}/ssf/push`,
        authorization_header: 'Bearer receiver-secret',
      },
      description: 'pushed',
    });
    assert.equal(push.status, 201, push.text);
    pushStream = String(push.body.stream_id);
    await receiver.push('push', pusher.clientId, 'Bearer receiver-secret');
    const poll = await ssf(poller, 'POST', '/api/ssf/stream', { delivery: { method: POLL } });
    assert.equal(poll.status, 201, poll.text);
    pollStream = String(poll.body.stream_id);
    const pollUrl = String((poll.body.delivery as Record<string, string>).endpoint_url);
    await receiver.poll('poll', { url: pollUrl, token: poller.token, audience: poller.clientId });
  });
  after(async () => {
    await receiver?.stopPoll('poll').catch(() => undefined);
    await app?.close();
    await receiver?.stop();
  });

  describe('metadata and stream management', () => {
    it('publishes transmitter metadata at /.well-known/ssf-configuration', async () => {
      const res = await fetch(`${app.url}/.well-known/ssf-configuration`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
      const meta = (await res.json()) as Record<string, unknown>;
      const issuer = app.config.issuer;
      assert.deepEqual(meta, {
        spec_version: '1_0',
        issuer,
        jwks_uri: `${issuer}/jwks`,
        delivery_methods_supported: [PUSH, POLL],
        configuration_endpoint: `${issuer}/api/ssf/stream`,
        status_endpoint: `${issuer}/api/ssf/status`,
        verification_endpoint: `${issuer}/api/ssf/verify`,
        authorization_schemes: [{ spec_urn: 'urn:ietf:rfc:6749' }],
        default_subjects: 'ALL',
      });
    });

    it('creates poll streams by default, with the transmitter’s poll URL, every supported event delivered', async () => {
      const created = await ssf(pusher, 'POST', '/api/ssf/stream', {});
      assert.equal(created.status, 201);
      const body = created.body;
      assert.equal(body.iss, app.config.issuer);
      assert.equal(body.aud, pusher.clientId);
      assert.equal((body.delivery as Record<string, string>).method, POLL);
      assert.equal(
        (body.delivery as Record<string, string>).endpoint_url,
        `${app.config.issuer}/api/ssf/poll/${String(body.stream_id)}`,
      );
      assert.deepEqual(body.events_delivered, body.events_supported);
      assert.ok((body.events_supported as string[]).includes(`${CAEP}credential-change`));
      assert.equal((await ssf(pusher, 'DELETE', `/api/ssf/stream?stream_id=${String(body.stream_id)}`)).status, 204);
    });

    it('lists, reads, updates and replaces a client’s own streams only; never returns the authorization header', async () => {
      const list = await ssf(pusher, 'GET', '/api/ssf/stream');
      assert.ok(Array.isArray(list.body));
      const mine = await ssf(pusher, 'GET', `/api/ssf/stream?stream_id=${pushStream}`);
      assert.equal(mine.status, 200);
      assert.ok(!mine.text.includes('receiver-secret'));
      assert.equal((await ssf(poller, 'GET', `/api/ssf/stream?stream_id=${pushStream}`)).status, 404);
      assert.equal((await ssf(poller, 'DELETE', `/api/ssf/stream?stream_id=${pushStream}`)).status, 404);
      const allOfPoller = await ssf(poller, 'GET', '/api/ssf/stream');
      assert.deepEqual(
        (allOfPoller.body as unknown as Array<{ stream_id: string }>).map((s) => s.stream_id),
        [pollStream],
      );

      const extra = await ssf(poller, 'POST', '/api/ssf/stream', {
        events_requested: [`${RISC}account-disabled`, 'urn:unknown'],
      });
      const id = String(extra.body.stream_id);
      assert.deepEqual(extra.body.events_delivered, [`${RISC}account-disabled`]);
      const patched = await ssf(poller, 'PATCH', '/api/ssf/stream', { stream_id: id, description: 'patched' });
      assert.equal(patched.status, 200);
      assert.equal(patched.body.description, 'patched');
      assert.deepEqual(patched.body.events_delivered, [`${RISC}account-disabled`], 'PATCH keeps what it does not name');
      const replaced = await ssf(poller, 'PUT', '/api/ssf/stream', { stream_id: id, delivery: { method: POLL } });
      assert.equal(replaced.body.description, undefined, 'PUT removes what it does not name');
      assert.deepEqual(replaced.body.events_delivered, replaced.body.events_supported);
      const wrongAud = await ssf(poller, 'PATCH', '/api/ssf/stream', { stream_id: id, aud: 'someone-else' });
      assert.equal(wrongAud.status, 400);
      assert.equal((await ssf(poller, 'DELETE', `/api/ssf/stream?stream_id=${id}`)).status, 204);
      assert.equal((await ssf(poller, 'GET', `/api/ssf/stream?stream_id=${id}`)).status, 404);
    });

    it('refuses a push endpoint on a private or loopback address unless allowed', async () => {
      const strict = await startApp({ memory: true, env: { EVENTS_ALLOWED_NETWORKS: '' } });
      try {
        const client = await registerClient(strict, 'strict');
        const res = await strict.api(
          'POST',
          '/api/ssf/stream',
          { delivery: { method: PUSH, endpoint_url: 'http://127.0.0.1:9/events' } },
          client.token,
        );
        assert.equal(res.status, 400);
        assert.match(String(res.body.error_description), /^delivery\.endpoint_url: /);
      } finally {
        await strict.close();
      }
    });

    it('lets a client keep several streams, each getting every event, up to SSF_MAX_STREAMS_PER_CLIENT', async () => {
      const small = await startApp({ memory: true, env: { SSF_MAX_STREAMS_PER_CLIENT: '2' } });
      try {
        // A plain client_credentials token, no scope asked for: what a resource server has.
        const client = await registerClient(small, 'two instances of one resource server');
        const create = () => small.api('POST', '/api/ssf/stream', { delivery: { method: POLL } }, client.token);
        const streams = [String((await create()).body.stream_id), String((await create()).body.stream_id)];
        assert.notEqual(streams[0], streams[1]);
        const third = await create();
        assert.equal(third.status, 409);
        assert.equal(third.body.error, 'conflict');
        assert.match(String(third.body.error_description), /at most 2 streams/);

        const userId = await small.createUser();
        const pat = await small.createPat(userId);
        await small.api('DELETE', `/api/users/${userId}/tokens/${pat.id}`);
        await eventsSettled(small);
        for (const stream of streams) {
          const polled = await small.api('POST', `/api/ssf/poll/${stream}`, { returnImmediately: true }, client.token);
          assert.equal(polled.status, 200, polled.text);
          const sets = Object.values(polled.body.sets as Record<string, string>);
          assert.ok(
            sets.map((set) => subjectOf(decodeJwt(set))).some((sub) => sub.token?.id === pat.id),
            `stream ${stream} got the revocation`,
          );
        }
        // Deleting one makes room again.
        await small.api('DELETE', `/api/ssf/stream?stream_id=${streams[0]}`, undefined, client.token);
        assert.equal((await create()).status, 201);
      } finally {
        await small.close();
      }
    });

    it('deletes a stream whose receiver went quiet for the inactivity timeout; a poll or an accepted push is activity', async () => {
      const idle = await startApp({ env: { SSF_STREAM_INACTIVITY_DAYS: '1' } });
      // A push receiver that accepts everything (the receiver process verifies against the other instance's keys).
      const accepting = createServer((req, res) => {
        req.resume();
        req.on('end', () => res.writeHead(202).end());
      });
      await new Promise<void>((resolve) => accepting.listen(0, '127.0.0.1', resolve));
      const acceptingUrl = `http://127.0.0.1:${(accepting.address() as AddressInfo).port}`;
      try {
        const client = await registerClient(idle, 'a receiver that crashes now and then');
        const create = async (delivery: unknown) => {
          const res = await idle.api('POST', '/api/ssf/stream', { delivery }, client.token);
          assert.equal(res.status, 201, res.text);
          return res.body;
        };
        const abandoned = await create({ method: POLL });
        assert.equal(abandoned.inactivity_timeout, 86_400, 'SSF §8.1.1: transmitter-supplied, in seconds');
        const polled = String((await create({ method: POLL })).stream_id);
        const pushed = String((await create({ method: PUSH, endpoint_url: `${acceptingUrl}/ssf` })).stream_id);

        idle.clock.advance(20 * 3600_000);
        const poll = await idle.api('POST', `/api/ssf/poll/${polled}`, { returnImmediately: true }, client.token);
        assert.equal(poll.status, 200);
        const userId = await idle.createUser();
        const pat = await idle.createPat(userId);
        await idle.api('DELETE', `/api/users/${userId}/tokens/${pat.id}`);
        await eventsSettled(idle);
        const delivered = await idle.storage.events.deliveries.list(pushed, 10);
        assert.deepEqual(
          delivered.map((d) => [d.event.type, d.state]),
          [['token.revoked', 'delivered']],
        );

        idle.clock.advance(5 * 3600_000);
        await idle.tw.services.outbox.sweep();
        const read = async (id: string) =>
          (await idle.api('GET', `/api/ssf/stream?stream_id=${id}`, undefined, client.token)).status;
        assert.equal(await read(String(abandoned.stream_id)), 404, 'no call for 25 h: deleted');
        assert.equal(await read(polled), 200, 'polled 5 h ago');
        assert.equal(await read(pushed), 200, 'accepted a push 5 h ago');
        const audit = await idle.api('GET', '/api/audit?type=ssf_stream.deleted');
        assert.deepEqual(
          (audit.body.data as Array<{ actor: string; details: Record<string, unknown> }>).map((e) => [
            e.actor,
            e.details,
          ]),
          [['system', { stream_id: abandoned.stream_id, client_id: client.clientId, reason: 'inactive' }]],
        );
      } finally {
        await idle.close();
        accepting.closeAllConnections();
        await new Promise((resolve) => accepting.close(resolve));
      }
    });

    it('takes only a registered client’s access token', async () => {
      const userId = await app.createUser();
      const { token } = await app.createPat(userId, { scopes: ['tokens:manage'] });
      assert.equal((await app.api('GET', '/api/ssf/stream', undefined, token)).status, 403);
      assert.equal((await app.api('GET', '/api/ssf/stream', undefined, null)).status, 401);
      assert.equal((await app.api('GET', '/api/ssf/stream', undefined, 'not-a-token')).status, 401);
      const audit = await app.api('GET', '/api/audit?type=ssf_stream.created');
      assert.ok((audit.body.data as Array<{ actor: string }>).some((e) => e.actor === `client:${pusher.clientId}`));
    });
  });

  describe('events, pushed and polled', () => {
    it('verification: a SET with the state, sub_id the stream (SSF §8.1.4)', async () => {
      assert.equal(
        (await ssf(pusher, 'POST', '/api/ssf/verify', { stream_id: pushStream, state: 'push-state' })).status,
        204,
      );
      assert.equal(
        (await ssf(poller, 'POST', '/api/ssf/verify', { stream_id: pollStream, state: 'poll-state' })).status,
        204,
      );
      const pushed = await expectSet(receiver, 'push', 'push', (s) => typeOf(s) === VERIFICATION);
      assert.deepEqual(eventOf(pushed), { state: 'push-state' });
      assert.deepEqual(pushed.sub_id, { format: 'opaque', id: pushStream });
      const polled = await expectSet(receiver, 'poll', 'poll', (s) => typeOf(s) === VERIFICATION);
      assert.deepEqual(eventOf(polled), { state: 'poll-state' });
      assert.equal(polled.aud, poller.clientId);
      assert.equal((await ssf(pusher, 'POST', '/api/ssf/verify', { stream_id: pollStream })).status, 404);
    });

    it('every revocation-relevant change, as CAEP/RISC SETs identified like introspection identifies them', async () => {
      const userId = await app.createUser();
      const revokedPat = await app.createPat(userId);
      const rotatedPat = await app.createPat(userId);
      const leakedPat = await app.createPat(userId);
      const shortenedPat = await app.createPat(userId);
      const introspected = await app.introspect(revokedPat.token);
      const tokenSubject = (id: string) => ({
        format: 'complex',
        user: { format: 'iss_sub', iss: app.config.issuer, sub: userId },
        token: { format: 'opaque', id },
      });

      await app.api('DELETE', `/api/users/${userId}/tokens/${revokedPat.id}`);
      await app.api('POST', `/api/users/${userId}/tokens/${rotatedPat.id}/rotate`, { grace_seconds: 60 });
      await fetch(`${app.url}/api/credentials/revoke`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ credentials: [leakedPat.token] }),
      });
      const exp = new Date(Date.now() + 3600_000);
      await app.api('PATCH', `/api/users/${userId}/tokens/${shortenedPat.id}`, { expires_at: exp.toISOString() });
      await app.api('PATCH', `/api/users/${userId}`, { disabled: true });
      await app.api('PATCH', `/api/users/${userId}`, { disabled: false });
      const other = await app.createUser();
      await app.api('DELETE', `/api/users/${other}`);
      const client = await registerClient(app, 'revoker');
      const oauthJti = String((await app.introspect(client.token, client)).body.jti);
      await app.revoke(client.token, client);

      for (const channel of ['push', 'poll'] as const) {
        const name = channel;
        const aud = channel === 'push' ? pusher.clientId : poller.clientId;
        const revoked = await expectSet(receiver, channel, name, (s) => subjectOf(s).token?.id === revokedPat.id);
        assert.equal(typeOf(revoked), `${CAEP}credential-change`);
        assert.deepEqual(revoked.sub_id, tokenSubject(revokedPat.id));
        assert.equal(subjectOf(revoked).token!.id, introspected.body.jti, 'the jti introspection reports');
        assert.equal(eventOf(revoked).change_type, 'revoke');
        assert.equal(eventOf(revoked).credential_type, 'personal-access-token');
        assert.equal(eventOf(revoked).initiating_entity, 'admin');
        assert.equal(revoked.aud, aud);
        assert.equal(revoked.iss, app.config.issuer);

        const rotated = await expectSet(receiver, channel, name, (s) => subjectOf(s).token?.id === rotatedPat.id);
        assert.equal(eventOf(rotated).change_type, 'update');
        assert.equal(typeof eventOf(rotated).previous_value_valid_until, 'number');

        const leakSets = await eventually(async () => {
          const sets = (await setsAt(receiver, channel, name)).filter((s) => subjectOf(s).token?.id === leakedPat.id);
          return sets.length === 2;
        }, 15_000).then(async () =>
          (await setsAt(receiver, channel, name)).filter((s) => subjectOf(s).token?.id === leakedPat.id),
        );
        const types = leakSets.map(typeOf).sort();
        assert.deepEqual(types, [`${CAEP}credential-change`, `${RISC}credential-compromise`]);
        assert.equal(leakSets[0]!.txn, leakSets[1]!.txn, 'one cause, one txn');
        assert.ok(leakSets.every((s) => eventOf(s).initiating_entity === 'policy'));

        const shortened = await expectSet(receiver, channel, name, (s) => subjectOf(s).token?.id === shortenedPat.id);
        assert.equal(typeOf(shortened), `${CAEP}token-claims-change`);
        assert.deepEqual(eventOf(shortened).claims, { exp: Math.floor(exp.getTime() / 1000) });

        const userEvents = async (sub: string) =>
          (await setsAt(receiver, channel, name)).filter((s) => subjectOf(s).user?.sub === sub && !subjectOf(s).token);
        await eventually(async () => (await userEvents(userId)).length === 2, 15_000);
        assert.deepEqual((await userEvents(userId)).map(typeOf).sort(), [
          `${RISC}account-disabled`,
          `${RISC}account-enabled`,
        ]);
        assert.deepEqual((await userEvents(userId))[0]!.sub_id, {
          format: 'complex',
          user: { format: 'iss_sub', iss: app.config.issuer, sub: userId },
        });
        const purged = await expectSet(
          receiver,
          channel,
          name,
          (s) => subjectOf(s).user?.sub === other && !subjectOf(s).token,
        );
        assert.equal(typeOf(purged), `${RISC}account-purged`);

        const oauth = await expectSet(receiver, channel, name, (s) => subjectOf(s).token?.id === oauthJti);
        assert.equal(typeOf(oauth), `${CAEP}credential-change`);
        assert.equal(eventOf(oauth).credential_type, 'oauth-access-token');
        assert.equal(subjectOf(oauth).user, undefined, 'a client’s own token has no user');
        assert.equal(subjectOf(oauth).application!.id, client.clientId);
      }
    });

    it('relays a rotation or a user’s disablement only once cached answers are invalidated (so asking again on the event gets the new answer)', async () => {
      // In order: the cache writes for the watched token value, and the start of the watched document's relay.
      let order: string[] = [];
      let watched = { id: '', key: '' };
      const relayOf =
        <Q extends { id?: string | undefined }, R>(read: (query: Q) => Promise<R>) =>
        (query: Q) => {
          if (query.id !== undefined && query.id === watched.id) order.push('relay');
          return read(query);
        };
      const ordered = await startApp({
        wrapCache: (cache) =>
          new Proxy(cache, {
            get(target, prop, receiver) {
              const value = Reflect.get(target, prop, receiver) as unknown;
              if (prop !== 'set' || typeof value !== 'function') return value;
              return async (...args: Parameters<Cache['set']>) => {
                await (value as Cache['set']).apply(target, args);
                if (args[0] === watched.key) order.push('marker');
              };
            },
          }),
        wrapStorage: (storage: Storage) => ({
          ...storage,
          users: { ...storage.users, pendingEvents: relayOf((q) => storage.users.pendingEvents(q)) },
          pats: { ...storage.pats, pendingEvents: relayOf((q) => storage.pats.pendingEvents(q)) },
        }),
      });
      const watch = (id: string, token: string) => {
        order = [];
        watched = { id, key: `pat:${ordered.tw.services.format.hash(token)}` };
      };
      try {
        const userId = await ordered.createUser();
        const rotated = await ordered.createPat(userId);
        assert.equal((await ordered.introspect(rotated.token)).body.active, true);
        watch(rotated.id, rotated.token);
        const rotation = await ordered.api('POST', `/api/users/${userId}/tokens/${rotated.id}/rotate`, {
          grace_seconds: 60,
        });
        assert.equal(rotation.status, 200, rotation.text);
        await eventsSettled(ordered);
        assert.deepEqual(order.slice(-2), ['marker', 'relay'], `rotation: ${order.join(' ')}`);

        const kept = await ordered.createPat(userId);
        assert.equal((await ordered.introspect(kept.token)).body.active, true);
        watch(userId, kept.token);
        assert.equal((await ordered.api('PATCH', `/api/users/${userId}`, { disabled: true })).status, 200);
        await eventsSettled(ordered);
        assert.deepEqual(order.slice(-2), ['marker', 'relay'], `disablement: ${order.join(' ')}`);
      } finally {
        await ordered.close();
      }
    });

    it('signs every SET with the key /jwks publishes, typ secevent+jwt, no sub or exp, one event each', async () => {
      const jwks = createRemoteJWKSet(new URL(`${app.url}/jwks`));
      const res = await app.api('POST', `/api/ssf/poll/${pollStream}`, { returnImmediately: true }, poller.token);
      assert.equal(res.status, 200);
      // The receiver acknowledges what it polls: check the pushed ones it verified, re-verified here independently.
      const sets = await setsAt(receiver, 'push', 'push');
      assert.ok(sets.length >= 9, `${sets.length} SETs`);
      for (const set of sets) {
        assert.equal(typeof set.jti, 'string');
        assert.equal(set.sub, undefined);
        assert.equal(set.exp, undefined);
        assert.equal(Object.keys(set.events as object).length, 1);
      }
      const client = await registerClient(app, 'direct poller');
      const stream = await app.api('POST', '/api/ssf/stream', {}, client.token);
      const id = String(stream.body.stream_id);
      await app.api('POST', '/api/ssf/verify', { stream_id: id, state: 's' }, client.token);
      await eventsSettled(app);
      const polled = await app.api('POST', `/api/ssf/poll/${id}`, { returnImmediately: true }, client.token);
      const [jti, set] = Object.entries(polled.body.sets as Record<string, string>)[0]!;
      const header = decodeProtectedHeader(set);
      assert.equal(header.typ, 'secevent+jwt');
      const { payload } = await jwtVerify(set, jwks, { issuer: app.config.issuer, audience: client.clientId });
      assert.equal(payload.jti, jti);
      assert.match(jti, /^evt_/);
    });

    it('poll: unacknowledged SETs come again, acknowledged ones never; setErrs ends one; maxEvents and moreAvailable', async () => {
      const client = await registerClient(app, 'manual poller');
      const stream = await app.api('POST', '/api/ssf/stream', {}, client.token);
      const id = String(stream.body.stream_id);
      const poll = (body: Record<string, unknown>) => app.api('POST', `/api/ssf/poll/${id}`, body, client.token);
      for (const state of ['a', 'b', 'c'])
        await app.api('POST', '/api/ssf/verify', { stream_id: id, state }, client.token);
      await eventsSettled(app);
      const first = await poll({ maxEvents: 2, returnImmediately: true });
      assert.equal(Object.keys(first.body.sets as object).length, 2);
      assert.equal(first.body.moreAvailable, true);
      const again = await poll({ maxEvents: 2, returnImmediately: true });
      assert.deepEqual(
        Object.keys(again.body.sets as object),
        Object.keys(first.body.sets as object),
        'not acknowledged: sent again',
      );
      const [one, two] = Object.keys(first.body.sets as object) as [string, string];
      const next = await poll({
        ack: [one],
        setErrs: { [two]: { err: 'invalid_state', description: 'not mine' } },
        returnImmediately: true,
      });
      const left = Object.keys(next.body.sets as object);
      assert.equal(left.length, 1);
      assert.ok(!left.includes(one) && !left.includes(two));
      assert.equal(next.body.moreAvailable, false);
      const last = await poll({ ack: left, returnImmediately: true });
      assert.deepEqual(last.body.sets, {});
      // A long poll with nothing to say waits (SSF_POLL_MAX_WAIT_SECONDS here: 2), then answers empty.
      const started = Date.now();
      const empty = await poll({});
      assert.deepEqual(empty.body, { sets: {}, moreAvailable: false });
      assert.ok(Date.now() - started >= 1500, 'it waited');
      // …and answers at once when an event arrives meanwhile.
      const waiting = poll({});
      await app.api('POST', '/api/ssf/verify', { stream_id: id, state: 'late' }, client.token);
      const woken = await waiting;
      assert.equal(Object.keys(woken.body.sets as object).length, 1);
      const bad = await poll({ maxEvents: -1 });
      assert.equal(bad.status, 400);
      assert.equal((await app.api('POST', `/api/ssf/poll/${pushStream}`, {}, pusher.token)).status, 400);
    });

    it('a paused stream holds its events and delivers them when enabled; a disabled one drops them', async () => {
      const client = await registerClient(app, 'pausing poller');
      const stream = await app.api(
        'POST',
        '/api/ssf/stream',
        { events_requested: [`${RISC}account-disabled`] },
        client.token,
      );
      const id = String(stream.body.stream_id);
      const status = (body: Record<string, unknown>) =>
        app.api('POST', '/api/ssf/status', { stream_id: id, ...body }, client.token);
      const poll = (ack: string[] = []) =>
        app.api('POST', `/api/ssf/poll/${id}`, { returnImmediately: true, ack }, client.token);
      assert.deepEqual((await status({ status: 'paused', reason: 'maintenance' })).body, {
        stream_id: id,
        status: 'paused',
        reason: 'maintenance',
      });
      const read = await app.api('GET', `/api/ssf/status?stream_id=${id}`, undefined, client.token);
      assert.equal(read.body.status, 'paused');
      const held = await app.createUser();
      await app.api('PATCH', `/api/users/${held}`, { disabled: true });
      await eventsSettled(app);
      assert.deepEqual((await poll()).body.sets, {}, 'paused: nothing transmitted');
      await status({ status: 'enabled' });
      const after = await poll();
      assert.equal(Object.keys(after.body.sets as object).length, 1, 'held, then delivered');
      await poll(Object.keys(after.body.sets as object));
      await status({ status: 'disabled' });
      const dropped = await app.createUser();
      await app.api('PATCH', `/api/users/${dropped}`, { disabled: true });
      await eventsSettled(app);
      await status({ status: 'enabled' });
      assert.deepEqual((await poll()).body.sets, {}, 'nothing kept while disabled');
      const later = await app.createUser();
      await app.api('PATCH', `/api/users/${later}`, { disabled: true });
      await eventsSettled(app);
      assert.equal(Object.keys((await poll()).body.sets as object).length, 1, 'enabled again: events flow');
    });
  });
});

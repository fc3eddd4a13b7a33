import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

import { storedOidcId } from '../adapters/hashed-oidc-store.ts';
import { basic, bootstrap, tokenwardenProcess, type TokenwardenProcess } from '../scripts/lib/load.ts';
import { freePort } from '../scripts/lib/services.ts';
import { MAX_RETRY_DELAY_MS, nextAttemptAt, retryDelayMs } from '../server/events/backoff.ts';
import { keyedEventId, lifecycleEvent } from '../server/events/catalogue.ts';
import { classifyAddress, parseNetworks } from '../server/events/http-target.ts';
import { startApp, type TestApp } from './support/app.ts';
import { eventsSettled } from './support/events.ts';
import { eventually } from './support/eventually.ts';
import { needsServices, services } from './support/hooks.ts';
import { startReceiver, type ReceivedEvent, type Receiver } from './support/receiver.ts';

interface DeliveryRow {
  event_id: string;
  event_type: string;
  status: string;
  attempts: number;
  next_attempt_at: string | null;
  last_status: number | null;
  last_error: string | null;
}

async function deliveriesOf(app: TestApp, webhookId: string): Promise<DeliveryRow[]> {
  const res = await app.api('GET', `/api/webhooks/${webhookId}/deliveries?limit=200`);
  assert.equal(res.status, 200, res.text);
  return res.body.data as DeliveryRow[];
}

async function registerWebhook(app: TestApp, receiver: Receiver, name: string, path = 'webhook'): Promise<string> {
  const res = await app.api('POST', '/api/webhooks', { url: `${receiver.url}/${path}/${name}` });
  assert.equal(res.status, 201, res.text);
  await receiver.webhook(name, String(res.body.secret));
  return String(res.body.id);
}

const verifiedAt = async (receiver: Receiver, name: string) =>
  (await receiver.received()).filter((r) => r.name === name && r.verified);

describe('event delivery: retries, limits, SSRF, durability', function () {
  this.timeout(120_000);
  before(needsServices);

  describe('the retry schedule (unit)', () => {
    it('backs off exponentially with jitter, about ten attempts over a day, then gives up', () => {
      const mid = () => 0.5;
      assert.deepEqual(
        [1, 2, 3, 4].map((n) => retryDelayMs(n, mid)),
        [5_000, 20_000, 80_000, 320_000],
      );
      assert.equal(retryDelayMs(20, mid), MAX_RETRY_DELAY_MS);
      for (let n = 1; n < 12; n++) {
        const low = retryDelayMs(n, () => 0);
        const high = retryDelayMs(n, () => 0.999_999);
        assert.ok(low >= 0.8 * retryDelayMs(n, mid) - 1 && high <= 1.2 * retryDelayMs(n, mid) + 1);
      }
      const created = new Date(0);
      let now = created;
      let attempts = 1;
      for (;;) {
        const next = nextAttemptAt({ createdAt: created }, attempts, now, 24 * 3600_000, null, mid);
        if (next === null) break;
        now = next;
        attempts++;
      }
      assert.ok(attempts >= 9 && attempts <= 11, `${attempts} attempts`);
      assert.ok(
        now.getTime() > 18 * 3600_000 && now.getTime() <= 24 * 3600_000,
        `last at ${now.getTime() / 3600_000} h`,
      );
      const honoured = nextAttemptAt({ createdAt: created }, 1, created, 24 * 3600_000, 600, mid)!;
      assert.equal(honoured.getTime(), 600_000, 'a longer Retry-After is honoured');
    });

    it('classifies addresses: only global unicast, or an allowed network, is a target', () => {
      const none = parseNetworks([]);
      const loop = parseNetworks(['127.0.0.0/8', '::1']);
      for (const a of [
        '10.0.0.1',
        '172.31.255.255',
        '192.168.1.1',
        '127.0.0.1',
        '169.254.169.254',
        '100.64.0.1',
        '0.0.0.0',
        '::1',
        'fe80::1',
        'fc00::1',
        '::ffff:10.0.0.1',
        '::ffff:127.0.0.1',
        '255.255.255.255',
        '224.0.0.1',
      ]) {
        assert.equal(classifyAddress(a, none), null, a);
      }
      for (const a of ['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c', '::ffff:93.184.215.14']) {
        assert.equal(classifyAddress(a, none), 'public', a);
      }
      assert.equal(classifyAddress('127.0.0.1', loop), 'allowed');
      assert.equal(classifyAddress('::ffff:127.0.0.1', loop), 'allowed');
      assert.equal(classifyAddress('::1', loop), 'allowed');
      assert.equal(classifyAddress('10.0.0.1', loop), null);
      assert.equal(classifyAddress('not an address', loop), null);
    });
  });

  describe('in one instance, with a moved clock', () => {
    let app: TestApp;
    let receiver: Receiver;
    before(async () => {
      receiver = await startReceiver();
      app = await startApp({ env: { EVENTS_ALLOWED_NETWORKS: '127.0.0.0/8', EVENTS_DELIVERY_TIMEOUT_MS: '1000' } });
    });
    after(async () => {
      await app?.close();
      await receiver?.stop();
    });

    it('tries a failed push again only when due, further apart each time, until it is delivered', async () => {
      const id = await registerWebhook(app, receiver, 'flaky');
      await receiver.behaviour('flaky', { failNext: 1000, status: 500 });
      const first = String((await app.api('POST', `/api/webhooks/${id}/test`)).body.event_id);
      const row = async (eventId: string) => (await deliveriesOf(app, id)).find((d) => d.event_id === eventId)!;
      await eventually(async () => (await row(first))?.attempts === 1);
      const after1 = await row(first);
      assert.equal(after1.status, 'pending');
      assert.equal(after1.last_status, 500);
      const wait1 = Date.parse(after1.next_attempt_at!) - app.clock.now().getTime();
      assert.ok(wait1 > 3_000 && wait1 <= 6_000, `first wait ${wait1} ms (5 s ± 20%)`);
      // Another event goes out meanwhile (the worker ran again), and the failed one was not tried early.
      const second = String((await app.api('POST', `/api/webhooks/${id}/test`)).body.event_id);
      await eventually(async () => (await row(second))?.attempts === 1);
      assert.equal((await row(first)).attempts, 1);

      app.clock.advance(wait1 + 1);
      await eventually(async () => (await row(first)).attempts === 2);
      const after2 = await row(first);
      const wait2 = Date.parse(after2.next_attempt_at!) - app.clock.now().getTime();
      assert.ok(wait2 > 12_000 && wait2 <= 24_000, `second wait ${wait2} ms (20 s ± 20%)`);
      await receiver.behaviour('flaky', {});
      app.clock.advance(wait2 + 1);
      await eventually(async () => (await row(first)).status === 'delivered');
      const done = await row(first);
      assert.equal(done.attempts, 3);
      assert.equal(done.last_status, 204);
      assert.equal(done.next_attempt_at, null);
      const got = (await verifiedAt(receiver, 'flaky')).filter((r) => r.id === first);
      assert.equal(got.length, 1, 'delivered once, after its failures');
    });

    it('honours a longer Retry-After', async () => {
      const id = await registerWebhook(app, receiver, 'busy');
      await receiver.behaviour('busy', { failNext: 1, status: 503, retryAfter: '3600' });
      const eventId = String((await app.api('POST', `/api/webhooks/${id}/test`)).body.event_id);
      await eventually(async () =>
        (await deliveriesOf(app, id)).some((d) => d.event_id === eventId && d.attempts === 1),
      );
      const row = (await deliveriesOf(app, id)).find((d) => d.event_id === eventId)!;
      const wait = Date.parse(row.next_attempt_at!) - app.clock.now().getTime();
      assert.ok(wait > 3_500_000 && wait <= 3_600_000, `${wait} ms`);
      app.clock.advance(wait + 1);
      await eventually(async () =>
        (await deliveriesOf(app, id)).some((d) => d.event_id === eventId && d.status === 'delivered'),
      );
    });

    it('gives a push up, recorded, once the retry period is over', async () => {
      const short = await startApp({
        env: { EVENTS_ALLOWED_NETWORKS: '127.0.0.0/8', EVENTS_RETRY_HOURS: '1', EVENTS_DELIVERY_TIMEOUT_MS: '1000' },
      });
      try {
        const id = await registerWebhook(short, receiver, 'down');
        await receiver.behaviour('down', { failNext: 1000, status: 502 });
        const eventId = String((await short.api('POST', `/api/webhooks/${id}/test`)).body.event_id);
        const row = async () => (await deliveriesOf(short, id)).find((d) => d.event_id === eventId)!;
        let attempts = 0;
        await eventually(async () => (await row())?.attempts === 1);
        while ((await row()).status === 'pending') {
          const current = await row();
          attempts = current.attempts;
          short.clock.advance(Date.parse(current.next_attempt_at!) - short.clock.now().getTime() + 1);
          await eventually(async () => (await row()).attempts > attempts);
        }
        const final = await row();
        assert.equal(final.status, 'failed');
        assert.match(String(final.last_error), /given up/);
        assert.ok(final.attempts >= 5 && final.attempts <= 8, `${final.attempts} attempts within an hour`);
      } finally {
        await short.close();
      }
    });

    it('follows no redirect, and disables an endpoint that answers 410 Gone', async () => {
      const redirected = await registerWebhook(app, receiver, 'target', 'redirect');
      const eventId = String((await app.api('POST', `/api/webhooks/${redirected}/test`)).body.event_id);
      await eventually(async () =>
        (await deliveriesOf(app, redirected)).some((d) => d.event_id === eventId && d.attempts === 1),
      );
      const row = (await deliveriesOf(app, redirected)).find((d) => d.event_id === eventId)!;
      assert.equal(row.last_status, 307);
      assert.match(String(row.last_error), /redirects are not followed/);
      assert.equal((await receiver.received()).filter((r) => r.name === 'target').length, 0);

      const gone = await registerWebhook(app, receiver, 'gone');
      await receiver.behaviour('gone', { failNext: 1, status: 410 });
      await app.api('POST', `/api/webhooks/${gone}/test`);
      await eventually(async () => (await app.api('GET', `/api/webhooks/${gone}`)).body.enabled === false);
      const hook = await app.api('GET', `/api/webhooks/${gone}`);
      assert.match(String(hook.body.disabled_reason), /410/);
      await eventually(async () => (await deliveriesOf(app, gone))[0]!.status === 'failed');
    });

    it('bounds an attempt: no answer within the timeout fails it; an endless answer is cut once its status is read', async () => {
      const slow = await registerWebhook(app, receiver, 'slow');
      await receiver.behaviour('slow', { hang: true });
      const started = Date.now();
      const eventId = String((await app.api('POST', `/api/webhooks/${slow}/test`)).body.event_id);
      await eventually(async () =>
        (await deliveriesOf(app, slow)).some((d) => d.event_id === eventId && d.attempts === 1),
      );
      const row = (await deliveriesOf(app, slow)).find((d) => d.event_id === eventId)!;
      assert.match(String(row.last_error), /ETIMEDOUT/);
      assert.ok(Date.now() - started < 5_000, 'the 1 s timeout ended it');
      await receiver.behaviour('slow', {});

      const chatty = await registerWebhook(app, receiver, 'chatty');
      await receiver.behaviour('chatty', { endless: true });
      const chattyEvent = String((await app.api('POST', `/api/webhooks/${chatty}/test`)).body.event_id);
      await eventually(async () =>
        (await deliveriesOf(app, chatty)).some((d) => d.event_id === chattyEvent && d.status === 'delivered'),
      );
    });

    it('refuses, at delivery, a target that resolves to an address this instance does not allow', async () => {
      const id = await registerWebhook(app, receiver, 'rebound');
      const byName = await app.api('POST', '/api/webhooks', {
        url: `${receiver.url.replace('127.0.0.1', 'localhost')}/webhook/rebound`,
      });
      assert.equal(byName.status, 201);
      // A second instance on the same database that does not allow loopback targets delivers (the first does not).
      const strict = await startApp({
        env: {
          MONGODB_URI: app.config.storage.kind === 'mongodb' ? app.config.storage.uri : '',
          EVENTS_DELIVERY_TIMEOUT_MS: '1000',
          EVENTS_ALLOWED_NETWORKS: '',
          // The other instance does not dispatch: this one's sweeper fans its events out.
          EVENTS_SWEEP_SECONDS: '1',
        },
      });
      const quiet = await startApp({
        env: {
          MONGODB_URI: app.config.storage.kind === 'mongodb' ? app.config.storage.uri : '',
          EVENTS_DISPATCH: 'false',
        },
      });
      await app.close();
      try {
        for (const webhookId of [id, String(byName.body.id)]) {
          const res = await quiet.api('POST', `/api/webhooks/${webhookId}/test`);
          assert.equal(res.status, 202);
          const eventId = String(res.body.event_id);
          await eventually(async () =>
            (await deliveriesOf(strict, webhookId)).some((d) => d.event_id === eventId && d.attempts >= 1),
          );
          const row = (await deliveriesOf(strict, webhookId)).find((d) => d.event_id === eventId)!;
          assert.match(String(row.last_error), /refused: .*private, loopback/);
          assert.equal(row.last_status, null, 'no request was made');
        }
        assert.equal((await verifiedAt(receiver, 'rebound')).length, 0);
      } finally {
        await strict.close();
        await quiet.close();
        app = await startApp({ env: { EVENTS_ALLOWED_NETWORKS: '127.0.0.0/8' } });
      }
    });

    it('emits an idempotent event for a scheduler: the same key twice is one event, delivered once', async () => {
      const id = await registerWebhook(app, receiver, 'notices');
      const outbox = app.tw.services.outbox;
      const data = {
        token_id: 'tok_expiring',
        user_id: 'someone',
        expires_at: '2030-01-01T00:00:00.000Z',
        threshold_days: 7,
      };
      const key = 'token.expiring:tok_expiring:7d';
      const first = await outbox.emit('token.expiring', data, { idempotencyKey: key });
      const again = await outbox.emit('token.expiring', data, { idempotencyKey: key });
      assert.deepEqual(first, { id: keyedEventId(key), created: true });
      assert.deepEqual(again, { id: first.id, created: false });
      await eventsSettled(app);
      const got = (await verifiedAt(receiver, 'notices')).filter((r) => r.id === first.id);
      assert.equal(got.length, 1);
      assert.equal((got[0]!.body as { type: string }).type, 'token.expiring');
      await app.api('DELETE', `/api/webhooks/${id}`);
    });

    it('keeps SSF verification events only for the retry period, other events for the retention period', async () => {
      const short = await startApp({ env: { EVENTS_RETRY_HOURS: '1' } });
      try {
        const client = await short.api('POST', '/api/clients', { client_name: 'a heartbeat-happy receiver' });
        const credentials = {
          clientId: String(client.body.client_id),
          clientSecret: String(client.body.client_secret),
        };
        const token = String(
          (await short.form('/token', { grant_type: 'client_credentials' }, { Authorization: basic(credentials) })).body
            .access_token,
        );
        const stream = String((await short.api('POST', '/api/ssf/stream', {}, token)).body.stream_id);
        assert.equal((await short.api('POST', '/api/ssf/verify', { stream_id: stream }, token)).status, 204);
        const userId = await short.createUser();
        const pat = await short.createPat(userId);
        await short.api('DELETE', `/api/users/${userId}/tokens/${pat.id}`);
        await eventsSettled(short);
        const polled = await short.api('POST', `/api/ssf/poll/${stream}`, { returnImmediately: true }, token);
        const jtis = Object.keys(polled.body.sets as object);
        assert.equal(jtis.length, 2, polled.text);
        await short.api('POST', `/api/ssf/poll/${stream}`, { ack: jtis, maxEvents: 0 }, token);
        const { outbox, deliveries } = short.storage.events;
        const stored = async () => ({
          events: (await outbox.list('fanned_out', new Date(8.64e15), 100)).map((e) => e.type).sort(),
          deliveries: (await deliveries.list(stream, 100)).map((d) => `${d.event.type} ${d.state}`).sort(),
        });
        const both = {
          events: ['ssf.verification', 'token.created', 'token.revoked'],
          deliveries: ['ssf.verification delivered', 'token.revoked delivered'],
        };
        await short.tw.services.outbox.sweep();
        assert.deepEqual(await stored(), both, 'nothing purged within the retry period');
        short.clock.advance(3600_000 + 1000);
        await short.tw.services.outbox.sweep();
        assert.deepEqual(await stored(), {
          events: ['token.created', 'token.revoked'],
          deliveries: ['token.revoked delivered'],
        });
      } finally {
        await short.close();
      }
    });

    it('settles an intent a crash left: delivered if its deletion happened, dropped if not', async () => {
      const id = await registerWebhook(app, receiver, 'intents');
      const outbox = app.tw.services.outbox;
      const at = app.clock.now();
      // A deletion that happened but was never confirmed (the process died in between).
      const gone = lifecycleEvent(
        'oauth_token.revoked',
        { client_id: 'rs_gone', user_id: null, reason: 'client_deleted' },
        { at },
      );
      await outbox.intend(gone, { model: 'Client', storedId: 'rs_gone' });
      // One whose deletion never happened: the client is still there.
      const kept = lifecycleEvent(
        'oauth_token.revoked',
        { client_id: app.rs.clientId, user_id: null, reason: 'client_deleted' },
        { at },
      );
      await outbox.intend(kept, { model: 'Client', storedId: storedOidcId('Client', app.rs.clientId) });
      await outbox.sweep();
      assert.equal(
        (await verifiedAt(receiver, 'intents')).length,
        0,
        'too young to judge: the change may be in flight',
      );
      app.clock.advance(61_000);
      await outbox.sweep();
      await eventsSettled(app);
      const got = await verifiedAt(receiver, 'intents');
      assert.deepEqual(
        got.map((r) => r.id),
        [gone.id],
      );
      await app.api('DELETE', `/api/webhooks/${id}`);
    });
  });

  describe('as real processes', () => {
    let receiver: Receiver;
    const running: TokenwardenProcess[] = [];
    beforeEach(async () => {
      receiver = await startReceiver();
    });
    afterEach(async () => {
      for (const tw of running.splice(0)) await tw.signal('SIGKILL');
      await receiver.stop();
    });

    async function processOn(
      env: Record<string, string> = {},
    ): Promise<{ tw: TokenwardenProcess; env: Record<string, string> }> {
      const { mongo, redis } = services();
      const full = {
        PORT: String(await freePort()),
        MONGODB_URI: `${mongo.url.replace(/\/$/, '')}/tw_${randomBytes(6).toString('hex')}`,
        REDIS_URL: redis.url,
        EVENTS_ALLOWED_NETWORKS: '127.0.0.0/8',
        EVENTS_DELIVERY_TIMEOUT_MS: '1000',
        ...env,
      };
      const tw = tokenwardenProcess(full);
      running.push(tw);
      return { tw, env: full };
    }

    type Api = Awaited<ReturnType<typeof bootstrap>>;

    /** One webhook, one SSF push stream and one SSF poll stream on the receiver. */
    async function subscribe(api: Api, url: string): Promise<void> {
      const hook = await api.admin('POST', '/api/webhooks', { url: `${receiver.url}/webhook/w` });
      assert.equal(hook.status, 201, JSON.stringify(hook.body));
      await receiver.webhook('w', String(hook.body.secret));
      await receiver.transmitter(url);
      const token = await fetch(`${url}/token`, {
        method: 'POST',
        headers: { Authorization: basic(api.rs), 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      });
      const bearer = String(((await token.json()) as { access_token: string }).access_token);
      const create = async (body: unknown) => {
        const res = await fetch(`${url}/api/ssf/stream`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        });
        assert.equal(res.status, 201);
        return (await res.json()) as Record<string, unknown>;
      };
      await create({ delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: `${receiver.url}/ssf/p` } });
      await receiver.push('p', api.rs.clientId);
      const poll = await create({});
      await receiver.poll('q', {
        url: String((poll.delivery as Record<string, string>).endpoint_url),
        token: bearer,
        audience: api.rs.clientId,
      });
    }

    /** Creates and revokes `n` PATs through `admin`; resolves with their ids. */
    async function revokeSome(api: Pick<Api, 'users' | 'admin'>, n: number): Promise<string[]> {
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const userId = api.users[i % api.users.length]!;
        const name = `t${i}-${randomBytes(3).toString('hex')}`;
        const created = await api.admin('POST', `/api/users/${userId}/tokens`, { name, scopes: [] });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        const id = String(created.body.id);
        assert.equal((await api.admin('DELETE', `/api/users/${userId}/tokens/${id}`)).status, 204);
        ids.push(id);
      }
      return ids;
    }

    /** How many times each channel delivered (verified) the revocation of each of `tokenIds`. */
    const revocationsOf = (all: ReceivedEvent[], tokenIds: readonly string[]) => {
      const by = {
        webhook: new Map<string, number>(),
        push: new Map<string, number>(),
        poll: new Map<string, number>(),
      };
      for (const r of all) {
        if (!r.verified) continue;
        const body = r.body as Record<string, unknown>;
        const tokenId =
          r.channel === 'webhook'
            ? ((body.data as Record<string, unknown>).token_id as string | undefined)
            : (body.sub_id as { token?: { id: string } }).token?.id;
        const revoke =
          r.channel === 'webhook'
            ? body.type === 'token.revoked'
            : (Object.values(body.events as object)[0] as { change_type?: string }).change_type === 'revoke';
        if (revoke && tokenId && tokenIds.includes(tokenId))
          by[r.channel].set(tokenId, (by[r.channel].get(tokenId) ?? 0) + 1);
      }
      return by;
    };
    const everywhere = async (ids: readonly string[]) => {
      const by = revocationsOf(await receiver.received(), ids);
      return ids.every((id) => by.webhook.has(id) && by.push.has(id) && by.poll.has(id));
    };

    /**
     * One change of every kind a subscriber hears about, through `api`: a rotation, an expiry brought earlier, a leak
     * report, a user disabled and enabled again, a user deleted, an OAuth token revoked at /revoke. Resolves with
     * what each channel should then get, as `[kind, subject]` keys (see {@link kindsOf}).
     */
    async function oneOfEach(api: Api, url: string): Promise<string[]> {
      const [userId, doomed] = [api.users[1]!, api.users[2]!];
      const pat = async () => {
        const res = await api.admin('POST', `/api/users/${userId}/tokens`, {
          name: randomBytes(4).toString('hex'),
          scopes: [],
        });
        assert.equal(res.status, 201, JSON.stringify(res.body));
        return { id: String(res.body.id), token: String(res.body.token) };
      };
      const [rotated, shortened, leaked] = [await pat(), await pat(), await pat()];
      const ok = (res: { status: number; body: unknown }, status = 200) =>
        assert.equal(res.status, status, JSON.stringify(res.body));
      ok(await api.admin('POST', `/api/users/${userId}/tokens/${rotated.id}/rotate`, { grace_seconds: 60 }));
      const exp = new Date(Date.now() + 3600_000).toISOString();
      ok(await api.admin('PATCH', `/api/users/${userId}/tokens/${shortened.id}`, { expires_at: exp }));
      const leak = await fetch(`${url}/api/credentials/revoke`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ credentials: [leaked.token] }),
      });
      assert.equal(leak.status, 202, await leak.text());
      ok(await api.admin('PATCH', `/api/users/${userId}`, { disabled: true }));
      ok(await api.admin('PATCH', `/api/users/${userId}`, { disabled: false }));
      ok(await api.admin('DELETE', `/api/users/${doomed}`), 204);
      const form = (path: string, body: string) =>
        fetch(`${url}${path}`, {
          method: 'POST',
          headers: { Authorization: basic(api.rs), 'Content-Type': 'application/x-www-form-urlencoded' },
          body,
        });
      const oauth = String(
        ((await (await form('/token', 'grant_type=client_credentials')).json()) as { access_token: string })
          .access_token,
      );
      const jti = String(((await (await form('/introspect', `token=${oauth}`)).json()) as { jti: string }).jti);
      assert.equal((await form('/revoke', `token=${oauth}`)).status, 200);
      return [
        `token.rotated ${rotated.id}`,
        `token.expiry_shortened ${shortened.id}`,
        `token.leaked ${leaked.id}`,
        `token.revoked ${leaked.id}`,
        `user.disabled ${userId}`,
        `user.enabled ${userId}`,
        `user.deleted ${doomed}`,
        `oauth_token.revoked ${jti}`,
      ];
    }

    /** What a verified delivery was about, as `<webhook type> <subject>` whatever its channel. */
    const kindOf = (r: ReceivedEvent): string | null => {
      const body = r.body as Record<string, unknown>;
      if (r.channel === 'webhook') {
        const data = body.data as Record<string, string>;
        return `${String(body.type)} ${data.token_id ?? data.user_id}`;
      }
      const sub = body.sub_id as { token?: { id: string }; user?: { sub: string } };
      const [type, event] = Object.entries(body.events as Record<string, Record<string, unknown>>)[0]!;
      const name = type.slice(type.lastIndexOf('/') + 1);
      const webhookType =
        name === 'credential-change'
          ? event.change_type === 'update'
            ? 'token.rotated'
            : event.credential_type === 'oauth-access-token'
              ? 'oauth_token.revoked'
              : 'token.revoked'
          : {
              'credential-compromise': 'token.leaked',
              'token-claims-change': 'token.expiry_shortened',
              'account-disabled': 'user.disabled',
              'account-enabled': 'user.enabled',
              'account-purged': 'user.deleted',
            }[name];
      return webhookType === undefined ? null : `${webhookType} ${sub.token?.id ?? sub.user?.sub}`;
    };
    /** The kinds each channel delivered, verified, with how often. */
    const kindsOf = (all: ReceivedEvent[]) => {
      const by = {
        webhook: new Map<string, number>(),
        push: new Map<string, number>(),
        poll: new Map<string, number>(),
      };
      for (const r of all) {
        const kind = r.verified ? kindOf(r) : null;
        if (kind) by[r.channel].set(kind, (by[r.channel].get(kind) ?? 0) + 1);
      }
      return by;
    };

    it('delivers, after a SIGKILL and a restart, every event type of changes acknowledged before it (webhook, push, poll)', async () => {
      // The first run records events but dispatches nothing (EVENTS_DISPATCH=false): what the kill leaves is exactly
      // what a crash between a change and its relay leaves, events on their documents (and confirmed intents, for
      // the OAuth token's revocation, in the outbox).
      const { tw } = await processOn();
      await tw.start({ EVENTS_DISPATCH: 'false' });
      const api = await bootstrap(tw, 3);
      await subscribe(api, tw.url);
      const tokenIds = await revokeSome(api, 6);
      const expected = [...tokenIds.map((id) => `token.revoked ${id}`), ...(await oneOfEach(api, tw.url))];
      tw.killNow();
      await tw.exited();
      assert.deepEqual(await receiver.received(), [], 'nothing was sent before the kill');

      await tw.start();
      const missing = async () => {
        const by = kindsOf(await receiver.received());
        return (['webhook', 'push', 'poll'] as const).flatMap((channel) =>
          expected.filter((k) => !by[channel].has(k)).map((k) => `${channel}: ${k}`),
        );
      };
      await eventually(async () => (await missing()).length === 0, 30_000).catch(async (error: unknown) => {
        throw new Error(`${(error as Error).message}: missing ${(await missing()).join(', ')}`);
      });
      const all = await receiver.received();
      assert.ok(
        all.every((r) => r.verified),
        JSON.stringify(all.filter((r) => !r.verified)),
      );
      const by = kindsOf(all);
      for (const channel of ['webhook', 'push', 'poll'] as const) {
        assert.deepEqual(
          expected.filter((k) => by[channel].get(k) !== 1),
          [],
          `${channel}: each once`,
        );
      }
    });

    it('delivers after a SIGKILL right after the answer, and after one in the middle of a push', async () => {
      const { tw } = await processOn();
      await tw.start();
      const api = await bootstrap(tw, 2);
      await subscribe(api, tw.url);
      // The receiver refuses webhooks while the change is made, and the process is killed at once.
      await receiver.behaviour('w', { failNext: 1000, status: 503 });
      const [first] = await revokeSome(api, 1);
      tw.killNow();
      await tw.exited();
      await receiver.behaviour('w', {});
      await tw.start();
      await eventually(async () => revocationsOf(await receiver.received(), [first!]).webhook.has(first!), 30_000);

      // Now the receiver takes the request and never answers: the process dies with the push in flight.
      await receiver.behaviour('w', { hang: true });
      const [second] = await revokeSome(api, 1);
      await eventually(async () => (await receiver.hung()) >= 1, 15_000);
      tw.killNow();
      await tw.exited();
      await receiver.behaviour('w', {});
      await tw.start();
      // The dead instance's lease runs out (2 × the 1 s timeout + 1 s), and the restarted one sends it again.
      await eventually(() => everywhere([first!, second!]), 30_000);
      const by = revocationsOf(await receiver.received(), [first!, second!]);
      assert.equal(by.webhook.get(second!), 1, 'the hung attempt never completed; the retry did, once');
    });

    it('two instances on one database deliver every event, once each', async () => {
      // A generous attempt timeout: an attempt that timed out on a busy machine is sent again (at-least-once), which
      // is not what this test is about.
      const { tw: a, env } = await processOn({ EVENTS_DELIVERY_TIMEOUT_MS: '10000' });
      // One deployment: one ISSUER (every SET's iss), one SECRET_KEY and admin secret, two ports.
      const b = tokenwardenProcess(
        { ...env, PORT: String(await freePort()), ISSUER: a.url },
        { secretKey: a.secretKey, adminSecret: a.adminSecret },
      );
      running.push(b);
      await a.start();
      await b.start();
      const apiA = await bootstrap(a, 2);
      await subscribe(apiA, a.url);
      const onB = { users: apiA.users, admin: adminOn(b.url, apiA.adminToken) };
      const [fromA, fromB] = await Promise.all([revokeSome(apiA, 10), revokeSome(onB, 10)]);
      const ids = [...fromA, ...fromB];
      await eventually(() => everywhere(ids), 60_000).catch(async (error: unknown) => {
        const by = revocationsOf(await receiver.received(), ids);
        const missing = (['webhook', 'push', 'poll'] as const).flatMap((c) =>
          ids.filter((id) => !by[c].has(id)).map((id) => `${c} ${id}`),
        );
        throw new Error(
          `${(error as Error).message}: missing ${missing.join(', ')}\n${a.output().slice(-3000)}\n${b.output().slice(-3000)}`,
        );
      });
      const all = await receiver.received();
      assert.ok(
        all.every((r) => r.verified),
        JSON.stringify(all.filter((r) => !r.verified)),
      );
      const by = revocationsOf(all, ids);
      const duplicates = (['webhook', 'push', 'poll'] as const).flatMap((c) =>
        [...by[c].entries()].filter(([, n]) => n > 1).map(([id, n]) => `${c} ${id} ×${n}`),
      );
      assert.deepEqual(duplicates, []);
    });
  });
});

/** Admin calls to another instance with the same admin token. */
function adminOn(url: string, token: string) {
  return async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  };
}

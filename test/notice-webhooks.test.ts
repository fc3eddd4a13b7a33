import assert from 'node:assert/strict';

import { events } from '../server/events/catalogue.ts';
import { toSsfEvent } from '../server/events/ssf/mapping.ts';
import { SCHEDULER } from '../server/jobs/sink.ts';
import { startApp, type TestApp } from './support/app.ts';
import { eventsSettled } from './support/events.ts';
import { eventually } from './support/eventually.ts';
import { needsServices } from './support/hooks.ts';
import { startReceiver, type ReceivedEvent, type Receiver } from './support/receiver.ts';

const DAY = 86_400_000;
const HOUR = 3_600_000;

interface Payload {
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
}

/** Moves the clocks of all the apps to `at` (never backwards here: pushes are due on these clocks). */
function moveTo(apps: TestApp[], at: number): void {
  for (const app of apps) app.clock.advance(at - app.clock.now().getTime());
}

const run = (app: TestApp) => app.tw.jobs.scheduler.runNow();

/** Every webhook the receiver got at `name` about `tokenId`, in arrival order. */
async function about(receiver: Receiver, name: string, tokenId: string): Promise<Array<ReceivedEvent & Payload>> {
  return (await receiver.received())
    .filter((r) => r.channel === 'webhook' && r.name === name)
    .map((r) => ({ ...r, ...(r.body as unknown as Payload) }))
    .filter((r) => r.data.token_id === tokenId);
}

/** `<type> <threshold_days>` of the notices about a token, sorted. */
async function notices(receiver: Receiver, name: string, tokenId: string): Promise<string[]> {
  return (await about(receiver, name, tokenId))
    .filter((r) => r.type === 'token.expiring' || r.type === 'token.expired')
    .map((r) => (r.type === 'token.expiring' ? `expiring ${String(r.data.threshold_days)}` : 'expired'))
    .sort();
}

/** Registers a webhook endpoint at the receiver's `/webhook/<name>` and tells the receiver its secret. */
async function subscribe(app: TestApp, receiver: Receiver, name: string, events?: string[]): Promise<void> {
  const res = await app.api('POST', '/api/webhooks', {
    url: `${receiver.url}/webhook/${name}`,
    ...(events ? { events } : {}),
  });
  assert.equal(res.status, 201, res.text);
  await receiver.webhook(name, String(res.body.secret));
}

describe('expiry notices and inactive revocations as webhooks (through the outbox, to a real receiver)', function () {
  this.timeout(60_000);
  before(needsServices);
  let receiver: Receiver;
  before(async () => {
    receiver = await startReceiver();
  });
  after(() => receiver?.stop());

  it('sends token.expiring at each threshold and token.expired, once each, with two instances and a restart', async () => {
    const a = await startApp();
    const uri = a.config.storage.kind === 'mongodb' ? a.config.storage.uri : '';
    const b = await startApp({ env: { MONGODB_URI: uri } });
    let c: TestApp | undefined;
    try {
      await subscribe(a, receiver, 'expiry');
      await subscribe(a, receiver, 'expiring-only', ['token.expiring']);
      const t0 = a.clock.now().getTime();
      const expires = t0 + 40 * DAY;
      const user = await a.createUser();
      const { id, token } = await a.createPat(user, { expires_at: new Date(expires).toISOString() });

      moveTo([a, b], expires - 30 * DAY + HOUR);
      await Promise.all([run(a), run(b), run(a), run(b)]);
      await eventually(async () => (await notices(receiver, 'expiry', id)).length === 1);
      await Promise.all([eventsSettled(a), eventsSettled(b)]);
      moveTo([a, b], expires - 7 * DAY + HOUR);
      await Promise.all([run(a), run(b), run(a), run(b)]);
      await Promise.all([eventsSettled(a), eventsSettled(b)]);
      assert.deepEqual(await notices(receiver, 'expiry', id), ['expiring 30', 'expiring 7']);

      // A restart: a new instance on the same database, at the same moment, sends nothing again.
      await a.close();
      c = await startApp({ env: { MONGODB_URI: uri } });
      moveTo([b, c], expires - 7 * DAY + 2 * HOUR);
      await Promise.all([run(b), run(c)]);
      moveTo([b, c], expires - 20 * HOUR);
      await Promise.all([run(b), run(c), run(b), run(c)]);
      // Before the clock jumps a day, the pushes in flight finish: a jump would end their leases at once, and another
      // instance would push them again (at least once, as promised, but not what this test counts).
      await Promise.all([eventsSettled(b), eventsSettled(c)]);
      moveTo([b, c], expires + HOUR);
      await Promise.all([run(b), run(c), run(b), run(c)]);
      await Promise.all([eventsSettled(b), eventsSettled(c)]);
      assert.deepEqual(await notices(receiver, 'expiry', id), ['expired', 'expiring 1', 'expiring 30', 'expiring 7']);
      assert.deepEqual(await notices(receiver, 'expiring-only', id), ['expiring 1', 'expiring 30', 'expiring 7']);

      const received = await about(receiver, 'expiry', id);
      assert.ok(
        received.every((r) => r.verified),
        'every delivery verified by the standardwebhooks library',
      );
      assert.equal(new Set(received.map((r) => r.id)).size, received.length, 'one webhook-id per event');
      const seven = received.find((r) => r.type === 'token.expiring' && r.data.threshold_days === 7)!;
      assert.deepEqual(seven.data, {
        token_id: id,
        user_id: user,
        expires_at: new Date(expires).toISOString(),
        threshold_days: 7,
        actor: 'system',
        via: 'scheduler',
      });
      const expired = received.find((r) => r.type === 'token.expired')!;
      assert.equal(expired.data.expired_at, new Date(expires).toISOString());
      assert.ok(!JSON.stringify(received).includes(token), 'never the value');
    } finally {
      await Promise.all([a.close(), b.close(), c?.close()]);
    }
  });

  it('sends one token.revoked with reason inactive per token the policy revokes, with two instances sweeping', async () => {
    const env = { INACTIVE_TOKEN_DAYS: '30', EXPIRY_NOTICE_DAYS: 'off' };
    const a = await startApp({ env });
    const uri = a.config.storage.kind === 'mongodb' ? a.config.storage.uri : '';
    const b = await startApp({ env: { ...env, MONGODB_URI: uri } });
    try {
      await subscribe(a, receiver, 'revocations', ['token.revoked']);
      const t0 = a.clock.now().getTime();
      const user = await a.createUser();
      const long = { expires_at: new Date(t0 + 300 * DAY).toISOString() };
      const stale = await Promise.all([a.createPat(user, long), a.createPat(user, long), a.createPat(user, long)]);
      moveTo([a, b], t0 + 20 * DAY);
      const fresh = await a.createPat(user, long);
      moveTo([a, b], t0 + 31 * DAY);
      await Promise.all([run(a), run(b), run(a), run(b)]);
      await Promise.all([eventsSettled(a), eventsSettled(b)]);

      for (const { id } of stale) {
        const revoked = await about(receiver, 'revocations', id);
        assert.equal(revoked.length, 1, `one token.revoked for ${id}`);
        assert.equal(revoked[0]!.type, 'token.revoked');
        assert.ok(revoked[0]!.verified);
        assert.deepEqual(revoked[0]!.data, {
          token_id: id,
          user_id: user,
          reason: 'inactive',
          actor: 'system',
          via: 'scheduler',
        });
      }
      assert.deepEqual(await about(receiver, 'revocations', fresh.id), [], 'created 11 days ago: kept');
      assert.equal((await b.introspect(fresh.token)).body.active, true);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('maps the inactive revocation to SSF as a policy’s credential-change revoke; expiry notices stay off SSF', () => {
    const at = new Date();
    const token = { id: 'tok_1', userId: 'alice' };
    const revoked = events.tokenRevoked(token, 'inactive', SCHEDULER, at);
    const ssf = toSsfEvent(revoked, 'https://tokens.example');
    assert.equal(ssf?.type, 'https://schemas.openid.net/secevent/caep/event-type/credential-change');
    assert.equal(ssf?.claims.initiating_entity, 'policy');
    assert.equal(ssf?.claims.change_type, 'revoke');
    assert.match(JSON.stringify(ssf?.claims.reason_admin), /inactive-token policy/);
    const notice = { expiresAt: at, thresholdDays: 7 };
    assert.equal(toSsfEvent(events.tokenExpiring(token, notice, SCHEDULER, at), 'https://tokens.example'), null);
    assert.equal(toSsfEvent(events.tokenExpired(token, at, SCHEDULER, at), 'https://tokens.example'), null);
  });
});

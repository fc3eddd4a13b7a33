import assert from 'node:assert/strict';

import type { PatRecord } from '../adapters/types.ts';
import { ConfigError, loadConfig } from '../config/index.ts';
import { dueNotice } from '../server/jobs/expiry-notices.ts';
import type { NoticeChannel, NoticeSink } from '../server/jobs/sink.ts';
import { startApp, type TestApp } from './support/app.ts';
import { eventually } from './support/eventually.ts';

const DAY = 86_400_000;
const HOUR = 3_600_000;

/** A channel that records what it is given, as `<kind> <token id> <days>` lines. */
function recorder(name = 'test', fail: (call: string) => boolean = () => false) {
  const calls: string[] = [];
  const keys: string[] = [];
  const take = async (call: string, key: string) => {
    if (fail(call)) throw new Error(`injected failure of ${call}`);
    calls.push(call);
    keys.push(key);
  };
  const sink: NoticeSink = {
    expiring: (n) => take(`expiring ${n.tokenId} ${n.thresholdDays}`, n.idempotencyKey),
    expired: (n) => take(`expired ${n.tokenId}`, n.idempotencyKey),
    revokedInactive: (n) => take(`revoked_inactive ${n.tokenId}`, n.idempotencyKey),
  };
  const channel: NoticeChannel = { name, sink };
  return { channel, calls, keys };
}

/** The notice events of a token in the audit log, oldest first, as `<type> <threshold_days>`. */
async function noticeEvents(app: TestApp, tokenId: string): Promise<string[]> {
  const res = await app.api('GET', `/api/audit?token_id=${tokenId}&limit=200`);
  assert.equal(res.status, 200);
  const rows = res.body.data as Array<{ type: string; actor: string; via: string; details: Record<string, unknown> }>;
  return rows
    .filter((e) => e.type === 'token.expiring' || e.type === 'token.expired')
    .reverse()
    .map((e) => {
      assert.equal(e.actor, 'system');
      assert.equal(e.via, 'scheduler');
      return e.type === 'token.expiring' ? `expiring ${String(e.details.threshold_days)}` : 'expired';
    });
}

/** Moves the clocks of all the apps to `at` (they started together, so they move together). */
function moveTo(apps: TestApp[], at: number): void {
  for (const app of apps) app.clock.advance(at - app.clock.now().getTime());
}

const run = (app: TestApp) => app.tw.jobs.scheduler.runNow();

function pat(createdAt: number, expiresAt: number | null, revoked = false): PatRecord {
  return {
    id: 'tok_x',
    tokenHash: 'h',
    userId: 'u',
    name: 'n',
    description: null,
    scopes: [],
    resource: null,
    createdAt: new Date(createdAt),
    expiresAt: expiresAt === null ? null : new Date(expiresAt),
    lastUsedAt: null,
    lastUsedClient: null,
    rotatedAt: null,
    revokedAt: revoked ? new Date(createdAt) : null,
  };
}

describe('expiry notices', () => {
  describe('which notice is due (the rule, on its own)', () => {
    const t0 = Date.UTC(2030, 0, 1);
    const due = (p: PatRecord, now: number) => {
      const n = dueNotice(p, [30, 7, 1], new Date(now));
      return n === null ? null : n.kind === 'expiring' ? `expiring ${n.thresholdDays}` : n.kind;
    };

    it('is the nearest threshold passed, only that one', () => {
      const p = pat(t0, t0 + 100 * DAY);
      assert.equal(due(p, t0), null);
      assert.equal(due(p, t0 + 100 * DAY - 30 * DAY - 1), null);
      assert.equal(due(p, t0 + 100 * DAY - 30 * DAY), 'expiring 30');
      assert.equal(due(p, t0 + 100 * DAY - 5 * DAY), 'expiring 7', 'a run that missed the 30-day notice sends the 7');
      assert.equal(due(p, t0 + 100 * DAY - 1), 'expiring 1');
    });

    it('skips the thresholds a token never lived beyond: a 30-day token gets no "30 days left" at birth', () => {
      assert.equal(due(pat(t0, t0 + 30 * DAY), t0 + 1), null);
      assert.equal(due(pat(t0, t0 + 30 * DAY), t0 + 23 * DAY), 'expiring 7');
      assert.equal(due(pat(t0, t0 + 20 * HOUR), t0 + 10 * HOUR), null, 'shorter than every threshold');
    });

    it('is "expired" for a week after the expiry, then nothing; never for revoked or non-expiring tokens', () => {
      const p = pat(t0, t0 + 40 * DAY);
      assert.equal(due(p, t0 + 40 * DAY), 'expired');
      assert.equal(due(p, t0 + 47 * DAY - 1), 'expired');
      assert.equal(due(p, t0 + 47 * DAY), null);
      assert.equal(due(pat(t0, t0 + 40 * DAY, true), t0 + 39 * DAY), null);
      assert.equal(due(pat(t0, null), t0 + 1000 * DAY), null);
    });
  });

  describe('EXPIRY_NOTICE_DAYS', () => {
    const base = { NODE_ENV: 'test' };
    it('defaults to 30,7,1 and accepts a list in any order, or off', () => {
      assert.deepEqual(loadConfig(base).jobs.expiryNoticeDays, [30, 7, 1]);
      assert.deepEqual(loadConfig({ ...base, EXPIRY_NOTICE_DAYS: '1,14,3,14' }).jobs.expiryNoticeDays, [14, 3, 1]);
      assert.deepEqual(loadConfig({ ...base, EXPIRY_NOTICE_DAYS: 'off' }).jobs.expiryNoticeDays, []);
    });
    for (const bad of ['0', '30,,1', '7d', 'x', '30;7', '5000']) {
      it(`refuses ${JSON.stringify(bad)}, naming the variable`, () => {
        assert.throws(
          () => loadConfig({ ...base, EXPIRY_NOTICE_DAYS: bad }),
          (e: unknown) => e instanceof ConfigError && /EXPIRY_NOTICE_DAYS/.test(e.message),
        );
      });
    }
  });

  describe('on one instance', () => {
    let app: TestApp;
    let rec: ReturnType<typeof recorder>;
    let userId: string;
    before(async () => {
      rec = recorder();
      app = await startApp({ noticeChannels: [rec.channel] });
      userId = await app.createUser();
    });
    after(() => app.close());

    it('sends each threshold once as the clock moves, then "expired" once, to the audit log and every channel', async () => {
      const t0 = app.clock.now().getTime();
      const expires = t0 + 40 * DAY;
      const { id } = await app.createPat(userId, { expires_at: new Date(expires).toISOString() });
      const steps: Array<[number, string[]]> = [
        [t0, []],
        [expires - 30 * DAY - HOUR, []],
        [expires - 30 * DAY + HOUR, ['expiring 30']],
        [expires - 20 * DAY, ['expiring 30']],
        [expires - 7 * DAY + HOUR, ['expiring 30', 'expiring 7']],
        [expires - 6 * DAY, ['expiring 30', 'expiring 7']],
        [expires - 23 * HOUR, ['expiring 30', 'expiring 7', 'expiring 1']],
        [expires - HOUR, ['expiring 30', 'expiring 7', 'expiring 1']],
        [expires + HOUR, ['expiring 30', 'expiring 7', 'expiring 1', 'expired']],
        [expires + 3 * DAY, ['expiring 30', 'expiring 7', 'expiring 1', 'expired']],
      ];
      try {
        for (const [at, expected] of steps) {
          moveTo([app], at);
          await run(app);
          await run(app); // a second run at the same moment sends nothing more
          assert.deepEqual(await noticeEvents(app, id), expected, `at expiry ${(at - expires) / HOUR} h`);
          assert.deepEqual(
            rec.calls.filter((c) => c.includes(id)),
            expected.map((e) => (e === 'expired' ? `expired ${id}` : `expiring ${id} ${e.split(' ')[1]}`)),
          );
        }
      } finally {
        moveTo([app], t0);
      }
      assert.deepEqual(
        rec.keys.filter((k) => k.endsWith(id)),
        [`expiring-30d:${id}`, `expiring-7d:${id}`, `expiring-1d:${id}`, `expired:${id}`],
      );
    });

    it('records the expiry and threshold in the audit event', async () => {
      const t0 = app.clock.now().getTime();
      const expires = new Date(t0 + 10 * DAY);
      const { id } = await app.createPat(userId, { expires_at: expires.toISOString() });
      try {
        moveTo([app], t0 + 4 * DAY);
        await run(app);
      } finally {
        moveTo([app], t0);
      }
      const events = (await app.api('GET', `/api/audit?token_id=${id}&type=token.expiring`)).body.data as Array<{
        user_id: string;
        details: Record<string, unknown>;
      }>;
      assert.equal(events.length, 1);
      assert.equal(events[0]!.user_id, userId);
      assert.deepEqual(events[0]!.details, { threshold_days: 7, expires_at: expires.toISOString() });
    });

    it('sends nothing for revoked tokens, and nothing for a disabled user until they are enabled again', async () => {
      const t0 = app.clock.now().getTime();
      const other = await app.createUser();
      const revoked = await app.createPat(userId, { expires_at: new Date(t0 + 10 * DAY).toISOString() });
      const disabled = await app.createPat(other, { expires_at: new Date(t0 + 10 * DAY).toISOString() });
      assert.equal((await app.api('DELETE', `/api/users/${userId}/tokens/${revoked.id}`)).status, 204);
      assert.equal((await app.api('PATCH', `/api/users/${other}`, { disabled: true })).status, 200);
      try {
        moveTo([app], t0 + 4 * DAY);
        await run(app);
        assert.deepEqual(await noticeEvents(app, revoked.id), []);
        assert.deepEqual(await noticeEvents(app, disabled.id), []);
        assert.equal((await app.api('PATCH', `/api/users/${other}`, { disabled: false })).status, 200);
        await run(app);
        assert.deepEqual(await noticeEvents(app, disabled.id), ['expiring 7']);
      } finally {
        moveTo([app], t0);
      }
    });

    it('retries a delivery that failed until it succeeds, without repeating it on the channels that had it', async () => {
      let failures = 1;
      const flaky = recorder('flaky', () => failures-- > 0);
      const other = await startApp({ noticeChannels: [flaky.channel] });
      try {
        const t0 = other.clock.now().getTime();
        const user = await other.createUser();
        const { id } = await other.createPat(user, { expires_at: new Date(t0 + 10 * DAY).toISOString() });
        moveTo([other], t0 + 4 * DAY);
        const first = await run(other);
        assert.deepEqual(first['expiry-notices'], {
          ok: true,
          report: { scanned: 1, pending: 1, skipped: 0, claimed: 3, delivered: 2, failed: 1 },
          ms: (first['expiry-notices'] as { ms: number }).ms,
        });
        assert.deepEqual(flaky.calls, []);
        assert.deepEqual(await noticeEvents(other, id), ['expiring 7'], 'the audit and events channels had it at once');
        await run(other);
        assert.deepEqual(flaky.calls, [], 'retried after a back-off, not at once');
        moveTo([other], t0 + 4 * DAY + 6 * 60_000);
        await run(other);
        assert.deepEqual(flaky.calls, [`expiring ${id} 7`]);
        moveTo([other], t0 + 4 * DAY + DAY);
        await run(other);
        assert.deepEqual(flaky.calls, [`expiring ${id} 7`], 'delivered once');
        assert.deepEqual(await noticeEvents(other, id), ['expiring 7'], 'and once in the audit log');
      } finally {
        await other.close();
      }
    });

    it('runs by itself every JOBS_INTERVAL_SECONDS', async () => {
      const timed = await startApp({ env: { JOBS_INTERVAL_SECONDS: '1' } });
      try {
        const t0 = timed.clock.now().getTime();
        const user = await timed.createUser();
        const { id } = await timed.createPat(user, { expires_at: new Date(t0 + 10 * DAY).toISOString() });
        moveTo([timed], t0 + 4 * DAY);
        await eventually(async () => (await noticeEvents(timed, id)).length > 0);
        assert.deepEqual(await noticeEvents(timed, id), ['expiring 7']);
      } finally {
        await timed.close();
      }
    });

    it('works the same on the embedded in-memory store', async () => {
      const embedded = await startApp({ memory: true });
      try {
        const t0 = embedded.clock.now().getTime();
        const user = await embedded.createUser();
        const { id } = await embedded.createPat(user, { expires_at: new Date(t0 + 10 * DAY).toISOString() });
        for (const at of [t0 + 4 * DAY, t0 + 4 * DAY, t0 + 9.5 * DAY, t0 + 11 * DAY, t0 + 12 * DAY]) {
          moveTo([embedded], at);
          await run(embedded);
        }
        assert.deepEqual(await noticeEvents(embedded, id), ['expiring 7', 'expiring 1', 'expired']);
      } finally {
        await embedded.close();
      }
    });
  });

  describe('several instances on one database', () => {
    it('sends nothing twice across a restart (a new instance on the same database)', async () => {
      const first = recorder();
      const a = await startApp({ noticeChannels: [first.channel] });
      const uri = a.config.storage.kind === 'mongodb' ? a.config.storage.uri : '';
      const t0 = a.clock.now().getTime();
      const user = await a.createUser();
      const { id } = await a.createPat(user, { expires_at: new Date(t0 + 40 * DAY).toISOString() });
      moveTo([a], t0 + 15 * DAY);
      await run(a);
      await a.close();

      const second = recorder();
      const b = await startApp({ env: { MONGODB_URI: uri }, noticeChannels: [second.channel] });
      try {
        moveTo([b], t0 + 15 * DAY);
        await run(b);
        assert.deepEqual(second.calls, [], 'the 30-day notice went out before the restart');
        moveTo([b], t0 + 35 * DAY);
        await run(b);
        assert.deepEqual([...first.calls, ...second.calls], [`expiring ${id} 30`, `expiring ${id} 7`]);
        assert.deepEqual(await noticeEvents(b, id), ['expiring 30', 'expiring 7']);
      } finally {
        await b.close();
      }
    });

    it('claims each notice once when two instances run at the same moment', async () => {
      const recA = recorder();
      const recB = recorder();
      const a = await startApp({ noticeChannels: [recA.channel] });
      const uri = a.config.storage.kind === 'mongodb' ? a.config.storage.uri : '';
      const b = await startApp({ env: { MONGODB_URI: uri }, noticeChannels: [recB.channel] });
      try {
        const t0 = a.clock.now().getTime();
        const user = await a.createUser();
        const ids: string[] = [];
        for (let i = 0; i < 8; i++) {
          const expires = new Date(t0 + (20 + i / 10) * DAY).toISOString(); // 20 to 20.7 days
          ids.push((await a.createPat(user, { expires_at: expires })).id);
        }
        for (const at of [t0 + 15 * DAY, t0 + 19.95 * DAY, t0 + 22 * DAY]) {
          moveTo([a, b], at);
          await Promise.all([run(a), run(b), run(a), run(b)]);
        }
        const all = [...recA.calls, ...recB.calls].sort();
        const expected = ids.flatMap((id) => [`expiring ${id} 7`, `expiring ${id} 1`, `expired ${id}`]).sort();
        assert.deepEqual(all, expected, 'every notice once, from one instance or the other');
        assert.ok(recA.calls.length > 0 && recB.calls.length > 0, 'both instances took part');
        for (const id of ids) assert.deepEqual(await noticeEvents(a, id), ['expiring 7', 'expiring 1', 'expired']);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });

    it('takes over a claim whose holder died before delivering it, once the claim’s lease has ended', async () => {
      let hang = true;
      const stuck = recorder('test');
      const dying: NoticeChannel = {
        name: 'test',
        sink: {
          ...stuck.channel.sink,
          // The process "dies" here: the claim is written, the delivery never happens.
          expiring: (n) => (hang ? new Promise<void>(() => undefined) : stuck.channel.sink.expiring(n)),
        },
      };
      const a = await startApp({ noticeChannels: [dying] });
      const uri = a.config.storage.kind === 'mongodb' ? a.config.storage.uri : '';
      const t0 = a.clock.now().getTime();
      const user = await a.createUser();
      const { id } = await a.createPat(user, { expires_at: new Date(t0 + 10 * DAY).toISOString() });
      moveTo([a], t0 + 4 * DAY);
      void run(a);
      await eventually(async () => (await noticeEvents(a, id)).length > 0);
      await a.close(); // the audit channel delivered; the test channel's claim is held by a dead instance
      hang = false;

      const after = recorder('test');
      const b = await startApp({ env: { MONGODB_URI: uri }, noticeChannels: [after.channel] });
      try {
        moveTo([b], t0 + 4 * DAY + 60_000);
        await run(b);
        assert.deepEqual(after.calls, [], 'not while the dead holder’s lease lasts');
        moveTo([b], t0 + 4 * DAY + 11 * 60_000);
        await run(b);
        assert.deepEqual(after.calls, [`expiring ${id} 7`], 'taken over and delivered');
        await run(b);
        assert.deepEqual(after.calls, [`expiring ${id} 7`]);
        assert.deepEqual(stuck.calls, []);
        assert.deepEqual(await noticeEvents(b, id), ['expiring 7'], 'the audit channel, once');
      } finally {
        await b.close();
      }
    });
  });
});

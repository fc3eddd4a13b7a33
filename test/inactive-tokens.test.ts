import assert from 'node:assert/strict';

import { createMemoryStorage } from '../adapters/memory/storage.ts';
import { createMongoStorage } from '../adapters/mongo/storage.ts';
import type { LeaseStore, Storage } from '../adapters/types.ts';
import { SWEEP_LEASE } from '../server/jobs/inactive-tokens.ts';
import type { NoticeChannel } from '../server/jobs/sink.ts';
import { startApp, type TestApp } from './support/app.ts';
import { eventually } from './support/eventually.ts';

const DAY = 86_400_000;

/** A channel that records the inactive-token revocations it is told about. */
function recorder(): { channel: NoticeChannel; revoked: string[] } {
  const revoked: string[] = [];
  const channel: NoticeChannel = {
    name: 'test',
    sink: {
      expiring: async () => undefined,
      expired: async () => undefined,
      revokedInactive: async (n) => {
        assert.equal(n.idempotencyKey, `revoked-inactive:${n.tokenId}`);
        revoked.push(n.tokenId);
      },
    },
  };
  return { channel, revoked };
}

function moveTo(apps: TestApp[], at: number): void {
  for (const app of apps) app.clock.advance(at - app.clock.now().getTime());
}

const ids = (body: Record<string, unknown>) => (body.data as Array<{ id: string }>).map((t) => t.id).sort();

interface RevokedEvent {
  actor: string;
  via: string;
  details: Record<string, unknown>;
}

async function revocations(app: TestApp, tokenId: string): Promise<RevokedEvent[]> {
  const res = await app.api('GET', `/api/audit?token_id=${tokenId}&type=token.revoked`);
  assert.equal(res.status, 200);
  return res.body.data as RevokedEvent[];
}

async function introspectedActive(app: TestApp, token: string): Promise<boolean> {
  return (await app.introspect(token)).body.active === true;
}

/** Uses a token at a resource server and waits until its last use is recorded. */
async function use(app: TestApp, userId: string, pat: { id: string; token: string }): Promise<void> {
  assert.equal(await introspectedActive(app, pat.token), true);
  const at = app.clock.now().getTime();
  await eventually(async () => {
    const { last_used_at: lastUsed } = (await app.api('GET', `/api/users/${userId}/tokens/${pat.id}`)).body;
    return typeof lastUsed === 'string' && Date.parse(lastUsed) >= at - 1000;
  });
}

describe('inactive-token policy', () => {
  describe('the sweep, on two instances sharing one database', () => {
    let a: TestApp;
    let b: TestApp;
    let recA: ReturnType<typeof recorder>;
    let recB: ReturnType<typeof recorder>;
    let userId: string;
    let t0: number;
    const tokens: Record<string, { id: string; token: string }> = {};
    const stale = () => [tokens.usedLongAgo!.id, tokens.neverUsed!.id].sort();

    before(async () => {
      recA = recorder();
      recB = recorder();
      a = await startApp({ env: { INACTIVE_TOKEN_DAYS: '90' }, noticeChannels: [recA.channel] });
      const uri = a.config.storage.kind === 'mongodb' ? a.config.storage.uri : '';
      b = await startApp({ env: { MONGODB_URI: uri, INACTIVE_TOKEN_DAYS: '90' }, noticeChannels: [recB.channel] });
      userId = await a.createUser();
      t0 = a.clock.now().getTime();
      const longLived = { expires_at: new Date(t0 + 300 * DAY).toISOString() };
      tokens.usedLongAgo = await a.createPat(userId, longLived);
      tokens.neverUsed = await a.createPat(userId, longLived);
      tokens.usedRecently = await a.createPat(userId, longLived);
      tokens.revoked = await a.createPat(userId, longLived);
      tokens.expired = await a.createPat(userId, { expires_at: new Date(t0 + 30 * DAY).toISOString() });
      assert.equal((await a.api('DELETE', `/api/users/${userId}/tokens/${tokens.revoked.id}`)).status, 204);
      await use(a, userId, tokens.usedLongAgo);
      moveTo([a, b], t0 + 60 * DAY);
      await use(a, userId, tokens.usedRecently);
      tokens.createdRecently = await a.createPat(userId, longLived);
      moveTo([a, b], t0 + 91 * DAY);
    });
    after(async () => {
      await Promise.all([a?.close(), b?.close()]);
    });

    it('lists in its dry run the active tokens unused for INACTIVE_TOKEN_DAYS, never-used ones counted from creation', async () => {
      const res = await a.api('GET', '/api/tokens/inactive');
      assert.equal(res.status, 200);
      assert.deepEqual(ids(res.body), stale());
      assert.equal(res.body.inactive_days, 90);
      assert.equal(res.body.enforced, true);
      assert.equal(res.body.unused_since, new Date(Date.parse(String(res.body.unused_since))).toISOString());
      assert.ok(Math.abs(Date.parse(String(res.body.unused_since)) - (t0 + DAY)) < 60_000);
      assert.equal(res.body.next_cursor, null);
      const same = await b.api('GET', '/api/tokens/inactive');
      assert.deepEqual(ids(same.body), stale(), 'every instance lists the same');
    });

    it('pages like every list, and previews another number of days without enforcing it', async () => {
      const first = await a.api('GET', '/api/tokens/inactive?limit=1');
      assert.equal((first.body.data as unknown[]).length, 1);
      const rest = await a.api('GET', `/api/tokens/inactive?limit=1&cursor=${String(first.body.next_cursor)}`);
      assert.deepEqual([...ids(first.body), ...ids(rest.body)].sort(), stale());
      assert.equal(rest.body.next_cursor, null);

      const month = await a.api('GET', '/api/tokens/inactive?days=30');
      assert.equal(month.body.enforced, false);
      assert.deepEqual(
        ids(month.body),
        [...stale(), tokens.usedRecently!.id, tokens.createdRecently!.id].sort(),
        'used or created 31 days ago',
      );
      const year = await a.api('GET', '/api/tokens/inactive?days=365');
      assert.deepEqual(ids(year.body), []);
    });

    it('revokes exactly the listed tokens, once, with two instances sweeping at the same moment', async () => {
      const reports = await Promise.all([
        a.tw.jobs.scheduler.runNow(),
        b.tw.jobs.scheduler.runNow(),
        a.tw.jobs.scheduler.runNow(),
        b.tw.jobs.scheduler.runNow(),
      ]);
      let revoked = 0;
      for (const report of reports) {
        const sweep = report['inactive-tokens'];
        assert.ok(sweep?.ok, 'every sweep ran without error');
        const r = sweep.report as { revoked?: number; skipped?: string };
        revoked += r.revoked ?? 0;
      }
      assert.equal(revoked, 2, 'two revocations in all');

      for (const id of stale()) {
        const events = await revocations(a, id);
        assert.equal(events.length, 1, 'one token.revoked per token in the audit log');
        assert.equal(events[0]!.actor, 'system');
        assert.equal(events[0]!.via, 'scheduler');
        assert.equal(events[0]!.details.reason, 'inactive');
        assert.equal(events[0]!.details.inactive_days, 90);
      }
      assert.equal((await revocations(a, tokens.usedLongAgo!.id))[0]!.details.last_used_at !== null, true);
      assert.equal((await revocations(a, tokens.neverUsed!.id))[0]!.details.last_used_at, null);
      assert.deepEqual([...recA.revoked, ...recB.revoked].sort(), stale(), 'each announced once on the channel');

      assert.equal(await introspectedActive(b, tokens.usedLongAgo!.token), false);
      assert.equal(await introspectedActive(b, tokens.neverUsed!.token), false);
      assert.equal(await introspectedActive(b, tokens.usedRecently!.token), true, 'used 31 days ago: kept');
      assert.equal(await introspectedActive(b, tokens.createdRecently!.token), true, 'created 31 days ago: kept');
      assert.equal((await revocations(a, tokens.revoked!.id)).length, 1, 'the admin’s revocation only');
      assert.deepEqual(await revocations(a, tokens.expired!.id), [], 'an expired token is left alone');
      assert.deepEqual(ids((await a.api('GET', '/api/tokens/inactive')).body), [], 'nothing left to revoke');

      await Promise.all([a.tw.jobs.scheduler.runNow(), b.tw.jobs.scheduler.runNow()]);
      for (const id of stale()) assert.equal((await revocations(a, id)).length, 1);
    });

    it('records one revocation when two instances revoke the same token at once (the revoke routine)', async () => {
      const racing = await Promise.all(Array.from({ length: 4 }, () => a.createPat(userId)));
      const unusedSince = new Date(a.clock.now().getTime() + 1000); // everything is "inactive" against this
      const ctx = { actor: { id: 'system', via: 'scheduler' as const } };
      await Promise.all(
        racing.flatMap(({ id }) => [
          a.tw.services.pats.revokeInactive(id, unusedSince, ctx),
          b.tw.services.pats.revokeInactive(id, unusedSince, ctx),
        ]),
      );
      for (const { id, token } of racing) {
        assert.equal((await revocations(a, id)).length, 1);
        assert.equal(await introspectedActive(b, token), false);
      }
    });

    it('keeps a token used between the listing and its revocation', async () => {
      const kept = await a.createPat(userId);
      const unusedSince = new Date(a.clock.now().getTime() + 1000);
      await use(a, userId, kept);
      const ctx = { actor: { id: 'system', via: 'scheduler' as const } };
      assert.equal(await a.tw.services.pats.revokeInactive(kept.id, new Date(unusedSince.getTime() - 2000), ctx), null);
      assert.equal(await introspectedActive(a, kept.token), true);
    });
  });

  describe('one sweep at a time: the lease', () => {
    let storages: Storage[] = [];
    let app: TestApp;
    before(async () => {
      app = await startApp({ env: { INACTIVE_TOKEN_DAYS: '30' } });
      const uri = app.config.storage.kind === 'mongodb' ? app.config.storage.uri : '';
      storages = await Promise.all([1, 2].map(() => createMongoStorage({ uri, timeoutMs: 2000 })));
    });
    after(async () => {
      await Promise.all([app?.close(), ...storages.map((s) => s.close())]);
    });

    const contract = (name: string, leases: () => [LeaseStore, LeaseStore]) => {
      it(`${name}: of many takers at once, exactly one gets it; it is free again once released or expired`, async () => {
        const [one, two] = leases();
        const now = new Date();
        const until = new Date(now.getTime() + 60_000);
        const lease = `test-${name}-${Math.random()}`;
        const taken = await Promise.all(
          Array.from({ length: 6 }, (_, i) => (i % 2 ? one : two).acquire(lease, `holder ${i}`, now, until)),
        );
        const winners = taken.filter((t) => t !== null);
        assert.equal(winners.length, 1);
        const held = winners[0]!;
        assert.equal(await two.acquire(lease, 'late', new Date(now.getTime() + 30_000), until), null);
        assert.notEqual(await one.renew(held, new Date(now.getTime() + 90_000)), null, 'its holder renews it');

        const expired = new Date(now.getTime() + 91_000);
        const next = await two.acquire(lease, 'next', expired, new Date(expired.getTime() + 60_000));
        assert.ok(next, 'taken over once expired');
        assert.equal(next.generation, held.generation + 1);
        assert.equal(await one.renew(held, new Date(expired.getTime() + 120_000)), null, 'the old holder lost it');
        await one.release(held); // a lost lease's release changes nothing
        assert.equal(await one.acquire(lease, 'other', expired, until), null);
        await two.release(next);
        assert.ok(await one.acquire(lease, 'after release', expired, new Date(expired.getTime() + 60_000)));
      });
    };
    contract('MongoDB store, two connections', () => [storages[0]!.leases, storages[1]!.leases]);
    const memory = createMemoryStorage();
    contract('in-memory store', () => [memory.leases, memory.leases]);

    it('makes another instance skip its sweep while one holds it', async () => {
      const now = app.clock.now();
      const held = await storages[0]!.leases.acquire(SWEEP_LEASE, 'elsewhere', now, new Date(now.getTime() + 60_000));
      assert.ok(held);
      const skipped = await app.tw.jobs.scheduler.runNow();
      assert.deepEqual((skipped['inactive-tokens'] as { report: unknown }).report, {
        skipped: 'another instance is sweeping',
      });
      await storages[0]!.leases.release(held);
      const ran = await app.tw.jobs.scheduler.runNow();
      assert.equal((ran['inactive-tokens'] as { report: { revoked: number } }).report.revoked, 0);
    });
  });

  describe('GET /api/tokens/inactive', () => {
    let app: TestApp;
    before(async () => {
      app = await startApp();
    });
    after(() => app.close());

    it('asks for days when INACTIVE_TOKEN_DAYS is not set, and previews them', async () => {
      const res = await app.api('GET', '/api/tokens/inactive');
      assert.equal(res.status, 400);
      assert.equal(res.body.error, 'invalid_request');
      assert.match(String(res.body.error_description), /INACTIVE_TOKEN_DAYS/);
      const preview = await app.api('GET', '/api/tokens/inactive?days=10');
      assert.equal(preview.status, 200);
      assert.equal(preview.body.enforced, false);
      assert.deepEqual(preview.body.data, []);
    });

    it('answers bad input with RFC-shaped 400s', async () => {
      for (const query of [
        'days=0',
        'days=abc',
        'days=3651',
        'days=1.5',
        'days=1&days=2',
        'limit=0',
        'cursor=x',
        'q=1',
      ]) {
        const res = await app.api('GET', `/api/tokens/inactive?${query}`);
        assert.equal(res.status, 400, query);
        assert.equal(res.body.error, 'invalid_request', query);
        assert.equal(typeof res.body.error_description, 'string', query);
      }
    });

    it('is for admins only', async () => {
      assert.equal((await app.api('GET', '/api/tokens/inactive?days=1', undefined, null)).status, 401);
      const user = await app.createUser();
      const pat = await app.createPat(user, { scopes: ['tokens:manage'] });
      const res = await app.api('GET', '/api/tokens/inactive?days=1', undefined, pat.token);
      assert.equal(res.status, 403);
      assert.equal(res.body.error, 'insufficient_scope');
    });
  });
});

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';

import { Redis } from 'ioredis';

import { createPatFormat } from '../../server/services/pat-format.ts';
import { basic } from '../support/app.ts';
import { eventually } from '../support/eventually.ts';
import { needsServices, services } from '../support/hooks.ts';
import { ask, startRedisCluster, startRedisSentinel } from '../support/redis-topologies.ts';
import { canConnect, freePort } from '../../scripts/lib/services.ts';
import {
  bootstrap,
  startLoad,
  summaryTable,
  tokenwardenProcess,
  verifyLedger,
  type Api,
  type Load,
  type LoadSummary,
  type TokenwardenProcess,
  type Verification,
} from '../../scripts/lib/load.ts';

/**
 * `npm run test:faults`: Tokenwarden as its own process under a steady load of introspections, creations and
 * revocations, while the harness stops and restarts Redis and the MongoDB-compatible server, sends SIGTERM, and
 * SIGKILLs it right after it answers a creation. Every answer is judged (see harness.ts); at the end every
 * acknowledged write is read back. Prints a summary table: requests, failures by kind, wrong answers, lost writes.
 */
describe('faults under load', function () {
  before(needsServices);
  this.timeout(240_000);
  const rows: Array<{ scenario: string; load: LoadSummary; check: Verification }> = [];
  const format = createPatFormat('pat');

  /** Redis and MongoDB given through REDIS_URL/MONGODB_URI cannot be stopped: those two scenarios skip then. */
  function needsControllable(ctx: Mocha.Context, which: 'redis' | 'mongo'): void {
    if (!services()[which].controllable) ctx.skip();
  }
  after(() => {
    if (rows.length > 0) process.stdout.write(`${summaryTable(rows)}\n`);
  });

  // Whatever a scenario leaves running when it fails is stopped (its load) or killed (its server), so a failure
  // never leaves the run hanging; the server's last output is printed with the failure.
  const launched: TokenwardenProcess[] = [];
  const loads: Load[] = [];
  const topologies: Array<{ stop(): Promise<void> }> = [];
  const loadOn = (api: Api): Load => {
    const started = startLoad(api);
    loads.push(started);
    return started;
  };
  afterEach(async function () {
    const failed = this.currentTest?.state === 'failed';
    await Promise.all(loads.splice(0).map((l) => l.stop()));
    for (const tw of launched.splice(0)) {
      if (failed) {
        const errors = tw.errors().join('\n') || '(none)';
        process.stdout.write(
          `Tokenwarden's error-level log lines:\n${errors}\nits last output:\n${tw.output().slice(-6000)}\n`,
        );
      }
      tw.killNow();
    }
    await Promise.all(topologies.splice(0).map((t) => t.stop()));
    // A scenario that failed during an outage leaves the service stopped: the next one needs it back.
    for (const service of [services().redis, services().mongo]) {
      if (service.controllable && !(await canConnect(service.port))) await service.start();
    }
  });

  /**
   * Starts Tokenwarden on a fresh database and the harness's Redis, or the Redis topology `redisEnv` names.
   *
   * `MONGODB_TIMEOUT_MS` is 8 s in the scenarios where the database stays up: FerretDB scans a whole collection for
   * every query, and with the cache away every introspection of this load reaches it, so a change can wait a few
   * seconds in its queue. With the default 2 s that wait is answered 503 (the timeout doing its job), which these
   * scenarios, judging Redis and process faults, would count as a failure. The MongoDB scenario keeps 2 s.
   */
  async function launch(redisEnv?: Record<string, string>, mongoTimeoutMs = 8000): Promise<TokenwardenProcess> {
    const { redis, mongo } = services();
    const tw = tokenwardenProcess({
      PORT: String(await freePort()),
      MONGODB_URI: `${mongo.url}/tw_faults_${randomBytes(4).toString('hex')}`,
      ...(redisEnv ?? { REDIS_URL: redis.url }),
      TOKEN_MAX_LIFETIME_DAYS: '0',
      MAX_TOKENS_PER_USER: '10000',
      RETRY_AFTER_SECONDS: '2',
      MONGODB_TIMEOUT_MS: String(mongoTimeoutMs),
    });
    launched.push(tw);
    await tw.start();
    return tw;
  }

  function assertClean(scenario: string, load: LoadSummary, check: Verification): void {
    rows.push({ scenario, load, check });
    const problems = [...load.wrong, ...check.disagreements, ...check.lost, ...check.halfWritten];
    if (problems.length > 0) {
      const ids = new Set(problems.flatMap((p) => p.match(/tok_\w+/g) ?? []));
      const entries = [...load.ledger.values()].filter((e) => ids.has(e.id));
      process.stderr.write(`${scenario}:\n${problems.join('\n')}\n${JSON.stringify(entries, null, 1)}\n`);
    }
    assert.deepEqual(load.wrong, [], 'wrong answers');
    assert.deepEqual(check.disagreements, [], 'introspection disagrees with what is stored');
    assert.deepEqual(check.lost, [], 'lost writes');
    assert.deepEqual(check.halfWritten, [], 'half-written creations');
    assert.ok(load.ledger.size > 0 && check.checked === load.ledger.size);
  }

  const only = (failures: Record<string, number>, allowed: (key: string) => boolean) =>
    Object.keys(failures).filter((key) => !allowed(key));

  it('Redis stopped, then restarted: no error, no wrong answer, and the cache resumes by itself', async function () {
    needsControllable(this, 'redis');
    const { redis } = services();
    const tw = await launch();
    const api = await bootstrap(tw, 6);
    const load = loadOn(api);
    const probe = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
    try {
      load.phase('redis up');
      await load.after(400);
      load.phase('redis down');
      await redis.stop();
      await load.after(500);
      load.phase('redis restarting');
      await redis.start();
      // Resumed: a PAT first introspected now has its answer written to Redis again.
      await probe.connect();
      await eventually(async () => {
        const user = api.users[0]!;
        const created = await api.admin('POST', `/api/users/${user}/tokens`, {
          name: `probe-${Date.now()}`,
          scopes: [],
        });
        if (created.status !== 201) return false;
        if ((await api.introspect(String(created.body.token))).body.active !== true) return false;
        return (await probe.exists(`tw:pat:${format.hash(String(created.body.token))}`)) === 1;
      }, 20_000);
      load.phase('redis back');
      await load.after(400);
    } finally {
      probe.disconnect();
    }
    const summary = await load.stop();
    const check = await verifyLedger(api, summary);
    await tw.signal('SIGTERM');
    assertClean('Redis stopped, restarted', summary, check);
    assert.deepEqual(summary.failures, {}, 'no failed request of any kind while Redis was away');
  });

  it('MongoDB stopped, then restarted: cached PATs answer, others get 503 + Retry-After, nothing is lost', async function () {
    needsControllable(this, 'mongo');
    const { mongo } = services();
    const tw = await launch(undefined, 2000);
    const api = await bootstrap(tw, 6);
    const user = api.users[0]!;
    const make = async (name: string) => {
      const res = await api.admin('POST', `/api/users/${user}/tokens`, { name, scopes: [] });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return { id: String(res.body.id), token: String(res.body.token) };
    };
    // Outside the load's ledger: warm (introspected, so cached), cold (never introspected), revoked.
    const warm = await Promise.all([1, 2, 3, 4, 5].map((i) => make(`warm-${i}`)));
    const cold = await Promise.all([1, 2, 3].map((i) => make(`cold-${i}`)));
    const revoked = await Promise.all([1, 2, 3].map((i) => make(`revoked-${i}`)));
    for (const p of warm) assert.equal((await api.introspect(p.token)).body.active, true);
    for (const p of revoked) {
      assert.equal((await api.admin('DELETE', `/api/users/${user}/tokens/${p.id}`)).status, 204);
      assert.equal((await api.introspect(p.token)).body.active, false);
    }

    const load = loadOn(api);
    load.phase('mongo up');
    await load.after(400);
    load.phase('mongo down');
    await mongo.stop();
    await load.after(400);

    for (const p of warm) {
      const res = await api.introspect(p.token);
      assert.equal(res.status, 200, 'a cached live PAT answers from the cache');
      assert.equal(res.body.active, true);
    }
    for (const p of cold) {
      const res = await api.introspect(p.token);
      assert.equal(res.status, 503, 'an uncached PAT cannot be answered');
      assert.equal(res.headers.get('retry-after'), '2');
      assert.equal(res.body.error, 'temporarily_unavailable');
    }
    for (const p of revoked) {
      const res = await api.introspect(p.token);
      assert.notEqual(res.body.active, true, 'a revoked PAT is never active');
    }
    const refused = await api.admin('POST', `/api/users/${user}/tokens`, { name: 'during-outage', scopes: [] });
    assert.equal(refused.status, 503);
    assert.equal(refused.body.error, 'temporarily_unavailable');

    load.phase('mongo restarting');
    await mongo.start();
    // Recovered without restarting Tokenwarden: creations succeed again.
    const attempts: string[] = [];
    const restarted = Date.now();
    await eventually(async () => {
      const res = await api.admin('POST', `/api/users/${user}/tokens`, { name: `after-${Date.now()}`, scopes: [] });
      attempts.push(
        `${Date.now() - restarted} ms: ${res.status} ${JSON.stringify(res.body.error_description ?? null)}`,
      );
      return res.status === 201;
    }, 60_000).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; attempts:\n${attempts.join('\n')}`);
    });
    load.phase('mongo back');
    await load.after(400);
    const summary = await load.stop();
    const check = await verifyLedger(api, summary);
    // The refused creation left no live token (had its insert landed after all, it is withdrawn).
    await eventually(async () => {
      const list = await api.admin('GET', `/api/users/${user}/tokens?limit=200&status=active`);
      return !(list.body.data as Array<{ name: string }>).some((t) => t.name === 'during-outage');
    });
    await tw.signal('SIGTERM');

    assertClean('MongoDB stopped, restarted', summary, check);
    assert.deepEqual(
      only(summary.failures, (key) => key === 'mongo down: 503' || key === 'mongo restarting: 503'),
      [],
      `only 503 + Retry-After while MongoDB was away, nothing before or after: ${JSON.stringify(summary.failures)}`,
    );
    assert.ok((summary.failures['mongo down: 503'] ?? 0) > 0, 'the outage was felt');
  });

  it('Redis Cluster: a master killed after its replica fell behind, the replica promoted: no wrong answer, nothing lost', async () => {
    const cluster = await startRedisCluster();
    topologies.push(cluster);
    const tw = await launch(cluster.env);
    const api = await bootstrap(tw, 6);
    const load = loadOn(api);
    load.phase('cluster up');
    await load.after(400);
    // The master of the invalidation channel's slot (its subscriber goes down with it, and a third of the entries).
    const master = await cluster.masterOf('tw:invalidations');
    const replica = await cluster.replicaOf(master);
    // Its replica stops reading and the master drops the replication link: whatever is written to that master now
    // (tombstones included) is acknowledged and then lost when the replica takes over.
    load.phase('replica cut off');
    await cluster.nodes.get(replica)!.signal('SIGSTOP');
    await ask(master, (c) => c.call('CLIENT', 'KILL', 'TYPE', 'replica'));
    const cutOff = Date.now();
    await load.after(60);
    load.phase('master killed');
    await cluster.nodes.get(master)!.signal('SIGKILL');
    const killed = Date.now();
    await cluster.nodes.get(replica)!.signal('SIGCONT');
    await cluster.promoted(replica);
    load.phase('replica promoted');
    await load.after(400);
    load.phase('old master back as a replica');
    await cluster.restart(master);
    await load.after(200);
    const summary = await load.stop();
    const check = await verifyLedger(api, summary);
    await tw.signal('SIGTERM');
    assertClean('Redis Cluster: master killed, replica promoted', summary, check);
    const revokedInWindow = [...summary.ledger.values()].filter(
      (e) => e.revokeAckAt !== undefined && e.revokeAckAt >= cutOff && e.revokeAckAt <= killed,
    ).length;
    assert.ok(revokedInWindow > 0, 'revocations were acknowledged while the replica was cut off');
    assert.deepEqual(summary.failures, {}, 'no failed request of any kind while the cluster failed over');
  });

  it('Redis Sentinel: SENTINEL FAILOVER under load: no wrong answer, nothing lost', async () => {
    const sentinel = await startRedisSentinel();
    topologies.push(sentinel);
    const tw = await launch(sentinel.env);
    const api = await bootstrap(tw, 6);
    const load = loadOn(api);
    load.phase('sentinel up');
    await load.after(400);
    // The old master still takes writes until Sentinel turns it into a replica, about 10 s later: the instance must
    // have left it at once (test/redis-topologies.test.ts checks that nothing it writes lands there).
    load.phase('failover');
    await sentinel.failover();
    load.phase('new master');
    await load.after(600);
    const summary = await load.stop();
    const check = await verifyLedger(api, summary);
    await tw.signal('SIGTERM');
    assertClean('Redis Sentinel: failover', summary, check);
    assert.deepEqual(summary.failures, {}, 'no failed request of any kind during the failover');
  });

  it('SIGTERM under load: in-flight requests finish, new connections are refused, exit 0', async () => {
    const tw = await launch();
    const api = await bootstrap(tw, 6);
    const user = api.users[0]!;
    const pat = await api.admin('POST', `/api/users/${user}/tokens`, { name: 'in-flight', scopes: [] });
    const load = loadOn(api);
    load.phase('serving');
    await load.after(400);

    // Requests the server has started (their headers are in, it answered 100 Continue) but not finished.
    const port = Number(new URL(tw.url).port);
    const inFlight = [1, 2, 3].map(() => slowIntrospection(port, api, String(pat.body.token)));
    await Promise.all(inFlight.map((r) => r.continued));
    load.phase('draining');
    const exit = tw.signal('SIGTERM');
    // While those are still in flight, the listener is closed: new connections are refused.
    await eventually(async () => !(await canConnect(port)), 5000);
    const answers = await Promise.all(inFlight.map((r) => r.finish()));
    for (const a of answers) {
      assert.equal(a.status, 200);
      assert.equal((JSON.parse(a.body) as { active?: unknown }).active, true);
    }
    assert.equal(await exit, 0, tw.output());
    load.phase('stopped');
    await load.after(50);
    const summary = await load.stop();

    await tw.start();
    const check = await verifyLedger(api, summary);
    await tw.signal('SIGTERM');
    assertClean('SIGTERM under load', summary, check);
    // A keep-alive connection idle at the signal is closed; a POST the client wrote onto it at that very moment is
    // reset (HTTP/1.1 has no way to refuse it; clients retry on a new connection). The requests in flight above
    // must all complete; the load's may only be refused, or reset in that race.
    assert.deepEqual(
      only(summary.failures, (key) => /^(draining: (refused|reset)|stopped: refused)$/.test(key)),
      [],
      `only refused connections once the server stopped listening: ${JSON.stringify(summary.failures)}`,
    );
  });

  it('SIGKILL right after answering a creation: after restart the PAT exists and works', async () => {
    const tw = await launch();
    const api = await bootstrap(tw, 6);
    const user = api.users[0]!;
    const load = loadOn(api);
    const port = Number(new URL(tw.url).port);
    const killedAfter: Array<{ id: string; token: string }> = [];
    for (let round = 1; round <= 3; round++) {
      load.phase(`serving ${round}`);
      await load.after(200);
      load.phase(`killed ${round}`);
      killedAfter.push(await createThenKill(port, api, user, `killed-${round}`, tw));
      assert.equal(await tw.exited(), null, 'killed by the signal');
      await tw.start();
    }
    load.phase('restarted');
    await load.after(200);
    const summary = await load.stop();

    for (const p of killedAfter) {
      const stored = await api.admin('GET', `/api/users/${user}/tokens/${p.id}`);
      assert.equal(stored.status, 200, 'the acknowledged creation survived the kill');
      assert.equal(stored.body.status, 'active');
      const res = await api.introspect(p.token);
      assert.equal(res.body.active, true);
      assert.equal(res.body.jti, p.id);
    }
    const check = await verifyLedger(api, summary);
    await tw.signal('SIGTERM');
    assertClean('SIGKILL after a creation (3 times)', summary, check);
    assert.deepEqual(
      only(summary.failures, (key) => /^killed \d: (refused|reset)$/.test(key)),
      [],
      `failures only while the process was dead: ${JSON.stringify(summary.failures)}`,
    );
  });
});

/** An introspection whose headers are sent at once (Expect: 100-continue) and whose body waits for `finish`. */
function slowIntrospection(port: number, api: Api, token: string) {
  const body = `token=${token}`;
  let answered!: Promise<{ status: number; body: string }>;
  const req = request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/introspect',
    agent: false,
    headers: {
      Authorization: basic(api.rs),
      'Content-Type': 'application/x-www-form-urlencoded',
      'Content-Length': Buffer.byteLength(body),
      Expect: '100-continue',
    },
  });
  const continued = new Promise<void>((resolve, reject) => {
    req.once('continue', resolve);
    req.once('error', reject);
    answered = new Promise((resolveAnswer, rejectAnswer) => {
      req.once('error', rejectAnswer);
      req.once('response', (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolveAnswer({ status: res.statusCode ?? 0, body: text }));
      });
    });
  });
  req.flushHeaders();
  return {
    continued,
    finish: () => {
      req.end(body);
      return answered;
    },
  };
}

/** Creates a PAT and SIGKILLs Tokenwarden the moment its 201 answer has been read in full. */
function createThenKill(
  port: number,
  api: Api,
  user: string,
  name: string,
  tw: TokenwardenProcess,
): Promise<{ id: string; token: string }> {
  const body = JSON.stringify({ name, scopes: [] });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: `/api/users/${user}/tokens`,
        agent: false,
        headers: {
          Authorization: `Bearer ${api.adminToken}`,
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(body),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => {
          tw.killNow();
          if (res.statusCode !== 201) {
            reject(new Error(`creation answered ${res.statusCode}: ${text}`));
            return;
          }
          const created = JSON.parse(text) as { id: string; token: string };
          resolve({ id: created.id, token: created.token });
        });
      },
    );
    req.once('error', reject);
    req.end(body);
  });
}

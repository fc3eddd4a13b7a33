/**
 * `npm run soak`: a bounded soak test, not part of `npm test`. Tokenwarden runs as its own process on real Redis
 * and the MongoDB-compatible server under the fault suite's mixed load, every answer judged, for SOAK_MINUTES
 * (default 5): 94% introspections, 3% creations, 3% revocations — PATs are validated far more often than made, and
 * on FerretDB/SQLite, where every query scans, a write-heavy mix measures the collection's growth, not Tokenwarden.
 * Each minute it prints the server's CPU seconds, RSS, heap, active handles and open file descriptors (from its own
 * /metrics); at the end every PAT created is read back (found, and active unless revoked) and every acknowledged
 * revocation must answer inactive.
 *
 * Exits 1 on any wrong answer or lost write, a failed request, or growth: RSS at the end over 1.25× the first
 * minute's (after warm-up), or active handles or file descriptors up by more than 20.
 *
 * Environment: SOAK_MINUTES, SOAK_RATE (requests/s, default 200), MONGODB_URI / REDIS_URL as the tests.
 */
import { randomBytes } from 'node:crypto';

import { bootstrap, startLoad, tokenwardenProcess, verifyLedger } from './lib/load.ts';
import { freePort, startMongo, startRedis } from './lib/services.ts';

// At least two minutes: growth is judged from the first minute's figures to the last's.
const MINUTES = Math.max(2, Number(process.env.SOAK_MINUTES ?? 5));
const RATE = Number(process.env.SOAK_RATE ?? 200);

interface Sample {
  minute: number;
  answered: number;
  failures: number;
  /** Server CPU seconds used in the minute (is Tokenwarden the bottleneck, or the database?). */
  cpuS: number;
  rssMb: number;
  heapMb: number;
  handles: number;
  fds: number;
}

async function processFigures(
  url: string,
): Promise<Omit<Sample, 'minute' | 'answered' | 'failures' | 'cpuS'> & { cpuTotal: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const metric = (name: string) =>
    Number(new RegExp(`^tokenwarden_${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1]);
  return {
    cpuTotal: metric('process_cpu_seconds_total'),
    rssMb: metric('process_resident_memory_bytes') / 2 ** 20,
    heapMb: metric('nodejs_heap_size_used_bytes') / 2 ** 20,
    handles: metric('nodejs_active_handles_total'),
    fds: metric('process_open_fds'),
  };
}

async function main(): Promise<number> {
  const [redis, mongo] = await Promise.all([startRedis(), startMongo()]);
  const stops = [redis, mongo].filter((s) => s.controllable);
  const tw = tokenwardenProcess({
    PORT: String(await freePort()),
    MONGODB_URI: `${mongo.url.replace(/\/$/, '')}/tw_soak_${randomBytes(4).toString('hex')}`,
    REDIS_URL: redis.url,
    TOKEN_MAX_LIFETIME_DAYS: '0',
    MAX_TOKENS_PER_USER: '10000',
  });
  try {
    await tw.start();
    const api = await bootstrap(tw, 8);
    process.stdout.write(`soak: ${MINUTES} min at ${RATE} requests/s against ${tw.url}\n\n`);
    process.stdout.write(
      '| minute | answered | failed | server CPU s | RSS MB | heap MB | active handles | open fds |\n|---|---|---|---|---|---|---|---|\n',
    );
    const load = startLoad(api, { ratePerSecond: RATE, concurrency: 16, mix: { create: 0.03, revoke: 0.03 } });
    load.phase('soak');
    const samples: Sample[] = [];
    let answeredBefore = 0;
    let failedBefore = 0;
    let cpuBefore = (await processFigures(tw.url)).cpuTotal;
    for (let minute = 1; minute <= MINUTES; minute++) {
      // Paced by the clock: a soak is a duration, not a synchronisation point.
      await new Promise((r) => setTimeout(r, 60_000));
      const failedSoFar = Object.values(load.failures()).reduce((a, b) => a + b, 0);
      const failures = failedSoFar - failedBefore;
      const { cpuTotal, ...figures } = await processFigures(tw.url);
      const sample = {
        minute,
        answered: load.answered() - answeredBefore,
        failures,
        cpuS: cpuTotal - cpuBefore,
        ...figures,
      };
      cpuBefore = cpuTotal;
      answeredBefore = load.answered();
      failedBefore = failedSoFar;
      samples.push(sample);
      process.stdout.write(
        `| ${minute} | ${sample.answered} | ${failures} | ${sample.cpuS.toFixed(1)} | ${sample.rssMb.toFixed(0)} | ${sample.heapMb.toFixed(0)} | ${sample.handles} | ${sample.fds} |\n`,
      );
    }
    const summary = await load.stop();
    process.stdout.write(`\nreading back ${summary.ledger.size} PATs…\n`);
    const check = await verifyLedger(api, summary);
    const revoked = [...summary.ledger.values()].filter((e) => e.revokeAckAt !== undefined).length;

    const first = samples[0]!;
    const last = samples.at(-1)!;
    const failures = Object.entries(summary.failures);
    const results: Array<[string, boolean, string]> = [
      [
        'wrong answers',
        summary.wrong.length + check.disagreements.length === 0,
        String(summary.wrong.length + check.disagreements.length),
      ],
      ['writes lost', check.lost.length === 0, String(check.lost.length)],
      ['failed requests', failures.length === 0, failures.map(([k, n]) => `${k} ×${n}`).join('; ') || '0'],
      [
        `every created PAT found (${summary.ledger.size}), every revoked one inactive (${revoked})`,
        check.lost.length === 0 && check.disagreements.length === 0,
        `${check.checked} checked`,
      ],
      [
        'RSS flat (last ≤ 1.25× minute 1)',
        last.rssMb <= first.rssMb * 1.25,
        `${first.rssMb.toFixed(0)} → ${last.rssMb.toFixed(0)} MB`,
      ],
      ['active handles flat (±20)', last.handles - first.handles <= 20, `${first.handles} → ${last.handles}`],
      ['open fds flat (±20)', last.fds - first.fds <= 20, `${first.fds} → ${last.fds}`],
    ];
    process.stdout.write(
      `\nrequests sent: ${summary.sent} (introspect ${summary.byOperation.introspect}, create ${summary.byOperation.create}, revoke ${summary.byOperation.revoke})\n`,
    );
    for (const [label, ok, value] of results) process.stdout.write(`  ${ok ? 'PASS' : 'FAIL'}  ${label}: ${value}\n`);
    for (const problem of [...summary.wrong, ...check.disagreements, ...check.lost].slice(0, 20)) {
      process.stdout.write(`    ${problem}\n`);
    }
    return results.every(([, ok]) => ok) ? 0 : 1;
  } finally {
    await tw.signal('SIGTERM');
    await Promise.allSettled(stops.map((s) => s.stop()));
    mongo.cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`soak failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);

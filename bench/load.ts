/**
 * The load generator, in its own process: autocannon against one URL for a fixed duration, cycling through the
 * request bodies given (one per line in a file, so a "cold" case never repeats a token). Prints autocannon's
 * result as JSON, after an unreported warm-up of `warmup` seconds (JIT, connection set-up: the same for every
 * case). `node --import tsx bench/load.ts '<json options>'`.
 */
import { readFileSync } from 'node:fs';

import autocannon from 'autocannon';

interface Options {
  url: string;
  connections: number;
  duration: number;
  warmup: number;
  headers: Record<string, string>;
  bodiesFile: string;
}

const opts = JSON.parse(process.argv[2] ?? '{}') as Options;
const bodies = readFileSync(opts.bodiesFile, 'utf8').split('\n').filter(Boolean);
let next = 0;

const request = {
  method: 'POST' as const,
  headers: { 'content-type': 'application/x-www-form-urlencoded', ...opts.headers },
  setupRequest(req: autocannon.Request) {
    const body = bodies[next++ % bodies.length]!;
    return { ...req, body };
  },
};

function run(duration: number): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      { url: opts.url, connections: opts.connections, duration, requests: [request] },
      (error, result) => (error ? reject(error as Error) : resolve(result)),
    );
    instance.on('error', () => undefined);
  });
}

try {
  const warmupTotal = opts.warmup > 0 ? (await run(opts.warmup)).requests.total : 0;
  const result = await run(opts.duration);
  process.stdout.write(
    JSON.stringify({
      rps: result.requests.average,
      total: result.requests.total,
      p50: result.latency.p50,
      p99: result.latency.p99,
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
      distinct: Math.min(next, bodies.length),
      warmupTotal,
    }),
  );
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n`);
  process.exit(1);
}

/**
 * The load generator, in its own process: autocannon against one URL for a fixed duration, cycling through the
 * request bodies given (one per line in a file, so a "cold" case never repeats a token). Prints autocannon's
 * result as JSON. `node --import tsx bench/load.ts '<json options>'`.
 */
import { readFileSync } from 'node:fs';

import autocannon from 'autocannon';

interface Options {
  url: string;
  connections: number;
  duration: number;
  headers: Record<string, string>;
  bodiesFile: string;
}

const opts = JSON.parse(process.argv[2] ?? '{}') as Options;
const bodies = readFileSync(opts.bodiesFile, 'utf8').split('\n').filter(Boolean);
let next = 0;

const instance = autocannon(
  {
    url: opts.url,
    connections: opts.connections,
    duration: opts.duration,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...opts.headers },
        setupRequest(req) {
          const body = bodies[next++ % bodies.length]!;
          return { ...req, body };
        },
      },
    ],
  },
  (error, result) => {
    if (error) {
      process.stderr.write(`${(error as Error).message}\n`);
      process.exit(1);
    }
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
      }),
    );
  },
);
instance.on('error', () => undefined);

/**
 * Prometheus metrics (prom-client: the standard Node client, with process metrics built in), served at
 * `GET /metrics`: requests and latency per endpoint and outcome, PAT lookups by the layer that answered them,
 * storage errors, last-used writes, and the process's own figures (RSS, event loop lag, handles).
 */
import type { Middleware } from 'koa';
import { Counter, type Metric, Registry, collectDefaultMetrics } from 'prom-client';

export type LookupLayer = 'memory' | 'redis' | 'database' | 'malformed';

export interface Metrics {
  readonly registry: Registry;
  lookup(layer: LookupLayer): void;
  storeError(store: 'mongodb' | 'redis'): void;
  lastUsedWrite(): void;
  fastPath(outcome: 'active' | 'inactive' | 'error'): void;
  /** Request counting and timing, by endpoint and outcome. */
  middleware(): Middleware;
  /** The series of one endpoint and outcome, for requests answered outside Koa (the fast path): bind it once. */
  series(endpoint: string, outcome: string): RequestSeries;
  /** `GET /metrics`. */
  route(): Middleware;
}

function endpointOf(path: string): string {
  if (path.startsWith('/api/') || path === '/api') return '/api';
  if (path.startsWith('/.well-known/')) return '/.well-known';
  return ['/introspect', '/revoke', '/token', '/jwks', '/healthz', '/readyz', '/metrics', '/openapi.json'].includes(
    path,
  )
    ? path
    : 'other';
}

function outcomeOf(endpoint: string, status: number, body: unknown): string {
  if (endpoint === '/introspect' && status === 200) {
    const active = (body as { active?: unknown } | null)?.active;
    return active === true ? 'active' : active === false ? 'inactive' : 'jwt';
  }
  return `${Math.floor(status / 100)}xx`;
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * One endpoint-and-outcome label set of the request metrics, kept in plain numbers: recording a request allocates
 * nothing and hashes nothing (prom-client's labelled `inc` and `observe` cost about 1 µs a request together, a
 * few percent of a warm introspection). The registry reads these at scrape time.
 */
class RequestSeries {
  count = 0;
  sum = 0;
  /** Requests per latency bucket (not cumulative); the last slot is over the largest bound. */
  readonly perBucket = new Float64Array(LATENCY_BUCKETS.length + 1);
  constructor(readonly labels: Readonly<{ endpoint: string; outcome: string }>) {}

  record(seconds: number): void {
    this.count += 1;
    this.sum += seconds;
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
    this.perBucket[i]! += 1;
  }
}

type Sample = { value: number; labels: Record<string, string | number>; metricName?: string };

/**
 * A metric the registry formats like its own (prom-client reads `name`, `help`, `type` and the `values` of `get()`,
 * the shape `getMetricsAsJSON` documents), whose values come from the request series.
 */
function seriesMetric(name: string, help: string, type: 'counter' | 'histogram', values: () => Sample[]) {
  const metric = { name, help, type, aggregator: 'sum' as const };
  return { ...metric, get: () => Promise.resolve({ ...metric, values: values() }), reset: () => undefined };
}

/** Creates the registry and the instruments. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tokenwarden_' });
  const series = new Map<string, RequestSeries>();
  const seriesOf = (endpoint: string, outcome: string): RequestSeries => {
    const key = `${endpoint} ${outcome}`;
    let found = series.get(key);
    if (!found) series.set(key, (found = new RequestSeries({ endpoint, outcome })));
    return found;
  };
  const requests = seriesMetric(
    'tokenwarden_http_requests_total',
    'HTTP requests by endpoint and outcome (introspection: active, inactive; otherwise the status class)',
    'counter',
    () => [...series.values()].map((s) => ({ value: s.count, labels: { ...s.labels } })),
  );
  const durationName = 'tokenwarden_http_request_duration_seconds';
  const duration = seriesMetric(durationName, 'HTTP request latency by endpoint and outcome', 'histogram', () =>
    [...series.values()].flatMap((s) => {
      let cumulative = 0;
      const buckets = LATENCY_BUCKETS.map((le, i) => {
        cumulative += s.perBucket[i]!;
        return { value: cumulative, labels: { le, ...s.labels }, metricName: `${durationName}_bucket` };
      });
      return [
        ...buckets,
        { value: s.count, labels: { le: '+Inf', ...s.labels }, metricName: `${durationName}_bucket` },
        { value: s.sum, labels: { ...s.labels }, metricName: `${durationName}_sum` },
        { value: s.count, labels: { ...s.labels }, metricName: `${durationName}_count` },
      ];
    }),
  );
  // Not prom-client's own classes, but the contract its registry uses for every metric (see seriesMetric).
  registry.registerMetric(requests as unknown as Metric);
  registry.registerMetric(duration as unknown as Metric);

  /** Counts kept as plain numbers and handed to a prom-client counter when it is scraped. */
  const tallied = <L extends string>(name: string, help: string, label: string | null, keys: readonly L[]) => {
    const counts = new Map<L, number>(keys.map((k) => [k, 0]));
    new Counter({
      name,
      help,
      labelNames: label ? [label] : [],
      registers: [registry],
      collect() {
        this.reset();
        for (const [key, count] of counts) this.inc(label ? { [label]: key } : {}, count);
      },
    });
    return (key: L): void => {
      counts.set(key, (counts.get(key) ?? 0) + 1);
    };
  };
  const lookups = tallied(
    'tokenwarden_pat_lookups_total',
    'PAT lookups by the layer that answered: memory, redis, database, or malformed (rejected without I/O)',
    'layer',
    ['memory', 'redis', 'database', 'malformed'] as const,
  );
  const storeErrors = tallied('tokenwarden_store_errors_total', 'Failed MongoDB or Redis operations', 'store', [
    'mongodb',
    'redis',
  ] as const);
  const lastUsed = tallied(
    'tokenwarden_last_used_writes_total',
    'Database writes of last_used_at (at most one per token per interval)',
    null,
    ['all'] as const,
  );
  const fast = tallied(
    'tokenwarden_introspection_fast_path_total',
    'Introspections answered by the PAT fast path, by outcome',
    'outcome',
    ['active', 'inactive', 'error'] as const,
  );

  return {
    registry,
    lookup: lookups,
    storeError: storeErrors,
    lastUsedWrite: () => lastUsed('all'),
    fastPath: fast,
    series: seriesOf,
    middleware() {
      return async function measure(ctx, next) {
        const start = performance.now();
        try {
          await next();
        } finally {
          const endpoint = endpointOf(ctx.path);
          seriesOf(endpoint, outcomeOf(endpoint, ctx.status, ctx.body)).record((performance.now() - start) / 1000);
        }
      };
    },
    route() {
      return async function serveMetrics(ctx, next) {
        if (ctx.path !== '/metrics' || ctx.method !== 'GET') {
          await next();
          return;
        }
        ctx.type = registry.contentType;
        ctx.body = await registry.metrics();
      };
    },
  };
}

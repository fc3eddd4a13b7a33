/**
 * Prometheus metrics (prom-client: the standard Node client, with process metrics built in), served at
 * `GET /metrics`: requests and latency per endpoint and outcome, PAT lookups by the layer that answered them,
 * storage errors, last-used writes, and the process's own figures (RSS, event loop lag, handles).
 */
import type { Middleware } from 'koa';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type LookupLayer = 'memory' | 'redis' | 'database' | 'malformed';

export interface Metrics {
  readonly registry: Registry;
  lookup(layer: LookupLayer): void;
  storeError(store: 'mongodb' | 'redis'): void;
  lastUsedWrite(): void;
  fastPath(outcome: 'active' | 'inactive' | 'error'): void;
  /** Request counting and timing, by endpoint and outcome. */
  middleware(): Middleware;
  /** Counts a request answered outside Koa (the fast path): introspection outcome from the status. */
  observe(endpoint: string, status: number, seconds: number, outcome?: string): void;
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

/** Creates the registry and the instruments. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tokenwarden_' });
  const requests = new Counter({
    name: 'tokenwarden_http_requests_total',
    help: 'HTTP requests by endpoint and outcome (introspection: active, inactive; otherwise the status class)',
    labelNames: ['endpoint', 'outcome'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'tokenwarden_http_request_duration_seconds',
    help: 'HTTP request latency by endpoint and outcome',
    labelNames: ['endpoint', 'outcome'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const lookups = new Counter({
    name: 'tokenwarden_pat_lookups_total',
    help: 'PAT lookups by the layer that answered: memory, redis, database, or malformed (rejected without I/O)',
    labelNames: ['layer'],
    registers: [registry],
  });
  const storeErrors = new Counter({
    name: 'tokenwarden_store_errors_total',
    help: 'Failed MongoDB or Redis operations',
    labelNames: ['store'],
    registers: [registry],
  });
  const lastUsed = new Counter({
    name: 'tokenwarden_last_used_writes_total',
    help: 'Database writes of last_used_at (at most one per token per interval)',
    registers: [registry],
  });
  const fast = new Counter({
    name: 'tokenwarden_introspection_fast_path_total',
    help: 'Introspections answered by the PAT fast path, by outcome',
    labelNames: ['outcome'],
    registers: [registry],
  });

  // Label sets bound once: the fast path counts every introspection, and prom-client hashes a labels object per call.
  const bound = new Map<string, { requests: { inc(): void }; duration: { observe(v: number): void } }>();
  const boundLookups = new Map<string, { inc(): void }>();
  const boundFast = new Map<string, { inc(): void }>();
  const once = <T>(map: Map<string, T>, key: string, make: () => T): T => {
    let child = map.get(key);
    if (!child) map.set(key, (child = make()));
    return child;
  };

  return {
    registry,
    lookup: (layer) => once(boundLookups, layer, () => lookups.labels({ layer })).inc(),
    storeError: (store) => storeErrors.inc({ store }),
    lastUsedWrite: () => lastUsed.inc(),
    fastPath: (outcome) => once(boundFast, outcome, () => fast.labels({ outcome })).inc(),
    observe(endpoint, status, seconds, outcome) {
      const labels = { endpoint, outcome: outcome ?? `${Math.floor(status / 100)}xx` };
      const child = once(bound, `${labels.endpoint} ${labels.outcome}`, () => ({
        requests: requests.labels(labels),
        duration: duration.labels(labels),
      }));
      child.requests.inc();
      child.duration.observe(seconds);
    },
    middleware() {
      return async function measure(ctx, next) {
        const stop = process.hrtime.bigint();
        try {
          await next();
        } finally {
          const endpoint = endpointOf(ctx.path);
          const labels = { endpoint, outcome: outcomeOf(endpoint, ctx.status, ctx.body) };
          requests.inc(labels);
          duration.observe(labels, Number(process.hrtime.bigint() - stop) / 1e9);
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

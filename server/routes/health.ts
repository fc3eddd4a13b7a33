/**
 * `GET /healthz`: the process is up. `GET /readyz`: MongoDB and Redis answer a ping (503 otherwise), for load
 * balancers to take an instance out of rotation.
 */
import type { Middleware } from 'koa';

export interface HealthDeps {
  /** Named readiness checks; each rejects when its dependency is unreachable. */
  readonly checks: Readonly<Record<string, () => Promise<void>>>;
  /** Longest a readiness check may take before it counts as failed. */
  readonly timeoutMs: number;
}

function withTimeout(check: () => Promise<void>, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timeout')), ms);
    check().then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** Middleware answering the two health endpoints. */
export function createHealthRoutes(deps: HealthDeps): Middleware {
  return async function health(ctx, next) {
    const probe = ctx.method === 'GET' || ctx.method === 'HEAD' ? ctx.path : '';
    if (probe === '/healthz') {
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { status: 'ok' };
    } else if (probe === '/readyz') {
      const results = await Promise.all(
        Object.entries(deps.checks).map(async ([name, check]) => {
          try {
            await withTimeout(check, deps.timeoutMs);
            return [name, 'ok'] as const;
          } catch {
            return [name, 'unavailable'] as const;
          }
        }),
      );
      const ready = results.every(([, state]) => state === 'ok');
      ctx.set('Cache-Control', 'no-store');
      ctx.status = ready ? 200 : 503;
      ctx.body = { status: ready ? 'ready' : 'unavailable', checks: Object.fromEntries(results) };
    } else {
      await next();
    }
  };
}

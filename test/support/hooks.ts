/**
 * The real services the integration tests run against: a throwaway Redis and a MongoDB-compatible server, started
 * once per run by the first test file that asks for them ({@link useServices}, which `startApp` calls), and stopped
 * by the mocha root hook at the end. Pure unit tests never ask, so they run without starting anything.
 */
import type { Context } from 'mocha';

import { startMongo, startRedis, type ServiceHandle } from '../../scripts/lib/services.ts';

interface Running {
  redis: ServiceHandle;
  mongo: ServiceHandle & { cleanup(): void };
}

let starting: Promise<Running> | undefined;
let running: Running | undefined;

/** Starts the services unless they run already; resolves once both accept connections. */
export function useServices(): Promise<Running> {
  starting ??= Promise.all([startRedis(), startMongo()]).then(([redis, mongo]) => (running = { redis, mongo }));
  return starting;
}

/** A `before` hook for files that reach the services directly: starts them, with time for a cold start. */
export async function needsServices(this: Context): Promise<void> {
  this.timeout(120_000);
  await useServices();
}

/** The running services (after {@link useServices}). */
export function services(): { redis: ServiceHandle; mongo: ServiceHandle } {
  if (!running) throw new Error('test services are not running: call useServices() (startApp does) first');
  return running;
}

export const mochaHooks = {
  async afterAll(this: Context) {
    this.timeout(30_000);
    const started = starting;
    starting = undefined;
    running = undefined;
    if (!started) return;
    const { redis, mongo } = await started;
    await Promise.allSettled([redis.controllable ? redis.stop() : null, mongo.controllable ? mongo.stop() : null]);
    mongo.cleanup();
  },
};

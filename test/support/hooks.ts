/**
 * Mocha root hooks: start Redis and the MongoDB-compatible server once for the whole run, stop them at the end.
 * Test files reach them through {@link services}.
 */
import { startMongo, startRedis, type ServiceHandle } from './services.ts';

let running: { redis: ServiceHandle; mongo: ServiceHandle & { cleanup(): void } } | undefined;

/** The running services (inside a test or hook). */
export function services(): { redis: ServiceHandle; mongo: ServiceHandle } {
  if (!running) throw new Error('test services are not running (is test/support/hooks.ts loaded by .mocharc?)');
  return running;
}

export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(120_000);
    const [redis, mongo] = await Promise.all([startRedis(), startMongo()]);
    running = { redis, mongo };
  },
  async afterAll(this: Mocha.Context) {
    this.timeout(30_000);
    if (!running) return;
    const { redis, mongo } = running;
    running = undefined;
    await Promise.allSettled([redis.controllable ? redis.stop() : null, mongo.controllable ? mongo.stop() : null]);
    mongo.cleanup();
  },
};

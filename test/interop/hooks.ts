/**
 * Root hooks of `npm run test:interop`: the harness's Redis and MongoDB-compatible server first, then the interop
 * stack on them (Tokenwarden, its https front, Apache's resource server); stopped in the reverse order. Test files
 * reach the stack through {@link interop}.
 */
import { mochaHooks as serviceHooks, useServices } from '../support/hooks.ts';
import { startStack, type InteropStack } from './stack.ts';

let running: InteropStack | undefined;

/** The running stack (inside a test or hook). */
export function interop(): InteropStack {
  if (!running) throw new Error('the interop stack is not running (run through npm run test:interop)');
  return running;
}

export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(180_000);
    await useServices();
    running = await startStack();
  },
  async afterAll(this: Mocha.Context) {
    this.timeout(60_000);
    try {
      await running?.stop();
    } finally {
      running = undefined;
      await serviceHooks.afterAll.call(this);
    }
  },
};

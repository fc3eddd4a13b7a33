import assert from 'node:assert/strict';

import { startApp, type TestApp } from './support/app.ts';
import { needsServices, services } from './support/hooks.ts';

describe('GET /healthz and /readyz', () => {
  before(needsServices);
  let app: TestApp;
  before(async () => {
    app = await startApp();
  });
  after(() => app.close());

  it('answers /healthz while the process is up', async () => {
    const res = await fetch(`${app.url}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok' });
  });

  it('answers /readyz 200 when MongoDB and Redis answer', async () => {
    const res = await fetch(`${app.url}/readyz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ready', checks: { storage: 'ok', redis: 'ok' } });
  });

  it('answers /readyz 503 naming Redis while Redis is down, and /healthz still 200', async function () {
    if (!services().redis.controllable) this.skip();
    await services().redis.stop();
    try {
      const res = await fetch(`${app.url}/readyz`);
      assert.equal(res.status, 503);
      assert.deepEqual(await res.json(), { status: 'unavailable', checks: { storage: 'ok', redis: 'unavailable' } });
      assert.equal((await fetch(`${app.url}/healthz`)).status, 200);
    } finally {
      await services().redis.start();
    }
  });

  it('answers /readyz on the embedded store with the storage check only', async () => {
    const embedded = await startApp({ memory: true });
    try {
      const res = await fetch(`${embedded.url}/readyz`);
      assert.deepEqual(await res.json(), { status: 'ready', checks: { storage: 'ok' } });
    } finally {
      await embedded.close();
    }
  });
});

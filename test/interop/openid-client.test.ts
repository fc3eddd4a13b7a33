/**
 * openid-client 6 as a resource server's library (`openid-client-api.ts`, its own process): discovery and
 * `tokenIntrospection` through Tokenwarden's https front, trusting the test CA through `NODE_EXTRA_CA_CERTS`. It
 * must make the same admit/refuse decisions as Apache.
 */
import { join } from 'node:path';

import { startApiProcess, type ApiProcess } from './api-process.ts';
import { resourceServerDecisions } from './decisions.ts';
import { interop } from './hooks.ts';

describe('openid-client 6 as a resource server library', function () {
  let api: ApiProcess | undefined;

  before(async function () {
    api = await startApiProcess(
      'the openid-client API',
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'openid-client-api.ts')],
      { NODE_EXTRA_CA_CERTS: interop().ca.caCert, PORT: '0' },
    );
  });

  after(async function () {
    await api?.stop();
  });

  resourceServerDecisions((path, token) => api!.call(path, token));
});

/**
 * oauth4webapi 3 as a resource server's library (`oauth4webapi-api.ts`, its own process): discovery and
 * introspection through Tokenwarden's https front, trusting the test CA through `NODE_EXTRA_CA_CERTS`. It
 * must make the same admit/refuse decisions as Apache.
 */
import { join } from 'node:path';

import { startApiProcess, type ApiProcess } from './api-process.ts';
import { resourceServerDecisions } from './decisions.ts';
import { interop } from './hooks.ts';

describe('oauth4webapi 3 as a resource server library', function () {
  let api: ApiProcess | undefined;

  before(async function () {
    api = await startApiProcess(
      'the oauth4webapi API',
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'oauth4webapi-api.ts')],
      { NODE_EXTRA_CA_CERTS: interop().ca.caCert, PORT: '0' },
    );
  });

  after(async function () {
    await api?.stop();
  });

  resourceServerDecisions((path, token) => api!.call(path, token));
});

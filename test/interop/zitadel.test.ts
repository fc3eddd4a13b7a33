/**
 * zitadel/oidc's Go resource-server package (`zitadel-api/`, built here with the Go toolchain the harness already
 * needs for FerretDB): OpenID discovery and introspection through Tokenwarden's https front, trusting the test CA
 * through `SSL_CERT_FILE`. It must make the same admit/refuse decisions as Apache.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { startApiProcess, type ApiProcess } from './api-process.ts';
import { resourceServerDecisions } from './decisions.ts';
import { interop } from './hooks.ts';

describe("zitadel/oidc's rs package (Go) as a resource server library", function () {
  let api: ApiProcess | undefined;

  before(async function () {
    // A cold build downloads the modules and compiles them (about 40 s here); later builds come from Go's caches.
    this.timeout(240_000);
    const binary = join(interop().dir, 'zitadel-api');
    await promisify(execFile)('go', ['build', '-mod=readonly', '-o', binary, '.'], {
      cwd: join(import.meta.dirname, 'zitadel-api'),
    }).catch((error: Error & { stderr?: string }) => {
      throw new Error(`go build (Go is needed, as for FerretDB): ${error.message}\n${error.stderr ?? ''}`);
    });
    api = await startApiProcess('the zitadel/oidc API', binary, [], { SSL_CERT_FILE: interop().ca.caCert, PORT: '0' });
  });

  after(async function () {
    await api?.stop();
  });

  resourceServerDecisions((path, token) => api!.call(path, token));
});

/**
 * openid-client 6 as a resource server's library (`openid-client-api.ts`, its own process): discovery and
 * `tokenIntrospection` through Tokenwarden's https front, trusting the test CA through `NODE_EXTRA_CA_CERTS`. It
 * must make the same admit/refuse decisions as Apache.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

import { resourceServerDecisions, type Answer } from './decisions.ts';
import { interop } from './hooks.ts';

describe('openid-client 6 as a resource server library', function () {
  let child: ChildProcess | undefined;
  let url = '';
  let output = '';

  before(async function () {
    const { issuer, rs, ca } = interop();
    child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'openid-client-api.ts')], {
      env: {
        ...process.env,
        NODE_EXTRA_CA_CERTS: ca.caCert,
        ISSUER: issuer,
        CLIENT_ID: rs.clientId,
        CLIENT_SECRET: rs.clientSecret,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const started = child;
    url = await new Promise<string>((resolve, reject) => {
      const keep = (chunk: Buffer) => {
        output = (output + chunk.toString()).slice(-8000);
        const port = /listening (\d+)/.exec(output)?.[1];
        if (port) resolve(`http://127.0.0.1:${port}`);
      };
      started.stdout!.on('data', keep);
      started.stderr!.on('data', keep);
      started.once('exit', (code) => reject(new Error(`the openid-client API exited with ${code}:\n${output}`)));
    });
  });

  after(async function () {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    await new Promise((resolve) => {
      running.once('exit', resolve);
      running.kill('SIGTERM');
    });
  });

  async function get(path: string, token?: string): Promise<Answer> {
    const mark = output.length;
    const res = await fetch(`${url}${path}`, {
      headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(10_000),
    });
    return {
      status: res.status,
      body: await res.text(),
      remoteUser: res.headers.get('x-remote-user') ?? '',
      challenge: res.headers.get('www-authenticate') ?? '',
      log: output.slice(mark),
    };
  }

  resourceServerDecisions(get);
});

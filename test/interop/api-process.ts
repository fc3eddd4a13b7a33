/**
 * A library-based resource server under test, run as its own process (so that it trusts the test CA the way a
 * deployment would, through its runtime's own setting): started with the interop stack's issuer and client, ready
 * once it prints `listening <port>`, and asked over plain HTTP like Apache is.
 */
import { spawn } from 'node:child_process';

import type { Answer, Call } from './decisions.ts';
import { interop } from './hooks.ts';

export interface ApiProcess {
  /** Asks the API for `path` with `token` as the bearer. */
  readonly call: Call;
  readonly stop: () => Promise<void>;
}

/**
 * Starts `command args` with `ISSUER`, `CLIENT_ID` and `CLIENT_SECRET` (the stack's resource-server client) and
 * `env` added to this process's environment.
 */
export async function startApiProcess(
  name: string,
  command: string,
  args: readonly string[],
  env: Record<string, string>,
): Promise<ApiProcess> {
  const { issuer, rs } = interop();
  const child = spawn(command, args, {
    env: { ...process.env, ...env, ISSUER: issuer, CLIENT_ID: rs.clientId, CLIENT_SECRET: rs.clientSecret },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const keep = (chunk: Buffer) => {
      output += chunk.toString();
      const port = /listening (\d+)/.exec(output)?.[1];
      if (port) resolve(`http://127.0.0.1:${port}`);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('error', reject);
    void exited.then(() => reject(new Error(`${name} exited with ${child.exitCode}:\n${output}`)));
  });

  return {
    async call(path, token): Promise<Answer> {
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
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * Starts the event receiver (`event-receiver.ts`) as its own process, and speaks to it: what it should verify
 * with, how it should misbehave, what it received.
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** What the receiver recorded for one request or polled SET. */
export interface ReceivedEvent {
  readonly channel: 'webhook' | 'push' | 'poll';
  readonly name: string;
  readonly id: string;
  readonly verified: boolean;
  readonly error?: string;
  readonly body?: Record<string, unknown>;
  readonly headers?: Record<string, string>;
  readonly at: number;
}

export interface Receiver {
  readonly url: string;
  /** The transmitter whose `/jwks` verifies SETs. */
  transmitter(issuer: string): Promise<void>;
  webhook(name: string, secret: string): Promise<void>;
  push(name: string, audience: string, authorization?: string): Promise<void>;
  behaviour(
    name: string,
    b: { failNext?: number; status?: number; hang?: boolean; endless?: boolean; retryAfter?: string },
  ): Promise<void>;
  /** How many requests were left hanging (behaviour `hang`). */
  hung(): Promise<number>;
  poll(name: string, options: { url: string; token: string; audience: string }): Promise<void>;
  stopPoll(name: string): Promise<void>;
  received(): Promise<ReceivedEvent[]>;
  stop(): Promise<void>;
}

/** Starts a receiver process on a free loopback port. */
export async function startReceiver(): Promise<Receiver> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'test/support/event-receiver.ts'], {
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = /\{"port":(\d+)\}/.exec(out);
      if (line) resolve(Number(line[1]));
    });
    child.once('exit', (code) => reject(new Error(`the receiver exited with ${code}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  const control = async (path: string, body: unknown) => {
    const res = await fetch(`${url}/control/${path}`, { method: 'POST', body: JSON.stringify(body) });
    if (res.status !== 204) throw new Error(`receiver control ${path}: ${res.status}`);
  };
  return {
    url,
    transmitter: (issuer) => control('transmitter', { issuer }),
    webhook: (name, secret) => control('webhook', { name, secret }),
    push: (name, audience, authorization) => control('push', { name, audience, authorization }),
    behaviour: (name, b) => control('behaviour', { name, ...b }),
    poll: (name, options) => control('poll', { name, ...options }),
    stopPoll: (name) => control('stop-poll', { name }),
    async hung() {
      return ((await (await fetch(`${url}/hung`)).json()) as { hung: number }).hung;
    },
    async received() {
      return (await (await fetch(`${url}/received`)).json()) as ReceivedEvent[];
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

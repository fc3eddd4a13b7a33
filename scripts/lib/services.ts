/**
 * Real backing services for the tests: a throwaway `redis-server` and a MongoDB-compatible server (a `mongod` on
 * PATH, else FerretDB on SQLite), each on a free loopback port, stopped when the run ends. `MONGODB_URI` and
 * `REDIS_URL` use existing servers instead (those cannot be stopped and restarted by fault tests, which then skip).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** A service the harness runs (or an external one it only points at). */
export interface ServiceHandle {
  readonly url: string;
  readonly port: number;
  /** False for services given through MONGODB_URI/REDIS_URL: they cannot be stopped by the tests. */
  readonly controllable: boolean;
  /** The server process, while one runs here (not for external services): the bench reads its CPU time. */
  pid?(): number | undefined;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:`port` now. */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Polls until the port accepts connections (a readiness probe, not a fixed sleep). */
async function waitForPort(port: number, child: ChildProcess, name: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode}`);
    if (await canConnect(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${name} did not listen on ${port} within ${timeoutMs} ms`);
}

function which(binary: string): string | null {
  const dirs = (process.env.PATH ?? '').split(delimiter);
  const goBin = spawnSync('go', ['env', 'GOPATH'], { encoding: 'utf8' });
  if (goBin.status === 0) dirs.push(join(goBin.stdout.trim(), 'bin'));
  for (const dir of dirs) {
    const candidate = join(dir, binary);
    if (dir && existsSync(candidate)) return candidate;
  }
  return null;
}

function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** Runs `binary args` as a restartable service on `port`. */
function managedService(name: string, port: number, url: string, command: () => [string, string[]]): ServiceHandle {
  let child: ChildProcess | undefined;
  let stderr = '';
  return {
    url,
    port,
    controllable: true,
    pid: () => child?.pid,
    async start() {
      const [binary, args] = command();
      stderr = '';
      child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr = (stderr + chunk.toString()).slice(-4000);
      });
      try {
        await waitForPort(port, child, name);
      } catch (error) {
        throw new Error(`${(error as Error).message}\n${stderr}`);
      }
    },
    stop: () => stopChild(child),
  };
}

function external(url: string): ServiceHandle {
  const skip = async () => {
    throw new Error('an external service (MONGODB_URI/REDIS_URL) cannot be stopped or started by the tests');
  };
  return { url, port: Number(new URL(url).port || 0), controllable: false, stop: skip, start: skip };
}

/** Starts redis-server (or uses REDIS_URL). */
export async function startRedis(): Promise<ServiceHandle> {
  if (process.env.REDIS_URL) return external(process.env.REDIS_URL);
  const binary = which('redis-server');
  if (!binary) throw new Error('redis-server not found: install it (apt-get install -y redis-server) or set REDIS_URL');
  const port = await freePort();
  const service = managedService('redis-server', port, `redis://127.0.0.1:${port}`, () => [
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'],
  ]);
  await service.start();
  return service;
}

/** Starts a MongoDB-compatible server: MONGODB_URI, else `mongod` on PATH, else FerretDB (SQLite). */
export async function startMongo(): Promise<ServiceHandle & { cleanup(): void }> {
  if (process.env.MONGODB_URI) return { ...external(process.env.MONGODB_URI), cleanup() {} };
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tokenwarden-db-'));
  const url = `mongodb://127.0.0.1:${port}`;
  const mongod = which('mongod');
  const ferretdb = which('ferretdb');
  let service: ServiceHandle;
  if (mongod) {
    service = managedService('mongod', port, url, () => [
      mongod,
      ['--port', String(port), '--bind_ip', '127.0.0.1', '--dbpath', dir, '--quiet'],
    ]);
  } else if (ferretdb) {
    service = managedService('ferretdb', port, url, () => [
      ferretdb,
      [
        '--handler=sqlite',
        `--sqlite-url=file:${dir}/`,
        `--state-dir=${dir}`,
        `--listen-addr=127.0.0.1:${port}`,
        '--debug-addr=-',
        '--telemetry=disable',
        '--log-level=error',
      ],
    ]);
  } else {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(
      'no MongoDB-compatible server: install FerretDB (go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2), put mongod on PATH, or set MONGODB_URI',
    );
  }
  await service.start();
  return {
    ...service,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

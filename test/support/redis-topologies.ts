/**
 * A Redis Cluster and a Redis Sentinel setup, for the test files that need them (the root hook starts neither):
 * Debian's `redis-server` and `redis-sentinel` on free loopback ports, in a throwaway directory. Each is ready when
 * its observable state says so (`cluster_state:ok` on every node and every replica in sync; every Sentinel naming the
 * master and knowing the replica and the other Sentinels), never after a fixed sleep. `stop()` kills every process
 * and removes the directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Redis } from 'ioredis';

import { canConnect, freePort } from '../../scripts/lib/services.ts';

/** One redis-server or redis-sentinel process, restartable on the same port and files. */
export interface RedisProcess {
  readonly port: number;
  start(): Promise<void>;
  /** Sends `signal` (SIGSTOP/SIGCONT to freeze and thaw it); with SIGKILL, resolves once the process is gone. */
  signal(signal: NodeJS.Signals): Promise<void>;
  running(): boolean;
}

/** A 3-master Redis Cluster, each master with one replica. */
export interface RedisClusterHandle {
  /** Environment pointing Tokenwarden at it: `REDIS_CLUSTER_NODES` (every node as a seed). */
  readonly env: Record<string, string>;
  readonly nodes: ReadonlyMap<number, RedisProcess>;
  /** Port of the master serving the slot of `key` (a full key, prefix included) now. */
  masterOf(key: string): Promise<number>;
  /** Port of the replica of the master on `port`. */
  replicaOf(port: number): Promise<number>;
  /** Resolves once `replica` is a master and every running node says `cluster_state:ok`. */
  promoted(replica: number): Promise<void>;
  /** Starts a killed node again and resolves once it is a replica in sync and the cluster is ok everywhere. */
  restart(port: number): Promise<void>;
  stop(): Promise<void>;
}

/** A master, a replica and three Sentinels monitoring them. */
export interface RedisSentinelHandle {
  /** `REDIS_SENTINELS` and `REDIS_SENTINEL_MASTER`. */
  readonly env: Record<string, string>;
  readonly masterName: string;
  readonly servers: ReadonlyMap<number, RedisProcess>;
  /** Port of the master every Sentinel names, once they agree. */
  master(): Promise<number>;
  /** Resolves once every Sentinel names `port` as the master and it answers as one. */
  promoted(port: number): Promise<void>;
  /** Asks one Sentinel for a failover (`SENTINEL FAILOVER`); resolves with the new master once all agree. */
  failover(): Promise<number>;
  /** Resolves once the server on `port` is a replica of the current master, in sync, known to every Sentinel. */
  demoted(port: number): Promise<void>;
  stop(): Promise<void>;
}

const noop = () => undefined;

/** `n` distinct free loopback ports (two calls to `freePort` may return the same one: nothing holds it between). */
async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

function redisProcess(binary: string, args: () => string[], port: number): RedisProcess {
  let child: ChildProcess | undefined;
  let stderr = '';
  const alive = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  return {
    port,
    async start() {
      stderr = '';
      const started = spawn(binary, args(), { stdio: ['ignore', 'ignore', 'pipe'] });
      child = started;
      started.stderr?.on('data', (c: Buffer) => {
        stderr = (stderr + c.toString()).slice(-4000);
      });
      await until(`${binary} on ${port}`, async () => {
        if (started.exitCode !== null) throw new Error(`${binary} exited with ${started.exitCode}: ${stderr}`);
        return canConnect(port);
      });
    },
    async signal(signal) {
      const running = child;
      if (!running || !alive()) return;
      const gone = new Promise<void>((resolve) => running.once('exit', () => resolve()));
      running.kill(signal);
      if (signal === 'SIGKILL') await gone;
    },
    running: alive,
  };
}

/** Polls `check` every 25 ms until it holds (or throws what it threw on the last try). */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: Error | undefined;
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      last = error as Error;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not reached in ${timeoutMs} ms${last ? ` (${last.message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Runs `command` on a short-lived direct connection to the server (or Sentinel) on 127.0.0.1:`port`. */
export async function ask<T>(port: number, command: (conn: Redis) => Promise<T>): Promise<T> {
  const conn = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    retryStrategy: null,
    enableReadyCheck: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 1000,
    commandTimeout: 2000,
  });
  conn.on('error', noop);
  try {
    await conn.connect();
    return await command(conn);
  } finally {
    conn.disconnect();
  }
}

const info = (port: number, section: string) => ask(port, (c) => c.info(section));
const field = (text: string, name: string) => new RegExp(`^${name}:(.*)\\r?$`, 'm').exec(text)?.[1];

/** The role of the server on `port` and, for a replica, its master's port and whether it is in sync. */
async function replication(port: number): Promise<{ role: string; masterPort?: number; inSync: boolean }> {
  const text = await info(port, 'replication');
  const role = field(text, 'role') ?? '';
  return role === 'slave'
    ? { role, masterPort: Number(field(text, 'master_port')), inSync: field(text, 'master_link_status') === 'up' }
    : { role, inSync: true };
}

function which(binary: string): string {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/bin']) {
    try {
      accessSync(join(dir, binary), constants.X_OK);
      return join(dir, binary);
    } catch {
      // not here
    }
  }
  throw new Error(`${binary} not found: apt-get install -y redis-server redis-sentinel`);
}

/** Settings every data node gets: in memory only, replicas sync at once (no diskless-sync delay). */
const DATA_NODE = ['--bind', '127.0.0.1', '--protected-mode', 'no', '--save', '', '--appendonly', 'no'];
const FAST_SYNC = ['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0'];

/**
 * Starts six nodes and makes them a cluster of three masters with a replica each (`redis-cli --cluster create`).
 * Node timeout 1 s: a killed master is replaced in about 2.5 s. Replicas may always take over
 * (`cluster-replica-validity-factor 0`), however long they were cut off.
 */
export async function startRedisCluster(): Promise<RedisClusterHandle> {
  const [server, cli] = [which('redis-server'), which('redis-cli')];
  const dir = mkdtempSync(join(tmpdir(), 'tokenwarden-cluster-'));
  const nodes = new Map<number, RedisProcess>();
  const stop = async () => {
    await Promise.all([...nodes.values()].map((n) => n.signal('SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ports = await freePorts(12);
    for (let i = 0; i < 6; i++) {
      const [port, busPort] = [ports[2 * i]!, ports[2 * i + 1]!];
      const args = [
        '--port',
        String(port),
        '--cluster-enabled',
        'yes',
        '--cluster-port',
        String(busPort),
        '--cluster-config-file',
        join(dir, `nodes-${port}.conf`),
        '--cluster-node-timeout',
        '1000',
        '--cluster-replica-validity-factor',
        '0',
        '--dir',
        dir,
        ...DATA_NODE,
        ...FAST_SYNC,
      ];
      nodes.set(
        port,
        redisProcess(server, () => args, port),
      );
    }
    await Promise.all([...nodes.values()].map((n) => n.start()));
    const addresses = [...nodes.keys()].map((p) => `127.0.0.1:${p}`);
    await new Promise<void>((resolve, reject) => {
      const create = spawn(cli, ['--cluster', 'create', ...addresses, '--cluster-replicas', '1', '--cluster-yes'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      create.stdout.on('data', (c: Buffer) => (out += c.toString()));
      create.stderr.on('data', (c: Buffer) => (out += c.toString()));
      create.once('error', reject);
      create.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`cluster create: ${code}\n${out}`))));
    });
  } catch (error) {
    await stop();
    throw error;
  }

  const running = () => [...nodes.values()].filter((n) => n.running()).map((n) => n.port);
  const clusterOk = async () => {
    for (const port of running()) {
      const text = await ask(port, (c) => c.call('CLUSTER', 'INFO') as Promise<string>);
      if (field(text, 'cluster_state') !== 'ok' || Number(field(text, 'cluster_known_nodes')) !== nodes.size) {
        return false;
      }
    }
    return true;
  };
  const replicasInSync = async () => {
    const roles = await Promise.all(running().map((p) => replication(p)));
    return roles.filter((r) => r.role === 'slave').length >= 3 && roles.every((r) => r.inSync);
  };
  await until(
    'cluster ok with every replica in sync',
    async () => (await clusterOk()) && replicasInSync(),
    60_000,
  ).catch(async (error: unknown) => {
    await stop();
    throw error;
  });

  return {
    env: { REDIS_CLUSTER_NODES: [...nodes.keys()].map((p) => `127.0.0.1:${p}`).join(',') },
    nodes,
    async masterOf(key) {
      const [port] = running();
      const slot = Number(await ask(port!, (c) => c.call('CLUSTER', 'KEYSLOT', key)));
      const shards = (await ask(port!, (c) => c.call('CLUSTER', 'SLOTS'))) as Array<[number, number, [string, number]]>;
      const owner = shards.find(([from, to]) => slot >= from && slot <= to);
      if (!owner) throw new Error(`no master for slot ${slot}`);
      return Number(owner[2][1]);
    },
    async replicaOf(port) {
      for (const candidate of running()) {
        const r = await replication(candidate);
        if (r.role === 'slave' && r.masterPort === port) return candidate;
      }
      throw new Error(`no replica of ${port}`);
    },
    async promoted(replica) {
      await until(`${replica} promoted`, async () => (await replication(replica)).role === 'master' && clusterOk());
    },
    async restart(port) {
      await nodes.get(port)!.start();
      await until(`${port} back as a replica`, async () => {
        const r = await replication(port);
        return r.role === 'slave' && r.inSync && clusterOk();
      });
    },
    stop,
  };
}

/**
 * Starts a master, a replica and three Sentinels (quorum 2, master down after 1 s without answering). Ready once
 * every Sentinel names the master and knows the replica and both other Sentinels (they find each other through the
 * master's hello channel, every 2 s), so a failover can be agreed on.
 */
export async function startRedisSentinel(): Promise<RedisSentinelHandle> {
  const [server, sentinel] = [which('redis-server'), which('redis-sentinel')];
  const dir = mkdtempSync(join(tmpdir(), 'tokenwarden-sentinel-'));
  const masterName = 'tokenwarden';
  const servers = new Map<number, RedisProcess>();
  const sentinels = new Map<number, RedisProcess>();
  const stop = async () => {
    await Promise.all([...servers.values(), ...sentinels.values()].map((n) => n.signal('SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
  };
  const ports = await freePorts(5);
  const [masterPort, replicaPort, sentinelPorts] = [ports[0]!, ports[1]!, ports.slice(2)];
  /** Who each server follows when (re)started: the harness's idea of the current master. */
  let currentMaster = masterPort;
  try {
    for (const port of [masterPort, replicaPort]) {
      const args = () => [
        '--port',
        String(port),
        '--dir',
        dir,
        ...DATA_NODE,
        ...FAST_SYNC,
        ...(port === currentMaster ? [] : ['--replicaof', '127.0.0.1', String(currentMaster)]),
      ];
      servers.set(port, redisProcess(server, args, port));
    }
    await servers.get(masterPort)!.start();
    await servers.get(replicaPort)!.start();
    for (const port of sentinelPorts) {
      const file = join(dir, `sentinel-${port}.conf`);
      writeFileSync(
        file,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          'protected-mode no',
          `dir ${dir}`,
          `sentinel monitor ${masterName} 127.0.0.1 ${masterPort} 2`,
          `sentinel down-after-milliseconds ${masterName} 1000`,
          `sentinel failover-timeout ${masterName} 10000`,
          '',
        ].join('\n'),
      );
      sentinels.set(
        port,
        redisProcess(sentinel, () => [file], port),
      );
    }
    await Promise.all([...sentinels.values()].map((s) => s.start()));
  } catch (error) {
    await stop();
    throw error;
  }

  const sentinelView = (port: number) =>
    ask(port, async (c) => {
      const fields = (await c.call('SENTINEL', 'MASTER', masterName)) as string[];
      const get = (name: string) => fields[fields.indexOf(name) + 1];
      return {
        port: Number(get('port')),
        replicas: Number(get('num-slaves')),
        others: Number(get('num-other-sentinels')),
      };
    });
  const agreed = async (): Promise<number | null> => {
    const views = await Promise.all([...sentinels.keys()].map(sentinelView));
    const port = views[0]!.port;
    return views.every((v) => v.port === port) ? port : null;
  };
  /** Whether every Sentinel sees the replica on `port` up, linked to its master: one it could promote. */
  const healthyReplicaEverywhere = async (port: number) => {
    for (const s of sentinels.keys()) {
      const replicas = (await ask(s, (c) => c.call('SENTINEL', 'REPLICAS', masterName))) as string[][];
      const entry = replicas
        .map((fields) => Object.fromEntries(fields.flatMap((v, i) => (i % 2 === 0 ? [[v, fields[i + 1]]] : []))))
        .find((r) => Number(r.port) === port);
      if (!entry || entry.flags !== 'slave' || entry['master-link-status'] !== 'ok') return false;
    }
    return true;
  };
  const knowsAll = async () => {
    const views = await Promise.all([...sentinels.keys()].map(sentinelView));
    return views.every((v) => v.replicas >= 1 && v.others === sentinels.size - 1);
  };
  await until(
    'Sentinels agreeing, knowing the replica and each other',
    async () => (await agreed()) === masterPort && (await knowsAll()) && (await replication(replicaPort)).inSync,
    60_000,
  ).catch(async (error: unknown) => {
    await stop();
    throw error;
  });

  const promoted = async (port: number) => {
    await until(`${port} named master by every Sentinel`, async () => {
      return (await agreed()) === port && (await replication(port)).role === 'master';
    });
    currentMaster = port;
  };
  return {
    env: {
      REDIS_SENTINELS: [...sentinels.keys()].map((p) => `127.0.0.1:${p}`).join(','),
      REDIS_SENTINEL_MASTER: masterName,
    },
    masterName,
    servers,
    async master() {
      let port: number | null = null;
      await until('Sentinels agreeing on the master', async () => (port = await agreed()) !== null);
      return port!;
    },
    promoted,
    async failover() {
      const before = currentMaster;
      const [first] = sentinels.keys();
      await ask(first!, (c) => c.call('SENTINEL', 'FAILOVER', masterName));
      await until('a new master', async () => {
        const port = await agreed();
        return port !== null && port !== before;
      });
      const now = (await agreed())!;
      await promoted(now);
      return now;
    },
    async demoted(port) {
      await until(
        `${port} a replica in sync, known to every Sentinel`,
        async () => {
          const r = await replication(port);
          return (
            r.role === 'slave' &&
            r.masterPort === currentMaster &&
            r.inSync &&
            (await knowsAll()) &&
            healthyReplicaEverywhere(port)
          );
        },
        // Sentinel notices a restarted old master by its periodic INFO, reconfigures it, and it syncs: on a busy CI
        // machine this took over 60 s once (Node 24 suite on 5e16a2e).
        120_000,
      );
    },
    stop,
  };
}

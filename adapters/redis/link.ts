/**
 * One logical connection to Redis in any of its three topologies (one server, a Redis Cluster, a master behind
 * Sentinel), with the gate the PAT cache protocol depends on (`server/services/pats.ts`): a promoted replica may
 * lack the last writes its master acknowledged (a tombstone among them), so nothing may be read from new servers
 * before the cache's users have been told to distrust what was written before.
 *
 * - The link is **settled** only while it talks to the servers that hold the data now. One server: connected.
 *   Sentinel: connected, and a majority of the configured Sentinels name that very server as the master (by run id,
 *   or by address until they have learnt a new master's run id), so neither a master a lagging Sentinel still names
 *   nor a demoted one that still answers as a master is settled on. Cluster: every slot has a master in the slot
 *   map, and each of them answers `ROLE` as a master and `CLUSTER INFO` with `cluster_state:ok`.
 * - Anything that may mean the servers changed **unsettles** it: a lost connection; behind Sentinel, its
 *   `+switch-master` (ioredis's failover detector drops the connection); in a cluster, a node connection ending, a
 *   slot map that names another master for some slot, and any failed command but a timeout (a redirection,
 *   `CLUSTERDOWN`, a closed connection).
 * - While unsettled every command is refused at once ({@link StoreUnavailableError}: fail fast, nothing queued), and a
 *   command that was under way when it unsettled is reported failed even if it got an answer.
 * - Settled listeners run synchronously as it settles, before any command can reach the new servers: the first time
 *   with `reconnect` false, then true.
 *
 * In a cluster, ioredis would follow `MOVED`/`ASK` redirections by itself and read from a newly promoted master before
 * anyone was told; `maxRedirections: 0` makes every redirection a failed command instead, which unsettles the link and
 * has the slot map refreshed and verified first. The one other place ioredis changes the slot map is a refresh, after
 * which it emits `refresh` synchronously: the link compares the masters there.
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';

import { StoreUnavailableError } from '../types.ts';
import { refreshSlots, slotMasters, verifyCluster, verifySentinel, type Verdict } from './verify.ts';

/** A server or Sentinel address. */
export interface RedisAddress {
  readonly host: string;
  readonly port: number;
}

/** Where Redis is. With `single`, credentials and TLS are in the URL (`rediss://user:password@host:port`). */
export type RedisTopology =
  | { readonly kind: 'single'; readonly url: string }
  | {
      readonly kind: 'cluster';
      /** Seed nodes: the rest of the cluster is discovered from them. */
      readonly nodes: readonly RedisAddress[];
      readonly username: string | null;
      readonly password: string | null;
    }
  | {
      readonly kind: 'sentinel';
      readonly sentinels: readonly RedisAddress[];
      /** The name the Sentinels monitor the master under. */
      readonly masterName: string;
      readonly username: string | null;
      readonly password: string | null;
      readonly sentinelPassword: string | null;
    };

export interface RedisLinkOptions {
  readonly topology: RedisTopology;
  /** A command slower than this fails (and counts as Redis being unavailable). */
  readonly commandTimeoutMs: number;
  /** Prefix of every key (not of pub/sub channels: callers prefix those). */
  readonly keyPrefix: string;
}

/** See the module comment. */
export interface RedisLink {
  readonly topology: RedisTopology;
  /** Commands go through it; a `Cluster` sends each to the master of its key's slot. */
  readonly client: Redis | Cluster;
  /** Runs `command` if the link is settled; rejects with {@link StoreUnavailableError} on any failure. */
  run<T>(command: () => Promise<T>): Promise<T>;
  settled(): boolean;
  /** Run id of the server a single or Sentinel link settled on (null in a cluster, or while unsettled). */
  serverId(): string | null;
  /** Called each time the link settles (`reconnect`: not the first time), synchronously. */
  onSettled(listener: (reconnect: boolean) => void): void;
  /** Called each time the link stops being settled. */
  onUnsettled(listener: () => void): void;
  /** Marks the topology as possibly changed (a subscriber saw its slot move): verified again before use. */
  unsettle(): void;
  /**
   * A new dedicated connection that never reconnects by itself (pub/sub): to `address` (a cluster node), else to
   * the server the link uses (behind Sentinel: the master the Sentinels name).
   */
  connection(address?: RedisAddress): Redis;
  close(): void;
}

/** Pause between two verifications while the topology is not settled (a failover takes seconds). */
const VERIFY_RETRY_MS = 100;
const reconnectDelay = (times: number) => Math.min(50 * times, 500);
const noop = () => undefined;

/** The run id of the server `conn` is connected to (it changes when a server restarts). */
export async function runIdOf(conn: Redis): Promise<string | null> {
  const info = await conn.info('server');
  return /^run_id:(\w+)/m.exec(info)?.[1] ?? null;
}

/** The client of the topology (connecting at once), and how to open a dedicated connection next to it. */
function connect(opts: RedisLinkOptions): {
  client: Redis | Cluster;
  connectTimeout: number;
  connection: (address?: RedisAddress) => Redis;
} {
  const { topology } = opts;
  const connectTimeout = Math.max(opts.commandTimeoutMs * 4, 1000);
  const failFast: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: opts.commandTimeoutMs,
    connectTimeout,
  };
  const credentials =
    topology.kind === 'single'
      ? {}
      : {
          ...(topology.username === null ? {} : { username: topology.username }),
          ...(topology.password === null ? {} : { password: topology.password }),
        };
  const sentinelOptions = (): RedisOptions =>
    topology.kind === 'sentinel'
      ? {
          sentinels: topology.sentinels.map((s) => ({ host: s.host, port: s.port })),
          name: topology.masterName,
          role: 'master',
          // Subscribes to every Sentinel's `+switch-master` and drops the connection when one is published: without
          // it, clients of a master demoted by `SENTINEL FAILOVER` keep writing to it for ~10 s (until Sentinel
          // reconfigures it), writes the new master never sees.
          failoverDetector: true,
          ...(topology.sentinelPassword === null ? {} : { sentinelPassword: topology.sentinelPassword }),
          sentinelCommandTimeout: connectTimeout,
          ...credentials,
        }
      : {};

  const client: Redis | Cluster =
    topology.kind === 'cluster'
      ? new Cluster(
          topology.nodes.map((n) => ({ host: n.host, port: n.port })),
          {
            keyPrefix: opts.keyPrefix,
            enableOfflineQueue: false,
            maxRedirections: 0,
            clusterRetryStrategy: reconnectDelay,
            slotsRefreshTimeout: connectTimeout,
            redisOptions: { ...failFast, ...credentials },
          },
        )
      : topology.kind === 'sentinel'
        ? new Redis({ ...failFast, ...sentinelOptions(), keyPrefix: opts.keyPrefix, retryStrategy: reconnectDelay })
        : new Redis(topology.url, { ...failFast, keyPrefix: opts.keyPrefix, retryStrategy: reconnectDelay });
  // Without a listener ioredis prints every connection error; callers see failures through rejections instead.
  client.on('error', noop);

  return {
    client,
    connectTimeout,
    connection: (address) => {
      const dedicated: RedisOptions = { connectTimeout, retryStrategy: null, enableOfflineQueue: true };
      const conn = address
        ? new Redis({ ...dedicated, ...credentials, host: address.host, port: address.port })
        : topology.kind === 'sentinel'
          ? new Redis({ ...dedicated, ...sentinelOptions() })
          : topology.kind === 'single'
            ? new Redis(topology.url, dedicated)
            : undefined;
      if (!conn) throw new Error('a cluster connection needs the node address');
      conn.on('error', noop);
      return conn;
    },
  };
}

/** Creates the link and starts connecting; it does not wait (Redis is optional). */
export function createRedisLink(opts: RedisLinkOptions): RedisLink {
  const { topology } = opts;
  const { client, connectTimeout, connection } = connect(opts);

  let settled = false;
  let everSettled = false;
  let serverId: string | null = null;
  let generation = 0;
  let closed = false;
  let verifying = false;
  let retry: NodeJS.Timeout | undefined;
  const settledListeners: Array<(reconnect: boolean) => void> = [];
  const unsettledListeners: Array<() => void> = [];

  function unsettle(): void {
    generation++;
    if (!settled || closed) return;
    settled = false;
    serverId = null;
    for (const listener of unsettledListeners) listener();
    scheduleVerify(0);
  }

  function scheduleVerify(delayMs: number): void {
    if (closed || settled || verifying || retry || client.status !== 'ready') return;
    retry = setTimeout(() => {
      retry = undefined;
      void verify();
    }, delayMs);
  }

  async function verify(): Promise<void> {
    if (closed || settled || verifying) return;
    verifying = true;
    let verdict: Verdict = { ok: false };
    let since = generation;
    try {
      if (client instanceof Cluster) {
        await refreshSlots(client);
        since = generation;
        verdict = await verifyCluster(client);
      } else if (topology.kind === 'sentinel') {
        verdict = await verifySentinel(client, topology, connectTimeout);
      } else {
        verdict = { ok: true, serverId: await runIdOf(client) };
      }
    } catch {
      verdict = { ok: false };
    } finally {
      verifying = false;
    }
    if (closed || settled) return;
    if (verdict.ok && since === generation && client.status === 'ready') {
      settled = true;
      serverId = verdict.serverId;
      const reconnect = everSettled;
      everSettled = true;
      for (const listener of settledListeners) listener(reconnect);
      return;
    }
    if (!verdict.ok && verdict.reconnect) client.disconnect(true);
    else scheduleVerify(VERIFY_RETRY_MS);
  }

  client.on('ready', () => {
    generation++;
    scheduleVerify(0);
  });
  for (const event of ['close', 'end', 'reconnecting']) client.on(event, unsettle);
  if (client instanceof Cluster) {
    let masters = '';
    client.on('refresh', () => {
      const now = slotMasters(client);
      if (now === masters) return;
      masters = now;
      unsettle();
    });
    // A node connection ended (they never reconnect by themselves). Not `node error`: a slot refresh that timed out
    // on a busy node reports one too, and a lost connection ends anyway.
    client.on('-node', unsettle);
  }

  return {
    topology,
    client,
    async run(command) {
      if (!settled) throw new StoreUnavailableError('Redis is not ready');
      const since = generation;
      let result;
      try {
        result = await command();
      } catch (error) {
        if (client instanceof Cluster && !isTimeout(error)) unsettle();
        throw new StoreUnavailableError('Redis is unreachable', { cause: error });
      }
      if (since !== generation) throw new StoreUnavailableError('Redis changed while the command ran');
      return result;
    },
    settled: () => settled,
    serverId: () => serverId,
    onSettled(listener) {
      settledListeners.push(listener);
    },
    onUnsettled(listener) {
      unsettledListeners.push(listener);
    },
    unsettle,
    connection,
    close() {
      closed = true;
      clearTimeout(retry);
      client.disconnect();
    },
  };
}

function isTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === 'Command timed out';
}

/**
 * How a {@link RedisLink} checks that it talks to the servers holding the data now, before it settles: a cluster's
 * masters, or the master a majority of the Sentinels name. See `link.ts`.
 */
import { Redis, type Cluster } from 'ioredis';

import type { RedisAddress, RedisTopology } from './link.ts';

/** Settle (on the server with this run id, null in a cluster), or not; `reconnect`: the server reached is wrong. */
export type Verdict =
  { readonly ok: true; readonly serverId: string | null } | { readonly ok: false; readonly reconnect?: boolean };

const SLOTS = 16_384;
const noop = () => undefined;

/** Refreshes the cluster's slot map (ioredis emits `refresh` once it has replaced it). */
export function refreshSlots(cluster: Cluster): Promise<void> {
  return new Promise((resolve, reject) => {
    cluster.refreshSlotsCache((error) => (error ? reject(error) : resolve()));
  });
}

/** Which master serves which slots, as one comparable string (`firstSlot:host:port;…`), "" when a slot has none. */
export function slotMasters(cluster: Cluster): string {
  let out = '';
  let previous: string | undefined;
  for (let slot = 0; slot < SLOTS; slot++) {
    const master = cluster.slots[slot]?.[0];
    if (master === undefined) return '';
    if (master !== previous) out += `${slot}:${master};`;
    previous = master;
  }
  return out;
}

/** Every slot has a master in the map, and each answers `ROLE` as a master with `cluster_state:ok`. */
export async function verifyCluster(cluster: Cluster): Promise<Verdict> {
  const wanted = new Set<string>();
  for (let slot = 0; slot < SLOTS; slot++) {
    const master = cluster.slots[slot]?.[0];
    if (master === undefined) return { ok: false };
    wanted.add(master);
  }
  const nodes = new Map(cluster.nodes('master').map((n) => [`${n.options.host}:${n.options.port}`, n]));
  const answers = await Promise.all(
    [...wanted].map(async (key) => {
      const node = nodes.get(key);
      if (!node) return false;
      const [role] = (await node.call('ROLE')) as [string];
      const info = String(await node.call('CLUSTER', 'INFO'));
      return role === 'master' && /^cluster_state:ok/m.test(info);
    }),
  );
  return answers.every(Boolean) ? { ok: true, serverId: null } : { ok: false };
}

/** The master as one Sentinel names it, or null (unreachable, unknown master name). */
async function askSentinel(
  address: RedisAddress,
  masterName: string,
  password: string | null,
  timeoutMs: number,
): Promise<{ runId: string; host: string; port: number } | null> {
  const conn = new Redis({
    host: address.host,
    port: address.port,
    ...(password === null ? {} : { password }),
    lazyConnect: true,
    retryStrategy: null,
    enableReadyCheck: false,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
  });
  conn.on('error', noop);
  try {
    await conn.connect();
    const fields = (await conn.call('SENTINEL', 'MASTER', masterName)) as string[];
    const get = (name: string) => {
      const at = fields.indexOf(name);
      return at >= 0 && at % 2 === 0 ? (fields[at + 1] ?? '') : '';
    };
    return { runId: get('runid'), host: get('ip'), port: Number(get('port')) };
  } catch {
    return null;
  } finally {
    conn.disconnect();
  }
}

/**
 * Settled when a majority of the configured Sentinels name the server `client` reached: by run id, or, while a
 * Sentinel has not learnt the run id of a just-promoted master yet (it does within 10 s), by address. When a
 * majority names another server, the connection is dropped so ioredis asks the Sentinels again.
 */
export async function verifySentinel(
  client: Redis,
  topology: Extract<RedisTopology, { kind: 'sentinel' }>,
  timeoutMs: number,
): Promise<Verdict> {
  const server = await client.info('server');
  const runId = /^run_id:(\w+)/m.exec(server)?.[1] ?? null;
  const port = Number(/^tcp_port:(\d+)/m.exec(server)?.[1]);
  const host = client.stream.remoteAddress;
  const named = await Promise.all(
    topology.sentinels.map((s) => askSentinel(s, topology.masterName, topology.sentinelPassword, timeoutMs)),
  );
  let us = 0;
  let other = 0;
  for (const n of named) {
    if (n === null) continue;
    if (n.runId !== '') {
      if (n.runId === runId) us++;
      else other++;
    } else if (n.host === host) {
      if (n.port === port) us++;
      else other++;
    }
  }
  const majority = Math.floor(topology.sentinels.length / 2) + 1;
  if (runId !== null && us >= majority) return { ok: true, serverId: runId };
  return { ok: false, reconnect: other >= majority };
}

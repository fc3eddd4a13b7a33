/**
 * A pub/sub subscription that says exactly when it may have missed a message: live (`onState(true)`) only on a
 * connection that is subscribed on the server messages are published to, during one settled period of the
 * {@link RedisLink}; `onState(false)` as soon as that connection is lost or the link unsettles (a failover, a
 * topology change). A new connection is made each time: subscribing again on a connection that came back by itself
 * could not tell what it missed meanwhile.
 *
 * One server and Sentinel use classic pub/sub on the master, checked to be the very server the link settled on (by
 * run id; a subscriber that reached a master the Sentinels just demoted would otherwise look live while the others
 * publish elsewhere).
 *
 * A cluster uses **sharded pub/sub** (`SSUBSCRIBE`/`SPUBLISH`, Redis 7), subscribed on the master of the channel's
 * slot. Why not classic pub/sub: a classic `PUBLISH` is acknowledged by the node that received it and then relayed
 * to the other nodes over the cluster bus, so a node that dies right after acknowledging loses the message for the
 * subscribers on every other node, and nothing tells them (their own connections are fine). A shard channel's
 * message is delivered by the master that acknowledges the `SPUBLISH` to the subscribers connected to it, before the
 * acknowledgement: an acknowledged message reached every live subscriber, or that subscriber's connection to that
 * very master breaks. It also keeps each message on one shard instead of broadcasting it to every node. When the
 * slot moves to another master (failover, resharding), Redis unsubscribes the subscribers (ioredis emits `moved`).
 */
import type { Redis } from 'ioredis';

import { runIdOf, type RedisLink } from './link.ts';

/** Pause before subscribing again after the subscriber's connection alone was lost. */
const RESUBSCRIBE_MS = 200;

/** Subscribes to `channel` (already prefixed) for as long as the link lives; see the module comment. */
export function createSubscription(
  link: RedisLink,
  channel: string,
  onMessage: (message: string) => void,
  onState: (live: boolean) => void,
): { close(): void } {
  const sharded = link.topology.kind === 'cluster';
  let conn: Redis | undefined;
  let live = false;
  let closed = false;
  /** Bumped whenever the current attempt or connection is abandoned: an older one only cleans up after itself. */
  let epoch = 0;
  let slot: number | undefined;
  let retry: NodeJS.Timeout | undefined;

  const setLive = (value: boolean) => {
    if (live === value) return;
    live = value;
    onState(value);
  };

  function drop(): void {
    epoch++;
    clearTimeout(retry);
    retry = undefined;
    conn?.disconnect();
    conn = undefined;
    setLive(false);
  }

  /** The subscriber's own connection was lost while the link is fine: subscribe again shortly. */
  function lost(): void {
    drop();
    if (!closed && link.settled()) retry = setTimeout(() => void start(), RESUBSCRIBE_MS);
  }

  async function start(): Promise<void> {
    if (closed || conn || !link.settled()) return;
    const mine = ++epoch;
    try {
      const address = sharded ? await channelMaster() : undefined;
      if (mine !== epoch) return;
      const c = link.connection(address);
      conn = c;
      const isCurrent = () => mine === epoch && conn === c;
      c.on('close', () => {
        if (isCurrent()) lost();
      });
      if (sharded) {
        c.on('smessage', (ch: string, message: string) => {
          if (isCurrent() && ch === channel) onMessage(message);
        });
        // An unsolicited `sunsubscribe`: the slot moved. The link's slot map is stale too.
        c.on('moved', () => {
          if (!isCurrent()) return;
          drop();
          link.unsettle();
        });
        // A replica of the slot's master accepts SSUBSCRIBE too, and gets messages late: only a master will do.
        const [role] = (await c.call('ROLE')) as [string];
        if (!isCurrent()) return;
        if (role !== 'master') throw new Error('the subscriber reached a replica');
        await c.ssubscribe(channel);
      } else {
        c.on('message', (ch: string, message: string) => {
          if (isCurrent() && ch === channel) onMessage(message);
        });
        const id = await runIdOf(c);
        if (!isCurrent()) return;
        if (id === null || id !== link.serverId()) throw new Error('the subscriber reached another server');
        await c.subscribe(channel);
      }
      if (isCurrent() && link.settled()) setLive(true);
    } catch {
      if (mine === epoch) lost();
    }
  }

  /** The master serving the channel's slot, as the link's verified slot map says. */
  async function channelMaster() {
    const cluster = link.client;
    slot ??= Number(await cluster.call('CLUSTER', 'KEYSLOT', channel));
    const key = 'slots' in cluster ? cluster.slots[slot]?.[0] : undefined;
    const at = key?.lastIndexOf(':') ?? -1;
    if (key === undefined || at < 0) throw new Error(`no master known for slot ${slot}`);
    return { host: key.slice(0, at), port: Number(key.slice(at + 1)) };
  }

  link.onSettled(() => void start());
  link.onUnsettled(drop);
  void start();

  return {
    close() {
      closed = true;
      epoch++;
      clearTimeout(retry);
      conn?.disconnect();
      conn = undefined;
    },
  };
}

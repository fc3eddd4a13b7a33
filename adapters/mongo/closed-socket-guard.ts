import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

import mongoose from 'mongoose';

const guarded = Symbol.for('tokenwarden.closedSocketGuard');

/** The parts of the driver's internal `Connection` class (mongodb/lib/cmap/connection.js) this guard relies on. */
interface DriverConnection {
  readonly id: number | string;
  readonly address: string;
  readonly socket: Socket;
  onError(error: Error): void;
  writeCommand: (this: DriverConnection, ...args: unknown[]) => Promise<void>;
  [guarded]?: true;
}

interface DriverConnectionModule {
  Connection?: { prototype: DriverConnection };
}

/**
 * Works around a driver hang that left Tokenwarden answering 503 for good after MongoDB restarted.
 *
 * The MongoDB driver (mongodb 7.8 and 7.9, the versions mongoose 9 uses) writes a command and, when `socket.write`
 * returns false, waits for `'drain'`. A socket the server has just closed is already destroyed while its `'close'`
 * event is still queued, so the driver still takes the connection for open: the write returns false, and neither
 * `'drain'` nor `'error'` ever comes (nor the socket timeout, which a destroyed socket no longer runs). When the
 * connection is the server monitor's, the monitor never checks the server again: the server stays "Unknown" and
 * every operation fails server selection until the process restarts. It happens when a server restart closes
 * the connections while an operation's failure has just asked the monitor for an immediate check (about one restart
 * in two under load, measured against FerretDB). A pooled connection hit the same way hangs its operation.
 *
 * The guard fails such a write the way the driver fails any write to a closed connection: a `MongoNetworkError`,
 * which closes the connection and makes the monitor (or the operation) start afresh on a new one. It also fails a
 * write still waiting for `'drain'` when the socket closes.
 *
 * Installed once per driver instance; returns false when the driver no longer has the internals it relies on
 * (a test pins that down, so an upgrade that moves them is noticed).
 */
export function guardClosedSocketWrites(): boolean {
  const driver = mongoose.mongo;
  let internals: DriverConnectionModule;
  try {
    const requireFromMongoose = createRequire(createRequire(import.meta.url).resolve('mongoose'));
    // The same driver instance as mongoose's, or patching it would change nothing.
    if ((requireFromMongoose('mongodb') as typeof driver).MongoNetworkError !== driver.MongoNetworkError) return false;
    internals = requireFromMongoose('mongodb/lib/cmap/connection.js') as DriverConnectionModule;
  } catch {
    return false;
  }
  const proto = internals.Connection?.prototype;
  if (!proto || typeof proto.writeCommand !== 'function' || typeof proto.onError !== 'function') return false;
  if (proto[guarded]) return true;

  const writeCommand = proto.writeCommand;
  const closed = (connection: DriverConnection): Error => {
    const error = new driver.MongoNetworkError(`connection ${connection.id} to ${connection.address} closed`);
    connection.onError(error); // closes the connection (a no-op when its 'close' was handled already)
    return error;
  };
  proto.writeCommand = function guardedWriteCommand(this: DriverConnection, ...args: unknown[]): Promise<void> {
    const socket = this.socket;
    if (socket.destroyed) return Promise.reject(closed(this));
    return new Promise<void>((resolve, reject) => {
      const onClose = () => reject(closed(this));
      socket.once('close', onClose);
      writeCommand
        .apply(this, args)
        .finally(() => socket.off('close', onClose))
        .then(resolve, reject);
    });
  };
  proto[guarded] = true;
  return true;
}

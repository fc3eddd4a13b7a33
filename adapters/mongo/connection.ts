/**
 * The MongoDB connection and what is prepared on it once at start-up: collections, indexes, and the expiry of
 * oidc-provider's payloads (a TTL index where the server has them, a sweeper where it has not, as on FerretDB).
 *
 * Every write that changes what introspection answers is acknowledged by a majority of a replica set (write
 * concern `majority`, on the whole connection, so no write can forget it), and every read goes to the primary: an
 * acknowledged revocation cannot be rolled back by an election, and no read sees an older state than a write this
 * process made. During an election operations fail with a server-selection error, which the HTTP layer answers
 * `503` with `Retry-After`; nothing is guessed.
 */
import mongoose, { type Connection, type Model } from 'mongoose';

import { guardClosedSocketWrites } from './closed-socket-guard.ts';
import { guard } from './errors.ts';
import type { OidcDoc } from './oidc.ts';

export interface MongoStorageOptions {
  readonly uri: string;
  /** Server selection / socket timeout: how long an operation may wait for an unreachable server. */
  readonly timeoutMs: number;
  /** Called once when expiry falls back to the sweeper (no TTL index support), for logging. */
  readonly onTtlFallback?: (error: unknown) => void;
  /** Sweeper period when TTL indexes are unavailable. Default 60 s. */
  readonly sweepIntervalMs?: number;
  /** Called when the driver lacks the internals `guardClosedSocketWrites` patches, for logging. */
  readonly onDriverUnguarded?: () => void;
  /** Told about every command the driver sends (tests assert the write concern). */
  readonly onCommand?: (event: { commandName: string; command: Record<string, unknown> }) => void;
}

/** The connection options Tokenwarden sends. */
function connectionOptions(opts: MongoStorageOptions): mongoose.ConnectOptions {
  return {
    serverSelectionTimeoutMS: opts.timeoutMs,
    // Also the monitor's heartbeat timeout, and a heartbeat that times out makes the driver interrupt every
    // operation in flight (abandoning writes the server still executes, see below): a server busy for a couple of
    // seconds is not a dead one. An unreachable server is still given up after `timeoutMs` (server selection).
    connectTimeoutMS: Math.max(10_000, 2 * opts.timeoutMs),
    // Only a backstop for a server that stopped answering on an open connection (the driver's monitor notices a
    // hung server sooner and interrupts its operations). Not the per-request bound: a write the driver stops
    // waiting for is still executed by the server and may land after a later write of the same document, undoing
    // it on FerretDB (a revocation among them). Changes are bounded in the stores instead (`keyedSerial`, four
    // times `timeoutMs`), which answer 503 while the write goes on holding its document.
    socketTimeoutMS: Math.max(30_000, 8 * opts.timeoutMs),
    writeConcern: { w: 'majority' },
    readPreference: 'primary',
    bufferCommands: false,
    autoIndex: false,
    autoCreate: false,
    maxPoolSize: 20,
    ...(opts.onCommand ? { monitorCommands: true } : {}),
  };
}

/** Connects. @throws {StoreUnavailableError} when no server answers within the timeout. */
export async function connect(opts: MongoStorageOptions): Promise<Connection> {
  if (!guardClosedSocketWrites()) opts.onDriverUnguarded?.();
  const connection = mongoose.createConnection(opts.uri, connectionOptions(opts));
  if (opts.onCommand) {
    const listen = opts.onCommand;
    connection.getClient().on('commandStarted', (event) => listen(event));
  }
  await guard(() => connection.asPromise());
  return connection;
}

/** Creates each model's collection (unless it exists) and its indexes. */
export async function createCollections(
  models: ReadonlyArray<{ createCollection(): Promise<unknown>; createIndexes(): Promise<unknown> }>,
): Promise<void> {
  await guard(async () => {
    for (const model of models) {
      await model.createCollection().catch(() => undefined); // exists already
      await model.createIndexes();
    }
  });
}

/** Expires oidc-provider's payloads: a TTL index, or else a sweeper (returned, to stop at close). */
export async function expireOidcPayloads(
  Oidc: Model<OidcDoc>,
  opts: MongoStorageOptions,
): Promise<NodeJS.Timeout | undefined> {
  try {
    await Oidc.collection.createIndex({ expires_at: 1 }, { expireAfterSeconds: 0, name: 'expires_at_ttl' });
    return undefined;
  } catch (error) {
    opts.onTtlFallback?.(error);
    await Oidc.collection.createIndex({ expires_at: 1 }, { name: 'expires_at_1' }).catch(() => undefined);
    const sweeper = setInterval(() => {
      Oidc.deleteMany({ expires_at: { $lte: new Date() } }).catch(() => undefined);
    }, opts.sweepIntervalMs ?? 60_000);
    sweeper.unref();
    return sweeper;
  }
}

/**
 * MongoDB failures in the storage contract's terms: a unique index refusing a write is a {@link DuplicateError}
 * naming the field, an unreachable or timed-out server a {@link StoreUnavailableError} (the HTTP layer answers 503),
 * anything else a {@link StoreError}. Driver messages are kept as causes only: they may quote stored values.
 */
import { DuplicateError, StoreError, StoreUnavailableError } from '../types.ts';

const UNAVAILABLE =
  /Network|ServerSelection|NotConnected|PoolCleared|Timeout|Topology|Interrupted|ECONNREFUSED|closed/i;

/** The contract's error for a driver error. */
export function translate(error: unknown): Error {
  if (error instanceof StoreError) return error;
  const err = error as { code?: unknown; name?: string; message?: string; keyPattern?: Record<string, unknown> };
  // FerretDB reports a unique violation by an update as InternalError "UNIQUE constraint failed: index '<coll>_<hash>_<field>_1'".
  const ferret = /UNIQUE constraint failed: index '[^']*?_[0-9a-f]{8}_(\w+?)_1'/.exec(err?.message ?? '');
  if (err?.code === 11000 || err?.code === 11001 || ferret) {
    // MongoDB names the index in keyPattern; FerretDB's E11000 does not, so callers resolve `unknown` by a lookup.
    const field = Object.keys(err.keyPattern ?? {})[0] ?? ferret?.[1] ?? 'unknown';
    return new DuplicateError(field === 'live_name' ? 'name' : field === '_id' ? 'id' : field);
  }
  if (UNAVAILABLE.test(err?.name ?? '') || UNAVAILABLE.test(err?.message ?? '')) {
    return new StoreUnavailableError('MongoDB is unreachable', { cause: error });
  }
  return new StoreError('MongoDB operation failed', { cause: error });
}

/** Runs a store operation, translating whatever it throws. */
export async function guard<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw translate(error);
  }
}

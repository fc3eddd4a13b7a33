/**
 * The audit log: who did what to which token or user, and how. Never a token value or hash. Stored in MongoDB
 * (or memory, embedded) and listed newest first.
 *
 * Every event records a change already committed (a token inserted, a revocation written). If its own write then
 * fails, failing the request would tell the caller the change did not happen when it did (a created token whose
 * value is never shown), so the event is kept in memory, in order, and written when the store is back.
 */
import { createHash } from 'node:crypto';

import {
  DuplicateError,
  StoreUnavailableError,
  type AuditEvent,
  type AuditQuery,
  type AuditStore,
  type Cursor,
} from '../../adapters/types.ts';
import type { Clock } from './clock.ts';
import { fetchPage } from './pagination.ts';
import { randomBase62 } from './pat-format.ts';

/** Event types, stable strings. */
export const AUDIT_TYPES = [
  'token.created',
  'token.renamed',
  'token.description_changed',
  'token.expiry_shortened',
  'token.rotated',
  'token.revoked',
  'token.rotated_value_presented',
  'token.expiring',
  'token.expired',
  'token.exchanged',
  'token.resource_mismatch',
  'user.created',
  'user.disabled',
  'user.enabled',
  'user.deleted',
  'client.registered',
  'client.updated',
  'client.deleted',
  'webhook.registered',
  'webhook.updated',
  'webhook.deleted',
  'webhook.tested',
  'ssf_stream.created',
  'ssf_stream.updated',
  'ssf_stream.deleted',
  'ssf_stream.status_changed',
  'ssf_stream.verification_requested',
] as const;
export type AuditType = (typeof AUDIT_TYPES)[number];

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/**
 * The id of the event recorded under `key`: `evt_` and 20 base62 characters of its SHA-256, the shape of a random
 * event id, so one key always names one event (the store's unique id refuses the second).
 */
export function eventIdFor(key: string): string {
  const digest = createHash('sha256').update(`audit-event\n${key}`).digest();
  let id = 'evt_';
  for (let i = 0; i < 20; i++) id += BASE62[digest[i]! % 62];
  return id;
}

/** Who acts, and through which door: recorded with every event. */
export interface Actor {
  /** `admin:<client_id>`, `user:<user_id>`, `client:<client_id>` or `system`. */
  readonly id: string;
  /**
   * `admin_api`, `self_service`, `revocation_endpoint`, `credential_revocation`, `introspection`, `token_exchange`,
   * `ssf_api`, or `scheduler` (the expiry notices and the inactive-token policy, run by Tokenwarden itself).
   */
  readonly via:
    | 'admin_api'
    | 'self_service'
    | 'revocation_endpoint'
    | 'credential_revocation'
    | 'introspection'
    | 'token_exchange'
    | 'ssf_api'
    | 'scheduler';
  /**
   * When a PAT value acted (self-service, or presented for revocation): whether it was the token's current value or
   * a rotated-out one in its grace period. Recorded as the event's `credential` detail.
   */
  readonly credential?: 'current' | 'grace' | undefined;
}

export interface AuditService {
  /**
   * Records an event. With `key`, the event's id is derived from it, so an event recorded twice under one key (two
   * instances revoking one token at once, a notice delivered again after a crash) is stored once.
   */
  record(
    type: AuditType,
    actor: Actor,
    subject: { userId?: string | null; tokenId?: string | null },
    details?: AuditEvent['details'],
    options?: { readonly key?: string },
  ): Promise<void>;
  /** Newest first; `next` is the cursor of the following page, if any. */
  list(query: AuditQuery): Promise<{ items: AuditEvent[]; next: Cursor | null }>;
  /** Events waiting for the store (written in the background). */
  pending(): number;
  /** Tries once more to write what is waiting and stops retrying; resolves with how many could not be written. */
  close(): Promise<number>;
}

export interface AuditServiceDeps {
  readonly store: AuditStore;
  readonly clock: Clock;
  /** Told when an event's write failed and it now waits in memory. */
  readonly onDeferred?: (error: unknown, waiting: number) => void;
  /** Told when events had to be dropped (the queue was full, or the store refused one for good). */
  readonly onDropped?: (dropped: number) => void;
  /** Retry period while events wait. Default 1000 ms. */
  readonly retryMs?: number;
  /** Most events kept waiting; beyond it the oldest are dropped (and reported). Default 10,000. */
  readonly maxPending?: number;
}

/** Creates the audit service. */
export function createAuditService(deps: AuditServiceDeps): AuditService {
  const waiting: AuditEvent[] = [];
  const max = deps.maxPending ?? 10_000;
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> | undefined;

  /** Writes waiting events oldest first, stopping at the first failure. */
  const flush = () =>
    (flushing ??= (async () => {
      try {
        while (waiting.length > 0) {
          const head = waiting[0]!;
          try {
            await deps.store.insert(head);
          } catch (error) {
            // Still unreachable: the timer tries again. Already there (the failed write had landed after all):
            // done. Refused for another reason: it never will be written.
            if (error instanceof StoreUnavailableError) return;
            if (!(error instanceof DuplicateError)) deps.onDropped?.(1);
          }
          // By identity: while the write was in flight, a full queue may have dropped its oldest entries.
          const at = waiting.indexOf(head);
          if (at !== -1) waiting.splice(at, 1);
        }
      } finally {
        flushing = undefined;
      }
    })());

  const schedule = () => {
    if (timer) return;
    timer = setInterval(() => {
      void flush().then(() => {
        if (waiting.length === 0 && timer) {
          clearInterval(timer);
          timer = undefined;
        }
      });
    }, deps.retryMs ?? 1000);
    timer.unref();
  };

  /** Queues an event; `error` is the failure of its own write (none when it only queued behind others). */
  const defer = (event: AuditEvent, error?: unknown) => {
    waiting.push(event);
    if (waiting.length > max) deps.onDropped?.(waiting.splice(0, waiting.length - max).length);
    if (error !== undefined) deps.onDeferred?.(error, waiting.length);
    schedule();
  };

  return {
    async record(type, actor, subject, details = {}, options = {}) {
      const event: AuditEvent = {
        id: options.key === undefined ? `evt_${randomBase62(20)}` : eventIdFor(options.key),
        type,
        at: deps.clock.now(),
        userId: subject.userId ?? null,
        tokenId: subject.tokenId ?? null,
        actor: actor.id,
        via: actor.via,
        details: actor.credential === undefined ? details : { ...details, credential: actor.credential },
      };
      // Behind events already waiting: the log keeps its order.
      if (waiting.length > 0) {
        defer(event);
        return;
      }
      try {
        await deps.store.insert(event);
      } catch (error) {
        // Whatever the failure (unreachable, a failover's "not primary"), the change it records has happened: the
        // caller must hear so. A duplicate id means a timed-out write landed after all.
        if (!(error instanceof DuplicateError)) defer(event, error);
      }
    },
    list: (query) =>
      fetchPage(
        query.limit,
        (rows) => deps.store.query({ ...query, limit: rows }),
        (e) => ({ at: e.at, id: e.id }),
      ),
    pending: () => waiting.length,
    async close() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await flush();
      return waiting.length;
    },
  };
}

/**
 * Tokenwarden as an SSF 1.0 transmitter: event streams owned by registered clients (SSF §8.1.1: create, read,
 * update, replace, delete), their status (§8.1.2), verification (§8.1.4), poll delivery (RFC 8936) and the push
 * transport (RFC 8935). A stream belongs to the client whose access token created it: its `aud` is that client's
 * id, and no other client can see or change it (another client's stream is "not found").
 *
 * Push streams get a delivery per event, pushed by the worker with retries like webhooks. Poll streams get the same
 * deliveries, left pending until the receiver acknowledges them: every poll returns the oldest unacknowledged SETs
 * (so one not acknowledged is sent again), and a poll with `returnImmediately: false` waits up to
 * `SSF_POLL_MAX_WAIT_SECONDS` for one, woken by a fan-out on this instance or a re-read twice a second (for fan-outs
 * on other instances).
 */
import type {
  DeliveryRecord,
  DeliveryStore,
  StreamRecord,
  StreamStatus,
  StreamStore,
} from '../../../adapters/event-stores.ts';
import { Conflict, InvalidRequest, NotFound, assertThat } from '../../errors.ts';
import type { Clock } from '../../services/clock.ts';
import { systemClock } from '../../services/clock.ts';
import type { Keyring } from '../../services/keyring.ts';
import { randomBase62 } from '../../services/pat-format.ts';
import { SSF_VERIFICATION } from '../catalogue.ts';
import type { AttemptResult, Transport } from '../dispatcher.ts';
import { checkTarget, postTo, TargetRefused } from '../http-target.ts';
import type { Outbox, Target } from '../outbox.ts';
import type { DeliveryLimits } from '../webhooks.ts';
import { SSF_SUPPORTED, toSsfEvent } from './mapping.ts';
import type { SetSigner } from './set.ts';

/** RFC 8935 push and RFC 8936 poll, as SSF names the delivery methods. */
export const PUSH_METHOD = 'urn:ietf:rfc:8935';
export const POLL_METHOD = 'urn:ietf:rfc:8936';

/** Most SETs one poll returns. */
export const MAX_POLL_EVENTS = 500;

/** The receiver-supplied part of a stream's configuration, as a create, update or replace gives it. */
export interface StreamInput {
  readonly eventsRequested?: readonly string[] | undefined;
  readonly description?: string | null | undefined;
  readonly delivery?:
    | {
        readonly method: typeof PUSH_METHOD | typeof POLL_METHOD;
        readonly endpointUrl?: string | undefined;
        readonly authorizationHeader?: string | undefined;
      }
    | undefined;
}

/** An RFC 8936 poll request. */
export interface PollRequest {
  readonly maxEvents?: number | undefined;
  readonly returnImmediately?: boolean | undefined;
  readonly ack?: readonly string[] | undefined;
  readonly setErrs?: Readonly<Record<string, { err: string; description?: string | undefined }>> | undefined;
}

export interface StreamService {
  create(clientId: string, input: StreamInput): Promise<StreamRecord>;
  /** @throws {NotFound} unless the stream is the client's. */
  get(clientId: string, streamId: string): Promise<StreamRecord>;
  list(clientId: string): Promise<StreamRecord[]>;
  /** PATCH: the given receiver-supplied properties change, the others stay. */
  update(clientId: string, streamId: string, input: StreamInput): Promise<StreamRecord>;
  /** PUT: the receiver-supplied properties are replaced (missing ones are removed). */
  replace(clientId: string, streamId: string, input: StreamInput): Promise<StreamRecord>;
  remove(clientId: string, streamId: string): Promise<void>;
  setStatus(clientId: string, streamId: string, status: StreamStatus, reason: string | null): Promise<StreamRecord>;
  /** Sends a verification event to the stream (SSF §8.1.4). */
  verify(clientId: string, streamId: string, state: string | undefined): Promise<void>;
  /** RFC 8936: acknowledges, records errors, then returns pending SETs (waiting for one unless told not to). */
  poll(
    clientId: string,
    streamId: string,
    request: PollRequest,
  ): Promise<{ sets: Record<string, string>; moreAvailable: boolean }>;
  /** Ends every waiting poll now (shutdown). */
  stopWaiting(): void;
  /**
   * Deletes the streams inactive for longer than the inactivity timeout (none when it is 0), giving up what they had
   * pending; resolves with them.
   */
  expireInactive(): Promise<StreamRecord[]>;
  /** SSF §8.1.1 `inactivity_timeout`, in seconds; null: streams never expire. */
  readonly inactivityTimeoutSeconds: number | null;
  /** Pushes SETs to push streams (for the worker). */
  readonly transport: Transport;
}

export interface StreamServiceDeps {
  readonly store: StreamStore;
  readonly deliveries: DeliveryStore;
  readonly outbox: Outbox;
  readonly signer: SetSigner;
  readonly keyring: Keyring;
  readonly clock: Clock;
  readonly issuer: string;
  readonly limits: DeliveryLimits;
  /** Longest a poll waits for an event. */
  readonly pollMaxWaitMs: number;
  /**
   * Most streams one client may have (`SSF_MAX_STREAMS_PER_CLIENT`). Checked before the insert, not atomically:
   * concurrent creations may pass it by a few, which bounds fan-out all the same.
   */
  readonly maxStreamsPerClient: number;
  /**
   * A stream whose receiver made no call on it and accepted no push for this long is deleted
   * (`SSF_STREAM_INACTIVITY_DAYS`); 0: never. A receiver that crashed never deletes its stream, and each one left
   * takes a share of fan-out and of `maxStreamsPerClient`.
   */
  readonly inactivityMs: number;
}

/** The event types a stream gets: those it requested that Tokenwarden sends (all of them when it requested none). */
export function eventsDelivered(stream: Pick<StreamRecord, 'eventsRequested'>): string[] {
  const requested = stream.eventsRequested;
  return requested === null ? [...SSF_SUPPORTED] : SSF_SUPPORTED.filter((t) => requested.includes(t));
}

/** The poll endpoint of a stream (transmitter-supplied, unique per stream). */
export function pollUrl(issuer: string, streamId: string): string {
  return `${issuer}/api/ssf/poll/${streamId}`;
}

/**
 * A stream's configuration as SSF §8.1.1 writes it (never the push authorization header: it is write-only), with its
 * `inactivity_timeout` in seconds when streams expire.
 */
export function streamConfiguration(
  stream: StreamRecord,
  issuer: string,
  inactivityTimeoutSeconds: number | null = null,
): Record<string, unknown> {
  return {
    stream_id: stream.id,
    iss: issuer,
    aud: stream.clientId,
    delivery:
      stream.method === 'push'
        ? { method: PUSH_METHOD, endpoint_url: stream.endpointUrl }
        : { method: POLL_METHOD, endpoint_url: pollUrl(issuer, stream.id) },
    events_supported: [...SSF_SUPPORTED],
    ...(stream.eventsRequested === null ? {} : { events_requested: [...stream.eventsRequested] }),
    events_delivered: eventsDelivered(stream),
    ...(stream.description === null ? {} : { description: stream.description }),
    ...(inactivityTimeoutSeconds === null ? {} : { inactivity_timeout: inactivityTimeoutSeconds }),
  };
}

const sealingContext = (id: string) => `stream:${id}`;

/** Activity is written at most this often per stream (a poller calls every second or so). */
const ACTIVITY_WRITE_MS = 3600_000;

/** Creates the service. */
export function createStreamService(deps: StreamServiceDeps): StreamService {
  const { store, deliveries, outbox, signer, keyring, clock, issuer, limits } = deps;
  const waiters = new Map<string, Set<() => void>>();

  outbox.onFannedOut((targets: readonly Target[]) => {
    for (const target of targets) for (const wake of waiters.get(target.id) ?? []) wake();
  });

  /** Records the receiver's activity on the stream, unless it was recorded lately. */
  async function active(stream: StreamRecord): Promise<void> {
    const now = clock.now();
    const every = Math.min(ACTIVITY_WRITE_MS, deps.inactivityMs / 10);
    if (deps.inactivityMs > 0 && now.getTime() - stream.lastActivityAt.getTime() >= every) {
      await store.touch(stream.id, now);
    }
  }

  /** The client's stream (any call on it is the receiver's activity). @throws {NotFound} */
  async function requireStream(clientId: string, streamId: string): Promise<StreamRecord> {
    const stream = await store.get(streamId);
    assertThat(stream && stream.clientId === clientId, () => new NotFound('stream'));
    await active(stream);
    return stream;
  }

  /** The delivery part of a stream from its input: checked (push targets like webhook URLs), secret sealed. */
  async function deliveryOf(
    id: string,
    delivery: StreamInput['delivery'],
  ): Promise<Pick<StreamRecord, 'method' | 'endpointUrl' | 'authorizationSealed'>> {
    if (delivery === undefined || delivery.method === POLL_METHOD) {
      if (delivery?.endpointUrl !== undefined) {
        assertThat(
          delivery.endpointUrl === pollUrl(issuer, id),
          () => new InvalidRequest('delivery.endpoint_url of a poll stream is the transmitter’s', 'delivery'),
        );
      }
      return { method: 'poll', endpointUrl: null, authorizationSealed: null };
    }
    const url = delivery.endpointUrl;
    assertThat(url, () => new InvalidRequest('delivery.endpoint_url is required for push delivery', 'delivery'));
    try {
      await checkTarget(url, limits.policy);
    } catch (error) {
      if (error instanceof TargetRefused) {
        throw new InvalidRequest(`delivery.endpoint_url: ${error.message}`, 'delivery');
      }
      throw error;
    }
    return {
      method: 'push',
      endpointUrl: url,
      authorizationSealed:
        delivery.authorizationHeader === undefined
          ? null
          : keyring.encrypt('delivery-secrets', delivery.authorizationHeader, sealingContext(id)),
    };
  }

  async function save(before: StreamRecord, after: StreamRecord): Promise<StreamRecord> {
    const saved = await store.replace(after);
    assertThat(saved, () => new NotFound('stream'));
    // A push stream that became a poll stream (or the reverse) keeps nothing of the old method pending.
    if (before.method !== after.method) await deliveries.cancel(after.id, 'the delivery method changed', clock.now());
    return saved;
  }

  async function deliver(delivery: DeliveryRecord): Promise<AttemptResult> {
    let stream: StreamRecord | null;
    try {
      stream = await store.get(delivery.subscriberId);
    } catch {
      return { outcome: 'failed', status: null, error: 'the stream could not be read' };
    }
    if (!stream) return { outcome: 'failed', status: null, error: 'the stream was deleted', final: true };
    if (stream.status === 'disabled')
      return { outcome: 'failed', status: null, error: 'the stream is disabled', final: true };
    if (stream.status === 'paused') return { outcome: 'held' };
    if (stream.method !== 'push' || stream.endpointUrl === null) {
      return { outcome: 'failed', status: null, error: 'the stream no longer pushes', final: true };
    }
    const ssf = toSsfEvent(delivery.event, issuer);
    if (!ssf) return { outcome: 'failed', status: null, error: 'not an SSF event', final: true };
    const set = await signer.sign(delivery.event, ssf, stream.clientId, systemClock.now());
    const authorization =
      stream.authorizationSealed === null
        ? undefined
        : keyring.decrypt('delivery-secrets', stream.authorizationSealed, sealingContext(stream.id));
    try {
      const result = await postTo(stream.endpointUrl, {
        headers: {
          'Content-Type': 'application/secevent+jwt',
          Accept: 'application/json',
          'User-Agent': 'Tokenwarden-SSF/1',
          ...(authorization === undefined ? {} : { Authorization: authorization }),
        },
        body: set,
        timeoutMs: limits.timeoutMs,
        maxResponseBytes: limits.maxResponseBytes,
        policy: limits.policy,
      });
      if (result.status >= 200 && result.status < 300) {
        await active(stream).catch(() => undefined);
        return { outcome: 'delivered', status: result.status };
      }
      if (result.status === 400) {
        // RFC 8935 §2.3: the receiver refused this SET ({"err": …}); sending it again would not change that.
        let err = 'invalid_request';
        try {
          const body = JSON.parse(result.body) as { err?: unknown };
          if (typeof body.err === 'string') err = body.err.slice(0, 100);
        } catch {
          // not JSON
        }
        return { outcome: 'failed', status: 400, error: `the receiver refused the SET: ${err}`, final: true };
      }
      const error =
        result.status >= 300 && result.status < 400
          ? `answered ${result.status}: redirects are not followed`
          : `answered ${result.status}`;
      return { outcome: 'failed', status: result.status, error, retryAfterSeconds: result.retryAfterSeconds };
    } catch (error) {
      const reason =
        error instanceof TargetRefused
          ? `refused: ${error.message}`
          : `no answer: ${(error as { code?: string }).code ?? (error as Error).message}`;
      return { outcome: 'failed', status: null, error: reason };
    }
  }

  /** Resolves at `deadline` (wall clock), or earlier when a fan-out on this instance reaches the stream. */
  function waitForEvents(streamId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const set = waiters.get(streamId) ?? new Set<() => void>();
      waiters.set(streamId, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0) waiters.delete(streamId);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
    });
  }

  let stopped = false;

  return {
    async create(clientId, input) {
      const existing = await store.list(clientId);
      assertThat(
        existing.length < deps.maxStreamsPerClient,
        () =>
          new Conflict(
            `a receiver may have at most ${deps.maxStreamsPerClient} streams (delete unused ones: GET lists them)`,
            'stream_id',
          ),
      );
      const now = clock.now();
      const id = `st_${randomBase62(22)}`;
      const stream: StreamRecord = {
        id,
        clientId,
        eventsRequested: input.eventsRequested === undefined ? null : [...new Set(input.eventsRequested)],
        description: input.description ?? null,
        ...(await deliveryOf(id, input.delivery)),
        status: 'enabled',
        reason: null,
        createdAt: now,
        updatedAt: now,
        lastActivityAt: now,
      };
      await store.insert(stream);
      return stream;
    },

    get: requireStream,
    list: (clientId) => store.list(clientId),

    async update(clientId, streamId, input) {
      const before = await requireStream(clientId, streamId);
      return save(before, {
        ...before,
        ...(input.eventsRequested === undefined ? {} : { eventsRequested: [...new Set(input.eventsRequested)] }),
        ...(input.description === undefined ? {} : { description: input.description }),
        ...(input.delivery === undefined ? {} : await deliveryOf(streamId, input.delivery)),
        updatedAt: clock.now(),
      });
    },

    async replace(clientId, streamId, input) {
      const before = await requireStream(clientId, streamId);
      return save(before, {
        ...before,
        eventsRequested: input.eventsRequested === undefined ? null : [...new Set(input.eventsRequested)],
        description: input.description ?? null,
        ...(await deliveryOf(streamId, input.delivery)),
        updatedAt: clock.now(),
      });
    },

    async remove(clientId, streamId) {
      await requireStream(clientId, streamId);
      await store.remove(streamId);
      await deliveries.cancel(streamId, 'the stream was deleted', clock.now());
    },

    async setStatus(clientId, streamId, status, reason) {
      const before = await requireStream(clientId, streamId);
      const now = clock.now();
      const saved = await save(before, { ...before, status, reason, updatedAt: now });
      // Disabled: nothing is held for later (SSF §8.1.2). Enabled again: what a pause held is due now.
      if (status === 'disabled') await deliveries.cancel(streamId, 'the stream was disabled', now);
      if (status === 'enabled' && before.status === 'paused') await deliveries.reschedule(streamId, now);
      return saved;
    },

    async verify(clientId, streamId, state) {
      await requireStream(clientId, streamId);
      await outbox.emit(
        SSF_VERIFICATION,
        { stream_id: streamId, ...(state === undefined ? {} : { state }) },
        { only: streamId },
      );
    },

    async poll(clientId, streamId, request) {
      let stream = await requireStream(clientId, streamId);
      assertThat(
        stream.method === 'poll',
        () => new InvalidRequest('this stream is delivered by push, not poll', 'stream_id'),
      );
      const now = clock.now();
      if (request.ack && request.ack.length > 0) await deliveries.finish(streamId, request.ack, 'delivered', now);
      const errs = Object.entries(request.setErrs ?? {});
      if (errs.length > 0) {
        await deliveries.finish(
          streamId,
          errs.map(([jti]) => jti),
          'failed',
          now,
          Object.fromEntries(
            errs.map(([jti, e]) => [
              jti,
              `the receiver refused the SET: ${e.err}${e.description ? ` (${e.description})` : ''}`.slice(0, 300),
            ]),
          ),
        );
      }
      const max = Math.min(request.maxEvents ?? 100, MAX_POLL_EVENTS);
      const deadline = Date.now() + (request.returnImmediately === true || max === 0 ? 0 : deps.pollMaxWaitMs);
      for (;;) {
        if (stream.status === 'enabled') {
          const pending = await deliveries.pendingPolls(streamId, max + 1);
          if (max === 0) return { sets: {}, moreAvailable: pending.length > 0 };
          if (pending.length > 0) {
            const sets: Record<string, string> = {};
            const issuedAt = systemClock.now();
            for (const delivery of pending.slice(0, max)) {
              const ssf = toSsfEvent(delivery.event, issuer);
              if (ssf) sets[delivery.event.id] = await signer.sign(delivery.event, ssf, stream.clientId, issuedAt);
            }
            return { sets, moreAvailable: pending.length > max };
          }
        }
        const left = deadline - Date.now();
        if (left <= 0 || stopped) return { sets: {}, moreAvailable: false };
        await waitForEvents(streamId, Math.min(left, 500));
        stream = await requireStream(clientId, streamId);
      }
    },

    stopWaiting() {
      stopped = true;
      for (const set of waiters.values()) for (const wake of [...set]) wake();
    },

    async expireInactive() {
      if (deps.inactivityMs <= 0) return [];
      const now = clock.now();
      const before = now.getTime() - deps.inactivityMs;
      const expired: StreamRecord[] = [];
      for (const stream of await store.list()) {
        if (stream.lastActivityAt.getTime() >= before) continue;
        // Read again: the receiver may have come back since the list was read.
        const current = await store.get(stream.id);
        if (!current || current.lastActivityAt.getTime() >= before) continue;
        if (await store.remove(stream.id)) {
          await deliveries.cancel(stream.id, 'the stream expired: its receiver was inactive', now);
          expired.push(current);
        }
      }
      return expired;
    },

    inactivityTimeoutSeconds: deps.inactivityMs > 0 ? Math.round(deps.inactivityMs / 1000) : null,

    transport: { deliver },
  };
}

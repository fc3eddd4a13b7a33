/**
 * The revocation-event subscription: this resource server's SSF stream at Tokenwarden, delivered by RFC 8936 poll
 * (the default) or RFC 8935 push, applied to the token cache, and the watermark that tells the cache whether the
 * subscription is live.
 *
 * The watermark (`coveredUntil`) is a time before which every event Tokenwarden queued for this stream has been
 * applied:
 *
 * - **poll**: the start of the last poll that answered `moreAvailable: false` with every SET in it applied (and
 *   acknowledged in the next poll). Polls run every `interval`; unacknowledged SETs are sent again (RFC 8936
 *   §2.4), so an outage loses nothing, it only stops the watermark.
 * - **push**: nothing in a push says that nothing else is on its way, so liveness comes from SSF verification
 *   events (§8.1.4), requested every `verifyInterval`: when one arrives, the time it was requested becomes the
 *   watermark. That assumes the transmitter delivers a stream's SETs in order, which SSF does not promise; the
 *   bound it gives is therefore weaker than poll's (see docs/protect-your-api.md).
 *
 * A new stream (at start, or after the transmitter lost ours) clears the cache: answers cached before it were
 * never covered by it. A stream paused or disabled by the transmitter stops the watermark; enabled again, it
 * clears the cache (SSF §8.1.2: events may have been lost meanwhile).
 */
import { timingSafeEqual } from 'node:crypto';

import type { JWTVerifyGetKey } from 'jose';

import { jsonObject, unusable, type AuthorizationServerClient } from '../authorization-server.ts';
import type { HttpAnswer } from '../bearer.ts';
import type { Coverage, TokenCache } from '../cache.ts';
import { ProtocolError, UnavailableError } from '../errors.ts';
import { effectsOf, SetError, verifySet } from './set.ts';
import {
  createStreamClient,
  POLL_DELIVERY,
  PUSH_DELIVERY,
  randomSecret,
  StreamGone,
  type Delivery,
  type Stream,
} from './stream.ts';

/** `starting` until the first stream answers; `up` while events flow; `down` after a failure; `closed`. */
export type SubscriptionState = 'starting' | 'up' | 'down' | 'closed';

/** How events are delivered, and the lags that follow (ms). */
export type SubscriptionOptions =
  | { readonly delivery: 'poll'; readonly interval: number; readonly maxLag: number; readonly maxEvents: number }
  | {
      readonly delivery: 'push';
      readonly endpointUrl: string;
      readonly verifyInterval: number;
      readonly maxLag: number;
    };

/** A push request as the HTTP layer read it. */
export interface PushRequest {
  readonly contentType: string | undefined;
  readonly authorization: string | undefined;
  readonly body: string;
}

/** The subscription, as the resource server drives it. */
export interface Subscription extends Coverage {
  state(): SubscriptionState;
  /** The RFC 8935 push endpoint's answer to a request (push delivery only; 404 otherwise). */
  receivePush(request: PushRequest): Promise<HttpAnswer>;
  /** Stops delivery: acknowledges what was applied and deletes the stream (best effort). */
  close(): Promise<void>;
}

/** What the subscription needs from the resource server. */
export interface SubscriptionDeps {
  readonly as: AuthorizationServerClient;
  readonly clientId: string;
  readonly cache: TokenCache;
  readonly keys: (url: string) => JWTVerifyGetKey;
  readonly clock: () => number;
  /** Called with each failure (on a change of state, or of reason). */
  readonly report: (error: Error) => void;
}

const pushAnswer = (status: number, body?: { err: string; description: string }): HttpAnswer => ({
  status,
  headers: body ? { 'Content-Type': 'application/json' } : {},
  body: body ? JSON.stringify(body) : '',
});

const object = (value: unknown): Readonly<Record<string, unknown>> | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;

/**
 * Starts the subscription (in the background: failures are reported, never thrown). One state machine — the
 * stream, the watermark, the acknowledgements owed — shared by its steps, each a named function below; which is
 * why they live in one factory rather than in modules of their own.
 */
export function createSubscription(deps: SubscriptionDeps, options: SubscriptionOptions): Subscription {
  const { cache, clock } = deps;
  const streams = createStreamClient(deps.as);
  const pushAuthorization = `Bearer ${randomSecret()}`;
  const delivery: Delivery =
    options.delivery === 'poll'
      ? { method: POLL_DELIVERY }
      : { method: PUSH_DELIVERY, endpointUrl: options.endpointUrl, authorizationHeader: pushAuthorization };

  let stream: Stream | undefined;
  let watermark = -Infinity;
  let paused = false;
  let state: SubscriptionState = 'starting';
  let reported: string | undefined;
  let acks: string[] = [];
  let setErrs: Record<string, { err: string; description: string }> = {};
  /** Push: verification states awaiting their event, with the time each was requested. */
  const verifications = new Map<string, number>();
  let wake: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;

  /** A function, so that the compiler does not narrow `state` across the awaits that change it. */
  const closed = () => state === 'closed';
  const setState = (next: SubscriptionState, error?: Error) => {
    if (state === 'closed') return;
    state = next;
    if (error === undefined) reported = undefined;
    else if (reported !== error.message) {
      reported = error.message;
      deps.report(error);
    }
  };
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, ms);
      timer.unref();
    });

  async function ensureStream(): Promise<Stream> {
    if (stream) return stream;
    stream = await streams.create(delivery);
    watermark = -Infinity;
    paused = false;
    acks = [];
    setErrs = {};
    verifications.clear();
    cache.clear();
    return stream;
  }

  /** Verifies and applies one SET: `ok`, a {@link SetError} to report, or `retry` (keys unavailable). */
  async function apply(jws: string, expectedJti: string | undefined): Promise<'ok' | 'retry' | SetError> {
    const meta = await streams.metadata();
    let payload;
    try {
      payload = await verifySet(jws, deps.keys(meta.jwks_uri), { issuer: deps.as.issuer, audience: deps.clientId });
      if (expectedJti !== undefined && payload.jti !== expectedJti)
        throw new SetError('invalid_request', 'the SET jti differs from its name in the poll answer');
    } catch (error) {
      if (!(error instanceof SetError)) return 'retry';
      // A SET that cannot be read could have concerned any cached answer.
      cache.clear();
      deps.report(new ProtocolError(`a security event was refused (${error.err}): ${error.description}`));
      return error;
    }
    for (const effect of effectsOf(payload)) {
      if (effect.kind === 'token') cache.dropToken(effect.id);
      else if (effect.kind === 'subject') cache.dropSubject(effect.sub);
      else if (effect.kind === 'all') cache.clear();
      else if (effect.kind === 'verification') verified(effect.state);
      else if (effect.status === 'enabled') {
        if (paused) cache.clear();
        paused = false;
      } else {
        paused = true;
        setState('down', new UnavailableError(`Tokenwarden set the event stream ${effect.status}`));
      }
    }
    return 'ok';
  }

  function verified(state: string | undefined) {
    const requestedAt = state === undefined ? undefined : verifications.get(state);
    if (requestedAt === undefined || paused) return;
    watermark = Math.max(watermark, requestedAt);
    for (const [other, at] of verifications) if (at <= requestedAt) verifications.delete(other);
    setState('up');
  }

  /** One RFC 8936 poll; resolves to `moreAvailable`. */
  async function pollOnce(maxEvents: number): Promise<boolean> {
    const current = await ensureStream();
    const started = clock();
    const body: Record<string, unknown> = { maxEvents, returnImmediately: true };
    if (acks.length > 0) body.ack = acks;
    if (Object.keys(setErrs).length > 0) body.setErrs = setErrs;
    // Whatever happens to this request, SETs not acknowledged are delivered again and answered again.
    acks = [];
    setErrs = {};
    const response = await streams.post(current.endpointUrl, body);
    if (response.status === 404) {
      await response.body?.cancel();
      stream = undefined;
      throw new StreamGone();
    }
    if (response.status !== 200) throw await unusable(response, 'polling');
    const answer = await jsonObject(response, 'polling');
    const sets = object(answer.sets);
    if (sets === undefined) throw new ProtocolError('the poll answer has no sets object');
    let complete = true;
    for (const [jti, jws] of Object.entries(sets)) {
      const result =
        typeof jws === 'string' ? await apply(jws, jti) : new SetError('invalid_request', 'the SET is not a string');
      if (result === 'ok') acks.push(jti);
      else if (result === 'retry') complete = false;
      else setErrs[jti] = { err: result.err, description: result.description };
    }
    if (!complete) throw new UnavailableError('the transmitter keys could not be fetched to verify a security event');
    const more = answer.moreAvailable === true;
    if (!more && !paused) watermark = Math.max(watermark, started);
    return more;
  }

  async function poll(interval: number, maxEvents: number) {
    let failures = 0;
    while (!closed()) {
      try {
        const more = await pollOnce(maxEvents);
        failures = 0;
        if (!paused) setState('up');
        if (!more) await sleep(interval);
      } catch (error) {
        if (closed()) return;
        failures++;
        setState('down', error as Error);
        await sleep(Math.min(interval * 2 ** Math.min(failures, 5), 5000));
      }
    }
  }

  async function heartbeat(verifyInterval: number) {
    let failures = 0;
    while (!closed()) {
      try {
        const current = await ensureStream();
        const interval = Math.max(verifyInterval, (current.minVerificationInterval ?? 0) * 1000);
        const verificationState = randomSecret();
        verifications.set(verificationState, clock());
        // Requests whose event never came are forgotten past a hundred (a long outage must not grow the map).
        if (verifications.size > 100) verifications.delete(verifications.keys().next().value!);
        await streams.verify(current, verificationState);
        failures = 0;
        await sleep(interval);
      } catch (error) {
        if (state === 'closed') return;
        if (error instanceof StreamGone) stream = undefined;
        failures++;
        setState('down', error as Error);
        await sleep(Math.min(verifyInterval * 2 ** Math.min(failures, 3), 30_000));
      }
    }
  }

  const running =
    options.delivery === 'poll' ? poll(options.interval, options.maxEvents) : heartbeat(options.verifyInterval);

  const expectedAuthorization = Buffer.from(pushAuthorization);
  const authorized = (header: string | undefined) => {
    const given = Buffer.from(header ?? '');
    return given.length === expectedAuthorization.length && timingSafeEqual(given, expectedAuthorization);
  };

  return {
    coveredUntil: () => watermark,
    maxLag: options.maxLag,
    state: () => state,

    async receivePush(request) {
      if (options.delivery !== 'push' || state === 'closed') return pushAnswer(404);
      if (!authorized(request.authorization))
        return pushAnswer(401, { err: 'authentication_failed', description: 'wrong or missing authorization' });
      const type = (request.contentType ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== 'application/secevent+jwt')
        return pushAnswer(400, { err: 'invalid_request', description: 'expected application/secevent+jwt' });
      const result = await apply(request.body.trim(), undefined);
      if (result === 'ok') return pushAnswer(202);
      if (result === 'retry') return { status: 503, headers: { 'Retry-After': '5' }, body: '' };
      return pushAnswer(400, { err: result.err, description: result.description });
    },

    async close() {
      if (state === 'closed') return;
      state = 'closed';
      clearTimeout(timer);
      wake?.();
      await running;
      const current = stream;
      stream = undefined;
      if (current === undefined) return;
      try {
        if (current.method === POLL_DELIVERY && (acks.length > 0 || Object.keys(setErrs).length > 0)) {
          const response = await streams.post(current.endpointUrl, {
            maxEvents: 0,
            returnImmediately: true,
            ack: acks,
            ...(Object.keys(setErrs).length > 0 ? { setErrs } : {}),
          });
          await response.body?.cancel();
        }
        await streams.delete(current);
      } catch {
        // Best effort: the stream outlives this process at worst.
      }
    },
  };
}

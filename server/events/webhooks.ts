/**
 * Webhook endpoints after the Standard Webhooks specification: registered by an admin (URL, event types; a
 * `whsec_` secret shown once), and the transport that delivers events to them, signed with HMAC-SHA256 over
 * `<webhook-id>.<webhook-timestamp>.<body>` (headers `webhook-id`, the event id, the same on every retry;
 * `webhook-timestamp`, the attempt's Unix time; `webhook-signature`, `v1,<base64>`). A 2xx answer is delivered, a
 * 410 Gone disables the endpoint (the specification's advice), anything else is tried again with back-off.
 *
 * The secret is an HMAC key, so it must be recoverable: it is stored sealed (AES-256-GCM under a key derived from
 * `SECRET_KEY`, bound to the endpoint's id), never hashed, and shown only in the registration's answer.
 */
import { createHmac, randomBytes } from 'node:crypto';

import type { DeliveryRecord, DeliveryStore, WebhookRecord, WebhookStore } from '../../adapters/event-stores.ts';
import type { Cursor } from '../../adapters/types.ts';
import { InvalidRequest, NotFound, assertThat } from '../errors.ts';
import type { Clock } from '../services/clock.ts';
import { systemClock } from '../services/clock.ts';
import type { Keyring } from '../services/keyring.ts';
import { fetchPage, type Page } from '../services/pagination.ts';
import { randomBase62 } from '../services/pat-format.ts';
import { WEBHOOK_EVENT_TYPES } from './catalogue.ts';
import type { AttemptResult, Transport } from './dispatcher.ts';
import { checkTarget, postTo, TargetRefused, type TargetPolicy } from './http-target.ts';
import type { Outbox } from './outbox.ts';

/** How outbound requests are bounded (`EVENTS_DELIVERY_TIMEOUT_MS`, `EVENTS_MAX_RESPONSE_BYTES`). */
export interface DeliveryLimits {
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  readonly policy: TargetPolicy;
}

export interface RegisterWebhookInput {
  readonly url: string;
  /** Event types; absent or null: every type. */
  readonly events?: readonly string[] | null | undefined;
  readonly description?: string | null | undefined;
}

export interface WebhookChangesInput {
  readonly enabled?: boolean | undefined;
  readonly events?: readonly string[] | null | undefined;
  readonly description?: string | null | undefined;
}

export interface WebhookService {
  /** Registers an endpoint; the `whsec_` secret is in the result and nowhere else, ever. @throws {InvalidRequest} */
  register(input: RegisterWebhookInput): Promise<{ webhook: WebhookRecord; secret: string }>;
  list(): Promise<WebhookRecord[]>;
  /** @throws {NotFound} */
  get(id: string): Promise<WebhookRecord>;
  /** Enables or disables it, or changes its event types or description. Disabling gives up what was pending. */
  update(id: string, changes: WebhookChangesInput): Promise<WebhookRecord>;
  /** Deletes it; what was pending for it is given up. */
  remove(id: string): Promise<void>;
  /** Sends a `webhook.test` event to this endpoint only; resolves with its id. */
  test(id: string): Promise<string>;
  /** Its deliveries, newest first. */
  deliveries(id: string, limit: number, after?: Cursor): Promise<Page<DeliveryRecord>>;
  /** Delivers events to webhook endpoints (for the push worker). */
  readonly transport: Transport;
}

export interface WebhookServiceDeps {
  readonly store: WebhookStore;
  readonly deliveries: DeliveryStore;
  readonly outbox: Outbox;
  readonly keyring: Keyring;
  readonly clock: Clock;
  readonly limits: DeliveryLimits;
}

/** `whsec_` and the base64 of 32 random bytes (the specification asks for 24 to 64). */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** The `webhook-signature` header value: `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body` under the secret. */
export function signWebhook(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

/** The body of a webhook: `{type, timestamp, data}` (Standard Webhooks §payload structure). */
export function webhookPayload(event: DeliveryRecord['event']): string {
  return JSON.stringify({ type: event.type, timestamp: event.at.toISOString(), data: event.data });
}

const sealingContext = (id: string) => `webhook:${id}`;

/** Which event types a webhook may ask for: the catalogue, without the test event (always sent on request). */
export const SUBSCRIBABLE_TYPES: readonly string[] = WEBHOOK_EVENT_TYPES.filter((t) => t !== 'webhook.test');

function checkEventTypes(events: readonly string[] | null | undefined): void {
  if (events === undefined || events === null) return;
  const unknown = events.filter((t) => !SUBSCRIBABLE_TYPES.includes(t));
  assertThat(
    unknown.length === 0,
    () => new InvalidRequest(`events: unknown event type ${unknown.join(', ')}`, 'events'),
  );
}

/** Creates the service. */
export function createWebhookService(deps: WebhookServiceDeps): WebhookService {
  const { store, deliveries, outbox, keyring, clock, limits } = deps;

  async function requireWebhook(id: string): Promise<WebhookRecord> {
    const webhook = await store.get(id);
    assertThat(webhook, () => new NotFound('webhook'));
    return webhook;
  }

  async function deliver(delivery: DeliveryRecord): Promise<AttemptResult> {
    let webhook: WebhookRecord | null;
    try {
      webhook = await store.get(delivery.subscriberId);
    } catch {
      return { outcome: 'failed', status: null, error: 'the endpoint could not be read' };
    }
    if (!webhook) return { outcome: 'failed', status: null, error: 'the endpoint was deleted', final: true };
    if (!webhook.enabled) return { outcome: 'failed', status: null, error: 'the endpoint is disabled', final: true };
    const secret = keyring.decrypt('delivery-secrets', webhook.secretSealed, sealingContext(webhook.id));
    const body = webhookPayload(delivery.event);
    // Receivers check this against their own clock (5 minutes' tolerance): the wall clock, not a business clock.
    const timestamp = Math.floor(systemClock.now().getTime() / 1000);
    try {
      const result = await postTo(webhook.url, {
        headers: {
          'Content-Type': 'application/json',
          'User-Agent': 'Tokenwarden-Webhooks/1',
          'webhook-id': delivery.event.id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signWebhook(secret, delivery.event.id, timestamp, body),
        },
        body,
        timeoutMs: limits.timeoutMs,
        maxResponseBytes: limits.maxResponseBytes,
        policy: limits.policy,
      });
      if (result.status >= 200 && result.status < 300) return { outcome: 'delivered', status: result.status };
      if (result.status === 410) {
        await store.update(
          webhook.id,
          { enabled: false, disabledReason: 'the endpoint answered 410 Gone' },
          clock.now(),
        );
        await deliveries.cancel(webhook.id, 'the endpoint answered 410 Gone', clock.now());
        return { outcome: 'failed', status: 410, error: 'the endpoint answered 410 Gone: disabled', final: true };
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

  return {
    async register(input) {
      checkEventTypes(input.events);
      try {
        await checkTarget(input.url, limits.policy);
      } catch (error) {
        if (error instanceof TargetRefused) throw new InvalidRequest(`url: ${error.message}`, 'url');
        throw error;
      }
      const now = clock.now();
      const id = `wh_${randomBase62(20)}`;
      const secret = generateWebhookSecret();
      const webhook: WebhookRecord = {
        id,
        url: input.url,
        events: input.events === undefined || input.events === null ? null : [...new Set(input.events)],
        description: input.description ?? null,
        enabled: true,
        disabledReason: null,
        secretSealed: keyring.encrypt('delivery-secrets', secret, sealingContext(id)),
        createdAt: now,
        updatedAt: now,
      };
      await store.insert(webhook);
      return { webhook, secret };
    },

    list: () => store.list(),
    get: requireWebhook,

    async update(id, changes) {
      await requireWebhook(id);
      checkEventTypes(changes.events);
      const now = clock.now();
      const updated = await store.update(
        id,
        {
          ...(changes.enabled === undefined ? {} : { enabled: changes.enabled, disabledReason: null }),
          ...(changes.events === undefined
            ? {}
            : { events: changes.events === null ? null : [...new Set(changes.events)] }),
          ...(changes.description === undefined ? {} : { description: changes.description }),
        },
        now,
      );
      assertThat(updated, () => new NotFound('webhook'));
      if (changes.enabled === false) await deliveries.cancel(id, 'the endpoint was disabled', now);
      return updated;
    },

    async remove(id) {
      assertThat(await store.remove(id), () => new NotFound('webhook'));
      await deliveries.cancel(id, 'the endpoint was deleted', clock.now());
    },

    async test(id) {
      const webhook = await requireWebhook(id);
      assertThat(webhook.enabled, () => new InvalidRequest('the webhook is disabled: enable it first', 'id'));
      const { id: eventId } = await outbox.emit('webhook.test', { webhook_id: id }, { only: id });
      return eventId;
    },

    async deliveries(id, limit, after) {
      await requireWebhook(id);
      return fetchPage(
        limit,
        (rows) => deliveries.list(id, rows, after),
        (d) => ({ at: d.createdAt, id: d.id }),
      );
    },

    transport: { deliver },
  };
}

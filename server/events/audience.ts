/**
 * Who gets an event: every enabled webhook endpoint that wants its type, and every stream that is not disabled and
 * gets its SSF type (`events_delivered`); or, for an event meant for one subscriber (a test event, a verification),
 * that one. Read from the store at each fan-out, so an endpoint registered a moment ago gets the next event.
 */
import type { StreamStore, WebhookStore } from '../../adapters/event-stores.ts';
import type { Audience, Target } from './outbox.ts';
import { ssfTypeOf } from './ssf/mapping.ts';
import { eventsDelivered } from './ssf/streams.ts';
import { SUBSCRIBABLE_TYPES } from './webhooks.ts';

/** Creates the audience over the subscriber stores. */
export function createAudience(deps: { webhooks: WebhookStore; streams: StreamStore }): Audience {
  return {
    async targetsFor(event) {
      if (event.only !== null) {
        const [webhook, stream] = await Promise.all([deps.webhooks.get(event.only), deps.streams.get(event.only)]);
        if (webhook?.enabled) return [{ id: webhook.id, kind: 'webhook', method: 'push' }];
        if (stream && stream.status !== 'disabled') return [{ id: stream.id, kind: 'ssf', method: stream.method }];
        return [];
      }
      const out: Target[] = [];
      if (SUBSCRIBABLE_TYPES.includes(event.type)) {
        for (const webhook of await deps.webhooks.list()) {
          if (webhook.enabled && (webhook.events === null || webhook.events.includes(event.type))) {
            out.push({ id: webhook.id, kind: 'webhook', method: 'push' });
          }
        }
      }
      const ssfType = ssfTypeOf(event);
      if (ssfType !== null) {
        for (const stream of await deps.streams.list()) {
          if (stream.status !== 'disabled' && eventsDelivered(stream).includes(ssfType)) {
            out.push({ id: stream.id, kind: 'ssf', method: stream.method });
          }
        }
      }
      return out;
    },
  };
}

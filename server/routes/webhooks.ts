/**
 * Admin routes for webhook endpoints (`/api/webhooks…`, scope `admin`): register one (the `whsec_` secret is in
 * that answer only), list, show, enable or disable, delete, send a test event, and read its recent deliveries.
 * Every change is audited; the audit log keeps the endpoint's origin only (a URL's path or query may hold a secret).
 */
import { z } from 'zod';

import type { DeliveryRecord, WebhookRecord } from '../../adapters/event-stores.ts';
import { SUBSCRIBABLE_TYPES, type WebhookService } from '../events/webhooks.ts';
import type { AuditService } from '../services/audit.ts';
import { actorOf } from '../services/callers.ts';
import { cursors, page, pageOf } from './schemas.ts';
import { route, type RouteSpec } from './spec.ts';

const PRINTABLE = /^[^\p{Cc}]*$/u;
const WEBHOOK_ID = /^wh_[A-Za-z0-9]{1,64}$/;

const eventTypes = z
  .array(z.enum(SUBSCRIBABLE_TYPES as [string, ...string[]]))
  .min(1)
  .max(SUBSCRIBABLE_TYPES.length)
  .nullable()
  .describe('event types to receive; omit or null for every type');
const description = z.string().trim().max(500).regex(PRINTABLE, 'must contain printable characters only').nullable();

const bodies = {
  register: z.strictObject({
    url: z.url({ protocol: /^https?$/, message: 'must be an absolute http(s) URL' }).max(2048),
    events: eventTypes.optional(),
    description: description.optional(),
  }),
  patch: z
    .strictObject({
      enabled: z.boolean().optional(),
      events: eventTypes.optional(),
      description: description.optional(),
    })
    .refine((b) => Object.keys(b).length > 0, 'give at least one of enabled, events, description'),
};

const isoOrNull = z.iso.datetime().nullable();
const webhookView = z.object({
  id: z.string(),
  url: z.string(),
  events: z.array(z.string()).nullable(),
  description: z.string().nullable(),
  enabled: z.boolean(),
  disabled_reason: z.string().nullable().describe('set when Tokenwarden disabled it (the endpoint answered 410)'),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
});
const deliveryView = z.object({
  event_id: z.string().describe('the webhook-id header of every attempt'),
  event_type: z.string(),
  status: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number().int(),
  created_at: z.iso.datetime(),
  last_attempt_at: isoOrNull,
  next_attempt_at: isoOrNull.describe('while pending'),
  last_status: z.number().int().nullable().describe('the HTTP status of the last attempt'),
  last_error: z.string().nullable(),
  finished_at: isoOrNull,
});

function view(w: WebhookRecord): z.output<typeof webhookView> {
  return {
    id: w.id,
    url: w.url,
    events: w.events === null ? null : [...w.events],
    description: w.description,
    enabled: w.enabled,
    disabled_reason: w.disabledReason,
    created_at: w.createdAt.toISOString(),
    updated_at: w.updatedAt.toISOString(),
  };
}

function deliveryOf(d: DeliveryRecord): z.output<typeof deliveryView> {
  const iso = (at: Date | null) => (at === null ? null : at.toISOString());
  return {
    event_id: d.event.id,
    event_type: d.event.type,
    status: d.state,
    attempts: d.attempts,
    created_at: d.createdAt.toISOString(),
    last_attempt_at: iso(d.lastAttemptAt),
    next_attempt_at: d.state === 'pending' ? d.nextAttemptAt.toISOString() : null,
    last_status: d.lastStatus,
    last_error: d.lastError,
    finished_at: iso(d.finishedAt),
  };
}

/** The `:id` of the routes of one endpoint: an id that cannot be a webhook's is a 404 (`webhook`). */
const webhookParams = z.strictObject({ id: z.string().regex(WEBHOOK_ID).describe('webhook') });

/** An endpoint's origin, for the audit log (never its path or query). */
const originOf = (url: string) => new URL(url).origin;

const ok = (text: string, schema?: z.ZodType) => ({ description: text, ...(schema ? { schema } : {}) });

/** The webhook routes. */
export function webhookRoutes(deps: { webhooks: WebhookService; audit: AuditService }): RouteSpec[] {
  const { webhooks, audit } = deps;
  const T = 'webhooks';
  return [
    route({
      method: 'post',
      path: '/api/webhooks',
      summary: 'Register a webhook endpoint (Standard Webhooks; the whsec_ secret is in this response only)',
      tag: T,
      auth: 'admin',
      body: bodies.register,
      responses: {
        201: ok('the endpoint, with its secret', webhookView.extend({ secret: z.string() })),
        400: ok('invalid URL (a private, loopback or link-local target is refused), or unknown event type'),
      },
      async handle({ body, caller }) {
        const { webhook, secret } = await webhooks.register(body);
        await audit.record(
          'webhook.registered',
          actorOf(caller!, 'admin_api'),
          {},
          { webhook_id: webhook.id, origin: originOf(webhook.url), events: webhook.events?.join(' ') ?? 'all' },
        );
        return { status: 201, body: { ...view(webhook), secret } };
      },
    }),
    route({
      method: 'get',
      path: '/api/webhooks',
      summary: 'List webhook endpoints (never a secret)',
      tag: T,
      auth: 'admin',
      responses: { 200: ok('the endpoints', z.object({ data: z.array(webhookView) })) },
      async handle() {
        return { status: 200, body: { data: (await webhooks.list()).map(view) } };
      },
    }),
    route({
      method: 'get',
      path: '/api/webhooks/:id',
      summary: 'Get a webhook endpoint',
      tag: T,
      auth: 'admin',
      params: webhookParams,
      responses: { 200: ok('the endpoint', webhookView), 404: ok('unknown webhook') },
      async handle({ params }) {
        return { status: 200, body: view(await webhooks.get(params.id)) };
      },
    }),
    route({
      method: 'patch',
      path: '/api/webhooks/:id',
      summary: 'Enable or disable a webhook endpoint, or change its event types or description',
      tag: T,
      auth: 'admin',
      params: webhookParams,
      body: bodies.patch,
      responses: { 200: ok('the endpoint', webhookView), 404: ok('unknown webhook') },
      async handle({ params, body, caller }) {
        const updated = await webhooks.update(params.id, body);
        await audit.record(
          'webhook.updated',
          actorOf(caller!, 'admin_api'),
          {},
          {
            webhook_id: updated.id,
            ...(body.enabled === undefined ? {} : { enabled: body.enabled }),
            ...(body.events === undefined ? {} : { events: body.events?.join(' ') ?? 'all' }),
          },
        );
        return { status: 200, body: view(updated) };
      },
    }),
    route({
      method: 'delete',
      path: '/api/webhooks/:id',
      summary: 'Delete a webhook endpoint (what was pending for it is given up)',
      tag: T,
      auth: 'admin',
      params: webhookParams,
      responses: { 204: ok('deleted'), 404: ok('unknown webhook') },
      async handle({ params, caller }) {
        const id = params.id;
        await webhooks.remove(id);
        await audit.record('webhook.deleted', actorOf(caller!, 'admin_api'), {}, { webhook_id: id });
        return { status: 204 };
      },
    }),
    route({
      method: 'post',
      path: '/api/webhooks/:id/test',
      summary: 'Send a webhook.test event to this endpoint',
      tag: T,
      auth: 'admin',
      params: webhookParams,
      responses: {
        202: ok('queued: see its deliveries', z.object({ event_id: z.string() })),
        400: ok('the endpoint is disabled'),
        404: ok('unknown webhook'),
      },
      async handle({ params, caller }) {
        const id = params.id;
        const eventId = await webhooks.test(id);
        await audit.record('webhook.tested', actorOf(caller!, 'admin_api'), {}, { webhook_id: id, event_id: eventId });
        return { status: 202, body: { event_id: eventId } };
      },
    }),
    route({
      method: 'get',
      path: '/api/webhooks/:id/deliveries',
      summary: 'Recent deliveries to a webhook endpoint, newest first, with their status',
      tag: T,
      auth: 'admin',
      params: webhookParams,
      query: z.strictObject({
        limit: z.coerce.number().int().min(1).max(200).default(50),
        cursor: z.string().max(300).optional(),
      }),
      responses: { 200: ok('a page of deliveries', page(deliveryView)), 404: ok('unknown webhook') },
      async handle({ params, query }) {
        const { items, next } = await webhooks.deliveries(params.id, query.limit, cursors.decode(query.cursor));
        return { status: 200, body: pageOf(items, next, deliveryOf) };
      },
    }),
  ];
}

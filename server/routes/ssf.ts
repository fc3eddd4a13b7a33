/**
 * Tokenwarden as an OpenID Shared Signals Framework 1.0 transmitter over HTTP:
 *
 * - `GET /.well-known/ssf-configuration`: transmitter metadata (SSF §7.1), public;
 * - `/api/ssf/stream` (POST, GET, PATCH, PUT, DELETE): stream configuration (§8.1.1);
 * - `/api/ssf/status` (GET, POST): stream status (§8.1.2);
 * - `POST /api/ssf/verify`: a verification event (§8.1.4);
 * - `POST /api/ssf/poll/{stream_id}`: poll delivery (RFC 8936).
 *
 * Every endpoint but the metadata takes a bearer access token from `POST /token` (client_credentials) of a
 * registered client (`authorization_schemes: [{"spec_urn": "urn:ietf:rfc:6749"}]`); the streams are that client's.
 */
import type { Middleware } from 'koa';
import { z } from 'zod';

import type { StreamRecord } from '../../adapters/event-stores.ts';
import { InvalidRequest, NotFound, assertThat } from '../errors.ts';
import { SSF_SUPPORTED } from '../events/ssf/mapping.ts';
import {
  MAX_POLL_EVENTS,
  POLL_METHOD,
  PUSH_METHOD,
  eventsDelivered,
  streamConfiguration,
  type StreamInput,
  type StreamService,
} from '../events/ssf/streams.ts';
import type { AuditService } from '../services/audit.ts';
import type { Caller } from '../services/callers.ts';
import { route, type RouteSpec } from './spec.ts';

const STREAM_ID = /^st_[A-Za-z0-9]{1,64}$/;
const PRINTABLE = /^[^\p{Cc}]*$/u;

/** The receiver-supplied properties, and the transmitter-supplied ones a receiver may echo (they must match). */
const streamFields = {
  events_requested: z.array(z.string().max(500)).max(50).optional(),
  delivery: z
    .looseObject({
      method: z.enum([PUSH_METHOD, POLL_METHOD]),
      endpoint_url: z
        .url({ protocol: /^https?$/ })
        .max(2048)
        .optional(),
      authorization_header: z.string().min(1).max(4096).regex(PRINTABLE).optional(),
    })
    .optional(),
  description: z.string().max(1000).regex(PRINTABLE).nullable().optional(),
  iss: z.string().optional(),
  aud: z.union([z.string(), z.array(z.string())]).optional(),
  events_supported: z.array(z.string()).optional(),
  events_delivered: z.array(z.string()).optional(),
  inactivity_timeout: z.number().optional(),
};
const bodies = {
  create: z.looseObject(streamFields),
  change: z.looseObject({ stream_id: z.string().max(100), ...streamFields }),
  status: z.strictObject({
    stream_id: z.string().max(100),
    status: z.enum(['enabled', 'paused', 'disabled']),
    reason: z.string().max(500).regex(PRINTABLE).optional(),
  }),
  verify: z.looseObject({ stream_id: z.string().max(100), state: z.string().max(1000).optional() }),
  poll: z.looseObject({
    maxEvents: z.number().int().min(0).max(MAX_POLL_EVENTS).optional(),
    returnImmediately: z.boolean().optional(),
    ack: z.array(z.string().max(100)).max(1000).optional(),
    setErrs: z
      .record(
        z.string().max(100),
        z.looseObject({ err: z.string().max(100), description: z.string().max(500).optional() }),
      )
      .optional(),
  }),
};
const streamIdQuery = z.strictObject({ stream_id: z.string().max(100) });

const configuration = z.looseObject({
  stream_id: z.string(),
  iss: z.string(),
  aud: z.string(),
  delivery: z.object({ method: z.string(), endpoint_url: z.string().nullable() }),
  events_supported: z.array(z.string()),
  events_requested: z.array(z.string()).optional(),
  events_delivered: z.array(z.string()),
  description: z.string().optional(),
  inactivity_timeout: z.number().int().optional(),
});
const statusView = z.object({ stream_id: z.string(), status: z.string(), reason: z.string().optional() });

function clientOf(caller: Caller | null): string {
  return (caller as Extract<Caller, { kind: 'client' }>).clientId;
}

function streamId(raw: string | undefined): string {
  assertThat(raw !== undefined && STREAM_ID.test(raw), () => new NotFound('stream'));
  return raw;
}

/** The input of a create, update or replace; transmitter-supplied properties, when echoed, must be right. */
function inputOf(
  body: z.output<typeof bodies.create>,
  issuer: string,
  expected?: { clientId: string; stream: StreamRecord },
): StreamInput {
  assertThat(
    body.iss === undefined || body.iss === issuer,
    () => new InvalidRequest('iss: not this transmitter', 'iss'),
  );
  if (expected) {
    const aud = body.aud === undefined ? undefined : Array.isArray(body.aud) ? body.aud : [body.aud];
    assertThat(
      aud === undefined || (aud.length === 1 && aud[0] === expected.clientId),
      () => new InvalidRequest('aud: not this stream’s audience', 'aud'),
    );
    const delivered = eventsDelivered(expected.stream);
    assertThat(
      body.events_delivered === undefined ||
        (body.events_delivered.length === delivered.length &&
          body.events_delivered.every((t) => delivered.includes(t))),
      () => new InvalidRequest('events_delivered: does not match the stream’s', 'events_delivered'),
    );
  }
  // Event types Tokenwarden does not understand are ignored (SSF §8.1.1).
  const requested = body.events_requested?.filter((t) => SSF_SUPPORTED.includes(t));
  return {
    ...(body.events_requested === undefined ? {} : { eventsRequested: requested }),
    ...(body.description === undefined ? {} : { description: body.description }),
    ...(body.delivery === undefined
      ? {}
      : {
          delivery: {
            method: body.delivery.method,
            endpointUrl: body.delivery.endpoint_url,
            authorizationHeader: body.delivery.authorization_header,
          },
        }),
  };
}

const ok = (text: string, schema?: z.ZodType) => ({ description: text, ...(schema ? { schema } : {}) });

/** The transmitter metadata (SSF 1.0 §7.1) at `/.well-known/ssf-configuration`. */
export function ssfConfiguration(issuer: string): Middleware {
  const body = JSON.stringify({
    spec_version: '1_0',
    issuer,
    jwks_uri: `${issuer}/jwks`,
    delivery_methods_supported: [PUSH_METHOD, POLL_METHOD],
    configuration_endpoint: `${issuer}/api/ssf/stream`,
    status_endpoint: `${issuer}/api/ssf/status`,
    verification_endpoint: `${issuer}/api/ssf/verify`,
    authorization_schemes: [{ spec_urn: 'urn:ietf:rfc:6749' }],
    default_subjects: 'ALL',
  });
  const path = `/.well-known/ssf-configuration${new URL(issuer).pathname.replace(/\/$/, '')}`;
  return async function transmitterMetadata(ctx, next) {
    if (ctx.path !== path || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) {
      await next();
      return;
    }
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.set('Access-Control-Allow-Origin', '*');
    ctx.type = 'application/json';
    ctx.body = body;
  };
}

/** The stream management and poll routes. */
export function ssfRoutes(deps: { streams: StreamService; audit: AuditService; issuer: string }): RouteSpec[] {
  const { streams, audit, issuer } = deps;
  const T = 'ssf';
  const actor = (caller: Caller | null) => ({ id: `client:${clientOf(caller)}`, via: 'ssf_api' as const });
  const render = (stream: StreamRecord) => streamConfiguration(stream, issuer, streams.inactivityTimeoutSeconds);
  return [
    route({
      method: 'post',
      path: '/api/ssf/stream',
      summary: 'Create an SSF event stream (SSF 1.0 §8.1.1.1); poll delivery unless delivery says push',
      tag: T,
      auth: 'client',
      body: bodies.create,
      responses: {
        201: ok('the stream configuration', configuration),
        400: ok('invalid configuration (a push endpoint on a private, loopback or link-local address is refused)'),
        409: ok('the receiver has the most streams it may have'),
      },
      async handle({ body, caller }) {
        const stream = await streams.create(clientOf(caller), inputOf(body, issuer));
        await audit.record('ssf_stream.created', actor(caller), {}, { stream_id: stream.id, method: stream.method });
        return { status: 201, body: render(stream) };
      },
    }),
    route({
      method: 'get',
      path: '/api/ssf/stream',
      summary: 'Read a stream configuration, or all of the receiver’s without stream_id (SSF 1.0 §8.1.1.2)',
      tag: T,
      auth: 'client',
      query: z.strictObject({ stream_id: z.string().max(100).optional() }),
      responses: { 200: ok('the configuration, or an array of them'), 404: ok('no such stream for this receiver') },
      async handle({ query, caller }) {
        if (query.stream_id === undefined) {
          return { status: 200, body: (await streams.list(clientOf(caller))).map(render) };
        }
        return { status: 200, body: render(await streams.get(clientOf(caller), streamId(query.stream_id))) };
      },
    }),
    // PATCH changes the properties given, PUT replaces them all: the same route otherwise.
    ...(
      [
        ['patch', 'update', 'Update a stream’s receiver-supplied properties (SSF 1.0 §8.1.1.3)', 'the updated'],
        ['put', 'replace', 'Replace a stream’s receiver-supplied properties (SSF 1.0 §8.1.1.4)', 'the replaced'],
      ] as const
    ).map(([method, change, summary, answer]) =>
      route({
        method,
        path: '/api/ssf/stream',
        summary,
        tag: T,
        auth: 'client',
        body: bodies.change,
        responses: {
          200: ok(`${answer} configuration`, configuration),
          404: ok('no such stream for this receiver'),
        },
        async handle({ body, caller }) {
          const id = streamId(body.stream_id);
          const stream = await streams.get(clientOf(caller), id);
          const changed = await streams[change](
            clientOf(caller),
            id,
            inputOf(body, issuer, { clientId: clientOf(caller), stream }),
          );
          await audit.record('ssf_stream.updated', actor(caller), {}, { stream_id: id, method: changed.method });
          return { status: 200, body: render(changed) };
        },
      }),
    ),
    route({
      method: 'delete',
      path: '/api/ssf/stream',
      summary: 'Delete a stream (SSF 1.0 §8.1.1.5)',
      tag: T,
      auth: 'client',
      query: streamIdQuery,
      responses: { 204: ok('deleted'), 404: ok('no such stream for this receiver') },
      async handle({ query, caller }) {
        const id = streamId(query.stream_id);
        await streams.remove(clientOf(caller), id);
        await audit.record('ssf_stream.deleted', actor(caller), {}, { stream_id: id });
        return { status: 204 };
      },
    }),
    route({
      method: 'get',
      path: '/api/ssf/status',
      summary: 'Read a stream’s status (SSF 1.0 §8.1.2.1)',
      tag: T,
      auth: 'client',
      query: streamIdQuery,
      responses: { 200: ok('the status', statusView), 404: ok('no such stream for this receiver') },
      async handle({ query, caller }) {
        const stream = await streams.get(clientOf(caller), streamId(query.stream_id));
        return {
          status: 200,
          body: {
            stream_id: stream.id,
            status: stream.status,
            ...(stream.reason === null ? {} : { reason: stream.reason }),
          },
        };
      },
    }),
    route({
      method: 'post',
      path: '/api/ssf/status',
      summary: 'Enable, pause or disable a stream (SSF 1.0 §8.1.2.2)',
      tag: T,
      auth: 'client',
      body: bodies.status,
      responses: { 200: ok('the status', statusView), 404: ok('no such stream for this receiver') },
      async handle({ body, caller }) {
        const stream = await streams.setStatus(
          clientOf(caller),
          streamId(body.stream_id),
          body.status,
          body.reason ?? null,
        );
        await audit.record(
          'ssf_stream.status_changed',
          actor(caller),
          {},
          { stream_id: stream.id, status: stream.status },
        );
        return {
          status: 200,
          body: {
            stream_id: stream.id,
            status: stream.status,
            ...(stream.reason === null ? {} : { reason: stream.reason }),
          },
        };
      },
    }),
    route({
      method: 'post',
      path: '/api/ssf/verify',
      summary: 'Send a verification event on a stream (SSF 1.0 §8.1.4.2)',
      tag: T,
      auth: 'client',
      body: bodies.verify,
      responses: { 204: ok('queued'), 404: ok('no such stream for this receiver') },
      async handle({ body, caller }) {
        const id = streamId(body.stream_id);
        await streams.verify(clientOf(caller), id, body.state);
        await audit.record('ssf_stream.verification_requested', actor(caller), {}, { stream_id: id });
        return { status: 204 };
      },
    }),
    route({
      method: 'post',
      path: '/api/ssf/poll/:stream_id',
      summary: 'Poll a stream for SETs, acknowledging earlier ones (RFC 8936)',
      tag: T,
      auth: 'client',
      params: z.strictObject({ stream_id: z.string().regex(STREAM_ID).describe('stream') }),
      body: bodies.poll,
      bodyLimit: 256 * 1024,
      responses: {
        200: ok(
          'the SETs by jti, and whether more are waiting',
          z.object({ sets: z.record(z.string(), z.string()), moreAvailable: z.boolean() }),
        ),
        404: ok('no such stream for this receiver'),
      },
      async handle({ params, body, caller }) {
        return { status: 200, body: await streams.poll(clientOf(caller), params.stream_id, body) };
      },
    }),
  ];
}

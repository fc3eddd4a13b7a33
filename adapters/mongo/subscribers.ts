/**
 * The `webhooks` and `ssf_streams` collections: who receives lifecycle events. Secrets (a webhook's `whsec_` key, a
 * push stream's authorization header) arrive sealed by the caller and are stored as such.
 */
import mongoose, { type Model } from 'mongoose';

import type { StreamRecord, StreamStore, WebhookRecord, WebhookStore } from '../event-stores.ts';
import { SCHEMA_OPTIONS } from './common.ts';
import { guard, translate } from './errors.ts';

export interface WebhookDoc {
  _id: string;
  url: string;
  events: string[] | null;
  description: string | null;
  enabled: boolean;
  disabled_reason: string | null;
  secret_sealed: string;
  created_at: Date;
  updated_at: Date;
}

/** The schema of `webhooks`. */
export const webhookSchema = new mongoose.Schema<WebhookDoc>(
  {
    _id: String,
    url: String,
    events: { type: [String], default: null },
    description: { type: String, default: null },
    enabled: Boolean,
    disabled_reason: { type: String, default: null },
    secret_sealed: String,
    created_at: Date,
    updated_at: Date,
  },
  { ...SCHEMA_OPTIONS, collection: 'webhooks' },
);

export interface StreamDoc {
  _id: string;
  client_id: string;
  events_requested: string[] | null;
  description: string | null;
  method: StreamRecord['method'];
  endpoint_url: string | null;
  authorization_sealed: string | null;
  status: StreamRecord['status'];
  reason: string | null;
  created_at: Date;
  updated_at: Date;
  /** Absent on streams written before it existed: their `updated_at` stands in. */
  last_activity_at?: Date;
}

/** The schema of `ssf_streams`. */
export const streamSchema = new mongoose.Schema<StreamDoc>(
  {
    _id: String,
    client_id: String,
    events_requested: { type: [String], default: null },
    description: { type: String, default: null },
    method: String,
    endpoint_url: { type: String, default: null },
    authorization_sealed: { type: String, default: null },
    status: String,
    reason: { type: String, default: null },
    created_at: Date,
    updated_at: Date,
    last_activity_at: Date,
  },
  { ...SCHEMA_OPTIONS, collection: 'ssf_streams' },
);
streamSchema.index({ client_id: 1, created_at: 1 });

function toWebhook(doc: WebhookDoc): WebhookRecord {
  return {
    id: doc._id,
    url: doc.url,
    events: doc.events ?? null,
    description: doc.description ?? null,
    enabled: doc.enabled === true,
    disabledReason: doc.disabled_reason ?? null,
    secretSealed: doc.secret_sealed,
    createdAt: doc.created_at,
    updatedAt: doc.updated_at,
  };
}

function toStream(doc: StreamDoc): StreamRecord {
  return {
    id: doc._id,
    clientId: doc.client_id,
    eventsRequested: doc.events_requested ?? null,
    description: doc.description ?? null,
    method: doc.method,
    endpointUrl: doc.endpoint_url ?? null,
    authorizationSealed: doc.authorization_sealed ?? null,
    status: doc.status,
    reason: doc.reason ?? null,
    createdAt: doc.created_at,
    updatedAt: doc.updated_at,
    lastActivityAt: doc.last_activity_at ?? doc.updated_at,
  };
}

function streamDoc(stream: StreamRecord): StreamDoc {
  return {
    _id: stream.id,
    client_id: stream.clientId,
    events_requested: stream.eventsRequested === null ? null : [...stream.eventsRequested],
    description: stream.description,
    method: stream.method,
    endpoint_url: stream.endpointUrl,
    authorization_sealed: stream.authorizationSealed,
    status: stream.status,
    reason: stream.reason,
    created_at: stream.createdAt,
    updated_at: stream.updatedAt,
    last_activity_at: stream.lastActivityAt,
  };
}

/** The webhook endpoints over the `webhooks` model. */
export function createWebhookStore(Webhooks: Model<WebhookDoc>): WebhookStore {
  return {
    insert: (webhook) =>
      guard(async () => {
        await Webhooks.insertOne({
          _id: webhook.id,
          url: webhook.url,
          events: webhook.events === null ? null : [...webhook.events],
          description: webhook.description,
          enabled: webhook.enabled,
          disabled_reason: webhook.disabledReason,
          secret_sealed: webhook.secretSealed,
          created_at: webhook.createdAt,
          updated_at: webhook.updatedAt,
        }).catch((error: unknown) => {
          throw translate(error);
        });
      }),
    get: (id) =>
      guard(async () => {
        const doc = await Webhooks.findById(id).lean<WebhookDoc>();
        return doc ? toWebhook(doc) : null;
      }),
    list: () =>
      guard(async () => {
        const docs = await Webhooks.find({}).sort({ created_at: 1, _id: 1 }).lean<WebhookDoc[]>();
        return docs.map(toWebhook);
      }),
    update: (id, changes, at) =>
      guard(async () => {
        const set: Record<string, unknown> = { updated_at: at };
        if (changes.events !== undefined) set.events = changes.events === null ? null : [...changes.events];
        if (changes.description !== undefined) set.description = changes.description;
        if (changes.enabled !== undefined) set.enabled = changes.enabled;
        if (changes.disabledReason !== undefined) set.disabled_reason = changes.disabledReason;
        const doc = await Webhooks.findOneAndUpdate(
          { _id: id },
          { $set: set },
          { returnDocument: 'after' },
        ).lean<WebhookDoc>();
        return doc ? toWebhook(doc) : null;
      }),
    remove: (id) =>
      guard(async () => {
        const result = await Webhooks.deleteOne({ _id: id });
        return result.deletedCount === 1;
      }),
  };
}

/** The SSF streams over the `ssf_streams` model. */
export function createStreamStore(Streams: Model<StreamDoc>): StreamStore {
  return {
    insert: (stream) =>
      guard(async () => {
        await Streams.insertOne(streamDoc(stream)).catch((error: unknown) => {
          throw translate(error);
        });
      }),
    get: (id) =>
      guard(async () => {
        const doc = await Streams.findById(id).lean<StreamDoc>();
        return doc ? toStream(doc) : null;
      }),
    list: (clientId) =>
      guard(async () => {
        const docs = await Streams.find(clientId === undefined ? {} : { client_id: clientId })
          .sort({ created_at: 1, _id: 1 })
          .lean<StreamDoc[]>();
        return docs.map(toStream);
      }),
    replace: (stream) =>
      guard(async () => {
        const result = await Streams.replaceOne({ _id: stream.id, client_id: stream.clientId }, streamDoc(stream));
        return result.matchedCount === 1 ? stream : null;
      }),
    touch: (id, at) =>
      guard(async () => {
        await Streams.updateOne({ _id: id }, { $set: { last_activity_at: at } });
      }),
    remove: (id) =>
      guard(async () => {
        const result = await Streams.deleteOne({ _id: id });
        return result.deletedCount === 1;
      }),
  };
}

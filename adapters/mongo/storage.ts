/**
 * MongoDB storage through mongoose: connects (`connection.ts`), creates collections and indexes, re-keys legacy
 * oidc-provider documents, and returns the stores, one file per collection (`users.ts`, `pats.ts`, `usage.ts`,
 * `audit.ts`, `oidc.ts`, `settings.ts`, `events.ts`, `subscribers.ts`, `notices.ts`, `leases.ts`). Works on MongoDB 6+
 * and on FerretDB (no transactions, partial or TTL indexes there).
 */
import { createHashedOidcStore } from '../hashed-oidc-store.ts';
import type { Storage } from '../types.ts';
import { auditSchema, createAuditStore, type AuditDoc } from './audit.ts';
import { connect, createCollections, expireOidcPayloads, type MongoStorageOptions } from './connection.ts';
import { guard } from './errors.ts';
import {
  createDeliveryStore,
  createOutboxStore,
  deliverySchema,
  lockSchema,
  outboxSchema,
  type DeliveryDoc,
  type LockDoc,
  type OutboxDoc,
} from './events.ts';
import { createOidcStore, migrateOidcKeys, oidcSchema, type OidcDoc } from './oidc.ts';
import { createLeaseStore, leaseSchema, type LeaseDoc } from './leases.ts';
import { createNoticeStore, noticeClaimSchema, type NoticeClaimDoc } from './notices.ts';
import { createPatStore, patSchema, rotatedSchema, type PatDoc, type RotatedDoc } from './pats.ts';
import { createBarrierStore, createSigningKeyStore, settingSchema, type SettingDoc } from './settings.ts';
import {
  createStreamStore,
  createWebhookStore,
  streamSchema,
  webhookSchema,
  type StreamDoc,
  type WebhookDoc,
} from './subscribers.ts';
import { usageSchema, type UsageDoc } from './usage.ts';
import { createUserStore, userSchema, type UserDoc } from './users.ts';

export type { MongoStorageOptions } from './connection.ts';

/**
 * Connects to MongoDB, prepares the collections and returns the stores.
 * @throws {StoreUnavailableError} when the server cannot be reached within the timeout.
 */
export async function createMongoStorage(opts: MongoStorageOptions): Promise<Storage> {
  const connection = await connect(opts);
  const Users = connection.model<UserDoc>('User', userSchema);
  const Pats = connection.model<PatDoc>('PersonalAccessToken', patSchema);
  const Rotated = connection.model<RotatedDoc>('RotatedTokenValue', rotatedSchema);
  const Usage = connection.model<UsageDoc>('TokenUsage', usageSchema);
  const Audit = connection.model<AuditDoc>('AuditEvent', auditSchema);
  const Oidc = connection.model<OidcDoc>('OidcPayload', oidcSchema);
  const Settings = connection.model<SettingDoc>('Setting', settingSchema);
  const Outbox = connection.model<OutboxDoc>('Event', outboxSchema);
  const Deliveries = connection.model<DeliveryDoc>('EventDelivery', deliverySchema);
  const Locks = connection.model<LockDoc>('DeliveryLock', lockSchema);
  const Webhooks = connection.model<WebhookDoc>('Webhook', webhookSchema);
  const Streams = connection.model<StreamDoc>('SsfStream', streamSchema);
  const Claims = connection.model<NoticeClaimDoc>('NoticeClaim', noticeClaimSchema);
  const Leases = connection.model<LeaseDoc>('Lease', leaseSchema);

  await createCollections([
    Users,
    Pats,
    Rotated,
    Usage,
    Audit,
    Oidc,
    Settings,
    Outbox,
    Deliveries,
    Locks,
    Webhooks,
    Streams,
    Claims,
    Leases,
  ]);
  await guard(() => migrateOidcKeys(Oidc));
  const sweeper = await expireOidcPayloads(Oidc, opts);

  // An unreachable server fails an operation after `timeoutMs` (server selection). One that answers, but slowly (a
  // queue of writes after it restarts), is given longer before a change is answered 503: the change is not
  // abandoned then (see `keyedSerial`), so a short deadline would only turn slowness into errors.
  const changeDeadlineMs = 4 * opts.timeoutMs;
  return {
    users: createUserStore(Users, changeDeadlineMs),
    pats: createPatStore({ Pats, Usage, Rotated }, changeDeadlineMs),
    audit: createAuditStore(Audit),
    barrier: createBarrierStore(Settings),
    signingKeys: createSigningKeyStore(Settings),
    notices: createNoticeStore(Claims),
    leases: createLeaseStore(Leases),
    oidc: createHashedOidcStore(createOidcStore(Oidc)),
    events: {
      outbox: createOutboxStore(Outbox),
      deliveries: createDeliveryStore(Deliveries, Locks),
      webhooks: createWebhookStore(Webhooks),
      streams: createStreamStore(Streams),
    },
    ping: () =>
      guard(async () => {
        await connection.db!.admin().ping();
      }),
    async close() {
      if (sweeper) clearInterval(sweeper);
      await connection.close();
    },
  };
}

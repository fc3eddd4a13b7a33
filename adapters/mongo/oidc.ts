/**
 * The `oidc_payloads` collection: oidc-provider's models, one document per `<model>:<id>`, the payload kept as JSON
 * text (its keys may hold characters MongoDB refuses). Ids arrive hashed (`hashed-oidc-store.ts`); documents
 * written before that are re-keyed at start-up ({@link migrateOidcKeys}).
 */
import mongoose, { type Model } from 'mongoose';

import { storedOidcId, storedOidcPayload } from '../hashed-oidc-store.ts';
import type { OidcStore } from '../types.ts';
import { SCHEMA_OPTIONS } from './common.ts';
import { guard } from './errors.ts';

export interface OidcDoc {
  _id: string;
  model: string;
  /** 2: the id part of `_id` is a hash (every document written since tokens are stored hashed). */
  key_version?: number;
  /** JSON text: oidc-provider payloads may hold keys MongoDB refuses (`$`, `.`). */
  payload: string;
  grant_id?: string;
  /** The client a token was issued to (tokens' `clientId`), to end their cached answers with the client. */
  client_id?: string;
  uid?: string;
  user_code?: string;
  expires_at?: Date;
}

/** The schema of `oidc_payloads` (its expiry index is made at start-up: TTL where supported). */
export const oidcSchema = new mongoose.Schema<OidcDoc>(
  {
    _id: String,
    model: String,
    key_version: Number,
    payload: String,
    grant_id: String,
    client_id: String,
    uid: String,
    user_code: String,
    expires_at: Date,
  },
  { ...SCHEMA_OPTIONS, collection: 'oidc_payloads' },
);
oidcSchema.index({ model: 1, grant_id: 1 });
oidcSchema.index({ model: 1, client_id: 1 });
oidcSchema.index({ model: 1, uid: 1 });
oidcSchema.index({ model: 1, user_code: 1 });

/** The oidc-provider store over the `oidc_payloads` model. */
export function createOidcStore(Oidc: Model<OidcDoc>): OidcStore {
  const key = (model: string, id: string) => `${model}:${id}`;
  const notExpired = () => ({ $or: [{ expires_at: null }, { expires_at: { $gt: new Date() } }] });
  const parse = (doc: OidcDoc | null) => (doc ? (JSON.parse(doc.payload) as Record<string, unknown>) : undefined);
  return {
    upsert: (model, id, payload, expiresIn) =>
      guard(async () => {
        const doc: OidcDoc = { _id: key(model, id), model, key_version: 2, payload: JSON.stringify(payload) };
        if (typeof payload.grantId === 'string') doc.grant_id = payload.grantId;
        if (typeof payload.clientId === 'string') doc.client_id = payload.clientId;
        if (typeof payload.uid === 'string') doc.uid = payload.uid;
        if (typeof payload.userCode === 'string') doc.user_code = payload.userCode;
        if (expiresIn) doc.expires_at = new Date(Date.now() + expiresIn * 1000);
        await Oidc.replaceOne({ _id: key(model, id) }, doc, { upsert: true });
      }),
    find: (model, id) =>
      guard(async () => parse(await Oidc.findOne({ _id: key(model, id), ...notExpired() }).lean<OidcDoc>())),
    findByUid: (model, uid) =>
      guard(async () => parse(await Oidc.findOne({ model, uid, ...notExpired() }).lean<OidcDoc>())),
    findByUserCode: (model, userCode) =>
      guard(async () => parse(await Oidc.findOne({ model, user_code: userCode, ...notExpired() }).lean<OidcDoc>())),
    consume: (model, id) =>
      guard(async () => {
        const doc = await Oidc.findById(key(model, id)).lean<OidcDoc>();
        if (!doc) return;
        const payload = {
          ...(JSON.parse(doc.payload) as Record<string, unknown>),
          consumed: Math.floor(Date.now() / 1000),
        };
        await Oidc.updateOne({ _id: doc._id }, { $set: { payload: JSON.stringify(payload) } });
      }),
    destroy: (model, id) =>
      guard(async () => {
        await Oidc.deleteOne({ _id: key(model, id) });
      }),
    revokeByGrantId: (model, grantId) =>
      guard(async () => {
        await Oidc.deleteMany({ model, grant_id: grantId });
      }),
    tokenIdsOfClient: (clientId) =>
      guard(async () => {
        const docs = await Oidc.find(
          { model: { $in: ['AccessToken', 'ClientCredentials'] }, client_id: clientId },
          { _id: 1, model: 1 },
        ).lean<Array<Pick<OidcDoc, '_id' | 'model'>>>();
        return docs.map((d) => d._id.slice(d.model.length + 1));
      }),
    list: (model) =>
      guard(async () => {
        const docs = await Oidc.find({ model, ...notExpired() }).lean<OidcDoc[]>();
        return docs.map((d) => JSON.parse(d.payload) as Record<string, unknown>);
      }),
  };
}

/**
 * Re-keys oidc-provider documents written before tokens were stored hashed (no `key_version`): each is written
 * again under the hash of its id, without its `jti`, and the plaintext document is deleted. Idempotent, and safe
 * to run from several instances at once (an upsert of the same hashed document, then a delete).
 */
export async function migrateOidcKeys(Oidc: Model<OidcDoc>): Promise<void> {
  const legacy = await Oidc.find({ key_version: { $exists: false } }).lean<OidcDoc[]>();
  for (const doc of legacy) {
    const id = doc._id.slice(doc.model.length + 1);
    const payload = storedOidcPayload(doc.model, id, JSON.parse(doc.payload) as Record<string, unknown>);
    const { _id: _, ...rest } = doc;
    const rekeyed: OidcDoc = {
      ...rest,
      _id: `${doc.model}:${storedOidcId(doc.model, id)}`,
      key_version: 2,
      payload: JSON.stringify(payload),
      ...(typeof payload.userCode === 'string' ? { user_code: payload.userCode } : {}),
      ...(typeof payload.clientId === 'string' ? { client_id: payload.clientId } : {}),
    };
    await Oidc.replaceOne({ _id: rekeyed._id }, rekeyed, { upsert: true });
    if (rekeyed._id !== doc._id) await Oidc.deleteOne({ _id: doc._id });
  }
}

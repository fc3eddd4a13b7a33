/**
 * The `settings` collection: one document per setting the instances share. `cache_barrier` is the instant before
 * which cache entries are distrusted (it only moves forward, `$max`); `signing_keys` holds the sealed signing keys
 * (the first instance to store them wins).
 */
import mongoose, { type Model } from 'mongoose';

import { DuplicateError, StoreError, type BarrierStore, type SigningKeyStore } from '../types.ts';
import { SCHEMA_OPTIONS } from './common.ts';
import { guard, translate } from './errors.ts';

/** A `settings` document: one of the fields below is set, by `_id`. */
export interface SettingDoc {
  _id: string;
  at?: Date;
  sealed?: string;
}

/** The schema of `settings`. */
export const settingSchema = new mongoose.Schema<SettingDoc>(
  { _id: String, at: Date, sealed: String },
  { ...SCHEMA_OPTIONS, collection: 'settings' },
);

/** The shared cache barrier. */
export function createBarrierStore(Settings: Model<SettingDoc>): BarrierStore {
  const ID = 'cache_barrier';
  return {
    read: () =>
      guard(async () => {
        const doc = await Settings.findById(ID).lean<SettingDoc>();
        return doc?.at instanceof Date ? doc.at.getTime() : 0;
      }),
    raise: (atMs) =>
      guard(async () => {
        await Settings.updateOne({ _id: ID }, { $max: { at: new Date(atMs) } }, { upsert: true });
      }),
  };
}

/** The sealed signing keys. */
export function createSigningKeyStore(Settings: Model<SettingDoc>): SigningKeyStore {
  const ID = 'signing_keys';
  const read = async () => {
    const doc = await Settings.findById(ID).lean<SettingDoc>();
    return typeof doc?.sealed === 'string' ? doc.sealed : null;
  };
  return {
    read: () => guard(read),
    insertIfAbsent: (sealed) =>
      guard(async () => {
        try {
          await Settings.insertOne({ _id: ID, sealed });
          return sealed;
        } catch (error) {
          if (!(translate(error) instanceof DuplicateError)) throw error;
          const stored = await read();
          if (stored === null) throw new StoreError('signing keys vanished while being stored');
          return stored;
        }
      }),
    replace: (sealed) =>
      guard(async () => {
        await Settings.updateOne({ _id: ID }, { $set: { sealed } }, { upsert: true });
      }),
  };
}

/**
 * The `leases` collection: one document per generation of a named lease, `_id` `<name>#<generation>`. Taking a
 * free lease inserts the next generation: the unique `_id` lets exactly one of several instances insert it, on
 * MongoDB and on FerretDB alike (no conditional update, which FerretDB does not apply atomically). The highest
 * generation is the lease; an instance whose insert is not the highest once written (it read an older state) gives
 * way. Only a generation's holder ever updates it.
 */
import mongoose, { type Model } from 'mongoose';

import { DuplicateError, type LeaseStore } from '../types.ts';
import { SCHEMA_OPTIONS } from './common.ts';
import { guard, translate } from './errors.ts';

export interface LeaseDoc {
  _id: string;
  name: string;
  generation: number;
  holder: string;
  until: Date;
  released: boolean;
}

/** The schema of `leases`. */
export const leaseSchema = new mongoose.Schema<LeaseDoc>(
  { _id: String, name: String, generation: Number, holder: String, until: Date, released: Boolean },
  { ...SCHEMA_OPTIONS, collection: 'leases' },
);
leaseSchema.index({ name: 1, generation: -1 });

const idOf = (name: string, generation: number) => `${name}#${generation}`;

/** The lease store over the `leases` model. */
export function createLeaseStore(Leases: Model<LeaseDoc>): LeaseStore {
  const latest = (name: string) => Leases.findOne({ name }).sort({ generation: -1 }).lean<LeaseDoc>();

  return {
    acquire: (name, holder, now, until) =>
      guard(async () => {
        const current = await latest(name);
        if (current && !current.released && current.until > now) return null;
        const generation = (current?.generation ?? 0) + 1;
        try {
          await Leases.insertOne({ _id: idOf(name, generation), name, generation, holder, until, released: false });
        } catch (error) {
          if (translate(error) instanceof DuplicateError) return null;
          throw error;
        }
        const highest = await latest(name);
        if (highest?.generation !== generation) {
          // Read an older state than another taker: theirs is the lease.
          await Leases.updateOne({ _id: idOf(name, generation) }, { $set: { released: true } });
          return null;
        }
        // Older generations are history; the previous one stays so that a slow taker's insert of it fails.
        await Leases.deleteMany({ name, generation: { $lt: generation - 1 } });
        return { name, generation, holder, until };
      }),
    renew: (lease, until) =>
      guard(async () => {
        const id = idOf(lease.name, lease.generation);
        await Leases.updateOne({ _id: id, released: false }, { $set: { until } });
        const highest = await latest(lease.name);
        if (highest?._id !== id || highest.released) return null;
        return { ...lease, until };
      }),
    release: (lease) =>
      guard(async () => {
        await Leases.updateOne({ _id: idOf(lease.name, lease.generation) }, { $set: { released: true } });
      }),
  };
}

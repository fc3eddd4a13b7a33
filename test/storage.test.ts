import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

import mongoose from 'mongoose';

import { createMemoryStorage } from '../adapters/memory/storage.ts';
import { keyedSerial } from '../adapters/mongo/common.ts';
import { createMongoStorage } from '../adapters/mongo/storage.ts';
import {
  DuplicateError,
  StoreUnavailableError,
  type PatRecord,
  type Storage,
  type UserRecord,
} from '../adapters/types.ts';
import { needsServices, services, useServices } from './support/hooks.ts';

const user = (id: string, username = id): UserRecord => ({
  id,
  username,
  email: null,
  disabled: false,
  createdAt: new Date(),
  updatedAt: new Date(),
});

let seq = 0;
const pat = (userId: string, name: string, extra: Partial<PatRecord> = {}): PatRecord => ({
  id: `tok_${String(++seq).padStart(20, '0')}`,
  tokenHash: randomBytes(32).toString('hex'),
  userId,
  name,
  description: null,
  scopes: ['read'],
  resource: null,
  createdAt: new Date(Date.now() + seq),
  expiresAt: null,
  lastUsedAt: null,
  lastUsedClient: null,
  rotatedAt: null,
  revokedAt: null,
  ...extra,
});

async function rejectsWith(promise: Promise<unknown>, field: string) {
  await assert.rejects(promise, (error: unknown) => error instanceof DuplicateError && error.field === field);
}

/**
 * Creates 30 tokens through `revoker`, then revokes each while `recorder` records a use just before and just after
 * (FerretDB rewrites whole documents, so an overlapping write could put a revoked token back). Returns the tokens.
 */
async function revokeAmidUses(revoker: Storage, recorder: Storage, userId: string, prefix: string, client: string) {
  const now = new Date();
  const tokens = Array.from({ length: 30 }, (_, i) => pat(userId, `${prefix}-${i}`));
  for (const t of tokens) await revoker.pats.insert(t, now, 1000);
  await Promise.all(
    tokens.flatMap((t, i) => [
      recorder.pats.touchLastUsed(t.id, new Date(now.getTime() + i), client, 0),
      revoker.pats.revoke(t.id, now),
      recorder.pats.touchLastUsed(t.id, new Date(now.getTime() + i + 1), client, 0),
    ]),
  );
  return tokens;
}

/** One contract, two implementations: the embedded in-memory store must behave like MongoDB. */
type Backend = { storage: Storage; ttlFallback: boolean; dbName?: string };
const backends: Array<[string, () => Promise<Backend>]> = [
  ['in-memory (embedded default)', async () => ({ storage: createMemoryStorage(), ttlFallback: false })],
  [
    'MongoDB (mongoose)',
    async () => {
      await useServices();
      let ttlFallback = false;
      const dbName = `tw_store_${randomBytes(4).toString('hex')}`;
      const storage = await createMongoStorage({
        uri: `${services().mongo.url}/${dbName}`,
        // Generous: the overlap test sends 90 writes at once, and this contract is about what they do, not speed.
        timeoutMs: 10_000,
        sweepIntervalMs: 50,
        onTtlFallback: () => (ttlFallback = true),
      });
      return { storage, ttlFallback, dbName };
    },
  ],
];

for (const [label, make] of backends) {
  describe(`storage contract: ${label}`, () => {
    let storage: Storage;
    let ttlFallback: boolean;
    let dbName: string | undefined;
    before(async function () {
      this.timeout(120_000);
      ({ storage, ttlFallback, dbName } = await make());
    });
    after(() => storage.close());

    it('keeps user ids and usernames unique, naming the clash', async () => {
      await storage.users.insert(user('u1', 'alice'));
      await rejectsWith(storage.users.insert(user('u1', 'other')), 'id');
      await rejectsWith(storage.users.insert(user('u2', 'alice')), 'username');
      assert.equal((await storage.users.get('u1'))?.username, 'alice');
      assert.equal(await storage.users.get('nobody'), null);
    });

    it('disables and re-enables a user atomically', async () => {
      await storage.users.insert(user('u3'));
      assert.equal((await storage.users.setDisabled('u3', true, new Date()))?.disabled, true);
      assert.equal((await storage.users.get('u3'))?.disabled, true);
      assert.equal((await storage.users.setDisabled('u3', false, new Date()))?.disabled, false);
      assert.equal(await storage.users.setDisabled('nobody', true, new Date()), null);
    });

    it('keeps token names unique per user among live tokens, and hashes unique', async () => {
      const now = new Date();
      const first = pat('u1', 'deploy');
      await storage.pats.insert(first, now, 100);
      await rejectsWith(storage.pats.insert(pat('u1', 'deploy'), now, 100), 'name');
      await storage.pats.insert(pat('u3', 'deploy'), now, 100);
      await rejectsWith(
        storage.pats.insert({ ...pat('u1', 'other'), tokenHash: first.tokenHash }, now, 100),
        'token_hash',
      );
      await storage.pats.revoke(first.id, now);
      await storage.pats.insert(pat('u1', 'deploy'), now, 100);
    });

    it('frees the name of an expired token', async () => {
      const now = new Date();
      await storage.pats.insert(pat('u1', 'nightly', { expiresAt: new Date(now.getTime() + 1000) }), now, 100);
      await rejectsWith(storage.pats.insert(pat('u1', 'nightly'), now, 100), 'name');
      await storage.pats.insert(pat('u1', 'nightly'), new Date(now.getTime() + 2000), 100);
    });

    it('revokes once, keeps the first revocation time, and answers null for unknown ids', async () => {
      const p = pat('u1', 'once');
      await storage.pats.insert(p, new Date(), 100);
      const t1 = new Date('2030-01-01T00:00:00Z');
      assert.deepEqual((await storage.pats.revoke(p.id, t1))?.revokedAt, t1);
      assert.deepEqual((await storage.pats.revoke(p.id, new Date('2031-01-01T00:00:00Z')))?.revokedAt, t1);
      assert.equal(await storage.pats.revoke('tok_doesnotexist000000', t1), null);
      assert.deepEqual((await storage.pats.findByHash(p.tokenHash))?.revokedAt, t1);
    });

    it('never lets a last-used write undo a revocation it overlaps (FerretDB rewrites whole documents)', async () => {
      const tokens = await revokeAmidUses(storage, storage, 'u1', 'overlap', 'client');
      for (const t of tokens) {
        assert.notEqual((await storage.pats.findById(t.id))?.revokedAt, null, `revocation of ${t.name} kept`);
      }
    });

    it('creates every token while another creator of the same user revokes its own at once', async () => {
      const now = new Date();
      // Two creators race for the same free slot; the loser may find the winner already revoked (its slot released).
      const churn = (who: string) => async () => {
        for (let i = 0; i < 15; i++) {
          const t = pat('u-churn', `${who}-${i}`);
          await storage.pats.insert(t, now, 100);
          await storage.pats.revoke(t.id, now);
        }
      };
      await Promise.all([churn('a')(), churn('b')()]);
      const revoked = await storage.pats.query({ userId: 'u-churn', status: 'revoked', now, limit: 100 });
      assert.equal(revoked.length, 30);
    });

    it('lists a user’s tokens newest first and the hashes still unrevoked', async () => {
      await storage.users.insert(user('u9'));
      const a = pat('u9', 'a');
      const b = pat('u9', 'b');
      await storage.pats.insert(a, new Date(), 100);
      await storage.pats.insert(b, new Date(), 100);
      const listed = await storage.pats.query({ userId: 'u9', status: 'all', now: new Date(), limit: 10 });
      assert.deepEqual(
        listed.map((p) => p.id),
        [b.id, a.id],
      );
      await storage.pats.revoke(a.id, new Date());
      assert.deepEqual(await storage.pats.unrevokedHashesOfUser('u9'), [b.tokenHash]);
    });

    it('stores oidc-provider payloads: upsert, find, consume, destroy, by uid, by grant', async () => {
      const { oidc } = storage;
      await oidc.upsert('AccessToken', 'a1', { jti: 'a1', grantId: 'g1', 'odd.key$': 1 }, 60);
      await oidc.upsert('AccessToken', 'a2', { jti: 'a2', grantId: 'g1' }, 60);
      await oidc.upsert('Session', 's1', { uid: 'uid-1' }, 60);
      assert.deepEqual(await oidc.find('AccessToken', 'a1'), { jti: 'a1', grantId: 'g1', 'odd.key$': 1 });
      assert.equal(await oidc.find('RefreshToken', 'a1'), undefined);
      assert.deepEqual(await oidc.findByUid('Session', 'uid-1'), { uid: 'uid-1' });
      await oidc.consume('AccessToken', 'a1');
      assert.equal(typeof (await oidc.find('AccessToken', 'a1'))?.consumed, 'number');
      await oidc.revokeByGrantId('AccessToken', 'g1');
      assert.equal(await oidc.find('AccessToken', 'a2'), undefined);
      await oidc.upsert('Client', 'c1', { client_id: 'c1' }, undefined);
      assert.deepEqual(await oidc.list('Client'), [{ client_id: 'c1' }]);
      await oidc.destroy('Client', 'c1');
      assert.deepEqual(await oidc.list('Client'), []);
    });

    it('never returns an expired payload', async () => {
      await storage.oidc.upsert('AccessToken', 'short', { jti: 'short' }, 1);
      assert.ok(await storage.oidc.find('AccessToken', 'short'));
      const deadline = Date.now() + 5000;
      while ((await storage.oidc.find('AccessToken', 'short')) !== undefined) {
        assert.ok(Date.now() < deadline, 'still returned after its expiry');
        await new Promise((r) => setTimeout(r, 100));
      }
    });

    it('sweeps expired payloads when TTL indexes are unavailable', async function () {
      if (!ttlFallback) this.skip();
      await storage.oidc.upsert('AccessToken', 'swept', { jti: 'swept' }, 1);
      const conn = await mongoose.createConnection(`${services().mongo.url}/${dbName}`).asPromise();
      try {
        const payloads = conn.db!.collection('oidc_payloads');
        const deadline = Date.now() + 10_000;
        while ((await payloads.countDocuments({ _id: 'AccessToken:swept' as never })) > 0) {
          assert.ok(Date.now() < deadline, 'the sweeper did not delete the expired payload');
          await new Promise((r) => setTimeout(r, 100));
        }
      } finally {
        await conn.close();
      }
    });
  });
}

describe('MongoDB write concern', () => {
  before(needsServices);

  it('sends every write with w: majority, so no election can roll back a revocation', async () => {
    const commands: Array<{ commandName: string; command: Record<string, unknown> }> = [];
    const storage = await createMongoStorage({
      uri: `${services().mongo.url}/tw_wc_${randomBytes(4).toString('hex')}`,
      timeoutMs: 10_000,
      onCommand: (event) => commands.push(event),
    });
    try {
      await storage.users.insert(user('wc-user'));
      const token = pat('wc-user', 'wc');
      await storage.pats.insert(token, new Date(), 10);
      commands.length = 0;
      await storage.pats.revoke(token.id, new Date());
      await storage.users.setDisabled('wc-user', true, new Date());
      await storage.barrier.raise(Date.now());
      const writes = commands.filter((c) => ['insert', 'update', 'delete', 'findAndModify'].includes(c.commandName));
      assert.ok(writes.length >= 3, `writes seen: ${commands.map((c) => c.commandName).join(', ')}`);
      for (const write of writes) {
        assert.deepEqual(write.command.writeConcern, { w: 'majority' }, `${write.commandName} without w: majority`);
      }
    } finally {
      await storage.close();
    }
  });
});

describe('MongoDB: one token written by several instances', () => {
  before(needsServices);
  let a: Storage;
  let b: Storage;
  let dbName: string;
  before(async function () {
    this.timeout(60_000);
    dbName = `tw_multi_${randomBytes(4).toString('hex')}`;
    const open = () => createMongoStorage({ uri: `${services().mongo.url}/${dbName}`, timeoutMs: 10_000 });
    a = await open();
    b = await open();
  });
  after(async () => {
    await a?.close();
    await b?.close();
  });

  it('never lets another instance’s last-used writes undo a revocation', async () => {
    // Instance b records uses while instance a revokes: b's writes are outside a's per-document ordering.
    const tokens = await revokeAmidUses(a, b, 'm1', 'multi', 'rs');
    for (const t of tokens) {
      const stored = await b.pats.findById(t.id);
      assert.notEqual(stored?.revokedAt, null, `revocation of ${t.name} kept`);
      assert.equal(stored?.lastUsedClient, 'rs', 'and the uses are recorded too');
    }
  });

  it('reads a last use an earlier version wrote on the token itself, and filters on it', async () => {
    const legacy = pat('m2', 'legacy');
    const fresh = pat('m2', 'fresh');
    await a.pats.insert(legacy, new Date(), 10);
    await a.pats.insert(fresh, new Date(), 10);
    const conn = await mongoose.createConnection(`${services().mongo.url}/${dbName}`).asPromise();
    try {
      await conn
        .db!.collection<{ _id: string }>('personal_access_tokens')
        .updateOne(
          { _id: legacy.id },
          { $set: { last_used_at: new Date('2020-01-01T00:00:00Z'), last_used_client: 'old-rs' } },
        );
    } finally {
      await conn.close();
    }
    const read = await a.pats.findById(legacy.id);
    assert.deepEqual([read?.lastUsedAt, read?.lastUsedClient], [new Date('2020-01-01T00:00:00Z'), 'old-rs']);
    await a.pats.touchLastUsed(fresh.id, new Date(), 'new-rs', 0);
    const stale = await a.pats.query({
      userId: 'm2',
      status: 'active',
      now: new Date(),
      lastUsedBefore: new Date('2021-01-01T00:00:00Z'),
      limit: 10,
    });
    assert.deepEqual(
      stale.map((p) => p.name),
      ['legacy'],
    );
    // A newer use wins over the legacy field.
    await a.pats.touchLastUsed(legacy.id, new Date('2030-01-01T00:00:00Z'), 'new-rs', 0);
    assert.equal((await a.pats.findById(legacy.id))?.lastUsedClient, 'new-rs');
  });
});

describe('per-document write ordering (keyedSerial)', () => {
  it('answers a write that outlasts the deadline with StoreUnavailableError, and starts the next write of the same key only once it has landed', async () => {
    const serial = keyedSerial(20);
    let land!: () => void;
    const order: string[] = [];
    const slow = serial('tok', () => new Promise<void>((resolve) => (land = resolve)).then(() => order.push('slow')));
    await assert.rejects(slow, (error: unknown) => error instanceof StoreUnavailableError);
    const next = serial('tok', async () => order.push('next'));
    const other = serial('other', async () => order.push('other'));
    await other;
    assert.deepEqual(order, ['other'], 'another key is not held up, the same key is');
    land();
    await next;
    assert.deepEqual(order, ['other', 'slow', 'next']);
  });
});

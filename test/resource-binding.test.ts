import assert from 'node:assert/strict';

import { basic, startApp, type TestApp } from './support/app.ts';
import { eventually } from './support/eventually.ts';

const ORDERS = 'https://orders.example.com';
const BILLING = 'https://billing.example.com';

type Client = { clientId: string; clientSecret: string };
type Row = Record<string, unknown>;

/**
 * Resource binding (RFC 8707), enforced at introspection: a PAT bound to a resource is active only for the
 * resource-server clients registered as serving it. Unbound PATs answer every client.
 */
describe('resource binding at /introspect', () => {
  let app: TestApp;
  let userId: string;
  let orders: Client;
  let billing: Client;
  let legacy: Client;

  async function register(body: Record<string, unknown>): Promise<Client> {
    const res = await app.api('POST', '/api/clients', body);
    assert.equal(res.status, 201, res.text);
    return { clientId: String(res.body.client_id), clientSecret: String(res.body.client_secret) };
  }

  before(async () => {
    app = await startApp();
    userId = await app.createUser('binding-user');
    orders = await register({ client_name: 'orders API', resources: [ORDERS] });
    billing = await register({ client_name: 'billing API', resources: [BILLING, 'urn:example:billing'] });
    legacy = await register({ client_name: 'serves nothing declared' });
  });
  after(() => app.close());

  const refusals = async (tokenId: string) =>
    ((await app.api('GET', `/api/audit?token_id=${tokenId}&type=token.resource_mismatch`)).body.data as Row[]) ?? [];

  it('answers a bound PAT active only for a client that serves its resource', async () => {
    const pat = await app.createPat(userId, { scopes: ['read'], resource: ORDERS });
    const served = await app.introspect(pat.token, orders);
    assert.equal(served.body.active, true);
    assert.equal(served.body.aud, ORDERS);
    for (const other of [billing, legacy, app.rs]) {
      const res = await app.introspect(pat.token, other);
      assert.equal(res.status, 200);
      assert.equal(res.text, '{"active":false}', other.clientId);
    }
    const admin = { clientId: app.config.adminClient.clientId, clientSecret: app.config.adminClient.clientSecret };
    assert.equal((await app.introspect(pat.token, admin)).text, '{"active":false}', 'the admin client serves nothing');
  });

  it('answers an unbound PAT for every client, as before', async () => {
    const pat = await app.createPat(userId, { scopes: ['read'] });
    for (const client of [orders, billing, legacy, app.rs]) {
      const res = await app.introspect(pat.token, client);
      assert.equal(res.body.active, true, client.clientId);
      assert.equal('aud' in res.body, false);
    }
  });

  it('records a refused attempt in the audit log once per token and client a minute', async () => {
    const pat = await app.createPat(userId, { resource: ORDERS });
    for (let i = 0; i < 5; i++) assert.equal((await app.introspect(pat.token, billing)).body.active, false);
    await app.introspect(pat.token, legacy);
    // Written in the background.
    let events: Row[] = [];
    await eventually(async () => (events = await refusals(pat.id)).length >= 2);
    assert.equal(events.length, 2, 'one event per client, however often it asked');
    const byBilling = events.find((e) => e.actor === `client:${billing.clientId}`)!;
    assert.equal(byBilling.via, 'introspection');
    assert.equal(byBilling.user_id, userId);
    assert.deepEqual(byBilling.details, { resource: ORDERS });
    assert.ok(events.some((e) => e.actor === `client:${legacy.clientId}`));
    assert.ok(!JSON.stringify(events).includes(pat.token));

    app.clock.advance(61_000);
    try {
      await app.introspect(pat.token, billing);
      await app.introspect(pat.token, billing);
      let again: Row[] = [];
      await eventually(async () => (again = await refusals(pat.id)).length >= 3);
      assert.equal(again.length, 3, 'a minute later, the next attempt is recorded again, once');
    } finally {
      app.clock.advance(-61_000);
    }
  });

  it('does not count a refused introspection as a use of the token', async () => {
    const pat = await app.createPat(userId, { resource: ORDERS });
    app.counter.reset();
    await app.introspect(pat.token, billing);
    await app.introspect(pat.token, legacy);
    await eventually(async () => (await refusals(pat.id)).length === 2);
    assert.equal(app.counter.total('mongo.pats.touchLastUsed'), 0, 'no use recorded');
    assert.equal((await app.api('GET', `/api/users/${userId}/tokens/${pat.id}`)).body.last_used_at, null);
    await app.introspect(pat.token, orders);
    await eventually(async () => app.counter.settled.get('mongo.pats.touchLastUsed') === 1);
    const used = (await app.api('GET', `/api/users/${userId}/tokens/${pat.id}`)).body;
    assert.equal(used.last_used_client, orders.clientId);
  });

  it('adds no I/O to a warm introspection: the client and its resources come from memory', async () => {
    const pat = await app.createPat(userId, { resource: ORDERS });
    // Warm: the PAT in the caches, the clients in memory, the refusal already recorded.
    app.counter.reset();
    await app.introspect(pat.token, orders);
    await app.introspect(pat.token, billing);
    await app.introspect(pat.token, orders);
    await app.introspect(pat.token, billing);
    await eventually(
      async () =>
        app.counter.settled.get('mongo.pats.touchLastUsed') === 1 &&
        app.counter.settled.get('mongo.audit.insert') === 1,
    );
    app.counter.reset();
    for (let i = 0; i < 10; i++) {
      assert.equal((await app.introspect(pat.token, orders)).body.active, true);
      assert.equal((await app.introspect(pat.token, billing)).body.active, false);
    }
    // The barrier is read once a second by every instance whatever it answers: not I/O of these requests.
    const requestIo = app.counter.total('mongo.') - app.counter.total('mongo.barrier.read');
    assert.equal(requestIo, 0, [...app.counter.counts.keys()].join(', '));
    assert.equal(app.counter.total('redis'), 0, [...app.counter.counts.keys()].join(', '));
  });

  it('follows a change of the resources a client serves at once', async () => {
    const pat = await app.createPat(userId, { resource: ORDERS });
    const client = await register({ client_name: 'moving API' });
    assert.equal((await app.introspect(pat.token, client)).body.active, false);
    const changed = await app.api('PATCH', `/api/clients/${client.clientId}`, { resources: [ORDERS] });
    assert.equal(changed.status, 200, changed.text);
    assert.equal((await app.introspect(pat.token, client)).body.active, true);
    await app.api('PATCH', `/api/clients/${client.clientId}`, { resources: [] });
    assert.equal((await app.introspect(pat.token, client)).body.active, false);
  });

  it('applies to oidc-provider’s transport too (client_secret_post, JWT responses)', async () => {
    const pat = await app.createPat(userId, { resource: ORDERS });
    const post = (client: Client) =>
      app.form('/introspect', { token: pat.token, client_id: client.clientId, client_secret: client.clientSecret });
    assert.equal((await post(orders)).body.active, true);
    assert.equal((await post(billing)).text, '{"active":false}');
    const jwt = await fetch(`${app.url}/introspect`, {
      method: 'POST',
      headers: {
        Authorization: basic(billing),
        'Content-Type': 'application/x-www-form-urlencoded',
        Accept: 'application/token-introspection+jwt',
      },
      body: new URLSearchParams({ token: pat.token }).toString(),
    });
    const payload = JSON.parse(Buffer.from((await jwt.text()).split('.')[1]!, 'base64url').toString()) as Row;
    assert.deepEqual(payload.token_introspection, { active: false });
  });
});

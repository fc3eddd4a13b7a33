import assert from 'node:assert/strict';

import { eventsSettled } from './support/events.ts';
import { eventually } from './support/eventually.ts';
import { needsServices } from './support/hooks.ts';
import { basic, startApp, type TestApp } from './support/app.ts';
import { startReceiver, type ReceivedEvent, type Receiver } from './support/receiver.ts';

/** The receiver's verified webhooks at `name`, by type. */
async function webhooksAt(receiver: Receiver, name: string): Promise<ReceivedEvent[]> {
  return (await receiver.received()).filter((r) => r.channel === 'webhook' && r.name === name);
}

interface Payload {
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
}

/** Waits for a verified webhook at `name` matching `match`, and returns its payload. */
async function expectWebhook(receiver: Receiver, name: string, match: (p: Payload) => boolean): Promise<Payload> {
  let found: Payload | undefined;
  await eventually(async () => {
    const hits = (await webhooksAt(receiver, name)).filter((r) => r.verified && match(r.body as unknown as Payload));
    found = hits[0]?.body as unknown as Payload | undefined;
    return found !== undefined;
  });
  return found!;
}

describe('webhooks (Standard Webhooks)', function () {
  this.timeout(60_000);
  before(needsServices);
  let app: TestApp;
  let receiver: Receiver;
  let secret: string;
  let webhookId: string;

  before(async () => {
    receiver = await startReceiver();
    app = await startApp({ env: { EVENTS_ALLOWED_NETWORKS: '127.0.0.0/8' } });
    const res = await app.api('POST', '/api/webhooks', {
      url: `${receiver.url}/webhook/all`,
      description: 'every event',
    });
    assert.equal(res.status, 201, res.text);
    secret = String(res.body.secret);
    webhookId = String(res.body.id);
    await receiver.webhook('all', secret);
  });
  after(async () => {
    await app?.close();
    await receiver?.stop();
  });

  describe('the admin API', () => {
    it('shows the whsec_ secret once, at registration, and never in a listing, a read or the audit log', async () => {
      assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
      assert.equal(Buffer.from(secret.slice(6), 'base64').length, 32);
      const list = await app.api('GET', '/api/webhooks');
      const one = await app.api('GET', `/api/webhooks/${webhookId}`);
      const audit = await app.api('GET', '/api/audit?type=webhook.registered');
      for (const res of [list, one, audit]) {
        assert.equal(res.status, 200);
        assert.ok(!res.text.includes(secret.slice(6)), 'the secret must not be shown again');
      }
      assert.equal(one.body.url, `${receiver.url}/webhook/all`);
      assert.equal(one.body.events, null);
      assert.equal(one.body.enabled, true);
      const event = (audit.body.data as Array<{ actor: string; details: Record<string, unknown> }>)[0]!;
      assert.equal(event.actor, `admin:${app.config.adminClient.clientId}`);
      assert.equal(event.details.origin, receiver.url, 'only the origin is audited');
    });

    it('refuses targets in private, loopback, link-local or reserved ranges unless allowed, and http to public ones', async () => {
      const strict = await startApp({ memory: true, env: { EVENTS_ALLOWED_NETWORKS: '' } });
      try {
        for (const url of [
          'http://127.0.0.1:9/hook',
          'http://localhost:9/hook',
          'https://10.1.2.3/hook',
          'https://192.168.0.1/hook',
          'https://172.16.5.4/hook',
          'https://169.254.169.254/latest/meta-data',
          'https://[::1]/hook',
          'https://[fe80::1]/hook',
          'https://[fd00::1]/hook',
          'https://[::ffff:127.0.0.1]/hook',
          'https://100.64.0.1/hook',
          'https://0.0.0.0/hook',
          'https://224.0.0.1/hook',
        ]) {
          const res = await strict.api('POST', '/api/webhooks', { url });
          assert.equal(res.status, 400, `${url}: ${res.text}`);
          assert.equal(res.body.error, 'invalid_request');
          assert.match(String(res.body.error_description), /^url: /);
        }
        const http = await strict.api('POST', '/api/webhooks', { url: 'http://93.184.215.14/hook' });
        assert.equal(http.status, 400);
        assert.match(String(http.body.error_description), /https/);
        const credentials = await strict.api('POST', '/api/webhooks', { url: 'https://user:pw@93.184.215.14/hook' });
        assert.equal(credentials.status, 400);
        const nowhere = await strict.api('POST', '/api/webhooks', { url: 'https://no-such-host.invalid/hook' });
        assert.equal(nowhere.status, 400);
        assert.match(String(nowhere.body.error_description), /resolve/);
        const unknownType = await strict.api('POST', '/api/webhooks', {
          url: 'https://93.184.215.14/hook',
          events: ['token.stolen'],
        });
        assert.equal(unknownType.status, 400);
        const ok = await strict.api('POST', '/api/webhooks', {
          url: 'https://93.184.215.14/hook',
          events: ['token.revoked'],
        });
        assert.equal(ok.status, 201, 'a public https target is accepted (nothing is sent until an event)');
        await strict.api('DELETE', `/api/webhooks/${String(ok.body.id)}`);
      } finally {
        await strict.close();
      }
    });

    it('needs the admin scope', async () => {
      const userId = await app.createUser();
      const { token } = await app.createPat(userId, { scopes: ['tokens:manage'] });
      assert.equal((await app.api('GET', '/api/webhooks', undefined, token)).status, 403);
      assert.equal((await app.api('GET', '/api/webhooks', undefined, null)).status, 401);
      assert.equal((await app.api('GET', '/api/webhooks/wh_nope')).status, 404);
    });

    it('sends a test event to one endpoint, and shows its delivery with status', async () => {
      const res = await app.api('POST', `/api/webhooks/${webhookId}/test`);
      assert.equal(res.status, 202);
      const eventId = String(res.body.event_id);
      const payload = await expectWebhook(receiver, 'all', (p) => p.type === 'webhook.test');
      assert.deepEqual(payload.data, { webhook_id: webhookId });
      const hit = (await webhooksAt(receiver, 'all')).find((r) => r.id === eventId);
      assert.ok(hit?.verified, 'the webhook-id is the event id');
      await eventually(async () => {
        const deliveries = await app.api('GET', `/api/webhooks/${webhookId}/deliveries`);
        const row = (deliveries.body.data as Array<Record<string, unknown>>).find((d) => d.event_id === eventId);
        return (
          row?.status === 'delivered' && row.attempts === 1 && row.last_status === 204 && row.next_attempt_at === null
        );
      });
      const audit = await app.api('GET', '/api/audit?type=webhook.tested');
      assert.equal((audit.body.data as unknown[]).length, 1);
    });

    it('stops sending to a disabled endpoint and starts again when it is enabled', async () => {
      const created = await app.api('POST', '/api/webhooks', {
        url: `${receiver.url}/webhook/toggle`,
        events: ['user.disabled', 'user.enabled'],
      });
      await receiver.webhook('toggle', String(created.body.secret));
      const id = String(created.body.id);
      const off = await app.api('PATCH', `/api/webhooks/${id}`, { enabled: false });
      assert.equal(off.body.enabled, false);
      assert.equal((await app.api('POST', `/api/webhooks/${id}/test`)).status, 400);
      const userId = await app.createUser();
      await app.api('PATCH', `/api/users/${userId}`, { disabled: true });
      // The endpoint that wants everything got it; the disabled one nothing.
      await expectWebhook(receiver, 'all', (p) => p.type === 'user.disabled' && p.data.user_id === userId);
      assert.equal((await webhooksAt(receiver, 'toggle')).length, 0);
      const on = await app.api('PATCH', `/api/webhooks/${id}`, { enabled: true });
      assert.equal(on.body.enabled, true);
      await app.api('PATCH', `/api/users/${userId}`, { disabled: false });
      await expectWebhook(receiver, 'toggle', (p) => p.type === 'user.enabled' && p.data.user_id === userId);
      assert.equal((await webhooksAt(receiver, 'toggle')).length, 1, 'only the event after enabling');
      assert.equal((await app.api('DELETE', `/api/webhooks/${id}`)).status, 204);
      assert.equal((await app.api('GET', `/api/webhooks/${id}`)).status, 404);
      const audit = await app.api('GET', '/api/audit?type=webhook.updated');
      assert.equal((audit.body.data as unknown[]).length, 2);
    });
  });

  describe('events', () => {
    it('token.created, token.expiry_shortened, token.rotated (with the old value’s grace end), token.revoked by an admin', async () => {
      const userId = await app.createUser();
      const { id, token } = await app.createPat(userId);
      const created = await expectWebhook(receiver, 'all', (p) => p.type === 'token.created' && p.data.token_id === id);
      assert.equal(created.data.user_id, userId);
      assert.deepEqual(created.data.scopes, ['read']);
      assert.equal(created.data.via, 'admin_api');
      assert.ok(!JSON.stringify(created).includes(token), 'never the value');

      const earlier = new Date(Date.now() + 86_400_000).toISOString();
      await app.api('PATCH', `/api/users/${userId}/tokens/${id}`, { expires_at: earlier });
      const shortened = await expectWebhook(
        receiver,
        'all',
        (p) => p.type === 'token.expiry_shortened' && p.data.token_id === id,
      );
      assert.equal(shortened.data.expires_at, earlier);
      assert.notEqual(shortened.data.previous_expires_at, null);

      const rotated = await app.api('POST', `/api/users/${userId}/tokens/${id}/rotate`, { grace_seconds: 3600 });
      assert.equal(rotated.status, 200);
      const event = await expectWebhook(receiver, 'all', (p) => p.type === 'token.rotated' && p.data.token_id === id);
      const graceEnd = Date.parse(String(event.data.previous_value_valid_until));
      assert.ok(Math.abs(graceEnd - (Date.parse(event.timestamp) + 3600_000)) < 2000, 'the grace end is an hour on');

      await app.api('DELETE', `/api/users/${userId}/tokens/${id}`);
      const revoked = await expectWebhook(receiver, 'all', (p) => p.type === 'token.revoked' && p.data.token_id === id);
      assert.equal(revoked.data.reason, 'revoked');
      assert.equal(revoked.data.via, 'admin_api');
      assert.equal(revoked.data.actor, `admin:${app.config.adminClient.clientId}`);
    });

    it('token.revoked through self-service, /revoke, revoke-all and a user’s deletion', async () => {
      const userId = await app.createUser();
      const self = await app.createPat(userId, { scopes: ['tokens:manage'] });
      const viaRevoke = await app.createPat(userId);
      const viaAll = await app.createPat(userId);
      await app.api('DELETE', `/api/me/tokens/${self.id}`, undefined, self.token);
      const bySelf = await expectWebhook(
        receiver,
        'all',
        (p) => p.type === 'token.revoked' && p.data.token_id === self.id,
      );
      assert.equal(bySelf.data.via, 'self_service');
      assert.equal(bySelf.data.actor, `user:${userId}`);

      await app.revoke(viaRevoke.token);
      const byClient = await expectWebhook(
        receiver,
        'all',
        (p) => p.type === 'token.revoked' && p.data.token_id === viaRevoke.id,
      );
      assert.equal(byClient.data.via, 'revocation_endpoint');
      assert.equal(byClient.data.actor, `client:${app.rs.clientId}`);
      assert.equal(byClient.data.credential, 'current');

      await app.api('POST', `/api/users/${userId}/tokens/revoke-all`);
      const byAll = await expectWebhook(
        receiver,
        'all',
        (p) => p.type === 'token.revoked' && p.data.token_id === viaAll.id,
      );
      assert.equal(byAll.data.reason, 'revoke_all');

      const doomed = await app.createUser();
      const a = await app.createPat(doomed);
      const b = await app.createPat(doomed);
      await app.api('DELETE', `/api/users/${doomed}`);
      const deleted = await expectWebhook(
        receiver,
        'all',
        (p) => p.type === 'user.deleted' && p.data.user_id === doomed,
      );
      for (const t of [a, b]) {
        const revoked = await expectWebhook(
          receiver,
          'all',
          (p) => p.type === 'token.revoked' && p.data.token_id === t.id,
        );
        assert.equal(revoked.data.reason, 'user_deleted');
      }
      assert.equal(deleted.data.via, 'admin_api');
    });

    it('a leak report sends token.leaked and token.revoked (reason leaked); a second report sends nothing more', async () => {
      const userId = await app.createUser();
      const { id, token } = await app.createPat(userId);
      const report = async () =>
        fetch(`${app.url}/api/credentials/revoke`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ credentials: [token] }),
        });
      assert.equal((await report()).status, 202);
      const leaked = await expectWebhook(receiver, 'all', (p) => p.type === 'token.leaked' && p.data.token_id === id);
      const revoked = await expectWebhook(receiver, 'all', (p) => p.type === 'token.revoked' && p.data.token_id === id);
      assert.equal(leaked.data.via, 'credential_revocation');
      assert.equal(revoked.data.reason, 'leaked');
      assert.equal((await report()).status, 202);
      await app.api('DELETE', `/api/users/${userId}/tokens/${id}`);
      // Nothing was revoked by these: once everything is delivered, still one of each.
      await eventsSettled(app);
      const forToken = (await webhooksAt(receiver, 'all')).filter(
        (r) => (r.body as unknown as Payload).data.token_id === id,
      );
      assert.deepEqual(forToken.map((r) => (r.body as unknown as Payload).type).sort(), [
        'token.created',
        'token.leaked',
        'token.revoked',
      ]);
    });

    it('user.disabled, user.enabled, each once even when repeated', async () => {
      const userId = await app.createUser();
      await app.api('PATCH', `/api/users/${userId}`, { disabled: true });
      await app.api('PATCH', `/api/users/${userId}`, { disabled: true });
      await app.api('PATCH', `/api/users/${userId}`, { disabled: false });
      await expectWebhook(receiver, 'all', (p) => p.type === 'user.enabled' && p.data.user_id === userId);
      await eventsSettled(app);
      const types = (await webhooksAt(receiver, 'all'))
        .map((r) => r.body as unknown as Payload)
        .filter((p) => p.data.user_id === userId && p.type.startsWith('user.'))
        .map((p) => p.type);
      assert.deepEqual(types.sort(), ['user.disabled', 'user.enabled']);
    });

    it('oauth_token.revoked at /revoke (with the token’s introspection jti) and when its client is deleted', async () => {
      const client = await app.api('POST', '/api/clients', { client_name: 'short-lived' });
      const credentials = { clientId: String(client.body.client_id), clientSecret: String(client.body.client_secret) };
      const issue = async () => {
        const res = await app.form(
          '/token',
          { grant_type: 'client_credentials' },
          { Authorization: basic(credentials) },
        );
        return String(res.body.access_token);
      };
      const first = await issue();
      const introspected = await app.introspect(first, credentials);
      assert.equal(introspected.body.active, true);
      const revoked = await app.revoke(first, credentials);
      assert.equal(revoked.status, 200);
      const byRevoke = await expectWebhook(
        receiver,
        'all',
        (p) => p.type === 'oauth_token.revoked' && p.data.token_id === introspected.body.jti,
      );
      assert.equal(byRevoke.data.client_id, credentials.clientId);
      assert.equal(byRevoke.data.reason, 'revocation_endpoint');
      assert.ok(!JSON.stringify(byRevoke).includes(first), 'never the value');
      // Revoking it again (nothing left to revoke) sends nothing.
      await app.revoke(first, credentials);
      await eventsSettled(app);

      await issue();
      assert.equal((await app.api('DELETE', `/api/clients/${credentials.clientId}`)).status, 204);
      const byDeletion = await expectWebhook(
        receiver,
        'all',
        (p) =>
          p.type === 'oauth_token.revoked' &&
          p.data.reason === 'client_deleted' &&
          p.data.client_id === credentials.clientId,
      );
      assert.equal(byDeletion.data.token_id, undefined, 'every token of the client: none named');
      const forClient = (await webhooksAt(receiver, 'all')).filter(
        (r) => (r.body as unknown as Payload).data.client_id === credentials.clientId,
      );
      assert.equal(forClient.length, 2);
    });

    it('an endpoint gets only the event types it asked for', async () => {
      const created = await app.api('POST', '/api/webhooks', {
        url: `${receiver.url}/webhook/revocations`,
        events: ['token.revoked'],
      });
      await receiver.webhook('revocations', String(created.body.secret));
      const userId = await app.createUser();
      const { id } = await app.createPat(userId);
      await app.api('DELETE', `/api/users/${userId}/tokens/${id}`);
      await expectWebhook(receiver, 'revocations', (p) => p.type === 'token.revoked' && p.data.token_id === id);
      await eventsSettled(app);
      const types = new Set(
        (await webhooksAt(receiver, 'revocations')).map((r) => (r.body as unknown as Payload).type),
      );
      assert.deepEqual([...types], ['token.revoked']);
      await app.api('DELETE', `/api/webhooks/${String(created.body.id)}`);
    });

    it('every delivery is signed so that the standardwebhooks library verifies it; a wrong secret fails', async () => {
      const all = await webhooksAt(receiver, 'all');
      assert.ok(all.length > 10);
      assert.ok(
        all.every((r) => r.verified),
        JSON.stringify(all.filter((r) => !r.verified)),
      );
      for (const r of all) {
        assert.match(r.headers!['webhook-id']!, /^evt_[A-Za-z0-9]+$/);
        assert.match(r.headers!['webhook-timestamp']!, /^\d{10}$/);
        assert.match(r.headers!['webhook-signature']!, /^v1,[A-Za-z0-9+/]{43}=$/);
      }
      const created = await app.api('POST', '/api/webhooks', { url: `${receiver.url}/webhook/wrong` });
      await receiver.webhook('wrong', `whsec_${Buffer.alloc(32, 7).toString('base64')}`);
      await app.api('POST', `/api/webhooks/${String(created.body.id)}/test`);
      await eventually(async () => (await webhooksAt(receiver, 'wrong')).length > 0);
      assert.equal((await webhooksAt(receiver, 'wrong'))[0]!.verified, false);
      await app.api('DELETE', `/api/webhooks/${String(created.body.id)}`);
    });
  });
});

import assert from 'node:assert/strict';

import { startApp, type TestApp } from './support/app.ts';
import { eventually } from './support/eventually.ts';

type Row = Record<string, unknown>;
const rows = (body: Row) => body.data as Row[];

describe('token lifecycle through the admin API', () => {
  let app: TestApp;

  before(async () => {
    app = await startApp();
  });
  after(() => app.close());

  describe('users', () => {
    it('lists users newest first with cursor pagination', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        ids.push(await app.createUser());
        app.clock.advance(1);
      }
      const first = await app.api('GET', '/api/users?limit=2');
      assert.equal(first.status, 200);
      assert.deepEqual(
        rows(first.body).map((u) => u.id),
        [ids[2], ids[1]],
      );
      assert.equal(typeof first.body.next_cursor, 'string');
      const second = await app.api('GET', `/api/users?limit=2&cursor=${String(first.body.next_cursor)}`);
      assert.equal(rows(second.body)[0]?.id, ids[0]);
    });

    it('refuses a forged cursor, an unknown or repeated query parameter, naming it', async () => {
      const forged = await app.api('GET', '/api/users?cursor=bm90LWEtY3Vyc29y');
      assert.equal(forged.status, 400);
      assert.match(String(forged.body.error_description), /^cursor: /);
      const unknown = await app.api('GET', '/api/users?sort=asc');
      assert.equal(unknown.status, 400);
      assert.match(String(unknown.body.error_description), /unknown field: sort/);
      const repeated = await app.api('GET', '/api/users?limit=1&limit=2');
      assert.equal(repeated.status, 400);
      assert.match(String(repeated.body.error_description), /^limit: /);
      const tooMany = await app.api('GET', '/api/users?limit=1000');
      assert.equal(tooMany.status, 400);
    });

    it('deletes a user and revokes all of their tokens', async () => {
      const u = await app.createUser();
      const a = await app.createPat(u);
      const b = await app.createPat(u);
      await app.introspect(a.token);
      assert.equal((await app.api('DELETE', `/api/users/${u}`)).status, 204);
      assert.deepEqual((await app.introspect(a.token)).body, { active: false });
      assert.deepEqual((await app.introspect(b.token)).body, { active: false });
      assert.equal((await app.api('GET', `/api/users/${u}`)).status, 404);
      assert.equal((await app.api('DELETE', `/api/users/${u}`)).status, 404);
    });

    it('revokes every live token of a user at once', async () => {
      const u = await app.createUser();
      const tokens = [await app.createPat(u), await app.createPat(u), await app.createPat(u)];
      await app.api('DELETE', `/api/users/${u}/tokens/${tokens[0]!.id}`);
      const res = await app.api('POST', `/api/users/${u}/tokens/revoke-all`);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { revoked: 2 });
      for (const t of tokens) assert.deepEqual((await app.introspect(t.token)).body, { active: false });
    });
  });

  describe('listing and filtering tokens', () => {
    let u: string;
    const ids: Record<string, string> = {};
    before(async () => {
      u = await app.createUser();
      ids.active = (await app.createPat(u, { name: 'active' })).id;
      app.clock.advance(1);
      ids.expiring = (
        await app.createPat(u, { name: 'expiring', expires_at: new Date(Date.now() + 3_600_000).toISOString() })
      ).id;
      app.clock.advance(1);
      ids.revoked = (await app.createPat(u, { name: 'revoked' })).id;
      await app.api('DELETE', `/api/users/${u}/tokens/${ids.revoked}`);
    });

    it('filters by status', async () => {
      app.clock.advance(2 * 3_600_000);
      try {
        const get = async (status: string) =>
          rows((await app.api('GET', `/api/users/${u}/tokens?status=${status}`)).body).map((t) => t.name);
        assert.deepEqual(await get('active'), ['active']);
        assert.deepEqual(await get('expired'), ['expiring']);
        assert.deepEqual(await get('revoked'), ['revoked']);
        assert.deepEqual(await get('all'), ['revoked', 'expiring', 'active']);
        assert.equal((await app.api('GET', `/api/users/${u}/tokens?status=bogus`)).status, 400);
      } finally {
        app.clock.advance(-2 * 3_600_000);
      }
    });

    it('pages through a user’s tokens', async () => {
      const one = await app.api('GET', `/api/users/${u}/tokens?limit=1`);
      assert.deepEqual(
        rows(one.body).map((t) => t.name),
        ['revoked'],
      );
      const two = await app.api('GET', `/api/users/${u}/tokens?limit=1&cursor=${String(one.body.next_cursor)}`);
      assert.deepEqual(
        rows(two.body).map((t) => t.name),
        ['expiring'],
      );
      const three = await app.api('GET', `/api/users/${u}/tokens?limit=5&cursor=${String(two.body.next_cursor)}`);
      assert.deepEqual(
        rows(three.body).map((t) => t.name),
        ['active'],
      );
      assert.equal(three.body.next_cursor, null);
    });

    it('finds tokens across users by user, expiry and last use', async () => {
      const other = await app.createUser();
      const soon = await app.createPat(other, {
        name: 'soon',
        expires_at: new Date(Date.now() + 60_000).toISOString(),
      });
      const used = await app.createPat(other, { name: 'used' });
      await app.introspect(used.token);
      // The use is recorded in the background: wait until it is stored.
      await eventually(
        async () => (await app.api('GET', `/api/users/${other}/tokens/${used.id}`)).body.last_used_at !== null,
      );
      const inOneHour = new Date(Date.now() + 3_600_000).toISOString();

      const expiring = rows((await app.api('GET', `/api/tokens?user_id=${other}&expires_before=${inOneHour}`)).body);
      assert.deepEqual(
        expiring.map((t) => t.id),
        [soon.id],
      );

      const stale = rows(
        (
          await app.api(
            'GET',
            `/api/tokens?user_id=${other}&last_used_before=${new Date(Date.now() - 1000).toISOString()}`,
          )
        ).body,
      );
      assert.deepEqual(
        stale.map((t) => t.id),
        [soon.id],
        'never used counts as stale; just used does not',
      );

      const revoked = rows((await app.api('GET', `/api/tokens?status=revoked&user_id=${u}`)).body);
      assert.deepEqual(
        revoked.map((t) => t.id),
        [ids.revoked],
      );
    });
  });

  describe('one token', () => {
    it('gets a token, and 404s it under another user', async () => {
      const u = await app.createUser();
      const pat = await app.createPat(u, { name: 'mine' });
      const res = await app.api('GET', `/api/users/${u}/tokens/${pat.id}`);
      assert.equal(res.status, 200);
      assert.equal(res.body.name, 'mine');
      assert.equal('token' in res.body, false);
      assert.equal((await app.api('GET', `/api/users/${await app.createUser()}/tokens/${pat.id}`)).status, 404);
    });

    it('renames a token; introspection reports the new name at once', async () => {
      const u = await app.createUser();
      const pat = await app.createPat(u, { name: 'old name' });
      assert.equal((await app.introspect(pat.token)).body.pat_name, 'old name');
      const res = await app.api('PATCH', `/api/users/${u}/tokens/${pat.id}`, {
        name: ' new name ',
        description: 'why',
      });
      assert.equal(res.status, 200);
      assert.equal(res.body.name, 'new name');
      assert.equal(res.body.description, 'why');
      assert.equal((await app.introspect(pat.token)).body.pat_name, 'new name');
    });

    it('refuses to rename onto a live name', async () => {
      const u = await app.createUser();
      await app.createPat(u, { name: 'taken' });
      const pat = await app.createPat(u, { name: 'free' });
      const res = await app.api('PATCH', `/api/users/${u}/tokens/${pat.id}`, { name: 'taken' });
      assert.equal(res.status, 409);
      assert.equal(res.body.error, 'conflict');
    });

    it('brings the expiry earlier, never later, never into the past', async () => {
      const u = await app.createUser();
      const in10d = new Date(Date.now() + 10 * 86_400_000);
      const pat = await app.createPat(u, { expires_at: in10d.toISOString() });
      const earlier = new Date(Date.now() + 86_400_000);
      const ok = await app.api('PATCH', `/api/users/${u}/tokens/${pat.id}`, { expires_at: earlier.toISOString() });
      assert.equal(ok.status, 200);
      assert.equal(ok.body.expires_at, earlier.toISOString());
      assert.equal((await app.introspect(pat.token)).body.exp, Math.floor(earlier.getTime() / 1000));

      const later = await app.api('PATCH', `/api/users/${u}/tokens/${pat.id}`, { expires_at: in10d.toISOString() });
      assert.equal(later.status, 400);
      assert.match(String(later.body.error_description), /^expires_at may only be brought earlier/);
      const past = await app.api('PATCH', `/api/users/${u}/tokens/${pat.id}`, {
        expires_at: new Date(Date.now() - 1000).toISOString(),
      });
      assert.equal(past.status, 400);
      const empty = await app.api('PATCH', `/api/users/${u}/tokens/${pat.id}`, {});
      assert.equal(empty.status, 400);
      const unknown = await app.api('PATCH', `/api/users/${u}/tokens/${pat.id}`, { scopes: ['write'] });
      assert.equal(unknown.status, 400);
      assert.match(String(unknown.body.error_description), /unknown field: scopes/);
    });

    it('refuses to change a revoked token', async () => {
      const u = await app.createUser();
      const pat = await app.createPat(u);
      await app.api('DELETE', `/api/users/${u}/tokens/${pat.id}`);
      const res = await app.api('PATCH', `/api/users/${u}/tokens/${pat.id}`, { name: 'zombie' });
      assert.equal(res.status, 409);
    });
  });

  describe('rotation', () => {
    it('issues a new value under the same id; without grace the old value dies at once', async () => {
      const u = await app.createUser();
      const pat = await app.createPat(u, { name: 'ci' });
      await app.introspect(pat.token); // cached
      const res = await app.api('POST', `/api/users/${u}/tokens/${pat.id}/rotate`, {});
      assert.equal(res.status, 200);
      assert.equal(res.body.id, pat.id);
      assert.equal(res.body.name, 'ci');
      assert.notEqual(res.body.token, pat.token);
      assert.equal(typeof res.body.rotated_at, 'string');
      assert.deepEqual((await app.introspect(pat.token)).body, { active: false });
      const fresh = await app.introspect(String(res.body.token));
      assert.equal(fresh.body.active, true);
      assert.equal(fresh.body.jti, pat.id);
    });

    it('keeps the old value working for grace_seconds, then never again, and audits its use after', async () => {
      const u = await app.createUser();
      const pat = await app.createPat(u);
      const res = await app.api('POST', `/api/users/${u}/tokens/${pat.id}/rotate`, { grace_seconds: 600 });
      assert.equal(res.status, 200);
      assert.equal((await app.introspect(pat.token)).body.active, true, 'old value in its grace period');
      assert.equal((await app.introspect(String(res.body.token))).body.active, true);
      app.clock.advance(601_000);
      try {
        assert.deepEqual((await app.introspect(pat.token)).body, { active: false });
        assert.equal((await app.introspect(String(res.body.token))).body.active, true);
      } finally {
        app.clock.advance(-601_000);
      }
      // Recorded in the background, off the introspection's path.
      let events: Row[] = [];
      await eventually(async () => {
        const audit = await app.api('GET', `/api/audit?token_id=${pat.id}&type=token.rotated_value_presented`);
        events = rows(audit.body);
        return events.length > 0;
      });
      assert.equal(events.length, 1);
      assert.equal(events[0]?.actor, `client:${app.rs.clientId}`);
      assert.equal(events[0]?.via, 'introspection');
    });

    it('ends the grace period at once when the token is revoked', async () => {
      const u = await app.createUser();
      const pat = await app.createPat(u);
      await app.api('POST', `/api/users/${u}/tokens/${pat.id}/rotate`, { grace_seconds: 600 });
      assert.equal((await app.introspect(pat.token)).body.active, true);
      await app.api('DELETE', `/api/users/${u}/tokens/${pat.id}`);
      assert.deepEqual((await app.introspect(pat.token)).body, { active: false });
    });

    it('refuses a grace period over a day and rotating a revoked token', async () => {
      const u = await app.createUser();
      const pat = await app.createPat(u);
      const long = await app.api('POST', `/api/users/${u}/tokens/${pat.id}/rotate`, { grace_seconds: 86_401 });
      assert.equal(long.status, 400);
      assert.match(String(long.body.error_description), /^grace_seconds: /);
      await app.api('DELETE', `/api/users/${u}/tokens/${pat.id}`);
      assert.equal((await app.api('POST', `/api/users/${u}/tokens/${pat.id}/rotate`, {})).status, 409);
    });

    it('leaves exactly one live value after concurrent rotations without grace', async () => {
      const u = await app.createUser();
      const pat = await app.createPat(u);
      const results = await Promise.all(
        Array.from({ length: 6 }, () => app.api('POST', `/api/users/${u}/tokens/${pat.id}/rotate`, {})),
      );
      const values = results.filter((r) => r.status === 200).map((r) => String(r.body.token));
      assert.ok(values.length >= 1);
      for (const r of results) assert.ok(r.status === 200 || r.status === 409, String(r.status));
      const live = [];
      for (const v of [pat.token, ...values]) if ((await app.introspect(v)).body.active === true) live.push(v);
      assert.equal(live.length, 1);
    });

    it('ends revoked, with no live value, when rotations, a rename and a revocation race on one token', async () => {
      const u = await app.createUser();
      for (let round = 0; round < 8; round++) {
        const pat = await app.createPat(u, { name: `race-${round}` });
        const path = `/api/users/${u}/tokens/${pat.id}`;
        const [rotated, renamed, revoked, graced] = await Promise.all([
          app.api('POST', `${path}/rotate`, {}),
          app.api('PATCH', path, { name: `renamed-${round}` }),
          app.api('DELETE', path),
          app.api('POST', `${path}/rotate`, { grace_seconds: 600 }),
        ]);
        assert.equal(revoked.status, 204, 'the revocation always succeeds');
        for (const r of [rotated, renamed, graced]) assert.ok([200, 409].includes(r.status), r.text);
        const values = [
          pat.token,
          ...[rotated, graced].filter((r) => r.status === 200).map((r) => String(r.body.token)),
        ];
        for (const v of values) assert.equal((await app.introspect(v)).body.active, false, `round ${round}`);
        assert.equal((await app.api('GET', path)).body.status, 'revoked');
      }
    });
  });
});

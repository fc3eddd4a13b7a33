import assert from 'node:assert/strict';

import { createTokenCache, type Coverage } from '../server/resource-server/cache.ts';
import type { AccessToken } from '../server/resource-server/claims.ts';
import { effectsOf } from '../server/resource-server/events/set.ts';

/**
 * The resource-server library's cache protocol, as a unit with an injected clock and watermark: when an answer may
 * be served, what an event drops, and the two races it closes. (End to end, against Tokenwarden and its event
 * stream: test/resource-server-events.test.ts.)
 */
describe('resource-server cache protocol', () => {
  let now: number;
  let watermark: number;
  const coverage: Coverage = { coveredUntil: () => watermark, maxLag: 2000 };
  const options = { max: 100, ttl: 300_000, fallbackTtl: 5000 };
  const token = (jti: string, sub: string, exp?: number): AccessToken => ({
    source: 'introspection',
    sub,
    scopes: ['read'],
    clientId: 'personal-access-token',
    jti,
    iss: 'https://tokens.example.com',
    aud: [],
    exp,
    claims: {},
  });
  const cache = () => createTokenCache(options, coverage, () => now);

  beforeEach(() => {
    now = 1_800_000_000_000;
    watermark = -Infinity;
  });

  it('serves an answer of any age below ttl while the subscription is live', () => {
    const c = cache();
    c.set('k', token('tok_1', 'alice'), now, c.epoch(), false);
    for (const step of [1000, 60_000, 200_000]) {
      now += step;
      watermark = now - 500;
      assert.equal(c.get('k')?.jti, 'tok_1', `after ${step} ms more`);
    }
    now += 40_000; // 301 s old
    watermark = now;
    assert.equal(c.get('k'), undefined, 'never beyond ttl');
  });

  it('serves an answer only fallbackTtl long once the watermark is older than maxLag', () => {
    const c = cache();
    watermark = now;
    c.set('k', token('tok_1', 'alice'), now, c.epoch(), false);
    now += 2000; // the watermark is exactly maxLag old: still live
    assert.equal(c.live(), true);
    assert.ok(c.get('k'));
    now += 1; // no longer live; the answer is 2001 ms old, under fallbackTtl
    assert.equal(c.live(), false);
    assert.ok(c.get('k'));
    now += 2998; // 4999 ms old
    assert.ok(c.get('k'));
    now += 1;
    assert.equal(c.get('k'), undefined, 'fallbackTtl reached');
    assert.equal(c.size, 0, 'a stale answer is dropped');
  });

  it('with fallbackTtl 0 serves nothing while the subscription is not live', () => {
    const c = createTokenCache({ ...options, fallbackTtl: 0 }, coverage, () => now);
    c.set('k', token('tok_1', 'alice'), now, c.epoch(), false);
    assert.equal(c.get('k'), undefined);
    watermark = now;
    c.set('k', token('tok_1', 'alice'), now, c.epoch(), false);
    assert.ok(c.get('k'));
  });

  it('never serves an answer past the token exp', () => {
    const c = cache();
    watermark = now;
    c.set('k', token('tok_1', 'alice', Math.floor(now / 1000) + 10), now, c.epoch(), false);
    now += 9999;
    watermark = now;
    assert.ok(c.get('k'));
    now += 1001;
    watermark = now;
    assert.equal(c.get('k'), undefined);
  });

  it('serves a locally verified JWT until its exp whatever the subscription', () => {
    const c = cache();
    c.set('k', token('jti-1', 'alice', Math.floor(now / 1000) + 60), now, c.epoch(), true);
    now += 59_000;
    assert.equal(c.live(), false);
    assert.ok(c.get('k'));
    now += 1000;
    assert.equal(c.get('k'), undefined);
  });

  it('drops every answer with the token id of an event, and only those', () => {
    const c = cache();
    watermark = now;
    c.set('current', token('tok_1', 'alice'), now, c.epoch(), false);
    c.set('rotated-out', token('tok_1', 'alice'), now, c.epoch(), false); // the same token's grace value
    c.set('other', token('tok_2', 'alice'), now, c.epoch(), false);
    c.dropToken('tok_1');
    assert.equal(c.get('current'), undefined);
    assert.equal(c.get('rotated-out'), undefined);
    assert.ok(c.get('other'));
  });

  it('drops every answer of a user for an event without a token', () => {
    const c = cache();
    watermark = now;
    c.set('a1', token('tok_1', 'alice'), now, c.epoch(), false);
    c.set('a2', token('tok_2', 'alice'), now, c.epoch(), false);
    c.set('b', token('tok_3', 'bob'), now, c.epoch(), false);
    c.dropSubject('alice');
    assert.equal(c.get('a1'), undefined);
    assert.equal(c.get('a2'), undefined);
    assert.ok(c.get('b'));
  });

  it('does not cache an answer whose request started before an invalidation (the in-flight race)', () => {
    const c = cache();
    watermark = now;
    const epoch = c.epoch(); // the introspection starts…
    c.dropToken('tok_1'); // …the revocation event arrives while it is in flight…
    c.set('k', token('tok_1', 'alice'), now, epoch, false); // …and its (older) answer comes back
    assert.equal(c.get('k'), undefined);
    // Any invalidation counts, even one about another token: the answer's own jti was unknown when it started.
    const next = c.epoch();
    c.dropSubject('somebody-else');
    c.set('k', token('tok_9', 'carol'), now, next, false);
    assert.equal(c.get('k'), undefined);
  });

  it('keeps its indexes right through eviction (bounded by max)', () => {
    const c = createTokenCache({ ...options, max: 2 }, coverage, () => now);
    watermark = now;
    c.set('a', token('tok_a', 'alice'), now, c.epoch(), false);
    c.set('b', token('tok_b', 'alice'), now, c.epoch(), false);
    c.set('c', token('tok_c', 'alice'), now, c.epoch(), false); // evicts a
    assert.equal(c.size, 2);
    assert.equal(c.get('a'), undefined);
    c.dropSubject('alice');
    assert.equal(c.size, 0);
    c.set('a', token('tok_a', 'bob'), now, c.epoch(), false); // the same key, another subject
    c.dropSubject('alice');
    assert.ok(c.get('a'), 'the key left the old subject index when it was evicted');
  });

  it('clears everything (a new stream, an unreadable event)', () => {
    const c = cache();
    watermark = now;
    c.set('a', token('tok_a', 'alice'), now, c.epoch(), false);
    c.set('b', token('tok_b', 'bob'), now, c.epoch(), true);
    c.clear();
    assert.equal(c.size, 0);
  });

  describe('what an SSF event asks to drop (the contract)', () => {
    const user = { format: 'iss_sub', iss: 'https://tokens.example.com', sub: 'alice' };
    const set = (subId: unknown, type = 'https://schemas.openid.net/secevent/oauth/event-type/token-revoked') =>
      effectsOf({ sub_id: subId, events: { [type]: {} } });

    it('a token subject drops its token, whatever the event type', () => {
      const token = { format: 'opaque', id: 'tok_1' };
      assert.deepEqual(set({ format: 'complex', user, token }), [{ kind: 'token', id: 'tok_1' }]);
      assert.deepEqual(set({ format: 'complex', token }, 'https://example.com/a-type-nobody-knows'), [
        { kind: 'token', id: 'tok_1' },
      ]);
    });

    it('a user subject without a token drops the user', () => {
      assert.deepEqual(set({ format: 'complex', user }), [{ kind: 'subject', sub: 'alice' }]);
      assert.deepEqual(set(user), [{ kind: 'subject', sub: 'alice' }]);
    });

    it('a subject it cannot read drops everything', () => {
      for (const subId of [
        undefined,
        { format: 'email', email: 'alice@example.com' },
        { format: 'complex' },
        { format: 'complex', token: { format: 'opaque' } },
        { format: 'complex', token: { format: 'jwt_id', jti: 'x' }, user },
      ])
        assert.deepEqual(set(subId), [{ kind: 'all' }], JSON.stringify(subId));
    });

    it('verification and stream-updated events concern the stream', () => {
      assert.deepEqual(
        effectsOf({ events: { 'https://schemas.openid.net/secevent/ssf/event-type/verification': { state: 's' } } }),
        [{ kind: 'verification', state: 's' }],
      );
      assert.deepEqual(
        effectsOf({
          events: { 'https://schemas.openid.net/secevent/ssf/event-type/stream-updated': { status: 'paused' } },
        }),
        [{ kind: 'stream', status: 'paused' }],
      );
    });
  });
});

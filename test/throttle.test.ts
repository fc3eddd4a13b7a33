/**
 * The failed-authentication throttle and the client address, as units with an injected clock (no services): the
 * decisions the OAuth endpoints make, without HTTP.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';

import { createAddressResolver } from '../server/introspection/address.ts';
import { createAuthThrottle } from '../server/introspection/throttle.ts';

class Clock {
  ms = Date.UTC(2026, 0, 1);
  now(): Date {
    return new Date(this.nowMs());
  }
  nowMs(): number {
    return this.ms;
  }
}

describe('failed client authentication throttle (unit)', () => {
  it('lets a client fail up to its limit per address, then backs off 1, 2, 4 s…, capped', () => {
    const clock = new Clock();
    const throttle = createAuthThrottle({ perClientAndAddress: 2, perAddress: 1000, clock, maxBackoffSeconds: 8 });
    const waits: number[] = [];
    for (let round = 0; round < 5; round++) {
      clock.ms += 61_000; // a new window each round; the strikes remain
      waits.push(
        throttle.failed('rs', '10.0.0.1'),
        throttle.failed('rs', '10.0.0.1'),
        throttle.failed('rs', '10.0.0.1'),
      );
    }
    assert.deepEqual(waits, [0, 0, 1, 0, 0, 2, 0, 0, 4, 0, 0, 8, 0, 0, 8]);
  });

  it('keeps counts per client and address apart, and forgets a back-off after a success', () => {
    const clock = new Clock();
    const throttle = createAuthThrottle({ perClientAndAddress: 1, perAddress: 1000, clock });
    assert.equal(throttle.failed('rs', '10.0.0.1'), 0);
    assert.equal(throttle.failed('rs', '10.0.0.1'), 1);
    assert.equal(throttle.failed('rs', '10.0.0.2'), 0, 'another address');
    assert.equal(throttle.failed('other', '10.0.0.1'), 0, 'another client');
    throttle.succeeded('rs', '10.0.0.1');
    assert.equal(throttle.failed('rs', '10.0.0.1'), 0, 'a success starts over');
  });

  it('limits failures per address across client ids until the window ends', () => {
    const clock = new Clock();
    const throttle = createAuthThrottle({ perClientAndAddress: 1000, perAddress: 3, clock });
    const waits = [1, 2, 3, 4].map((i) => throttle.failed(`client-${i}`, '10.0.0.9'));
    assert.deepEqual(waits, [0, 0, 0, 60]);
    clock.ms += 30_000;
    assert.equal(throttle.failed(null, '10.0.0.9'), 30, 'unknown clients count too');
    clock.ms += 30_000;
    assert.equal(throttle.failed(null, '10.0.0.9'), 0);
  });

  it('starts a client over after a quiet back-off period', () => {
    const clock = new Clock();
    const throttle = createAuthThrottle({ perClientAndAddress: 1, perAddress: 1000, clock, quietSeconds: 300 });
    throttle.failed('rs', 'a');
    assert.equal(throttle.failed('rs', 'a'), 1);
    clock.ms += 61_000;
    throttle.failed('rs', 'a');
    assert.equal(throttle.failed('rs', 'a'), 2);
    clock.ms += 300_000;
    throttle.failed('rs', 'a');
    assert.equal(throttle.failed('rs', 'a'), 1, 'back to the first back-off');
  });
});

describe('client address (unit)', () => {
  const request = (remoteAddress: string, forwardedFor?: string | string[]) =>
    ({
      socket: { remoteAddress },
      headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor },
    }) as unknown as IncomingMessage;

  it('is the socket address without trusted proxies, whatever X-Forwarded-For says', () => {
    const addressOf = createAddressResolver(0);
    assert.equal(addressOf(request('10.0.0.1', '1.2.3.4')), '10.0.0.1');
  });

  it('is the n-th X-Forwarded-For entry from the right behind n trusted proxies', () => {
    assert.equal(createAddressResolver(1)(request('10.0.0.1', '6.6.6.6, 1.2.3.4')), '1.2.3.4');
    assert.equal(createAddressResolver(2)(request('10.0.0.1', '6.6.6.6, 1.2.3.4, 10.0.0.5')), '1.2.3.4');
    assert.equal(createAddressResolver(2)(request('10.0.0.1', ['6.6.6.6', '1.2.3.4, 10.0.0.5'])), '1.2.3.4');
  });

  it('falls back to the leftmost entry when fewer proxies appended, and to the socket with none', () => {
    assert.equal(createAddressResolver(3)(request('10.0.0.1', '1.2.3.4, 10.0.0.5')), '1.2.3.4');
    assert.equal(createAddressResolver(1)(request('10.0.0.1')), '10.0.0.1');
    assert.equal(createAddressResolver(1)(request('10.0.0.1', ' , ')), '10.0.0.1');
  });
});

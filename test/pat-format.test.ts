import assert from 'node:assert/strict';

import { createPatFormat, patChecksum, randomBase62 } from '../server/services/pat-format.ts';

describe('the PAT value format', () => {
  const format = createPatFormat('pat');

  it('is <prefix>_<36 random base62><6-char base62 CRC32>', () => {
    const value = format.generate();
    assert.match(value, /^pat_[0-9A-Za-z]{42}$/);
    const random = value.slice(4, 40);
    assert.equal(value.slice(40), patChecksum(random));
    assert.ok(format.isWellFormed(value));
  });

  it('carries at least 178 bits of randomness', () => {
    assert.ok(36 * Math.log2(62) >= 178);
    const values = new Set(Array.from({ length: 2000 }, () => format.generate()));
    assert.equal(values.size, 2000);
  });

  it('draws every base62 character, uniformly enough', () => {
    const counts = new Map<string, number>();
    for (const ch of randomBase62(62_000)) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    assert.equal(counts.size, 62);
    for (const n of counts.values()) assert.ok(n > 800 && n < 1200, String(n));
  });

  it('computes the checksum as base62 CRC32 (ISO-HDLC) padded to 6', () => {
    // CRC32("123456789") = 0xCBF43926 = 3421780262 → base62 "3jZRME" (3·62⁵ + 45·62⁴ + 35·62³ + 27·62² + 22·62 + 14).
    assert.equal(patChecksum('123456789'), '3jZRME');
    assert.equal(patChecksum('').length, 6);
  });

  it('rejects a changed character, a wrong length, a foreign prefix or alphabet', () => {
    const value = format.generate();
    const flipped = value.slice(0, 10) + (value[10] === 'a' ? 'b' : 'a') + value.slice(11);
    assert.equal(format.isWellFormed(flipped), false);
    assert.equal(format.isWellFormed(value.slice(0, -1)), false);
    assert.equal(format.isWellFormed(`${value}x`), false);
    assert.equal(format.isWellFormed(`ghp_${value.slice(4)}`), false);
    assert.equal(format.isWellFormed(`${value.slice(0, 20)}-${value.slice(21)}`), false);
    assert.equal(createPatFormat('acme').isWellFormed(value), false);
  });

  it('agrees with the reference check (zlib CRC32, base62 string) for generated values and every kind of change', () => {
    // isWellFormed compares the checksum as a number, with its own CRC32 table: it must accept exactly what the
    // straightforward check accepts. Values come from generate(), whose checksum zlib computes.
    const reference = (v: string) => /^pat_[0-9A-Za-z]{42}$/.test(v) && patChecksum(v.slice(4, 40)) === v.slice(40);
    const characters = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-.~é';
    let accepted = 0;
    for (let i = 0; i < 5000; i++) {
      const value = format.generate();
      assert.ok(format.isWellFormed(value), value);
      const at = 4 + (i % 42);
      const changed = value.slice(0, at) + characters[i % characters.length]! + value.slice(at + 1);
      assert.equal(format.isWellFormed(changed), reference(changed), changed);
      if (reference(changed)) accepted++;
    }
    // Only the unchanged ones (a character replaced by itself) pass: about one in 62.
    assert.ok(accepted > 0 && accepted < 200, String(accepted));
  });

  it('hashes with SHA-256 (hex)', () => {
    assert.equal(format.hash('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

/**
 * The PAT value format, after GitHub's: `<prefix>_<36 random base62 characters><6-character base62 CRC32>`.
 *
 * 36 base62 characters carry 36 × log2(62) ≈ 214 bits of randomness. The checksum is the CRC32 (ISO-HDLC, as
 * zlib) of the 36 random characters, written in base62 and left-padded with `0` to 6 characters. It lets a
 * secret scanner, and our own introspection, reject a mistyped or invented value offline, before any I/O.
 */
import { hash, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** Number of random characters in a PAT value. */
const PAT_RANDOM_LENGTH = 36;
/** Number of checksum characters at the end of a PAT value. */
const PAT_CHECKSUM_LENGTH = 6;
const BASE62 = /^[0-9A-Za-z]+$/;

/** Uniform random base62 string (rejection sampling: bytes ≥ 248 are discarded to avoid modulo bias). */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248) out += ALPHABET[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

function base62(n: number, width: number): string {
  let out = '';
  let rest = n;
  do {
    out = ALPHABET[rest % 62] + out;
    rest = Math.floor(rest / 62);
  } while (rest > 0);
  return out.padStart(width, '0');
}

/** The 6-character checksum of a PAT's random part. */
export function patChecksum(random: string): string {
  return base62(crc32(random), PAT_CHECKSUM_LENGTH);
}

/** Format helpers bound to one prefix. */
export interface PatFormat {
  readonly prefix: string;
  /** A new random PAT value. */
  generate(): string;
  /** True when the value starts with `<prefix>_` (it is then never looked up as another kind of token). */
  hasPrefix(value: string): boolean;
  /** True when the value has the exact length, alphabet and a matching checksum. Pure CPU, no I/O. */
  isWellFormed(value: string): boolean;
  /** Hex SHA-256 of the value: the only form in which a PAT is stored or used as a cache key. */
  hash(value: string): string;
}

/**
 * A public identifier of one value of a PAT, from the hash under which it is stored: which of a token's values (it
 * gets a new one at each rotation) an exchanged access token was issued for (its `pat_vid` claim). A hash of the
 * hash, domain-separated: it reveals nothing of the value (214 random bits) and cannot be presented as anything.
 */
export function valueIdOfHash(tokenHash: string): string {
  return hash('sha256', `tokenwarden value id\u0000${tokenHash}`, 'base64url').slice(0, 22);
}

/** Creates the format for a prefix such as `pat`. */
export function createPatFormat(prefix: string): PatFormat {
  const head = `${prefix}_`;
  const length = head.length + PAT_RANDOM_LENGTH + PAT_CHECKSUM_LENGTH;
  return {
    prefix,
    generate() {
      const random = randomBase62(PAT_RANDOM_LENGTH);
      return `${head}${random}${patChecksum(random)}`;
    },
    hasPrefix: (value) => value.startsWith(head),
    isWellFormed(value) {
      if (value.length !== length || !value.startsWith(head)) return false;
      const body = value.slice(head.length);
      if (!BASE62.test(body)) return false;
      const random = body.slice(0, PAT_RANDOM_LENGTH);
      return patChecksum(random) === body.slice(PAT_RANDOM_LENGTH);
    },
    hash: (value) => hash('sha256', value, 'hex'),
  };
}

/** Public token ids: `tok_` and 20 base62 characters. Distinct in shape and length from any PAT value. */
export const PAT_ID = /^tok_[0-9A-Za-z]{20}$/;

/** A new public token id. */
export function newPatId(): string {
  return `tok_${randomBase62(20)}`;
}

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
/** Each base62 digit's value, by character code. */
const DIGIT = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DIGIT[ALPHABET.charCodeAt(i)] = i;

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

/** CRC32 (ISO-HDLC) table, for {@link crc32OfAscii}. */
const CRC_TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  CRC_TABLE[n] = c;
}

/**
 * zlib's CRC32 of `text[from, to)`, for ASCII text (base62 digits), computed here: on every introspection, this
 * costs a tenth of handing the string to zlib (which first encodes it into a buffer). Values are generated with
 * zlib's own `crc32` ({@link patChecksum}), so every well-formedness test checks one against the other.
 */
function crc32OfAscii(text: string, from: number, to: number): number {
  let c = -1;
  for (let i = from; i < to; i++) c = CRC_TABLE[(c ^ text.charCodeAt(i)) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/** The number a run of base62 digits writes (the caller has checked they are digits). */
function base62Value(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) n = n * 62 + DIGIT[text.charCodeAt(i)]!;
  return n;
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
  const randomEnd = head.length + PAT_RANDOM_LENGTH;
  const shape = new RegExp(
    `^${head.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[0-9A-Za-z]{${PAT_RANDOM_LENGTH + PAT_CHECKSUM_LENGTH}}$`,
  );
  return {
    prefix,
    generate() {
      const random = randomBase62(PAT_RANDOM_LENGTH);
      return `${head}${random}${patChecksum(random)}`;
    },
    hasPrefix: (value) => value.startsWith(head),
    // Runs on every introspection: one regular expression for the shape, then the checksum compared as a number
    // (the same test as comparing `patChecksum(random)` with the last six characters, without building strings).
    isWellFormed(value) {
      if (value.length !== length || !shape.test(value)) return false;
      return crc32OfAscii(value, head.length, randomEnd) === base62Value(value, randomEnd, length);
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

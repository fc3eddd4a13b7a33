/**
 * The shared cache's entry format (Redis key `pat:<sha256 of the value>`, for PATs and OAuth access tokens alike),
 * versioned and authenticated.
 *
 * An entry is `2.<mac>.<body>`: `body` is a marker (`revoked`, `stale`, `unknown`) or the JSON of a live answer (a
 * PAT's, or with `"k":"o"` an OAuth access token's),
 * and `mac` is HMAC-SHA256 (key derived from `SECRET_KEY`) over the Redis key and the body. Binding the key means an
 * entry copied under another token's key does not verify: whoever can write to Redis cannot make a value active,
 * nor move an answer from one token to another. An entry that does not verify (forged, corrupted, or written by an
 * older version) decodes as `untrusted`: the lookup then asks MongoDB and overwrites it.
 */
import type { Keyring } from '../services/keyring.ts';
import type { CachedAnswer, OAuthToken } from './types.ts';

/** The entry format this code writes. */
const CACHE_CODEC_VERSION = '2';

/** A decoded entry. */
export type CacheEntry =
  | { readonly kind: 'revoked' | 'stale' | 'unknown' }
  | { readonly kind: 'live'; readonly live: CachedAnswer; readonly writtenAt: number }
  | { readonly kind: 'untrusted' };

/** Markers: a revocation tombstone, a "read MongoDB" marker around a change, a remembered unknown value. */
export type CacheMarker = 'revoked' | 'stale' | 'unknown';

interface CachedOAuth {
  k: 'o';
  j: string;
  c: string;
  a?: string | undefined;
  s?: string | undefined;
  x: number;
  t: number;
  d?: string | readonly string[] | undefined;
  e?: Readonly<Record<string, unknown>> | undefined;
  w: number;
}

interface CachedPat {
  k?: undefined;
  i: string;
  u: string;
  n: string;
  m: string;
  s: string[];
  r: string | null;
  c: number;
  e: number | null;
  /** When the entry was written (epoch ms, wall clock): compared with the barrier. */
  w: number;
}

const UNTRUSTED: CacheEntry = { kind: 'untrusted' };
const MARKERS = new Set<string>(['revoked', 'stale', 'unknown']);

export interface CacheCodec {
  /** The stored form of a marker under `key`. */
  marker(key: string, marker: CacheMarker): string;
  /** The stored form of a live answer under `key`, stamped with `writtenAtMs`. */
  live(key: string, live: CachedAnswer, writtenAtMs: number): string;
  /** Reads a stored entry found under `key`. */
  decode(key: string, raw: string): CacheEntry;
}

function oauthOf(c: CachedOAuth): OAuthToken {
  return {
    kind: 'oauth',
    jti: c.j,
    clientId: c.c,
    accountId: c.a,
    scope: c.s,
    expiresAt: c.x,
    issuedAt: c.t,
    aud: c.d,
    extra: c.e,
    grantBound: false,
  };
}

/** Creates the codec over the keyring's `cache-mac` keys. */
export function createCacheCodec(keyring: Keyring): CacheCodec {
  const seal = (key: string, body: string) =>
    `${CACHE_CODEC_VERSION}.${keyring.mac('cache-mac', `${key}\n${body}`)}.${body}`;
  return {
    marker: seal,
    live(key, p, writtenAtMs) {
      if (p.kind === 'oauth') {
        const o: CachedOAuth = {
          k: 'o',
          j: p.jti,
          c: p.clientId,
          a: p.accountId,
          s: p.scope,
          x: p.expiresAt,
          t: p.issuedAt,
          d: p.aud,
          e: p.extra,
          w: writtenAtMs,
        };
        return seal(key, JSON.stringify(o));
      }
      const c: CachedPat = {
        i: p.id,
        u: p.userId,
        n: p.username,
        m: p.name,
        s: [...p.scopes],
        r: p.resource,
        c: p.issuedAt,
        e: p.expiresAt,
        w: writtenAtMs,
      };
      return seal(key, JSON.stringify(c));
    },
    decode(key, raw) {
      const first = raw.indexOf('.');
      const second = raw.indexOf('.', first + 1);
      if (first === -1 || second === -1 || raw.slice(0, first) !== CACHE_CODEC_VERSION) return UNTRUSTED;
      const body = raw.slice(second + 1);
      if (!keyring.verify('cache-mac', `${key}\n${body}`, raw.slice(first + 1, second))) return UNTRUSTED;
      if (MARKERS.has(body)) return { kind: body as CacheMarker };
      try {
        const c = JSON.parse(body) as CachedPat | CachedOAuth;
        if (c.k === 'o') return { kind: 'live', writtenAt: c.w, live: oauthOf(c) };
        return {
          kind: 'live',
          writtenAt: c.w,
          live: {
            kind: 'pat',
            id: c.i,
            userId: c.u,
            username: c.n,
            name: c.m,
            scopes: c.s,
            resource: c.r,
            issuedAt: c.c,
            expiresAt: c.e,
            credential: 'current',
          },
        };
      } catch {
        return UNTRUSTED;
      }
    },
  };
}

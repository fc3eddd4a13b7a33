/**
 * Client secret authentication (RFC 6749 §2.3.1: client_secret_basic and client_secret_post) for the
 * introspection fast path, with the same rules as oidc-provider's: either mechanism for a client registered with
 * either method, secrets compared in constant time, expired secrets refused. Anything it cannot decide (another
 * method, a malformed header) is left to oidc-provider, which renders the RFC-shaped error.
 */
import { timingSafeEqual } from 'node:crypto';

import { LRUCache } from 'lru-cache';

import type { OidcPayload, OidcStore } from '../../adapters/types.ts';
import type { Clock } from './clock.ts';

/** The client credentials as presented: from the Authorization header or the body. */
export interface PresentedSecret {
  readonly clientId: string;
  readonly clientSecret: string;
}

/** `authenticated`: the client id; `rejected`: definitely wrong; `undecided`: let oidc-provider handle it. */
export type SecretCheck =
  { readonly outcome: 'authenticated'; readonly clientId: string } | { readonly outcome: 'rejected' | 'undecided' };

export interface SecretAuthenticator {
  authenticate(presented: PresentedSecret): Promise<SecretCheck>;
  /** The same decision without I/O when the client's metadata is in memory; undefined when it is not. */
  authenticateCached(presented: PresentedSecret): SecretCheck | undefined;
}

const REJECTED: SecretCheck = { outcome: 'rejected' };
const UNDECIDED: SecretCheck = { outcome: 'undecided' };
const SECRET_METHODS = new Set(['client_secret_basic', 'client_secret_post']);

/** Where a presented secret is written for the comparison: reused, as every check runs synchronously to its end. */
let scratch = Buffer.alloc(256);

/**
 * Whether `presented` is `expected`, in time that depends on the expected secret's length only (the same guarantee
 * as oidc-provider's own comparison): the presented bytes are written into a scratch buffer of that length and
 * compared with `timingSafeEqual`; the length check comes after the comparison, so no branch depends on content.
 * No hashing and no new buffer (a SHA-256 into a fresh Buffer cost more than a microsecond): this runs on every
 * introspection.
 */
export function secretMatches(expected: Buffer, presented: string): boolean {
  if (scratch.length < expected.length) scratch = Buffer.alloc(expected.length * 2);
  const window = scratch.subarray(0, expected.length);
  window.fill(0);
  window.write(presented, 'utf8');
  const same = timingSafeEqual(window, expected);
  return Buffer.byteLength(presented, 'utf8') === expected.length && same;
}

/** Creates the authenticator over the static clients and the (cached) client store. */
export function createSecretAuthenticator(deps: {
  staticClients: readonly Record<string, unknown>[];
  store: OidcStore;
  /** A synchronous read of the store's in-memory clients, when it has one. */
  peek?: (model: string, id: string) => OidcPayload | undefined;
  clock: Clock;
}): SecretAuthenticator {
  const statics = new Map(deps.staticClients.map((c) => [String(c.client_id), c]));
  /** Registered secrets as bytes, converted once. */
  const expected = new LRUCache<string, Buffer>({ max: 10_000 });
  const decide = (metadata: OidcPayload | undefined, { clientId, clientSecret }: PresentedSecret): SecretCheck => {
    if (!metadata) return UNDECIDED;
    const method =
      typeof metadata.token_endpoint_auth_method === 'string'
        ? metadata.token_endpoint_auth_method
        : 'client_secret_basic';
    if (!SECRET_METHODS.has(method) || typeof metadata.client_secret !== 'string') return UNDECIDED;
    const expiresAt = metadata.client_secret_expires_at;
    if (typeof expiresAt === 'number' && expiresAt !== 0 && expiresAt * 1000 <= deps.clock.now().getTime()) {
      return UNDECIDED;
    }
    let registered = expected.get(metadata.client_secret);
    if (!registered) {
      registered = Buffer.from(metadata.client_secret, 'utf8');
      expected.set(metadata.client_secret, registered);
    }
    return secretMatches(registered, clientSecret) ? { outcome: 'authenticated', clientId } : REJECTED;
  };
  return {
    async authenticate(presented) {
      return decide(
        statics.get(presented.clientId) ?? (await deps.store.find('Client', presented.clientId)),
        presented,
      );
    },
    authenticateCached(presented) {
      const metadata = statics.get(presented.clientId) ?? deps.peek?.('Client', presented.clientId);
      return metadata ? decide(metadata, presented) : undefined;
    },
  };
}

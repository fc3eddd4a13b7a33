/**
 * Client secret authentication (RFC 6749 §2.3.1: client_secret_basic and client_secret_post) for the
 * introspection fast path, with the same rules as oidc-provider's (configured through `server/oidc/provider.ts`):
 * either mechanism for a client registered with either method, the SHA-256 of the presented secret compared in
 * constant time with the stored one, expired secrets refused. Anything it cannot decide (another method, a
 * malformed header) or refuses is left to oidc-provider, which renders the RFC-shaped error and is the one place
 * failed authentications are counted.
 *
 * An authenticated client comes with what introspection needs of its metadata (the resources it serves), built once
 * per metadata object, so a warm request reads nothing more.
 */
import { LRUCache } from 'lru-cache';

import type { CachedOidcStore } from '../../adapters/cached-oidc-store.ts';
import type { OidcPayload, OidcStore } from '../../adapters/types.ts';
import { clientSecretMatches, storedSecretDigest } from '../services/client-secret-hash.ts';
import { RESOURCES_METADATA } from '../services/clients.ts';
import type { Clock } from '../services/clock.ts';
import { introspectionClientOf, type IntrospectionClient } from './introspect.ts';

/** The client credentials as presented: from the Authorization header or the body. */
export interface PresentedSecret {
  readonly clientId: string;
  readonly clientSecret: string;
}

/** `authenticated`: the client; `rejected`: definitely wrong; `undecided`: let oidc-provider handle it. */
export type SecretCheck =
  | { readonly outcome: 'authenticated'; readonly client: IntrospectionClient }
  | { readonly outcome: 'rejected' | 'undecided' };

export interface SecretAuthenticator {
  /** `header`: the `Authorization` header the secret came from, remembered once it authenticates. */
  authenticate(presented: PresentedSecret, header?: string): Promise<SecretCheck>;
  /** The same decision without I/O when the client's metadata is in memory; undefined when it is not. */
  authenticateCached(presented: PresentedSecret, header?: string): SecretCheck | undefined;
  /**
   * The decision for an `Authorization` header that authenticated before, while its client's metadata is the very
   * same (no secret changed, no client deleted or reloaded) and its secret has not expired; undefined otherwise.
   * A resource server sends the same header on every introspection: this skips decoding it and hashing the secret
   * again, and is exactly as strict (only a full successful check is remembered).
   *
   * `connection` (the request's socket): the header is also remembered per keep-alive connection, so the next
   * request on it that sends the very same header is recognised by comparing the two strings, without hashing the
   * header for a lookup. Either way the client is checked to be unchanged first.
   */
  remembered(header: string, connection?: object): Authenticated | undefined;
}

type Authenticated = Extract<SecretCheck, { outcome: 'authenticated' }>;

const REJECTED: SecretCheck = { outcome: 'rejected' };
const UNDECIDED: SecretCheck = { outcome: 'undecided' };
const SECRET_METHODS = new Set(['client_secret_basic', 'client_secret_post']);

/** Creates the authenticator over the static clients and the (cached) client store. */
export function createSecretAuthenticator(deps: {
  staticClients: readonly Record<string, unknown>[];
  store: OidcStore;
  /**
   * The store's in-memory clients, when it has them (`adapters/cached-oidc-store.ts`): a synchronous read, and the
   * generation that says whether anything read from it may have changed since.
   */
  cached?: Pick<CachedOidcStore, 'peekEntry' | 'generation'>;
  clock: Clock;
}): SecretAuthenticator {
  const statics = new Map(
    deps.staticClients.map((c) => [String(c.client_id), { payload: c, freshUntil: Infinity }] as const),
  );
  const generation = deps.cached ? () => deps.cached!.generation() : () => 0;
  const currentEntry = (clientId: string) => statics.get(clientId) ?? deps.cached?.peekEntry('Client', clientId);
  const current = (clientId: string) => currentEntry(clientId)?.payload;
  /**
   * A header that authenticated: the metadata object it authenticated against (compared by identity), and until
   * when (`freshUntil`) and as of which client-cache generation that object was known to be the current one.
   */
  interface Remembered {
    readonly check: Authenticated;
    readonly metadata: OidcPayload;
    freshUntil: number;
    generation: number;
  }
  const headers = new LRUCache<string, Remembered>({ max: 1000 });
  /** Per keep-alive connection, the last header it authenticated with (see `remembered`). */
  const connections = new WeakMap<object, { readonly header: string; readonly entry: Remembered }>();
  const expired = (metadata: OidcPayload, nowMs: number) => {
    const expiresAt = metadata.client_secret_expires_at;
    return typeof expiresAt === 'number' && expiresAt !== 0 && expiresAt * 1000 <= nowMs;
  };
  /**
   * Whether a remembered header's client is still the very metadata it authenticated against, with an unexpired
   * secret. Looked up again only when the client cache may have changed since (its generation moved) or its entry
   * has aged out: on every other request, two comparisons.
   */
  const stillCurrent = (entry: Remembered): boolean => {
    const nowMs = deps.clock.nowMs();
    const now = generation();
    if (entry.generation !== now || nowMs >= entry.freshUntil) {
      const found = currentEntry(entry.check.client.clientId);
      if (!found || found.payload !== entry.metadata) return false;
      entry.generation = now;
      entry.freshUntil = found.freshUntil;
    }
    return !expired(entry.metadata, nowMs);
  };
  /** Stored secrets' digests, decoded once. */
  const digests = new LRUCache<string, Buffer>({ max: 10_000 });
  /** The answer for a client that authenticated, once per metadata object (a changed client is a new object). */
  const authenticated = new WeakMap<object, SecretCheck>();
  const success = (metadata: OidcPayload, clientId: string): SecretCheck => {
    let check = authenticated.get(metadata);
    if (!check) {
      check = { outcome: 'authenticated', client: introspectionClientOf(clientId, metadata[RESOURCES_METADATA]) };
      authenticated.set(metadata, check);
    }
    return check;
  };
  const decide = (metadata: OidcPayload | undefined, { clientId, clientSecret }: PresentedSecret): SecretCheck => {
    if (!metadata) return UNDECIDED;
    const method =
      typeof metadata.token_endpoint_auth_method === 'string'
        ? metadata.token_endpoint_auth_method
        : 'client_secret_basic';
    if (!SECRET_METHODS.has(method) || typeof metadata.client_secret !== 'string') return UNDECIDED;
    if (expired(metadata, deps.clock.nowMs())) return UNDECIDED;
    let digest = digests.get(metadata.client_secret);
    if (!digest) {
      const decoded = storedSecretDigest(metadata.client_secret);
      if (!decoded) return UNDECIDED;
      digest = decoded;
      digests.set(metadata.client_secret, digest);
    }
    return clientSecretMatches(digest, clientSecret) ? success(metadata, clientId) : REJECTED;
  };
  const decideAndRemember = (metadata: OidcPayload | undefined, presented: PresentedSecret, header?: string) => {
    const check = decide(metadata, presented);
    if (header !== undefined && metadata && check.outcome === 'authenticated') {
      // Not yet known to be the cached client (it may come straight from the store): checked on first use.
      headers.set(header, { check, metadata, freshUntil: 0, generation: -1 });
    }
    return check;
  };
  return {
    async authenticate(presented, header) {
      const metadata =
        statics.get(presented.clientId)?.payload ?? (await deps.store.find('Client', presented.clientId));
      return decideAndRemember(metadata, presented, header);
    },
    authenticateCached(presented, header) {
      const metadata = current(presented.clientId);
      return metadata ? decideAndRemember(metadata, presented, header) : undefined;
    },
    remembered(header, connection) {
      const last = connection && connections.get(connection);
      let entry: Remembered | undefined;
      if (last && last.header === header) entry = last.entry;
      else {
        entry = headers.get(header);
        if (!entry) return undefined;
        if (connection) connections.set(connection, { header, entry });
      }
      if (stillCurrent(entry)) return entry.check;
      if (headers.peek(header) === entry) headers.delete(header);
      if (connection) connections.delete(connection);
      return undefined;
    },
  };
}

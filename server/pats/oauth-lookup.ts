/**
 * OAuth access tokens (issued by `/token`) answered at PAT speed: the same in-process and shared caches, the same
 * protocol (`cache-protocol.ts`), in front of oidc-provider's own models (`find`, injected by the composition root).
 * A token's cache key is the hash its store keeps it under (never its value), so a client's tokens can be found and
 * invalidated when the client is deleted.
 *
 * What ends an OAuth token ends its cached answer before the answer to that request leaves, on every instance (the
 * shared entry), and within a second in every instance's memory (the broadcast): `/revoke` (the store's destroy is
 * bracketed by {@link OAuthLookup.beforeDestroy} and {@link OAuthLookup.afterDestroy}), deleting its client
 * ({@link OAuthLookup.clientRemoved}), and expiry (no entry outlives the token, and every hit checks `exp`).
 */
import { storedOidcId } from '../../adapters/hashed-oidc-store.ts';
import type { Clock } from '../services/clock.ts';
import type { PatCache } from './cache-protocol.ts';
import type { LookupLayer } from './lookup.ts';
import type { CachedAnswer, OAuthToken } from './types.ts';

export interface OAuthLookup {
  /** The answer when the in-process layer has it (no I/O); undefined when it has not. */
  lookupCached(value: string): OAuthToken | null | undefined;
  /** The active token behind `value`, asked by an authenticated client, or null. Rejects on storage outage. */
  lookup(value: string, clientId: string): Promise<OAuthToken | null>;
  /** Before a token is destroyed (revoked): its entries become "read MongoDB" markers everywhere. */
  beforeDestroy(value: string): Promise<void>;
  /** After a token is destroyed: `revoked` markers, then the broadcast. */
  afterDestroy(value: string): Promise<void>;
  /**
   * Around deleting a client: `hashes` are the storage keys of its tokens. Called before the client is deleted
   * (markers) and after (tombstones), so none of its tokens is answered from a cache once the deletion returns.
   */
  clientRemoved(hashes: readonly string[], phase: 'before' | 'after'): Promise<void>;
}

export interface OAuthLookupDeps {
  readonly cache: PatCache;
  /** oidc-provider's token, found in its models with its rules (client still exists, grant intact), or null. */
  readonly find: (value: string, clientId: string) => Promise<OAuthToken | null>;
  readonly clock: Clock;
  readonly onLayer?: (layer: LookupLayer) => void;
}

/** The cache key of an OAuth token: the hash its store keeps it under. */
export const oauthCacheKey = (value: string): string => storedOidcId('AccessToken', value);

const oauthOf = (answer: CachedAnswer | null): OAuthToken | null => (answer?.kind === 'oauth' ? answer : null);

/** Creates the lookup. */
export function createOAuthLookup(deps: OAuthLookupDeps): OAuthLookup {
  const { cache, clock } = deps;
  const layer = deps.onLayer ?? (() => undefined);
  const expired = (token: OAuthToken) => token.expiresAt * 1000 <= clock.nowMs();

  function fromMemory(hash: string): OAuthToken | null | undefined {
    const hot = cache.memory(hash);
    if (!hot) return undefined;
    layer('memory');
    const token = oauthOf(hot.live);
    return token && !expired(token) ? token : null;
  }

  return {
    lookupCached: (value) => fromMemory(oauthCacheKey(value)),

    async lookup(value, clientId) {
      const hash = oauthCacheKey(value);
      const hot = fromMemory(hash);
      if (hot !== undefined) return hot;
      const epoch = cache.epoch();
      const shared = await cache.shared(hash);
      if (shared.kind === 'revoked' || shared.kind === 'unknown') {
        layer('redis');
        cache.keep(hash, null, epoch);
        return null;
      }
      if (shared.kind === 'live') {
        layer('redis');
        const token = oauthOf(shared.live);
        if (!token || expired(token)) return null;
        cache.keep(hash, token, epoch);
        return token;
      }
      layer('database');
      const found = await deps.find(value, clientId);
      await cache.remember(hash, shared, found ? { kind: 'live', live: found } : { kind: 'unknown' }, epoch);
      return found;
    },

    beforeDestroy: (value) => cache.pointAtDatabase([oauthCacheKey(value)]),
    afterDestroy: (value) => cache.invalidate([oauthCacheKey(value)], 'revoked'),
    clientRemoved: (hashes, phase) =>
      phase === 'before' ? cache.pointAtDatabase(hashes) : cache.invalidate(hashes, 'revoked'),
  };
}

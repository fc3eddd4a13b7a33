/**
 * oidc-provider's tokens kept by a hash of their value, never the value. oidc-provider keys every model by an id
 * that, for tokens, is the bearer credential itself (an opaque access token's value is its `jti`). Stored as is, a
 * read of the database would hand out working credentials. This wrapper, in front of any {@link OidcStore}, keys
 * every model but `Client` by the SHA-256 of its id and keeps the payload's `jti` out of the stored copy (it is the
 * id again, so it is put back on the way out). `userCode` lookups (device flow) are hashed the same way.
 *
 * Clients are keyed by their public client id (listed by the admin API); their secrets are hashed by the client
 * service before they reach the store.
 */
import { hash } from 'node:crypto';

import type { HashedOidcStore, OidcPayload, OidcStore } from './types.ts';

/** Models keyed by a public identifier rather than a credential. */
const PUBLIC_IDS = new Set(['Client']);
/**
 * Models whose payload keeps its `jti`: oidc-provider also finds sessions by `uid`, and then needs the id from the
 * payload. Sessions exist only with the development sign-in, which production refuses; their key is hashed still.
 */
const KEEP_JTI = new Set(['Session']);

/** The key under which a payload of `model` with id `id` is stored. */
export function storedOidcId(model: string, id: string): string {
  return PUBLIC_IDS.has(model) ? id : hash('sha256', id, 'base64url');
}

/** The payload as stored: without its `jti` when that is the id (the credential), device user codes hashed. */
export function storedOidcPayload(model: string, id: string, payload: OidcPayload): OidcPayload {
  let stored: OidcPayload = payload;
  if (!PUBLIC_IDS.has(model) && !KEEP_JTI.has(model) && payload.jti === id) {
    const { jti: _, ...rest } = payload;
    stored = { ...rest, jtiStripped: true };
  }
  if (typeof stored.userCode === 'string') stored = { ...stored, userCode: hash('sha256', stored.userCode, 'hex') };
  return stored;
}

/** Wraps `store` so that it only ever sees hashed ids. */
export function createHashedOidcStore(store: OidcStore): HashedOidcStore {
  const restore = (id: string, payload: OidcPayload | undefined): OidcPayload | undefined =>
    payload && payload.jti === undefined && payload.jtiStripped === true
      ? (({ jtiStripped: _, ...rest }) => ({ ...rest, jti: id }))(payload)
      : payload;
  const hashed = (model: string, id: string) => storedOidcId(model, id);
  return {
    upsert: (model, id, payload, expiresIn) =>
      store.upsert(model, hashed(model, id), storedOidcPayload(model, id, payload), expiresIn),
    find: async (model, id) => restore(id, await store.find(model, hashed(model, id))),
    findByUid: (model, uid) => store.findByUid(model, uid),
    findByUserCode: (model, userCode) => store.findByUserCode(model, hash('sha256', userCode, 'hex')),
    consume: (model, id) => store.consume(model, hashed(model, id)),
    destroy: (model, id) => store.destroy(model, hashed(model, id)),
    revokeByGrantId: (model, grantId) => store.revokeByGrantId(model, grantId),
    list: (model) => store.list(model),
    existsStored: async (model, storedId) => (await store.find(model, storedId)) !== undefined,
    // The ids the inner store holds are the hashes already.
    tokenIdsOfClient: (clientId) => store.tokenIdsOfClient(clientId),
  };
}

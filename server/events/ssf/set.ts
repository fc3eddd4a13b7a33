/**
 * Security Event Tokens (RFC 8417) as SSF 1.0 §4.1 profiles them: a JWS signed with the server's own signing key
 * (the first of `stores.jwks`, the keys `/jwks` publishes), header `typ: secevent+jwt`, claims `iss`, `aud` (the
 * receiver's client id), `iat`, `jti` (the event id: the same for every retry, so receivers de-duplicate by it),
 * `txn`, `sub_id` and `events` with exactly one event type; never `sub` or `exp` (SSF §4.1.3, §4.1.8).
 */
import { importJWK, SignJWT, type JWK } from 'jose';

import type { LifecycleEvent } from '../../../adapters/types.ts';
import type { SsfEvent } from './mapping.ts';

/** Signs SETs. */
export interface SetSigner {
  sign(event: LifecycleEvent, ssf: SsfEvent, audience: string, issuedAt: Date): Promise<string>;
}

/** The signer over the server's first signing key, with its JWS algorithm (`signingAlgOf`). */
export function createSetSigner(deps: {
  readonly issuer: string;
  readonly key: Readonly<Record<string, unknown>>;
  readonly alg: string;
}): SetSigner {
  let imported: ReturnType<typeof importJWK> | undefined;
  const kid = typeof deps.key.kid === 'string' ? deps.key.kid : undefined;
  return {
    async sign(event, ssf, audience, issuedAt) {
      imported ??= importJWK(deps.key as JWK, deps.alg);
      return new SignJWT({
        iss: deps.issuer,
        aud: audience,
        iat: Math.floor(issuedAt.getTime() / 1000),
        jti: event.id,
        txn: event.txn,
        sub_id: ssf.subId,
        events: { [ssf.type]: ssf.claims },
      })
        .setProtectedHeader({ alg: deps.alg, typ: 'secevent+jwt', ...(kid === undefined ? {} : { kid }) })
        .sign(await imported);
    },
  };
}

/**
 * Security Event Tokens (RFC 8417) as Tokenwarden sends them (see the SSF contract): verifying one, and reading
 * what it means for the cache.
 *
 * A SET is a JWS with `typ: secevent+jwt`, signed with the issuer's keys, with `iss` (the issuer), `aud` (this
 * resource server's client id), `iat`, `jti`, `sub_id` and `events`. The contract's subject is complex:
 * `{"format": "complex", "user": {"format": "iss_sub", …, "sub"}, "token": {"format": "opaque", "id"}}`. Whatever
 * the event type, a SET with a `token` drops the answers whose `jti` is its id; one with only a `user` drops the
 * answers whose `sub` is its `sub`; one whose subject cannot be read drops everything (so that no new event type
 * or subject shape can leave a revoked token cached). SSF's verification and stream-updated events concern the
 * stream itself.
 */
import { errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';

import { ASYMMETRIC_ALGORITHMS, keysUnavailable } from '../jwt.ts';

/** SSF 1.0 §8.1.4.1. */
export const VERIFICATION_EVENT = 'https://schemas.openid.net/secevent/ssf/event-type/verification';
/** SSF 1.0 §8.1.5. */
export const STREAM_UPDATED_EVENT = 'https://schemas.openid.net/secevent/ssf/event-type/stream-updated';

/** What one event asks of the receiver. */
export type Effect =
  | { readonly kind: 'token'; readonly id: string }
  | { readonly kind: 'subject'; readonly sub: string }
  | { readonly kind: 'all' }
  | { readonly kind: 'verification'; readonly state: string | undefined }
  | { readonly kind: 'stream'; readonly status: string };

/** RFC 8935 §2.4 / RFC 8936 §2.4 error codes for a SET the receiver cannot accept. */
export type SetErrorCode =
  'invalid_request' | 'invalid_key' | 'invalid_issuer' | 'invalid_audience' | 'authentication_failed';

/** A SET that cannot be accepted, with the RFC 8935 error to report for it. */
export class SetError extends Error {
  constructor(
    readonly err: SetErrorCode,
    readonly description: string,
  ) {
    super(description);
    this.name = 'SetError';
  }
}

/** The keys could not be fetched: the SET is neither accepted nor refused (it will be delivered again). */
export class SetKeysUnavailable extends Error {
  constructor(options: { cause: unknown }) {
    super('the transmitter keys (jwks_uri) could not be fetched', options);
    this.name = 'SetKeysUnavailable';
  }
}

const object = (value: unknown): Readonly<Record<string, unknown>> | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;

/**
 * Verifies a SET's signature and claims. Throws {@link SetError} for a SET to refuse, {@link SetKeysUnavailable}
 * when the keys cannot be had.
 */
export async function verifySet(
  jws: string,
  keys: JWTVerifyGetKey,
  expected: { readonly issuer: string; readonly audience: string },
): Promise<JWTPayload> {
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(jws, keys, {
      issuer: expected.issuer,
      audience: expected.audience,
      typ: 'secevent+jwt',
      algorithms: ASYMMETRIC_ALGORITHMS,
      requiredClaims: ['iat', 'jti'],
    }));
  } catch (error) {
    if (error instanceof errors.JWTClaimValidationFailed) {
      if (error.claim === 'iss') throw new SetError('invalid_issuer', 'the SET is from another issuer');
      if (error.claim === 'aud') throw new SetError('invalid_audience', 'the SET is for another receiver');
      throw new SetError('invalid_request', `the SET's ${error.claim} claim is invalid`);
    }
    if (error instanceof errors.JWKSNoMatchingKey) throw new SetError('invalid_key', 'no key matches the SET');
    if (error instanceof errors.JWSSignatureVerificationFailed)
      throw new SetError('authentication_failed', 'the SET signature does not verify');
    if (keysUnavailable(error)) throw new SetKeysUnavailable({ cause: error });
    throw new SetError('invalid_request', 'the SET is not a valid signed JWT of type secevent+jwt');
  }
  if (object(payload.events) === undefined || Object.keys(payload.events as object).length === 0)
    throw new SetError('invalid_request', 'the SET has no events');
  return payload;
}

/** What a complex or simple subject identifier (RFC 9493) asks to drop. */
function subjectEffect(subject: Readonly<Record<string, unknown>> | undefined): Effect {
  if (subject === undefined) return { kind: 'all' };
  if (subject.format === 'complex') {
    const token = object(subject.token);
    if (token !== undefined) {
      return token.format === 'opaque' && typeof token.id === 'string' && token.id !== ''
        ? { kind: 'token', id: token.id }
        : { kind: 'all' };
    }
    return subjectEffect(object(subject.user));
  }
  if (subject.format === 'iss_sub' && typeof subject.sub === 'string' && subject.sub !== '')
    return { kind: 'subject', sub: subject.sub };
  return { kind: 'all' };
}

/** The effects of a verified SET's events (the contract sends one event per SET; more are each applied). */
export function effectsOf(payload: JWTPayload): Effect[] {
  const effects: Effect[] = [];
  for (const [type, value] of Object.entries(object(payload.events) ?? {})) {
    const event = object(value) ?? {};
    if (type === VERIFICATION_EVENT) {
      effects.push({ kind: 'verification', state: typeof event.state === 'string' ? event.state : undefined });
    } else if (type === STREAM_UPDATED_EVENT) {
      effects.push({ kind: 'stream', status: typeof event.status === 'string' ? event.status : 'unknown' });
    } else {
      // SSF 1.0 puts the subject in `sub_id`; older CAEP/RISC events carry it in the event as `subject`.
      effects.push(subjectEffect(object(payload.sub_id) ?? object(event.subject)));
    }
  }
  return effects;
}

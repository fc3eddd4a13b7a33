/**
 * Lifecycle events as Shared Signals (SSF 1.0) events: which CAEP 1.0 or RISC 1.0 event type each one is, its
 * event claims, and its subject.
 *
 * | Tokenwarden event        | SSF event type                                              | why |
 * | ------------------------ | ----------------------------------------------------------- | --- |
 * | `token.revoked`          | CAEP `credential-change`, `change_type: revoke`             | a PAT is a credential; revoked is CAEP's own word |
 * | `token.rotated`          | CAEP `credential-change`, `change_type: update`             | the credential's value changed; the old value's grace end is `previous_value_valid_until` |
 * | `token.leaked`           | RISC `credential-compromise`                                | exactly this: the credential was found compromised (its revocation follows as `credential-change` with the same `txn`) |
 * | `token.expiry_shortened` | CAEP `token-claims-change`, `claims: {exp}`                 | a claim introspection reports (`exp`) changed |
 * | `user.disabled`          | RISC `account-disabled`                                     | the account, identified as introspection's `sub` |
 * | `user.enabled`           | RISC `account-enabled`                                      | its counterpart |
 * | `user.deleted`           | RISC `account-purged`                                       | permanently deleted (the id is never reused) |
 * | `oauth_token.revoked`    | CAEP `credential-change`, `change_type: revoke`             | an OAuth access token is a credential as a PAT is; deleting a client revokes all of its tokens (no `token` then: the subject is the client, introspection's `sub` of its tokens) |
 *
 * `credential_type` is `personal-access-token` or `oauth-access-token`: CAEP lists a few types "or any other
 * credential type supported mutually", and none of its list (password, x509, fido2, …) is a bearer token. Every
 * event has `event_timestamp` and `initiating_entity` (CAEP §2): `admin` for the admin API, `user` for self-service,
 * `policy` for a leak report and the inactive-token policy (a policy acts), `system` for `/revoke` and the rest.
 * Created, expiring and expired tokens are not sent over SSF (no revocation to act on; an expired token's cached
 * answer ends by its own `exp`); no Tokenwarden-specific event type was needed.
 *
 * The subject (`sub_id`) is identified as introspection identifies it: a complex subject with `user`
 * (`iss_sub`: the issuer, and the user id introspection reports as `sub`) and `token` (`opaque`: the `jti`
 * introspection reports, `tok_…` or `at_…`); `token` is absent for user-wide events, `user` for tokens without a user
 * (client credentials), which carry `application` (`opaque`: the client id) instead.
 */
import type { JsonValue, LifecycleEvent } from '../../../adapters/types.ts';
import { SSF_VERIFICATION } from '../catalogue.ts';

const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';
const RISC = 'https://schemas.openid.net/secevent/risc/event-type/';

/** The SSF event type URIs Tokenwarden sends. */
export const SSF_EVENTS = {
  credentialChange: `${CAEP}credential-change`,
  tokenClaimsChange: `${CAEP}token-claims-change`,
  credentialCompromise: `${RISC}credential-compromise`,
  accountDisabled: `${RISC}account-disabled`,
  accountEnabled: `${RISC}account-enabled`,
  accountPurged: `${RISC}account-purged`,
  /** SSF 1.0 §8.1.4; sent on request to one stream, whatever it requested. */
  verification: 'https://schemas.openid.net/secevent/ssf/event-type/verification',
} as const;

/** Every type a stream may request (`events_supported`): all but verification. */
export const SSF_SUPPORTED: readonly string[] = [
  SSF_EVENTS.credentialChange,
  SSF_EVENTS.tokenClaimsChange,
  SSF_EVENTS.credentialCompromise,
  SSF_EVENTS.accountDisabled,
  SSF_EVENTS.accountEnabled,
  SSF_EVENTS.accountPurged,
];

/** An event as a SET carries it: its one type, the event claims, the subject, the transaction. */
export interface SsfEvent {
  readonly type: string;
  readonly claims: Readonly<Record<string, JsonValue>>;
  readonly subId: Readonly<Record<string, JsonValue>>;
}

const str = (v: JsonValue | undefined): string | null => (typeof v === 'string' ? v : null);
const seconds = (iso: string | null): number | null => (iso === null ? null : Math.floor(Date.parse(iso) / 1000));

function initiatingEntity(via: string | null, reason: string | null): string {
  if (reason === 'leaked' || reason === 'inactive' || via === 'credential_revocation') return 'policy';
  if (via === 'admin_api') return 'admin';
  if (via === 'self_service') return 'user';
  return 'system';
}

const REASONS: Readonly<Record<string, string>> = {
  revoked: 'revoked',
  revoke_all: 'revoked with all of its user’s tokens',
  user_deleted: 'revoked: its user was deleted',
  leaked: 'revoked: reported leaked',
  inactive: 'revoked: unused for longer than the inactive-token policy allows',
  creation_failed: 'withdrawn: its creation failed',
  revocation_endpoint: 'revoked at the revocation endpoint',
  client_deleted: 'revoked: its client was deleted',
};

function subjectOf(event: LifecycleEvent, issuer: string): Record<string, JsonValue> {
  const data = event.data;
  const userId = str(data.user_id);
  const tokenId = str(data.token_id);
  const clientId = event.type === 'oauth_token.revoked' ? str(data.client_id) : null;
  // A client's own tokens (client credentials) name the client as their `sub` in introspection.
  const sub = userId ?? (tokenId === null ? clientId : null);
  return {
    format: 'complex',
    ...(sub === null ? {} : { user: { format: 'iss_sub', iss: issuer, sub } }),
    ...(tokenId === null ? {} : { token: { format: 'opaque', id: tokenId } }),
    ...(clientId === null ? {} : { application: { format: 'opaque', id: clientId } }),
  };
}

/** The SSF form of a lifecycle event, or null when it is not sent over SSF. */
export function toSsfEvent(event: LifecycleEvent, issuer: string): SsfEvent | null {
  const data = event.data;
  if (event.type === SSF_VERIFICATION) {
    const state = str(data.state);
    return {
      type: SSF_EVENTS.verification,
      claims: state === null ? {} : { state },
      subId: { format: 'opaque', id: str(data.stream_id) ?? '' },
    };
  }
  const common = {
    event_timestamp: Math.floor(event.at.getTime() / 1000),
    initiating_entity: initiatingEntity(str(data.via), str(data.reason)),
  };
  const reason = str(data.reason);
  const text = reason === null ? undefined : REASONS[reason];
  const because: Record<string, JsonValue> = text === undefined ? {} : { reason_admin: { en: text } };
  const subId = subjectOf(event, issuer);
  switch (event.type) {
    case 'token.revoked':
      return {
        type: SSF_EVENTS.credentialChange,
        claims: { ...common, credential_type: 'personal-access-token', change_type: 'revoke', ...because },
        subId,
      };
    case 'token.rotated': {
      const graceEnd = seconds(str(data.previous_value_valid_until));
      return {
        type: SSF_EVENTS.credentialChange,
        claims: {
          ...common,
          credential_type: 'personal-access-token',
          change_type: 'update',
          ...(graceEnd === null ? {} : { previous_value_valid_until: graceEnd }),
        },
        subId,
      };
    }
    case 'token.leaked':
      return {
        type: SSF_EVENTS.credentialCompromise,
        claims: { ...common, credential_type: 'personal-access-token', reason_admin: { en: 'reported leaked' } },
        subId,
      };
    case 'token.expiry_shortened':
      return {
        type: SSF_EVENTS.tokenClaimsChange,
        claims: { ...common, claims: { exp: seconds(str(data.expires_at)) } },
        subId,
      };
    case 'user.disabled':
      return { type: SSF_EVENTS.accountDisabled, claims: common, subId };
    case 'user.enabled':
      return { type: SSF_EVENTS.accountEnabled, claims: common, subId };
    case 'user.deleted':
      return { type: SSF_EVENTS.accountPurged, claims: common, subId };
    case 'oauth_token.revoked':
      return {
        type: SSF_EVENTS.credentialChange,
        claims: { ...common, credential_type: 'oauth-access-token', change_type: 'revoke', ...because },
        subId,
      };
    default:
      return null;
  }
}

/** The SSF event type a lifecycle event type maps to, for the fan-out (null: not sent over SSF). */
export function ssfTypeOf(event: LifecycleEvent): string | null {
  return toSsfEvent(event, '')?.type ?? null;
}

/**
 * The audit log: who did what to which token or user, and how. Never a token value or hash. Stored in MongoDB
 * (or memory, embedded) and listed newest first.
 */
import type { AuditEvent, AuditQuery, AuditStore, Cursor } from '../../adapters/types.ts';
import type { Clock } from './clock.ts';
import { randomBase62 } from './pat-format.ts';

/** Event types, stable strings. */
export const AUDIT_TYPES = [
  'token.created',
  'token.renamed',
  'token.description_changed',
  'token.expiry_shortened',
  'token.rotated',
  'token.revoked',
  'token.rotated_value_presented',
  'user.created',
  'user.disabled',
  'user.enabled',
  'user.deleted',
] as const;
export type AuditType = (typeof AUDIT_TYPES)[number];

/** Who acts, and through which door: recorded with every event. */
export interface Actor {
  /** `admin:<client_id>`, `user:<user_id>`, `client:<client_id>` or `system`. */
  readonly id: string;
  /** `admin_api`, `self_service`, `revocation_endpoint`, `credential_revocation`, `introspection`. */
  readonly via: 'admin_api' | 'self_service' | 'revocation_endpoint' | 'credential_revocation' | 'introspection';
}

export interface AuditService {
  record(
    type: AuditType,
    actor: Actor,
    subject: { userId?: string | null; tokenId?: string | null },
    details?: AuditEvent['details'],
  ): Promise<void>;
  /** Newest first; `next` is the cursor of the following page, if any. */
  list(query: AuditQuery): Promise<{ items: AuditEvent[]; next: Cursor | null }>;
}

/** Creates the audit service. */
export function createAuditService(deps: { store: AuditStore; clock: Clock }): AuditService {
  return {
    async record(type, actor, subject, details = {}) {
      await deps.store.insert({
        id: `evt_${randomBase62(20)}`,
        type,
        at: deps.clock.now(),
        userId: subject.userId ?? null,
        tokenId: subject.tokenId ?? null,
        actor: actor.id,
        via: actor.via,
        details,
      });
    },
    async list(query) {
      const rows = await deps.store.query({ ...query, limit: query.limit + 1 });
      const items = rows.slice(0, query.limit);
      const last = items.at(-1);
      return { items, next: rows.length > query.limit && last ? { at: last.at, id: last.id } : null };
    },
  };
}

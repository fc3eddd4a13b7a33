/**
 * The lifecycle events as a notice channel: `token.expiring` (with `threshold_days`) and `token.expired` are emitted
 * into the outbox (`server/events/outbox.ts`), which delivers them to every webhook endpoint that wants them. The
 * event's id is derived from the notice's idempotency key, so a notice handed over again (the dispatcher delivers at
 * least once) is one event, with one `webhook-id`, for as long as the outbox keeps events.
 *
 * The inactive-token policy's revocations need nothing here: the revocation itself writes `token.revoked` with reason
 * `inactive` on the token, in the very update that revokes it, as every revocation does.
 */
import { events } from '../events/catalogue.ts';
import type { Outbox } from '../events/outbox.ts';
import type { Clock } from '../services/clock.ts';
import { SCHEDULER, type NoticeSink } from './sink.ts';

/** The lifecycle-events channel's sink. */
export function createEventSink(deps: { outbox: Pick<Outbox, 'emit'>; clock: Clock }): NoticeSink {
  const { outbox, clock } = deps;
  const emit = async (event: ReturnType<typeof events.tokenExpired>, idempotencyKey: string) => {
    await outbox.emit(event.type, event.data, { idempotencyKey: `notice:${idempotencyKey}`, at: event.at });
  };
  return {
    async expiring(n) {
      const token = { id: n.tokenId, userId: n.userId };
      const notice = { expiresAt: n.expiresAt, thresholdDays: n.thresholdDays };
      await emit(events.tokenExpiring(token, notice, SCHEDULER, clock.now()), n.idempotencyKey);
    },
    async expired(n) {
      await emit(
        events.tokenExpired({ id: n.tokenId, userId: n.userId }, n.expiredAt, SCHEDULER, clock.now()),
        n.idempotencyKey,
      );
    },
    async revokedInactive() {},
  };
}

/** Waiting for lifecycle events to be fully delivered, by looking at what is stored (never a fixed delay). */
import type { TestApp } from './app.ts';
import { eventually } from './eventually.ts';

const END = new Date(8_640_000_000_000_000);

/**
 * Resolves once no event waits anywhere: none on a token or user, none in the outbox to fan out or confirm, and no
 * push due now that is not delivered (to subscribers that accept them, this means everything has arrived).
 */
export async function eventsSettled(app: TestApp, timeoutMs = 10_000): Promise<void> {
  const s = app.storage;
  await eventually(async () => {
    const [pats, users, ready, intents] = await Promise.all([
      s.pats.pendingEvents({ limit: 1 }),
      s.users.pendingEvents({ limit: 1 }),
      s.events.outbox.list('ready', END, 1),
      s.events.outbox.list('intent', END, 1),
    ]);
    if (pats.length + users.length + ready.length + intents.length > 0) return false;
    const subscribers = [
      ...(await s.events.webhooks.list()).map((w) => w.id),
      ...(await s.events.streams.list()).filter((st) => st.method === 'push').map((st) => st.id),
    ];
    const now = app.clock.now();
    for (const id of subscribers) {
      const rows = await s.events.deliveries.list(id, 1000);
      if (rows.some((d) => d.state === 'pending' && d.method === 'push' && d.nextAttemptAt <= now)) return false;
    }
    return true;
  }, timeoutMs);
}

/**
 * In-memory event stores (the embedded store): the outbox, deliveries, webhook endpoints and SSF streams, with the
 * contracts' semantics (insert-if-absent by id, leases, oldest-first and newest-first orders). Nothing survives a
 * restart, like everything else in the embedded store.
 */
import type {
  DeliveryRecord,
  DeliveryStore,
  EventStorage,
  OutboxEvent,
  OutboxStore,
  StreamRecord,
  StreamStore,
  WebhookRecord,
  WebhookStore,
} from '../event-stores.ts';
import { DuplicateError as StoreDuplicate } from '../types.ts';

function createOutbox(): OutboxStore {
  const byId = new Map<string, OutboxEvent>();
  return {
    async insert(event) {
      if (byId.has(event.id)) return false;
      byId.set(event.id, event);
      return true;
    },
    async setState(id, state, from) {
      const event = byId.get(id);
      if (!event || (from !== undefined && event.state !== from)) return false;
      byId.set(id, { ...event, state });
      return true;
    },
    async remove(id) {
      byId.delete(id);
    },
    async list(state, before, limit) {
      return [...byId.values()]
        .filter((e) => e.state === state && e.createdAt < before)
        .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
        .slice(0, limit);
    },
    async purge(before, type) {
      let n = 0;
      for (const [id, e] of byId) {
        if (e.state === 'fanned_out' && e.createdAt < before && (type === undefined || e.type === type)) {
          byId.delete(id);
          n++;
        }
      }
      return n;
    },
  };
}

function createDeliveries(): DeliveryStore {
  const byId = new Map<string, DeliveryRecord>();
  const put = (d: DeliveryRecord) => byId.set(d.id, d);
  const pendingOf = (subscriberId: string) =>
    [...byId.values()].filter((d) => d.subscriberId === subscriberId && d.state === 'pending');
  return {
    async insertIfAbsent(deliveries) {
      for (const d of deliveries) if (!byId.has(d.id)) put(d);
    },
    async claim(now, owner, leaseUntil, limit) {
      const due = [...byId.values()]
        .filter(
          (d) =>
            d.state === 'pending' &&
            d.method === 'push' &&
            d.nextAttemptAt <= now &&
            (d.leaseUntil === null || d.leaseUntil <= now),
        )
        .sort((a, b) => a.nextAttemptAt.getTime() - b.nextAttemptAt.getTime())
        .slice(0, limit);
      return due.map((d) => {
        const leased = { ...d, leaseUntil, leaseOwner: owner };
        put(leased);
        return leased;
      });
    },
    async settle(id, outcome) {
      const d = byId.get(id);
      if (d) put({ ...d, ...outcome, leaseUntil: null, leaseOwner: null });
    },
    async list(subscriberId, limit, after) {
      return [...byId.values()]
        .filter((d) => d.subscriberId === subscriberId)
        .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1))
        .filter(
          (d) => !after || d.createdAt < after.at || (d.createdAt.getTime() === after.at.getTime() && d.id < after.id),
        )
        .slice(0, limit);
    },
    async pendingPolls(subscriberId, limit) {
      return pendingOf(subscriberId)
        .filter((d) => d.method === 'poll')
        .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : 1))
        .slice(0, limit);
    },
    async finish(subscriberId, eventIds, state, at, errors = {}) {
      for (const d of pendingOf(subscriberId)) {
        if (!eventIds.includes(d.event.id)) continue;
        put({ ...d, state, finishedAt: at, lastError: errors[d.event.id] ?? d.lastError });
      }
    },
    async reschedule(subscriberId, at) {
      for (const d of pendingOf(subscriberId)) put({ ...d, nextAttemptAt: at });
    },
    async cancel(subscriberId, reason, at) {
      for (const d of pendingOf(subscriberId)) put({ ...d, state: 'failed', lastError: reason, finishedAt: at });
    },
    async expire(before, reason, at) {
      let n = 0;
      for (const d of byId.values()) {
        if (d.state === 'pending' && d.createdAt < before && (d.leaseUntil === null || d.leaseUntil <= at)) {
          put({ ...d, state: 'failed', lastError: reason, finishedAt: at });
          n++;
        }
      }
      return n;
    },
    async purge(before, type) {
      let n = 0;
      for (const [id, d] of byId) {
        if (d.finishedAt !== null && d.finishedAt < before && (type === undefined || d.event.type === type)) {
          byId.delete(id);
          n++;
        }
      }
      return n;
    },
  };
}

function createWebhooks(): WebhookStore {
  const byId = new Map<string, WebhookRecord>();
  return {
    async insert(webhook) {
      if (byId.has(webhook.id)) throw new StoreDuplicate('id');
      byId.set(webhook.id, webhook);
    },
    async get(id) {
      return byId.get(id) ?? null;
    },
    async list() {
      return [...byId.values()].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
    },
    async update(id, changes, at) {
      const webhook = byId.get(id);
      if (!webhook) return null;
      const updated: WebhookRecord = {
        ...webhook,
        ...(changes.events === undefined ? {} : { events: changes.events }),
        ...(changes.description === undefined ? {} : { description: changes.description }),
        ...(changes.enabled === undefined ? {} : { enabled: changes.enabled }),
        ...(changes.disabledReason === undefined ? {} : { disabledReason: changes.disabledReason }),
        updatedAt: at,
      };
      byId.set(id, updated);
      return updated;
    },
    async remove(id) {
      return byId.delete(id);
    },
  };
}

function createStreams(): StreamStore {
  const byId = new Map<string, StreamRecord>();
  return {
    async insert(stream) {
      if (byId.has(stream.id)) throw new StoreDuplicate('id');
      byId.set(stream.id, stream);
    },
    async get(id) {
      return byId.get(id) ?? null;
    },
    async list(clientId) {
      return [...byId.values()]
        .filter((s) => clientId === undefined || s.clientId === clientId)
        .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
    },
    async replace(stream) {
      const existing = byId.get(stream.id);
      if (!existing || existing.clientId !== stream.clientId) return null;
      byId.set(stream.id, stream);
      return stream;
    },
    async touch(id, at) {
      const existing = byId.get(id);
      if (existing) byId.set(id, { ...existing, lastActivityAt: at });
    },
    async remove(id) {
      return byId.delete(id);
    },
  };
}

/** The embedded event stores. */
export function createMemoryEventStorage(): EventStorage {
  return {
    outbox: createOutbox(),
    deliveries: createDeliveries(),
    webhooks: createWebhooks(),
    streams: createStreams(),
  };
}

/**
 * Composition, part 5: the scheduled jobs. The notice channels (the audit log always; email with `SMTP_URL`; the
 * lifecycle events, to webhooks, always: see {@link noticeChannels}), the expiry notices (`EXPIRY_NOTICE_DAYS`), the
 * inactive-token policy (`INACTIVE_TOKEN_DAYS`), the redelivery and clean-up of notices, and the scheduler that
 * runs them every `JOBS_INTERVAL_SECONDS` once the server listens.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

import type { Config } from '../../config/index.ts';
import { describeError } from '../http/errors.ts';
import { createNoticeDispatcher, type DispatchCounts } from '../jobs/dispatcher.ts';
import { createEmailSink } from '../jobs/email.ts';
import { createEventSink } from '../jobs/event-sink.ts';
import { createExpiryNotices } from '../jobs/expiry-notices.ts';
import { createInactiveTokenPolicy, type InactiveTokenPolicy } from '../jobs/inactive-tokens.ts';
import { createScheduler, type RunReport, type ScheduledJob, type Scheduler } from '../jobs/scheduler.ts';
import { createAuditSink, type NoticeChannel } from '../jobs/sink.ts';
import type { Logger } from '../logger.ts';
import type { Clock } from '../services/clock.ts';
import type { Services } from './services.ts';
import type { Stores } from './stores.ts';

export interface Jobs {
  readonly scheduler: Scheduler;
  /** The inactive-token policy (its listing serves `GET /api/tokens/inactive` whether or not it is on). */
  readonly inactive: InactiveTokenPolicy;
  /** Stops the scheduler (a run in progress is asked to stop) and the SMTP transport. */
  close(): Promise<void>;
}

/**
 * The notice channels: the audit log, then email when configured, then the lifecycle events (webhooks), then any
 * given (tests).
 */
function noticeChannels(
  config: Config,
  stores: Stores,
  services: Services,
  clock: Clock,
  extra: readonly NoticeChannel[],
): { channels: NoticeChannel[]; close(): void } {
  const channels: NoticeChannel[] = [{ name: 'audit', sink: createAuditSink(services.audit) }];
  const { email } = config.jobs;
  const mailer = email
    ? createEmailSink({
        smtpUrl: email.smtpUrl,
        from: email.from,
        issuer: config.issuer,
        consoleUrl: config.console.mode === 'off' ? null : `${config.issuer}/console/`,
        inactiveDays: config.jobs.inactiveTokenDays,
        pats: stores.storage.pats,
        users: stores.storage.users,
        clock,
      })
    : null;
  if (mailer) channels.push({ name: 'email', sink: mailer });
  channels.push({ name: 'events', sink: createEventSink({ outbox: services.outbox, clock }) });
  channels.push(...extra);
  return { channels, close: () => mailer?.close() };
}

/** A run's outcome for the log: each job's report, failures with their error described (never a token). */
function describeRun(report: RunReport): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(report).map(([job, r]) => [
      job,
      r.ok ? { ...(r.report as object), ms: r.ms } : { error: describeError(r.error) },
    ]),
  );
}

/** Builds the jobs (the scheduler is started by `listen`). */
export function createJobs(
  config: Config,
  stores: Stores,
  services: Services,
  deps: { clock: Clock; logger: Logger; channels?: readonly NoticeChannel[] },
): Jobs {
  const { clock, logger } = deps;
  const { storage } = stores;
  const channels = noticeChannels(config, stores, services, clock, deps.channels ?? []);
  const dispatcher = createNoticeDispatcher({
    store: storage.notices,
    channels: channels.channels,
    clock,
    onFailure: (channel, key, error) =>
      logger.warn({ channel, notice: key, err: describeError(error) }, 'notice not delivered; it will be retried'),
  });
  const inactive = createInactiveTokenPolicy({
    pats: services.pats,
    leases: storage.leases,
    dispatcher,
    clock,
    days: config.jobs.inactiveTokenDays,
    holder: `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`,
  });

  const jobs: ScheduledJob[] = [];
  const thresholds = config.jobs.expiryNoticeDays;
  if (thresholds.length > 0) {
    const notices = createExpiryNotices({
      pats: storage.pats,
      users: storage.users,
      dispatcher,
      clock,
      thresholdsDays: thresholds,
    });
    jobs.push({ name: 'expiry-notices', run: (signal) => notices.run(signal) });
  }
  if (inactive.days !== null) jobs.push({ name: 'inactive-tokens', run: (signal) => inactive.sweep(signal) });
  if (jobs.length > 0) {
    jobs.push({
      name: 'notice-redelivery',
      async run(signal) {
        const counts: DispatchCounts = { claimed: 0, delivered: 0, failed: 0 };
        const retaken = await dispatcher.retryOverdue(signal, counts);
        const purged = await dispatcher.purge();
        if (purged.undelivered > 0) {
          logger.warn({ given_up: purged.undelivered }, 'notices given up: still undelivered when they became moot');
        }
        return { retaken, delivered: counts.delivered, failed: counts.failed, purged: purged.deleted };
      },
    });
  }

  const scheduler = createScheduler({
    jobs,
    intervalMs: config.jobs.intervalSeconds * 1000,
    onRun: (report) => logger.info({ jobs: describeRun(report) }, 'scheduled jobs ran'),
  });
  return {
    scheduler,
    inactive,
    async close() {
      await scheduler.close();
      channels.close();
    },
  };
}

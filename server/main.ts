/**
 * The composition root: the one place that turns a {@link Config} into connected stores, services, the OAuth
 * server, the HTTP application and the scheduled jobs, in five parts (`compose/stores.ts`, `compose/services.ts`,
 * `compose/oauth-server.ts`, `compose/application.ts`, `compose/jobs.ts`) served by `http/server.ts`. Nothing else
 * creates a connection.
 */
import type { Server } from 'node:http';

import type Provider from 'oidc-provider';

import type { Cache, Storage } from '../adapters/types.ts';
import type { Config } from '../config/index.ts';
import { mountApplication } from './compose/application.ts';
import { createJobs, type Jobs } from './compose/jobs.ts';
import { createOAuthServer } from './compose/oauth-server.ts';
import { createServices, type Services } from './compose/services.ts';
import { openStores } from './compose/stores.ts';
import { createHttpServer } from './http/server.ts';
import type { NoticeChannel } from './jobs/sink.ts';
import { createLogger, createThrottledWarn, type Logger } from './logger.ts';
import { createMetrics } from './metrics.ts';
import type { ClientService } from './services/clients.ts';
import { systemClock, type Clock } from './services/clock.ts';

export interface TokenwardenOptions {
  /** Clock for PAT expiry (tests move it). Default: the system clock. */
  readonly clock?: Clock;
  /** Logger; default: JSON lines on stdout at `config.logLevel`. */
  readonly logger?: Logger;
  /** Already-built storage (tests wrap the real stores to count calls). Default: built from `config.storage`. */
  readonly storage?: Storage;
  /** Already-built cache, or null for none. Default: built from `config.redis`. */
  readonly cache?: Cache | null;
  /** Notice channels besides the audit log and email (tests; default none). */
  readonly noticeChannels?: readonly NoticeChannel[];
}

/** A wired Tokenwarden instance. */
export interface Tokenwarden {
  readonly config: Config;
  readonly provider: Provider;
  readonly logger: Logger;
  readonly services: Services & { readonly clients: ClientService };
  /** The expiry notices and the inactive-token policy; `jobs.scheduler.runNow()` runs them at once. */
  readonly jobs: Jobs;
  /**
   * Starts listening on `config.host:config.port` (port 0 picks a free one), and the scheduled jobs; resolves with
   * the base URL.
   */
  listen(): Promise<{ url: string; server: Server }>;
  /**
   * Graceful shutdown: stop the scheduled jobs, stop accepting connections, let in-flight requests finish (up to
   * `config.shutdownTimeoutMs`, then cut the rest), let event relays and pushes in flight finish, write waiting audit
   * events, then close MongoDB and Redis.
   */
  close(): Promise<void>;
}

/** Builds every store, service and the application from `config`. Connects to MongoDB (when configured). */
export async function createTokenwarden(config: Config, options: TokenwardenOptions = {}): Promise<Tokenwarden> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const clock = options.clock ?? systemClock;
  const metrics = createMetrics();
  const warn = createThrottledWarn(logger, 10_000);
  const reporting = { clock, metrics, logger, warn };

  const stores = await openStores(config, options, { logger, clock });
  const services = createServices(config, stores, reporting);
  const jobs = createJobs(config, stores, services, {
    clock,
    logger,
    ...(options.noticeChannels ? { channels: options.noticeChannels } : {}),
  });
  const oauth = await createOAuthServer(config, stores, services, reporting);
  const { fastPath } = mountApplication(config, { stores, services, oauth, jobs, clock, metrics, logger });
  if (config.events.dispatch) {
    services.outbox.start();
    services.dispatcher.start();
  }
  const http = createHttpServer({
    host: config.host,
    port: config.port,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    application: oauth.provider.callback(),
    fastPath,
    metrics,
    logger,
  });

  return {
    config,
    provider: oauth.provider,
    logger,
    services: { ...services, clients: oauth.clients },
    jobs,
    async listen() {
      const listening = await http.listen();
      jobs.scheduler.start();
      return listening;
    },
    async close() {
      await jobs.close();
      // Long polls answer at once (empty) rather than hold the shutdown.
      services.streams.stopWaiting();
      await http.close();
      await Promise.allSettled([services.outbox.close(), services.dispatcher.close()]);
      services.pats.close();
      services.tokenCache.close();
      const unwritten = await services.audit.close();
      if (unwritten > 0) logger.error({ unwritten }, 'audit events lost at shutdown: MongoDB was unreachable');
      await Promise.allSettled([stores.storage.close(), stores.cache?.close()]);
    },
  };
}

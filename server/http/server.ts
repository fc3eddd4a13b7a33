/**
 * The HTTP server: one `node:http` server whose requests go first to the introspection fast path (for
 * `POST /introspect`), then to the Koa application (oidc-provider and everything mounted on it); and its graceful
 * shutdown: stop accepting connections, let requests in flight finish (up to a limit), close idle keep-alive
 * connections as they become idle.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { ServerError } from '../errors.ts';
import type { FastOutcome, FastPathDone } from '../introspection/fast-transport.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { describeError, sendError } from './errors.ts';

export interface HttpServerOptions {
  readonly host: string;
  readonly port: number;
  /** SIGTERM waits this long for requests in flight. */
  readonly shutdownTimeoutMs: number;
  /** The Koa application's request handler. */
  readonly application: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  /** The introspection fast path, or null when it is switched off. */
  readonly fastPath: ((req: IncomingMessage, res: ServerResponse, done: FastPathDone) => void) | null;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

export interface HttpServer {
  /** Starts listening (port 0 picks a free one); resolves with the base URL. */
  listen(): Promise<{ url: string; server: Server }>;
  /** Graceful shutdown; resolves once every connection is closed. */
  close(): Promise<void>;
}

/** Creates the server (not yet listening). */
export function createHttpServer(opts: HttpServerOptions): HttpServer {
  const { application, fastPath, metrics, logger } = opts;
  let server: Server | undefined;
  let draining = false;

  /** The request-metric series of the fast path's outcomes, bound once. */
  const series = {
    active: metrics.series('/introspect', 'active'),
    inactive: metrics.series('/introspect', 'inactive'),
    error: metrics.series('/introspect', '5xx'),
  };
  /** Metrics and the request log line for a request the fast path answered (Koa's middleware never saw it). */
  const observe = (status: number, outcome: FastOutcome, ms: number) => {
    metrics.fastPath(outcome);
    series[outcome].record(ms / 1000);
    if (logger.isLevelEnabled('info')) {
      logger.info({ req_id: randomUUID(), method: 'POST', path: '/introspect', status, ms }, 'request');
    }
  };

  function dispatch(req: IncomingMessage, res: ServerResponse): void {
    if (draining) res.shouldKeepAlive = false;
    if (!fastPath || req.method !== 'POST' || req.url !== '/introspect') {
      void application(req, res);
      return;
    }
    // The fast path answers ahead of Koa; whatever it leaves goes to the application unchanged.
    const started = performance.now();
    fastPath(req, res, (error, outcome) => {
      if (error !== null) {
        logger.error({ err: describeError(error), path: '/introspect' }, 'request failed');
        if (!res.headersSent) sendError(res, new ServerError(error));
        else if (!res.writableEnded) res.end();
      } else if (outcome === false) void application(req, res);
      else if (outcome !== 'aborted') observe(res.statusCode, outcome, performance.now() - started);
    });
  }

  return {
    async listen() {
      const listening = createServer(dispatch);
      server = listening;
      listening.keepAliveTimeout = 65_000;
      listening.headersTimeout = 66_000;
      listening.requestTimeout = 30_000;
      await new Promise<void>((resolve, reject) => {
        listening.once('error', reject);
        listening.listen(opts.port, opts.host, () => resolve());
      });
      const { port } = listening.address() as AddressInfo;
      const host = opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host;
      return { url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, server: listening };
    },

    async close() {
      draining = true;
      const closing = server;
      if (!closing) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => closing.closeAllConnections(), opts.shutdownTimeoutMs);
        timer.unref();
        // A keep-alive connection whose in-flight response has finished is idle from then on: close those as they
        // appear (per request, a 'finish' listener would cost every request, draining or not).
        const sweep = setInterval(() => closing.closeIdleConnections(), 25);
        closing.close(() => {
          clearTimeout(timer);
          clearInterval(sweep);
          resolve();
        });
        closing.closeIdleConnections();
      });
    },
  };
}

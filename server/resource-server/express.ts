/**
 * `tokenwarden/resource-server/express`: Express middleware. Express itself is not imported (its request and
 * response extend `node:http`'s), so this adapter costs nothing unless used.
 *
 * ```ts
 * app.get('/hello', requireToken(rs, ['read']), (req, res) => res.json({ hello: res.locals.token.sub }));
 * app.post('/ssf/events', receiveEvents(rs)); // with events: { delivery: 'push', endpointUrl }
 * ```
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { checkScopes } from './bearer.ts';
import type { AccessToken } from './claims.ts';
import { pushListener, send } from './node.ts';
import type { ResourceServer } from './resource-server.ts';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace -- Express types `res.locals` through this namespace.
  namespace Express {
    interface Locals {
      /** The validated access token (set by `requireToken`). */
      token?: AccessToken;
    }
  }
}

/** The parts of Express's `res` the middleware uses. */
type Response = ServerResponse & { locals: Record<string, unknown> };

/**
 * Middleware admitting requests with a valid bearer token carrying every scope in `scopes`; the token is then
 * `res.locals.token`. Others get the RFC 6750 answer (400, 401, 403, or 503 when Tokenwarden cannot answer).
 */
export function requireToken(
  rs: ResourceServer,
  scopes: readonly string[] = [],
): (req: IncomingMessage, res: Response, next: (error?: unknown) => void) => void {
  const required = checkScopes('scopes', scopes);
  return (req, res, next) => {
    rs.check(req.headers.authorization, required).then((verdict) => {
      if (!verdict.ok) return send(res, rs.render(verdict.rejection));
      res.locals.token = verdict.token;
      next();
    }, next);
  };
}

/** The RFC 8935 push endpoint, to mount at the path of `events.endpointUrl` (before any body parser). */
export const receiveEvents = pushListener;

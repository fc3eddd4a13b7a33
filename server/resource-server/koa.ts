/**
 * `tokenwarden/resource-server/koa`: Koa middleware. Koa is not imported (the context is described by the few
 * members used), so this adapter costs nothing unless used.
 *
 * ```ts
 * router.get('/hello', requireToken(rs, ['read']), (ctx) => { ctx.body = { hello: ctx.state.token.sub }; });
 * router.post('/ssf/events', receiveEvents(rs)); // with events: { delivery: 'push', endpointUrl }
 * ```
 */
import type { IncomingMessage } from 'node:http';

import { checkScopes, type HttpAnswer } from './bearer.ts';
import { readBody } from './node.ts';
import type { ResourceServer } from './resource-server.ts';

/** The parts of a Koa context the middleware uses. */
export interface KoaContext {
  readonly req: IncomingMessage;
  status: number;
  body: unknown;
  set(headers: Record<string, string>): void;
  remove(header: string): void;
  state: Record<string, unknown>;
}

function answer(ctx: KoaContext, { status, headers, body }: HttpAnswer): void {
  ctx.status = status;
  // An empty string, not null: Koa turns a null body into a 204.
  ctx.body = body;
  if (body === '') ctx.remove('Content-Type');
  ctx.set(headers);
}

/**
 * Middleware admitting requests with a valid bearer token carrying every scope in `scopes`; the token is then
 * `ctx.state.token`. Others get the RFC 6750 answer (400, 401, 403, or 503 when Tokenwarden cannot answer).
 */
export function requireToken(
  rs: ResourceServer,
  scopes: readonly string[] = [],
): (ctx: KoaContext, next: () => Promise<unknown>) => Promise<void> {
  const required = checkScopes('scopes', scopes);
  return async (ctx, next) => {
    const verdict = await rs.check(ctx.req.headers.authorization, required);
    if (!verdict.ok) return answer(ctx, rs.render(verdict.rejection));
    ctx.state.token = verdict.token;
    await next();
  };
}

/** The RFC 8935 push endpoint as Koa middleware, for the path of `events.endpointUrl` (POST, before body parsers). */
export function receiveEvents(rs: ResourceServer): (ctx: KoaContext) => Promise<void> {
  return async (ctx) => {
    const body = await readBody(ctx.req);
    if (body === undefined) return answer(ctx, { status: 413, headers: {}, body: '' });
    const { headers } = ctx.req;
    answer(
      ctx,
      await rs.receivePush({ contentType: headers['content-type'], authorization: headers.authorization, body }),
    );
  };
}

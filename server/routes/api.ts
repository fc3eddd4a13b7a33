/**
 * The management API under `/api`, assembled from route specs: error rendering, `Cache-Control: no-store`, route
 * matching (404/405), bearer authentication (RFC 6750) and authorization per route, query and body validation,
 * then the handler.
 */
import { Router } from '@koa/router';
import type { Context, Middleware, Next } from 'koa';
import compose from 'koa-compose';

import {
  AccessDenied,
  InsufficientScope,
  InvalidToken,
  MalformedAuthorization,
  MethodNotAllowed,
  MissingToken,
  NotFound,
  assertThat,
} from '../errors.ts';
import { describeIssue, readJson } from '../http/body.ts';
import { errorHandler } from '../http/errors.ts';
import type { Logger } from '../logger.ts';
import { ADMIN_SCOPE } from '../oidc/provider.ts';
import { MANAGE_SCOPE, type Caller, type CallerResolver } from '../services/callers.ts';
import type { RouteSpec } from './spec.ts';

export interface ApiDeps {
  readonly routes: readonly RouteSpec[];
  readonly resolveCaller: CallerResolver;
  readonly logger: Logger;
  readonly retryAfterSeconds: number;
}

/**
 * RFC 6750 §2.1: `Authorization: Bearer <token>`, resolved to a caller. No header, or another scheme, is a request
 * without bearer credentials (401, a challenge without an error code); a `Bearer` header that is not
 * `Bearer <b64token>` is malformed (400 `invalid_request`). A call that changes something has its PAT read from
 * MongoDB, not from a cache.
 */
async function authenticate(ctx: Context, resolve: CallerResolver, fresh: boolean): Promise<Caller> {
  const header = ctx.get('Authorization');
  assertThat(/^bearer(\s|$)/i.test(header), () => new MissingToken());
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
  assertThat(match, () => new MalformedAuthorization('the Authorization header must be "Bearer <access token>"'));
  const caller = await resolve(match[1]!, { fresh });
  if ('refused' in caller) throw new InvalidToken(caller.refused);
  return caller;
}

/** Whether the caller may use a route of this kind; the error to answer otherwise. */
function authorize(spec: RouteSpec, caller: Caller): void {
  if (spec.auth === 'admin') {
    // The admin client with scope admin, or a person whose trusted issuer vouches for them (its admin claim).
    const admin =
      caller.kind === 'client' ? caller.scopes.has(ADMIN_SCOPE) : caller.via === 'jwt' && caller.admin === true;
    assertThat(admin, () => new InsufficientScope(ADMIN_SCOPE));
  } else if (spec.auth === 'client') {
    assertThat(
      caller.kind === 'client',
      () => new AccessDenied('this needs an access token from /token (client_credentials) of a registered client'),
    );
  } else if (spec.auth === 'self') {
    assertThat(caller.kind === 'user', () => new InsufficientScope(MANAGE_SCOPE));
    assertThat(
      caller.via !== 'pat' || caller.pat.scopes.includes(MANAGE_SCOPE),
      () => new InsufficientScope(MANAGE_SCOPE),
    );
  }
}

/**
 * The path parameters, validated by the route's schema. An id that cannot exist is a 404 naming what the
 * parameter identifies (its schema's description), like an id that does not.
 */
function parseParams(spec: RouteSpec, raw: Record<string, string>): unknown {
  if (!spec.params) return {};
  const parsed = spec.params.safeParse(raw);
  if (parsed.success) return parsed.data;
  const field = String(parsed.error.issues[0]?.path[0] ?? '');
  const shape = (spec.params as unknown as { shape?: Record<string, { description?: string }> }).shape;
  throw new NotFound(shape?.[field]?.description ?? 'resource');
}

function handlerFor(spec: RouteSpec, resolve: CallerResolver): Middleware {
  return async function handleRoute(ctx) {
    const caller = spec.auth === 'none' ? null : await authenticate(ctx, resolve, spec.method !== 'get');
    if (caller) authorize(spec, caller);
    let query: unknown = undefined;
    if (spec.query) {
      const parsed = spec.query.safeParse({ ...ctx.query });
      if (!parsed.success) throw describeIssue(parsed.error);
      query = parsed.data;
    }
    const body = spec.body ? await readJson(ctx, spec.body, spec.bodyLimit) : undefined;
    const params = parseParams(spec, (ctx as Context & { params?: Record<string, string> }).params ?? {});
    const reply = await spec.handle({ body, query, params, caller, address: ctx.ip });
    ctx.status = reply.status;
    // No body means an empty one (not Koa's status text), with the status kept as set.
    ctx.body = reply.body ?? '';
  };
}

/** The `/api` middleware. */
export function createApiRoutes(deps: ApiDeps): Middleware {
  const router = new Router();
  for (const spec of deps.routes) router[spec.method](spec.path, handlerFor(spec, deps.resolveCaller));

  async function knownRoute(ctx: Context, next: Next) {
    const matched = router.match(ctx.path, ctx.method);
    if (!matched.route) {
      const allowed = [...new Set(matched.path.flatMap((layer) => layer.methods))].filter((m) => m !== 'HEAD');
      throw allowed.length > 0 ? new MethodNotAllowed(allowed) : new NotFound('route');
    }
    await next();
  }

  async function noStore(ctx: Context, next: Next) {
    ctx.set('Cache-Control', 'no-store');
    await next();
  }

  const api = compose([
    errorHandler(deps.logger, deps.retryAfterSeconds),
    noStore,
    knownRoute,
    router.routes() as Middleware,
  ]);

  return async function managementApi(ctx, next) {
    if (ctx.path === '/api' || ctx.path.startsWith('/api/')) await api(ctx, next);
    else await next();
  };
}

/**
 * The management API under `/api`: JSON in and out, snake_case, bearer access tokens with scope `admin`
 * (RFC 6750). Each route is a small handler: validate with a zod schema, call one service, render a view.
 */
import { Router } from '@koa/router';
import type { Context, Middleware, Next } from 'koa';
import compose from 'koa-compose';
import { z } from 'zod';

import type { PatRecord, UserRecord } from '../../adapters/types.ts';
import { InsufficientScope, InvalidToken, MethodNotAllowed, MissingToken, NotFound, assertThat } from '../errors.ts';
import { readJson } from '../http/body.ts';
import { errorHandler } from '../http/errors.ts';
import type { Logger } from '../logger.ts';
import { ADMIN_SCOPE } from '../oidc/provider.ts';
import type { AccessTokenVerifier, Caller } from '../services/access-tokens.ts';
import { CLIENT_AUTH_METHODS, type ClientService, type ClientView } from '../services/clients.ts';
import type { Clock } from '../services/clock.ts';
import type { PatService } from '../services/pats.ts';
import type { UserService } from '../services/users.ts';

/** User ids: 1-128 characters that are safe in a URL path segment. */
const USER_ID = /^[A-Za-z0-9._:@-]{1,128}$/;
/** RFC 6749 §3.3 scope-token. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;
/** Printable: no control characters (C0, DEL, C1). */
const PRINTABLE = /^[^\p{Cc}]+$/u;

const name = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(100, 'must be at most 100 characters')
  .regex(PRINTABLE, 'must contain printable characters only');

/** Request body schemas (they also type the handlers). */
export const schemas = {
  createUser: z.strictObject({
    id: z.string().regex(USER_ID, 'must be 1-128 characters of A-Z a-z 0-9 . _ : @ -').optional(),
    username: name,
    email: z.email().max(254).nullable().optional(),
  }),
  patchUser: z.strictObject({ disabled: z.boolean() }),
  createToken: z.strictObject({
    name,
    description: z
      .string()
      .trim()
      .max(1000)
      .regex(/^[^\p{Cc}]*$/u, 'must contain printable characters only')
      .nullable()
      .optional(),
    scopes: z.array(z.string().regex(SCOPE_TOKEN, 'must be an RFC 6749 scope token')).max(50),
    expires_at: z.iso.datetime({ offset: true, message: 'must be an RFC 3339 date-time' }).nullable().optional(),
    resource: z
      .url({ message: 'must be an absolute URI' })
      .max(2048)
      .refine((u) => !u.includes('#'), 'must not contain a fragment (RFC 8707)')
      .nullable()
      .optional(),
  }),
  createClient: z.strictObject({
    client_name: name.optional(),
    token_endpoint_auth_method: z.enum(CLIENT_AUTH_METHODS).optional(),
    jwks: z
      .strictObject({
        keys: z
          .array(z.looseObject({ kty: z.string() }))
          .min(1)
          .max(10),
      })
      .optional(),
  }),
};

const iso = (d: Date | null) => (d === null ? null : d.toISOString());

function userView(u: UserRecord) {
  return {
    id: u.id,
    username: u.username,
    email: u.email,
    disabled: u.disabled,
    created_at: iso(u.createdAt),
    updated_at: iso(u.updatedAt),
  };
}

function tokenView(p: PatRecord, now: Date) {
  const status = p.revokedAt !== null ? 'revoked' : p.expiresAt !== null && p.expiresAt <= now ? 'expired' : 'active';
  return {
    id: p.id,
    user_id: p.userId,
    name: p.name,
    description: p.description,
    scopes: p.scopes,
    resource: p.resource,
    status,
    created_at: iso(p.createdAt),
    expires_at: iso(p.expiresAt),
    last_used_at: iso(p.lastUsedAt),
    revoked_at: iso(p.revokedAt),
  };
}

function clientView(c: ClientView) {
  return {
    client_id: c.clientId,
    client_name: c.clientName,
    token_endpoint_auth_method: c.tokenEndpointAuthMethod,
    created_at: new Date(c.createdAt * 1000).toISOString(),
  };
}

export interface ApiDeps {
  readonly users: UserService;
  readonly pats: PatService;
  readonly clients: ClientService;
  readonly verifyAccessToken: AccessTokenVerifier;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly retryAfterSeconds: number;
}

type ApiState = { caller: Caller };
type ApiContext = Context & { state: ApiState; params: Record<string, string> };

/** RFC 6750 §2.1: `Authorization: Bearer <token>`; requires scope `admin`. */
function requireAdmin(verify: AccessTokenVerifier): Middleware {
  return async function authenticateBearer(ctx, next) {
    const header = ctx.get('Authorization');
    const match = /^Bearer +([\x21-\x7e]+) *$/i.exec(header);
    assertThat(header !== '', () => new MissingToken());
    assertThat(match, () => new InvalidToken('the Authorization header must be "Bearer <access token>"'));
    const caller = await verify(match[1]!);
    assertThat(caller, () => new InvalidToken('the access token is invalid, expired or revoked'));
    assertThat(caller.scopes.has(ADMIN_SCOPE), () => new InsufficientScope(ADMIN_SCOPE));
    (ctx.state as ApiState).caller = caller;
    await next();
  };
}

function userIdParam(ctx: ApiContext): string {
  const id = ctx.params.user_id ?? '';
  assertThat(USER_ID.test(id), () => new NotFound('user'));
  return id;
}

/** The `/api` middleware: error rendering, no-store, bearer authentication, then the routes. */
export function createApiRoutes(deps: ApiDeps): Middleware {
  const { users, pats, clients, clock } = deps;
  const router = new Router({ prefix: '/api' });

  router.post('/users', async function createUser(ctx) {
    const body = await readJson(ctx, schemas.createUser);
    const user = await users.create({ id: body.id, username: body.username, email: body.email });
    ctx.status = 201;
    ctx.body = userView(user);
  });

  router.get('/users/:user_id', async function getUser(ctx) {
    ctx.body = userView(await users.get(userIdParam(ctx)));
  });

  router.patch('/users/:user_id', async function patchUser(ctx) {
    const userId = userIdParam(ctx);
    const body = await readJson(ctx, schemas.patchUser);
    ctx.body = userView(await users.setDisabled(userId, body.disabled));
  });

  router.post('/users/:user_id/tokens', async function createToken(ctx) {
    const userId = userIdParam(ctx);
    const body = await readJson(ctx, schemas.createToken);
    const { record, token } = await pats.create(userId, {
      name: body.name,
      description: body.description,
      scopes: body.scopes,
      expiresAt: body.expires_at ? new Date(body.expires_at) : null,
      resource: body.resource,
    });
    ctx.status = 201;
    ctx.body = { ...tokenView(record, clock.now()), token };
  });

  router.get('/users/:user_id/tokens', async function listTokens(ctx) {
    const now = clock.now();
    const list = await pats.list(userIdParam(ctx));
    ctx.body = { data: list.map((p) => tokenView(p, now)) };
  });

  router.delete('/users/:user_id/tokens/:id', async function revokeToken(ctx) {
    await pats.revoke(userIdParam(ctx), (ctx as ApiContext).params.id ?? '');
    ctx.status = 204;
  });

  router.post('/clients', async function registerClient(ctx) {
    const body = await readJson(ctx, schemas.createClient);
    const { client, clientSecret } = await clients.register({
      clientName: body.client_name,
      tokenEndpointAuthMethod: body.token_endpoint_auth_method,
      jwks: body.jwks,
    });
    ctx.status = 201;
    ctx.body = { ...clientView(client), ...(clientSecret === null ? {} : { client_secret: clientSecret }) };
  });

  router.get('/clients', async function listClients(ctx) {
    ctx.body = { data: (await clients.list()).map(clientView) };
  });

  router.delete('/clients/:client_id', async function deleteClient(ctx) {
    await clients.remove((ctx as ApiContext).params.client_id ?? '');
    ctx.status = 204;
  });

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
    requireAdmin(deps.verifyAccessToken),
    knownRoute,
    router.routes() as Middleware,
  ]);

  return async function managementApi(ctx, next) {
    if (ctx.path === '/api' || ctx.path.startsWith('/api/')) await api(ctx, next);
    else await next();
  };
}

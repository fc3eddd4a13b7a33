/**
 * Admin routes (`/api/users…`, `/api/tokens`, `/api/clients`, `/api/audit`): bearer access tokens with scope
 * `admin`. Each handler: validated input in, one service call, a view out.
 */
import { z } from 'zod';

import type { AuditService } from '../services/audit.ts';
import { actorOf, type Caller } from '../services/callers.ts';
import type { ClientService } from '../services/clients.ts';
import type { TokenQuery } from '../../adapters/types.ts';
import type { Clock } from '../services/clock.ts';
import { MAX_GRACE_SECONDS } from '../pats/policy.ts';
import type { ActionContext, PatService } from '../pats/types.ts';
import type { UserService } from '../services/users.ts';
import {
  params,
  bodies,
  cursors,
  inputs,
  page,
  pageOf,
  queries,
  responses,
  views,
  withSecret,
  withValue,
} from './schemas.ts';
import { route, type Reply, type RouteSpec } from './spec.ts';

export interface RouteDeps {
  readonly users: UserService;
  readonly pats: PatService;
  readonly clients: ClientService;
  readonly audit: AuditService;
  readonly clock: Clock;
  readonly scopes: Readonly<Record<string, string>>;
  /** The token policy, published at `/api/policy`. */
  readonly policy: {
    readonly maxLifetimeDays: number;
    readonly defaultLifetimeDays: number;
    readonly maxTokensPerUser: number;
  };
}

const ok = (description: string, schema?: z.ZodType) => ({ description, ...(schema ? { schema } : {}) });

/** A page of tokens as the API renders it (admin and self-service lists alike). */
export async function tokenPage(
  deps: Pick<RouteDeps, 'pats' | 'clock'>,
  filter: Omit<TokenQuery, 'now' | 'limit' | 'after'>,
  page: { limit: number; cursor?: string | undefined },
): Promise<Reply> {
  const now = deps.clock.now();
  const { items, next } = await deps.pats.list({
    ...filter,
    now,
    limit: page.limit,
    after: cursors.decode(page.cursor),
  });
  return { status: 200, body: pageOf(items, next, (p) => views.token(p, now)) };
}

/** The acting admin, for the audit log. */
function admin(caller: Caller | null): ActionContext {
  return { actor: actorOf(caller!, 'admin_api') };
}

/** The admin routes. */
export function adminRoutes(deps: RouteDeps): RouteSpec[] {
  const { users, pats, clients, audit, clock } = deps;
  const T = 'admin';
  return [
    route({
      method: 'post',
      path: '/api/users',
      summary: 'Create a user',
      tag: T,
      auth: 'admin',
      body: bodies.createUser,
      responses: { 201: ok('the user', responses.user), 409: ok('id or username taken') },
      async handle({ body, caller }) {
        const user = await users.create({ id: body.id, username: body.username, email: body.email }, admin(caller));
        return { status: 201, body: views.user(user) };
      },
    }),
    route({
      method: 'get',
      path: '/api/users',
      summary: 'List users, newest first; q searches their id, username and email',
      tag: T,
      auth: 'admin',
      query: queries.users,
      responses: { 200: ok('a page of users', page(responses.user)) },
      async handle({ query }) {
        const { items, next } = await users.list(query.limit, cursors.decode(query.cursor), query.q);
        return { status: 200, body: pageOf(items, next, views.user) };
      },
    }),
    route({
      method: 'get',
      path: '/api/users/:user_id',
      params: params.user,
      summary: 'Get a user',
      tag: T,
      auth: 'admin',
      responses: { 200: ok('the user', responses.user), 404: ok('unknown user') },
      async handle({ params }) {
        return { status: 200, body: views.user(await users.get(params.user_id)) };
      },
    }),
    route({
      method: 'patch',
      path: '/api/users/:user_id',
      params: params.user,
      summary: 'Disable or re-enable a user (disabling deactivates all their tokens at once)',
      tag: T,
      auth: 'admin',
      body: bodies.patchUser,
      responses: { 200: ok('the user', responses.user), 404: ok('unknown user') },
      async handle({ params, body, caller }) {
        return { status: 200, body: views.user(await users.setDisabled(params.user_id, body.disabled, admin(caller))) };
      },
    }),
    route({
      method: 'delete',
      path: '/api/users/:user_id',
      params: params.user,
      summary: 'Delete a user, revoking all their tokens',
      tag: T,
      auth: 'admin',
      responses: { 204: ok('deleted'), 404: ok('unknown user') },
      async handle({ params, caller }) {
        await users.remove(params.user_id, admin(caller));
        return { status: 204 };
      },
    }),
    route({
      method: 'post',
      path: '/api/users/:user_id/tokens/revoke-all',
      params: params.user,
      summary: 'Revoke every live token of a user',
      tag: T,
      auth: 'admin',
      responses: { 200: ok('how many were revoked', z.object({ revoked: z.number().int() })) },
      async handle({ params, caller }) {
        return { status: 200, body: { revoked: await pats.revokeAll(params.user_id, admin(caller)) } };
      },
    }),
    route({
      method: 'post',
      path: '/api/users/:user_id/tokens',
      params: params.user,
      summary: 'Create a token for a user (the value is in this response only)',
      tag: T,
      auth: 'admin',
      body: bodies.createToken,
      responses: {
        201: ok('the token, with its value', withValue),
        400: ok('invalid input or unknown scope'),
        409: ok('name taken or limit reached'),
      },
      async handle({ params, body, caller }) {
        const { record, token } = await pats.create(params.user_id, inputs.createToken(body), admin(caller));
        return { status: 201, body: { ...views.token(record, clock.now()), token } };
      },
    }),
    route({
      method: 'get',
      path: '/api/users/:user_id/tokens',
      params: params.user,
      summary: "List a user's tokens, newest first (never a value or hash)",
      tag: T,
      auth: 'admin',
      query: queries.userTokens,
      responses: { 200: ok('a page of tokens', page(responses.token)) },
      async handle({ params, query }) {
        const id = params.user_id;
        await users.get(id);
        return tokenPage(deps, { userId: id, status: query.status }, query);
      },
    }),
    route({
      method: 'get',
      path: '/api/users/:user_id/tokens/:id',
      params: params.userToken,
      summary: 'Get a token',
      tag: T,
      auth: 'admin',
      responses: { 200: ok('the token', responses.token), 404: ok('unknown token') },
      async handle({ params }) {
        return { status: 200, body: views.token(await pats.get(params.user_id, params.id), clock.now()) };
      },
    }),
    route({
      method: 'patch',
      path: '/api/users/:user_id/tokens/:id',
      params: params.userToken,
      summary: 'Rename a token, change its description, or bring its expiry earlier',
      tag: T,
      auth: 'admin',
      body: bodies.patchToken,
      responses: { 200: ok('the token', responses.token), 400: ok('invalid change'), 409: ok('name taken or revoked') },
      async handle({ params, body, caller }) {
        const updated = await pats.update(params.user_id, params.id, inputs.patchToken(body), admin(caller));
        return { status: 200, body: views.token(updated, clock.now()) };
      },
    }),
    route({
      method: 'delete',
      path: '/api/users/:user_id/tokens/:id',
      params: params.userToken,
      summary: 'Revoke a token',
      tag: T,
      auth: 'admin',
      responses: { 204: ok('revoked'), 404: ok('unknown token') },
      async handle({ params, caller }) {
        await pats.revoke(params.user_id, params.id, admin(caller));
        return { status: 204 };
      },
    }),
    route({
      method: 'post',
      path: '/api/users/:user_id/tokens/:id/rotate',
      params: params.userToken,
      summary: 'Rotate a token: a new value under the same id; the old one lives for grace_seconds (default 0)',
      tag: T,
      auth: 'admin',
      body: bodies.rotateToken,
      responses: {
        200: ok('the token, with its new value', withValue),
        409: ok('revoked, expired or changed concurrently'),
      },
      async handle({ params, body, caller }) {
        const { record, token } = await pats.rotate(params.user_id, params.id, inputs.rotateToken(body), admin(caller));
        return { status: 200, body: { ...views.token(record, clock.now()), token } };
      },
    }),
    route({
      method: 'get',
      path: '/api/tokens',
      summary: 'Find tokens across users (stale, soon-expiring, by status)',
      tag: T,
      auth: 'admin',
      query: queries.allTokens,
      responses: { 200: ok('a page of tokens', page(responses.token)) },
      async handle({ query }) {
        return tokenPage(
          deps,
          {
            userId: query.user_id,
            status: query.status,
            expiresBefore: query.expires_before ? new Date(query.expires_before) : undefined,
            lastUsedBefore: query.last_used_before ? new Date(query.last_used_before) : undefined,
            createdBefore: query.created_before ? new Date(query.created_before) : undefined,
          },
          query,
        );
      },
    }),
    route({
      method: 'get',
      path: '/api/audit',
      summary: 'Read the audit log, newest first',
      tag: T,
      auth: 'admin',
      query: queries.audit,
      responses: { 200: ok('a page of events', page(responses.audit)) },
      async handle({ query }) {
        const { items, next } = await audit.list({
          userId: query.user_id,
          tokenId: query.token_id,
          type: query.type,
          from: query.from ? new Date(query.from) : undefined,
          to: query.to ? new Date(query.to) : undefined,
          limit: query.limit,
          after: cursors.decode(query.cursor),
        });
        return { status: 200, body: pageOf(items, next, views.audit) };
      },
    }),
    route({
      method: 'post',
      path: '/api/clients',
      summary: 'Register a resource-server client (the secret is in this response only)',
      tag: T,
      auth: 'admin',
      body: bodies.createClient,
      responses: { 201: ok('the client, with its secret', withSecret) },
      async handle({ body, caller }) {
        const { client, clientSecret } = await clients.register({
          clientName: body.client_name,
          tokenEndpointAuthMethod: body.token_endpoint_auth_method,
          jwks: body.jwks,
          tokenExchange: body.token_exchange,
          resources: body.resources,
        });
        await audit.record(
          'client.registered',
          admin(caller).actor,
          {},
          {
            client_id: client.clientId,
            client_name: client.clientName,
            token_endpoint_auth_method: client.tokenEndpointAuthMethod,
            token_exchange: client.tokenExchange,
            resources: client.resources.join(' '),
          },
        );
        return {
          status: 201,
          body: { ...views.client(client), ...(clientSecret === null ? {} : { client_secret: clientSecret }) },
        };
      },
    }),
    route({
      method: 'get',
      path: '/api/clients',
      summary: 'List registered clients (never a secret)',
      tag: T,
      auth: 'admin',
      responses: { 200: ok('the clients', z.object({ data: z.array(responses.client) })) },
      async handle() {
        return { status: 200, body: { data: (await clients.list()).map(views.client) } };
      },
    }),
    route({
      method: 'patch',
      path: '/api/clients/:client_id',
      params: params.client,
      summary: 'Change a client: its name, whether it may exchange tokens, the resources it serves',
      tag: T,
      auth: 'admin',
      body: bodies.patchClient,
      responses: { 200: ok('the client', responses.client), 400: ok('invalid change'), 404: ok('unknown client') },
      async handle({ params, body, caller }) {
        const client = await clients.update(params.client_id, {
          clientName: body.client_name,
          tokenExchange: body.token_exchange,
          resources: body.resources,
        });
        await audit.record(
          'client.updated',
          admin(caller).actor,
          {},
          {
            client_id: client.clientId,
            ...(body.client_name === undefined ? {} : { client_name: client.clientName }),
            ...(body.token_exchange === undefined ? {} : { token_exchange: client.tokenExchange }),
            ...(body.resources === undefined ? {} : { resources: client.resources.join(' ') }),
          },
        );
        return { status: 200, body: views.client(client) };
      },
    }),
    route({
      method: 'delete',
      path: '/api/clients/:client_id',
      params: params.client,
      summary: 'Delete a registered client (its OAuth tokens stop introspecting active)',
      tag: T,
      auth: 'admin',
      responses: { 204: ok('deleted'), 404: ok('unknown client') },
      async handle({ params, caller }) {
        const clientId = params.client_id;
        await clients.remove(clientId, admin(caller).actor);
        await audit.record('client.deleted', admin(caller).actor, {}, { client_id: clientId });
        return { status: 204 };
      },
    }),
    route({
      method: 'get',
      path: '/api/scopes',
      summary: 'The scope catalogue: the scopes a token may carry',
      tag: 'public',
      auth: 'none',
      responses: { 200: ok('the catalogue', z.object({ data: z.array(responses.scope) })) },
      async handle() {
        const data = Object.entries(deps.scopes).map(([name, description]) => ({ name, description }));
        return { status: 200, body: { data } };
      },
    }),
    route({
      method: 'get',
      path: '/api/policy',
      summary: 'The token policy: lifetime limits, live tokens per user, longest rotation grace period',
      tag: 'public',
      auth: 'none',
      responses: { 200: ok('the policy', responses.policy) },
      async handle() {
        const { maxLifetimeDays, defaultLifetimeDays, maxTokensPerUser } = deps.policy;
        return {
          status: 200,
          body: {
            max_lifetime_days: maxLifetimeDays === 0 ? null : maxLifetimeDays,
            default_lifetime_days: defaultLifetimeDays === 0 ? null : defaultLifetimeDays,
            max_tokens_per_user: maxTokensPerUser,
            max_grace_seconds: MAX_GRACE_SECONDS,
          },
        };
      },
    }),
  ];
}

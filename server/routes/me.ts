/**
 * Self-service routes under `/api/me`: a user manages their own tokens, authenticated by a PAT carrying
 * `tokens:manage` or by a JWT from a trusted identity provider. A PAT caller can never mint or rotate into a
 * token with more scopes, a later expiry or another resource than itself (enforced by the PAT service).
 */
import { z, type ZodType } from 'zod';

import { InvalidRequest, assertThat } from '../errors.ts';
import { actorOf, type Caller } from '../services/callers.ts';
import type { ActionContext } from '../pats/types.ts';
import { tokenPage, type RouteDeps } from './admin.ts';
import { bodies, cursors, inputs, page, pageOf, params, queries, responses, views, withValue } from './schemas.ts';
import { route, type RouteSpec } from './spec.ts';

type UserCaller = Extract<Caller, { kind: 'user' }>;

function me(caller: Caller | null): UserCaller {
  return caller as UserCaller;
}

function self(caller: Caller | null): ActionContext {
  const user = me(caller);
  const actor = actorOf(user, 'self_service');
  return user.via === 'pat'
    ? { actor: { ...actor, credential: user.pat.credential }, constraints: user.constraints }
    : { actor };
}

function currentTokenId(caller: Caller | null): string {
  const user = me(caller);
  assertThat(
    user.via === 'pat',
    () => new InvalidRequest('there is no current token: this call was not made with a PAT'),
  );
  return user.pat.id;
}

const ok = (description: string, schema?: ZodType) => ({ description, ...(schema ? { schema } : {}) });

/** The self-service routes. */
export function meRoutes(deps: RouteDeps): RouteSpec[] {
  const { users, pats, audit, clock } = deps;
  const T = 'self-service';
  const rotate = (idOf: (params: { id?: string }, caller: Caller | null) => string, path: string, summary: string) =>
    route({
      method: 'post',
      path,
      summary,
      tag: T,
      auth: 'self',
      body: bodies.rotateToken,
      params: path.includes(':id') ? params.ownToken : z.strictObject({}),
      responses: {
        200: ok('the token, with its new value', withValue),
        403: ok('beyond what the calling token may do'),
      },
      async handle({ params, body, caller }) {
        const { record, token } = await pats.rotate(
          me(caller).userId,
          idOf(params, caller),
          inputs.rotateToken(body),
          self(caller),
        );
        return { status: 200, body: { ...views.token(record, clock.now()), token } };
      },
    });

  return [
    route({
      method: 'get',
      path: '/api/me',
      summary: 'The calling user',
      tag: T,
      auth: 'self',
      responses: { 200: ok('the user', responses.user) },
      async handle({ caller }) {
        return { status: 200, body: views.user(await users.get(me(caller).userId)) };
      },
    }),
    route({
      method: 'get',
      path: '/api/me/tokens',
      summary: 'List my tokens, newest first',
      tag: T,
      auth: 'self',
      query: queries.userTokens,
      responses: { 200: ok('a page of tokens', page(responses.token)) },
      async handle({ query, caller }) {
        return tokenPage(deps, { userId: me(caller).userId, status: query.status }, query);
      },
    }),
    route({
      method: 'post',
      path: '/api/me/tokens',
      summary: 'Create a token for myself (the value is in this response only)',
      tag: T,
      auth: 'self',
      body: bodies.createToken,
      responses: { 201: ok('the token, with its value', withValue), 403: ok('beyond what the calling token may do') },
      async handle({ body, caller }) {
        const { record, token } = await pats.create(me(caller).userId, inputs.createToken(body), self(caller));
        return { status: 201, body: { ...views.token(record, clock.now()), token } };
      },
    }),
    route({
      method: 'get',
      path: '/api/me/tokens/current',
      summary: 'The PAT making this call',
      tag: T,
      auth: 'self',
      responses: { 200: ok('the token', responses.token), 400: ok('the call was not made with a PAT') },
      async handle({ caller }) {
        return {
          status: 200,
          body: views.token(await pats.get(me(caller).userId, currentTokenId(caller)), clock.now()),
        };
      },
    }),
    rotate((_p, caller) => currentTokenId(caller), '/api/me/tokens/current/rotate', 'Rotate the PAT making this call'),
    route({
      method: 'get',
      path: '/api/me/tokens/:id',
      params: params.ownToken,
      summary: 'Get one of my tokens',
      tag: T,
      auth: 'self',
      responses: { 200: ok('the token', responses.token), 404: ok('not one of my tokens') },
      async handle({ params, caller }) {
        return { status: 200, body: views.token(await pats.get(me(caller).userId, params.id), clock.now()) };
      },
    }),
    route({
      method: 'patch',
      path: '/api/me/tokens/:id',
      params: params.ownToken,
      summary: 'Rename one of my tokens, change its description, or bring its expiry earlier',
      tag: T,
      auth: 'self',
      body: bodies.patchToken,
      responses: { 200: ok('the token', responses.token) },
      async handle({ params, body, caller }) {
        const updated = await pats.update(me(caller).userId, params.id, inputs.patchToken(body), self(caller));
        return { status: 200, body: views.token(updated, clock.now()) };
      },
    }),
    route({
      method: 'delete',
      path: '/api/me/tokens/:id',
      params: params.ownToken,
      summary: 'Revoke one of my tokens',
      tag: T,
      auth: 'self',
      responses: { 204: ok('revoked'), 404: ok('not one of my tokens') },
      async handle({ params, caller }) {
        await pats.revoke(me(caller).userId, params.id, self(caller));
        return { status: 204 };
      },
    }),
    rotate((p) => p.id ?? '', '/api/me/tokens/:id/rotate', 'Rotate one of my tokens'),
    route({
      method: 'get',
      path: '/api/me/audit',
      summary: 'My audit log, newest first',
      tag: T,
      auth: 'self',
      query: queries.meAudit,
      responses: { 200: ok('a page of events', page(responses.audit)) },
      async handle({ query, caller }) {
        const { items, next } = await audit.list({
          userId: me(caller).userId,
          tokenId: query.token_id,
          type: query.type,
          limit: query.limit,
          after: cursors.decode(query.cursor),
        });
        return { status: 200, body: pageOf(items, next, views.audit) };
      },
    }),
  ];
}

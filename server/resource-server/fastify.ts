/**
 * `tokenwarden/resource-server/fastify`: a Fastify `preHandler` hook and a plugin for the push endpoint. Fastify is
 * imported for its types only, so this adapter costs nothing unless used.
 *
 * ```ts
 * app.get('/hello', { preHandler: requireToken(rs, ['read']) }, async (request) => ({ hello: request.token!.sub }));
 * await app.register(eventsEndpoint(rs, '/ssf/events')); // with events: { delivery: 'push', endpointUrl }
 * ```
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { checkScopes } from './bearer.ts';
import type { AccessToken } from './claims.ts';
import type { ResourceServer } from './resource-server.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The validated access token (set by `requireToken`). */
    token?: AccessToken;
  }
}

/**
 * A `preHandler` admitting requests with a valid bearer token carrying every scope in `scopes`; the token is
 * then `request.token`. Others get the RFC 6750 answer (400, 401, 403, or 503 when Tokenwarden cannot answer).
 */
export function requireToken(
  rs: ResourceServer,
  scopes: readonly string[] = [],
): (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined> {
  const required = checkScopes('scopes', scopes);
  return async (request, reply) => {
    const verdict = await rs.check(request.headers.authorization, required);
    if (verdict.ok) {
      request.token = verdict.token;
      return undefined;
    }
    const { status, headers, body } = rs.render(verdict.rejection);
    return reply.code(status).headers(headers).send(body);
  };
}

/**
 * A plugin serving the RFC 8935 push endpoint at `path` (POST, `application/secevent+jwt` read as text, at most
 * 64 KiB), for `events: { delivery: 'push', endpointUrl }`.
 */
export function eventsEndpoint(rs: ResourceServer, path: string): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    app.addContentTypeParser(
      'application/secevent+jwt',
      { parseAs: 'string', bodyLimit: 64 * 1024 },
      (_request, body, done) => done(null, body),
    );
    app.post(path, async (request, reply) => {
      const { status, headers, body } = await rs.receivePush({
        contentType: request.headers['content-type'],
        authorization: request.headers.authorization,
        body: typeof request.body === 'string' ? request.body : '',
      });
      return reply
        .code(status)
        .headers(headers)
        .send(body === '' ? undefined : body);
    });
  };
}

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import Router from '@koa/router';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import Koa from 'koa';

import { createResourceServer, protect, pushListener, type ResourceServer } from '../server/resource-server/index.ts';
import * as forExpress from '../server/resource-server/express.ts';
import * as forFastify from '../server/resource-server/fastify.ts';
import * as forKoa from '../server/resource-server/koa.ts';
import { challengeParams } from './support/protected-api.ts';
import { startTokenwardenWithEvents, type TokenwardenWithEvents } from './support/ssf-transmitter.ts';

/**
 * The same protected API on Express 5, Koa 3 (@koa/router), Fastify 5 and plain node:http, through each adapter:
 * the token reaches the handler where each framework keeps request state, every refusal is the RFC 6750 answer,
 * Tokenwarden unavailable is a 503, and the push endpoint mounts. The adapters load no framework themselves.
 */
describe('tokenwarden/resource-server adapters', () => {
  let tw: TokenwardenWithEvents;
  let rs: ResourceServer;
  let pat: { id: string; token: string };
  let userId: string;

  before(async function () {
    this.timeout(120_000);
    tw = await startTokenwardenWithEvents();
    const client = await tw.client();
    rs = createResourceServer({
      issuer: tw.issuer,
      clientId: client.clientId,
      clientSecret: client.clientSecret!,
      realm: 'adapters',
      events: false,
      onError: () => undefined,
    });
    userId = await tw.app.createUser();
    pat = await tw.app.createPat(userId, { scopes: ['read'] });
  });
  after(async () => {
    await rs?.close();
    await tw?.close();
  });
  afterEach(() => tw.gateway.fail(undefined));

  /** Each framework's app: GET /hello (any token), /read, /write; POST /ssf/events. Answers { sub, via }. */
  const frameworks: Record<string, () => Promise<{ url: string; close: () => Promise<void> }>> = {
    async express() {
      const app = express();
      app.get('/hello', forExpress.requireToken(rs), (_req, res) => {
        res.json({ sub: res.locals.token!.sub, via: 'res.locals.token' });
      });
      app.get('/read', forExpress.requireToken(rs, ['read']), (_req, res) => {
        res.json({ sub: res.locals.token!.sub, via: 'res.locals.token' });
      });
      app.get('/write', forExpress.requireToken(rs, ['write']), (_req, res) => {
        res.json({ sub: res.locals.token!.sub });
      });
      app.post('/ssf/events', forExpress.receiveEvents(rs));
      return listen(createServer(app));
    },
    async koa() {
      const app = new Koa();
      const router = new Router();
      const answer = (ctx: Koa.Context) => {
        ctx.body = { sub: (ctx.state.token as { sub: string }).sub, via: 'ctx.state.token' };
      };
      router.get('/hello', forKoa.requireToken(rs), answer);
      router.get('/read', forKoa.requireToken(rs, ['read']), answer);
      router.get('/write', forKoa.requireToken(rs, ['write']), answer);
      router.post('/ssf/events', forKoa.receiveEvents(rs));
      app.use(router.routes());
      const callback = app.callback();
      return listen(createServer((req, res) => void callback(req, res)));
    },
    async fastify() {
      const app: FastifyInstance = Fastify();
      const answer = async (request: { token?: { sub: string | undefined } }) => ({
        sub: request.token!.sub,
        via: 'request.token',
      });
      app.get('/hello', { preHandler: forFastify.requireToken(rs) }, answer);
      app.get('/read', { preHandler: forFastify.requireToken(rs, ['read']) }, answer);
      app.get('/write', { preHandler: forFastify.requireToken(rs, ['write']) }, answer);
      await app.register(forFastify.eventsEndpoint(rs, '/ssf/events'));
      const url = await app.listen({ port: 0, host: '127.0.0.1' });
      return { url, close: () => app.close() };
    },
    async 'node:http'() {
      const push = pushListener(rs);
      const scopes: Record<string, string[]> = { '/hello': [], '/read': ['read'], '/write': ['write'] };
      return listen(
        createServer((req, res) => {
          if (req.url === '/ssf/events') return push(req, res);
          void protect(rs, req, res, scopes[req.url!]).then((token) => {
            if (token) res.end(JSON.stringify({ sub: token.sub, via: 'the value protect() resolves to' }));
          });
        }),
      );
    },
  };

  async function listen(server: Server) {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
  }

  for (const [name, start] of Object.entries(frameworks)) {
    describe(name, () => {
      let app: { url: string; close: () => Promise<void> };
      before(async () => {
        app = await start();
      });
      after(() => app?.close());

      const get = async (path: string, authorization?: string) => {
        const res = await fetch(
          `${app.url}${path}`,
          authorization ? { headers: { Authorization: authorization } } : {},
        );
        const text = await res.text();
        return {
          status: res.status,
          headers: res.headers,
          body: (text ? JSON.parse(text) : {}) as Record<string, unknown>,
        };
      };

      it('hands the validated token to the handler', async () => {
        for (const path of ['/hello', '/read']) {
          const res = await get(path, `Bearer ${pat.token}`);
          assert.equal(res.status, 200, `${path}: ${JSON.stringify(res.body)}`);
          assert.equal(res.body.sub, userId);
        }
      });

      it('answers every refusal as RFC 6750 says', async () => {
        let res = await get('/read');
        assert.equal(res.status, 401);
        assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="adapters"');
        res = await get('/read', 'Bearer');
        assert.equal(res.status, 400);
        assert.equal(challengeParams(res.headers.get('www-authenticate')).error, 'invalid_request');
        res = await get('/read', 'Bearer not-a-token');
        assert.equal(res.status, 401);
        assert.equal(res.body.error, 'invalid_token');
        res = await get('/write', `Bearer ${pat.token}`);
        assert.equal(res.status, 403);
        assert.equal(res.headers.get('content-type')?.split(';')[0], 'application/json');
        assert.deepEqual(challengeParams(res.headers.get('www-authenticate')), {
          realm: 'adapters',
          error: 'insufficient_scope',
          error_description: 'the access token lacks a scope this resource requires',
          scope: 'write',
        });
      });

      it('answers 503 with Retry-After when Tokenwarden cannot answer', async () => {
        const fresh = await tw.app.createPat(userId);
        tw.gateway.fail((path) => path === '/introspect');
        const res = await get('/read', `Bearer ${fresh.token}`);
        assert.equal(res.status, 503);
        assert.equal(res.headers.get('retry-after'), '7');
        assert.equal(res.body.error, 'temporarily_unavailable');
      });

      it('mounts the push endpoint (which refuses a sender without the stream’s authorization)', async () => {
        const res = await fetch(`${app.url}/ssf/events`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/secevent+jwt', Authorization: 'Bearer nope' },
          body: 'a.b.c',
        });
        // This resource server has no push subscription: its endpoint answers 404 whatever is sent.
        assert.equal(res.status, 404);
      });
    });
  }
});

/**
 * Tokenwarden with revocation events, for the resource-server library's tests.
 *
 * {@link startTokenwardenWithEvents} starts a real Tokenwarden (`startApp`) behind a {@link Gateway}: a small
 * reverse proxy whose URL is Tokenwarden's `ISSUER`, so the library sees one issuer exactly as in production, and
 * the tests can make any path (or the whole server) fail. When Tokenwarden itself serves
 * `/.well-known/ssf-configuration` (the SSF transmitter of issue #14 part 3), the gateway forwards everything and
 * the real transmitter is tested; until then (or with `SSF_TRANSMITTER=stand-in`) the gateway answers the SSF paths
 * with {@link createSsfStandIn}, a faithful stand-in of the contract in /work/notes/ssf-contract.md:
 *
 * - metadata at `/.well-known/ssf-configuration` (SSF 1.0 §7.1);
 * - streams (§8.1.1) owned by the client whose `client_credentials` token authorizes the call (checked by
 *   introspecting it at Tokenwarden), status (§8.1.2) and verification (§8.1.4);
 * - RFC 8936 poll (`maxEvents`, `returnImmediately` with long polling, `ack`, `setErrs`, unacknowledged SETs sent
 *   again) and RFC 8935 push (`application/secevent+jwt`, the stream's `authorization_header`, 202, retries in
 *   order);
 * - SETs signed with Tokenwarden's own key (given to it as `JWKS`, so its `/jwks` publishes it), `typ:
 *   secevent+jwt`, with `iss`, `aud` (the client id), `iat`, `jti`, `sub_id` (complex: `user` iss_sub and `token`
 *   opaque with the PAT's public id) and one event;
 * - generated from what Tokenwarden records in its audit log, the moment it records it (revocation, rotation,
 *   expiry brought earlier, a user disabled or deleted).
 */
import { randomBytes } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse, Agent } from 'node:http';
import type { Socket } from 'node:net';

import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

import type { AuditEvent, AuditStore } from '../../adapters/types.ts';
import { freePort } from '../../scripts/lib/services.ts';
import { startApp, type StartOptions, type TestApp } from './app.ts';

export const POLL = 'urn:ietf:rfc:8936';
export const PUSH = 'urn:ietf:rfc:8935';
export const VERIFICATION = 'https://schemas.openid.net/secevent/ssf/event-type/verification';

/** The event types the stand-in sends, by audit event. Receivers must not depend on them. */
export const EVENT_TYPES: Readonly<Record<string, string>> = {
  'token.revoked': 'https://schemas.openid.net/secevent/oauth/event-type/token-revoked',
  'token.rotated': 'https://tokenwarden.dev/secevent/event-type/token-rotated',
  'token.expiry_shortened': 'https://tokenwarden.dev/secevent/event-type/token-expiry-shortened',
  'user.disabled': 'https://schemas.openid.net/secevent/risc/event-type/account-disabled',
  'user.deleted': 'https://schemas.openid.net/secevent/risc/event-type/account-purged',
};

/** A signing key pair: the private JWK goes into Tokenwarden's `JWKS`. */
export interface SigningKey {
  readonly privateKey: CryptoKey;
  readonly privateJwk: JWK;
  readonly kid: string;
}

/** A fresh ES256 signing key for Tokenwarden (and the stand-in, which signs as Tokenwarden). */
export async function signingKey(): Promise<SigningKey> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `test-${randomBytes(4).toString('hex')}`;
  return { privateKey, privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'ES256', use: 'sig' }, kid };
}

// --- The gateway ----------------------------------------------------------------------------------------------

/** A reverse proxy in front of Tokenwarden that the tests can break. */
export interface Gateway {
  readonly url: string;
  /** Answers matching requests 503 (`Retry-After: 7`) instead of forwarding them; `undefined` stops. */
  fail(match: ((path: string) => boolean) | undefined): void;
  /** Requests seen whose path starts with `prefix`. */
  count(prefix: string): number;
  /** The headers of the requests seen whose path starts with `prefix`. */
  headers(prefix: string): IncomingMessage['headers'][];
  /** Stops listening and drops every connection: the issuer is down (connections are refused). */
  stop(): Promise<void>;
  /** Listens again, on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

interface GatewayInternals extends Gateway {
  upstream: string | undefined;
  handler: ((req: IncomingMessage, res: ServerResponse) => boolean) | undefined;
}

async function startGateway(): Promise<GatewayInternals> {
  const port = await freePort();
  const agent = new Agent({ keepAlive: true });
  const seen: { path: string; headers: IncomingMessage['headers'] }[] = [];
  const sockets = new Set<Socket>();
  let failing: ((path: string) => boolean) | undefined;
  let server: Server;

  const gateway: GatewayInternals = {
    url: `http://127.0.0.1:${port}`,
    upstream: undefined,
    handler: undefined,
    fail: (match) => (failing = match),
    count: (prefix) => seen.filter((r) => r.path.startsWith(prefix)).length,
    headers: (prefix) => seen.filter((r) => r.path.startsWith(prefix)).map((r) => r.headers),
    async start() {
      server = createServer((req, res) => {
        const path = new URL(req.url ?? '/', 'http://x').pathname;
        seen.push({ path, headers: req.headers });
        if (failing?.(path)) {
          res.writeHead(503, { 'Content-Type': 'application/json', 'Retry-After': '7' });
          res.end('{"error":"temporarily_unavailable","error_description":"the gateway says so"}');
          return;
        }
        if (gateway.handler?.(req, res)) return;
        const upstream = new URL(gateway.upstream!);
        const forward = request(
          {
            host: upstream.hostname,
            port: upstream.port,
            method: req.method,
            path: req.url,
            headers: req.headers,
            agent,
          },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        forward.on('error', () => {
          if (!res.headersSent) res.writeHead(502).end();
          else res.destroy();
        });
        req.pipe(forward);
      });
      server.on('connection', (socket: Socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
      });
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    },
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
    async close() {
      await gateway.stop().catch(() => undefined);
      agent.destroy();
    },
  };
  await gateway.start();
  return gateway;
}

// --- The SSF transmitter stand-in ------------------------------------------------------------------------------

interface StreamState {
  readonly id: string;
  readonly aud: string;
  readonly method: string;
  readonly endpointUrl: string;
  readonly authorizationHeader: string | undefined;
  eventsRequested: string[] | undefined;
  status: 'enabled' | 'paused' | 'disabled';
  /** Unacknowledged SETs by jti, in the order they were queued. */
  readonly queue: Map<string, string>;
  deleted: boolean;
  pushing: boolean;
  wake: (() => void) | undefined;
}

/** What the stand-in records, for assertions. */
export interface SsfStandIn {
  /** Streams ever created, deleted ones included. */
  readonly streams: readonly StreamState[];
  /** Acknowledged jtis, and SETs the receiver reported with `setErrs` (RFC 8936) or a push error (RFC 8935). */
  readonly acknowledged: string[];
  readonly errors: { jti: string; err: string; description?: string }[];
  /** Polls answered. */
  polls: number;
  /** Queues an event for every enabled stream (returns its SETs' jtis); `raw` replaces the signed SET. */
  emit(type: string, subId: Record<string, unknown>, body?: Record<string, unknown>, raw?: string): string[];
  /** Sets a stream's status, sending a stream-updated event as SSF §8.1.5 says. */
  setStatus(streamId: string, status: StreamState['status']): void;
  /** Forgets a stream without telling its receiver (as a transmitter that lost its state would). */
  forget(streamId: string): void;
}

const TOKEN_KINDS = new Set(['personal_access_token']);

function json(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers });
  res.end(body === undefined ? undefined : JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  let text = '';
  for await (const chunk of req as AsyncIterable<Buffer>) text += chunk.toString();
  if (text === '') return {};
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function createSsfStandIn(
  issuer: string,
  key: SigningKey,
  app: TestApp,
): SsfStandIn & {
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  onAudit(event: AuditEvent): void;
  close(): void;
} {
  const streams: StreamState[] = [];
  const acknowledged: string[] = [];
  const errors: SsfStandIn['errors'] = [];
  const live = () => streams.filter((s) => !s.deleted);
  let closed = false;

  const metadata = {
    spec_version: '1_0',
    issuer,
    jwks_uri: `${issuer}/jwks`,
    delivery_methods_supported: [PUSH, POLL],
    configuration_endpoint: `${issuer}/ssf/streams`,
    status_endpoint: `${issuer}/ssf/status`,
    verification_endpoint: `${issuer}/ssf/verify`,
    authorization_schemes: [{ spec_urn: 'urn:ietf:rfc:6749' }],
    default_subjects: 'ALL',
  };
  const supported = [...Object.values(EVENT_TYPES), VERIFICATION];

  /** The client a bearer token was issued to (client_credentials), checked at Tokenwarden's /introspect. */
  async function receiver(req: IncomingMessage): Promise<string | undefined> {
    const match = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/.exec(req.headers.authorization ?? '');
    if (!match) return undefined;
    const answer = await app.introspect(match[1]!);
    if (answer.body.active !== true || TOKEN_KINDS.has(String(answer.body.token_kind))) return undefined;
    return typeof answer.body.client_id === 'string' ? answer.body.client_id : undefined;
  }

  const config = (s: StreamState) => ({
    stream_id: s.id,
    iss: issuer,
    aud: s.aud,
    delivery: {
      method: s.method,
      endpoint_url: s.endpointUrl,
      ...(s.authorizationHeader === undefined ? {} : { authorization_header: s.authorizationHeader }),
    },
    events_supported: supported,
    events_requested: s.eventsRequested ?? supported,
    events_delivered: (s.eventsRequested ?? supported).filter((t) => supported.includes(t)),
    min_verification_interval: 1,
  });

  function sign(s: StreamState, jti: string, type: string, subId?: Record<string, unknown>, body = {}) {
    return new SignJWT({ ...(subId ? { sub_id: subId } : {}), events: { [type]: body } })
      .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'secevent+jwt' })
      .setIssuer(issuer)
      .setAudience(s.aud)
      .setIssuedAt()
      .setJti(jti)
      .sign(key.privateKey);
  }

  function enqueue(s: StreamState, jti: string, set: string) {
    if (s.deleted) return;
    s.queue.set(jti, set);
    s.wake?.();
    if (s.method === PUSH) void push(s);
  }

  /** RFC 8935 delivery, one SET at a time in order, retried with back-off until 202. */
  async function push(s: StreamState) {
    if (s.pushing) return;
    s.pushing = true;
    let delay = 50;
    try {
      while (!s.deleted && !closed && s.status === 'enabled' && s.queue.size > 0) {
        const [jti, set] = s.queue.entries().next().value as [string, string];
        let status = 0;
        try {
          const res = await fetch(s.endpointUrl, {
            method: 'POST',
            headers: {
              'Content-Type': 'application/secevent+jwt',
              Accept: 'application/json',
              ...(s.authorizationHeader ? { Authorization: s.authorizationHeader } : {}),
            },
            body: set,
          });
          status = res.status;
          if (status === 400) {
            const body = (await res.json()) as { err: string; description?: string };
            errors.push({ jti, ...body });
          } else await res.arrayBuffer();
        } catch {
          status = 0;
        }
        if (status === 202 || status === 400) {
          s.queue.delete(jti);
          if (status === 202) acknowledged.push(jti);
          delay = 50;
        } else {
          await new Promise((r) => setTimeout(r, delay));
          delay = Math.min(delay * 2, 1000);
        }
      }
    } finally {
      s.pushing = false;
    }
  }

  const emitTo = (targets: StreamState[], type: string, subId?: Record<string, unknown>, body = {}, raw?: string) => {
    const jtis: string[] = [];
    for (const s of targets) {
      if (s.status !== 'enabled' || (s.eventsRequested && !s.eventsRequested.includes(type))) continue;
      const jti = `set_${randomBytes(9).toString('base64url')}`;
      jtis.push(jti);
      if (raw !== undefined) enqueue(s, jti, raw);
      else void sign(s, jti, type, subId, body).then((set) => enqueue(s, jti, set));
    }
    return jtis;
  };

  async function streamsEndpoint(req: IncomingMessage, res: ServerResponse, url: URL) {
    const aud = await receiver(req);
    if (aud === undefined) return json(res, 401, undefined, { 'WWW-Authenticate': 'Bearer' });
    const own = (id: string | null) => live().find((s) => s.id === id && s.aud === aud);
    if (req.method === 'POST') {
      const body = await readJson(req);
      const delivery = (body?.delivery ?? {}) as Record<string, unknown>;
      const method = delivery.method ?? POLL;
      if (!body || (method !== POLL && method !== PUSH)) return json(res, 400, { error: 'invalid_request' });
      if (method === PUSH && typeof delivery.endpoint_url !== 'string')
        return json(res, 400, { error: 'invalid_request' });
      const id = randomBytes(12).toString('hex');
      const s: StreamState = {
        id,
        aud,
        method,
        endpointUrl: method === POLL ? `${issuer}/ssf/poll/${id}` : String(delivery.endpoint_url),
        authorizationHeader:
          typeof delivery.authorization_header === 'string' ? delivery.authorization_header : undefined,
        eventsRequested: Array.isArray(body.events_requested) ? (body.events_requested as string[]) : undefined,
        status: 'enabled',
        queue: new Map(),
        deleted: false,
        pushing: false,
        wake: undefined,
      };
      streams.push(s);
      return json(res, 201, config(s), { 'Cache-Control': 'no-store' });
    }
    const id = url.searchParams.get('stream_id');
    if (req.method === 'GET') {
      if (id === null)
        return json(
          res,
          200,
          live()
            .filter((s) => s.aud === aud)
            .map(config),
        );
      const s = own(id);
      return s ? json(res, 200, config(s)) : json(res, 404);
    }
    if (req.method === 'DELETE') {
      const s = own(id);
      if (!s) return json(res, 404);
      s.deleted = true;
      s.wake?.();
      return json(res, 204);
    }
    if (req.method === 'PATCH' || req.method === 'PUT') {
      const body = await readJson(req);
      const s = own(typeof body?.stream_id === 'string' ? body.stream_id : null);
      if (!s) return json(res, 404);
      if (Array.isArray(body?.events_requested)) s.eventsRequested = body.events_requested as string[];
      return json(res, 200, config(s));
    }
    return json(res, 405, undefined, { Allow: 'GET, POST, PATCH, PUT, DELETE' });
  }

  async function statusEndpoint(req: IncomingMessage, res: ServerResponse, url: URL) {
    const aud = await receiver(req);
    if (aud === undefined) return json(res, 401);
    const body = req.method === 'POST' ? await readJson(req) : undefined;
    const id = req.method === 'POST' ? String(body?.stream_id) : url.searchParams.get('stream_id');
    const s = live().find((x) => x.id === id && x.aud === aud);
    if (!s) return json(res, 404);
    if (req.method === 'POST' && typeof body?.status === 'string') s.status = body.status as StreamState['status'];
    return json(res, 200, { stream_id: s.id, status: s.status });
  }

  async function verifyEndpoint(req: IncomingMessage, res: ServerResponse) {
    const aud = await receiver(req);
    if (aud === undefined) return json(res, 401);
    const body = await readJson(req);
    const s = live().find((x) => x.id === body?.stream_id && x.aud === aud);
    if (!s) return json(res, 404);
    const event = typeof body?.state === 'string' ? { state: body.state } : {};
    emitTo([s], VERIFICATION, { format: 'opaque', id: s.id }, event);
    return json(res, 204);
  }

  /** RFC 8936 §2.4. */
  async function pollEndpoint(req: IncomingMessage, res: ServerResponse, id: string) {
    const aud = await receiver(req);
    if (aud === undefined) return json(res, 401, undefined, { 'WWW-Authenticate': 'Bearer' });
    const s = live().find((x) => x.id === id && x.aud === aud && x.method === POLL);
    if (!s) return json(res, 404);
    const body = await readJson(req);
    const ack = body?.ack ?? [];
    const setErrs = body?.setErrs ?? {};
    const maxEvents = body?.maxEvents;
    if (
      !body ||
      !Array.isArray(ack) ||
      !ack.every((a) => typeof a === 'string') ||
      typeof setErrs !== 'object' ||
      (maxEvents !== undefined && (!Number.isInteger(maxEvents) || (maxEvents as number) < 0)) ||
      (body.returnImmediately !== undefined && typeof body.returnImmediately !== 'boolean')
    )
      return json(res, 400, { err: 'invalid_request', description: 'malformed poll request' });
    for (const jti of ack) if (s.queue.delete(jti)) acknowledged.push(jti);
    for (const [jti, value] of Object.entries(setErrs as Record<string, { err: string; description?: string }>)) {
      if (s.queue.delete(jti)) errors.push({ jti, ...value });
    }
    const limit = maxEvents === undefined ? 100 : (maxEvents as number);
    if (limit > 0 && s.queue.size === 0 && body.returnImmediately === false) {
      // Long polling: hold the request until an event is queued (or 10 s).
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 10_000);
        s.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      s.wake = undefined;
    }
    standIn.polls++;
    const sets = Object.fromEntries([...s.queue].slice(0, limit));
    return json(res, 200, { sets, moreAvailable: s.queue.size > limit }, { 'Cache-Control': 'no-store' });
  }

  const subjectOf = (event: AuditEvent): Record<string, unknown> | undefined => {
    if (event.userId === null) return undefined;
    const user = { format: 'iss_sub', iss: issuer, sub: event.userId };
    return event.tokenId === null
      ? { format: 'complex', user }
      : { format: 'complex', user, token: { format: 'opaque', id: event.tokenId } };
  };

  const standIn = {
    streams,
    acknowledged,
    errors,
    polls: 0,
    emit: (type: string, subId: Record<string, unknown>, body?: Record<string, unknown>, raw?: string) =>
      emitTo(live(), type, subId, body, raw),
    setStatus(streamId: string, status: StreamState['status']) {
      const s = streams.find((x) => x.id === streamId)!;
      s.status = 'enabled'; // the stream-updated event itself goes out before the stream stops
      emitTo([s], 'https://schemas.openid.net/secevent/ssf/event-type/stream-updated', undefined, { status });
      s.status = status;
    },
    forget(streamId: string) {
      streams.find((x) => x.id === streamId)!.deleted = true;
    },
    onAudit(event: AuditEvent) {
      const type = EVENT_TYPES[event.type];
      const subId = subjectOf(event);
      if (type !== undefined && subId !== undefined) emitTo(live(), type, subId);
    },
    handle(req: IncomingMessage, res: ServerResponse): boolean {
      const url = new URL(req.url ?? '/', issuer);
      const path = url.pathname;
      const poll = /^\/ssf\/poll\/([0-9a-f]+)$/.exec(path);
      let work: Promise<void> | undefined;
      if (path === '/.well-known/ssf-configuration' && req.method === 'GET') json(res, 200, metadata);
      else if (path === '/ssf/streams') work = streamsEndpoint(req, res, url);
      else if (path === '/ssf/status') work = statusEndpoint(req, res, url);
      else if (path === '/ssf/verify' && req.method === 'POST') work = verifyEndpoint(req, res);
      else if (poll && req.method === 'POST') work = pollEndpoint(req, res, poll[1]!);
      else return false;
      work?.catch(() => (res.headersSent ? res.destroy() : json(res, 500)));
      return true;
    },
    close() {
      closed = true;
      for (const s of streams) s.wake?.();
    },
  };
  return standIn;
}

// --- Putting it together ---------------------------------------------------------------------------------------

/** Tokenwarden behind the gateway, with its SSF transmitter (real or the stand-in). */
export interface TokenwardenWithEvents {
  readonly app: TestApp;
  /** The issuer the library is given (the gateway's URL). */
  readonly issuer: string;
  readonly gateway: Gateway;
  readonly key: SigningKey;
  /** Which transmitter answers: Tokenwarden's own, or the stand-in. */
  readonly transmitter: 'tokenwarden' | 'stand-in';
  /** The stand-in, when it answers (undefined against the real transmitter). */
  readonly standIn: SsfStandIn | undefined;
  /** Registers a resource-server client (client_secret_basic unless `body` says otherwise). */
  client(body?: Record<string, unknown>): Promise<{ clientId: string; clientSecret?: string }>;
  close(): Promise<void>;
}

/** Starts Tokenwarden with revocation events. See the file's comment. */
export async function startTokenwardenWithEvents(options: StartOptions = {}): Promise<TokenwardenWithEvents> {
  const gateway = await startGateway();
  const key = await signingKey();
  let standIn: ReturnType<typeof createSsfStandIn> | undefined;
  const tap = (audit: AuditStore): AuditStore => ({
    insert: (event) => {
      const written = audit.insert(event);
      standIn?.onAudit(event);
      return written;
    },
    query: (q) => audit.query(q),
  });
  const app = await startApp({
    ...options,
    env: { ISSUER: gateway.url, JWKS: JSON.stringify({ keys: [key.privateJwk] }), ...options.env },
    wrapStorage: (storage) => {
      const wrapped = options.wrapStorage ? options.wrapStorage(storage) : storage;
      return { ...wrapped, audit: tap(wrapped.audit) };
    },
  });
  gateway.upstream = app.url;
  const served = await fetch(`${app.url}/.well-known/ssf-configuration`);
  await served.arrayBuffer();
  const real = served.status === 200 && process.env.SSF_TRANSMITTER !== 'stand-in';
  if (!real) {
    standIn = createSsfStandIn(gateway.url, key, app);
    const answering = standIn;
    gateway.handler = (req, res) => answering.handle(req, res);
  }
  return {
    app,
    issuer: gateway.url,
    gateway,
    key,
    transmitter: real ? 'tokenwarden' : 'stand-in',
    standIn,
    async client(body = {}) {
      const res = await app.api('POST', '/api/clients', { client_name: 'resource server under test', ...body });
      if (res.status !== 201) throw new Error(`client registration: ${res.status} ${res.text}`);
      return {
        clientId: String(res.body.client_id),
        ...(typeof res.body.client_secret === 'string' ? { clientSecret: res.body.client_secret } : {}),
      };
    },
    async close() {
      standIn?.close();
      await gateway.close();
      await app.close();
    },
  };
}

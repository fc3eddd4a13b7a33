/**
 * A subscriber of Tokenwarden's lifecycle events, run as its own process by the tests (`startReceiver` in
 * `receiver.ts`): a small `node:http` server that
 *
 * - receives webhooks at `/webhook/<name>` and verifies them with the `standardwebhooks` package (the reference
 *   implementation of the specification) against the secret it was given;
 * - receives SSF pushes (RFC 8935) at `/ssf/<name>` and verifies each SET with jose against the transmitter's
 *   `/jwks` (`typ: secevent+jwt`, `iss`, `aud`, no `exp` or `sub`, exactly one event);
 * - polls SSF poll streams (RFC 8936) it is told about, long-polling and acknowledging what it verified;
 * - records everything, verified or not, for the test to read at `GET /received`.
 *
 * Controlled over HTTP (`POST /control/...`) by the test; prints `{"port": n}` once listening.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { Webhook } from 'standardwebhooks';

interface Received {
  readonly channel: 'webhook' | 'push' | 'poll';
  readonly name: string;
  /** webhook-id, or the SET's jti. */
  readonly id: string;
  readonly verified: boolean;
  readonly error?: string;
  /** The webhook payload, or the SET's claims. */
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
  readonly at: number;
}

interface Behaviour {
  /** Answer this many requests with `status` before accepting. */
  failNext: number;
  status: number;
  /** Never answer (the connection stays open). */
  hang: boolean;
  /** Answer 200 with a body that never ends. */
  endless: boolean;
  retryAfter?: string;
}

const received: Received[] = [];
const webhookSecrets = new Map<string, string>();
const behaviours = new Map<string, Behaviour>();
const pushAudiences = new Map<string, string>();
const pushAuthorization = new Map<string, string>();
let issuer: string | null = null;
let jwks: ReturnType<typeof createRemoteJWKSet> | null = null;
const polls = new Map<string, { stop: boolean }>();
const hanging: ServerResponse[] = [];
/** Requests left hanging so far. */
let hung = 0;

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** Applies the configured failures; true when the request was answered (or left hanging) by them. */
function misbehave(name: string, res: ServerResponse): boolean {
  const b = behaviours.get(name);
  if (!b) return false;
  if (b.hang) {
    hung++;
    hanging.push(res);
    return true;
  }
  if (b.endless) {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    const chunk = Buffer.alloc(16 * 1024, 120);
    const more = () => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once('drain', more);
    };
    more();
    return true;
  }
  if (b.failNext > 0) {
    b.failNext--;
    res.writeHead(b.status, b.retryAfter ? { 'Retry-After': b.retryAfter } : {});
    res.end();
    return true;
  }
  return false;
}

/** Verifies a SET as SSF 1.0 and RFC 8417 require; throws why not. */
async function verifySet(set: string, audience: string): Promise<JWTPayload> {
  if (!jwks || !issuer) throw new Error('no transmitter configured');
  const { payload } = await jwtVerify(set, jwks, { issuer, audience, typ: 'secevent+jwt' });
  if (decodeProtectedHeader(set).typ !== 'secevent+jwt') throw new Error('typ is not secevent+jwt');
  if ('sub' in payload) throw new Error('a SET must not carry sub');
  if ('exp' in payload) throw new Error('a SET must not carry exp');
  const events = payload.events as Record<string, unknown> | undefined;
  if (!events || Object.keys(events).length !== 1) throw new Error('a SET must carry exactly one event');
  if (typeof payload.jti !== 'string' || typeof payload.iat !== 'number') throw new Error('jti and iat are required');
  if (!payload.sub_id || typeof payload.sub_id !== 'object') throw new Error('sub_id is required');
  return payload;
}

async function onWebhook(name: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readBody(req);
  if (misbehave(name, res)) return;
  const headers = {
    'webhook-id': String(req.headers['webhook-id'] ?? ''),
    'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
    'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
  };
  const secret = webhookSecrets.get(name);
  try {
    if (!secret) throw new Error('no secret for this endpoint');
    const payload = new Webhook(secret).verify(body, headers);
    received.push({
      channel: 'webhook',
      name,
      id: headers['webhook-id'],
      verified: true,
      body: payload,
      headers,
      at: Date.now(),
    });
    send(res, 204);
  } catch (error) {
    received.push({
      channel: 'webhook',
      name,
      id: headers['webhook-id'],
      verified: false,
      error: (error as Error).message,
      headers,
      at: Date.now(),
    });
    send(res, 401, { error: 'signature' });
  }
}

async function onPush(name: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readBody(req);
  if (misbehave(name, res)) return;
  const expectedAuthorization = pushAuthorization.get(name);
  if (expectedAuthorization !== undefined && req.headers.authorization !== expectedAuthorization) {
    send(res, 401, { err: 'authentication_failed' });
    return;
  }
  const audience = pushAudiences.get(name) ?? '';
  try {
    if (req.headers['content-type'] !== 'application/secevent+jwt') throw new Error('content type');
    const payload = await verifySet(body, audience);
    received.push({ channel: 'push', name, id: String(payload.jti), verified: true, body: payload, at: Date.now() });
    res.writeHead(202);
    res.end();
  } catch (error) {
    received.push({ channel: 'push', name, id: '', verified: false, error: (error as Error).message, at: Date.now() });
    send(res, 400, { err: 'invalid_request', description: (error as Error).message });
  }
}

/** Long-polls a stream until told to stop: acknowledges what it verified, reports what it could not. */
async function pollLoop(name: string, url: string, token: string, audience: string, state: { stop: boolean }) {
  let ack: string[] = [];
  let setErrs: Record<string, { err: string; description: string }> = {};
  while (!state.stop) {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ ack, setErrs, maxEvents: 20, returnImmediately: false }),
        signal: AbortSignal.timeout(30_000),
      });
      if (res.status !== 200) throw new Error(`poll answered ${res.status}`);
      const answer = (await res.json()) as { sets: Record<string, string>; moreAvailable: boolean };
      ack = [];
      setErrs = {};
      for (const [jti, set] of Object.entries(answer.sets)) {
        try {
          const payload = await verifySet(set, audience);
          if (payload.jti !== jti) throw new Error('the jti key does not match the SET');
          received.push({ channel: 'poll', name, id: jti, verified: true, body: payload, at: Date.now() });
          ack.push(jti);
        } catch (error) {
          received.push({
            channel: 'poll',
            name,
            id: jti,
            verified: false,
            error: (error as Error).message,
            at: Date.now(),
          });
          setErrs[jti] = { err: 'invalid_request', description: (error as Error).message };
        }
      }
    } catch {
      // Tokenwarden restarting, or killed: try again shortly (what was not acknowledged comes again).
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function onControl(path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = JSON.parse((await readBody(req)) || '{}') as Record<string, unknown>;
  switch (path) {
    case '/control/transmitter':
      issuer = String(body.issuer);
      jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`), { cooldownDuration: 0 });
      break;
    case '/control/webhook':
      webhookSecrets.set(String(body.name), String(body.secret));
      break;
    case '/control/push':
      pushAudiences.set(String(body.name), String(body.audience));
      if (typeof body.authorization === 'string') pushAuthorization.set(String(body.name), body.authorization);
      break;
    case '/control/behaviour':
      behaviours.set(String(body.name), {
        failNext: Number(body.failNext ?? 0),
        status: Number(body.status ?? 500),
        hang: body.hang === true,
        endless: body.endless === true,
        ...(typeof body.retryAfter === 'string' ? { retryAfter: body.retryAfter } : {}),
      });
      if (body.hang !== true) for (const r of hanging.splice(0)) r.destroy();
      break;
    case '/control/poll': {
      const name = String(body.name);
      const state = { stop: false };
      const previous = polls.get(name);
      if (previous) previous.stop = true;
      polls.set(name, state);
      void pollLoop(name, String(body.url), String(body.token), String(body.audience), state);
      break;
    }
    case '/control/stop-poll': {
      const state = polls.get(String(body.name));
      if (state) state.stop = true;
      break;
    }
    default:
      send(res, 404, { error: 'unknown control' });
      return;
  }
  send(res, 204);
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://receiver');
  const [, kind, name] = url.pathname.split('/');
  const fail = (error: unknown) => {
    if (!res.headersSent) send(res, 500, { error: (error as Error).message });
  };
  if (req.method === 'GET' && url.pathname === '/received') return send(res, 200, received);
  if (req.method === 'GET' && url.pathname === '/hung') return send(res, 200, { hung });
  if (req.method !== 'POST') return send(res, 405, {});
  if (kind === 'control') return void onControl(url.pathname, req, res).catch(fail);
  if (kind === 'webhook' && name) return void onWebhook(name, req, res).catch(fail);
  if (kind === 'ssf' && name) return void onPush(name, req, res).catch(fail);
  if (kind === 'redirect') {
    res.writeHead(307, { Location: `/webhook/${name}` });
    return void res.end();
  }
  send(res, 404, {});
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`);
});
process.on('SIGTERM', () => process.exit(0));

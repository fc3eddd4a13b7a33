/**
 * Plain `node:http` use, which the framework adapters build on: protecting a handler, sending an answer, and the
 * RFC 8935 push endpoint as a request listener.
 *
 * ```ts
 * http.createServer(async (req, res) => {
 *   const token = await protect(rs, req, res, ['read']);
 *   if (!token) return; // refused: the answer is sent
 *   res.end(`hello ${token.sub}`);
 * });
 * ```
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import type { HttpAnswer } from './bearer.ts';
import type { AccessToken } from './claims.ts';
import type { ResourceServer } from './resource-server.ts';

/** The largest push body read (a SET is a few hundred bytes; RFC 8935 sets no limit). */
const PUSH_BODY_LIMIT = 64 * 1024;

/** Writes an answer to a `node:http` response. */
export function send(res: ServerResponse, answer: HttpAnswer): void {
  res.writeHead(answer.status, answer.headers);
  res.end(answer.body);
}

/**
 * Checks the request's bearer token for a route requiring `scopes`. Resolves to the token, or, after sending the
 * refusal (400, 401, 403 or 503), to undefined.
 */
export async function protect(
  rs: ResourceServer,
  req: IncomingMessage,
  res: ServerResponse,
  scopes?: readonly string[],
): Promise<AccessToken | undefined> {
  const verdict = await rs.check(req.headers.authorization, scopes);
  if (verdict.ok) return verdict.token;
  send(res, rs.render(verdict.rejection));
  return undefined;
}

/** The request body as text, or undefined when it is over `limit` bytes. */
export async function readBody(req: IncomingMessage, limit = PUSH_BODY_LIMIT): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The RFC 8935 push endpoint (with `events: { delivery: 'push', endpointUrl }`) as a `node:http` listener, to
 * serve at `endpointUrl`'s path: POST only, a body of at most 64 KiB, 202 when the SET is applied. Express can mount
 * it as is (before any body parser); a body a parser already read as text or a Buffer is used.
 */
export function pushListener(rs: ResourceServer): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void (async () => {
      if (req.method !== 'POST') return send(res, { status: 405, headers: { Allow: 'POST' }, body: '' });
      const parsed = (req as { body?: unknown }).body;
      const body =
        typeof parsed === 'string' ? parsed : Buffer.isBuffer(parsed) ? parsed.toString('utf8') : await readBody(req);
      if (body === undefined) return send(res, { status: 413, headers: { Connection: 'close' }, body: '' });
      send(
        res,
        await rs.receivePush({
          contentType: req.headers['content-type'],
          authorization: req.headers.authorization,
          body,
        }),
      );
    })().catch(() => {
      if (!res.headersSent) send(res, { status: 500, headers: {}, body: '' });
      else res.destroy();
    });
  };
}

/**
 * A tiny API protected with openid-client 6 (RFC 8414 discovery, then RFC 7662 `tokenIntrospection` for every
 * request). Environment: ISSUER (Tokenwarden's https URL, exactly as its discovery document says), CLIENT_ID and
 * CLIENT_SECRET (a client registered with POST /api/clients), PORT (default 8080; 0 picks a free one).
 *
 * - /api/hello: any active token; /api/read and /api/write: the token's scope must contain that word;
 * - no token, or an inactive one: 401 with WWW-Authenticate: Bearer (error="invalid_token" for an inactive one);
 *   a missing scope: 403 error="insufficient_scope" (RFC 6750 §3.1); Tokenwarden unreachable or 503: 503, never a
 *   guess;
 * - admitted: 200, with the token's sub (the PAT's user) in X-Remote-User, and the path as the body.
 */
import { createServer, type ServerResponse } from 'node:http';

import * as client from 'openid-client';

const { ISSUER, CLIENT_ID, CLIENT_SECRET, PORT = '8080' } = process.env;
if (!ISSUER || !CLIENT_ID || !CLIENT_SECRET) throw new Error('ISSUER, CLIENT_ID and CLIENT_SECRET are required');

/** The scope each document needs (null: any active token). */
const DOCUMENTS: Record<string, string | null> = { '/api/hello': null, '/api/read': 'read', '/api/write': 'write' };

const config = await client.discovery(new URL(ISSUER), CLIENT_ID, undefined, client.ClientSecretBasic(CLIENT_SECRET), {
  algorithm: 'oauth2',
});

function answer(res: ServerResponse, status: number, headers: Record<string, string>, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-store', ...headers });
  res.end(body);
}

const server = createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  const required = DOCUMENTS[path];
  if (required === undefined) return answer(res, 404, {}, 'not found\n');
  const bearer = /^Bearer ([\x21-\x7e]+)$/i.exec(req.headers.authorization ?? '')?.[1];
  if (!bearer) return answer(res, 401, { 'WWW-Authenticate': 'Bearer' }, 'no bearer token\n');

  client.tokenIntrospection(config, bearer).then(
    (token) => {
      if (!token.active) {
        return answer(res, 401, { 'WWW-Authenticate': 'Bearer error="invalid_token"' }, 'inactive token\n');
      }
      const user = { 'X-Remote-User': token.sub ?? '' };
      if (required !== null && !(token.scope ?? '').split(' ').includes(required)) {
        const challenge = `Bearer error="insufficient_scope", scope="${required}"`;
        return answer(res, 403, { ...user, 'WWW-Authenticate': challenge }, 'insufficient scope\n');
      }
      return answer(res, 200, user, `${path}\n`);
    },
    (error: unknown) => {
      process.stderr.write(`introspection failed: ${(error as Error).message}\n`);
      answer(res, 503, {}, 'introspection failed\n');
    },
  );
});

server.listen(Number(PORT), '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  process.stdout.write(`listening ${port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));

/**
 * A tiny API protected with oauth4webapi 3 (RFC 8414 discovery, then RFC 7662 introspection for every request).
 * Environment: ISSUER (Tokenwarden's https URL, exactly as its discovery document says), CLIENT_ID and CLIENT_SECRET
 * (a client registered with POST /api/clients), PORT (default 8080; 0 picks a free one).
 *
 * - /api/hello: any active token; /api/read and /api/write: the token's scope must contain that word;
 * - no token, or an inactive one: 401 with WWW-Authenticate: Bearer (error="invalid_token" for an inactive one);
 *   a missing scope: 403 error="insufficient_scope" (RFC 6750 §3.1); Tokenwarden unreachable or 503: 503 with
 *   Retry-After, never a guess;
 * - admitted: 200, with the token's sub (the PAT's user) in X-Remote-User, and the path as the body.
 */
import { createServer, type ServerResponse } from 'node:http';

import * as oauth from 'oauth4webapi';

const { ISSUER, CLIENT_ID, CLIENT_SECRET, PORT = '8080' } = process.env;
if (!ISSUER || !CLIENT_ID || !CLIENT_SECRET) throw new Error('ISSUER, CLIENT_ID and CLIENT_SECRET are required');

/** The scope each path needs (null: any active token). */
const PATHS: Record<string, string | null> = { '/api/hello': null, '/api/read': 'read', '/api/write': 'write' };

const issuer = new URL(ISSUER);
const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2' }));
const client: oauth.Client = { client_id: CLIENT_ID };
const clientAuth = oauth.ClientSecretBasic(CLIENT_SECRET);

function answer(res: ServerResponse, status: number, headers: Record<string, string>, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-store', ...headers });
  res.end(body);
}

const server = createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  const required = PATHS[path];
  if (required === undefined) return answer(res, 404, {}, 'not found\n');
  const bearer = /^Bearer ([\x21-\x7e]+)$/i.exec(req.headers.authorization ?? '')?.[1];
  if (!bearer) return answer(res, 401, { 'WWW-Authenticate': 'Bearer' }, 'no bearer token\n');

  oauth
    .introspectionRequest(as, client, clientAuth, bearer)
    .then((response) => oauth.processIntrospectionResponse(as, client, response))
    .then(
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
        // Tokenwarden answers 503 with Retry-After while its store is unreachable: pass that on, never guess.
        process.stderr.write(`introspection failed: ${(error as Error).message}\n`);
        answer(res, 503, { 'Retry-After': '5' }, 'introspection failed\n');
      },
    );
});

server.listen(Number(PORT), '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  process.stdout.write(`listening ${port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));

/**
 * Benchmark baseline (a′): bare `node:http`, the real limit of the introspection fast path (which is a plain
 * `node:http` step ahead of Koa): it reads the same small form body, and answers the same headers the fast path
 * sends (`Content-Type`, `Content-Length`, `Cache-Control`) with a fixed JSON. Run as its own process by
 * bench/run.ts: `node bench/baseline-http.ts <port>`.
 */
import { createServer } from 'node:http';

const port = Number(process.argv[2]);
// The size of a live PAT's answer (about 300 bytes), so the baseline sends what a warm introspection sends.
const answer = Buffer.from(
  JSON.stringify({
    active: true,
    sub: 'bench-warm',
    username: 'bench-warm',
    token_kind: 'personal_access_token',
    pat_name: 'warm',
    client_id: 'personal-access-token',
    iat: 1_800_000_000,
    iss: 'http://127.0.0.1:40000',
    jti: 'tok_0123456789abcdefghij',
    scope: 'read',
    token_type: 'Bearer',
  }),
);
const headers = {
  'Content-Type': 'application/json; charset=utf-8',
  'Content-Length': answer.length,
  'Cache-Control': 'no-store',
};
createServer((req, res) => {
  req.on('data', () => undefined);
  req.on('end', () => {
    res.writeHead(200, headers);
    res.end(answer);
  });
}).listen(port, '127.0.0.1', () => process.stdout.write('listening\n'));
// A normal exit on SIGINT, so that `--cpu-prof` (bench/profile.ts) writes its profile.
process.once('SIGINT', () => process.exit(0));

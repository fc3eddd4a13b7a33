/**
 * Benchmark baseline (a): a bare Koa 3 app that reads the request body and answers fixed JSON. Run as its own
 * process by bench/run.ts: `node --import tsx bench/baseline.ts <port>`.
 */
import Koa from 'koa';

const port = Number(process.argv[2]);
const answer = JSON.stringify({ active: true, sub: 'user', client_id: 'personal-access-token', token_type: 'Bearer' });
const app = new Koa();
app.use(async (ctx) => {
  for await (const chunk of ctx.req) void chunk;
  ctx.set('Cache-Control', 'no-store');
  ctx.type = 'application/json';
  ctx.body = answer;
});
app.listen(port, '127.0.0.1', () => process.stdout.write('listening\n'));

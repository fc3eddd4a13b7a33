/**
 * `GET /docs`: the management API's OpenAPI document (`/openapi.json`) as a readable page, rendered in the browser by
 * Swagger UI from the `swagger-ui-dist` package, served from this server (no CDN). Read-only: "Try it out" is off, so
 * the page never holds a bearer token; the guides' `curl` examples are the way to call the API.
 *
 * The page has its own Content-Security-Policy: scripts, styles, images and fetches from this origin only, no inline
 * code (the initialiser is a file), no framing. Unlike the console's, it does not require Trusted Types: Swagger UI
 * renders the document's Markdown descriptions (sanitised with DOMPurify) through `innerHTML`.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

import type { Context, Middleware } from 'koa';

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tokenwarden management API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<main id="swagger-ui"></main>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

const INIT = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
  supportedSubmitMethods: [],
  defaultModelsExpandDepth: 0,
  validatorUrl: null,
});
`;

/** The Content-Security-Policy of `/docs`. */
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

/** The files of `swagger-ui-dist` the page loads, by the path they are served at. */
const ASSETS: Record<string, { file: string; type: string }> = {
  '/docs/swagger-ui.css': { file: 'swagger-ui.css', type: 'text/css; charset=utf-8' },
  '/docs/swagger-ui-bundle.js': { file: 'swagger-ui-bundle.js', type: 'text/javascript; charset=utf-8' },
};

function headers(ctx: Context): void {
  ctx.set('Content-Security-Policy', DOCS_CSP);
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('Cross-Origin-Resource-Policy', 'same-origin');
}

/** Serves the page, its initialiser and Swagger UI's two files (read from `swagger-ui-dist` once, when first asked). */
export function docsPageRoute(): Middleware {
  const root = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  const loaded = new Map<string, Promise<Buffer>>();
  const asset = (file: string) => {
    let body = loaded.get(file);
    if (!body) {
      body = readFile(join(root, file));
      loaded.set(file, body);
    }
    return body;
  };
  return async function serveDocsPage(ctx, next) {
    const path = ctx.path;
    if ((path !== '/docs' && !path.startsWith('/docs/')) || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) {
      await next();
      return;
    }
    if (path === '/docs' || path === '/docs/') {
      headers(ctx);
      ctx.set('Cache-Control', 'no-cache');
      ctx.type = 'text/html; charset=utf-8';
      ctx.body = PAGE;
      return;
    }
    if (path === '/docs/init.js') {
      headers(ctx);
      ctx.set('Cache-Control', 'no-cache');
      ctx.type = 'text/javascript; charset=utf-8';
      ctx.body = INIT;
      return;
    }
    const found = ASSETS[path];
    if (!found) {
      await next();
      return;
    }
    headers(ctx);
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.type = found.type;
    ctx.body = await asset(found.file);
  };
}

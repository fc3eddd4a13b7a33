/**
 * The web console at `/console/`: a static page (no inline script or style), the bundle built by `npm run build`
 * (`dist/console/console.js` and `console.css`, from `server/console/web/`), the message catalogues, and the console's public
 * settings at `/console/config.json` (which provider to sign in with, as which client, for which resource). The
 * console is a client of the documented management API like any other: it has no endpoint of its own beyond these
 * files.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { Context, Middleware } from 'koa';

import type { Config } from '../../config/index.ts';
import { CONSOLE_CLIENT_ID, apiResource, consoleRedirectUri } from '../oidc/embedded-console.ts';
import { DEFAULT_LANGUAGE, packageRoot, type Catalogue } from './catalogues.ts';
import { securityHeaders } from './headers.ts';

/** The console's public settings, as `/console/config.json` serves them. */
export type ConsoleSettings =
  | {
      readonly mode: 'off';
      readonly languages: readonly { code: string; name: string }[];
      readonly default_language: string;
    }
  | {
      readonly mode: 'embedded' | 'external';
      readonly issuer: string;
      readonly client_id: string;
      readonly redirect_uri: string;
      readonly scope: string;
      readonly resource: string | null;
      readonly languages: readonly { code: string; name: string }[];
      readonly default_language: string;
    };

/** What the console's config.json says for this configuration. */
function consoleSettings(config: Config, catalogues: ReadonlyMap<string, Catalogue>): ConsoleSettings {
  const languages = [...catalogues.values()].map((c) => ({ code: c.code, name: c.name }));
  const common = { languages, default_language: DEFAULT_LANGUAGE };
  const redirect = consoleRedirectUri(config.issuer);
  switch (config.console.mode) {
    case 'off':
      return { mode: 'off', ...common };
    case 'embedded':
      return {
        mode: 'embedded',
        issuer: config.issuer,
        client_id: CONSOLE_CLIENT_ID,
        redirect_uri: redirect,
        scope: 'openid',
        resource: apiResource(config.issuer),
        ...common,
      };
    case 'external':
      return {
        mode: 'external',
        issuer: config.console.issuer,
        client_id: config.console.clientId,
        redirect_uri: redirect,
        scope: config.console.scopes,
        resource: config.console.resource,
        ...common,
      };
  }
}

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

const ASSET_TYPES: Readonly<Record<string, string>> = {
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
  'console.js.map': 'application/json; charset=utf-8',
  'console.css.map': 'application/json; charset=utf-8',
};

const etagOf = (body: Buffer | string) => `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;

/** Reads the built bundle; missing files are left out (the page then says how to build them). */
export function loadAssets(dir: string = join(packageRoot(), 'dist', 'console')): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const [name, type] of Object.entries(ASSET_TYPES)) {
    const file = join(dir, name);
    if (!existsSync(file)) continue;
    const body = readFileSync(file);
    assets.set(name, { body, type, etag: etagOf(body) });
  }
  return assets;
}

function shell(built: boolean): string {
  const missing = built
    ? ''
    : '<p class="notice">The console has not been built: run <code>npm run build</code>, then reload.</p>';
  return `<!doctype html>
<html lang="${DEFAULT_LANGUAGE}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tokenwarden</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/console.css">
<script type="module" src="/console/console.js"></script>
</head>
<body>
<div id="app"><main class="main"><p class="loading">Tokenwarden…</p>${missing}<noscript><p>Tokenwarden's console needs JavaScript.</p></noscript></main></div>
</body>
</html>
`;
}

export interface ConsoleRoutesDeps {
  readonly config: Config;
  readonly catalogues: ReadonlyMap<string, Catalogue>;
  /** The built bundle (default: read from `dist/console` once, at start-up). */
  readonly assets?: ReadonlyMap<string, Asset>;
}

/** The `/console` middleware. */
export function consoleRoutes(deps: ConsoleRoutesDeps): Middleware {
  const { config, catalogues } = deps;
  const assets = deps.assets ?? loadAssets();
  const settings = JSON.stringify(consoleSettings(config, catalogues));
  // The console fetches discovery and the token endpoint from its provider: only that origin besides its own.
  const connect = config.console.mode === 'external' ? [new URL(config.console.issuer).origin] : [];
  const page = shell(assets.has('console.js'));

  function send(ctx: Context, body: string | Buffer, type: string, etag: string, cache: string) {
    ctx.set('Cache-Control', cache);
    ctx.set('ETag', etag);
    ctx.set('X-Content-Type-Options', 'nosniff');
    if (ctx.get('If-None-Match') === etag) {
      ctx.status = 304;
      return;
    }
    ctx.type = type;
    ctx.body = body;
  }

  const settingsTag = etagOf(settings);
  const pageTag = etagOf(page);
  return async function webConsole(ctx, next) {
    if (ctx.path !== '/console' && !ctx.path.startsWith('/console/')) {
      await next();
      return;
    }
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.status = 405;
      ctx.set('Allow', 'GET, HEAD');
      ctx.body = { error: 'invalid_request', error_description: 'method not allowed; use GET' };
      return;
    }
    const name = ctx.path.slice('/console/'.length);
    if (ctx.path === '/console') {
      ctx.status = 301;
      ctx.redirect('/console/');
      return;
    }
    if (name === '') {
      securityHeaders(ctx, { connect });
      // The page is the same for everyone; what changes with a deployment is revalidated.
      send(ctx, page, 'text/html; charset=utf-8', pageTag, 'no-cache');
      return;
    }
    if (name === 'config.json') {
      send(ctx, settings, 'application/json; charset=utf-8', settingsTag, 'no-cache');
      return;
    }
    const language = /^messages\/([A-Za-z-]{2,8})\.json$/.exec(name)?.[1];
    const catalogue = language === undefined ? undefined : catalogues.get(language);
    if (catalogue) {
      send(ctx, catalogue.json, 'application/json; charset=utf-8', etagOf(catalogue.json), 'no-cache');
      return;
    }
    const asset = assets.get(name);
    if (asset) {
      send(ctx, asset.body, asset.type, asset.etag, 'no-cache');
      return;
    }
    await next();
  };
}

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ConfigError, loadConfig } from '../config/index.ts';
import { acceptedLanguages, format, loadCatalogues, pickLanguage } from '../server/console/catalogues.ts';
import { startApp, type TestApp } from './support/app.ts';

type Row = Record<string, unknown>;

const production = {
  NODE_ENV: 'production',
  MONGODB_URI: 'mongodb://db.internal:27017/tokenwarden',
  ADMIN_CLIENT_SECRET: 's'.repeat(40),
  SECRET_KEY: 'k'.repeat(40),
};
const issuer = {
  issuer: 'https://login.example.com',
  jwks_uri: 'https://login.example.com/jwks',
  audience: 'https://tw/api',
};
const trusted = JSON.stringify([issuer]);

describe('web console: serving and configuration', () => {
  describe('configuration', () => {
    it('signs in through the development sign-in on the in-memory store, and is off on MongoDB', () => {
      assert.deepEqual(loadConfig({}).console, { mode: 'embedded' });
      const development = { NODE_ENV: 'development', MONGODB_URI: 'mongodb://x/y', SECRET_KEY: 'k'.repeat(40) };
      assert.deepEqual(loadConfig(development).console, { mode: 'off' });
      assert.deepEqual(loadConfig({ ...development, CONSOLE_DEV_SIGNIN: 'true' }).console, { mode: 'embedded' });
      assert.deepEqual(loadConfig(production).console, { mode: 'off' });
    });

    it('refuses the development sign-in in production, naming the variable', () => {
      assert.throws(
        () => loadConfig({ ...production, CONSOLE_DEV_SIGNIN: 'true' }),
        (error: unknown) => error instanceof ConfigError && error.variable === 'CONSOLE_DEV_SIGNIN',
      );
    });

    it('reads the external provider, which must also be a trusted issuer and have a client id', () => {
      const config = loadConfig({
        ...production,
        TRUSTED_ISSUERS: trusted,
        CONSOLE_ISSUER: 'https://login.example.com',
        CONSOLE_CLIENT_ID: 'tokenwarden',
        CONSOLE_SCOPES: 'openid profile',
        CONSOLE_RESOURCE: 'https://tw/api',
      });
      assert.deepEqual(config.console, {
        mode: 'external',
        issuer: 'https://login.example.com',
        clientId: 'tokenwarden',
        scopes: 'openid profile',
        resource: 'https://tw/api',
      });
      const fails = (env: Record<string, string>, variable: string) =>
        assert.throws(
          () => loadConfig({ ...production, ...env }),
          (error: unknown) => error instanceof ConfigError && error.variable === variable,
          variable,
        );
      fails({ CONSOLE_ISSUER: 'https://login.example.com', CONSOLE_CLIENT_ID: 'x' }, 'CONSOLE_ISSUER');
      fails({ TRUSTED_ISSUERS: trusted, CONSOLE_ISSUER: 'https://login.example.com' }, 'CONSOLE_CLIENT_ID');
      fails({ CONSOLE_ISSUER: 'not a url' }, 'CONSOLE_ISSUER');
      fails({ CONSOLE_RESOURCE: 'https://tw/api#x' }, 'CONSOLE_RESOURCE');
      fails(
        {
          TRUSTED_ISSUERS: JSON.stringify([{ ...issuer, admin_claim: { name: 'roles' } }]),
        },
        'TRUSTED_ISSUERS',
      );
    });
  });

  describe('message catalogues', () => {
    it('has every key of the English catalogue in every language, and nothing more', () => {
      const catalogues = loadCatalogues();
      assert.deepEqual([...catalogues.keys()].sort(), ['en', 'nl']);
      const keys = (code: string) => Object.keys(catalogues.get(code)!.messages).sort();
      assert.deepEqual(keys('nl'), keys('en'));
    });

    it('stops start-up naming the file and key a translation misses', () => {
      const dir = mkdtempSync(join(tmpdir(), 'tw-messages-'));
      try {
        writeFileSync(join(dir, 'en.json'), JSON.stringify({ 'language.name': 'English', a: 'A', b: 'B' }));
        writeFileSync(join(dir, 'de.json'), JSON.stringify({ 'language.name': 'Deutsch', a: 'A' }));
        assert.throws(() => loadCatalogues(dir), /de\.json: b is missing/);
        writeFileSync(join(dir, 'de.json'), JSON.stringify({ 'language.name': 'Deutsch', a: 'A', b: 'B' }));
        assert.deepEqual([...loadCatalogues(dir).keys()], ['de', 'en'], 'a third language is one file');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('picks the browser’s language and formats plurals in it', () => {
      const catalogues = loadCatalogues();
      assert.deepEqual(acceptedLanguages('fr;q=0.9, nl-BE, en;q=0.5, *;q=0.1'), ['nl-BE', 'fr', 'en']);
      assert.equal(pickLanguage(catalogues, ['fr', 'nl-BE']).code, 'nl');
      assert.equal(pickLanguage(catalogues, ['fr']).code, 'en');
      const nl = catalogues.get('nl')!;
      assert.equal(format(nl, 'create.days', { count: 1 }), '1 dag');
      assert.equal(format(nl, 'create.days', { count: 30 }), '30 dagen');
    });
  });

  describe('serving', () => {
    let app: TestApp;
    before(async () => {
      app = await startApp({ memory: true });
    });
    after(() => app.close());

    it('serves the page under a strict Content-Security-Policy, with no inline script or style', async () => {
      const res = await fetch(`${app.url}/console/`);
      assert.equal(res.status, 200);
      const csp = res.headers.get('Content-Security-Policy') ?? '';
      for (const directive of [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
      ]) {
        assert.ok(csp.split('; ').includes(directive), `${directive} in ${csp}`);
      }
      assert.doesNotMatch(csp, /unsafe|https?:/);
      assert.equal(res.headers.get('X-Frame-Options'), 'DENY');
      assert.equal(res.headers.get('Referrer-Policy'), 'no-referrer');
      const html = await res.text();
      assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)/, 'every script has a src');
      assert.doesNotMatch(html, /<style|\sstyle=|\son[a-z]+=/i);
      const redirect = await fetch(`${app.url}/console`, { redirect: 'manual' });
      assert.equal(redirect.status, 301);
      assert.equal(redirect.headers.get('Location'), '/console/');
    });

    it('publishes its settings and catalogues, and nothing else under /console', async () => {
      const settings = (await (await fetch(`${app.url}/console/config.json`)).json()) as Row;
      assert.equal(settings.mode, 'embedded');
      assert.equal(settings.issuer, app.url);
      assert.equal(settings.client_id, 'tokenwarden-console');
      assert.equal(settings.redirect_uri, `${app.url}/console/`);
      assert.equal(settings.resource, `${app.url}/api`);
      assert.deepEqual(settings.languages, [
        { code: 'en', name: 'English' },
        { code: 'nl', name: 'Nederlands' },
      ]);
      const nl = await fetch(`${app.url}/console/messages/nl.json`);
      assert.equal(((await nl.json()) as Row)['signin.submit'], 'Inloggen');
      const etag = nl.headers.get('ETag')!;
      assert.equal(
        (await fetch(`${app.url}/console/messages/nl.json`, { headers: { 'If-None-Match': etag } })).status,
        304,
      );
      assert.equal((await fetch(`${app.url}/console/messages/xx.json`)).status, 404);
      assert.equal((await fetch(`${app.url}/console/../package.json`)).status, 404);
      assert.equal((await fetch(`${app.url}/console/server.js`)).status, 404);
      assert.equal((await fetch(`${app.url}/console/`, { method: 'POST' })).status, 405);
    });

    it('says the console is off when no provider is configured', async () => {
      const off = await startApp({ env: { CONSOLE_DEV_SIGNIN: 'false' } });
      try {
        const settings = (await (await fetch(`${off.url}/console/config.json`)).json()) as Row;
        assert.equal(settings.mode, 'off');
        assert.equal(settings.issuer, undefined);
        assert.equal((await fetch(`${off.url}/interaction/abc`)).status, 404);
        const discovery = (await (await fetch(`${off.url}/.well-known/oauth-authorization-server`)).json()) as Row;
        assert.equal(discovery.authorization_endpoint, undefined, 'no grant uses the authorization endpoint');
      } finally {
        await off.close();
      }
    });
  });
});

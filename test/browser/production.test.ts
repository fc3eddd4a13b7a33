/**
 * The production path, once per language: NODE_ENV=production, no development sign-in, and the console signing
 * people in at a stand-in external identity provider (a second, plain oidc-provider process issuing RFC 9068
 * access tokens), configured as CONSOLE_ISSUER and as a trusted issuer with an admin claim.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import type { Page } from 'playwright-core';

import { startApp, type TestApp } from '../support/app.ts';
import { freePort } from '../../scripts/lib/services.ts';
import { launch, type Browser } from './support/browser.ts';
import { LANGUAGES, checkPage, messages, startStandInIdp, type StandInIdp } from './support/console.ts';

const CLIENT_ID = 'tokenwarden-console-at-idp';

for (const language of LANGUAGES) {
  describe(`web console against an external identity provider (${language})`, function () {
    this.timeout(120_000);
    const t = messages(language);
    let app: TestApp;
    let idp: StandInIdp;
    let browser: Browser;
    let page: Page;

    before(async () => {
      const [port, idpPort] = [await freePort(), await freePort()];
      const base = `http://127.0.0.1:${port}`;
      idp = await startStandInIdp(idpPort, base, CLIENT_ID);
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      app = await startApp({
        env: {
          NODE_ENV: 'production',
          PORT: String(port),
          ISSUER: base,
          JWKS: JSON.stringify({ keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'tw', alg: 'ES256' }] }),
          COOKIE_KEYS: randomBytes(32).toString('base64url'),
          TRUSTED_ISSUERS: JSON.stringify([
            {
              issuer: idp.issuer,
              jwks_uri: `${idp.issuer}/jwks`,
              audience: `${base}/api`,
              admin_claim: { name: 'groups', value: 'token-admins' },
            },
          ]),
          CONSOLE_ISSUER: idp.issuer,
          CONSOLE_CLIENT_ID: CLIENT_ID,
          CONSOLE_RESOURCE: `${base}/api`,
        },
      });
      await app.api('POST', '/api/users', { id: 'carol', username: 'carol' });
      browser = await launch(language, app.url);
      page = browser.page;
      // The stand-in's development pages load a web font from the internet; there is none here.
      await browser.context.route(/fonts\.googleapis\.com/, (route) => route.abort());
    });
    after(async () => {
      await browser?.close();
      await app?.close();
      await idp?.stop();
    });
    afterEach(() => {
      assert.deepEqual(browser.problems.splice(0), [], 'no CSP violation or script error');
    });

    const heading = (name: string) => page.getByRole('heading', { level: 1, name });

    /** Signs in through the console at the stand-in provider (any password) as `login`. */
    async function signIn(login: string) {
      await page.goto(`${app.url}/console/`);
      await heading(t('signin.title')).waitFor();
      await page.getByText(new URL(idp.issuer).host).waitFor();
      await page.getByRole('button', { name: t('signin.submit'), exact: true }).click();
      await page.waitForURL(`${idp.issuer}/**`);
      await page.waitForLoadState('domcontentloaded');
      if (process.env.DEBUG_IDP) console.log(page.url(), (await page.content()).slice(0, 1500));
      await page.locator('input[name=login]').fill(login);
      await page.locator('input[name=password]').fill('any password');
      await page.locator('button[type=submit]').click();
      await page.waitForURL(`${app.url}/console/**`);
    }

    it('offers no development sign-in, and says where the console signs in', async () => {
      assert.equal((await fetch(`${app.url}/interaction/anything`)).status, 404);
      const settings = (await (await fetch(`${app.url}/console/config.json`)).json()) as Record<string, unknown>;
      assert.equal(settings.mode, 'external');
      assert.equal(settings.issuer, idp.issuer);
      assert.equal(settings.client_id, CLIENT_ID);
      const csp = (await fetch(`${app.url}/console/`)).headers.get('Content-Security-Policy') ?? '';
      assert.match(csp, new RegExp(`connect-src 'self' ${idp.issuer}(;|$)`));
    });

    it('signs a user in at the provider and creates a PAT that introspects active', async () => {
      await signIn('carol');
      await heading(t('tokens.title')).waitFor();
      await page.getByRole('link', { name: t('tokens.create') }).click();
      await heading(t('create.title')).waitFor();
      await page.getByLabel(t('create.name'), { exact: true }).fill('from production');
      await page.getByLabel('read', { exact: true }).check();
      await page.getByRole('button', { name: t('create.submit') }).click();
      await heading(t('secret.title')).waitFor();
      const value = await page.locator('#secret-value').inputValue();
      assert.equal((await app.introspect(value)).body.active, true);
      await page.getByRole('button', { name: t('secret.done') }).click();
      await heading('from production').waitFor();
      const audit = await app.api('GET', '/api/audit?user_id=carol&type=token.created');
      assert.equal((audit.body.data as Record<string, unknown>[])[0]?.actor, 'user:carol');
    });

    it('makes an admin of the person whose token carries the admin claim, audited under their id', async () => {
      await page.getByRole('button', { name: t('nav.signOut') }).click();
      await signIn('idp-admin');
      await heading(t('users.title')).waitFor();
      await page.getByRole('link', { name: 'carol', exact: true }).click();
      await heading('carol').waitFor();
      await page.getByRole('link', { name: t('user.action.disable') }).click();
      await page.getByRole('button', { name: t('user.disable.submit') }).click();
      await page.getByText(t('user.disable.done', { name: 'carol' })).waitFor();
      await checkPage(page, language, 'admin-user-external');
      const audit = await app.api('GET', '/api/audit?user_id=carol&type=user.disabled');
      const [event] = audit.body.data as Record<string, unknown>[];
      assert.equal(event?.actor, 'user:idp-admin');
      assert.equal(event?.via, 'admin_api');
    });

    it('refuses a disabled user who signed in at the provider, with the API’s reason', async () => {
      await page.getByRole('button', { name: t('nav.signOut') }).click();
      await signIn('carol');
      const alert = page.getByRole('alert');
      await alert.getByText(/this user is disabled in Tokenwarden/).waitFor();
      await heading(t('signin.title')).waitFor();
      await checkPage(page, language, 'sign-in-refused');
    });
  });
}

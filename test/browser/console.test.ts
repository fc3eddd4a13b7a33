/**
 * The web console in Debian's Chromium, once per language, against a real Tokenwarden (MongoDB-compatible store and
 * Redis from the harness) signing people in through its embedded provider and development sign-in. Every page is
 * checked with axe-core; English runs save the screenshots the README and docs/give-users-pats.md show.
 */
import assert from 'node:assert/strict';

import type { Page } from 'playwright-core';

import { startApp, type TestApp } from '../support/app.ts';
import { eventually } from '../support/eventually.ts';
import { launch, screenshot, type Browser } from './support/browser.ts';
import { LANGUAGES, checkPage, messages, tabTo } from './support/console.ts';

const DAY = 86_400_000;

for (const language of LANGUAGES) {
  describe(`web console in Chromium (${language})`, function () {
    this.timeout(120_000);
    const t = messages(language);
    let app: TestApp;
    let browser: Browser;
    let page: Page;
    let alice: string;
    /** The PAT created through the console, and its rotated value. */
    let pat = '';
    let rotated = '';
    let patId = '';

    before(async () => {
      app = await startApp({ env: { CONSOLE_DEV_SIGNIN: 'true' } });
      alice = await app.createUser('alice');
      browser = await launch(language, app.url);
      page = browser.page;
    });
    after(async () => {
      await browser?.close();
      await app?.close();
    });
    afterEach(function () {
      assert.deepEqual(browser.problems.splice(0), [], 'no CSP violation or script error');
    });

    const heading = (name: string) => page.getByRole('heading', { level: 1, name });
    const button = (name: string, exact = false) => page.getByRole('button', { name, exact });
    const link = (name: string, exact = false) => page.getByRole('link', { name, exact });

    /** Signs in through the console and the development sign-in page, as `who` (a label on that page). */
    async function signIn(who: string, check = false) {
      await page.goto(`${app.url}/console/`);
      await heading(t('signin.title')).waitFor();
      if (check) await checkPage(page, language, 'sign-in');
      await button(t('signin.submit'), true).click();
      await heading(t('signin.dev.title')).waitFor();
      if (check) await checkPage(page, language, 'dev-sign-in');
      await page.getByLabel(who).check();
      await button(t('signin.dev.submit'), true).click();
    }

    async function signOut() {
      await button(t('nav.signOut')).click();
      await heading(t('signin.title')).waitFor();
    }

    /** Everything the page holds as text or in storage (to prove a secret is gone). */
    const everything = () =>
      page.evaluate<string>(`(() => {
        const values = [...document.querySelectorAll('input, textarea')].map((el) => el.value).join(' ');
        const dump = (s) => JSON.stringify(Object.fromEntries(Object.entries(s)));
        return document.documentElement.outerHTML + ' ' + values + ' ' + dump(localStorage) + ' ' + dump(sessionStorage) + ' local:' + localStorage.length;
      })()`);

    it('signs a user in, shows the API’s error, creates a PAT, copies it, and the PAT introspects active', async () => {
      await app.createPat(alice, {
        name: 'ci deploys',
        description: 'GitHub Actions, deploy job',
        scopes: ['repo:read', 'repo:write'],
        expires_at: new Date(Date.now() + 5 * DAY).toISOString(),
      });
      await signIn('alice', true);
      await heading(t('tokens.title')).waitFor();
      const soon = page.getByRole('listitem').filter({ hasText: 'ci deploys' });
      await soon.getByText(t('status.expiresSoon')).waitFor();
      await soon.getByText(new RegExp(t('token.expiresRelative', { when: '.+' }))).waitFor();
      await checkPage(page, language, 'tokens');
      if (language !== 'en') await screenshot(page, `tokens-${language}`);

      await link(t('tokens.create')).click();
      await heading(t('create.title')).waitFor();
      // The policy's limits are stated next to the field.
      await page.getByText(t('create.expiryHint', { count: 365 })).waitFor();
      await page.getByLabel('read', { exact: true }).check();
      await page.getByLabel(t('create.days', { count: 90 }), { exact: false }).check();
      await checkPage(page, language, 'token-create');
      await button(t('create.submit')).click();
      // The API's own error_description, linked to the field it names.
      const summary = page.getByRole('alert');
      await summary.getByRole('link', { name: 'name: must not be empty' }).waitFor();
      await checkPage(page, language, 'token-create-error');
      await summary.getByRole('link').click();
      assert.equal(
        await page.evaluate(
          () => (globalThis as unknown as { document: { activeElement: { id: string } } }).document.activeElement.id,
        ),
        'field-name',
      );

      await page.getByLabel(t('create.name'), { exact: true }).fill('laptop');
      await page.getByLabel(t('create.description')).fill('My work laptop');
      await button(t('create.submit')).click();

      await heading(t('secret.title')).waitFor();
      pat = await page.locator('#secret-value').inputValue();
      assert.match(pat, /^pat_[0-9A-Za-z]{42}$/);
      await page.getByText(`Bearer ${pat}`).waitFor();
      await button(t('secret.copy')).click();
      await page.getByText(t('common.copied')).waitFor();
      assert.equal(
        await page.evaluate(() =>
          (
            globalThis as unknown as { navigator: { clipboard: { readText(): Promise<string> } } }
          ).navigator.clipboard.readText(),
        ),
        pat,
      );
      await checkPage(page, language, 'token-value');

      const introspection = await app.introspect(pat);
      assert.equal(introspection.body.active, true);
      assert.equal(introspection.body.pat_name, 'laptop');
      patId = String(introspection.body.jti);

      await button(t('secret.done')).click();
      await heading('laptop').waitFor();
      // Dismissed: the value is nowhere in the page, its inputs or browser storage.
      assert.ok(!(await everything()).includes(pat), 'the PAT value is gone');
      assert.ok((await everything()).endsWith('local:0'), 'nothing in localStorage');
      for (const cookie of await browser.context.cookies()) assert.ok(!cookie.value.includes(pat));
      await page.getByText('My work laptop').waitFor();
      await checkPage(page, language, 'token-detail');
    });

    it('renames the token and brings its expiry earlier', async () => {
      await link(t('token.action.edit')).click();
      await heading(t('edit.title')).waitFor();
      await checkPage(page, language, 'token-edit');
      await page.getByLabel(t('create.name'), { exact: true }).fill('work laptop');
      await button(t('edit.submit')).click();
      await heading('work laptop').waitFor();
      await page.getByText(t('edit.done')).waitFor();

      await link(t('token.action.expiry')).click();
      await heading(t('expiry.title')).waitFor();
      await checkPage(page, language, 'token-expiry');
      const target = new Date(Date.now() + 10 * DAY);
      const day = `${target.getFullYear()}-${String(target.getMonth() + 1).padStart(2, '0')}-${String(target.getDate()).padStart(2, '0')}`;
      await page.getByLabel(t('expiry.date')).fill(day);
      await button(t('expiry.submit')).click();
      await heading('work laptop').waitFor();
      // The detail page's heading can show before the change is acknowledged: wait for the API to say it.
      await eventually(async () => {
        const stored = await app.api('GET', `/api/users/${alice}/tokens/${patId}`);
        const expires = new Date(String(stored.body.expires_at));
        return Math.abs(expires.getTime() - target.getTime()) < 1.1 * DAY;
      });
    });

    it('rotates the token with a grace period: the new value is shown once, both values work meanwhile', async () => {
      const expiresBefore = (await app.api('GET', `/api/users/${alice}/tokens/${patId}`)).body.expires_at;
      await link(t('token.action.rotate')).click();
      await heading(t('rotate.title')).waitFor();
      await page.getByLabel(t('rotate.keep', { date: '' }).trim(), { exact: false }).check();
      await page.getByLabel(t('rotate.grace.3600')).check();
      await checkPage(page, language, 'token-rotate');
      await button(t('rotate.submit')).click();
      await heading(t('secret.rotatedTitle')).waitFor();
      rotated = await page.locator('#secret-value').inputValue();
      assert.notEqual(rotated, pat);
      assert.equal((await app.introspect(rotated)).body.active, true);
      assert.equal((await app.introspect(pat)).body.active, true, 'the old value lives through its grace period');
      const kept = await app.api('GET', `/api/users/${alice}/tokens/${patId}`);
      assert.equal(kept.body.expires_at, expiresBefore, 'the new value keeps the expiry');
      await button(t('secret.done')).click();
      await heading('work laptop').waitFor();
      assert.ok(!(await everything()).includes(rotated));
      // The token's audit trail shows what happened.
      const history = page.getByRole('region', { name: t('token.history') });
      await history.getByText(t('audit.type.token.rotated')).waitFor();
      await history.getByText(t('audit.type.token.created')).waitFor();
    });

    it('revokes the token in the UI after a confirmation, and introspection answers inactive', async () => {
      await link(t('token.action.revoke')).click();
      await heading(t('revoke.title')).waitFor();
      await checkPage(page, language, 'token-revoke');
      await button(t('revoke.submit')).click();
      await page.getByText(t('revoke.done', { name: 'work laptop' })).waitFor();
      await page.getByText(t('status.revoked'), { exact: true }).first().waitFor();
      assert.deepEqual((await app.introspect(rotated)).body, { active: false });
      assert.deepEqual((await app.introspect(pat)).body, { active: false });
    });

    it('is usable with the keyboard alone: generate a token, copy it, dismiss it', async () => {
      await page.goto(`${app.url}/console/#/tokens`);
      await heading(t('tokens.title')).waitFor();
      await tabTo(page, t('tokens.create'));
      await page.keyboard.press('Enter');
      await heading(t('create.title')).waitFor();
      await tabTo(page, t('create.name'));
      await page.keyboard.type('keyboard only');
      await tabTo(page, /^read$/);
      await page.keyboard.press('Space');
      await tabTo(page, t('create.submit'));
      await page.keyboard.press('Enter');
      await heading(t('secret.title')).waitFor();
      const value = await page.locator('#secret-value').inputValue();
      await tabTo(page, t('secret.copy'));
      await page.keyboard.press('Enter');
      await page.getByText(t('common.copied')).waitFor();
      await tabTo(page, t('secret.done'));
      await page.keyboard.press('Enter');
      await heading('keyboard only').waitFor();
      assert.equal((await app.introspect(value)).body.scope, 'read');
    });

    it('signs in as the admin, finds the user, disables them, and their PATs become inactive', async () => {
      const live = await app.createPat(alice, { name: 'still live' });
      assert.equal((await app.introspect(live.token)).body.active, true);
      await signOut();
      await signIn(t('signin.dev.admin'));
      await heading(t('users.title')).waitFor();
      await page.getByLabel(t('users.search')).fill('ALI');
      await button(t('users.searchSubmit')).click();
      await page.getByRole('row').filter({ hasText: alice }).waitFor();
      await checkPage(page, language, 'admin-users');
      await link('alice', true).click();
      await heading('alice').waitFor();
      await checkPage(page, language, 'admin-user');
      await link(t('user.action.disable')).click();
      await heading(t('user.disable.title', { name: 'alice' })).waitFor();
      await page.getByText(t('user.disable.consequence2', { name: 'alice' })).waitFor();
      await checkPage(page, language, 'admin-user-disable');
      await button(t('user.disable.submit')).click();
      await page.getByText(t('user.disable.done', { name: 'alice' })).waitFor();
      assert.deepEqual((await app.introspect(live.token)).body, { active: false });
      // Audited under the person, through the admin API.
      const audit = await app.api('GET', `/api/audit?user_id=${alice}&type=user.disabled`);
      const [event] = audit.body.data as Record<string, unknown>[];
      assert.equal(event?.actor, 'user:dev-admin');
      assert.equal(event?.via, 'admin_api');

      await link(t('nav.audit'), true).click();
      await heading(t('audit.title')).waitFor();
      await page.getByLabel(t('audit.user')).fill(alice);
      await button(t('audit.filter')).click();
      await page.getByRole('cell', { name: t('audit.type.user.disabled') }).waitFor();
      await checkPage(page, language, 'admin-audit');
    });

    it('refuses to sign in a disabled user, saying why', async () => {
      await signOut();
      await signIn('alice');
      const alert = page.getByRole('alert');
      await alert.getByText(t('signin.dev.userDisabled', { name: 'alice' })).waitFor();
      await checkPage(page, language, 'dev-sign-in-refused');
      await page.getByLabel(t('signin.dev.admin')).check();
      await button(t('signin.dev.submit'), true).click();
      await heading(t('users.title')).waitFor();
    });

    it('registers a resource-server client; its secret is shown once and authenticates', async () => {
      await link(t('nav.clients')).click();
      await heading(t('clients.title')).waitFor();
      await link(t('clients.register')).click();
      await heading(t('clients.register')).waitFor();
      await page.getByLabel(t('client.name')).fill('orders API');
      await page.getByLabel(t('client.method.client_secret_post')).check();
      await checkPage(page, language, 'admin-client-register');
      await button(t('clients.registerSubmit')).click();
      await heading(t('clients.secretTitle')).waitFor();
      const secret = await page.locator('#client-secret').inputValue();
      const clientId = (await page.locator('dd code').first().textContent()) ?? '';
      await checkPage(page, language, 'admin-client-secret');
      const bob = await app.createUser();
      const probe = await app.createPat(bob);
      const answer = await app.form('/introspect', { token: probe.token, client_id: clientId, client_secret: secret });
      assert.equal(answer.body.active, true);
      await button(t('secret.done')).click();
      await page.getByRole('row').filter({ hasText: 'orders API' }).waitFor();
      assert.ok(!(await everything()).includes(secret));
      await checkPage(page, language, 'admin-clients');
    });

    it('works at 360 px: no page scrolls sideways', async () => {
      await page.setViewportSize({ width: 360, height: 740 });
      try {
        const bob = await app.createUser('bob');
        const token = await app.createPat(bob, { name: 'phone', scopes: ['read', 'write'] });
        for (const [route, name] of [
          [`#/admin/users/${bob}`, 'admin-user-360'],
          [`#/admin/users/${bob}/tokens/${token.id}`, 'token-detail-360'],
          [`#/admin/users/${bob}/tokens/new`, 'token-create-360'],
          ['#/admin/users', 'admin-users-360'],
          ['#/admin/tokens?status=active', 'admin-token-search-360'],
          ['#/admin/clients', 'admin-clients-360'],
          ['#/admin/audit', 'admin-audit-360'],
        ] as const) {
          await page.goto(`${app.url}/console/${route}`);
          await page.getByRole('heading', { level: 1 }).waitFor();
          await page
            .getByRole('status')
            .filter({ hasText: t('common.loading') })
            .waitFor({ state: 'detached' });
          const width = await page.evaluate(
            () =>
              (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document
                .documentElement.scrollWidth,
          );
          if (width > 360) {
            const wide = await page.evaluate(
              `[...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > 360 && !e.closest('.table-wrap')).map((e) => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).slice(0, 8).join(' | ')`,
            );
            assert.fail(`${route} is ${width} px wide: ${String(wide)}`);
          }
          await checkPage(page, language, name);
        }
      } finally {
        await page.setViewportSize({ width: 1280, height: 900 });
      }
    });

    it('finds tokens unused for 90 days and revokes them in bulk', async () => {
      const carol = await app.createUser('carol');
      const usedLongAgo = await app.createPat(carol, {
        name: 'used long ago',
        expires_at: new Date(Date.now() + 300 * DAY).toISOString(),
      });
      const neverUsed = await app.createPat(carol, {
        name: 'never used',
        expires_at: new Date(Date.now() + 300 * DAY).toISOString(),
      });
      const usedLately = await app.createPat(carol, {
        name: 'used lately',
        expires_at: new Date(Date.now() + 300 * DAY).toISOString(),
      });
      await app.introspect(usedLongAgo.token);
      await eventually(
        async () => (await app.api('GET', `/api/users/${carol}/tokens/${usedLongAgo.id}`)).body.last_used_at !== null,
      );
      // 91 days pass, on the server and in the browser alike.
      app.clock.advance(91 * DAY);
      await page.clock.setFixedTime(new Date(Date.now() + 91 * DAY));
      const brandNew = await app.createPat(carol, {
        name: 'brand new',
        expires_at: new Date(app.clock.now().getTime() + 30 * DAY).toISOString(),
      });
      await app.introspect(usedLately.token);
      await eventually(
        async () => (await app.api('GET', `/api/users/${carol}/tokens/${usedLately.id}`)).body.last_used_at !== null,
      );

      await page.goto(`${app.url}/console/#/admin/tokens`);
      await heading(t('search.title')).waitFor();
      const rows = page.getByRole('row');
      await rows.nth(1).waitFor();
      // The preset's search is held on its way, to see what the page shows meanwhile: not the previous search's
      // rows, which a person could select as if they answered this one.
      let release = () => {};
      const held = new Promise<void>((resolve) => (release = resolve));
      const isPresetSearch = (url: URL) => url.pathname === '/api/tokens' && url.searchParams.has('last_used_before');
      await page.route(isPresetSearch, async (route) => {
        await held;
        await route.continue();
      });
      await link(t('search.preset.unused')).click();
      await page.locator('a[aria-current="page"]', { hasText: t('search.preset.unused') }).waitFor();
      await page
        .getByRole('status')
        .filter({ hasText: t('common.loading') })
        .waitFor();
      assert.equal(await rows.count(), 0);
      release();
      await page.unroute(isPresetSearch);
      await rows.filter({ hasText: 'used long ago' }).waitFor();
      await rows.filter({ hasText: 'never used' }).first().waitFor();
      assert.equal(await rows.filter({ hasText: 'used lately' }).count(), 0);
      assert.equal(await rows.filter({ hasText: 'brand new' }).count(), 0);
      await page.getByRole('checkbox', { name: t('search.select', { name: 'used long ago', user: carol }) }).check();
      await page.getByRole('checkbox', { name: t('search.select', { name: 'never used', user: carol }) }).check();
      await checkPage(page, language, 'admin-token-search');
      await button(t('search.bulk.revoke', { count: 2 })).click();
      await page.getByRole('heading', { name: t('search.bulk.confirmTitle', { count: 2 }) }).waitFor();
      await button(t('search.bulk.submit', { count: 2 })).click();
      await page.getByText(t('search.bulk.finished', { count: 2 })).waitFor();
      assert.deepEqual((await app.introspect(usedLongAgo.token)).body, { active: false });
      assert.deepEqual((await app.introspect(neverUsed.token)).body, { active: false });
      assert.equal((await app.introspect(usedLately.token)).body.active, true);
      assert.equal((await app.introspect(brandNew.token)).body.active, true);
    });
  });
}

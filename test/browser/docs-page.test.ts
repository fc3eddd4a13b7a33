/**
 * `/docs` in Debian's Chromium: Swagger UI, served from this server, renders the management API's OpenAPI document
 * under the page's strict CSP (no violation, no script error), every documented operation appears, axe-core finds
 * nothing serious beyond Swagger UI's three known defects, and nothing is fetched from another origin.
 */
import assert from 'node:assert/strict';

import { startApp, type TestApp } from '../support/app.ts';
import { launch, screenshot, seriousViolations, type Browser } from './support/browser.ts';

describe('the management API reference at /docs', function () {
  this.timeout(60_000);
  let app: TestApp;
  let browser: Browser | undefined;

  before(async () => {
    app = await startApp({ memory: true });
  });
  after(async () => {
    await browser?.close();
    await app?.close();
  });

  it('renders every operation of /openapi.json, from this origin only, with no CSP violation', async () => {
    const document = (await (await fetch(`${app.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const operations = Object.values(document.paths).reduce((n, ops) => n + Object.keys(ops).length, 0);

    browser = await launch('en', app.url);
    const { page } = browser;
    const origins = new Set<string>();
    page.on('request', (request) => origins.add(new URL(request.url()).origin));
    await page.goto(`${app.url}/docs`);
    await page.getByRole('heading', { name: /Tokenwarden management API/ }).waitFor();
    await page.locator('.opblock').first().waitFor();
    assert.equal(await page.locator('.opblock').count(), operations);
    assert.ok(await page.getByText('/api/users/{user_id}/tokens/{id}/rotate').first().isVisible());

    // One operation opened: its parameters and responses are there, and it cannot be sent from the page.
    await page.locator('.opblock-summary', { hasText: '/api/users/{user_id}/tokens' }).first().click();
    await page.locator('.opblock-body .responses-wrapper').first().waitFor();
    assert.equal(await page.getByRole('button', { name: 'Try it out' }).count(), 0);

    assert.deepEqual([...origins], [new URL(app.url).origin]);
    assert.deepEqual(browser.problems, []);
    // Swagger UI's own markup has three known axe findings (issues open upstream: nested buttons in an operation's
    // summary, white-on-colour method badges, the unlabelled servers <select>); anything else fails.
    const known = /^(serious: color-contrast|serious: nested-interactive|critical: select-name) /;
    assert.deepEqual(
      (await seriousViolations(page)).filter((v) => !known.test(v)),
      [],
    );
    await screenshot(page, 'api-reference');
  });
});

/**
 * Debian's Chromium driven by playwright-core, for the console's browser tests: a fresh profile per launch, the
 * person's language set through the browser (`--lang`, `Accept-Language`, `navigator.languages`), clipboard allowed
 * for the console's origin, and every page watched for Content-Security-Policy violations and script errors.
 * axe-core is injected through the DevTools protocol (which the page's CSP does not govern).
 */
import { mkdtempSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Where Debian installs Chromium (`apt-get install chromium`). */
export const CHROMIUM = '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** A browser for one language, with a fresh profile. */
export interface Browser {
  readonly context: BrowserContext;
  readonly page: Page;
  /** CSP violations and uncaught errors seen so far (each test should end with none). */
  readonly problems: string[];
  close(): Promise<void>;
}

/** Launches Chromium in `language`, allowing the clipboard on `origin`. */
export async function launch(
  language: string,
  origin: string,
  viewport = { width: 1280, height: 900 },
): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'tw-chromium-'));
  const locale = language === 'nl' ? 'nl-NL' : 'en-GB';
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...ARGS, `--lang=${locale}`],
    locale,
    viewport,
    timezoneId: 'Europe/Amsterdam',
    permissions: ['clipboard-read', 'clipboard-write'],
  });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
  const problems: string[] = [];
  const watch = (page: Page) => {
    page.on('console', (message) => {
      const text = message.text();
      if (/Content[- ]Security[- ]Policy|Trusted Type|Refused to/i.test(text)) problems.push(`CSP: ${text}`);
    });
    page.on('pageerror', (error) => problems.push(`script error: ${error.message}`));
  };
  context.pages().forEach(watch);
  context.on('page', watch);
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    problems,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

interface AxeResult {
  violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[];
}

/** Runs axe-core on the page; resolves with the serious and critical violations, described. */
export async function seriousViolations(page: Page): Promise<string[]> {
  // Through the DevTools protocol: not an inline script, so the page's CSP (rightly) has no say.
  await page.evaluate(AXE);
  const result = await page.evaluate(() =>
    (globalThis as unknown as { axe: { run(options: unknown): Promise<AxeResult> } }).axe.run({
      resultTypes: ['violations'],
    }),
  );
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact}: ${v.id} (${v.help}) at ${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')}`);
}

/** Where screenshots go (committed, shown in the README and docs/give-users-pats.md). */
export const SCREENSHOTS = join(import.meta.dirname, '..', '..', '..', 'docs', 'screenshots');

/** Saves a full-page screenshot as `docs/screenshots/<name>.png`. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/**
 * Helpers for driving the console in the browser tests: its own message catalogues (so a test finds "Sign in" in
 * English and "Inloggen" in Dutch through the same key), the accessibility check, screenshots, and the stand-in
 * identity provider process.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

import type { Page } from 'playwright-core';

import { format, loadCatalogues, type Catalogue } from '../../../server/console/catalogues.ts';
import { screenshot, seriousViolations } from './browser.ts';

const catalogues = loadCatalogues();

/** The console's message `key` in `language`, as the page shows it. */
export function messages(language: string): (key: string, values?: Record<string, string | number>) => string {
  const catalogue: Catalogue = catalogues.get(language)!;
  return (key, values) => format(catalogue, key, values);
}

/** The languages the suite runs in: every catalogue. */
export const LANGUAGES = [...catalogues.keys()];

/**
 * Checks the page as it stands: no serious or critical axe-core violation, and (in English, or for pages named with
 * a `-<lang>` suffix) saves its screenshot for the docs (docs/screenshots/).
 */
export async function checkPage(page: Page, language: string, name: string): Promise<void> {
  const violations = await seriousViolations(page);
  assert.deepEqual(violations, [], `axe-core on ${name} (${language})`);
  if (language === 'en') await screenshot(page, name);
}

/** Presses Tab until the focused element's accessible text matches, and returns how many presses it took. */
export async function tabTo(page: Page, matches: RegExp | string, limit = 60): Promise<number> {
  for (let presses = 1; presses <= limit; presses += 1) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const el = (
        globalThis as unknown as {
          document: {
            activeElement: {
              textContent: string | null;
              getAttribute(n: string): string | null;
              labels?: { textContent: string | null }[];
            } | null;
          };
        }
      ).document.activeElement;
      if (!el) return '';
      const label = el.labels?.[0]?.textContent ?? '';
      return `${el.getAttribute('aria-label') ?? ''} ${label} ${el.textContent ?? ''}`.trim();
    });
    if (typeof matches === 'string' ? focused.includes(matches) : matches.test(focused)) return presses;
  }
  throw new Error(`Tab never reached ${String(matches)}`);
}

/** The stand-in identity provider, a separate oidc-provider process. */
export interface StandInIdp {
  readonly issuer: string;
  stop(): Promise<void>;
}

/** Starts the stand-in provider on `port`, for a Tokenwarden at `tokenwarden`, and waits until it listens. */
export async function startStandInIdp(port: number, tokenwarden: string, clientId: string): Promise<StandInIdp> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'stand-in-idp.ts'), String(port), tokenwarden, clientId],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const issuer = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`stand-in provider did not start: ${output}`)), 30_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const ready = /ready (\S+)/.exec(output);
      if (ready) {
        clearTimeout(timer);
        resolve(ready[1]!);
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`stand-in provider exited (${String(code)}): ${output}`));
    });
  });
  return {
    issuer,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

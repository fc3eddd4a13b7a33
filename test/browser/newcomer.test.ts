/**
 * The newcomer's path, as the README tells it: `npm start` (the built server, as its own process, with nothing
 * configured) prints the console's URL; in the browser, sign in as the demo user, create a PAT, copy it, and a
 * resource server (the one the banner prints) finds it active. Timed, against the issue's "within a minute".
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

import { freePort } from '../../scripts/lib/services.ts';
import { launch, type Browser } from './support/browser.ts';
import { LANGUAGES, messages } from './support/console.ts';

const ROOT = join(import.meta.dirname, '..', '..');

for (const language of LANGUAGES) {
  describe(`the newcomer's first PAT, from npm start (${language})`, function () {
    this.timeout(120_000);
    const t = messages(language);
    let server: ChildProcess;
    let output = '';
    let browser: Browser | undefined;

    after(async () => {
      await browser?.close();
      if (server && server.exitCode === null) {
        const exited = new Promise((resolve) => server.once('exit', resolve));
        server.kill('SIGTERM');
        await exited;
      }
    });

    it('prints the console URL; sign in, create and copy a PAT that introspects active, well within a minute', async () => {
      const started = Date.now();
      const port = await freePort();
      server = spawn(process.execPath, [join(ROOT, 'dist', 'server', 'index.js')], {
        env: { PATH: process.env.PATH ?? '', PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      server.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      server.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const consoleUrl = await new Promise<string>((resolve, reject) => {
        const timer = setInterval(() => {
          const found = /^\s+(http:\/\/\S+\/console\/)$/m.exec(output);
          if (found && /Discovery:/.test(output)) {
            clearInterval(timer);
            resolve(found[1]!);
          } else if (server.exitCode !== null) {
            clearInterval(timer);
            reject(new Error(`the server exited: ${output}`));
          }
        }, 50);
      });
      const [, rsId = '', rsSecret = ''] = /resource server\s+(\S+) \/ (\S+)/.exec(output) ?? [];

      browser = await launch(language, new URL(consoleUrl).origin);
      const { page } = browser;
      await page.goto(consoleUrl);
      await page.getByRole('button', { name: t('signin.submit'), exact: true }).click();
      await page.getByLabel('demo').check();
      await page.getByRole('button', { name: t('signin.dev.submit'), exact: true }).click();
      await page.getByRole('link', { name: t('tokens.create') }).click();
      await page.getByLabel(t('create.name'), { exact: true }).fill('my first token');
      await page.getByLabel('read', { exact: true }).check();
      await page.getByRole('button', { name: t('create.submit') }).click();
      const value = await page.locator('#secret-value').inputValue();
      await page.getByRole('button', { name: t('secret.copy') }).click();
      await page.getByText(t('common.copied')).waitFor();
      const answer = await fetch(new URL('/introspect', consoleUrl), {
        method: 'POST',
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          Authorization: `Basic ${Buffer.from(`${rsId}:${rsSecret}`).toString('base64')}`,
        },
        body: new URLSearchParams({ token: value }).toString(),
      });
      const body = (await answer.json()) as Record<string, unknown>;
      assert.equal(body.active, true);
      assert.equal(body.username, 'demo');
      const seconds = (Date.now() - started) / 1000;
      assert.ok(seconds < 60, `took ${seconds} s`);
      assert.deepEqual(browser.problems, []);
    });
  });
}

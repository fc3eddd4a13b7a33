import assert from 'node:assert/strict';

import { ConfigError, loadConfig } from '../config/index.ts';
import { startApp, type TestApp } from './support/app.ts';
import { startSmtpReceiver, type ReceivedMail, type SmtpReceiver } from './support/smtp-receiver.ts';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const FROM = 'Tokenwarden <tokens@example.test>';

/** Moves the clocks of all the apps to `at` (they started together, so they move together). */
function moveTo(apps: TestApp[], at: number): void {
  for (const app of apps) app.clock.advance(at - app.clock.now().getTime());
}

const run = (app: TestApp) => app.tw.jobs.scheduler.runNow();

/** A user with an email address (or none). */
async function createUser(app: TestApp, email: string | null): Promise<string> {
  const username = `mail-${Math.random().toString(36).slice(2, 10)}`;
  const res = await app.api('POST', '/api/users', { username, email });
  assert.equal(res.status, 201, res.text);
  return String(res.body.id);
}

/** The messages about one token (its id is in every message), as `<subject kind> <to>`. */
function about(smtp: SmtpReceiver, tokenId: string): ReceivedMail[] {
  return smtp.messages.filter((m) => (m.parsed.text ?? '').includes(`(id ${tokenId})`));
}

const kindOf = (m: ReceivedMail) => {
  const subject = m.parsed.subject ?? '';
  if (/ expires in /.test(subject)) return 'expiring';
  if (/ has expired$/.test(subject)) return 'expired';
  if (/ was revoked: it was not used$/.test(subject)) return 'revoked';
  return `? ${subject}`;
};

/** The environment of an instance that emails through the receiver. */
const mailEnv = (smtp: SmtpReceiver, more: Record<string, string> = {}) => ({
  SMTP_URL: smtp.url,
  NOTICE_EMAIL_FROM: FROM,
  ...more,
});

describe('email notices (SMTP_URL), against a real SMTP server', () => {
  let smtp: SmtpReceiver;
  before(async () => {
    smtp = await startSmtpReceiver();
  });
  after(() => smtp.close());

  describe('configuration', () => {
    const base = { NODE_ENV: 'test' };
    it('needs SMTP_URL and NOTICE_EMAIL_FROM together, naming the missing one', () => {
      assert.throws(
        () => loadConfig({ ...base, SMTP_URL: 'smtp://mail.example.com:587' }),
        (e: unknown) => e instanceof ConfigError && /NOTICE_EMAIL_FROM/.test(e.message),
      );
      assert.throws(
        () => loadConfig({ ...base, NOTICE_EMAIL_FROM: 'tokens@example.com' }),
        (e: unknown) => e instanceof ConfigError && /SMTP_URL/.test(e.message),
      );
      const config = loadConfig({ ...base, SMTP_URL: 'smtps://u:p@mail.example.com', NOTICE_EMAIL_FROM: FROM });
      assert.deepEqual(config.jobs.email, { smtpUrl: 'smtps://u:p@mail.example.com', from: FROM });
      assert.equal(loadConfig(base).jobs.email, null);
    });

    for (const [name, value] of [
      ['SMTP_URL', 'http://mail.example.com'],
      ['SMTP_URL', 'mail.example.com:25'],
      ['NOTICE_EMAIL_FROM', 'not an address'],
      ['NOTICE_EMAIL_FROM', 'a@b.example\r\nBcc: x@y.example'],
    ] as const) {
      it(`refuses ${name}=${JSON.stringify(value)}, naming the variable`, () => {
        const env = { ...base, SMTP_URL: 'smtp://mail.example.com', NOTICE_EMAIL_FROM: FROM, [name]: value };
        assert.throws(
          () => loadConfig(env),
          (e: unknown) => e instanceof ConfigError && e.message.includes(name),
        );
      });
    }
  });

  describe('on one instance', () => {
    let app: TestApp;
    before(async () => {
      app = await startApp({ env: mailEnv(smtp, { EXPIRY_NOTICE_DAYS: '14,3' }), captureLogs: true });
    });
    after(() => app.close());

    it('emails the user at each configured threshold and at the expiry, once each, never with the token’s value', async () => {
      const t0 = app.clock.now().getTime();
      const expires = t0 + 20 * DAY;
      const user = await createUser(app, 'alice@example.test');
      const pat = await app.createPat(user, { name: 'deploy bot', expires_at: new Date(expires).toISOString() });
      const steps: Array<[number, string[]]> = [
        [expires - 15 * DAY, []],
        [expires - 14 * DAY + HOUR, ['expiring']],
        [expires - 4 * DAY, ['expiring']],
        [expires - 3 * DAY + HOUR, ['expiring', 'expiring']],
        [expires - HOUR, ['expiring', 'expiring']],
        [expires + HOUR, ['expiring', 'expiring', 'expired']],
        [expires + 2 * DAY, ['expiring', 'expiring', 'expired']],
      ];
      try {
        for (const [at, expected] of steps) {
          moveTo([app], at);
          await run(app);
          await run(app);
          assert.deepEqual(about(smtp, pat.id).map(kindOf), expected, `at expiry ${(at - expires) / HOUR} h`);
        }
      } finally {
        moveTo([app], t0);
      }

      const [first, second, expired] = about(smtp, pat.id);
      assert.equal(first!.parsed.subject, 'Your personal access token "deploy bot" expires in 13 days');
      assert.equal(second!.parsed.subject, 'Your personal access token "deploy bot" expires in 2 days');
      assert.equal(expired!.parsed.subject, 'Your personal access token "deploy bot" has expired');
      for (const m of [first!, second!, expired!]) {
        assert.deepEqual(m.envelope, { from: 'tokens@example.test', to: ['alice@example.test'] });
        assert.equal(m.user, smtp.username, 'authenticated with the credentials of SMTP_URL');
        assert.equal(m.parsed.from?.text, '"Tokenwarden" <tokens@example.test>');
        assert.equal(m.parsed.headers.get('auto-submitted'), 'auto-generated');
        assert.match(m.parsed.text ?? '', /deploy bot/);
        assert.match(m.parsed.text ?? '', new RegExp(`${app.url}/api/me/tokens`), 'how to get a new one');
        assert.ok(!m.raw.includes(pat.token), 'the value is never sent');
        assert.ok(!m.raw.includes(pat.token.slice(-20)), 'not even part of it');
      }
      const ids = [first!, second!, expired!].map((m) => m.parsed.messageId);
      assert.equal(new Set(ids).size, 3, 'one Message-ID per notice');
      assert.ok(
        ids.every((id) => /^<notice-[0-9a-f]{32}@127\.0\.0\.1>$/.test(id ?? '')),
        String(ids),
      );
      assert.ok(!app.logs.join('\n').includes(smtp.password), 'the SMTP password is never logged');
    });

    it('writes to nobody when the user has no address, and still records the notice in the audit log', async () => {
      const t0 = app.clock.now().getTime();
      const expires = new Date(t0 + 10 * DAY).toISOString();
      const pat = await app.createPat(await createUser(app, null), { expires_at: expires });
      const control = await app.createPat(await createUser(app, 'grace@example.test'), { expires_at: expires });
      try {
        moveTo([app], t0 + 8 * DAY);
        const report = await run(app);
        assert.equal((report['expiry-notices'] as { report: { failed: number } }).report.failed, 0);
      } finally {
        moveTo([app], t0);
      }
      assert.deepEqual(about(smtp, pat.id), []);
      assert.deepEqual(about(smtp, control.id).map(kindOf), ['expiring'], 'the same run emailed a user with one');
      const events = await app.api('GET', `/api/audit?token_id=${pat.id}&type=token.expiring`);
      assert.equal((events.body.data as unknown[]).length, 1);
    });

    it('retries after the SMTP server refused a message, and then sends it once', async () => {
      const t0 = app.clock.now().getTime();
      const user = await createUser(app, 'bob@example.test');
      const pat = await app.createPat(user, { expires_at: new Date(t0 + 10 * DAY).toISOString() });
      const refusedBefore = smtp.refused;
      smtp.refuseNext(1);
      try {
        moveTo([app], t0 + 8 * DAY);
        const first = await run(app);
        assert.equal((first['expiry-notices'] as { report: { failed: number } }).report.failed, 1);
        assert.equal(smtp.refused, refusedBefore + 1, 'the server did refuse it');
        assert.deepEqual(about(smtp, pat.id), []);
        assert.ok(app.logs.some((l) => l.includes('notice not delivered')));

        await run(app);
        assert.deepEqual(about(smtp, pat.id), [], 'not again at once: it backs off');
        moveTo([app], t0 + 8 * DAY + 6 * 60_000);
        await run(app);
        assert.deepEqual(about(smtp, pat.id).map(kindOf), ['expiring']);
        moveTo([app], t0 + 8 * DAY + HOUR);
        await run(app);
        assert.deepEqual(about(smtp, pat.id).map(kindOf), ['expiring'], 'once');
      } finally {
        moveTo([app], t0);
      }
    });
  });

  it('does not deliver with wrong credentials, and never logs the password it tried', async () => {
    const wrong = smtp.url.replace(`:${smtp.password}@`, ':wrong-password-1234@');
    const app = await startApp({ env: { SMTP_URL: wrong, NOTICE_EMAIL_FROM: FROM }, captureLogs: true });
    try {
      const t0 = app.clock.now().getTime();
      const user = await createUser(app, 'carol@example.test');
      const pat = await app.createPat(user, { expires_at: new Date(t0 + 10 * DAY).toISOString() });
      moveTo([app], t0 + 8 * DAY);
      const report = await run(app);
      assert.equal((report['expiry-notices'] as { report: { failed: number } }).report.failed, 1);
      assert.deepEqual(about(smtp, pat.id), []);
      const logs = app.logs.join('\n');
      assert.match(logs, /notice not delivered/);
      assert.ok(!logs.includes('wrong-password-1234'));
    } finally {
      await app.close();
    }
  });

  it('emails the user of a token the inactive-token policy revoked', async () => {
    const app = await startApp({ env: mailEnv(smtp, { INACTIVE_TOKEN_DAYS: '30', EXPIRY_NOTICE_DAYS: 'off' }) });
    try {
      const t0 = app.clock.now().getTime();
      const user = await createUser(app, 'dave@example.test');
      const pat = await app.createPat(user, { name: 'old laptop', expires_at: new Date(t0 + 300 * DAY).toISOString() });
      moveTo([app], t0 + 31 * DAY);
      await run(app);
      await run(app);
      const sent = about(smtp, pat.id);
      assert.deepEqual(sent.map(kindOf), ['revoked']);
      assert.match(sent[0]!.parsed.text ?? '', /never used since it was created/);
      assert.match(sent[0]!.parsed.text ?? '', /revokes tokens unused for 30 days/);
      assert.deepEqual(sent[0]!.envelope.to, ['dave@example.test']);
    } finally {
      await app.close();
    }
  });

  describe('several instances on one database', () => {
    it('sends no email twice across a restart (a new instance on the same database)', async () => {
      const a = await startApp({ env: mailEnv(smtp) });
      const uri = a.config.storage.kind === 'mongodb' ? a.config.storage.uri : '';
      const t0 = a.clock.now().getTime();
      const user = await createUser(a, 'erin@example.test');
      const pat = await a.createPat(user, { name: 'ci', expires_at: new Date(t0 + 40 * DAY).toISOString() });
      moveTo([a], t0 + 15 * DAY + HOUR);
      await run(a);
      assert.equal(about(smtp, pat.id).length, 1);
      await a.close();

      const b = await startApp({ env: mailEnv(smtp, { MONGODB_URI: uri }) });
      try {
        moveTo([b], t0 + 15 * DAY + HOUR);
        await run(b);
        assert.equal(about(smtp, pat.id).length, 1, 'the 30-day email went out before the restart');
        moveTo([b], t0 + 35 * DAY + HOUR);
        await run(b);
        assert.deepEqual(
          about(smtp, pat.id).map((m) => m.parsed.subject),
          ['Your personal access token "ci" expires in 24 days', 'Your personal access token "ci" expires in 4 days'],
        );
      } finally {
        await b.close();
      }
    });

    it('sends one email per token and threshold when two instances run at the same moment', async () => {
      const a = await startApp({ env: mailEnv(smtp) });
      const uri = a.config.storage.kind === 'mongodb' ? a.config.storage.uri : '';
      const b = await startApp({ env: mailEnv(smtp, { MONGODB_URI: uri }) });
      try {
        const t0 = a.clock.now().getTime();
        const user = await createUser(a, 'frank@example.test');
        const pats: string[] = [];
        for (let i = 0; i < 6; i++) {
          const expires = new Date(t0 + (20 + i / 10) * DAY).toISOString();
          pats.push((await a.createPat(user, { expires_at: expires })).id);
        }
        for (const at of [t0 + 15 * DAY, t0 + 19.95 * DAY, t0 + 22 * DAY]) {
          moveTo([a, b], at);
          await Promise.all([run(a), run(b), run(a), run(b)]);
        }
        for (const id of pats) {
          const sent = about(smtp, id);
          assert.deepEqual(sent.map(kindOf), ['expiring', 'expiring', 'expired'], id);
          assert.equal(new Set(sent.map((m) => m.parsed.messageId)).size, 3);
        }
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });
  });
});

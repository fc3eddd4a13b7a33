/**
 * Email notices (`SMTP_URL`, `NOTICE_EMAIL_FROM`): a plain-text message in English to the token's user, when the
 * user has an email address, naming the token (never its value), its expiry, and how to replace it. Sent with
 * nodemailer: the SMTP client everyone uses, no dependencies of its own, STARTTLS and authentication from the URL,
 * and bounded connection, greeting and socket timeouts.
 *
 * The Message-ID is derived from the notice's idempotency key, so a notice sent twice (at least once means it can
 * be) is one message to the mail clients that de-duplicate.
 */
import { createHash } from 'node:crypto';

import { createTransport } from 'nodemailer';

import type { PatRecord, PatStore, UserRecord, UserStore } from '../../adapters/types.ts';
import type { Clock } from '../services/clock.ts';
import type { NoticeSink } from './sink.ts';

const DAY_MS = 86_400_000;
/** Connection, greeting and socket timeouts: a silent mail server fails the delivery (retried later). */
const SMTP_TIMEOUT_MS = 20_000;

/** What a message says and to whom. */
export interface NoticeEmail {
  readonly to: string;
  readonly subject: string;
  readonly text: string;
}

/** What the text needs besides the notice: the token and its user as they are now, and where Tokenwarden is. */
export interface EmailContext {
  readonly token: PatRecord;
  readonly user: UserRecord & { readonly email: string };
  /** `ISSUER`. */
  readonly issuer: string;
  /** The web console's URL (`<ISSUER>/console/`), or null when it is off. */
  readonly consoleUrl: string | null;
  readonly now: Date;
}

/** `Tuesday 1 June 2027 at 09:30 UTC`. */
function when(at: Date): string {
  const text = new Intl.DateTimeFormat('en-GB', {
    dateStyle: 'full',
    timeStyle: 'short',
    timeZone: 'UTC',
  }).format(at);
  return `${text} UTC`;
}

/** `in 6 days`, `in 20 hours`, `in 40 minutes`. */
function fromNow(at: Date, now: Date): string {
  const ms = at.getTime() - now.getTime();
  if (ms >= 2 * DAY_MS) return `in ${Math.floor(ms / DAY_MS)} days`;
  if (ms >= 2 * 3_600_000) return `in ${Math.floor(ms / 3_600_000)} hours`;
  return `in ${Math.max(1, Math.floor(ms / 60_000))} minutes`;
}

/** How to get a replacement: the console's page, and the self-service API. */
function replacement(ctx: EmailContext): string {
  const lines = [];
  if (ctx.consoleUrl) lines.push(`- In the web console: ${ctx.consoleUrl}#/tokens/new`);
  lines.push(
    '- With the API, authenticated as yourself (a token with the tokens:manage scope, or your sign-in):',
    `    curl -H "Authorization: Bearer $YOUR_TOKEN" -H 'Content-Type: application/json' \\`,
    `      -d '{"name":"${ctx.token.name} (new)","scopes":${JSON.stringify(ctx.token.scopes)}}' ${ctx.issuer}/api/me/tokens`,
  );
  return lines.join('\n');
}

function identify(ctx: EmailContext): string {
  return `Your personal access token "${ctx.token.name}" (id ${ctx.token.id}) at ${ctx.issuer}`;
}

const SIGNATURE =
  '\n-- \nTokenwarden. You get this message because the token is yours; its value is never sent by email.\n';

/** The message for a token about to expire. */
export function expiringEmail(ctx: EmailContext, expiresAt: Date): NoticeEmail {
  const detail = ctx.consoleUrl ? `\nThe token's page: ${ctx.consoleUrl}#/tokens/${ctx.token.id}\n` : '';
  return {
    to: ctx.user.email,
    subject: `Your personal access token "${ctx.token.name}" expires ${fromNow(expiresAt, ctx.now)}`,
    text: `Hello ${ctx.user.username},

${identify(ctx)} expires on ${when(expiresAt)}, ${fromNow(expiresAt, ctx.now)}. From then on, anything that
uses it is refused.

To keep access, rotate it before then: create a new token with the same scopes, put its value where this one is
used, then revoke this one. (Rotating a token in place gives it a new value but keeps its expiry, so it does not
help here.)

${replacement(ctx)}
${detail}${SIGNATURE}`,
  };
}

/** The message for a token that has expired. */
export function expiredEmail(ctx: EmailContext, expiredAt: Date): NoticeEmail {
  return {
    to: ctx.user.email,
    subject: `Your personal access token "${ctx.token.name}" has expired`,
    text: `Hello ${ctx.user.username},

${identify(ctx)} expired on ${when(expiredAt)}. Anything that still uses it is refused.

If you still need one, create a new token and put its value where this one was used:

${replacement(ctx)}
${SIGNATURE}`,
  };
}

/** The message for a token the inactive-token policy revoked. */
export function revokedInactiveEmail(ctx: EmailContext, lastUsedAt: Date | null, days: number | null): NoticeEmail {
  const unused = lastUsedAt
    ? `it was last used on ${when(lastUsedAt)}`
    : `it was never used since it was created on ${when(ctx.token.createdAt)}`;
  const policy = days === null ? 'unused tokens' : `tokens unused for ${days} days`;
  return {
    to: ctx.user.email,
    subject: `Your personal access token "${ctx.token.name}" was revoked: it was not used`,
    text: `Hello ${ctx.user.username},

${identify(ctx)} has been revoked because ${unused}, and this server revokes ${policy}.
Anything that still uses it is refused.

If you still need one, create a new token:

${replacement(ctx)}
${SIGNATURE}`,
  };
}

export interface EmailSinkDeps {
  readonly smtpUrl: string;
  readonly from: string;
  readonly issuer: string;
  readonly consoleUrl: string | null;
  /** `INACTIVE_TOKEN_DAYS`, quoted in the revocation message. */
  readonly inactiveDays: number | null;
  readonly pats: PatStore;
  readonly users: UserStore;
  readonly clock: Clock;
}

/** The email channel's sink; `close` ends the SMTP transport. */
export function createEmailSink(deps: EmailSinkDeps): NoticeSink & { close(): void } {
  const transport = createTransport(
    {
      url: deps.smtpUrl,
      connectionTimeout: SMTP_TIMEOUT_MS,
      greetingTimeout: SMTP_TIMEOUT_MS,
      socketTimeout: SMTP_TIMEOUT_MS,
    },
    { from: deps.from },
  );
  const host = new URL(deps.issuer).hostname;

  /** The token and its user, when there is someone to write to about a token that still matters. */
  async function context(tokenId: string, userId: string): Promise<EmailContext | null> {
    const [token, user] = await Promise.all([deps.pats.findById(tokenId), deps.users.get(userId)]);
    if (!token || !user || user.disabled || user.email === null) return null;
    return {
      token,
      user: { ...user, email: user.email },
      issuer: deps.issuer,
      consoleUrl: deps.consoleUrl,
      now: deps.clock.now(),
    };
  }

  async function send(message: NoticeEmail, idempotencyKey: string): Promise<void> {
    const digest = createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 32);
    await transport.sendMail({
      to: message.to,
      subject: message.subject,
      text: message.text,
      messageId: `<notice-${digest}@${host}>`,
      headers: { 'Auto-Submitted': 'auto-generated' }, // RFC 3834: no auto-replies
    });
  }

  return {
    async expiring(n) {
      const ctx = await context(n.tokenId, n.userId);
      // Revoked or already expired since it was found: nothing to warn about.
      if (!ctx || ctx.token.revokedAt !== null || (ctx.token.expiresAt ?? n.expiresAt) <= ctx.now) return;
      await send(expiringEmail(ctx, ctx.token.expiresAt ?? n.expiresAt), n.idempotencyKey);
    },
    async expired(n) {
      const ctx = await context(n.tokenId, n.userId);
      if (!ctx || ctx.token.revokedAt !== null) return;
      await send(expiredEmail(ctx, n.expiredAt), n.idempotencyKey);
    },
    async revokedInactive(n) {
      const ctx = await context(n.tokenId, n.userId);
      if (!ctx) return;
      await send(revokedInactiveEmail(ctx, n.lastUsedAt, deps.inactiveDays), n.idempotencyKey);
    },
    close() {
      transport.close();
    },
  };
}

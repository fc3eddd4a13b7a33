/**
 * The development sign-in of the embedded console (`CONSOLE_DEV_SIGNIN`, never in production): oidc-provider's
 * interactions, answered by plain HTML forms with no script. The person picks an existing Tokenwarden user or the
 * built-in admin; no password is asked, so the page answers only browsers on this machine (loopback addresses).
 * Consent is given on the person's behalf: the console is Tokenwarden's own first-party client.
 *
 * - `GET /interaction/:uid`: the sign-in page (login prompt), or the automatic consent (consent prompt);
 * - `POST /interaction/:uid/login` `account=<user id | dev-admin>`: signs in as that account, unless it is unknown
 *   or disabled (the page again, with the reason);
 * - `POST /interaction/:uid/abort`: back to the console with `error=access_denied`.
 */
import type { Context, Middleware } from 'koa';
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import getRawBody from 'raw-body';

import type { UserStore } from '../../adapters/types.ts';
import { acceptedLanguages, format, pickLanguage, type Catalogue } from '../console/catalogues.ts';
import { securityHeaders } from '../console/headers.ts';
import { CONSOLE_CLIENT_ID, DEV_ADMIN_ID } from './embedded-console.ts';

export interface DevSignInDeps {
  readonly provider: Provider;
  readonly users: UserStore;
  readonly catalogues: ReadonlyMap<string, Catalogue>;
  /** Users listed on the page (newest first); others are signed in by typing their id. */
  readonly listed?: number;
}

const PATH = /^\/interaction\/([\w-]{1,64})(?:\/(login|abort))?$/;
const FORM_LIMIT = 4096;

/** Escapes text for HTML element content and double-quoted attribute values. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Whether a request comes from this machine (IPv4 127/8, IPv6 ::1, or IPv4-mapped loopback). */
function isLoopback(address: string): boolean {
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}

interface Rendered {
  readonly status: number;
  readonly title: string;
  readonly body: string;
}

function render(
  ctx: Context,
  catalogue: Catalogue,
  page: Rendered,
  switchTo: (code: string) => string,
  all: ReadonlyMap<string, Catalogue>,
) {
  const t = (key: string, values?: Record<string, string | number>) => escapeHtml(format(catalogue, key, values));
  const languages = [...all.values()]
    .map((c) =>
      c.code === catalogue.code
        ? `<li><span aria-current="true" lang="${c.code}">${escapeHtml(c.name)}</span></li>`
        : `<li><a href="${escapeHtml(switchTo(c.code))}" lang="${c.code}" hreflang="${c.code}">${escapeHtml(c.name)}</a></li>`,
    )
    .join('');
  securityHeaders(ctx, { connect: [] });
  ctx.set('Cache-Control', 'no-store');
  ctx.status = page.status;
  ctx.type = 'text/html; charset=utf-8';
  ctx.body = `<!doctype html>
<html lang="${catalogue.code}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(page.title)} – Tokenwarden</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/console.css">
</head>
<body>
<a class="skip-link" href="#main">${t('nav.skip')}</a>
<header class="site-header">
<div class="site-header__inner">
<span class="brand">Tokenwarden</span>
<nav class="languages" aria-label="${t('language.switch')}"><ul>${languages}</ul></nav>
</div>
</header>
<main id="main" class="main" tabindex="-1">
${page.body}
</main>
</body>
</html>`;
}

async function readForm(ctx: Context): Promise<URLSearchParams> {
  if (!ctx.is('application/x-www-form-urlencoded')) {
    throw new errors.InvalidRequest('the form must be application/x-www-form-urlencoded');
  }
  const raw = await getRawBody(ctx.req, { limit: FORM_LIMIT, encoding: 'utf8' });
  return new URLSearchParams(raw);
}

/** The `/interaction/…` middleware (mounted only when the development sign-in is on). */
export function devSignIn(deps: DevSignInDeps): Middleware {
  const { provider, users, catalogues } = deps;
  const listed = deps.listed ?? 50;

  function languageFor(ctx: Context, uiLocales: unknown): Catalogue {
    const asked = typeof ctx.query.lang === 'string' ? [ctx.query.lang] : [];
    const fromRequest = typeof uiLocales === 'string' ? uiLocales.split(' ') : [];
    return pickLanguage(catalogues, [...asked, ...fromRequest, ...acceptedLanguages(ctx.get('Accept-Language'))]);
  }

  async function signInPage(uid: string, catalogue: Catalogue, problem?: string): Promise<Rendered> {
    const t = (key: string, values?: Record<string, string | number>) => escapeHtml(format(catalogue, key, values));
    const people = await users.list(listed);
    const choices = [
      `<div class="choice"><input type="radio" name="account" id="account-${DEV_ADMIN_ID}" value="${DEV_ADMIN_ID}" required>
<label for="account-${DEV_ADMIN_ID}">${t('signin.dev.admin')} <span class="hint">${t('signin.dev.adminHint')}</span></label></div>`,
      ...people.map(
        (u, i) => `<div class="choice"><input type="radio" name="account" id="account-${i}" value="${escapeHtml(u.id)}">
<label for="account-${i}">${escapeHtml(u.username)} <span class="hint">${escapeHtml(u.id)}${u.disabled ? ` · ${t('signin.dev.disabled')}` : ''}</span></label></div>`,
      ),
    ].join('\n');
    const error = problem
      ? `<div class="error-summary" role="alert" tabindex="-1"><h2>${t('signin.dev.refused')}</h2><p>${escapeHtml(problem)}</p></div>`
      : '';
    return {
      status: problem ? 400 : 200,
      title: format(catalogue, 'signin.dev.title'),
      body: `${error}<h1>${t('signin.dev.title')}</h1>
<p class="notice">${t('signin.dev.notice')}</p>
<form method="post" action="/interaction/${uid}/login" class="stack">
<fieldset><legend class="legend">${t('signin.dev.who')}</legend>
${choices}
</fieldset>
<button type="submit" class="button">${t('signin.dev.submit')}</button>
</form>
<form method="post" action="/interaction/${uid}/login" class="stack">
<div class="field"><label for="other-account" class="label">${t('signin.dev.other')}</label>
<input id="other-account" name="account" class="input" autocomplete="off" spellcheck="false" maxlength="128" required></div>
<button type="submit" class="button button--secondary">${t('signin.dev.submitOther')}</button>
</form>
<form method="post" action="/interaction/${uid}/abort">
<button type="submit" class="button button--link">${t('signin.dev.cancel')}</button>
</form>`,
    };
  }

  /** Records the interaction's result and sends the browser back to the authorization endpoint (303). */
  async function finish(ctx: Context, result: Record<string, unknown>, merge: boolean) {
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge });
    ctx.status = 303;
    ctx.redirect(returnTo);
  }

  /** Consent on the person's behalf, for the first-party console only. */
  async function consent(ctx: Context, details: Awaited<ReturnType<Provider['interactionDetails']>>) {
    const { prompt, params, session, grantId } = details;
    if (params.client_id !== CONSOLE_CLIENT_ID || !session) {
      throw new errors.InvalidRequest('only the console signs in here');
    }
    const grant = grantId
      ? ((await provider.Grant.find(grantId)) ??
        new provider.Grant({ accountId: session.accountId, clientId: CONSOLE_CLIENT_ID }))
      : new provider.Grant({ accountId: session.accountId, clientId: CONSOLE_CLIENT_ID });
    const missing = prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const saved = await grant.save();
    await finish(ctx, { consent: { grantId: saved } }, true);
  }

  /** Why this account may not sign in, or null. */
  async function refusal(account: string, catalogue: Catalogue): Promise<string | null> {
    if (account === DEV_ADMIN_ID) return null;
    const user = await users.get(account);
    if (!user) return format(catalogue, 'signin.dev.unknown', { id: account });
    if (user.disabled) return format(catalogue, 'signin.dev.userDisabled', { name: user.username });
    return null;
  }

  async function interaction(ctx: Context, uid: string, action: string | undefined) {
    let details;
    try {
      details = await provider.interactionDetails(ctx.req, ctx.res);
    } catch (error) {
      if (!(error instanceof errors.SessionNotFound)) throw error;
      const catalogue = languageFor(ctx, undefined);
      const t = (key: string) => escapeHtml(format(catalogue, key));
      return {
        catalogue,
        page: {
          status: 400,
          title: format(catalogue, 'signin.dev.expired'),
          body: `<h1>${t('signin.dev.expired')}</h1><p>${t('signin.dev.expiredHint')}</p><p><a href="/console/">${t('signin.dev.backToConsole')}</a></p>`,
        },
      };
    }
    if (details.uid !== uid) throw new errors.InvalidRequest('interaction mismatch');
    const catalogue = languageFor(ctx, details.params.ui_locales);

    if (details.prompt.name === 'consent') {
      await consent(ctx, details);
      return null;
    }
    if (details.prompt.name !== 'login') throw new errors.InvalidRequest(`unsupported prompt ${details.prompt.name}`);

    if (action === undefined) return { catalogue, page: await signInPage(uid, catalogue) };
    if (action === 'abort') {
      await finish(ctx, { error: 'access_denied', error_description: 'the sign-in was cancelled' }, false);
      return null;
    }
    const form = await readForm(ctx);
    const accounts = form.getAll('account');
    if (accounts.length !== 1 || [...form.keys()].some((k) => k !== 'account')) {
      throw new errors.InvalidRequest('give exactly one account');
    }
    const account = accounts[0]!.trim();
    const problem = await refusal(account, catalogue);
    if (problem) return { catalogue, page: await signInPage(uid, catalogue, problem) };
    await finish(ctx, { login: { accountId: account } }, false);
    return null;
  }

  return async function developmentSignIn(ctx, next) {
    const match = PATH.exec(ctx.path);
    if (!match) {
      await next();
      return;
    }
    const [, uid = '', action] = match;
    const method = action === undefined ? 'GET' : 'POST';
    if (ctx.method !== method) {
      ctx.status = 405;
      ctx.set('Allow', method);
      ctx.body = { error: 'invalid_request', error_description: `method not allowed; use ${method}` };
      return;
    }
    if (!isLoopback(ctx.ip)) {
      ctx.status = 403;
      ctx.body = {
        error: 'access_denied',
        error_description: 'the development sign-in answers only browsers on this machine',
      };
      return;
    }
    try {
      const shown = await interaction(ctx, uid, action);
      if (shown) {
        render(ctx, shown.catalogue, shown.page, (code) => `/interaction/${uid}?lang=${code}`, catalogues);
      }
    } catch (error) {
      if (error instanceof errors.OIDCProviderError && error.statusCode < 500) {
        ctx.status = error.statusCode;
        ctx.body = { error: error.error, error_description: error.error_description ?? error.message };
        return;
      }
      if (error instanceof Error && (error as { type?: string }).type === 'entity.too.large') {
        ctx.status = 413;
        ctx.body = { error: 'invalid_request', error_description: `form body exceeds ${FORM_LIMIT} bytes` };
        return;
      }
      throw error;
    }
  };
}

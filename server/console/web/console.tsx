/**
 * Tokenwarden's web console: a client of the documented management API, signed in with OIDC (code + PKCE).
 * Boot: read the console's settings, pick the language, finish a sign-in coming back from the provider, find out
 * what the person may do (their user through `/api/me`, admin rights through an admin route), then route.
 */
import { render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';

import { ApiError, api, authorize, type User } from './api.ts';
import { AccountContext, type Account, type Secret } from './context.ts';
import { takeFlash } from './flash.ts';
import { language, preferredLanguage, t, loadLanguage } from './i18n.ts';
import {
  SignInRefused,
  completeSignIn,
  currentSession,
  dropSession,
  isCallback,
  signIn,
  signOut,
  type Session,
  type Settings,
} from './oidc.ts';
import { currentRoute, href, navigate, type Route } from './router.ts';
import { AuditPage, auditFiltersOf } from './pages/admin-audit.tsx';
import { ClientSecretPage, ClientsPage, DeleteClientPage, RegisterClientPage } from './pages/admin-clients.tsx';
import { TokenSearchPage, searchOf } from './pages/admin-tokens.tsx';
import { CreateUserPage, UserActionPage, UserPage, UsersPage } from './pages/admin-users.tsx';
import { CreateTokenPage, TokenSecretPage } from './pages/token-create.tsx';
import { EditTokenPage, ExpiryPage, TokenPage } from './pages/token-detail.tsx';
import { RevokePage, RotatePage } from './pages/token-rotate.tsx';
import { MyTokensPage, filterOf, myTokens, tokensOf, type TokenPlace } from './pages/tokens.tsx';
import { ErrorSummary, Loading, PageTitle, Status, problemsOf, type Problem } from './ui.tsx';

const LANGUAGE = 'tw.language';

function LanguageSwitch(props: { settings: Settings; onChange: (code: string) => void }) {
  return (
    <nav class="languages" aria-label={t('language.switch')}>
      <ul>
        {props.settings.languages.map((l) => (
          <li key={l.code}>
            <button
              type="button"
              class="languages__button"
              lang={l.code}
              aria-pressed={l.code === language()}
              onClick={() => props.onChange(l.code)}
            >
              {l.name}
            </button>
          </li>
        ))}
      </ul>
    </nav>
  );
}

function SkipLink() {
  return (
    <a
      class="skip-link"
      href="#main"
      onClick={(event) => {
        event.preventDefault();
        document.getElementById('main')?.focus();
      }}
    >
      {t('nav.skip')}
    </a>
  );
}

function Header(props: {
  settings: Settings;
  onLanguage: (code: string) => void;
  account?: Account;
  route?: Route;
  onSignOut?: () => void;
}) {
  const { account, route } = props;
  const section = route?.segments.slice(0, route.segments[0] === 'admin' ? 2 : 1).join('/') ?? '';
  const links: [string, string][] = [];
  if (account?.user) links.push(['tokens', t('nav.tokens')]);
  if (account?.admin) {
    links.push(
      ['admin/users', t('nav.users')],
      ['admin/tokens', t('nav.tokenSearch')],
      ['admin/clients', t('nav.clients')],
      ['admin/audit', t('nav.audit')],
    );
  }
  return (
    <header class="site-header">
      <div class="site-header__inner">
        <a class="brand" href={account ? '#/' : href()}>
          Tokenwarden
        </a>
        <LanguageSwitch settings={props.settings} onChange={props.onLanguage} />
        {account ? (
          <div class="account">
            <span class="account__name">{t('nav.signedInAs', { name: account.name })}</span>
            <button type="button" class="button button--link account__signout" onClick={props.onSignOut}>
              {t('nav.signOut')}
            </button>
          </div>
        ) : null}
      </div>
      {links.length > 0 ? (
        <nav class="site-nav" aria-label={t('nav.main')}>
          <ul class="site-nav__list">
            {links.map(([path, label]) => (
              <li key={path}>
                <a href={href(path)} aria-current={section === path ? 'page' : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
      ) : null}
    </header>
  );
}

function SignInPage(props: { settings: Settings; problems: Problem[]; onSignIn: () => void; busy: boolean }) {
  return (
    <>
      <ErrorSummary problems={props.problems} />
      <PageTitle>{t('signin.title')}</PageTitle>
      <p class="lead">{t('signin.intro')}</p>
      <p>{t('signin.how', { provider: new URL(props.settings.issuer).host })}</p>
      <button type="button" class="button button--start" onClick={props.onSignIn} disabled={props.busy}>
        {props.busy ? t('signin.busy') : t('signin.submit')}
      </button>
    </>
  );
}

function NotFoundPage() {
  return (
    <>
      <PageTitle>{t('notFound.title')}</PageTitle>
      <p>
        <a href="#/">{t('notFound.home')}</a>
      </p>
    </>
  );
}

/** The page for a route. */
function Routed(props: { route: Route; account: Account }) {
  const { route, account } = props;
  const [first, second, third, fourth, fifth, sixth] = route.segments;
  const q = route.query;
  const tokenPages = (place: TokenPlace, back: string, id: string | undefined, action: string | undefined) => {
    if (id === 'new' && action === undefined) return <CreateTokenPage place={place} back={back} />;
    if (id === undefined) return null;
    switch (action) {
      case undefined:
        return <TokenPage place={place} id={id} back={back} />;
      case 'edit':
        return <EditTokenPage place={place} id={id} />;
      case 'expiry':
        return <ExpiryPage place={place} id={id} />;
      case 'rotate':
        return <RotatePage place={place} id={id} />;
      case 'revoke':
        return <RevokePage place={place} id={id} />;
      default:
        return null;
    }
  };
  let page = null;
  if (first === undefined) {
    navigate(account.user ? href('tokens') : href('admin/users'));
    return null;
  }
  if (first === 'tokens' && account.user) {
    page =
      second === undefined ? (
        <MyTokensPage status={filterOf(q.get('status'))} cursor={q.get('cursor')} />
      ) : (
        tokenPages(myTokens, href('tokens'), second, third)
      );
  } else if (first === 'admin' && account.admin) {
    if (second === 'users') {
      if (third === undefined) page = <UsersPage q={q.get('q') ?? ''} cursor={q.get('cursor')} />;
      else if (third === 'new' && fourth === undefined) page = <CreateUserPage />;
      else if (fourth === undefined) page = <UserPage id={third} status={q.get('status')} cursor={q.get('cursor')} />;
      else if (fourth === 'tokens') page = tokenPages(tokensOf(third, third), href('admin/users', third), fifth, sixth);
      else if (['disable', 'enable', 'delete', 'revoke-all'].includes(fourth) && fifth === undefined) {
        page = <UserActionPage id={third} action={fourth as 'disable'} />;
      }
    } else if (second === 'tokens' && third === undefined) page = <TokenSearchPage search={searchOf(q)} />;
    else if (second === 'clients') {
      if (third === undefined) page = <ClientsPage />;
      else if (third === 'new' && fourth === undefined) page = <RegisterClientPage />;
      else if (fourth === 'delete') page = <DeleteClientPage id={third} />;
    } else if (second === 'audit' && third === undefined) page = <AuditPage filters={auditFiltersOf(q)} />;
  }
  return page ?? <NotFoundPage />;
}

type Boot =
  | { readonly step: 'loading' }
  | { readonly step: 'failed'; readonly problems: Problem[] }
  | { readonly step: 'off' }
  | { readonly step: 'signed-out'; readonly problems: Problem[] }
  | { readonly step: 'signed-in'; readonly session: Session; readonly user: User | null; readonly admin: boolean };

/** What the API lets this person do: their own user (404: none), and the admin routes (403: not an admin). */
async function probe(): Promise<{ user: User | null; admin: boolean }> {
  const [user, admin] = await Promise.all([
    api<User>('GET', '/api/me').catch((error: unknown) => {
      if (error instanceof ApiError && error.status === 404) return null;
      throw error;
    }),
    api('GET', '/api/users?limit=1').then(
      () => true,
      (error: unknown) => {
        if (error instanceof ApiError && error.status === 403) return false;
        throw error;
      },
    ),
  ]);
  return { user, admin };
}

function App(props: { settings: Settings }) {
  const { settings } = props;
  const [boot, setBoot] = useState<Boot>({ step: 'loading' });
  const [route, setRoute] = useState<Route>(currentRoute());
  const [secret, setSecret] = useState<Secret | null>(null);
  const [, setLanguage] = useState(language());
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);

  const refused = (problems: Problem[]) => {
    dropSession();
    authorize(null);
    setBoot({ step: 'signed-out', problems });
  };

  useEffect(() => {
    const onHash = () => {
      setSecret(null);
      setNotice(takeFlash());
      setRoute(currentRoute());
    };
    window.addEventListener('hashchange', onHash);
    void (async () => {
      if (settings.mode === 'off') return setBoot({ step: 'off' });
      try {
        if (isCallback()) {
          const returnTo = await completeSignIn(settings);
          if (returnTo) location.hash = returnTo;
          setRoute(currentRoute());
        }
      } catch (error) {
        if (error instanceof SignInRefused) {
          return refused([{ text: t('signin.refused', { reason: error.description ?? error.error }) }]);
        }
        return refused(problemsOf(error));
      }
      const session = currentSession();
      if (!session) return setBoot({ step: 'signed-out', problems: [] });
      authorize(session.accessToken, (error) => refused([{ text: t('signin.ended', { reason: error.description }) }]));
      try {
        const { user, admin } = await probe();
        if (!user && !admin) return refused([{ text: t('signin.nothing') }]);
        setBoot({ step: 'signed-in', session, user, admin });
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) return undefined;
        setBoot({ step: 'failed', problems: problemsOf(error) });
      }
      return undefined;
    })();
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  const changeLanguage = (code: string) => {
    void loadLanguage(code).then(() => {
      sessionStorage.setItem(LANGUAGE, code);
      setLanguage(code);
    });
  };

  const account = useMemo<Account | null>(() => {
    if (boot.step !== 'signed-in') return null;
    return {
      user: boot.user,
      admin: boot.admin,
      name: boot.user?.username ?? boot.session.name ?? boot.session.subject ?? '?',
      showSecret: (next) => setSecret(next),
    };
  }, [boot]);

  const startSignIn = () => {
    setBusy(true);
    signIn(settings, location.hash, language()).catch((error: unknown) => {
      setBusy(false);
      setBoot({ step: 'signed-out', problems: problemsOf(error) });
    });
  };

  let main;
  switch (boot.step) {
    case 'loading':
      main = <Loading />;
      break;
    case 'failed':
      main = (
        <>
          <PageTitle>{t('error.title')}</PageTitle>
          <ErrorSummary problems={boot.problems} />
        </>
      );
      break;
    case 'off':
      main = (
        <>
          <PageTitle>{t('off.title')}</PageTitle>
          <p>{t('off.text')}</p>
        </>
      );
      break;
    case 'signed-out':
      main = <SignInPage settings={settings} problems={boot.problems} onSignIn={startSignIn} busy={busy} />;
      break;
    case 'signed-in':
      if (secret?.kind === 'token') {
        main = (
          <TokenSecretPage
            token={secret.token}
            rotated={secret.rotated === true}
            graceUntil={secret.graceUntil ?? null}
            onDone={() => {
              const done = secret.done;
              setSecret(null);
              navigate(done);
            }}
          />
        );
      } else if (secret?.kind === 'client') {
        main = (
          <ClientSecretPage
            client={secret.client}
            onDone={() => {
              const done = secret.done;
              setSecret(null);
              navigate(done);
            }}
          />
        );
      } else main = <Routed route={route} account={account!} />;
      break;
  }

  const signOutNow = () => {
    signOut();
    authorize(null);
    setSecret(null);
    location.hash = '';
    setBoot({ step: 'signed-out', problems: [] });
  };

  return (
    <AccountContext.Provider value={account}>
      <SkipLink />
      <Header
        settings={settings}
        onLanguage={changeLanguage}
        {...(account ? { account, route, onSignOut: signOutNow } : {})}
      />
      <main id="main" class="main" tabindex={-1}>
        {notice && !secret ? <Status>{notice}</Status> : null}
        {main}
      </main>
    </AccountContext.Provider>
  );
}

async function start(): Promise<void> {
  const root = document.getElementById('app')!;
  const settings = (await (await fetch('/console/config.json', { cache: 'no-cache' })).json()) as Settings;
  // The provider sends people back to one address (e.g. localhost, not 127.0.0.1); sign-in state lives per origin.
  if (settings.mode !== 'off' && new URL(settings.redirect_uri).origin !== location.origin) {
    location.replace(`${settings.redirect_uri}${location.hash}`);
    return;
  }
  const stored = sessionStorage.getItem(LANGUAGE);
  const wanted =
    stored && settings.languages.some((l) => l.code === stored)
      ? stored
      : preferredLanguage(settings.languages, settings.default_language);
  await loadLanguage(wanted);
  root.replaceChildren();
  render(<App settings={settings} />, root);
}

void start();

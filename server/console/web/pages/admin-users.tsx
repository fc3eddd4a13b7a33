/**
 * Admin › Users: search and page through users, create one, and a user's page with their tokens and every action
 * (disable, enable, delete, revoke all), each behind a page that spells out its consequences.
 */
import { useState } from 'preact/hooks';

import { api, query, type Page, type Token, type User } from '../api.ts';
import { flash } from '../flash.ts';
import { t } from '../i18n.ts';
import { href, navigate } from '../router.ts';
import {
  BackLink,
  ErrorSummary,
  Field,
  LoadFailed,
  Loading,
  PageTitle,
  Pagination,
  SubmitButton,
  Summary,
  TableRegion,
  Time,
  problemsOf,
  textOf,
  useLoad,
  type Problem,
} from '../ui.tsx';
import { TokenList, filterOf, tokensOf } from './tokens.tsx';

function UserStatus(props: { user: User }) {
  return props.user.disabled ? (
    <span class="tag tag--revoked">{t('user.disabled')}</span>
  ) : (
    <span class="tag tag--active">{t('user.enabled')}</span>
  );
}

/** The user list, newest first, with a search over id, username and email. */
export function UsersPage(props: { q: string; cursor: string | null }) {
  const users = useLoad(
    () => api<Page<User>>('GET', `/api/users${query({ q: props.q, cursor: props.cursor, limit: 25 })}`),
    [props.q, props.cursor],
  );
  const search = (event: Event) => {
    event.preventDefault();
    const q = textOf(event.currentTarget as HTMLFormElement, 'q').trim();
    navigate(href('admin/users', { q }));
  };
  return (
    <>
      <PageTitle>{t('users.title')}</PageTitle>
      <form class="search" role="search" onSubmit={search}>
        <label class="label" for="user-search">
          {t('users.search')}
        </label>
        <p class="hint" id="user-search-hint">
          {t('users.searchHint')}
        </p>
        <div class="search__row">
          <input
            id="user-search"
            name="q"
            type="search"
            class="input"
            defaultValue={props.q}
            aria-describedby="user-search-hint"
          />
          <button type="submit" class="button button--secondary">
            {t('users.searchSubmit')}
          </button>
        </div>
      </form>
      <p>
        <a class="button" href={href('admin/users', 'new')}>
          {t('users.create')}
        </a>
      </p>
      {users.loading ? <Loading /> : null}
      {users.error ? <LoadFailed error={users.error} /> : null}
      {users.data && users.data.data.length === 0 ? (
        <p class="empty">{props.q ? t('users.noMatch', { q: props.q }) : t('users.none')}</p>
      ) : null}
      {users.data && users.data.data.length > 0 ? (
        <TableRegion label={t('users.title')}>
          <table class="table">
            <thead>
              <tr>
                <th scope="col">{t('user.username')}</th>
                <th scope="col">{t('user.id')}</th>
                <th scope="col">{t('user.email')}</th>
                <th scope="col">{t('user.status')}</th>
                <th scope="col">{t('user.created')}</th>
              </tr>
            </thead>
            <tbody>
              {users.data.data.map((user) => (
                <tr key={user.id}>
                  <td>
                    <a href={href('admin/users', user.id)}>{user.username}</a>
                  </td>
                  <td>
                    <code>{user.id}</code>
                  </td>
                  <td>{user.email ?? ''}</td>
                  <td>
                    <UserStatus user={user} />
                  </td>
                  <td>
                    <Time iso={user.created_at} relative />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableRegion>
      ) : null}
      {users.data ? (
        <Pagination
          next={users.data.next_cursor}
          first={props.cursor ? href('admin/users', { q: props.q }) : null}
          nextHref={(cursor) => href('admin/users', { q: props.q, cursor })}
        />
      ) : null}
    </>
  );
}

/** Creating a user. */
export function CreateUserPage() {
  const [problems, setProblems] = useState<Problem[]>([]);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const body: Record<string, unknown> = { username: textOf(form, 'username') };
    const id = textOf(form, 'id').trim();
    const email = textOf(form, 'email').trim();
    if (id) body.id = id;
    if (email) body.email = email;
    setBusy(true);
    setProblems([]);
    try {
      const user = await api<User>('POST', '/api/users', body);
      flash(t('users.created', { name: user.username }));
      navigate(href('admin/users', user.id));
    } catch (error) {
      setProblems(problemsOf(error));
      setBusy(false);
    }
  };
  const fieldError = (name: string) => problems.find((p) => p.field === name)?.text;
  return (
    <>
      <BackLink href={href('admin/users')} />
      <PageTitle>{t('users.create')}</PageTitle>
      <ErrorSummary problems={problems} fields={['username', 'id', 'email']} />
      <form class="form" noValidate onSubmit={(e) => void submit(e)}>
        <Field name="username" label={t('user.username')} error={fieldError('username')}>
          {(a) => <input {...a} class="input" maxLength={100} autocomplete="off" spellcheck={false} />}
        </Field>
        <Field name="id" label={t('user.idOptional')} hint={t('user.idHint')} error={fieldError('id')}>
          {(a) => <input {...a} class="input" maxLength={128} autocomplete="off" spellcheck={false} />}
        </Field>
        <Field name="email" label={t('user.emailOptional')} error={fieldError('email')}>
          {(a) => <input {...a} type="email" class="input" autocomplete="off" spellcheck={false} />}
        </Field>
        <div class="actions">
          <SubmitButton busy={busy} label={t('users.createSubmit')} busyLabel={t('common.saving')} />
          <a href={href('admin/users')}>{t('common.cancel')}</a>
        </div>
      </form>
    </>
  );
}

function useUser(id: string) {
  return useLoad(() => api<User>('GET', `/api/users/${encodeURIComponent(id)}`), [id]);
}

/** A user: their facts, the actions on them, their tokens. */
export function UserPage(props: { id: string; status: string | null; cursor: string | null }) {
  const user = useUser(props.id);
  if (user.loading && !user.data) return <Loading />;
  if (user.error || !user.data) return <LoadFailed error={user.error} />;
  const u = user.data;
  const base = href('admin/users', u.id);
  return (
    <>
      <BackLink href={href('admin/users')}>{t('users.back')}</BackLink>
      <PageTitle caption={t('user.caption')}>{u.username}</PageTitle>
      <Summary
        rows={[
          [t('user.id'), <code>{u.id}</code>],
          [t('user.email'), u.email ?? <span class="muted">{t('user.noEmail')}</span>],
          [t('user.status'), <UserStatus user={u} />],
          [t('user.created'), <Time iso={u.created_at} />],
        ]}
      />
      <section aria-labelledby="user-actions-title">
        <h2 id="user-actions-title" class="heading-m">
          {t('user.actions')}
        </h2>
        <ul class="action-list">
          <li>
            <a href={href(`admin/users/${u.id}/tokens`, 'new')}>{t('user.action.createToken')}</a>
          </li>
          <li>
            <a href={href('admin/audit', { user_id: u.id })}>{t('user.action.audit')}</a>
          </li>
          <li>
            {u.disabled ? (
              <a href={`${base}/enable`}>{t('user.action.enable')}</a>
            ) : (
              <a href={`${base}/disable`}>{t('user.action.disable')}</a>
            )}
          </li>
          <li>
            <a class="link--warning" href={`${base}/revoke-all`}>
              {t('user.action.revokeAll')}
            </a>
          </li>
          <li>
            <a class="link--warning" href={`${base}/delete`}>
              {t('user.action.delete')}
            </a>
          </li>
        </ul>
      </section>
      <TokenList
        place={tokensOf(u.id, u.username)}
        status={filterOf(props.status)}
        cursor={props.cursor}
        filterHref={(status, cursor) =>
          href('admin/users', u.id, { status: status === 'all' ? undefined : status, cursor })
        }
      />
    </>
  );
}

type UserAction = 'disable' | 'enable' | 'delete' | 'revoke-all';

/** The confirmation page of an action on a user, with its consequences spelled out. */
export function UserActionPage(props: { id: string; action: UserAction }) {
  const { id, action } = props;
  const data = useLoad(async () => {
    const [user, live] = await Promise.all([
      api<User>('GET', `/api/users/${encodeURIComponent(id)}`),
      api<Page<Token>>('GET', `/api/users/${encodeURIComponent(id)}/tokens${query({ status: 'active', limit: 200 })}`),
    ]);
    return { user, live: live.data.length, more: live.next_cursor !== null };
  }, [id]);
  const [problems, setProblems] = useState<Problem[]>([]);
  const [busy, setBusy] = useState(false);
  if (data.loading) return <Loading />;
  if (data.error || !data.data) return <LoadFailed error={data.error} />;
  const { user, live, more } = data.data;
  const back = href('admin/users', user.id);
  const count = more ? `${live}+` : live;
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setProblems([]);
    const path = `/api/users/${encodeURIComponent(user.id)}`;
    try {
      if (action === 'disable' || action === 'enable') {
        await api('PATCH', path, { disabled: action === 'disable' });
        flash(t(`user.${action}.done`, { name: user.username }));
        navigate(back);
      } else if (action === 'revoke-all') {
        const { revoked } = await api<{ revoked: number }>('POST', `${path}/tokens/revoke-all`);
        flash(t('user.revoke-all.done', { count: revoked, name: user.username }));
        navigate(back);
      } else {
        await api('DELETE', path);
        flash(t('user.delete.done', { name: user.username }));
        navigate(href('admin/users'));
      }
    } catch (error) {
      setProblems(problemsOf(error));
      setBusy(false);
    }
  };
  const warning = action === 'delete' || action === 'revoke-all' || action === 'disable';
  return (
    <>
      <BackLink href={back} />
      <PageTitle caption={user.username}>{t(`user.${action}.title`, { name: user.username })}</PageTitle>
      <ErrorSummary problems={problems} />
      {warning ? (
        <div class="warning-text" role="note">
          <span class="warning-text__icon" aria-hidden="true">
            !
          </span>
          <strong>{t(`user.${action}.warning`)}</strong>
        </div>
      ) : null}
      <ul class="consequences">
        {(['1', '2', '3'] as const).map((n) => {
          const key = `user.${action}.consequence${n}`;
          const text = t(key, {
            name: user.username,
            count: typeof count === 'number' ? count : live,
            shown: String(count),
          });
          return text === key ? null : <li key={n}>{text}</li>;
        })}
      </ul>
      <form class="form" onSubmit={(e) => void submit(e)}>
        <div class="actions">
          <SubmitButton
            busy={busy}
            label={t(`user.${action}.submit`)}
            busyLabel={t('common.working')}
            {...(warning ? { variant: 'warning' as const } : {})}
          />
          <a href={back}>{t('common.cancel')}</a>
        </div>
      </form>
    </>
  );
}

/**
 * Admin › Tokens: find tokens across users (expiring soon, unused for N days, by status or user) and revoke a
 * selection of them, with a confirmation, progress while it runs, and each failure reported with the API's words.
 */
import { useState } from 'preact/hooks';

import { api, query, type Page, type Token } from '../api.ts';
import { t } from '../i18n.ts';
import { href, navigate } from '../router.ts';
import {
  ErrorSummary,
  Expiry,
  LastUsed,
  LoadFailed,
  Loading,
  PageTitle,
  Pagination,
  Status,
  StatusTag,
  SubmitButton,
  TableRegion,
  problemsOf,
  textOf,
  useLoad,
  type Problem,
} from '../ui.tsx';

const DAY = 86_400_000;
const STATUSES = ['active', 'expired', 'revoked', 'all'] as const;

/** The search as the route carries it. */
export interface TokenSearch {
  readonly status: string;
  readonly user_id: string;
  readonly expiring: string;
  readonly unused: string;
  readonly cursor: string | null;
}

/** One-click searches; the one being shown is marked current. */
const PRESETS = [
  { label: 'search.preset.expiring', query: { expiring: '7' } },
  { label: 'search.preset.unused', query: { unused: '90' } },
] as const;

const isPreset = (search: TokenSearch, query: { readonly expiring?: string; readonly unused?: string }) =>
  search.status === 'active' &&
  search.user_id === '' &&
  search.cursor === null &&
  search.expiring === (query.expiring ?? '') &&
  search.unused === (query.unused ?? '');

/** Reads a search from the route's query. */
export function searchOf(params: URLSearchParams): TokenSearch {
  const status = params.get('status') ?? 'active';
  return {
    status: (STATUSES as readonly string[]).includes(status) ? status : 'active',
    user_id: params.get('user_id') ?? '',
    expiring: params.get('expiring') ?? '',
    unused: params.get('unused') ?? '',
    cursor: params.get('cursor'),
  };
}

const days = (value: string) => (/^\d{1,5}$/.test(value) ? Number(value) : null);

/** The API query for a search: "expiring within N days" and "unused for N days" become instants from now. */
function apiQuery(search: TokenSearch, now: number): string {
  const expiring = days(search.expiring);
  const unused = days(search.unused);
  const cutoff = unused === null ? undefined : new Date(now - unused * DAY).toISOString();
  return query({
    status: search.status,
    user_id: search.user_id || undefined,
    expires_before: expiring === null ? undefined : new Date(now + expiring * DAY).toISOString(),
    // Unused for N days: not used since the cutoff, and old enough to have been (created before it).
    last_used_before: cutoff,
    created_before: cutoff,
    cursor: search.cursor,
    limit: 50,
  });
}

type Bulk =
  | { readonly step: 'select' }
  | { readonly step: 'confirm' }
  | { readonly step: 'running'; readonly done: number; readonly total: number }
  | { readonly step: 'finished'; readonly revoked: number; readonly failures: readonly Problem[] };

/** The cross-user token search with bulk revocation. */
export function TokenSearchPage(props: { search: TokenSearch }) {
  const { search } = props;
  const results = useLoad(
    () => api<Page<Token>>('GET', `/api/tokens${apiQuery(search, Date.now())}`),
    [search.status, search.user_id, search.expiring, search.unused, search.cursor],
  );
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [bulk, setBulk] = useState<Bulk>({ step: 'select' });

  const submit = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const value = (name: string) => textOf(form, name).trim();
    setSelected(new Set());
    setBulk({ step: 'select' });
    navigate(
      href('admin/tokens', {
        status: value('status'),
        user_id: value('user_id'),
        expiring: value('expiring'),
        unused: value('unused'),
      }),
    );
  };

  const rows = results.data?.data ?? [];
  const revocable = rows.filter((r) => r.status !== 'revoked');
  const chosen = rows.filter((r) => selected.has(r.id));
  const toggle = (id: string) => {
    const next = new Set(selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setSelected(next);
  };
  const toggleAll = () =>
    setSelected(chosen.length === revocable.length ? new Set() : new Set(revocable.map((r) => r.id)));

  const revoke = async (event: Event) => {
    event.preventDefault();
    const failures: Problem[] = [];
    let revoked = 0;
    setBulk({ step: 'running', done: 0, total: chosen.length });
    for (const [i, token] of chosen.entries()) {
      try {
        await api('DELETE', `/api/users/${encodeURIComponent(token.user_id)}/tokens/${encodeURIComponent(token.id)}`);
        revoked += 1;
      } catch (error) {
        failures.push({ text: `${token.name} (${token.user_id}): ${problemsOf(error)[0]?.text ?? ''}` });
      }
      setBulk({ step: 'running', done: i + 1, total: chosen.length });
    }
    setSelected(new Set());
    setBulk({ step: 'finished', revoked, failures });
    results.reload();
  };

  return (
    <>
      <PageTitle>{t('search.title')}</PageTitle>
      <p class="lead">{t('search.intro')}</p>
      <ul class="presets" aria-label={t('search.presets')}>
        {PRESETS.map((preset) => (
          <li key={preset.label}>
            <a
              href={href('admin/tokens', { status: 'active', ...preset.query })}
              aria-current={isPreset(search, preset.query) ? 'page' : undefined}
            >
              {t(preset.label)}
            </a>
          </li>
        ))}
      </ul>
      <form class="form form--filters" noValidate onSubmit={submit} key={JSON.stringify(search)}>
        <div class="filters-grid">
          <div class="field">
            <label class="label" for="search-status">
              {t('search.status')}
            </label>
            <select id="search-status" name="status" class="select" defaultValue={search.status}>
              {STATUSES.map((s) => (
                <option key={s} value={s}>
                  {t(`tokens.filter.${s}`)}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label class="label" for="search-user">
              {t('search.user')}
            </label>
            <input
              id="search-user"
              name="user_id"
              class="input"
              defaultValue={search.user_id}
              spellcheck={false}
              autocomplete="off"
            />
          </div>
          <div class="field">
            <label class="label" for="search-expiring">
              {t('search.expiring')}
            </label>
            <input
              id="search-expiring"
              name="expiring"
              class="input input--number"
              type="number"
              min={0}
              inputMode="numeric"
              defaultValue={search.expiring}
            />
          </div>
          <div class="field">
            <label class="label" for="search-unused">
              {t('search.unused')}
            </label>
            <input
              id="search-unused"
              name="unused"
              class="input input--number"
              type="number"
              min={0}
              inputMode="numeric"
              defaultValue={search.unused}
            />
          </div>
        </div>
        <button type="submit" class="button button--secondary">
          {t('search.submit')}
        </button>
      </form>

      {bulk.step === 'finished' ? (
        <>
          <Status>{t('search.bulk.finished', { count: bulk.revoked })}</Status>
          <ErrorSummary problems={bulk.failures} />
        </>
      ) : null}
      {bulk.step === 'running' ? (
        <div class="progress">
          <label for="bulk-progress">{t('search.bulk.running', { done: bulk.done, total: bulk.total })}</label>
          <progress id="bulk-progress" max={bulk.total} value={bulk.done} />
        </div>
      ) : null}

      {results.loading ? <Loading /> : null}
      {results.error ? <LoadFailed error={results.error} /> : null}
      {results.data && rows.length === 0 ? <p class="empty">{t('search.none')}</p> : null}

      {bulk.step === 'confirm' ? (
        <section class="confirm" aria-labelledby="bulk-confirm-title">
          <h2 id="bulk-confirm-title" class="heading-m" tabindex={-1} ref={(el) => el?.focus()}>
            {t('search.bulk.confirmTitle', { count: chosen.length })}
          </h2>
          <div class="warning-text" role="note">
            <span class="warning-text__icon" aria-hidden="true">
              !
            </span>
            <strong>{t('search.bulk.warning')}</strong>
          </div>
          <ul>
            {chosen.map((token) => (
              <li key={token.id}>
                {token.name} <span class="muted">({token.user_id})</span>
              </li>
            ))}
          </ul>
          <form class="form" onSubmit={(e) => void revoke(e)}>
            <div class="actions">
              <SubmitButton
                busy={false}
                label={t('search.bulk.submit', { count: chosen.length })}
                busyLabel={t('common.working')}
                variant="warning"
              />
              <button type="button" class="button button--link" onClick={() => setBulk({ step: 'select' })}>
                {t('common.cancel')}
              </button>
            </div>
          </form>
        </section>
      ) : null}

      {rows.length > 0 && bulk.step !== 'confirm' ? (
        <>
          <div class="toolbar">
            <button
              type="button"
              class="button button--warning"
              disabled={chosen.length === 0 || bulk.step === 'running'}
              onClick={() => setBulk({ step: 'confirm' })}
            >
              {t('search.bulk.revoke', { count: chosen.length })}
            </button>
          </div>
          <TableRegion label={t('search.results')}>
            <table class="table">
              <thead>
                <tr>
                  <th scope="col" class="table__check">
                    <input
                      type="checkbox"
                      aria-label={t('search.selectAll')}
                      checked={revocable.length > 0 && chosen.length === revocable.length}
                      disabled={revocable.length === 0}
                      onChange={toggleAll}
                    />
                  </th>
                  <th scope="col">{t('search.token')}</th>
                  <th scope="col">{t('search.owner')}</th>
                  <th scope="col">{t('user.status')}</th>
                  <th scope="col">{t('token.expires')}</th>
                  <th scope="col">{t('token.lastUsed')}</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((token) => (
                  <tr key={token.id}>
                    <td class="table__check">
                      <input
                        type="checkbox"
                        aria-label={t('search.select', { name: token.name, user: token.user_id })}
                        checked={selected.has(token.id)}
                        disabled={token.status === 'revoked'}
                        onChange={() => toggle(token.id)}
                      />
                    </td>
                    <td>
                      <a href={href(`admin/users/${token.user_id}/tokens`, token.id)}>{token.name}</a>
                    </td>
                    <td>
                      <a href={href('admin/users', token.user_id)}>{token.user_id}</a>
                    </td>
                    <td>
                      <StatusTag token={token} />
                    </td>
                    <td>
                      <Expiry token={token} />
                    </td>
                    <td>
                      <LastUsed token={token} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableRegion>
        </>
      ) : null}
      {results.data ? (
        <Pagination
          next={results.data.next_cursor}
          first={search.cursor ? href('admin/tokens', { ...search, cursor: undefined }) : null}
          nextHref={(cursor) => href('admin/tokens', { ...search, cursor })}
        />
      ) : null}
    </>
  );
}

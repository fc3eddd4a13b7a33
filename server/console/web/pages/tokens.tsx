/**
 * Personal access tokens: the list (with its status filter) and where a set of tokens lives. The same pages serve
 * a person's own tokens (`/api/me/tokens`) and, for an admin, any user's (`/api/users/{id}/tokens`).
 */

import { api, query, type Page, type Token } from '../api.ts';
import { t } from '../i18n.ts';
import { href } from '../router.ts';
import { Expiry, LastUsed, LoadFailed, Loading, PageTitle, Pagination, StatusTag, Time, useLoad } from '../ui.tsx';

/** Where a set of tokens lives: in the API and in the console's routes. */
export interface TokenPlace {
  /** The API collection: `/api/me/tokens` or `/api/users/{id}/tokens`. */
  readonly api: string;
  /** The console route of the collection: `tokens` or `admin/users/{id}/tokens`. */
  readonly route: string;
  /** The API path of a token's audit trail. */
  readonly audit: (tokenId: string) => string;
  /** Whose tokens, when an admin looks at someone else's. */
  readonly owner?: string;
}

/** The signed-in person's own tokens. */
export const myTokens: TokenPlace = {
  api: '/api/me/tokens',
  route: 'tokens',
  audit: (tokenId) => `/api/me/audit${query({ token_id: tokenId })}`,
};

/** A user's tokens, as an admin sees them. */
export function tokensOf(userId: string, owner: string): TokenPlace {
  return {
    api: `/api/users/${encodeURIComponent(userId)}/tokens`,
    route: `admin/users/${userId}/tokens`,
    audit: (tokenId) => `/api/audit${query({ user_id: userId, token_id: tokenId })}`,
    owner,
  };
}

const STATUSES = ['all', 'active', 'expired', 'revoked'] as const;
type Filter = (typeof STATUSES)[number];

/** The list of tokens with its status filter, newest first. */
export function TokenList(props: {
  place: TokenPlace;
  status: Filter;
  cursor: string | null;
  filterHref: (status: Filter, cursor?: string) => string;
}) {
  const { place, status, cursor } = props;
  const list = useLoad(
    () => api<Page<Token>>('GET', `${place.api}${query({ status, cursor, limit: 20 })}`),
    [place.api, status, cursor],
  );
  return (
    <section aria-labelledby="token-list-title">
      <h2 id="token-list-title" class="heading-m">
        {t('tokens.listTitle')}
      </h2>
      <nav class="filters" aria-label={t('tokens.filter')}>
        <ul>
          {STATUSES.map((s) => (
            <li key={s}>
              <a href={props.filterHref(s)} aria-current={s === status ? 'page' : undefined}>
                {t(`tokens.filter.${s}`)}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      {list.loading ? <Loading /> : null}
      {list.error ? <LoadFailed error={list.error} /> : null}
      {list.data && list.data.data.length === 0 ? <p class="empty">{t(`tokens.empty.${status}`)}</p> : null}
      {list.data && list.data.data.length > 0 ? (
        <ul class="cards">
          {list.data.data.map((token) => (
            <TokenCard key={token.id} token={token} place={place} />
          ))}
        </ul>
      ) : null}
      {list.data ? (
        <Pagination
          next={list.data.next_cursor}
          first={cursor ? props.filterHref(status) : null}
          nextHref={(next) => props.filterHref(status, next)}
        />
      ) : null}
    </section>
  );
}

function TokenCard(props: { token: Token; place: TokenPlace }) {
  const { token, place } = props;
  return (
    <li class="card">
      <div class="card__head">
        <h3 class="card__title">
          <a href={href(place.route, token.id)}>{token.name}</a>
        </h3>
        <StatusTag token={token} />
      </div>
      {token.description ? <p class="card__description">{token.description}</p> : null}
      <dl class="meta">
        <div>
          <dt>{t('token.scopes')}</dt>
          <dd>{token.scopes.length > 0 ? <Scopes scopes={token.scopes} /> : t('token.noScopes')}</dd>
        </div>
        <div>
          <dt>{t('token.created')}</dt>
          <dd>
            <Time iso={token.created_at} relative />
          </dd>
        </div>
        <div>
          <dt>{t('token.expires')}</dt>
          <dd>
            <Expiry token={token} />
          </dd>
        </div>
        <div>
          <dt>{t('token.lastUsed')}</dt>
          <dd>
            <LastUsed token={token} />
          </dd>
        </div>
      </dl>
    </li>
  );
}

export function Scopes(props: { scopes: readonly string[] }) {
  return (
    <span class="scopes">
      {props.scopes.map((s) => (
        <code key={s}>{s}</code>
      ))}
    </span>
  );
}

/** "Personal access tokens": the signed-in person's own list. */
export function MyTokensPage(props: { status: Filter; cursor: string | null }) {
  return (
    <>
      <PageTitle>{t('tokens.title')}</PageTitle>
      <p class="lead">{t('tokens.intro')}</p>
      <p>
        <a class="button" href={href('tokens', 'new')}>
          {t('tokens.create')}
        </a>
      </p>
      <TokenList
        place={myTokens}
        status={props.status}
        cursor={props.cursor}
        filterHref={(status, cursor) => href('tokens', { status: status === 'all' ? undefined : status, cursor })}
      />
    </>
  );
}

/** Parses the `status` filter of a route. */
export function filterOf(value: string | null): Filter {
  return STATUSES.includes(value as Filter) ? (value as Filter) : 'all';
}

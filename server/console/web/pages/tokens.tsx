/**
 * Personal access tokens: the list, creating one, the value shown once, and every action on a token (rename and
 * describe, bring the expiry earlier, rotate, revoke) with its audit trail. The same pages serve a person's own
 * tokens (`/api/me/tokens`) and, for an admin, any user's (`/api/users/{id}/tokens`).
 */
import { useState } from 'preact/hooks';

import {
  api,
  query,
  type AuditEvent,
  type Page,
  type Policy,
  type Scope,
  type Token,
  type TokenWithValue,
} from '../api.ts';
import { useAccount } from '../context.ts';
import { date, dateTime, relative, t } from '../i18n.ts';
import { href, navigate } from '../router.ts';
import { flash } from '../flash.ts';
import {
  BackLink,
  CopyButton,
  ErrorSummary,
  Expiry,
  Field,
  LastUsed,
  LoadFailed,
  Loading,
  PageTitle,
  Pagination,
  StatusTag,
  SubmitButton,
  Summary,
  Time,
  problemsOf,
  textOf,
  useLoad,
  type Problem,
} from '../ui.tsx';
import { AuditTable } from './audit-table.tsx';

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

function Scopes(props: { scopes: readonly string[] }) {
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

const DAY = 86_400_000;
const PRESETS = [7, 30, 90, 365];

/** The end of a calendar day (`YYYY-MM-DD`) in the person's time zone. */
function endOfDay(value: string): Date | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!match) return null;
  return new Date(Number(match[1]), Number(match[2]) - 1, Number(match[3]), 23, 59, 59);
}

/** `YYYY-MM-DD` of a date in the person's time zone (for date inputs). */
function dayOf(at: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}`;
}

function useCatalogue() {
  return useLoad(async () => {
    const [scopes, policy] = await Promise.all([
      api<{ data: Scope[] }>('GET', '/api/scopes'),
      api<Policy>('GET', '/api/policy'),
    ]);
    return { scopes: scopes.data, policy };
  }, []);
}

/** Creating a token: name, description, scopes, expiry within the policy, optional resource. */
export function CreateTokenPage(props: { place: TokenPlace; back: string }) {
  const { showSecret } = useAccount();
  const catalogue = useCatalogue();
  const [problems, setProblems] = useState<Problem[]>([]);
  const [busy, setBusy] = useState(false);
  const [expiry, setExpiry] = useState<string | null>(null);

  if (catalogue.loading) return <Loading />;
  if (catalogue.error || !catalogue.data) return <LoadFailed error={catalogue.error} />;
  const { scopes, policy } = catalogue.data;
  const max = policy.max_lifetime_days;
  const presets = PRESETS.filter((days) => max === null || days <= max);
  const fallback = presets.includes(policy.default_lifetime_days ?? -1)
    ? String(policy.default_lifetime_days)
    : String(presets.at(-1) ?? 'custom');
  const chosen = expiry ?? fallback;
  const today = new Date();

  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const body: Record<string, unknown> = {
      name: textOf(form, 'name'),
      scopes: form.getAll('scopes').map(String),
    };
    const description = textOf(form, 'description').trim();
    if (description) body.description = description;
    const resource = textOf(form, 'resource').trim();
    if (resource) body.resource = resource;
    if (chosen === 'never') body.expires_at = null;
    else if (chosen === 'custom') {
      const end = endOfDay(textOf(form, 'expiry_date'));
      if (!end) {
        setProblems([{ text: t('create.error.date'), field: 'expiry_date' }]);
        return;
      }
      body.expires_at = (max === null ? end : new Date(Math.min(end.getTime(), Date.now() + max * DAY))).toISOString();
    } else body.expires_at = new Date(Date.now() + Number(chosen) * DAY).toISOString();
    setBusy(true);
    setProblems([]);
    try {
      const created = await api<TokenWithValue>('POST', props.place.api, body);
      showSecret({ kind: 'token', token: created, done: href(props.place.route, created.id) });
    } catch (error) {
      setProblems(problemsOf(error));
      setBusy(false);
    }
  };

  const fieldError = (name: string) => problems.find((p) => p.field === name)?.text;
  return (
    <>
      <BackLink href={props.back} />
      <PageTitle caption={props.place.owner}>{t('create.title')}</PageTitle>
      <ErrorSummary
        problems={problems}
        fields={['name', 'description', 'scopes', 'expires_at', 'expiry_date', 'resource']}
      />
      <form class="form" noValidate onSubmit={(e) => void submit(e)}>
        <Field name="name" label={t('create.name')} hint={t('create.nameHint')} error={fieldError('name')}>
          {(a) => <input {...a} class="input" maxLength={100} autocomplete="off" />}
        </Field>
        <Field
          name="description"
          label={t('create.description')}
          hint={t('create.descriptionHint')}
          error={fieldError('description')}
        >
          {(a) => <textarea {...a} class="textarea" rows={3} maxLength={1000} />}
        </Field>
        <fieldset class="fieldset" id="field-scopes" aria-describedby="scopes-hint" tabindex={-1}>
          <legend class="legend">{t('create.scopes')}</legend>
          <p class="hint" id="scopes-hint">
            {t('create.scopesHint')}
          </p>
          {fieldError('scopes') ? <p class="field-error">{fieldError('scopes')}</p> : null}
          {scopes.map((scope, i) => (
            <div class="choice" key={scope.name}>
              <input
                type="checkbox"
                name="scopes"
                value={scope.name}
                id={`scope-${i}`}
                aria-describedby={`scope-${i}-hint`}
              />
              <label for={`scope-${i}`}>
                <code>{scope.name}</code>
              </label>
              <p class="hint choice__hint" id={`scope-${i}-hint`}>
                {scope.description}
              </p>
            </div>
          ))}
        </fieldset>
        <fieldset class="fieldset" id="field-expires_at" tabindex={-1} aria-describedby="expiry-hint">
          <legend class="legend">{t('create.expiry')}</legend>
          <p class="hint" id="expiry-hint">
            {max === null ? t('create.expiryHintNoLimit') : t('create.expiryHint', { count: max })}
          </p>
          {fieldError('expires_at') ? <p class="field-error">{fieldError('expires_at')}</p> : null}
          {presets.map((days) => (
            <div class="choice" key={days}>
              <input
                type="radio"
                name="expiry"
                id={`expiry-${days}`}
                value={String(days)}
                checked={chosen === String(days)}
                onChange={() => setExpiry(String(days))}
              />
              <label for={`expiry-${days}`}>
                {t('create.days', { count: days })}{' '}
                <span class="muted">({date(new Date(Date.now() + days * DAY).toISOString())})</span>
              </label>
            </div>
          ))}
          <div class="choice">
            <input
              type="radio"
              name="expiry"
              id="expiry-custom"
              value="custom"
              checked={chosen === 'custom'}
              onChange={() => setExpiry('custom')}
            />
            <label for="expiry-custom">{t('create.customDate')}</label>
          </div>
          {chosen === 'custom' ? (
            <div class="conditional">
              <Field
                name="expiry_date"
                label={t('create.date')}
                hint={t('create.dateHint')}
                error={fieldError('expiry_date')}
              >
                {(a) => (
                  <input
                    {...a}
                    type="date"
                    class="input input--date"
                    min={dayOf(new Date(today.getTime() + DAY))}
                    {...(max === null ? {} : { max: dayOf(new Date(today.getTime() + max * DAY)) })}
                  />
                )}
              </Field>
            </div>
          ) : null}
          {max === null ? (
            <div class="choice">
              <input
                type="radio"
                name="expiry"
                id="expiry-never"
                value="never"
                checked={chosen === 'never'}
                onChange={() => setExpiry('never')}
              />
              <label for="expiry-never">{t('create.never')}</label>
            </div>
          ) : null}
        </fieldset>
        <Field
          name="resource"
          label={t('create.resource')}
          hint={t('create.resourceHint')}
          error={fieldError('resource')}
        >
          {(a) => (
            <input
              {...a}
              type="url"
              class="input"
              inputMode="url"
              spellcheck={false}
              placeholder="https://api.example.com"
            />
          )}
        </Field>
        <p class="hint">{t('create.limit', { count: policy.max_tokens_per_user })}</p>
        <div class="actions">
          <SubmitButton busy={busy} label={t('create.submit')} busyLabel={t('create.busy')} />
          <a href={props.back}>{t('common.cancel')}</a>
        </div>
      </form>
    </>
  );
}

/** The value of a new or rotated token, shown once, alone on its page. */
export function TokenSecretPage(props: {
  token: TokenWithValue;
  rotated: boolean;
  graceUntil?: string | null;
  onDone: () => void;
}) {
  const { token } = props;
  const target = token.resource ?? 'https://api.example.com/';
  return (
    <>
      <PageTitle>{props.rotated ? t('secret.rotatedTitle') : t('secret.title')}</PageTitle>
      <div class="warning-text" role="note">
        <span class="warning-text__icon" aria-hidden="true">
          !
        </span>
        <strong>{t('secret.warning')}</strong>
      </div>
      <div class="field">
        <label class="label" for="secret-value">
          {t('secret.label', { name: token.name })}
        </label>
        <input
          id="secret-value"
          class="input input--code"
          readOnly
          value={token.token}
          spellcheck={false}
          autocomplete="off"
        />
      </div>
      <p>
        <CopyButton text={token.token} target="secret-value" label={t('secret.copy')} />
      </p>
      {props.rotated ? (
        <p>
          {props.graceUntil
            ? t('secret.graceUntil', { time: dateTime(props.graceUntil), when: relative(props.graceUntil) })
            : t('secret.oldStopped')}
        </p>
      ) : null}
      <h2 class="heading-m">{t('secret.usageTitle')}</h2>
      <p>{t('secret.usage')}</p>
      <pre class="code" tabindex={0} aria-label={t('secret.usageTitle')}>
        <code>{`curl -H "Authorization: Bearer ${token.token}" \\\n  ${target}`}</code>
      </pre>
      <div class="actions">
        <button type="button" class="button" onClick={props.onDone}>
          {t('secret.done')}
        </button>
      </div>
    </>
  );
}

/** One token: its facts, what can be done to it, and its history. */
export function TokenPage(props: { place: TokenPlace; id: string; back: string }) {
  const { place, id } = props;
  const token = useLoad(() => api<Token>('GET', `${place.api}/${encodeURIComponent(id)}`), [place.api, id]);
  const history = useLoad(() => api<Page<AuditEvent>>('GET', `${place.audit(id)}&limit=50`), [place.api, id]);
  if (token.loading && !token.data) return <Loading />;
  if (token.error || !token.data) return <LoadFailed error={token.error} />;
  const tok = token.data;
  const base = href(place.route, tok.id);
  return (
    <>
      <BackLink href={props.back} />
      <PageTitle caption={place.owner ?? t('token.caption')}>{tok.name}</PageTitle>
      <p>
        <StatusTag token={tok} />
      </p>
      <Summary
        rows={[
          [t('token.description'), tok.description ?? <span class="muted">{t('token.noDescription')}</span>],
          [t('token.scopes'), tok.scopes.length > 0 ? <Scopes scopes={tok.scopes} /> : t('token.noScopes')],
          [
            t('token.resource'),
            tok.resource ? <code>{tok.resource}</code> : <span class="muted">{t('token.anyResource')}</span>,
          ],
          [t('token.created'), <Time iso={tok.created_at} />],
          [t('token.expires'), <Expiry token={tok} />],
          [t('token.lastUsed'), <LastUsed token={tok} />],
          tok.rotated_at ? [t('token.rotated'), <Time iso={tok.rotated_at} />] : null,
          tok.revoked_at ? [t('token.revoked'), <Time iso={tok.revoked_at} />] : null,
          [t('token.id'), <code>{tok.id}</code>],
        ]}
      />
      {tok.status === 'revoked' ? null : (
        <section aria-labelledby="actions-title">
          <h2 id="actions-title" class="heading-m">
            {t('token.actions')}
          </h2>
          <ul class="action-list">
            <li>
              <a href={`${base}/edit`}>{t('token.action.edit')}</a>
            </li>
            {tok.status === 'active' ? (
              <>
                <li>
                  <a href={`${base}/expiry`}>{t('token.action.expiry')}</a>
                </li>
                <li>
                  <a href={`${base}/rotate`}>{t('token.action.rotate')}</a>
                </li>
              </>
            ) : null}
            <li>
              <a class="link--warning" href={`${base}/revoke`}>
                {t('token.action.revoke')}
              </a>
            </li>
          </ul>
        </section>
      )}
      <section aria-labelledby="history-title">
        <h2 id="history-title" class="heading-m">
          {t('token.history')}
        </h2>
        {history.loading ? <Loading /> : null}
        {history.error ? <LoadFailed error={history.error} /> : null}
        {history.data ? <AuditTable events={history.data.data} label={t('token.history')} compact /> : null}
      </section>
    </>
  );
}

/** Loads a token for one of the action pages. */
function useToken(place: TokenPlace, id: string) {
  return useLoad(() => api<Token>('GET', `${place.api}/${encodeURIComponent(id)}`), [place.api, id]);
}

/** Renaming a token and changing its description. */
export function EditTokenPage(props: { place: TokenPlace; id: string }) {
  const token = useToken(props.place, props.id);
  const [problems, setProblems] = useState<Problem[]>([]);
  const [busy, setBusy] = useState(false);
  if (token.loading) return <Loading />;
  if (token.error || !token.data) return <LoadFailed error={token.error} />;
  const tok = token.data;
  const back = href(props.place.route, tok.id);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const name = textOf(form, 'name');
    const description = textOf(form, 'description').trim();
    const body: Record<string, unknown> = {};
    if (name !== tok.name) body.name = name;
    if (description !== (tok.description ?? '')) body.description = description === '' ? null : description;
    if (Object.keys(body).length === 0) {
      navigate(back);
      return;
    }
    setBusy(true);
    setProblems([]);
    try {
      await api('PATCH', `${props.place.api}/${encodeURIComponent(tok.id)}`, body);
      flash(t('edit.done'));
      navigate(back);
    } catch (error) {
      setProblems(problemsOf(error));
      setBusy(false);
    }
  };
  const fieldError = (name: string) => problems.find((p) => p.field === name)?.text;
  return (
    <>
      <BackLink href={back} />
      <PageTitle caption={tok.name}>{t('edit.title')}</PageTitle>
      <ErrorSummary problems={problems} fields={['name', 'description']} />
      <form class="form" noValidate onSubmit={(e) => void submit(e)}>
        <Field name="name" label={t('create.name')} error={fieldError('name')}>
          {(a) => <input {...a} class="input" maxLength={100} defaultValue={tok.name} autocomplete="off" />}
        </Field>
        <Field
          name="description"
          label={t('create.description')}
          hint={t('create.descriptionHint')}
          error={fieldError('description')}
        >
          {(a) => <textarea {...a} class="textarea" rows={3} maxLength={1000} defaultValue={tok.description ?? ''} />}
        </Field>
        <div class="actions">
          <SubmitButton busy={busy} label={t('edit.submit')} busyLabel={t('common.saving')} />
          <a href={back}>{t('common.cancel')}</a>
        </div>
      </form>
    </>
  );
}

/** Bringing a token's expiry earlier (never later: that is the API's rule too). */
export function ExpiryPage(props: { place: TokenPlace; id: string }) {
  const token = useToken(props.place, props.id);
  const [problems, setProblems] = useState<Problem[]>([]);
  const [busy, setBusy] = useState(false);
  if (token.loading) return <Loading />;
  if (token.error || !token.data) return <LoadFailed error={token.error} />;
  const tok = token.data;
  const back = href(props.place.route, tok.id);
  const current = tok.expires_at ? new Date(tok.expires_at) : null;
  const submit = async (event: Event) => {
    event.preventDefault();
    const end = endOfDay(textOf(event.currentTarget as HTMLFormElement, 'expires_at'));
    if (!end) {
      setProblems([{ text: t('create.error.date'), field: 'expires_at' }]);
      return;
    }
    if (current && end >= current) {
      setProblems([{ text: t('expiry.error.later', { date: date(current.toISOString()) }), field: 'expires_at' }]);
      return;
    }
    setBusy(true);
    setProblems([]);
    try {
      await api('PATCH', `${props.place.api}/${encodeURIComponent(tok.id)}`, { expires_at: end.toISOString() });
      flash(t('expiry.done', { date: date(end.toISOString()) }));
      navigate(back);
    } catch (error) {
      setProblems(problemsOf(error));
      setBusy(false);
    }
  };
  const fieldError = (name: string) => problems.find((p) => p.field === name)?.text;
  const latest = current ? new Date(current.getTime() - DAY) : null;
  return (
    <>
      <BackLink href={back} />
      <PageTitle caption={tok.name}>{t('expiry.title')}</PageTitle>
      <p>
        {current
          ? t('expiry.current', { date: date(current.toISOString()), when: relative(current.toISOString()) })
          : t('expiry.none')}
      </p>
      <ErrorSummary problems={problems} fields={['expires_at']} />
      <form class="form" noValidate onSubmit={(e) => void submit(e)}>
        <Field name="expires_at" label={t('expiry.date')} hint={t('expiry.hint')} error={fieldError('expires_at')}>
          {(a) => (
            <input
              {...a}
              type="date"
              class="input input--date"
              min={dayOf(new Date())}
              {...(latest ? { max: dayOf(latest) } : {})}
            />
          )}
        </Field>
        <div class="actions">
          <SubmitButton busy={busy} label={t('expiry.submit')} busyLabel={t('common.saving')} />
          <a href={back}>{t('common.cancel')}</a>
        </div>
      </form>
    </>
  );
}

const GRACE = [0, 600, 3600, 86_400];

/** Rotating a token: a new value under the same id; the old one lives for the chosen grace period. */
export function RotatePage(props: { place: TokenPlace; id: string }) {
  const { showSecret } = useAccount();
  const token = useToken(props.place, props.id);
  const policy = useLoad(() => api<Policy>('GET', '/api/policy'), []);
  const [problems, setProblems] = useState<Problem[]>([]);
  const [busy, setBusy] = useState(false);
  if (token.loading || policy.loading) return <Loading />;
  if (token.error || !token.data) return <LoadFailed error={token.error} />;
  if (policy.error || !policy.data) return <LoadFailed error={policy.error} />;
  const tok = token.data;
  const maxGrace = policy.data.max_grace_seconds;
  const max = policy.data.max_lifetime_days;
  const presets = PRESETS.filter((days) => max === null || days <= max);
  const back = href(props.place.route, tok.id);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const grace = Number(textOf(form, 'grace_seconds') || 0);
    const expiry = textOf(form, 'expiry');
    // Without expires_at the API gives the new value the default lifetime; "keep" sends the current expiry.
    const expiresAt =
      expiry === 'keep'
        ? tok.expires_at
        : expiry === 'never'
          ? null
          : new Date(Date.now() + Number(expiry) * DAY).toISOString();
    setBusy(true);
    setProblems([]);
    try {
      const rotated = await api<TokenWithValue>('POST', `${props.place.api}/${encodeURIComponent(tok.id)}/rotate`, {
        grace_seconds: grace,
        expires_at: expiresAt,
      });
      showSecret({
        kind: 'token',
        token: rotated,
        done: back,
        rotated: true,
        graceUntil: grace > 0 ? new Date(Date.now() + grace * 1000).toISOString() : null,
      });
    } catch (error) {
      setProblems(problemsOf(error));
      setBusy(false);
    }
  };
  return (
    <>
      <BackLink href={back} />
      <PageTitle caption={tok.name}>{t('rotate.title')}</PageTitle>
      <p>{t('rotate.intro')}</p>
      <ErrorSummary problems={problems} fields={['grace_seconds', 'expires_at']} />
      <form class="form" noValidate onSubmit={(e) => void submit(e)}>
        <fieldset class="fieldset" id="field-expires_at" tabindex={-1}>
          <legend class="legend">{t('rotate.expiry')}</legend>
          <div class="choice">
            <input
              type="radio"
              name="expiry"
              id="rotate-keep"
              value={tok.expires_at === null ? 'never' : 'keep'}
              defaultChecked
            />
            <label for="rotate-keep">
              {tok.expires_at === null ? t('rotate.keepNever') : t('rotate.keep', { date: date(tok.expires_at) })}
            </label>
          </div>
          {presets.map((days) => (
            <div class="choice" key={days}>
              <input type="radio" name="expiry" id={`rotate-${days}`} value={String(days)} />
              <label for={`rotate-${days}`}>
                {t('rotate.days', { count: days })}{' '}
                <span class="muted">({date(new Date(Date.now() + days * DAY).toISOString())})</span>
              </label>
            </div>
          ))}
        </fieldset>
        <fieldset class="fieldset" id="field-grace_seconds" tabindex={-1} aria-describedby="grace-hint">
          <legend class="legend">{t('rotate.grace')}</legend>
          <p class="hint" id="grace-hint">
            {t('rotate.graceHint')}
          </p>
          {GRACE.filter((s) => s <= maxGrace).map((seconds) => (
            <div class="choice" key={seconds}>
              <input
                type="radio"
                name="grace_seconds"
                id={`grace-${seconds}`}
                value={String(seconds)}
                defaultChecked={seconds === 0}
              />
              <label for={`grace-${seconds}`}>{t(`rotate.grace.${seconds}`)}</label>
            </div>
          ))}
        </fieldset>
        <div class="actions">
          <SubmitButton busy={busy} label={t('rotate.submit')} busyLabel={t('rotate.busy')} />
          <a href={back}>{t('common.cancel')}</a>
        </div>
      </form>
    </>
  );
}

/** Revoking a token, after saying what that does. */
export function RevokePage(props: { place: TokenPlace; id: string }) {
  const token = useToken(props.place, props.id);
  const [problems, setProblems] = useState<Problem[]>([]);
  const [busy, setBusy] = useState(false);
  if (token.loading) return <Loading />;
  if (token.error || !token.data) return <LoadFailed error={token.error} />;
  const tok = token.data;
  const back = href(props.place.route, tok.id);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setProblems([]);
    try {
      await api('DELETE', `${props.place.api}/${encodeURIComponent(tok.id)}`);
      flash(t('revoke.done', { name: tok.name }));
      navigate(back);
    } catch (error) {
      setProblems(problemsOf(error));
      setBusy(false);
    }
  };
  return (
    <>
      <BackLink href={back} />
      <PageTitle caption={tok.name}>{t('revoke.title')}</PageTitle>
      <ErrorSummary problems={problems} />
      <div class="warning-text" role="note">
        <span class="warning-text__icon" aria-hidden="true">
          !
        </span>
        <strong>{t('revoke.warning')}</strong>
      </div>
      <p>{t('revoke.consequence', { name: tok.name })}</p>
      <form class="form" onSubmit={(e) => void submit(e)}>
        <div class="actions">
          <SubmitButton busy={busy} label={t('revoke.submit')} busyLabel={t('revoke.busy')} variant="warning" />
          <a href={back}>{t('common.cancel')}</a>
        </div>
      </form>
    </>
  );
}

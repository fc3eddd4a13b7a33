/**
 * One token: its details and audit trail, renaming and describing it, and bringing its expiry earlier.
 */
import { useState } from 'preact/hooks';

import { api, type AuditEvent, type Page, type Token } from '../api.ts';
import { date, relative, t } from '../i18n.ts';
import { href, navigate } from '../router.ts';
import { flash } from '../flash.ts';
import {
  BackLink,
  ErrorSummary,
  Expiry,
  Field,
  LastUsed,
  LoadFailed,
  Loading,
  PageTitle,
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

import { DAY, dayOf, endOfDay } from './token-create.tsx';
import { Scopes, type TokenPlace } from './tokens.tsx';

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
export function useToken(place: TokenPlace, id: string) {
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

/**
 * Rotating a token (choosing the grace period; the new value shown once) and revoking it (with a confirmation).
 */
import { useState } from 'preact/hooks';

import { api, type Policy, type TokenWithValue } from '../api.ts';
import { useAccount } from '../context.ts';
import { date, t } from '../i18n.ts';
import { href, navigate } from '../router.ts';
import { flash } from '../flash.ts';
import {
  BackLink,
  ErrorSummary,
  LoadFailed,
  Loading,
  PageTitle,
  SubmitButton,
  problemsOf,
  textOf,
  useLoad,
  type Problem,
} from '../ui.tsx';

import { DAY, PRESETS } from './token-create.tsx';
import { useToken } from './token-detail.tsx';
import { type TokenPlace } from './tokens.tsx';

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

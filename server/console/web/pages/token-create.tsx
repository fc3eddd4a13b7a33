/**
 * Creating a token (name, description, scopes from the catalogue, expiry presets within the policy, a resource), and
 * the value shown once, on its own, with a copy button and a usage example.
 */
import { useState } from 'preact/hooks';

import { api, type Policy, type Scope, type TokenWithValue } from '../api.ts';
import { useAccount } from '../context.ts';
import { date, dateTime, relative, t } from '../i18n.ts';
import { href } from '../router.ts';
import {
  BackLink,
  CopyButton,
  ErrorSummary,
  Field,
  LoadFailed,
  Loading,
  PageTitle,
  SubmitButton,
  problemsOf,
  textOf,
  useLoad,
  type Problem,
} from '../ui.tsx';

import { type TokenPlace } from './tokens.tsx';

export const DAY = 86_400_000;
export const PRESETS = [7, 30, 90, 365];

/** The end of a calendar day (`YYYY-MM-DD`) in the person's time zone. */
export function endOfDay(value: string): Date | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!match) return null;
  return new Date(Number(match[1]), Number(match[2]) - 1, Number(match[3]), 23, 59, 59);
}

/** `YYYY-MM-DD` of a date in the person's time zone (for date inputs). */
export function dayOf(at: Date): string {
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

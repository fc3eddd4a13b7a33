/**
 * Shared building blocks: page titles that take focus, error summaries that link to their fields, fields, buttons
 * that show progress, status tags, dates. Plain HTML elements throughout, so the keyboard and screen readers work
 * without extra code.
 */
import type { ComponentChildren, JSX } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

import { ApiError, type Token } from './api.ts';
import { dateTime, relative, t } from './i18n.ts';

let firstPage = true;

/** The page's h1; it sets the document title and takes focus when the page changes (not on the first load). */
export function PageTitle(props: { children: string; caption?: string | undefined }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${props.children} – Tokenwarden`;
    if (firstPage) firstPage = false;
    else ref.current?.focus();
  }, [props.children]);
  return (
    <h1 class="title" tabindex={-1} ref={ref}>
      {props.caption ? <span class="caption">{props.caption}</span> : null}
      {props.children}
    </h1>
  );
}

/** One problem to report: the API's description, linked to the form field it names when there is one. */
export interface Problem {
  readonly text: string;
  readonly field?: string | undefined;
}

/** Turns whatever failed into problems to show: the API's error_description, or a network failure. */
export function problemsOf(error: unknown): Problem[] {
  if (error instanceof ApiError) {
    if (error.status === 0) return [{ text: t('error.network', { detail: error.description }) }];
    return [{ text: error.description, field: error.field }];
  }
  return [{ text: error instanceof Error ? error.message : String(error) }];
}

/** The error summary at the top of a page or form: focused when it appears, each problem linked to its field. */
export function ErrorSummary(props: { problems: readonly Problem[]; fields?: readonly string[] }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (props.problems.length > 0) ref.current?.focus();
  }, [props.problems]);
  if (props.problems.length === 0) return null;
  return (
    <div class="error-summary" role="alert" tabindex={-1} ref={ref} aria-labelledby="error-summary-title">
      <h2 id="error-summary-title" class="error-summary__title">
        {t('error.title')}
      </h2>
      <ul class="error-summary__list">
        {props.problems.map((p, i) =>
          p.field && props.fields?.includes(p.field) ? (
            <li key={i}>
              <a href={`#field-${p.field}`} onClick={focusField(p.field)}>
                {p.text}
              </a>
            </li>
          ) : (
            <li key={i}>{p.text}</li>
          ),
        )}
      </ul>
    </div>
  );
}

/** In-page links would change the hash route: focus the field instead. */
function focusField(field: string) {
  return (event: Event) => {
    event.preventDefault();
    document.getElementById(`field-${field}`)?.focus();
  };
}

/** A labelled form field with an optional hint and error, wired with aria-describedby. */
export function Field(props: {
  name: string;
  label: string;
  hint?: string | undefined;
  error?: string | undefined;
  children: (attributes: {
    id: string;
    name: string;
    'aria-describedby'?: string;
    'aria-invalid'?: boolean;
  }) => JSX.Element;
}) {
  const id = `field-${props.name}`;
  const described = [props.hint ? `${id}-hint` : '', props.error ? `${id}-error` : ''].filter(Boolean).join(' ');
  return (
    <div class={props.error ? 'field field--error' : 'field'}>
      <label class="label" for={id}>
        {props.label}
      </label>
      {props.hint ? (
        <p class="hint" id={`${id}-hint`}>
          {props.hint}
        </p>
      ) : null}
      {props.error ? (
        <p class="field-error" id={`${id}-error`}>
          {props.error}
        </p>
      ) : null}
      {props.children({
        id,
        name: props.name,
        ...(described ? { 'aria-describedby': described } : {}),
        ...(props.error ? { 'aria-invalid': true } : {}),
      })}
    </div>
  );
}

/** A submit button that says what it is doing while the request runs. */
export function SubmitButton(props: {
  busy: boolean;
  label: string;
  busyLabel: string;
  variant?: 'warning' | 'secondary';
}) {
  const variant = props.variant ? ` button--${props.variant}` : '';
  return (
    <button type="submit" class={`button${variant}`} disabled={props.busy} aria-disabled={props.busy}>
      {props.busy ? (
        <>
          <span class="spinner" aria-hidden="true" />
          {props.busyLabel}
        </>
      ) : (
        props.label
      )}
    </button>
  );
}

/** A polite live region: progress and outcomes read out without moving focus. */
export function Status(props: { children: ComponentChildren }) {
  return (
    <p class="status" role="status">
      {props.children}
    </p>
  );
}

/** "Loading…" while a page fetches, announced once. */
export function Loading() {
  return (
    <p class="loading" role="status">
      <span class="spinner" aria-hidden="true" />
      {t('common.loading')}
    </p>
  );
}

const sameDeps = (a: readonly unknown[], b: readonly unknown[]) =>
  a.length === b.length && a.every((value, i) => Object.is(value, b[i]));

/**
 * Loads data for a page; `reload` fetches again. What was loaded for other `deps` (another search, another user) is
 * never returned, not even for the render before the new load starts: a stale list a person could select from is
 * worse than "Loading…". A `reload` of the same `deps` keeps showing the current data until the new data arrives.
 */
export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[]) {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean; for?: readonly unknown[] }>({
    loading: true,
  });
  const [round, setRound] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, loading: false, for: deps }),
      (error: unknown) => live && setState({ error, loading: false, for: deps }),
    );
    return () => {
      live = false;
    };
  }, [...deps, round]);
  const reload = useCallback(() => setRound((r) => r + 1), []);
  const current = state.for !== undefined && sameDeps(state.for, deps);
  return current
    ? { data: state.data, error: state.error, loading: state.loading, reload }
    : { data: undefined, error: undefined, loading: true, reload };
}

/** What a page shows when its data failed to load. */
export function LoadFailed(props: { error: unknown }) {
  return <ErrorSummary problems={problemsOf(props.error)} />;
}

/** A date with its full form in a tooltip and machine-readable `datetime`. */
export function Time(props: { iso: string; relative?: boolean }) {
  return (
    <time datetime={props.iso} title={dateTime(props.iso)}>
      {props.relative ? relative(props.iso) : dateTime(props.iso)}
    </time>
  );
}

/** Within this many days of its expiry, a live token is flagged. */
export const SOON_DAYS = 7;

/** Whether an active token expires within {@link SOON_DAYS}. */
export function expiresSoon(token: Token, now = Date.now()): boolean {
  return (
    token.status === 'active' &&
    token.expires_at !== null &&
    new Date(token.expires_at).getTime() - now < SOON_DAYS * 86_400_000
  );
}

/** A token's status as a tag (with "expires soon" for a live token near its end). */
export function StatusTag(props: { token: Token }) {
  const { token } = props;
  return (
    <span class="tags">
      <span class={`tag tag--${token.status}`}>{t(`status.${token.status}`)}</span>
      {expiresSoon(token) ? <span class="tag tag--warning">{t('status.expiresSoon')}</span> : null}
    </span>
  );
}

/** "5 Jun 2027 (expires in 5 days)", "(5 days ago)" once expired, the date alone once revoked; or "Never". */
export function Expiry(props: { token: Token }) {
  const { expires_at: at, status } = props.token;
  if (at === null) return <>{t('token.neverExpires')}</>;
  const when = relative(at);
  return (
    <>
      <Time iso={at} />
      {status === 'revoked' ? null : (
        <>
          {' '}
          <span class="muted">
            ({status === 'active' ? t('token.expiresRelative', { when }) : t('token.expiredRelative', { when })})
          </span>
        </>
      )}
    </>
  );
}

/** "3 days ago by rs_…", or "Never used". */
export function LastUsed(props: { token: Token }) {
  const { last_used_at: at, last_used_client: client } = props.token;
  if (at === null) return <>{t('token.neverUsed')}</>;
  if (!client) return <Time iso={at} relative />;
  // The catalogue decides the word order; the time and the client id keep their own elements.
  const [before, after] = t('token.usedByClient', { when: '\u0000', client: '\u0001' }).split('\u0000');
  const [middle, end] = (after ?? '').split('\u0001');
  return (
    <>
      {before}
      <Time iso={at} relative />
      {middle}
      <code>{client}</code>
      {end}
    </>
  );
}

/** A button that copies text, saying "Copied" in a live region; selects the text where the clipboard is refused. */
export function CopyButton(props: { text: string; label: string; target?: string }) {
  const [said, setSaid] = useState('');
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.text);
      setSaid(t('common.copied'));
    } catch {
      const field = props.target ? (document.getElementById(props.target) as HTMLInputElement | null) : null;
      field?.select();
      setSaid(t('common.copyManually'));
    }
  };
  return (
    <span class="copy">
      <button type="button" class="button button--secondary" onClick={() => void copy()}>
        {props.label}
      </button>
      <span class="copy__status" role="status">
        {said}
      </span>
    </span>
  );
}

/** A "Back" link above a page's title. */
export function BackLink(props: { href: string; children?: string }) {
  return (
    <a class="back-link" href={props.href}>
      {props.children ?? t('common.back')}
    </a>
  );
}

/** Summary list: the facts of a record as a description list. */
export function Summary(props: { rows: readonly (readonly [string, ComponentChildren] | null)[] }) {
  return (
    <dl class="summary">
      {props.rows
        .filter((row): row is readonly [string, ComponentChildren] => row !== null)
        .map(([label, value]) => (
          <div class="summary__row" key={label}>
            <dt>{label}</dt>
            <dd>{value}</dd>
          </div>
        ))}
    </dl>
  );
}

/** A scrollable table region (focusable, so keyboard users can scroll it at 360 px). */
export function TableRegion(props: { label: string; children: ComponentChildren }) {
  return (
    <div class="table-wrap" role="region" aria-label={props.label} tabindex={0}>
      {props.children}
    </div>
  );
}

/** "Next page" and "First page" links for a cursor-paginated list. */
export function Pagination(props: { next: string | null; first: string | null; nextHref: (cursor: string) => string }) {
  if (!props.next && !props.first) return null;
  return (
    <nav class="pagination" aria-label={t('common.pagination')}>
      {props.first ? <a href={props.first}>{t('common.firstPage')}</a> : null}
      {props.next ? <a href={props.nextHref(props.next)}>{t('common.nextPage')}</a> : null}
    </nav>
  );
}

/** A form field's text value ('' when absent). */
export function textOf(form: FormData | HTMLFormElement, name: string): string {
  const value = (form instanceof FormData ? form : new FormData(form)).get(name);
  return typeof value === 'string' ? value : '';
}

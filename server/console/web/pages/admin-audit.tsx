/** Admin › Audit log: every event, newest first, filtered by user, token, type and time. */
import { api, query, type AuditEvent, type Page } from '../api.ts';
import { t } from '../i18n.ts';
import { href, navigate } from '../router.ts';
import { LoadFailed, Loading, PageTitle, Pagination, textOf, useLoad } from '../ui.tsx';
import { AuditTable, eventName } from './audit-table.tsx';

/** The audit event types (the API's stable codes). */
const TYPES = [
  'token.created',
  'token.renamed',
  'token.description_changed',
  'token.expiry_shortened',
  'token.rotated',
  'token.revoked',
  'token.rotated_value_presented',
  'token.exchanged',
  'token.resource_mismatch',
  'user.created',
  'user.disabled',
  'user.enabled',
  'user.deleted',
  'client.registered',
  'client.updated',
  'client.deleted',
];

/** The filters as the route carries them. */
export interface AuditFilters {
  readonly user_id: string;
  readonly token_id: string;
  readonly type: string;
  readonly from: string;
  readonly to: string;
  readonly cursor: string | null;
}

/** Reads the filters from the route's query. */
export function auditFiltersOf(params: URLSearchParams): AuditFilters {
  return {
    user_id: params.get('user_id') ?? '',
    token_id: params.get('token_id') ?? '',
    type: params.get('type') ?? '',
    from: params.get('from') ?? '',
    to: params.get('to') ?? '',
    cursor: params.get('cursor'),
  };
}

/** `YYYY-MM-DD` → the start (or end) of that day in the person's time zone, as RFC 3339. */
function dayBound(value: string, end: boolean): string | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!match) return undefined;
  const at = new Date(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
  if (end) at.setDate(at.getDate() + 1);
  return at.toISOString();
}

/** The audit log page. */
export function AuditPage(props: { filters: AuditFilters }) {
  const { filters } = props;
  const events = useLoad(
    () =>
      api<Page<AuditEvent>>(
        'GET',
        `/api/audit${query({
          user_id: filters.user_id,
          token_id: filters.token_id,
          type: filters.type,
          from: dayBound(filters.from, false),
          to: dayBound(filters.to, true),
          cursor: filters.cursor,
          limit: 50,
        })}`,
      ),
    [filters.user_id, filters.token_id, filters.type, filters.from, filters.to, filters.cursor],
  );
  const submit = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const value = (name: string) => textOf(form, name).trim();
    navigate(
      href('admin/audit', {
        user_id: value('user_id'),
        token_id: value('token_id'),
        type: value('type'),
        from: value('from'),
        to: value('to'),
      }),
    );
  };
  const kept = { ...filters, cursor: undefined };
  return (
    <>
      <PageTitle>{t('audit.title')}</PageTitle>
      <form class="form form--filters" noValidate onSubmit={submit} key={JSON.stringify(kept)}>
        <div class="filters-grid">
          <div class="field">
            <label class="label" for="audit-user">
              {t('audit.user')}
            </label>
            <input
              id="audit-user"
              name="user_id"
              class="input"
              defaultValue={filters.user_id}
              spellcheck={false}
              autocomplete="off"
            />
          </div>
          <div class="field">
            <label class="label" for="audit-token">
              {t('audit.token')}
            </label>
            <input
              id="audit-token"
              name="token_id"
              class="input"
              defaultValue={filters.token_id}
              spellcheck={false}
              autocomplete="off"
            />
          </div>
          <div class="field">
            <label class="label" for="audit-type">
              {t('audit.event')}
            </label>
            <select id="audit-type" name="type" class="select" defaultValue={filters.type}>
              <option value="">{t('audit.anyType')}</option>
              {TYPES.map((type) => (
                <option key={type} value={type}>
                  {eventName(type)}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label class="label" for="audit-from">
              {t('audit.from')}
            </label>
            <input id="audit-from" name="from" type="date" class="input input--date" defaultValue={filters.from} />
          </div>
          <div class="field">
            <label class="label" for="audit-to">
              {t('audit.to')}
            </label>
            <input id="audit-to" name="to" type="date" class="input input--date" defaultValue={filters.to} />
          </div>
        </div>
        <div class="actions">
          <button type="submit" class="button button--secondary">
            {t('audit.filter')}
          </button>
          <a href={href('admin/audit')}>{t('audit.clear')}</a>
        </div>
      </form>
      {events.loading ? <Loading /> : null}
      {events.error ? <LoadFailed error={events.error} /> : null}
      {events.data ? <AuditTable events={events.data.data} label={t('audit.title')} admin /> : null}
      {events.data ? (
        <Pagination
          next={events.data.next_cursor}
          first={filters.cursor ? href('admin/audit', kept) : null}
          nextHref={(cursor) => href('admin/audit', { ...kept, cursor })}
        />
      ) : null}
    </>
  );
}

/** Audit events as a table: when, what, who and through which door, on which user and token, and the details. */
import type { AuditEvent } from '../api.ts';
import { has, t } from '../i18n.ts';
import { href } from '../router.ts';
import { TableRegion, Time } from '../ui.tsx';

/** The event type's name in the person's language (the stable code when the catalogue has none). */
export function eventName(type: string): string {
  return has(`audit.type.${type}`) ? t(`audit.type.${type}`) : type;
}

function Details(props: { details: AuditEvent['details'] }) {
  const entries = Object.entries(props.details);
  if (entries.length === 0) return null;
  return (
    <ul class="details">
      {entries.map(([key, value]) => (
        <li key={key}>
          <span class="muted">{key}</span> {String(value)}
        </li>
      ))}
    </ul>
  );
}

/** The table; `compact` leaves out the user and token columns (a token's own history). */
export function AuditTable(props: {
  events: readonly AuditEvent[];
  label: string;
  compact?: boolean;
  admin?: boolean;
}) {
  if (props.events.length === 0) return <p class="empty">{t('audit.empty')}</p>;
  return (
    <TableRegion label={props.label}>
      <table class="table">
        <thead>
          <tr>
            <th scope="col">{t('audit.when')}</th>
            <th scope="col">{t('audit.event')}</th>
            <th scope="col">{t('audit.actor')}</th>
            {props.compact ? null : <th scope="col">{t('audit.user')}</th>}
            {props.compact ? null : <th scope="col">{t('audit.token')}</th>}
            <th scope="col">{t('audit.details')}</th>
          </tr>
        </thead>
        <tbody>
          {props.events.map((event) => (
            <tr key={event.id}>
              <td>
                <Time iso={event.at} />
              </td>
              <td>{eventName(event.type)}</td>
              <td>
                <code>{event.actor}</code>
                <br />
                <span class="muted">{has(`audit.via.${event.via}`) ? t(`audit.via.${event.via}`) : event.via}</span>
              </td>
              {props.compact ? null : (
                <td>
                  {event.user_id ? (
                    props.admin ? (
                      <a href={href('admin/users', event.user_id)}>{event.user_id}</a>
                    ) : (
                      <code>{event.user_id}</code>
                    )
                  ) : null}
                </td>
              )}
              {props.compact ? null : (
                <td>
                  {event.token_id && event.user_id && props.admin ? (
                    <a href={href(`admin/users/${event.user_id}/tokens`, event.token_id)}>{event.token_id}</a>
                  ) : event.token_id ? (
                    <code>{event.token_id}</code>
                  ) : null}
                </td>
              )}
              <td>
                <Details details={event.details} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableRegion>
  );
}

/**
 * Admin › Resource servers: the registered clients that call `/introspect` and `/revoke`; registering one (its
 * secret shown once), deleting one.
 */
import { useState } from 'preact/hooks';

import { api, type Client } from '../api.ts';
import { useAccount } from '../context.ts';
import { flash } from '../flash.ts';
import { t } from '../i18n.ts';
import { href, navigate } from '../router.ts';
import {
  BackLink,
  CopyButton,
  ErrorSummary,
  Field,
  LoadFailed,
  Loading,
  PageTitle,
  SubmitButton,
  Summary,
  TableRegion,
  Time,
  problemsOf,
  textOf,
  useLoad,
  type Problem,
} from '../ui.tsx';

const METHODS = ['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt'] as const;

/** The list of registered clients. */
export function ClientsPage() {
  const clients = useLoad(() => api<{ data: Client[] }>('GET', '/api/clients'), []);
  return (
    <>
      <PageTitle>{t('clients.title')}</PageTitle>
      <p class="lead">{t('clients.intro')}</p>
      <p>
        <a class="button" href={href('admin/clients', 'new')}>
          {t('clients.register')}
        </a>
      </p>
      {clients.loading ? <Loading /> : null}
      {clients.error ? <LoadFailed error={clients.error} /> : null}
      {clients.data && clients.data.data.length === 0 ? <p class="empty">{t('clients.none')}</p> : null}
      {clients.data && clients.data.data.length > 0 ? (
        <TableRegion label={t('clients.title')}>
          <table class="table">
            <thead>
              <tr>
                <th scope="col">{t('client.name')}</th>
                <th scope="col">{t('client.id')}</th>
                <th scope="col">{t('client.method')}</th>
                <th scope="col">{t('client.created')}</th>
                <th scope="col">
                  <span class="visually-hidden">{t('client.actions')}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {clients.data.data.map((client) => (
                <tr key={client.client_id}>
                  <td>{client.client_name ?? <span class="muted">{t('client.unnamed')}</span>}</td>
                  <td>
                    <code>{client.client_id}</code>
                  </td>
                  <td>{t(`client.method.${client.token_endpoint_auth_method}`)}</td>
                  <td>
                    <Time iso={client.created_at} relative />
                  </td>
                  <td>
                    <a class="link--warning" href={href('admin/clients', client.client_id, 'delete')}>
                      {t('client.delete')}
                      <span class="visually-hidden"> {client.client_name ?? client.client_id}</span>
                    </a>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableRegion>
      ) : null}
    </>
  );
}

/** Registering a client. */
export function RegisterClientPage() {
  const { showSecret } = useAccount();
  const [method, setMethod] = useState<string>('client_secret_basic');
  const [problems, setProblems] = useState<Problem[]>([]);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const body: Record<string, unknown> = { token_endpoint_auth_method: method };
    const name = textOf(form, 'client_name').trim();
    if (name) body.client_name = name;
    if (method === 'private_key_jwt') {
      try {
        body.jwks = JSON.parse(textOf(form, 'jwks'));
      } catch {
        setProblems([{ text: t('clients.error.jwks'), field: 'jwks' }]);
        return;
      }
    }
    setBusy(true);
    setProblems([]);
    try {
      const client = await api<Client>('POST', '/api/clients', body);
      if (client.client_secret) showSecret({ kind: 'client', client, done: href('admin/clients') });
      else {
        flash(t('clients.registered', { id: client.client_id }));
        navigate(href('admin/clients'));
      }
    } catch (error) {
      setProblems(problemsOf(error));
      setBusy(false);
    }
  };
  const fieldError = (name: string) => problems.find((p) => p.field === name)?.text;
  return (
    <>
      <BackLink href={href('admin/clients')} />
      <PageTitle>{t('clients.register')}</PageTitle>
      <ErrorSummary problems={problems} fields={['client_name', 'token_endpoint_auth_method', 'jwks']} />
      <form class="form" noValidate onSubmit={(e) => void submit(e)}>
        <Field
          name="client_name"
          label={t('client.name')}
          hint={t('client.nameHint')}
          error={fieldError('client_name')}
        >
          {(a) => <input {...a} class="input" maxLength={100} autocomplete="off" />}
        </Field>
        <fieldset class="fieldset" id="field-token_endpoint_auth_method" tabindex={-1}>
          <legend class="legend">{t('client.method')}</legend>
          {METHODS.map((m) => (
            <div class="choice" key={m}>
              <input
                type="radio"
                name="method"
                id={`method-${m}`}
                value={m}
                checked={method === m}
                onChange={() => setMethod(m)}
                aria-describedby={`method-${m}-hint`}
              />
              <label for={`method-${m}`}>{t(`client.method.${m}`)}</label>
              <p class="hint choice__hint" id={`method-${m}-hint`}>
                {t(`client.methodHint.${m}`)}
              </p>
            </div>
          ))}
        </fieldset>
        {method === 'private_key_jwt' ? (
          <Field name="jwks" label={t('client.jwks')} hint={t('client.jwksHint')} error={fieldError('jwks')}>
            {(a) => <textarea {...a} class="textarea textarea--code" rows={6} spellcheck={false} />}
          </Field>
        ) : null}
        <div class="actions">
          <SubmitButton busy={busy} label={t('clients.registerSubmit')} busyLabel={t('common.saving')} />
          <a href={href('admin/clients')}>{t('common.cancel')}</a>
        </div>
      </form>
    </>
  );
}

/** A new client's secret, shown once. */
export function ClientSecretPage(props: { client: Client; onDone: () => void }) {
  const { client } = props;
  const secret = client.client_secret ?? '';
  return (
    <>
      <PageTitle>{t('clients.secretTitle')}</PageTitle>
      <div class="warning-text" role="note">
        <span class="warning-text__icon" aria-hidden="true">
          !
        </span>
        <strong>{t('clients.secretWarning')}</strong>
      </div>
      <Summary
        rows={[
          [t('client.id'), <code>{client.client_id}</code>],
          [t('client.method'), t(`client.method.${client.token_endpoint_auth_method}`)],
        ]}
      />
      <div class="field">
        <label class="label" for="client-secret">
          {t('client.secret')}
        </label>
        <input
          id="client-secret"
          class="input input--code"
          readOnly
          value={secret}
          spellcheck={false}
          autocomplete="off"
        />
      </div>
      <p>
        <CopyButton text={secret} target="client-secret" label={t('clients.copySecret')} />
      </p>
      <h2 class="heading-m">{t('secret.usageTitle')}</h2>
      <p>{t('clients.usage')}</p>
      <pre class="code" tabindex={0} aria-label={t('secret.usageTitle')}>
        <code>{`curl -u '${client.client_id}:${secret}' \\\n  -d "token=$PAT" ${location.origin}/introspect`}</code>
      </pre>
      <div class="actions">
        <button type="button" class="button" onClick={props.onDone}>
          {t('secret.done')}
        </button>
      </div>
    </>
  );
}

/** Deleting a client, after saying what that does. */
export function DeleteClientPage(props: { id: string }) {
  const clients = useLoad(() => api<{ data: Client[] }>('GET', '/api/clients'), []);
  const [problems, setProblems] = useState<Problem[]>([]);
  const [busy, setBusy] = useState(false);
  if (clients.loading) return <Loading />;
  if (clients.error || !clients.data) return <LoadFailed error={clients.error} />;
  const client = clients.data.data.find((c) => c.client_id === props.id);
  const label = client?.client_name ?? props.id;
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setProblems([]);
    try {
      await api('DELETE', `/api/clients/${encodeURIComponent(props.id)}`);
      flash(t('clients.deleted', { name: label }));
      navigate(href('admin/clients'));
    } catch (error) {
      setProblems(problemsOf(error));
      setBusy(false);
    }
  };
  return (
    <>
      <BackLink href={href('admin/clients')} />
      <PageTitle caption={label}>{t('clients.deleteTitle')}</PageTitle>
      <ErrorSummary problems={problems} />
      <div class="warning-text" role="note">
        <span class="warning-text__icon" aria-hidden="true">
          !
        </span>
        <strong>{t('clients.deleteWarning')}</strong>
      </div>
      <ul class="consequences">
        <li>{t('clients.deleteConsequence1', { name: label })}</li>
        <li>{t('clients.deleteConsequence2')}</li>
      </ul>
      <form class="form" onSubmit={(e) => void submit(e)}>
        <div class="actions">
          <SubmitButton
            busy={busy}
            label={t('clients.deleteSubmit')}
            busyLabel={t('common.working')}
            variant="warning"
          />
          <a href={href('admin/clients')}>{t('common.cancel')}</a>
        </div>
      </form>
    </>
  );
}

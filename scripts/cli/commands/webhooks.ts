/**
 * `tokenwarden webhooks …`: lifecycle webhook endpoints (`/api/webhooks`, Standard Webhooks): register one (its
 * signing secret printed once), list, show, enable or disable, send a test event, and read recent deliveries.
 */
import { segment } from '../client.ts';
import { collect, type Register } from '../context.ts';
import { usageError } from '../errors.ts';
import { fields, table } from '../output.ts';
import { fetchPages, pageOptions, printPage, type PageOptions } from '../pages.ts';

/** An endpoint as the API shows one. */
interface Webhook {
  readonly id: string;
  readonly url: string;
  readonly events: readonly string[] | null;
  readonly description: string | null;
  readonly enabled: boolean;
  readonly disabled_reason: string | null;
  readonly created_at: string;
  /** Only in the answer to its registration (`whsec_…`). */
  readonly secret?: string;
}

/** A delivery as the API shows one. */
interface Delivery {
  readonly event_id: string;
  readonly event_type: string;
  readonly status: string;
  readonly attempts: number;
  readonly created_at: string;
  readonly last_status: number | null;
  readonly last_error: string | null;
}

const shown = (w: Webhook) => ({ ...w, events: w.events === null ? 'all' : w.events.join(' ') });

/** Registers `webhooks`. */
export const registerWebhooks: Register = (program, cli) => {
  const webhooks = program
    .command('webhooks')
    .description('register, list, enable, disable and test lifecycle webhook endpoints, and read their deliveries');

  webhooks
    .command('create')
    .description('register an endpoint; its signing secret (whsec_…) is printed once')
    .argument('<url>', 'where events are POSTed (https; private addresses are refused unless allowed)')
    .option('--event <type>', 'an event type to receive, e.g. token.revoked (repeatable; default every type)', collect)
    .option('--description <text>', 'what it is for')
    .action(async (url: string, options: { event?: string[]; description?: string }) => {
      const body = { url, events: options.event, description: options.description };
      const created = await (await cli.api()).call<Webhook>('POST', '/api/webhooks', { body });
      const { secret, ...endpoint } = created;
      if (secret === undefined) cli.out.data(created, () => fields(shown(endpoint)));
      else cli.out.once(created, `Registered webhook ${created.id} for ${created.url}.`, secret, 'signing secret');
    });

  webhooks
    .command('list')
    .description('list the endpoints (never a secret)')
    .action(async () => {
      const answer = await (await cli.api()).call<{ data: Webhook[] }>('GET', '/api/webhooks');
      cli.out.data(answer, () =>
        table(answer.data, [
          { header: 'id', value: (w) => w.id },
          { header: 'url', value: (w) => w.url },
          { header: 'events', value: (w) => shown(w).events },
          {
            header: 'enabled',
            value: (w) => (w.enabled ? 'yes' : `no${w.disabled_reason ? ` (${w.disabled_reason})` : ''}`),
          },
          { header: 'created', value: (w) => w.created_at },
        ]),
      );
    });

  webhooks
    .command('show')
    .description('show one endpoint')
    .argument('<id>', 'webhook id')
    .action(async (id: string) => {
      const webhook = await (await cli.api()).call<Webhook>('GET', `/api/webhooks/${segment(id)}`);
      cli.out.data(webhook, () => fields(shown(webhook)));
    });

  for (const [name, enabled] of [
    ['enable', true],
    ['disable', false],
  ] as const) {
    webhooks
      .command(name)
      .description(enabled ? 'deliver to the endpoint again' : 'stop delivering to the endpoint (events are kept)')
      .argument('<id>', 'webhook id')
      .action(async (id: string) => {
        const body = { enabled };
        const webhook = await (await cli.api()).call<Webhook>('PATCH', `/api/webhooks/${segment(id)}`, { body });
        cli.out.data(webhook, () => `${enabled ? 'Enabled' : 'Disabled'} webhook ${webhook.id}.`);
      });
  }

  webhooks
    .command('test')
    .description('send a test event (webhook.test) to the endpoint; see it with `webhooks deliveries`')
    .argument('<id>', 'webhook id')
    .action(async (id: string) => {
      const answer = await (await cli.api()).call<{ event_id: string }>('POST', `/api/webhooks/${segment(id)}/test`);
      cli.out.data(answer, () => `Queued test event ${answer.event_id} for webhook ${id}.`);
    });

  pageOptions(
    webhooks
      .command('deliveries')
      .description('recent deliveries to the endpoint, newest first, with their status')
      .argument('<id>', 'webhook id'),
  ).action(async (id: string, options: PageOptions) => {
    if (id.trim() === '') throw usageError('a webhook id is required');
    const path = `/api/webhooks/${segment(id)}/deliveries`;
    const page = await fetchPages<Delivery>(await cli.api(), path, {}, options);
    printPage(cli.out, page, (rows) =>
      table(rows, [
        { header: 'event id', value: (d) => d.event_id },
        { header: 'type', value: (d) => d.event_type },
        { header: 'status', value: (d) => d.status },
        { header: 'attempts', value: (d) => String(d.attempts) },
        { header: 'last status', value: (d) => d.last_status },
        { header: 'created', value: (d) => d.created_at },
        { header: 'last error', value: (d) => d.last_error },
      ]),
    );
  });
};

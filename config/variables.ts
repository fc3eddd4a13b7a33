/**
 * Every environment variable Tokenwarden reads: its schema (zod validates the raw string), its default and what it
 * means, in one place. `config/index.ts` builds the {@link Config} from these; the configuration table of
 * docs/reference.md is generated from them (`npm run docs:config`, and a test fails when that copy differs), so the
 * two cannot drift apart.
 */
import ipaddr from 'ipaddr.js';
import { z } from 'zod';

/** One variable: how it is read, its default (as documented), what it means, and its section of the table. */
export interface Variable {
  readonly schema: z.ZodType;
  readonly default: string;
  readonly meaning: string;
  readonly section: string;
}

const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const printable = (max: number) =>
  z.string().regex(new RegExp(`^[\\x21-\\x7e]{1,${max}}$`), `must be 1-${max} printable ASCII characters`);

const SERVER = 'Server';
const STORAGE = 'Storage and cache';
const SECRETS = 'Clients, keys and secrets';
const POLICY = 'Token policy';
const IDENTITY = 'Trusted issuers and the console';
const EVENTS = 'Lifecycle events: webhooks and SSF';
const NOTICES = 'Expiry notices and cleanup';
const LIMITS = 'Limits and operations';

const v = <S extends z.ZodType>(section: string, schema: S, defaultText: string, meaning: string) => ({
  schema,
  default: defaultText,
  meaning,
  section,
});

/** The variables, in the order of the reference's table (docs/reference.md). */
export const VARIABLES = {
  NODE_ENV: v(
    SERVER,
    z.enum(['development', 'test', 'production']).optional(),
    '`production` with `MONGODB_URI`, else `development`',
    '`production` refuses the in-memory store, the development sign-in and seed, and a missing `ADMIN_CLIENT_SECRET`',
  ),
  HOST: v(SERVER, z.string().min(1).optional(), '`0.0.0.0`; `127.0.0.1` with `DEV_SEED`', 'listen address'),
  PORT: v(SERVER, integer(0, 65535).default(3000), '`3000`', 'listen port'),
  ISSUER: v(
    SERVER,
    z.url({ protocol: /^https?$/ }).optional(),
    '`http://localhost:<PORT>`',
    'public base URL: the `iss` of every answer and every URL in discovery; set it to your `https://` URL',
  ),
  TRUST_PROXY: v(
    SERVER,
    z
      .union([z.enum(['true', 'false']), z.string().regex(/^\d+$/, 'must be true, false or a number of proxy hops')])
      .transform((raw) => (raw === 'true' ? 1 : raw === 'false' ? 0 : Number(raw)))
      .pipe(z.number().int().min(0, 'must be at least 0').max(10, 'must be at most 10 proxy hops'))
      .default(0),
    '`false`',
    'proxies in front that append to `X-Forwarded-For`: `false` (0), `true` (1) or a number; the client address is that many entries from the right',
  ),
  INTROSPECTION_FAST_PATH: v(
    SERVER,
    bool.default(true),
    '`true`',
    'answer PAT introspections with client secrets ahead of oidc-provider (same answers); `false`: all through it',
  ),
  DEV_SEED: v(
    SERVER,
    bool.default(false),
    '`false` (`true` with `npm start -- --seed`)',
    'fixed development credentials (admin secret, a demo resource server and user) that survive restarts; embedded store only, refused in production',
  ),
  MONGODB_URI: v(
    STORAGE,
    z
      .string()
      .regex(/^mongodb(\+srv)?:\/\/.+/, 'must be a mongodb:// or mongodb+srv:// URI')
      .optional(),
    'unset: the embedded in-memory store',
    'MongoDB connection string (`mongodb://…/tokenwarden`); a replica set in production',
  ),
  MONGODB_TIMEOUT_MS: v(
    STORAGE,
    integer(100, 120_000).default(2000),
    '`2000`',
    'how long an operation waits for an unreachable MongoDB before the answer is 503',
  ),
  REDIS_URL: v(
    STORAGE,
    z
      .string()
      .regex(/^rediss?:\/\/.+/, 'must be a redis:// or rediss:// URL')
      .optional(),
    'unset: no shared cache',
    'one Redis server for the shared PAT cache and invalidation (`redis://host:6379`)',
  ),
  REDIS_CLUSTER_NODES: v(
    STORAGE,
    z.string().optional(),
    'unset',
    'a Redis Cluster instead: any of its nodes, `host:port,host:port`',
  ),
  REDIS_SENTINELS: v(
    STORAGE,
    z.string().optional(),
    'unset',
    'a master behind Redis Sentinel instead: the Sentinels, `host:port,host:port`',
  ),
  REDIS_SENTINEL_MASTER: v(
    STORAGE,
    printable(128).optional(),
    'unset (required with `REDIS_SENTINELS`)',
    'the master’s name (`sentinel monitor <name> …`)',
  ),
  REDIS_USERNAME: v(
    STORAGE,
    z.string().optional(),
    'unset: the `default` user',
    'user of the cluster nodes or Sentinel-managed servers (with `REDIS_URL`: in the URL)',
  ),
  REDIS_PASSWORD: v(STORAGE, z.string().optional(), 'unset: none', 'their password (with `REDIS_URL`: in the URL)'),
  REDIS_SENTINEL_PASSWORD: v(STORAGE, z.string().optional(), 'unset: none', 'the Sentinels’ own password'),
  REDIS_COMMAND_TIMEOUT_MS: v(
    STORAGE,
    integer(10, 60_000).default(250),
    '`250`',
    'a slower Redis command counts as a miss (answered from MongoDB)',
  ),
  CACHE_TTL_SECONDS: v(
    STORAGE,
    integer(1, 86_400).default(300),
    '`300`',
    'longest a PAT answer stays in Redis (never past the PAT’s expiry)',
  ),
  LOCAL_CACHE_TTL_SECONDS: v(
    STORAGE,
    integer(0, 3600).default(10),
    '`10`',
    'the in-process cache in front of Redis (invalidated on every instance through pub/sub; with Redis only); `0`: off',
  ),
  LOCAL_CACHE_MAX: v(STORAGE, integer(1, 10_000_000).default(100_000), '`100000`', 'entries in the in-process cache'),
  NEGATIVE_CACHE_TTL_SECONDS: v(
    STORAGE,
    integer(1, 86_400).default(60),
    '`60`',
    'how long an unknown well-formed PAT value is remembered as unknown',
  ),
  CLIENT_CACHE_TTL_SECONDS: v(
    STORAGE,
    integer(0, 3600).default(30),
    '`30`',
    'how long an instance keeps a registered client in memory; `0`: off',
  ),
  SECRET_KEY: v(
    SECRETS,
    z.string().optional(),
    'random per start (embedded store only)',
    'comma-separated, 32+ characters each, the first current; required with MongoDB or Redis: authenticates cache entries, seals the stored signing keys',
  ),
  JWKS: v(
    SECRETS,
    z.string().optional(),
    'on MongoDB: generated once, kept sealed in the database; embedded: ephemeral',
    '`{"keys":[…]}`: private signing keys (signed introspection answers, `/jwks`)',
  ),
  COOKIE_KEYS: v(
    SECRETS,
    z.string().optional(),
    'derived from `SECRET_KEY`',
    'comma-separated, 32+ characters each: oidc-provider’s cookie keys',
  ),
  ADMIN_CLIENT_ID: v(SECRETS, printable(128).default('tokenwarden-admin'), '`tokenwarden-admin`', 'the admin client'),
  ADMIN_CLIENT_SECRET: v(
    SECRETS,
    z.string().min(32, 'must be at least 32 characters').optional(),
    'random per start',
    'its secret, 32+ characters; required in production',
  ),
  PAT_CLIENT_ID: v(
    SECRETS,
    printable(128).default('personal-access-token'),
    '`personal-access-token`',
    'the `client_id` introspection reports for PATs',
  ),
  ACCESS_TOKEN_TTL_SECONDS: v(
    SECRETS,
    integer(60, 86_400).default(3600),
    '`3600`',
    'lifetime of OAuth access tokens from `/token`',
  ),
  TOKEN_EXCHANGE_TTL_SECONDS: v(
    SECRETS,
    integer(30, 86_400).default(600),
    '`600`',
    'lifetime of the JWT access tokens token exchange issues for a PAT (never past the PAT’s expiry)',
  ),
  TOKEN_PREFIX: v(
    POLICY,
    z
      .string()
      .regex(/^[a-z][a-z0-9]{1,15}$/, 'must be 2-16 lowercase letters or digits, starting with a letter')
      .default('pat'),
    '`pat`',
    'PAT prefix (`<prefix>_…`), 2-16 lowercase letters or digits',
  ),
  SCOPES: v(
    POLICY,
    z.string().optional(),
    '`read`, `write`, `tokens:manage`',
    'the scope catalogue, JSON `{"name": "description"}` of RFC 6749 scope tokens',
  ),
  TOKEN_MAX_LIFETIME_DAYS: v(
    POLICY,
    integer(0, 36_500).default(365),
    '`365`',
    'longest lifetime of a PAT; `0`: no limit, and tokens that never expire are allowed',
  ),
  TOKEN_DEFAULT_LIFETIME_DAYS: v(
    POLICY,
    integer(0, 36_500).default(30),
    '`30`',
    'lifetime of a PAT created without `expires_at`; `0`: none (only with a maximum of `0`)',
  ),
  MAX_TOKENS_PER_USER: v(POLICY, integer(1, 10_000).default(100), '`100`', 'live (unrevoked, unexpired) PATs per user'),
  LAST_USED_INTERVAL_SECONDS: v(
    POLICY,
    integer(1, 86_400).default(60),
    '`60`',
    'at most one `last_used_at` write per token per interval',
  ),
  TRUSTED_ISSUERS: v(
    IDENTITY,
    z.string().optional(),
    '`[]`',
    'identity providers whose JWT access tokens may call `/api/me` and the admin routes: JSON, see below',
  ),
  CONSOLE_ISSUER: v(
    IDENTITY,
    z.url({ protocol: /^https?$/ }).optional(),
    'unset',
    'the identity provider the web console signs people in with (also in `TRUSTED_ISSUERS`)',
  ),
  CONSOLE_CLIENT_ID: v(
    IDENTITY,
    printable(255).optional(),
    'unset (required with `CONSOLE_ISSUER`)',
    'the console’s public client id there',
  ),
  CONSOLE_SCOPES: v(
    IDENTITY,
    z
      .string()
      .regex(/^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/, 'must be space-separated scope tokens')
      .default('openid'),
    '`openid`',
    'scopes the console asks for',
  ),
  CONSOLE_RESOURCE: v(
    IDENTITY,
    z
      .url({ message: 'must be an absolute URI' })
      .refine((u) => !u.includes('#'), 'must not contain a fragment (RFC 8707)')
      .optional(),
    'unset',
    'RFC 8707 resource the console asks an access token for',
  ),
  CONSOLE_DEV_SIGNIN: v(
    IDENTITY,
    bool.optional(),
    '`true` on the embedded store, else `false`',
    'the development sign-in through the embedded provider; refused in production',
  ),
  EVENTS_DISPATCH: v(
    EVENTS,
    bool.default(true),
    '`true`',
    'this instance relays, fans out and delivers lifecycle events; `false`: it only records them (other instances deliver)',
  ),
  EVENTS_DELIVERY_TIMEOUT_MS: v(
    EVENTS,
    integer(1000, 120_000).default(15_000),
    '`15000`',
    'one webhook or SSF push attempt, from connecting to the answer’s status',
  ),
  EVENTS_MAX_RESPONSE_BYTES: v(
    EVENTS,
    integer(0, 10_485_760).default(65_536),
    '`65536`',
    'the most of a receiver’s answer that is read',
  ),
  EVENTS_RETRY_HOURS: v(
    EVENTS,
    integer(1, 168).default(24),
    '`24`',
    'failed pushes are tried again with exponential back-off for this long, then given up (recorded); unacknowledged polled events too',
  ),
  EVENTS_ALLOWED_NETWORKS: v(
    EVENTS,
    z
      .string()
      .refine(
        (raw) =>
          raw
            .split(',')
            .map((e) => e.trim())
            .filter((e) => e !== '')
            .every((e) => ipaddr.isValidCIDR(e) || ipaddr.isValid(e)),
        'must be comma-separated CIDRs (10.0.0.0/8, ::1/128) or addresses',
      )
      .optional(),
    'unset or empty: public addresses only',
    'private, loopback or link-local networks webhook and SSF push targets may resolve to (and only these may use plain `http:`), e.g. `127.0.0.0/8`',
  ),
  EVENTS_RETENTION_DAYS: v(
    EVENTS,
    integer(1, 3650).default(45),
    '`45`',
    'events and finished deliveries are kept this long (an idempotency key de-duplicates for as long); SSF verification events only `EVENTS_RETRY_HOURS`',
  ),
  EVENTS_SWEEP_SECONDS: v(
    EVENTS,
    integer(1, 3600).default(30),
    '`30`',
    'how often an instance relays events a crash left behind, and purges old ones (also at start-up)',
  ),
  SSF_MAX_STREAMS_PER_CLIENT: v(
    EVENTS,
    integer(1, 10_000).default(100),
    '`100`',
    'most SSF streams one registered client may have (each instance of a resource server may keep its own stream); every event is fanned out to each',
  ),
  SSF_STREAM_INACTIVITY_DAYS: v(
    EVENTS,
    integer(0, 3650).default(30),
    '`30`',
    'an SSF stream whose receiver made no call on it (poll, verification, configuration, status) and accepted no push for this long is deleted (SSF `inactivity_timeout`); `0`: never',
  ),
  SSF_POLL_MAX_WAIT_SECONDS: v(
    EVENTS,
    integer(0, 300).default(20),
    '`20`',
    'longest an SSF poll (RFC 8936, `returnImmediately: false`) waits for an event',
  ),
  EXPIRY_NOTICE_DAYS: v(
    NOTICES,
    z
      .string()
      .regex(/^(off|\d{1,4}(,\d{1,4})*)$/, 'must be `off` or comma-separated whole numbers of days, e.g. 30,7,1')
      .transform((raw) => (raw === 'off' ? [] : [...new Set(raw.split(',').map(Number))].sort((a, b) => b - a)))
      .pipe(z.array(z.number().int().min(1, 'days must be at least 1').max(3650, 'days must be at most 3650')))
      .default([30, 7, 1]),
    '`30,7,1`',
    'days before its expiry at which a token’s `token.expiring` notice goes out, once each, then `token.expired` once; `off`: neither',
  ),
  INACTIVE_TOKEN_DAYS: v(
    NOTICES,
    integer(1, 3650).optional(),
    'unset: off',
    'revoke active tokens unused for this many days (never used: since created), audit reason `inactive`; dry run: `GET /api/tokens/inactive`',
  ),
  JOBS_INTERVAL_SECONDS: v(
    NOTICES,
    integer(0, 86_400).default(3600),
    '`3600`',
    'how often this instance runs the notices and the inactive-token sweep (every instance may; each notice goes out once); `0`: never',
  ),
  SMTP_URL: v(
    NOTICES,
    z
      .string()
      .regex(/^smtps?:\/\/[^\s]+$/, 'must be an smtp:// or smtps:// URL')
      .optional(),
    'unset: no email',
    'email the notices to users who have an address: `smtp://user:password@host:587` (STARTTLS when offered) or `smtps://…:465`',
  ),
  NOTICE_EMAIL_FROM: v(
    NOTICES,
    z
      .string()
      .max(320)
      .regex(/^([^<>\r\n]*<[^\s@<>]+@[^\s@<>]+>|[^\s@<>]+@[^\s@<>]+)$/, 'must be an address, or `Name <address>`')
      .optional(),
    'unset (required with `SMTP_URL`)',
    'the notices’ sender, `tokens@example.com` or `Tokenwarden <tokens@example.com>`',
  ),
  AUTH_FAILURES_PER_CLIENT: v(
    LIMITS,
    integer(1, 1_000_000).default(20),
    '`20`',
    'failed client authentications a minute for one client id from one address before its back-off (1 s, doubling, at most 15 min)',
  ),
  AUTH_FAILURES_PER_ADDRESS: v(
    LIMITS,
    integer(1, 1_000_000).default(100),
    '`100`',
    'failed client authentications a minute from one address',
  ),
  CREDENTIAL_REVOCATIONS_PER_ADDRESS: v(
    LIMITS,
    integer(1, 1_000_000).default(2000),
    '`2000`',
    'values a minute reported to `POST /api/credentials/revoke` from one address',
  ),
  LOG_LEVEL: v(
    LIMITS,
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    '`info`',
    '`fatal` `error` `warn` `info` `debug` `trace` `silent`',
  ),
  SHUTDOWN_TIMEOUT_MS: v(
    LIMITS,
    integer(0, 300_000).default(10_000),
    '`10000`',
    'SIGTERM waits this long for requests in flight',
  ),
  RETRY_AFTER_SECONDS: v(LIMITS, integer(1, 3600).default(5), '`5`', '`Retry-After` on 503'),
  HEAP_GROWTH_PERCENT: v(
    LIMITS,
    integer(0, 1000).default(50),
    '`50`',
    'V8 collects when the old generation is this much over its live data; `0`: V8’s own policy',
  ),
} satisfies Record<string, Variable>;

/** The variables' values after validation, typed by their schemas. */
export type Parsed = { [K in keyof typeof VARIABLES]: z.output<(typeof VARIABLES)[K]['schema']> };

/** The configuration table of docs/reference.md, in Markdown (`npm run docs:config` writes it there). */
export function configurationTable(): string {
  const rows = ['| Variable | Default | Meaning |', '| --- | --- | --- |'];
  let section = '';
  for (const [name, variable] of Object.entries(VARIABLES) as Array<[string, Variable]>) {
    if (variable.section !== section) {
      section = variable.section;
      rows.push(`| **${section}** | | |`);
    }
    rows.push(`| \`${name}\` | ${variable.default} | ${variable.meaning} |`);
  }
  return rows.join('\n');
}

/**
 * Every environment variable Tokenwarden reads: its schema (zod validates the raw string), its default and what it
 * means, in one place. `config/index.ts` builds the {@link Config} from these; the configuration table of
 * docs/reference.md is generated from them (`npm run docs:config`, and a test fails when that copy differs), so the
 * two cannot drift apart.
 */
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

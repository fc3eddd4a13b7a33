/**
 * Tokenwarden configuration: the only module that reads environment variables.
 *
 * `loadConfig(env)` builds one typed, validated, frozen {@link Config} at start-up. A bad value throws a
 * {@link ConfigError} whose message names the variable, so the process stops before it listens.
 * Every setting's default is documented next to its definition below and in the README's table.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { z } from 'zod';

import { TokenwardenError } from './errors.ts';

/** A JSON Web Key as accepted by oidc-provider's `jwks` option (private signing keys). */
export type SigningJwk = Record<string, unknown> & { kty: string };

export interface Config {
  /**
   * `NODE_ENV`: `development`, `test` or `production`. Default: `production` when `MONGODB_URI` is set (a real
   * database means real use), `development` on the embedded in-memory store.
   */
  readonly env: 'development' | 'test' | 'production';
  /** `HOST` (default `0.0.0.0`) and `PORT` (default `3000`). */
  readonly host: string;
  readonly port: number;
  /** `ISSUER`: the public base URL of this server (default `http://localhost:<PORT>`). No trailing slash. */
  readonly issuer: string;
  /**
   * `TRUST_PROXY` (default `false`): how many proxies in front of Tokenwarden append to `X-Forwarded-For`. `false`
   * or `0`: none, the client's address is the socket's; `true` is `1`; `n`: the address is the n-th entry from the
   * right (entries further left are written by the client and never trusted).
   */
  readonly trustedProxyHops: number;
  /** Storage. `MONGODB_URI` unset selects the embedded in-memory store (refused when `NODE_ENV=production`). */
  readonly storage:
    { readonly kind: 'memory' } | { readonly kind: 'mongodb'; readonly uri: string; readonly timeoutMs: number };
  /**
   * The shared cache, default none. Exactly one topology: `REDIS_URL` (one server), `REDIS_CLUSTER_NODES` (a Redis
   * Cluster) or `REDIS_SENTINELS` with `REDIS_SENTINEL_MASTER` (a master behind Sentinel). `REDIS_COMMAND_TIMEOUT_MS`
   * (default 250): a slower command counts as a miss.
   */
  readonly redis: { readonly topology: RedisTopology; readonly commandTimeoutMs: number } | null;
  readonly pat: {
    /** `TOKEN_PREFIX` (default `pat`): PAT values look like `<prefix>_<36 random><6 checksum>`. */
    readonly prefix: string;
    /** `PAT_CLIENT_ID` (default `personal-access-token`): the `client_id` introspection reports for PATs. */
    readonly clientId: string;
  };
  /** `CACHE_TTL_SECONDS` (default 300): the longest a PAT introspection answer is kept in Redis. */
  readonly cacheTtlSeconds: number;
  /**
   * `LOCAL_CACHE_TTL_SECONDS` (default 10; `0` disables) and `LOCAL_CACHE_MAX` (default 100000): the in-process
   * LRU in front of Redis, invalidated on every instance through Redis pub/sub. Used only with Redis.
   */
  readonly localCache: { readonly ttlSeconds: number; readonly max: number };
  /** `NEGATIVE_CACHE_TTL_SECONDS` (default 60): how long an unknown well-formed PAT is remembered as unknown. */
  readonly negativeCacheTtlSeconds: number;
  /**
   * `INTROSPECTION_FAST_PATH` (default `true`): answer PAT introspections with client_secret_basic/post without
   * oidc-provider's middleware chain (same answers; `false` sends everything through oidc-provider).
   */
  readonly introspectionFastPath: boolean;
  /** `CLIENT_CACHE_TTL_SECONDS` (default 30): how long an instance keeps a registered client in memory. */
  readonly clientCacheTtlSeconds: number;
  /** `ACCESS_TOKEN_TTL_SECONDS` (default 3600): lifetime of OAuth access tokens issued by `/token`. */
  readonly accessTokenTtlSeconds: number;
  readonly adminClient: {
    /** `ADMIN_CLIENT_ID` (default `tokenwarden-admin`). */
    readonly clientId: string;
    /** `ADMIN_CLIENT_SECRET`: required in production (32+ characters); generated per start otherwise. */
    readonly clientSecret: string;
    /** True when the secret was generated because none was configured. */
    readonly generatedSecret: boolean;
  };
  /**
   * `JWKS` (JSON `{"keys":[...]}` of private signing keys). Default (null here): on MongoDB, keys generated once and
   * kept in the database encrypted under `SECRET_KEY`, so every instance publishes the same keys and they survive
   * restarts; on the embedded in-memory store, an ephemeral ES256 key.
   */
  readonly jwks: { readonly keys: readonly SigningJwk[] } | null;
  /**
   * `SECRET_KEY` (comma-separated, 32+ characters each; the first is current, the others still accepted, for
   * rotation): the root of the keys that authenticate Redis cache entries and encrypt the stored signing keys.
   * Required with `MONGODB_URI` or `REDIS_URL`; random per start on the embedded store.
   */
  readonly secretKeys: readonly string[];
  /** `COOKIE_KEYS` (comma-separated, 32+ characters each). Default: derived from `SECRET_KEY`. */
  readonly cookieKeys: readonly string[] | null;
  /** Token policy. */
  readonly policy: {
    /** `TOKEN_MAX_LIFETIME_DAYS` (default 365). `0` lifts the limit and allows tokens that never expire. */
    readonly maxLifetimeDays: number;
    /** `TOKEN_DEFAULT_LIFETIME_DAYS` (default 30): expiry when a request gives none. `0`: no expiry (needs max 0). */
    readonly defaultLifetimeDays: number;
    /** `MAX_TOKENS_PER_USER` (default 100): live (unrevoked, unexpired) tokens per user. */
    readonly maxTokensPerUser: number;
    /**
     * `SCOPES` (JSON object `{"name": "description"}`): the scope catalogue. Default: `read`, `write` and
     * `tokens:manage` (lets a PAT manage its user's tokens through `/api/me`).
     */
    readonly scopes: Readonly<Record<string, string>>;
    /** `LAST_USED_INTERVAL_SECONDS` (default 60): at most one `last_used_at` write per token per interval. */
    readonly lastUsedIntervalSeconds: number;
  };
  /**
   * `TRUSTED_ISSUERS` (JSON array, default `[]`): identity providers whose JWT access tokens may call `/api/me`:
   * `[{"issuer": "...", "jwks_uri": "...", "audience": "...", "user_claim": "sub", "token_types": ["at+jwt"],
   * "required_scope": "...", "admin_claim": {"name": "roles", "value": "tokenwarden-admin"}}]`. `token_types`
   * (default `["at+jwt"]`, RFC 9068) are the accepted `typ` header values; an ID token (`typ: JWT`) is refused unless
   * listed. `required_scope` (default none) must be in `scope`/`scp`. `admin_claim` (default none): see below.
   */
  readonly trustedIssuers: readonly TrustedIssuer[];
  /** The web console at `/console` and how it signs people in (see {@link ConsoleConfig}). */
  readonly console: ConsoleConfig;
  /**
   * Abuse limits, per instance: `AUTH_FAILURES_PER_CLIENT` (default 20) failed client authentications per minute
   * for one client id from one address, after which its failures back off (1 s, doubling up to 15 min);
   * `AUTH_FAILURES_PER_ADDRESS` (default 100) failed client authentications per minute from one address;
   * `CREDENTIAL_REVOCATIONS_PER_ADDRESS` (default 2000) values per minute reported to the leaked-credential
   * revocation endpoint from one address. None of them ever refuses a correct client secret.
   */
  readonly limits: {
    readonly authFailuresPerClient: number;
    readonly authFailuresPerAddress: number;
    readonly credentialRevocationsPerAddress: number;
  };
  /** `LOG_LEVEL` (default `info`): one of fatal, error, warn, info, debug, trace, silent. */
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** `SHUTDOWN_TIMEOUT_MS` (default 10000): how long SIGTERM waits for in-flight requests. */
  readonly shutdownTimeoutMs: number;
  /** `RETRY_AFTER_SECONDS` (default 5): the `Retry-After` sent with 503 when storage is unreachable. */
  readonly retryAfterSeconds: number;
  /**
   * `HEAP_GROWTH_PERCENT` (default 50): how far V8 lets the old generation grow past what the last full garbage
   * collection kept before it collects again (V8's `--heap-growing-percent`, like Go's GOGC). It replaces V8's own
   * factor, which it picks between 1.1 and 4 from its GC speed and memory mode, and which let a burst of slow
   * requests grow the heap to four times the live data here. 0 leaves V8's policy. Set by the process entry point.
   */
  readonly heapGrowthPercent: number;
}

/** A Redis server or Sentinel address. */
export interface RedisAddress {
  readonly host: string;
  readonly port: number;
}

/** Where Redis is, and the credentials of its data nodes (with `REDIS_URL` they are in the URL). */
export type RedisTopology =
  | { readonly kind: 'single'; readonly url: string }
  | {
      readonly kind: 'cluster';
      /** `REDIS_CLUSTER_NODES`: seed nodes, `host:port,host:port`; the rest of the cluster is discovered. */
      readonly nodes: readonly RedisAddress[];
      /** `REDIS_USERNAME` (default unset: Redis's `default` user) and `REDIS_PASSWORD` (default unset: none). */
      readonly username: string | null;
      readonly password: string | null;
    }
  | {
      readonly kind: 'sentinel';
      /** `REDIS_SENTINELS`: `host:port,host:port`, the Sentinels to ask where the master is. */
      readonly sentinels: readonly RedisAddress[];
      /** `REDIS_SENTINEL_MASTER`: the monitored master's name (`sentinel monitor <name> …`); required. */
      readonly masterName: string;
      /** `REDIS_USERNAME` and `REDIS_PASSWORD`, as for a cluster: the master's and replicas' credentials. */
      readonly username: string | null;
      readonly password: string | null;
      /** `REDIS_SENTINEL_PASSWORD` (default unset: the Sentinels ask for none). */
      readonly sentinelPassword: string | null;
    };

/** An external identity provider whose JWTs authenticate self-service calls. */
export interface TrustedIssuer {
  readonly issuer: string;
  readonly jwksUri: string;
  readonly audience: string;
  /** The claim holding the Tokenwarden user id (default `sub`). */
  readonly userClaim: string;
  /** Accepted JWS algorithms (default: the asymmetric ones jose supports). */
  readonly algorithms: readonly string[];
  /** Accepted `typ` header values, compared without an `application/` prefix (default `at+jwt`, RFC 9068 §2.1). */
  readonly tokenTypes: readonly string[];
  /** A scope the token must carry (in `scope` or `scp`), or null. */
  readonly requiredScope: string | null;
  /**
   * `admin_claim` (default none): a person whose access token carries this claim value (the claim a string equal to
   * it, or an array containing it) may call the admin routes; their actions are audited as `user:<id>`.
   */
  readonly adminClaim: { readonly name: string; readonly value: string } | null;
  /** Public keys to verify with instead of fetching `jwksUri` (Tokenwarden's own issuer, for the embedded console). */
  readonly keys?: readonly Record<string, unknown>[];
}

/**
 * How the web console signs people in (OIDC authorization code + PKCE, as a public client):
 * - `external`: through the operator's identity provider, `CONSOLE_ISSUER` with client `CONSOLE_CLIENT_ID`, asking
 *   for `CONSOLE_SCOPES` (default `openid`) and, when set, the RFC 8707 resource `CONSOLE_RESOURCE`. The issuer must
 *   also be a trusted issuer, so the API accepts its access tokens.
 * - `embedded`: through Tokenwarden's own oidc-provider with a development sign-in page (pick a user, or the
 *   built-in admin). `CONSOLE_DEV_SIGNIN` (default: `true` on the in-memory store, `false` otherwise); refused
 *   when `NODE_ENV=production` and together with `CONSOLE_ISSUER`.
 * - `off`: neither is configured (`/console` says so).
 */
export type ConsoleConfig =
  | { readonly mode: 'off' }
  | { readonly mode: 'embedded' }
  | {
      readonly mode: 'external';
      readonly issuer: string;
      readonly clientId: string;
      readonly scopes: string;
      readonly resource: string | null;
    };

/** Thrown when an environment variable is invalid; `variable` names it. */
export class ConfigError extends TokenwardenError {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super('ERR_CONFIG', `${variable}: ${message}`);
  }
}

type Env = Readonly<Record<string, string | undefined>>;

const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const schemas = {
  NODE_ENV: z.enum(['development', 'test', 'production']).optional(),
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: integer(0, 65535).default(3000),
  ISSUER: z.url({ protocol: /^https?$/ }).optional(),
  TRUST_PROXY: z
    .union([z.enum(['true', 'false']), z.string().regex(/^\d+$/, 'must be true, false or a number of proxy hops')])
    .transform((v) => (v === 'true' ? 1 : v === 'false' ? 0 : Number(v)))
    .pipe(z.number().int().min(0, 'must be at least 0').max(10, 'must be at most 10 proxy hops'))
    .default(0),
  MONGODB_URI: z
    .string()
    .regex(/^mongodb(\+srv)?:\/\/.+/, 'must be a mongodb:// or mongodb+srv:// URI')
    .optional(),
  MONGODB_TIMEOUT_MS: integer(100, 120_000).default(2000),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\/.+/, 'must be a redis:// or rediss:// URL')
    .optional(),
  REDIS_CLUSTER_NODES: z.string().optional(),
  REDIS_SENTINELS: z.string().optional(),
  REDIS_SENTINEL_MASTER: z
    .string()
    .regex(/^[\x21-\x7e]{1,128}$/, 'must be 1-128 printable ASCII characters')
    .optional(),
  REDIS_USERNAME: z.string().optional(),
  REDIS_PASSWORD: z.string().optional(),
  REDIS_SENTINEL_PASSWORD: z.string().optional(),
  REDIS_COMMAND_TIMEOUT_MS: integer(10, 60_000).default(250),
  TOKEN_PREFIX: z
    .string()
    .regex(/^[a-z][a-z0-9]{1,15}$/, 'must be 2-16 lowercase letters or digits, starting with a letter')
    .default('pat'),
  PAT_CLIENT_ID: z
    .string()
    .regex(/^[\x21-\x7e]{1,128}$/, 'must be 1-128 printable ASCII characters')
    .default('personal-access-token'),
  CACHE_TTL_SECONDS: integer(1, 86_400).default(300),
  CLIENT_CACHE_TTL_SECONDS: integer(0, 3600).default(30),
  LOCAL_CACHE_TTL_SECONDS: integer(0, 3600).default(10),
  LOCAL_CACHE_MAX: integer(1, 10_000_000).default(100_000),
  NEGATIVE_CACHE_TTL_SECONDS: integer(1, 86_400).default(60),
  INTROSPECTION_FAST_PATH: bool.default(true),
  ACCESS_TOKEN_TTL_SECONDS: integer(60, 86_400).default(3600),
  ADMIN_CLIENT_ID: z
    .string()
    .regex(/^[\x21-\x7e]{1,128}$/, 'must be 1-128 printable ASCII characters')
    .default('tokenwarden-admin'),
  ADMIN_CLIENT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  JWKS: z.string().optional(),
  SECRET_KEY: z.string().optional(),
  COOKIE_KEYS: z.string().optional(),
  TOKEN_MAX_LIFETIME_DAYS: integer(0, 36_500).default(365),
  TOKEN_DEFAULT_LIFETIME_DAYS: integer(0, 36_500).default(30),
  MAX_TOKENS_PER_USER: integer(1, 10_000).default(100),
  SCOPES: z.string().optional(),
  LAST_USED_INTERVAL_SECONDS: integer(1, 86_400).default(60),
  TRUSTED_ISSUERS: z.string().optional(),
  CONSOLE_ISSUER: z.url({ protocol: /^https?$/ }).optional(),
  CONSOLE_CLIENT_ID: z
    .string()
    .regex(/^[\x21-\x7e]{1,255}$/, 'must be 1-255 printable ASCII characters')
    .optional(),
  CONSOLE_SCOPES: z
    .string()
    .regex(/^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/, 'must be space-separated scope tokens')
    .default('openid'),
  CONSOLE_RESOURCE: z
    .url({ message: 'must be an absolute URI' })
    .refine((u) => !u.includes('#'), 'must not contain a fragment (RFC 8707)')
    .optional(),
  CONSOLE_DEV_SIGNIN: bool.optional(),
  AUTH_FAILURES_PER_CLIENT: integer(1, 1_000_000).default(20),
  AUTH_FAILURES_PER_ADDRESS: integer(1, 1_000_000).default(100),
  CREDENTIAL_REVOCATIONS_PER_ADDRESS: integer(1, 1_000_000).default(2000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SHUTDOWN_TIMEOUT_MS: integer(0, 300_000).default(10_000),
  RETRY_AFTER_SECONDS: integer(1, 3600).default(5),
  HEAP_GROWTH_PERCENT: integer(0, 1000).default(50),
} as const;

type Parsed = { [K in keyof typeof schemas]: z.output<(typeof schemas)[K]> };

function parseAll(env: Env): Parsed {
  const out: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(schemas)) {
    const raw = env[name];
    const result = (schema as z.ZodType).safeParse(raw === '' ? undefined : raw);
    if (!result.success) {
      throw new ConfigError(name, result.error.issues.map((i) => i.message).join('; '));
    }
    out[name] = result.data;
  }
  return out as Parsed;
}

const jwkSchema = z.object({ keys: z.array(z.looseObject({ kty: z.string(), d: z.string() })).min(1) });

/** A new ES256 signing key (the embedded store's ephemeral key, and the first stored key on MongoDB). */
export function generateSigningKey(kidPrefix: string): SigningJwk {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' }) as SigningJwk;
  return { ...jwk, alg: 'ES256', use: 'sig', kid: `${kidPrefix}-${randomBytes(6).toString('hex')}` };
}

function parseJwks(raw: string | undefined, memory: boolean): { keys: SigningJwk[] } | null {
  if (raw === undefined) return memory ? { keys: [generateSigningKey('ephemeral')] } : null;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new ConfigError('JWKS', 'must be JSON of the form {"keys":[...]}');
  }
  const result = jwkSchema.safeParse(json);
  if (!result.success) {
    throw new ConfigError('JWKS', 'must be {"keys":[...]} with at least one private JWK (kty and d members)');
  }
  return result.data;
}

/** A comma-separated list of keys of 32+ characters each (`SECRET_KEY`, `COOKIE_KEYS`). */
function parseKeyList(variable: string, raw: string): string[] {
  const keys = raw.split(',').map((k) => k.trim());
  if (keys.some((k) => k.length < 32)) {
    throw new ConfigError(variable, 'each comma-separated key must be at least 32 characters');
  }
  return keys;
}

function parseSecretKeys(raw: string | undefined, required: string | null): string[] {
  if (raw === undefined) {
    if (required !== null) {
      throw new ConfigError(
        'SECRET_KEY',
        `is required with ${required} (32+ random characters, e.g. \`openssl rand -base64 32\`): it authenticates cache entries and encrypts the stored signing keys`,
      );
    }
    return [randomBytes(32).toString('base64url')];
  }
  return parseKeyList('SECRET_KEY', raw);
}

const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;
const DEFAULT_SCOPES = {
  read: 'Read access',
  write: 'Write access',
  'tokens:manage': 'Manage your own personal access tokens through /api/me',
};

function parseJson(variable: string, raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    throw new ConfigError(variable, 'must be valid JSON');
  }
}

function parseScopes(raw: string | undefined): Record<string, string> {
  if (raw === undefined) return DEFAULT_SCOPES;
  const result = z
    .record(z.string().regex(SCOPE_TOKEN), z.string().max(500))
    .refine((r) => Object.keys(r).length > 0)
    .safeParse(parseJson('SCOPES', raw));
  if (!result.success) {
    throw new ConfigError(
      'SCOPES',
      'must be a non-empty JSON object {"scope-name": "description"} of RFC 6749 scope tokens',
    );
  }
  return result.data;
}

const ASYMMETRIC = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
];

/** A `typ` value as RFC 8725 §3.11 compares it: case-insensitive, without an `application/` prefix. */
export function normaliseTyp(typ: string): string {
  const lower = typ.toLowerCase();
  return lower.startsWith('application/') ? lower.slice('application/'.length) : lower;
}

function parseTrustedIssuers(raw: string | undefined): TrustedIssuer[] {
  if (raw === undefined) return [];
  const result = z
    .array(
      z.strictObject({
        issuer: z.string().min(1),
        jwks_uri: z.url({ protocol: /^https?$/ }),
        audience: z.string().min(1),
        user_claim: z.string().min(1).default('sub'),
        algorithms: z.array(z.enum(ASYMMETRIC)).min(1).default(ASYMMETRIC),
        token_types: z.array(z.string().min(1).max(100)).min(1).default(['at+jwt']),
        required_scope: z.string().regex(SCOPE_TOKEN).nullable().default(null),
        admin_claim: z.strictObject({ name: z.string().min(1), value: z.string().min(1) }).optional(),
      }),
    )
    .safeParse(parseJson('TRUSTED_ISSUERS', raw));
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ConfigError('TRUSTED_ISSUERS', `${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  return result.data.map((t) => ({
    issuer: t.issuer,
    jwksUri: t.jwks_uri,
    audience: t.audience,
    userClaim: t.user_claim,
    algorithms: t.algorithms,
    tokenTypes: t.token_types.map(normaliseTyp),
    requiredScope: t.required_scope,
    adminClaim: t.admin_claim ?? null,
  }));
}

function parseConsole(p: Parsed, production: boolean, trustedIssuers: readonly TrustedIssuer[]): ConsoleConfig {
  if (p.CONSOLE_ISSUER !== undefined) {
    if (p.CONSOLE_DEV_SIGNIN === true) {
      throw new ConfigError('CONSOLE_DEV_SIGNIN', 'cannot be combined with CONSOLE_ISSUER');
    }
    if (p.CONSOLE_CLIENT_ID === undefined) {
      throw new ConfigError('CONSOLE_CLIENT_ID', 'is required with CONSOLE_ISSUER');
    }
    const issuer = p.CONSOLE_ISSUER;
    if (!trustedIssuers.some((t) => t.issuer === issuer)) {
      throw new ConfigError(
        'CONSOLE_ISSUER',
        'must also be listed in TRUSTED_ISSUERS, so that the API accepts the access tokens the console signs in with',
      );
    }
    return {
      mode: 'external',
      issuer,
      clientId: p.CONSOLE_CLIENT_ID,
      scopes: p.CONSOLE_SCOPES,
      resource: p.CONSOLE_RESOURCE ?? null,
    };
  }
  if (p.CONSOLE_DEV_SIGNIN === true && production) {
    throw new ConfigError(
      'CONSOLE_DEV_SIGNIN',
      'is refused when NODE_ENV=production (anyone could sign in as anyone); set CONSOLE_ISSUER instead',
    );
  }
  const devSignIn = p.CONSOLE_DEV_SIGNIN ?? (!production && p.MONGODB_URI === undefined);
  return devSignIn ? { mode: 'embedded' } : { mode: 'off' };
}

const HOST_PORT = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})?)):(\d{1,5})$/;

/** `host:port,host:port` (IPv6 in brackets) into addresses. */
function parseAddresses(variable: string, raw: string): RedisAddress[] {
  const entries = raw.split(',').map((e) => e.trim());
  return entries.map((entry, i) => {
    const m = HOST_PORT.exec(entry);
    const port = Number(m?.[3]);
    if (!m || port < 1 || port > 65535) {
      // The entry itself is not echoed: a URL with a password in it would end up in the logs.
      throw new ConfigError(variable, `must be a comma-separated list of host:port; entry ${i + 1} is not one`);
    }
    return { host: m[1] ?? m[2]!, port };
  });
}

/** The one Redis topology the environment describes, or null; refuses two at once and settings left unused. */
function parseRedis(p: Parsed): RedisTopology | null {
  const chosen = (['REDIS_URL', 'REDIS_CLUSTER_NODES', 'REDIS_SENTINELS'] as const).filter((v) => p[v] !== undefined);
  if (chosen.length > 1) {
    throw new ConfigError(chosen[1]!, `cannot be combined with ${chosen[0]!}: configure exactly one Redis topology`);
  }
  const unused = (variable: keyof Parsed, only: string) => {
    if (p[variable] !== undefined) throw new ConfigError(variable, `is only used with ${only}`);
  };
  if (p.REDIS_SENTINELS === undefined) {
    unused('REDIS_SENTINEL_MASTER', 'REDIS_SENTINELS');
    unused('REDIS_SENTINEL_PASSWORD', 'REDIS_SENTINELS');
  }
  if (p.REDIS_CLUSTER_NODES === undefined && p.REDIS_SENTINELS === undefined) {
    const where = 'REDIS_CLUSTER_NODES or REDIS_SENTINELS (with REDIS_URL, credentials go in the URL)';
    unused('REDIS_USERNAME', where);
    unused('REDIS_PASSWORD', where);
  }
  const credentials = { username: p.REDIS_USERNAME ?? null, password: p.REDIS_PASSWORD ?? null };
  if (p.REDIS_URL !== undefined) return { kind: 'single', url: p.REDIS_URL };
  if (p.REDIS_CLUSTER_NODES !== undefined) {
    return { kind: 'cluster', nodes: parseAddresses('REDIS_CLUSTER_NODES', p.REDIS_CLUSTER_NODES), ...credentials };
  }
  if (p.REDIS_SENTINELS !== undefined) {
    if (p.REDIS_SENTINEL_MASTER === undefined) {
      throw new ConfigError('REDIS_SENTINEL_MASTER', 'is required with REDIS_SENTINELS');
    }
    return {
      kind: 'sentinel',
      sentinels: parseAddresses('REDIS_SENTINELS', p.REDIS_SENTINELS),
      masterName: p.REDIS_SENTINEL_MASTER,
      ...credentials,
      sentinelPassword: p.REDIS_SENTINEL_PASSWORD ?? null,
    };
  }
  return null;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Builds the configuration from this process's environment (the entry point's one call). */
export function loadConfigFromProcess(): Config {
  return loadConfig(process.env);
}

/**
 * Builds and validates the configuration from `env` (normally `process.env`).
 * @throws {ConfigError} naming the first invalid variable.
 */
export function loadConfig(env: Env): Config {
  const p = parseAll(env);
  const nodeEnv = p.NODE_ENV ?? (p.MONGODB_URI === undefined ? 'development' : 'production');
  const production = nodeEnv === 'production';

  if (production && p.MONGODB_URI === undefined) {
    throw new ConfigError(
      'MONGODB_URI',
      'is required when NODE_ENV=production (the in-memory store is for trying Tokenwarden out only)',
    );
  }
  if (production && p.ADMIN_CLIENT_SECRET === undefined) {
    throw new ConfigError('ADMIN_CLIENT_SECRET', 'is required when NODE_ENV=production');
  }
  if (p.PAT_CLIENT_ID === p.ADMIN_CLIENT_ID) {
    throw new ConfigError('PAT_CLIENT_ID', 'must differ from ADMIN_CLIENT_ID');
  }
  const issuer = (p.ISSUER ?? `http://localhost:${p.PORT}`).replace(/\/+$/, '');
  if (p.TOKEN_DEFAULT_LIFETIME_DAYS === 0 && p.TOKEN_MAX_LIFETIME_DAYS !== 0) {
    throw new ConfigError('TOKEN_DEFAULT_LIFETIME_DAYS', 'may be 0 (no expiry) only when TOKEN_MAX_LIFETIME_DAYS is 0');
  }
  if (p.TOKEN_MAX_LIFETIME_DAYS !== 0 && p.TOKEN_DEFAULT_LIFETIME_DAYS > p.TOKEN_MAX_LIFETIME_DAYS) {
    throw new ConfigError('TOKEN_DEFAULT_LIFETIME_DAYS', 'must not exceed TOKEN_MAX_LIFETIME_DAYS');
  }

  const trustedIssuers = parseTrustedIssuers(p.TRUSTED_ISSUERS);
  const redis = parseRedis(p);

  const config: Config = {
    env: nodeEnv,
    host: p.HOST,
    port: p.PORT,
    issuer,
    trustedProxyHops: p.TRUST_PROXY,
    storage:
      p.MONGODB_URI === undefined
        ? { kind: 'memory' }
        : { kind: 'mongodb', uri: p.MONGODB_URI, timeoutMs: p.MONGODB_TIMEOUT_MS },
    redis: redis === null ? null : { topology: redis, commandTimeoutMs: p.REDIS_COMMAND_TIMEOUT_MS },
    pat: { prefix: p.TOKEN_PREFIX, clientId: p.PAT_CLIENT_ID },
    cacheTtlSeconds: p.CACHE_TTL_SECONDS,
    clientCacheTtlSeconds: p.CLIENT_CACHE_TTL_SECONDS,
    localCache: { ttlSeconds: p.LOCAL_CACHE_TTL_SECONDS, max: p.LOCAL_CACHE_MAX },
    negativeCacheTtlSeconds: p.NEGATIVE_CACHE_TTL_SECONDS,
    introspectionFastPath: p.INTROSPECTION_FAST_PATH,
    accessTokenTtlSeconds: p.ACCESS_TOKEN_TTL_SECONDS,
    adminClient: {
      clientId: p.ADMIN_CLIENT_ID,
      clientSecret: p.ADMIN_CLIENT_SECRET ?? randomBytes(32).toString('base64url'),
      generatedSecret: p.ADMIN_CLIENT_SECRET === undefined,
    },
    jwks: parseJwks(p.JWKS, p.MONGODB_URI === undefined),
    secretKeys: parseSecretKeys(
      p.SECRET_KEY,
      (['MONGODB_URI', 'REDIS_URL', 'REDIS_CLUSTER_NODES', 'REDIS_SENTINELS'] as const).find(
        (v) => p[v] !== undefined,
      ) ?? null,
    ),
    cookieKeys: p.COOKIE_KEYS === undefined ? null : parseKeyList('COOKIE_KEYS', p.COOKIE_KEYS),
    policy: {
      maxLifetimeDays: p.TOKEN_MAX_LIFETIME_DAYS,
      defaultLifetimeDays: p.TOKEN_DEFAULT_LIFETIME_DAYS,
      maxTokensPerUser: p.MAX_TOKENS_PER_USER,
      scopes: parseScopes(p.SCOPES),
      lastUsedIntervalSeconds: p.LAST_USED_INTERVAL_SECONDS,
    },
    trustedIssuers,
    console: parseConsole(p, production, trustedIssuers),
    limits: {
      authFailuresPerClient: p.AUTH_FAILURES_PER_CLIENT,
      authFailuresPerAddress: p.AUTH_FAILURES_PER_ADDRESS,
      credentialRevocationsPerAddress: p.CREDENTIAL_REVOCATIONS_PER_ADDRESS,
    },
    logLevel: p.LOG_LEVEL,
    shutdownTimeoutMs: p.SHUTDOWN_TIMEOUT_MS,
    retryAfterSeconds: p.RETRY_AFTER_SECONDS,
    heapGrowthPercent: p.HEAP_GROWTH_PERCENT,
  };
  return deepFreeze(config);
}

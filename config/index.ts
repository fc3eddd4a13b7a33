/**
 * Tokenwarden configuration: the only module that reads environment variables.
 *
 * `loadConfig(env)` builds one typed, validated, frozen {@link Config} at start-up. A bad value throws a
 * {@link ConfigError} whose message names the variable, so the process stops before it listens.
 * Every setting's default is documented next to its definition below and in docs/reference.md's table.
 */
import { randomBytes } from 'node:crypto';

import { DEV_SEED, type DevSeed } from './dev-seed.ts';
import { ConfigError } from './errors.ts';
import {
  parseConsole,
  parseJwks,
  parseKeyList,
  parseRedis,
  parseScopes,
  parseSecretKeys,
  parseTrustedIssuers,
} from './parsers.ts';
import { VARIABLES, type Parsed, type Variable } from './variables.ts';

export { DEV_SEED, type DevSeed } from './dev-seed.ts';
export { ConfigError } from './errors.ts';
export { generateSigningKey, normaliseTyp } from './parsers.ts';

/** A JSON Web Key as accepted by oidc-provider's `jwks` option (private signing keys). */
export type SigningJwk = Record<string, unknown> & { kty: string };

export interface Config {
  /**
   * `NODE_ENV`: `development`, `test` or `production`. Default: `production` when `MONGODB_URI` is set (a real
   * database means real use), `development` on the embedded in-memory store.
   */
  readonly env: 'development' | 'test' | 'production';
  /** `HOST` (default `0.0.0.0`; `127.0.0.1` with the development seed) and `PORT` (default `3000`). */
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
  /**
   * `DEV_SEED` (default `false`; `npm start -- --seed` sets it): the fixed development credentials of
   * `config/dev-seed.ts`, or null. The admin client's secret is then the seed's. Refused with `NODE_ENV=production`,
   * with `MONGODB_URI`, with Redis and with `ADMIN_CLIENT_SECRET` (its values are public).
   */
  readonly devSeed: DevSeed | null;
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
  /**
   * `TOKEN_EXCHANGE_TTL_SECONDS` (default 600): the longest lifetime of a JWT access token issued by RFC 8693 token
   * exchange for a PAT; never past the PAT's own expiry.
   */
  readonly tokenExchangeTtlSeconds: number;
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
  /** Lifecycle events, their webhooks and SSF streams (see {@link EventsConfig}). */
  readonly events: EventsConfig;
  /** Expiry notices and the inactive-token policy, and the scheduler that runs them (see {@link JobsConfig}). */
  readonly jobs: JobsConfig;
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

/** How lifecycle events are delivered (webhooks, SSF push and poll). */
export interface EventsConfig {
  /** `EVENTS_DISPATCH` (default `true`): relay, fan out and deliver here; `false`: only record (other instances deliver). */
  readonly dispatch: boolean;
  /** `EVENTS_DELIVERY_TIMEOUT_MS` (default 15000): one push attempt, connection to status. */
  readonly deliveryTimeoutMs: number;
  /** `EVENTS_MAX_RESPONSE_BYTES` (default 65536): the most of an answer that is read. */
  readonly maxResponseBytes: number;
  /** `EVENTS_RETRY_HOURS` (default 24): how long a failed push is tried again before it is given up. */
  readonly retryHours: number;
  /**
   * `EVENTS_ALLOWED_NETWORKS` (default none): CIDRs of private, loopback or link-local networks push targets may
   * resolve to; every other non-public address is refused, at registration and at delivery.
   */
  readonly allowedNetworks: readonly string[];
  /** `EVENTS_RETENTION_DAYS` (default 45): how long events and finished deliveries are kept. */
  readonly retentionDays: number;
  /** `EVENTS_SWEEP_SECONDS` (default 30): how often left-over events are relayed and old ones purged. */
  readonly sweepSeconds: number;
  /** `SSF_POLL_MAX_WAIT_SECONDS` (default 20): longest a long poll waits. */
  readonly pollMaxWaitSeconds: number;
  /** `SSF_MAX_STREAMS_PER_CLIENT` (default 100): most SSF streams one registered client may have. */
  readonly maxStreamsPerClient: number;
  /** `SSF_STREAM_INACTIVITY_DAYS` (default 30, `0` never): an idle stream is deleted after this long. */
  readonly streamInactivityDays: number;
}

/**
 * The scheduled jobs: expiry notices and the inactive-token policy.
 */
export interface JobsConfig {
  /**
   * `JOBS_INTERVAL_SECONDS` (default 3600): how often this instance runs the jobs (the first run a minute after it
   * starts listening, or sooner with a shorter interval). Any number of instances may run them: each notice is
   * claimed by one, and one inactive-token sweep runs at a time. `0`: this instance never runs them.
   */
  readonly intervalSeconds: number;
  /**
   * `EXPIRY_NOTICE_DAYS` (default `30,7,1`), largest first: a token gets a `token.expiring` notice when it is this
   * many days from its expiry (only the nearest threshold passed, and only thresholds shorter than its lifetime), and
   * a `token.expired` notice once it has expired. Empty (`off`): no notices.
   */
  readonly expiryNoticeDays: readonly number[];
  /**
   * `INACTIVE_TOKEN_DAYS` (default unset: off): each run revokes the active tokens neither used nor created in this
   * many days, with the audit reason `inactive`.
   */
  readonly inactiveTokenDays: number | null;
  /**
   * Email notices (default none): `SMTP_URL` (`smtp://` or `smtps://`, credentials in the URL) and
   * `NOTICE_EMAIL_FROM`, required with it.
   */
  readonly email: { readonly smtpUrl: string; readonly from: string } | null;
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

type Env = Readonly<Record<string, string | undefined>>;

function parseAll(env: Env): Parsed {
  const out: Record<string, unknown> = {};
  for (const [name, { schema }] of Object.entries(VARIABLES) as Array<[string, Variable]>) {
    const raw = env[name];
    const result = schema.safeParse(raw === '' ? undefined : raw);
    if (!result.success) {
      throw new ConfigError(name, result.error.issues.map((i) => i.message).join('; '));
    }
    out[name] = result.data;
  }
  return out as Parsed;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * Builds the configuration from this process's environment (the entry point's one call). `seed` is the command
 * line's `--seed`: the same as `DEV_SEED=true`.
 */
export function loadConfigFromProcess(options: { readonly seed?: boolean } = {}): Config {
  return loadConfig(options.seed ? { ...process.env, DEV_SEED: 'true' } : process.env);
}

/** Refuses the development seed anywhere its public credentials could guard something real. */
function checkDevSeed(p: Parsed, production: boolean): void {
  if (!p.DEV_SEED) return;
  const real = (['MONGODB_URI', 'REDIS_URL', 'REDIS_CLUSTER_NODES', 'REDIS_SENTINELS'] as const).find(
    (name) => p[name] !== undefined,
  );
  if (real !== undefined) {
    throw new ConfigError(
      'DEV_SEED',
      `is for the embedded in-memory store only, and ${real} is set (the seed's credentials are public)`,
    );
  }
  if (production)
    throw new ConfigError('DEV_SEED', "is refused when NODE_ENV=production (the seed's credentials are public)");
  if (p.ADMIN_CLIENT_SECRET !== undefined) {
    throw new ConfigError('DEV_SEED', 'sets the admin client secret itself: unset ADMIN_CLIENT_SECRET');
  }
}

/**
 * Builds and validates the configuration from `env` (normally `process.env`).
 * @throws {ConfigError} naming the first invalid variable.
 */
export function loadConfig(env: Env): Config {
  const p = parseAll(env);
  const nodeEnv = p.NODE_ENV ?? (p.MONGODB_URI === undefined ? 'development' : 'production');
  const production = nodeEnv === 'production';
  checkDevSeed(p, production);

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

  if (p.SMTP_URL !== undefined && p.NOTICE_EMAIL_FROM === undefined) {
    throw new ConfigError('NOTICE_EMAIL_FROM', 'is required with SMTP_URL (the address the notices come from)');
  }
  if (p.NOTICE_EMAIL_FROM !== undefined && p.SMTP_URL === undefined) {
    throw new ConfigError('SMTP_URL', 'is required with NOTICE_EMAIL_FROM (the server that sends the notices)');
  }

  const trustedIssuers = parseTrustedIssuers(p.TRUSTED_ISSUERS);
  const redis = parseRedis(p);

  const config: Config = {
    env: nodeEnv,
    host: p.HOST ?? (p.DEV_SEED ? '127.0.0.1' : '0.0.0.0'),
    port: p.PORT,
    issuer,
    devSeed: p.DEV_SEED ? DEV_SEED : null,
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
    tokenExchangeTtlSeconds: p.TOKEN_EXCHANGE_TTL_SECONDS,
    adminClient: {
      clientId: p.ADMIN_CLIENT_ID,
      clientSecret: p.DEV_SEED
        ? DEV_SEED.adminClientSecret
        : (p.ADMIN_CLIENT_SECRET ?? randomBytes(32).toString('base64url')),
      generatedSecret: p.ADMIN_CLIENT_SECRET === undefined && !p.DEV_SEED,
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
    events: {
      dispatch: p.EVENTS_DISPATCH,
      deliveryTimeoutMs: p.EVENTS_DELIVERY_TIMEOUT_MS,
      maxResponseBytes: p.EVENTS_MAX_RESPONSE_BYTES,
      retryHours: p.EVENTS_RETRY_HOURS,
      allowedNetworks: (p.EVENTS_ALLOWED_NETWORKS ?? '')
        .split(',')
        .map((e) => e.trim())
        .filter((e) => e !== ''),
      retentionDays: p.EVENTS_RETENTION_DAYS,
      sweepSeconds: p.EVENTS_SWEEP_SECONDS,
      pollMaxWaitSeconds: p.SSF_POLL_MAX_WAIT_SECONDS,
      maxStreamsPerClient: p.SSF_MAX_STREAMS_PER_CLIENT,
      streamInactivityDays: p.SSF_STREAM_INACTIVITY_DAYS,
    },
    jobs: {
      intervalSeconds: p.JOBS_INTERVAL_SECONDS,
      expiryNoticeDays: p.EXPIRY_NOTICE_DAYS,
      inactiveTokenDays: p.INACTIVE_TOKEN_DAYS ?? null,
      email:
        p.SMTP_URL === undefined || p.NOTICE_EMAIL_FROM === undefined
          ? null
          : { smtpUrl: p.SMTP_URL, from: p.NOTICE_EMAIL_FROM },
    },
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

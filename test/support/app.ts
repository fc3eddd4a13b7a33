/**
 * Starts a Tokenwarden instance for a test file, on the harness's real Redis and MongoDB-compatible server (a
 * fresh database per instance), listening on a free loopback port, with a movable clock and helpers that speak
 * HTTP to it like any client would.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';

import { createMemoryStorage } from '../../adapters/memory/storage.ts';
import { createMongoStorage } from '../../adapters/mongo/storage.ts';
import { createRedisCache } from '../../adapters/redis/cache.ts';
import type { Cache, Storage } from '../../adapters/types.ts';
import { loadConfig, type Config } from '../../config/index.ts';
import { createLogger } from '../../server/logger.ts';
import { createTokenwarden, type Tokenwarden } from '../../server/main.ts';
import type { NoticeChannel } from '../../server/jobs/sink.ts';
import type { Clock } from '../../server/services/clock.ts';
import { useServices } from './hooks.ts';
import { basic } from '../../scripts/lib/load.ts';
import { freePort } from '../../scripts/lib/services.ts';

/** The SECRET_KEY every test instance shares (instances on one database must agree on it). */
export const TEST_SECRET_KEY = 'test-secret-key-0123456789abcdefghijklmnopqrstuv';

/** The body of a shared-cache entry as stored (`2.<mac>.<body>`: see server/pats/cache-codec.ts), or null. */
export function cacheBody(raw: string | null): string | null {
  if (raw === null) return null;
  const match = /^2\.[A-Za-z0-9_-]{43}\.(.*)$/s.exec(raw);
  if (!match) throw new Error(`not a cache entry of the current format: ${raw.slice(0, 60)}`);
  return match[1]!;
}

/** The scope catalogue the tests run with. */
export const TEST_SCOPES = {
  read: 'Read access',
  write: 'Write access',
  'repo:read': 'Read repositories',
  'repo:write': 'Write repositories',
  'tokens:manage': 'Manage your own tokens',
};

/** A clock the test moves by hand. Starts at the real time so oidc-provider's own checks agree with it. */
export class TestClock implements Clock {
  private offsetMs = 0;
  now(): Date {
    return new Date(this.nowMs());
  }
  nowMs(): number {
    return Date.now() + this.offsetMs;
  }
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

/** Counts calls per `store.method`, to prove what did (not) reach MongoDB or Redis. */
export class CallCounter {
  readonly counts = new Map<string, number>();
  /** Calls whose promise has settled (for writes made in the background). */
  readonly settled = new Map<string, number>();
  /** Counts calls to `target`'s methods, but not to those named in `uncounted`. */
  wrap<T extends object>(name: string, target: T, uncounted: readonly string[] = []): T {
    return new Proxy(target, {
      get: (obj, prop, receiver) => {
        const value = Reflect.get(obj, prop, receiver) as unknown;
        if (typeof value !== 'function' || uncounted.includes(String(prop))) return value;
        return (...args: unknown[]) => {
          const key = `${name}.${String(prop)}`;
          this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
          const result = (value as (...a: unknown[]) => unknown).apply(obj, args);
          const done = () => this.settled.set(key, (this.settled.get(key) ?? 0) + 1);
          if (result instanceof Promise) result.then(done, done);
          else done();
          return result;
        };
      },
    });
  }
  /** Total calls whose key starts with `prefix`. */
  total(prefix: string): number {
    let n = 0;
    for (const [key, count] of this.counts) if (key.startsWith(prefix)) n += count;
    return n;
  }
  reset(): void {
    this.counts.clear();
    this.settled.clear();
  }
}

export interface StartOptions {
  /** Extra environment for loadConfig. */
  readonly env?: Record<string, string>;
  /** Use the in-memory store and no Redis (the embedded default). */
  readonly memory?: boolean;
  /** Without Redis. */
  readonly noRedis?: boolean;
  /** Capture the logs (at debug level) into `logs`. */
  readonly captureLogs?: boolean;
  /** Wraps the (real) storage, e.g. to pause an operation or inject a fault. */
  readonly wrapStorage?: (storage: Storage) => Storage;
  /** Wraps the (real) Redis cache, e.g. to make its writes fail. */
  readonly wrapCache?: (cache: Cache) => Cache;
  /** Notice channels besides the audit log (and email, when SMTP_URL is set). */
  readonly noticeChannels?: readonly NoticeChannel[];
}

export interface JsonResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Record<string, unknown>;
  readonly text: string;
}

export interface TestApp {
  readonly url: string;
  readonly tw: Tokenwarden;
  readonly config: Config;
  readonly clock: TestClock;
  readonly counter: CallCounter;
  /** The real storage (not counted), for tests that look at what is stored. */
  readonly storage: Storage;
  readonly dbName: string;
  readonly logs: string[];
  /** A registered resource-server client (client_secret_basic). */
  readonly rs: { clientId: string; clientSecret: string };
  adminToken(): Promise<string>;
  api(method: string, path: string, body?: unknown, token?: string | null): Promise<JsonResponse>;
  createUser(username?: string): Promise<string>;
  createPat(userId: string, body?: Record<string, unknown>): Promise<{ id: string; token: string }>;
  introspect(token: string, client?: { clientId: string; clientSecret: string }): Promise<JsonResponse>;
  revoke(token: string, client?: { clientId: string; clientSecret: string }): Promise<JsonResponse>;
  form(path: string, fields: Record<string, string> | string, headers?: Record<string, string>): Promise<JsonResponse>;
  close(): Promise<void>;
}

async function toJson(response: Response): Promise<JsonResponse> {
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    body = {};
  }
  return { status: response.status, headers: response.headers, body, text };
}

export { basic } from '../../scripts/lib/load.ts';

/** Starts an instance. Call `close()` in an `after` hook. */
export async function startApp(options: StartOptions = {}): Promise<TestApp> {
  const { redis, mongo } = await useServices();
  const dbName = `tw_${randomBytes(6).toString('hex')}`;
  const mongoUri = `${mongo.url.replace(/\/$/, '')}/${dbName}`;
  // A cluster or Sentinel given in `env` replaces the harness's one Redis server (one topology at a time).
  const otherRedis = options.env?.REDIS_CLUSTER_NODES !== undefined || options.env?.REDIS_SENTINELS !== undefined;
  const useRedis = !options.memory && !options.noRedis && !otherRedis;
  const port = await freePort();
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: String(port),
    ISSUER: `http://127.0.0.1:${port}`,
    LOG_LEVEL: options.captureLogs ? 'debug' : 'silent',
    ADMIN_CLIENT_SECRET: randomBytes(24).toString('base64url'),
    SECRET_KEY: TEST_SECRET_KEY,
    SCOPES: JSON.stringify(TEST_SCOPES),
    // No scheduled notices or sweeps behind a test's back; the files that test them run them by hand or set it.
    JOBS_INTERVAL_SECONDS: '0',
    // The harness's own event receivers (webhooks, SSF push) listen on loopback; a test of the SSRF refusal sets ''.
    EVENTS_ALLOWED_NETWORKS: '127.0.0.0/8,::1/128',
    ...(options.memory ? {} : { MONGODB_URI: mongoUri }),
    ...(useRedis ? { REDIS_URL: redis.url } : {}),
    ...options.env,
  };
  const config = loadConfig(env);
  const clock = new TestClock();
  const counter = new CallCounter();
  const logs: string[] = [];
  const logger = createLogger(
    config.logLevel,
    new Writable({
      write(chunk: Buffer, _enc, done) {
        logs.push(chunk.toString());
        done();
      },
    }),
  );

  const real: Storage =
    config.storage.kind === 'memory'
      ? createMemoryStorage()
      : await createMongoStorage({ uri: config.storage.uri, timeoutMs: config.storage.timeoutMs });
  // The relay of lifecycle events runs in the background after every change: not what a test counts.
  const relay = ['pendingEvents', 'eventsRelayed'];
  const counted: Storage = {
    users: counter.wrap('mongo.users', real.users, relay),
    pats: counter.wrap('mongo.pats', real.pats, relay),
    audit: counter.wrap('mongo.audit', real.audit),
    barrier: counter.wrap('mongo.barrier', real.barrier),
    signingKeys: real.signingKeys,
    notices: counter.wrap('mongo.notices', real.notices),
    leases: counter.wrap('mongo.leases', real.leases),
    oidc: counter.wrap('mongo.oidc', real.oidc),
    events: real.events,
    ping: () => real.ping(),
    close: () => real.close(),
  };
  const storage = options.wrapStorage ? options.wrapStorage(counted) : counted;
  const realCache = config.redis
    ? createRedisCache({ topology: config.redis.topology, commandTimeoutMs: config.redis.commandTimeoutMs })
    : null;
  const cache: Cache | null = realCache
    ? counter.wrap('redis', options.wrapCache ? options.wrapCache(realCache) : realCache)
    : null;

  const tw = await createTokenwarden(config, {
    clock,
    logger,
    storage,
    cache,
    ...(options.noticeChannels ? { noticeChannels: options.noticeChannels } : {}),
  });
  const { url } = await tw.listen();
  const admin = { clientId: config.adminClient.clientId, clientSecret: config.adminClient.clientSecret };

  let cachedAdminToken: string | undefined;
  const form: TestApp['form'] = async (path, fields, headers = {}) =>
    toJson(
      await fetch(`${url}${path}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
        body: typeof fields === 'string' ? fields : new URLSearchParams(fields).toString(),
      }),
    );

  const adminToken = async () => {
    if (cachedAdminToken) return cachedAdminToken;
    const res = await form(
      '/token',
      { grant_type: 'client_credentials', scope: 'admin' },
      { Authorization: basic(admin) },
    );
    if (res.status !== 200) throw new Error(`admin token: ${res.status} ${res.text}`);
    cachedAdminToken = String(res.body.access_token);
    return cachedAdminToken;
  };

  const api: TestApp['api'] = async (method, path, body, token) => {
    const bearer = token === undefined ? await adminToken() : token;
    const headers: Record<string, string> = {};
    if (bearer !== null) headers.Authorization = `Bearer ${bearer}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    return toJson(
      await fetch(`${url}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      }),
    );
  };

  const registered = await api('POST', '/api/clients', { client_name: 'test resource server' });
  if (registered.status !== 201) throw new Error(`client registration: ${registered.status} ${registered.text}`);
  const rs = { clientId: String(registered.body.client_id), clientSecret: String(registered.body.client_secret) };

  let users = 0;
  return {
    url,
    tw,
    config,
    clock,
    counter,
    storage: real,
    dbName,
    logs,
    rs,
    adminToken,
    api,
    form,
    async createUser(username) {
      const res = await api('POST', '/api/users', { username: username ?? `user-${dbName}-${++users}` });
      if (res.status !== 201) throw new Error(`create user: ${res.status} ${res.text}`);
      return String(res.body.id);
    },
    async createPat(userId, body = {}) {
      const res = await api('POST', `/api/users/${userId}/tokens`, {
        name: `token ${randomBytes(4).toString('hex')}`,
        scopes: ['read'],
        ...body,
      });
      if (res.status !== 201) throw new Error(`create PAT: ${res.status} ${res.text}`);
      return { id: String(res.body.id), token: String(res.body.token) };
    },
    introspect: (token, client = rs) => form('/introspect', { token }, { Authorization: basic(client) }),
    revoke: (token, client = rs) => form('/revoke', { token }, { Authorization: basic(client) }),
    close: () => tw.close(),
  };
}

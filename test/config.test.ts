import assert from 'node:assert/strict';

import { readFileSync } from 'node:fs';

import { ConfigError, DEV_SEED, loadConfig } from '../config/index.ts';
import { VARIABLES, configurationTable } from '../config/variables.ts';

const production = {
  NODE_ENV: 'production',
  MONGODB_URI: 'mongodb://db.internal:27017/tokenwarden',
  ADMIN_CLIENT_SECRET: 's'.repeat(40),
  SECRET_KEY: 'k'.repeat(40),
};

describe('configuration', () => {
  it('has documented defaults and is frozen', () => {
    const config = loadConfig({});
    assert.equal(config.port, 3000);
    assert.equal(config.issuer, 'http://localhost:3000');
    assert.equal(config.pat.prefix, 'pat');
    assert.equal(config.pat.clientId, 'personal-access-token');
    assert.equal(config.adminClient.clientId, 'tokenwarden-admin');
    assert.equal(config.adminClient.generatedSecret, true);
    assert.equal(config.storage.kind, 'memory');
    assert.equal(config.redis, null);
    assert.equal(config.cacheTtlSeconds, 300);
    assert.equal(config.logLevel, 'info');
    assert.equal(config.heapGrowthPercent, 50);
    assert.equal(config.jwks?.keys.length, 1, 'an ephemeral key on the embedded store');
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.pat));
    assert.throws(() => {
      (config as { port: number }).port = 1;
    }, TypeError);
  });

  it('reads every variable it documents', () => {
    const config = loadConfig({
      ...production,
      PORT: '8080',
      ISSUER: 'https://tokens.example.com/',
      REDIS_URL: 'redis://cache:6379',
      TOKEN_PREFIX: 'acme',
      PAT_CLIENT_ID: 'pats',
      ADMIN_CLIENT_ID: 'root',
      CACHE_TTL_SECONDS: '60',
      LOG_LEVEL: 'debug',
      HEAP_GROWTH_PERCENT: '0',
      TRUST_PROXY: '2',
      JWKS: JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd', kid: 'k1' }] }),
      COOKIE_KEYS: 'c'.repeat(32),
    });
    assert.equal(config.port, 8080);
    assert.equal(config.issuer, 'https://tokens.example.com');
    assert.deepEqual(config.storage, { kind: 'mongodb', uri: production.MONGODB_URI, timeoutMs: 2000 });
    assert.deepEqual(config.redis?.topology, { kind: 'single', url: 'redis://cache:6379' });
    assert.equal(config.pat.prefix, 'acme');
    assert.equal(config.pat.clientId, 'pats');
    assert.equal(config.adminClient.clientId, 'root');
    assert.equal(config.adminClient.generatedSecret, false);
    assert.equal(config.cacheTtlSeconds, 60);
    assert.equal(config.logLevel, 'debug');
    assert.equal(config.heapGrowthPercent, 0);
    assert.equal(config.trustedProxyHops, 2);
    assert.equal(config.jwks?.keys[0]?.kid, 'k1');
    assert.deepEqual(config.cookieKeys, ['c'.repeat(32)]);
    assert.deepEqual(config.secretKeys, ['k'.repeat(40)]);
  });

  it('reads the lifecycle events settings: allowed networks (empty is none) and the streams a client may have', () => {
    const defaults = loadConfig({}).events;
    assert.deepEqual(defaults.allowedNetworks, []);
    assert.equal(defaults.maxStreamsPerClient, 100);
    assert.equal(defaults.streamInactivityDays, 30);
    assert.deepEqual(loadConfig({ EVENTS_ALLOWED_NETWORKS: '' }).events.allowedNetworks, []);
    const events = loadConfig({
      EVENTS_ALLOWED_NETWORKS: ' 10.20.0.0/16, ::1 ,',
      SSF_MAX_STREAMS_PER_CLIENT: '3',
    }).events;
    assert.deepEqual(events.allowedNetworks, ['10.20.0.0/16', '::1']);
    assert.equal(events.maxStreamsPerClient, 3);
  });

  it('reads TRUST_PROXY as a number of trusted hops (true is one, false none)', () => {
    assert.equal(loadConfig({}).trustedProxyHops, 0);
    assert.equal(loadConfig({ TRUST_PROXY: 'false' }).trustedProxyHops, 0);
    assert.equal(loadConfig({ TRUST_PROXY: 'true' }).trustedProxyHops, 1);
    assert.equal(loadConfig({ TRUST_PROXY: '3' }).trustedProxyHops, 3);
  });

  it('defaults NODE_ENV to production with a database, development on the embedded store', () => {
    assert.equal(loadConfig({}).env, 'development');
    const { NODE_ENV: _, ...withoutEnv } = production;
    assert.equal(loadConfig(withoutEnv).env, 'production');
    assert.throws(
      () => loadConfig({ MONGODB_URI: production.MONGODB_URI, SECRET_KEY: production.SECRET_KEY }),
      (error: unknown) => error instanceof ConfigError && error.variable === 'ADMIN_CLIENT_SECRET',
      'a database without NODE_ENV is production, which needs its secrets',
    );
  });

  it('keeps signing keys in the database unless JWKS is given, and needs no JWKS or COOKIE_KEYS there', () => {
    const config = loadConfig(production);
    assert.equal(config.jwks, null, 'from the store');
    assert.equal(config.cookieKeys, null, 'derived from SECRET_KEY');
    assert.equal(loadConfig({}).jwks?.keys.length, 1, 'an ephemeral key on the embedded store');
  });

  for (const [variable, value] of [
    ['MONGODB_URI', 'mongodb://db/x'],
    ['REDIS_URL', 'redis://cache:6379'],
  ] as const) {
    it(`requires SECRET_KEY with ${variable}, naming it`, () => {
      assert.throws(
        () => loadConfig({ NODE_ENV: 'test', [variable]: value }),
        (error: unknown) =>
          error instanceof ConfigError && error.variable === 'SECRET_KEY' && error.message.includes(variable),
      );
    });
  }

  it('reads trusted issuers with their accepted token types and required scope', () => {
    const [issuer] = loadConfig({
      TRUSTED_ISSUERS: JSON.stringify([
        { issuer: 'https://idp', jwks_uri: 'https://idp/jwks', audience: 'tw', required_scope: 'tokens' },
      ]),
    }).trustedIssuers;
    assert.deepEqual(issuer?.tokenTypes, ['at+jwt']);
    assert.equal(issuer?.requiredScope, 'tokens');
    const [lenient] = loadConfig({
      TRUSTED_ISSUERS: JSON.stringify([
        {
          issuer: 'https://idp',
          jwks_uri: 'https://idp/jwks',
          audience: 'tw',
          token_types: ['application/at+jwt', 'JWT'],
        },
      ]),
    }).trustedIssuers;
    assert.deepEqual(lenient?.tokenTypes, ['at+jwt', 'jwt']);
  });

  it('reads a Redis Cluster and a Sentinel setup, with their credentials', () => {
    const cluster = loadConfig({
      SECRET_KEY: 'k'.repeat(40),
      REDIS_CLUSTER_NODES: 'cache-1:7000, 10.0.0.2:7001,[::1]:7002',
      REDIS_USERNAME: 'tokenwarden',
      REDIS_PASSWORD: 'secret',
    });
    assert.deepEqual(cluster.redis, {
      topology: {
        kind: 'cluster',
        nodes: [
          { host: 'cache-1', port: 7000 },
          { host: '10.0.0.2', port: 7001 },
          { host: '::1', port: 7002 },
        ],
        username: 'tokenwarden',
        password: 'secret',
      },
      commandTimeoutMs: 250,
    });
    const sentinel = loadConfig({
      SECRET_KEY: 'k'.repeat(40),
      REDIS_SENTINELS: 's1:26379,s2:26379,s3:26379',
      REDIS_SENTINEL_MASTER: 'tokenwarden',
      REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
    });
    assert.deepEqual(sentinel.redis?.topology, {
      kind: 'sentinel',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
        { host: 's3', port: 26379 },
      ],
      masterName: 'tokenwarden',
      username: null,
      password: null,
      sentinelPassword: 'sentinel-secret',
    });
  });

  const bad: Array<[Record<string, string>, string]> = [
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ HEAP_GROWTH_PERCENT: '-1' }, 'HEAP_GROWTH_PERCENT'],
    [{ HEAP_GROWTH_PERCENT: 'lots' }, 'HEAP_GROWTH_PERCENT'],
    [{ ISSUER: 'ftp://x' }, 'ISSUER'],
    [{ MONGODB_URI: 'postgres://x' }, 'MONGODB_URI'],
    [{ REDIS_URL: 'localhost:6379' }, 'REDIS_URL'],
    [{ TOKEN_PREFIX: 'Has_Underscore' }, 'TOKEN_PREFIX'],
    [{ CACHE_TTL_SECONDS: '0' }, 'CACHE_TTL_SECONDS'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ ADMIN_CLIENT_SECRET: 'short' }, 'ADMIN_CLIENT_SECRET'],
    [{ JWKS: 'not json' }, 'JWKS'],
    [{ JWKS: '{"keys":[{"kty":"EC"}]}' }, 'JWKS'],
    [{ COOKIE_KEYS: 'short' }, 'COOKIE_KEYS'],
    [{ SECRET_KEY: 'short' }, 'SECRET_KEY'],
    [{ TRUST_PROXY: 'yes please' }, 'TRUST_PROXY'],
    [{ TRUST_PROXY: '11' }, 'TRUST_PROXY'],
    [{ PAT_CLIENT_ID: 'same', ADMIN_CLIENT_ID: 'same' }, 'PAT_CLIENT_ID'],
    [{ REDIS_CLUSTER_NODES: 'a:7000,b' }, 'REDIS_CLUSTER_NODES'],
    [{ REDIS_CLUSTER_NODES: 'a:0' }, 'REDIS_CLUSTER_NODES'],
    [{ REDIS_CLUSTER_NODES: 'redis://a:7000' }, 'REDIS_CLUSTER_NODES'],
    [{ REDIS_URL: 'redis://a:6379', REDIS_CLUSTER_NODES: 'a:7000' }, 'REDIS_CLUSTER_NODES'],
    [{ REDIS_CLUSTER_NODES: 'a:7000', REDIS_SENTINELS: 's:26379' }, 'REDIS_SENTINELS'],
    [{ REDIS_SENTINELS: 's:26379' }, 'REDIS_SENTINEL_MASTER'],
    [{ REDIS_SENTINELS: 's:99999', REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINELS'],
    [{ REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINEL_MASTER'],
    [{ REDIS_CLUSTER_NODES: 'a:7000', REDIS_SENTINEL_PASSWORD: 'p' }, 'REDIS_SENTINEL_PASSWORD'],
    [{ REDIS_URL: 'redis://a:6379', REDIS_PASSWORD: 'p' }, 'REDIS_PASSWORD'],
    [{ REDIS_USERNAME: 'u' }, 'REDIS_USERNAME'],
    [{ EVENTS_ALLOWED_NETWORKS: '10.0.0.0/8,intranet' }, 'EVENTS_ALLOWED_NETWORKS'],
    [{ SSF_MAX_STREAMS_PER_CLIENT: '0' }, 'SSF_MAX_STREAMS_PER_CLIENT'],
  ];
  for (const [env, variable] of bad) {
    it(`stops on a bad ${variable}, naming it`, () => {
      assert.throws(
        () => loadConfig(env),
        (error: unknown) =>
          error instanceof ConfigError && error.variable === variable && error.message.startsWith(`${variable}: `),
      );
    });
  }

  for (const missing of ['MONGODB_URI', 'ADMIN_CLIENT_SECRET', 'SECRET_KEY']) {
    it(`requires ${missing} in production`, () => {
      const env: Record<string, string> = { ...production };
      delete env[missing];
      assert.throws(
        () => loadConfig(env),
        (error: unknown) => error instanceof ConfigError && error.variable === missing,
      );
    });
  }
});

describe('the configuration table of docs/reference.md', () => {
  const cells = (table: string) =>
    table
      .split('\n')
      .filter((line) => line.startsWith('|') && !/^\|[\s|-]+\|$/.test(line))
      .map((line) =>
        line
          .split('|')
          .slice(1, -1)
          .map((cell) => cell.trim()),
      );

  it('is the table generated from config/variables.ts (npm run docs:config)', () => {
    const text = readFileSync(new URL('../docs/reference.md', import.meta.url), 'utf8');
    const start = text.indexOf('<!-- config-table:start');
    const end = text.indexOf('<!-- config-table:end -->');
    assert.ok(start !== -1 && end > start, 'docs/reference.md has the generated block');
    assert.deepEqual(cells(text.slice(start, end)), cells(configurationTable()));
  });

  it('is the only copy: the README links to it instead of carrying one', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    assert.ok(!readme.includes('config-table:start'), 'README.md carries a configuration table');
    assert.match(readme, /docs\/reference\.md#configuration/);
  });

  it('documents every variable the configuration reads, and only those', () => {
    const source = readFileSync(new URL('../config/index.ts', import.meta.url), 'utf8');
    const parsers = readFileSync(new URL('../config/parsers.ts', import.meta.url), 'utf8');
    const read = new Set([...`${source}\n${parsers}`.matchAll(/\bp\.([A-Z][A-Z0-9_]+)/g)].map((m) => m[1]!));
    const documented = new Set(Object.keys(VARIABLES));
    for (const name of read) assert.ok(documented.has(name), `${name} is read but not in VARIABLES`);
    for (const name of documented) assert.ok(read.has(name), `${name} is documented but never read`);
  });

  describe('the development seed (DEV_SEED)', () => {
    it('fixes the admin secret, listens on loopback by default, and is off unless asked for', () => {
      assert.equal(loadConfig({}).devSeed, null);
      assert.equal(loadConfig({}).host, '0.0.0.0');
      const seeded = loadConfig({ DEV_SEED: 'true' });
      assert.equal(seeded.devSeed, DEV_SEED);
      assert.equal(seeded.adminClient.clientSecret, DEV_SEED.adminClientSecret);
      assert.equal(seeded.adminClient.generatedSecret, false);
      assert.equal(seeded.host, '127.0.0.1');
      assert.equal(loadConfig({ DEV_SEED: 'true', HOST: '0.0.0.0' }).host, '0.0.0.0');
    });

    it('has secrets that say they are for development, long enough for a client secret', () => {
      for (const secret of [DEV_SEED.adminClientSecret, DEV_SEED.resourceServer.clientSecret]) {
        assert.match(secret, /^dev-seed-.*not-for-production$/);
        assert.ok(secret.length >= 32);
      }
    });

    for (const [env, message] of [
      [{ NODE_ENV: 'production', MONGODB_URI: 'mongodb://db/tw' }, /MONGODB_URI is set/],
      [{ NODE_ENV: 'production' }, /refused when NODE_ENV=production/],
      [{ REDIS_CLUSTER_NODES: 'a:1', SECRET_KEY: 'k'.repeat(40) }, /REDIS_CLUSTER_NODES is set/],
      [{ REDIS_SENTINELS: 'a:1', REDIS_SENTINEL_MASTER: 'm', SECRET_KEY: 'k'.repeat(40) }, /REDIS_SENTINELS is set/],
      [{ ADMIN_CLIENT_SECRET: 's'.repeat(40) }, /unset ADMIN_CLIENT_SECRET/],
    ] as const) {
      it(`is refused with ${Object.keys(env).join(' and ')}, naming DEV_SEED`, () => {
        assert.throws(
          () => loadConfig({ DEV_SEED: 'true', ...env }),
          (e: unknown) => e instanceof ConfigError && e.variable === 'DEV_SEED' && message.test(e.message),
        );
      });
    }
  });
});

import assert from 'node:assert/strict';

import { ConfigError, loadConfig } from '../config/index.ts';

const production = {
  NODE_ENV: 'production',
  MONGODB_URI: 'mongodb://db.internal:27017/tokenwarden',
  ADMIN_CLIENT_SECRET: 's'.repeat(40),
  JWKS: JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd', kid: 'k1' }] }),
  COOKIE_KEYS: 'c'.repeat(32),
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
    assert.equal(config.jwks.keys.length, 1);
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
    [{ PAT_CLIENT_ID: 'same', ADMIN_CLIENT_ID: 'same' }, 'PAT_CLIENT_ID'],
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

  for (const missing of ['MONGODB_URI', 'ADMIN_CLIENT_SECRET', 'JWKS', 'COOKIE_KEYS']) {
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

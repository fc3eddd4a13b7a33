/**
 * Parsers of the variables whose values are more than a scalar: JSON documents (`JWKS`, `SCOPES`,
 * `TRUSTED_ISSUERS`), key lists (`SECRET_KEY`, `COOKIE_KEYS`), the Redis topology and the console's sign-in. Each
 * throws a {@link ConfigError} naming the variable.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import { z } from 'zod';

import { ConfigError } from './errors.ts';
import type { ConsoleConfig, RedisAddress, RedisTopology, SigningJwk, TrustedIssuer } from './index.ts';
import type { Parsed } from './variables.ts';

const jwkSchema = z.object({ keys: z.array(z.looseObject({ kty: z.string(), d: z.string() })).min(1) });

/** A new ES256 signing key (the embedded store's ephemeral key, and the first stored key on MongoDB). */
export function generateSigningKey(kidPrefix: string): SigningJwk {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' }) as SigningJwk;
  return { ...jwk, alg: 'ES256', use: 'sig', kid: `${kidPrefix}-${randomBytes(6).toString('hex')}` };
}

export function parseJwks(raw: string | undefined, memory: boolean): { keys: SigningJwk[] } | null {
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
export function parseKeyList(variable: string, raw: string): string[] {
  const keys = raw.split(',').map((k) => k.trim());
  if (keys.some((k) => k.length < 32)) {
    throw new ConfigError(variable, 'each comma-separated key must be at least 32 characters');
  }
  return keys;
}

export function parseSecretKeys(raw: string | undefined, required: string | null): string[] {
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

export function parseScopes(raw: string | undefined): Record<string, string> {
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

export function parseTrustedIssuers(raw: string | undefined): TrustedIssuer[] {
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

export function parseConsole(p: Parsed, production: boolean, trustedIssuers: readonly TrustedIssuer[]): ConsoleConfig {
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
export function parseRedis(p: Parsed): RedisTopology | null {
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

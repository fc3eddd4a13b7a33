/**
 * What the interop suite runs against: Tokenwarden as its own process (`node --import tsx server/index.ts`) on the
 * harness's Redis and MongoDB-compatible server, behind Apache mod_ssl with a throwaway CA, with
 * `ISSUER=https://127.0.0.1:<proxy port>` and `TRUST_PROXY=1`; and Apache's mod_auth_openidc resource server
 * configured as docs/protect-your-api.md says. Set-up calls (users, PATs, revocations) go straight to Tokenwarden's HTTP port;
 * everything a resource server does goes through the https front.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createPatFormat } from '../../server/services/pat-format.ts';
import { bootstrap, tokenwardenProcess, type Api, type TokenwardenProcess } from '../../scripts/lib/load.ts';
import { basic } from '../support/app.ts';
import { services } from '../support/hooks.ts';
import { freePort } from '../../scripts/lib/services.ts';
import { apacheInstalled, startApache, type ApacheProcess } from './apache.ts';
import { createTestCa, type TestCa } from './tls.ts';

/** The scope catalogue Tokenwarden runs with here (`repo:read` shows that `read` is matched as a whole word). */
export const INTEROP_SCOPES = { read: 'Read access', write: 'Write access', 'repo:read': 'Read repositories' };

export interface Credentials {
  readonly clientId: string;
  readonly clientSecret: string;
}

export interface InteropStack {
  /** Tokenwarden's issuer: the https front. */
  readonly issuer: string;
  readonly ca: TestCa;
  /** The client the resource servers introspect with (client_secret_basic). */
  readonly rs: Credentials;
  readonly apache: ApacheProcess;
  readonly tokenwarden: TokenwardenProcess;
  /** A scratch directory for this run (removed at the end). */
  readonly dir: string;
  readonly admin: Api['admin'];
  /** Tokenwarden's own answer for `token` (asked directly, as the resource server's client). */
  readonly introspect: (token: string) => Promise<Record<string, unknown>>;
  readonly createUser: () => Promise<string>;
  readonly createPat: (userId: string, scopes: string[]) => Promise<{ id: string; token: string }>;
  /** RFC 7009 revocation, by the resource server's client. */
  readonly revoke: (token: string) => Promise<void>;
  /** A client registered through the admin API, and an access token it got with client_credentials. */
  readonly clientCredentialsToken: () => Promise<{ clientId: string; token: string }>;
  /** A well-formed PAT value (valid checksum) that was never issued: it reaches the store, and is not found. */
  readonly unknownPat: () => string;
  readonly stop: () => Promise<void>;
}

async function expectStatus(
  what: string,
  expected: number,
  res: Promise<{ status: number; body: Record<string, unknown> }>,
) {
  const { status, body } = await res;
  if (status !== expected) throw new Error(`${what}: ${status} ${JSON.stringify(body)}`);
  return body;
}

/** Starts everything. Needs the root hooks' services (Redis, MongoDB-compatible) to be running. */
export async function startStack(): Promise<InteropStack> {
  if (!apacheInstalled()) {
    throw new Error(
      'Apache with mod_auth_openidc is not installed: apt-get install apache2-bin libapache2-mod-auth-openidc',
    );
  }
  const { redis, mongo } = services();
  const dir = mkdtempSync(join(tmpdir(), 'tokenwarden-interop-'));
  const stoppers: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stoppers.reverse()) await s().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ca = createTestCa(dir);
    const [twPort, proxyPort, resourcePort] = [await freePort(), await freePort(), await freePort()];
    const issuer = `https://127.0.0.1:${proxyPort}`;
    const tokenwarden = tokenwardenProcess({
      PORT: String(twPort),
      ISSUER: issuer,
      TRUST_PROXY: '1',
      MONGODB_URI: `${mongo.url.replace(/\/$/, '')}/tw_interop_${randomBytes(4).toString('hex')}`,
      REDIS_URL: redis.url,
      SCOPES: JSON.stringify(INTEROP_SCOPES),
    });
    stoppers.push(async () => {
      await tokenwarden.signal('SIGTERM');
    });
    await tokenwarden.start();
    const api = await bootstrap(tokenwarden, 0);
    const apache = await startApache({
      dir,
      ca,
      tokenwardenPort: twPort,
      proxyPort,
      resourcePort,
      issuer,
      client: api.rs,
    });
    stoppers.push(() => apache.stop());

    const format = createPatFormat('pat');
    return {
      issuer,
      ca,
      rs: api.rs,
      apache,
      tokenwarden,
      dir,
      admin: (method, path, body) => api.admin(method, path, body),
      introspect: async (token) => {
        const res = await api.introspect(token);
        if (res.status !== 200) throw new Error(`introspect: ${res.status} ${JSON.stringify(res.body)}`);
        return res.body;
      },
      createUser: async () => {
        const body = await expectStatus(
          'create user',
          201,
          api.admin('POST', '/api/users', { username: `interop-${randomBytes(4).toString('hex')}` }),
        );
        return String(body.id);
      },
      createPat: async (userId, scopes) => {
        const body = await expectStatus(
          'create PAT',
          201,
          api.admin('POST', `/api/users/${userId}/tokens`, {
            name: `interop ${randomBytes(4).toString('hex')}`,
            scopes,
          }),
        );
        return { id: String(body.id), token: String(body.token) };
      },
      revoke: async (token) => {
        const res = await fetch(`${tokenwarden.url}/revoke`, {
          method: 'POST',
          headers: { Authorization: basic(api.rs), 'Content-Type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ token }).toString(),
        });
        if (res.status !== 200) throw new Error(`revoke: ${res.status} ${await res.text()}`);
      },
      clientCredentialsToken: async () => {
        const body = await expectStatus(
          'register client',
          201,
          api.admin('POST', '/api/clients', { client_name: `interop caller ${randomBytes(3).toString('hex')}` }),
        );
        const client = { clientId: String(body.client_id), clientSecret: String(body.client_secret) };
        const res = await fetch(`${tokenwarden.url}/token`, {
          method: 'POST',
          headers: { Authorization: basic(client), 'Content-Type': 'application/x-www-form-urlencoded' },
          body: 'grant_type=client_credentials',
        });
        const json = (await res.json()) as Record<string, unknown>;
        if (res.status !== 200) throw new Error(`client_credentials: ${res.status} ${JSON.stringify(json)}`);
        return { clientId: client.clientId, token: String(json.access_token) };
      },
      unknownPat: () => format.generate(),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

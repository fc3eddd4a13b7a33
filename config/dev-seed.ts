/**
 * The development seed (`npm start -- --seed`, or `DEV_SEED=true`): fixed credentials for the embedded in-memory
 * mode, so that a developer's resource server, scripts and the guides' examples keep working across restarts of
 * `npm start`.
 *
 * They are constants rather than random values kept in a file: the same on every machine and after a fresh clone,
 * nothing to read back, and the guides can print them. Being public, they are safe only where nothing real is:
 * `loadConfig` refuses the seed with `NODE_ENV=production`, with MongoDB and with Redis, and the seeded server
 * listens on loopback unless `HOST` says otherwise. Every secret says what it is, so one found in a real
 * configuration is recognised at a glance.
 */

/** What the seed creates (the admin client's id stays `ADMIN_CLIENT_ID`). */
export interface DevSeed {
  /** The admin client's secret. */
  readonly adminClientSecret: string;
  /** A resource server's client (`client_secret_basic`), registered at start-up. */
  readonly resourceServer: {
    readonly clientId: string;
    readonly clientSecret: string;
    readonly name: string;
    /** The API it serves (RFC 8707): PATs bound to it introspect active for this client only. */
    readonly resources: readonly string[];
  };
  /** A user, created at start-up. */
  readonly user: { readonly id: string; readonly username: string };
}

/** The seed's values. Public: never use them anywhere but a development machine. */
export const DEV_SEED: DevSeed = Object.freeze({
  adminClientSecret: 'dev-seed-admin-secret-not-for-production',
  resourceServer: Object.freeze({
    clientId: 'demo-resource-server',
    clientSecret: 'dev-seed-resource-server-secret-not-for-production',
    name: 'demo resource server (development seed)',
    resources: Object.freeze(['https://orders.example.com']),
  }),
  user: Object.freeze({ id: 'demo', username: 'demo' }),
});

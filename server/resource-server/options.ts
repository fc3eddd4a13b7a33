/**
 * The options of `createResourceServer`, their documented defaults, and their validation (once, at construction,
 * naming the bad option). Durations are in milliseconds, except `retryAfter` and `clockTolerance` (seconds, the
 * units of `Retry-After` and of JWT times).
 */
import { checkClientAuth, usableUrl, type ClientAuthOptions } from './authorization-server.ts';
import { checkRealm } from './bearer.ts';
import { OptionsError, type ResourceServerError } from './errors.ts';
import type { SubscriptionOptions } from './events/subscription.ts';

/** Revocation events: an SSF stream at Tokenwarden, polled (default) or pushed to an endpoint of this API. */
export type EventOptions =
  | {
      readonly delivery?: 'poll';
      /** Time between polls (500). A revocation reaches the cache within about this long. */
      readonly pollInterval?: number;
      /** The subscription counts as live while its last complete poll started at most this long ago (2000). */
      readonly maxLag?: number;
    }
  | {
      readonly delivery: 'push';
      /** The public URL where this API serves `pushListener` / the adapters' `receiveEvents` (https). */
      readonly endpointUrl: string;
      /** Time between SSF verification requests, the subscription's heartbeat (10000). */
      readonly verifyInterval?: number;
      /** Live while a verification requested at most this long ago has arrived (30000). */
      readonly maxLag?: number;
    };

/** Everything `createResourceServer` accepts. */
export interface ResourceServerOptions extends ClientAuthOptions {
  /** Tokenwarden's issuer URL (its `ISSUER`): metadata at `{issuer}/.well-known/oauth-authorization-server`. */
  readonly issuer: string;
  /**
   * This API's resource identifier (RFC 8707), e.g. `https://api.example.com`. Tokens bound to another resource
   * are refused; JWT access tokens are accepted only with it (their `aud` must be it). Default: none.
   */
  readonly resource?: string;
  /** With `resource`: refuse tokens bound to no resource at all too (false: unbound PATs are accepted). */
  readonly requireResource?: boolean;
  /** The `realm` of `WWW-Authenticate` challenges (default: none). */
  readonly realm?: string;
  /** Verify `typ: at+jwt` access tokens locally against `jwks_uri` instead of introspecting them (true). */
  readonly jwt?: boolean;
  /** The answer cache, or `false` for none (every request introspects). */
  readonly cache?:
    | false
    | {
        /** Entries at most (10000). */
        readonly max?: number;
        /** Longest time an answer is kept at all, even with the subscription live (300000). */
        readonly ttl?: number;
        /** How long an answer may be served while the subscription is not live (5000; 0: not at all). */
        readonly fallbackTtl?: number;
      };
  /** Revocation events (default: poll), or `false` for none (the cache then keeps answers `fallbackTtl`). */
  readonly events?: false | EventOptions;
  /** Timeout of each request to Tokenwarden (5000). */
  readonly timeout?: number;
  /** `Retry-After` of a 503 when Tokenwarden gave none, in seconds (5). */
  readonly retryAfter?: number;
  /** Tolerance on `exp` and `nbf`, in seconds (0). */
  readonly clockTolerance?: number;
  /** The clock, in milliseconds since the epoch (Date.now). */
  readonly clock?: () => number;
  /**
   * Told of every failure: Tokenwarden unreachable, a refused client secret, the subscription going down, a
   * refused security event. Default: one line on stderr at most every 10 s. Never given a token.
   */
  readonly onError?: (error: ResourceServerError | Error) => void;
}

/** The options, checked and with their defaults. */
export interface Settings {
  readonly issuer: string;
  readonly client: ClientAuthOptions;
  readonly resource: string | undefined;
  readonly requireResource: boolean;
  readonly realm: string | undefined;
  readonly jwt: boolean;
  readonly cache: { readonly max: number; readonly ttl: number; readonly fallbackTtl: number } | undefined;
  readonly events: SubscriptionOptions | undefined;
  readonly timeout: number;
  readonly retryAfter: number;
  readonly clockTolerance: number;
  readonly clock: () => number;
  readonly onError: (error: Error) => void;
}

function duration(option: string, value: number | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min)
    throw new OptionsError(option, `must be a number ≥ ${min}`);
  return value;
}

function events(options: ResourceServerOptions['events']): SubscriptionOptions | undefined {
  if (options === false) return undefined;
  const given = options ?? {};
  if (given.delivery === 'push') {
    if (typeof given.endpointUrl !== 'string') throw new OptionsError('events.endpointUrl', 'is required for push');
    usableUrl(given.endpointUrl, 'events.endpointUrl');
    const verifyInterval = duration('events.verifyInterval', given.verifyInterval, 10_000, 1000);
    const maxLag = duration('events.maxLag', given.maxLag, 3 * verifyInterval, 1);
    if (maxLag <= verifyInterval) throw new OptionsError('events.maxLag', 'must exceed events.verifyInterval');
    return { delivery: 'push', endpointUrl: given.endpointUrl, verifyInterval, maxLag };
  }
  if (given.delivery !== undefined && given.delivery !== 'poll')
    throw new OptionsError('events.delivery', 'must be "poll" or "push"');
  const interval = duration('events.pollInterval', given.pollInterval, 500, 50);
  const maxLag = duration('events.maxLag', given.maxLag, Math.max(2000, 4 * interval), 1);
  if (maxLag <= interval) throw new OptionsError('events.maxLag', 'must exceed events.pollInterval');
  return { delivery: 'poll', interval, maxLag, maxEvents: 100 };
}

/** One line on stderr at most every 10 s: enough to notice, not enough to flood. */
function stderrReporter(): (error: Error) => void {
  let last = -Infinity;
  return (error) => {
    const now = Date.now();
    if (now - last < 10_000) return;
    last = now;
    process.stderr.write(`tokenwarden/resource-server: ${error.message}\n`);
  };
}

/** A reporter that cannot break the caller: what the application's `onError` throws is dropped. */
function safely(report: (error: Error) => void): (error: Error) => void {
  return (error) => {
    try {
      report(error);
    } catch {
      // Reporting must never turn a refusal into a crash, nor stop the subscription.
    }
  };
}

/** Checks the options and fills in the defaults; throws {@link OptionsError} naming the first bad one. */
export function settings(options: ResourceServerOptions): Settings {
  if (typeof options !== 'object' || options === null) throw new OptionsError('options', 'must be an object');
  if (typeof options.issuer !== 'string') throw new OptionsError('issuer', 'is required');
  usableUrl(options.issuer, 'issuer');
  checkClientAuth(options);
  if (options.resource !== undefined && (typeof options.resource !== 'string' || options.resource === ''))
    throw new OptionsError('resource', 'must be a non-empty string (an absolute URI, RFC 8707)');
  if (options.requireResource && options.resource === undefined)
    throw new OptionsError('requireResource', 'needs resource');
  const cache =
    options.cache === false
      ? undefined
      : {
          max: duration('cache.max', options.cache?.max, 10_000, 1),
          ttl: duration('cache.ttl', options.cache?.ttl, 300_000),
          fallbackTtl: duration('cache.fallbackTtl', options.cache?.fallbackTtl, 5000),
        };
  return {
    issuer: options.issuer,
    client: {
      clientId: options.clientId,
      ...(options.clientSecret !== undefined ? { clientSecret: options.clientSecret } : {}),
      ...(options.clientAuthMethod !== undefined ? { clientAuthMethod: options.clientAuthMethod } : {}),
      ...(options.privateKey !== undefined ? { privateKey: options.privateKey } : {}),
      ...(options.keyId !== undefined ? { keyId: options.keyId } : {}),
    },
    resource: options.resource,
    requireResource: options.requireResource === true,
    realm: checkRealm(options.realm),
    jwt: options.jwt !== false,
    cache,
    events: cache === undefined ? undefined : events(options.events),
    timeout: duration('timeout', options.timeout, 5000, 1),
    retryAfter: Math.ceil(duration('retryAfter', options.retryAfter, 5)),
    clockTolerance: duration('clockTolerance', options.clockTolerance, 0),
    clock: options.clock ?? Date.now,
    onError: safely(options.onError ?? stderrReporter()),
  };
}

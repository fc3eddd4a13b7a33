/**
 * The framework-agnostic core: `createResourceServer(options)` returns an object that turns an `Authorization`
 * header and the scopes a route requires into a verdict — the token, or an RFC 6750 refusal — and keeps the
 * cache and the revocation-event subscription that make that cheap and safe.
 *
 * The steps of a check, each a small function: read the bearer token (RFC 6750 §2.1); look its digest up in the
 * cache; otherwise verify it locally if it is a JWT access token (RFC 9068), else introspect it (RFC 7662), one
 * request per token however many arrive at once; check the answer (`active`, `iss`, `exp`, `aud`); cache it; check
 * the route's scopes. Anything that prevents an answer is a 503 with `Retry-After`, never an admission.
 */
import { hash } from 'node:crypto';

import { createAuthorizationServerClient } from './authorization-server.ts';
import { parseAuthorization, renderRejection, unavailable, type HttpAnswer, type Rejection } from './bearer.ts';
import { createTokenCache, type Coverage, type TokenCache } from './cache.ts';
import { fromIntrospection, isRejection, missingScope, type AccessToken, type ClaimRules } from './claims.ts';
import { UnavailableError } from './errors.ts';
import {
  createSubscription,
  type PushRequest,
  type Subscription,
  type SubscriptionState,
} from './events/subscription.ts';
import { createKeySets, isJwtAccessToken, verifyJwtAccessToken } from './jwt.ts';
import { settings, type ResourceServerOptions } from './options.ts';

/** The outcome of a check: the token, or the refusal to answer with. */
export type Verdict =
  { readonly ok: true; readonly token: AccessToken } | { readonly ok: false; readonly rejection: Rejection };

/** What `status()` reports, e.g. for a readiness probe. */
export interface ResourceServerStatus {
  /** `off` without events; otherwise the subscription's state. */
  readonly subscription: SubscriptionState | 'off';
  /** Whether cached answers are served beyond `fallbackTtl` right now (the subscription is live). */
  readonly live: boolean;
  /** Answers in the cache. */
  readonly cached: number;
}

/** A resource server's view of Tokenwarden. */
export interface ResourceServer {
  /** The verdict on an `Authorization` header value for a route requiring `scopes` (all of them). */
  check(authorization: string | readonly string[] | undefined, scopes?: readonly string[]): Promise<Verdict>;
  /** The HTTP answer to a refusal: status, `WWW-Authenticate`, `Retry-After`, JSON body. */
  render(rejection: Rejection): HttpAnswer;
  /** The RFC 8935 push endpoint's answer (with `events.delivery: 'push'`; 404 otherwise). */
  receivePush(request: PushRequest): Promise<HttpAnswer>;
  status(): ResourceServerStatus;
  /** Stops the subscription and deletes its stream. */
  close(): Promise<void>;
}

/** SHA-256 of a token, the cache key: the cache never holds a token. */
const digest = (token: string) => hash('sha256', token, 'base64url');

/** Creates a resource server. Throws `OptionsError` for a bad option; starts the subscription in the background. */
export function createResourceServer(options: ResourceServerOptions): ResourceServer {
  const config = settings(options);
  const { clock } = config;
  const as = createAuthorizationServerClient(config.issuer, config.client, config.timeout, clock);
  const keys = createKeySets(config.timeout);
  const rules: ClaimRules = {
    issuer: config.issuer,
    resource: config.resource,
    requireResource: config.requireResource,
    clockTolerance: config.clockTolerance,
  };

  let subscription: Subscription | undefined;
  const coverage: Coverage = {
    coveredUntil: () => (subscription === undefined ? -Infinity : subscription.coveredUntil()),
    maxLag: config.events?.maxLag ?? 0,
  };
  const cache: TokenCache | undefined = config.cache && createTokenCache(config.cache, coverage, clock);
  if (cache && config.events) {
    subscription = createSubscription(
      { as, clientId: config.client.clientId, cache, keys, clock, report: config.onError },
      config.events,
    );
  }
  const inflight = new Map<string, Promise<AccessToken | Rejection>>();

  const retryAfter = (error: unknown) =>
    error instanceof UnavailableError && error.retryAfter !== undefined ? error.retryAfter : config.retryAfter;

  /** Verifies or introspects a token not in the cache, and caches what is admitted. */
  async function resolve(token: string, key: string): Promise<AccessToken | Rejection> {
    const started = clock();
    const epoch = cache?.epoch() ?? 0;
    try {
      if (config.jwt && isJwtAccessToken(token)) {
        const jwksUri = (await as.metadata()).jwks_uri;
        if (jwksUri === undefined || (!as.insecure && !jwksUri.startsWith('https:')))
          throw new UnavailableError('the authorization server metadata has no https jwks_uri');
        const verified = await verifyJwtAccessToken(token, keys(jwksUri), rules, clock());
        if (!isRejection(verified)) cache?.set(key, verified, started, epoch, true);
        return verified;
      }
      const answer = fromIntrospection(await as.introspect(token), rules, clock());
      if (!isRejection(answer)) cache?.set(key, answer, started, epoch, false);
      return answer;
    } catch (error) {
      config.onError(error as Error);
      return unavailable(retryAfter(error));
    }
  }

  /** One resolution per token at a time: concurrent requests with the same token share it. */
  function lookup(token: string, key: string): Promise<AccessToken | Rejection> {
    let pending = inflight.get(key);
    if (pending === undefined) {
      pending = resolve(token, key).finally(() => inflight.delete(key));
      inflight.set(key, pending);
    }
    return pending;
  }

  const verdict = (result: AccessToken | Rejection, scopes: readonly string[]): Verdict => {
    if (isRejection(result)) return { ok: false, rejection: result };
    const missing = missingScope(result, scopes);
    return missing ? { ok: false, rejection: missing } : { ok: true, token: result };
  };

  return {
    async check(authorization, scopes = []) {
      const token = parseAuthorization(authorization);
      if (typeof token !== 'string') return { ok: false, rejection: token };
      const key = digest(token);
      const cached = cache?.get(key);
      return verdict(cached ?? (await lookup(token, key)), scopes);
    },
    render: (rejection) => renderRejection(rejection, config.realm),
    receivePush: (request) =>
      subscription
        ? subscription.receivePush(request)
        : Promise.resolve({ status: 404, headers: {}, body: '' } satisfies HttpAnswer),
    status: () => ({
      subscription: subscription?.state() ?? 'off',
      live: cache?.live() ?? false,
      cached: cache?.size ?? 0,
    }),
    close: async () => subscription?.close(),
  };
}

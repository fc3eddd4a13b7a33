/**
 * Failed client authentications at `/token`, `/introspect` and `/revoke`, counted per (client id, address) with a
 * growing back-off, and per address. Security invariant: **a correct secret is never throttled.** The throttle only
 * ever turns a *failed* authentication (401 `invalid_client`) into 429 with `Retry-After`; a request whose secret is
 * right goes through whatever anyone else did, from any address, so nobody who merely knows a client id (they are
 * not secret) can lock that client out. Guessing is defeated by the secrets themselves (256 random bits for the
 * ones Tokenwarden issues); the throttle makes a guessing client wait and keeps its noise bounded.
 *
 * Both transports (the fast path and oidc-provider) leave every failed authentication to oidc-provider, so this
 * one middleware sees them all, with the one address function.
 */
import type { Context, Middleware } from 'koa';
import { LRUCache } from 'lru-cache';

import { TooManyRequests } from '../errors.ts';
import { renderError } from '../http/errors.ts';
import type { Clock } from '../services/clock.ts';
import type { AddressOf } from './address.ts';

export interface AuthThrottleOptions {
  /** Failures per minute for one client id from one address before its back-off starts. */
  readonly perClientAndAddress: number;
  /** Failures per minute from one address, whatever the client id. */
  readonly perAddress: number;
  readonly clock: Clock;
  /** Longest back-off, in seconds (default 900). */
  readonly maxBackoffSeconds?: number;
  /** After this long without a failure, a client and address start over (default 900 s). */
  readonly quietSeconds?: number;
}

/** The throttle's decisions, without HTTP (unit-tested with an injected clock). */
export interface AuthThrottle {
  /** Records a failed authentication; returns the seconds to wait when the caller is now throttled, else 0. */
  failed(clientId: string | null, address: string): number;
  /** Records a successful authentication: that client's back-off from that address is forgotten. */
  succeeded(clientId: string, address: string): void;
}

const WINDOW_MS = 60_000;

interface PairState {
  lastFailure: number;
  windowStart: number;
  failures: number;
  /** How many back-offs in a row: the next one lasts 2^strikes seconds. */
  strikes: number;
  blockedUntil: number;
}

/** Creates the throttle. State is per instance, bounded by lru-cache. */
export function createAuthThrottle(opts: AuthThrottleOptions): AuthThrottle {
  const maxBackoffMs = (opts.maxBackoffSeconds ?? 900) * 1000;
  const quietMs = (opts.quietSeconds ?? 900) * 1000;
  const pairs = new LRUCache<string, PairState>({ max: 100_000 });
  const addresses = new LRUCache<string, { windowStart: number; failures: number }>({ max: 100_000 });
  const now = () => opts.clock.nowMs();
  const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

  function pairWait(key: string, t: number): number {
    let state = pairs.get(key);
    if (!state || t - state.lastFailure >= quietMs) {
      state = { lastFailure: t, windowStart: t, failures: 0, strikes: 0, blockedUntil: 0 };
      pairs.set(key, state);
    }
    state.lastFailure = t;
    if (t < state.blockedUntil) return state.blockedUntil - t;
    if (t - state.windowStart >= WINDOW_MS) {
      state.windowStart = t;
      state.failures = 0;
    }
    state.failures++;
    if (state.failures <= opts.perClientAndAddress) return 0;
    state.blockedUntil = t + Math.min(1000 * 2 ** state.strikes, maxBackoffMs);
    state.strikes++;
    state.failures = 0;
    state.windowStart = t;
    return state.blockedUntil - t;
  }

  function addressWait(address: string, t: number): number {
    let state = addresses.get(address);
    if (!state || t - state.windowStart >= WINDOW_MS) {
      state = { windowStart: t, failures: 0 };
      addresses.set(address, state);
    }
    state.failures++;
    return state.failures > opts.perAddress ? state.windowStart + WINDOW_MS - t : 0;
  }

  return {
    failed(clientId, address) {
      const t = now();
      const byAddress = addressWait(address, t);
      const byPair = clientId === null ? 0 : pairWait(`${clientId}\u0000${address}`, t);
      const wait = Math.max(byAddress, byPair);
      return wait > 0 ? seconds(wait) : 0;
    },
    succeeded(clientId, address) {
      pairs.delete(`${clientId}\u0000${address}`);
    },
  };
}

const GUARDED = new Set(['/token', '/introspect', '/revoke']);

/** The client id a request presented, as oidc-provider read it (Basic header or body), if any. */
function presentedClientId(ctx: Context): string | null {
  const oidc = (ctx as Context & { oidc?: { client?: { clientId: string }; params?: { client_id?: unknown } } }).oidc;
  const fromParams = oidc?.params?.client_id;
  if (typeof fromParams === 'string' && fromParams !== '') return fromParams;
  if (oidc?.client?.clientId) return oidc.client.clientId;
  const header = ctx.get('Authorization');
  const match = /^basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header);
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return null;
  try {
    return decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, '%20'));
  } catch {
    return null;
  }
}

/**
 * Koa middleware around oidc-provider's client-authenticated endpoints: after a failed authentication, the
 * throttle decides whether the answer becomes 429; after a successful one, that client's back-off is forgotten.
 */
export function throttleFailedClientAuth(throttle: AuthThrottle, addressOf: AddressOf): Middleware {
  return async function throttleFailedAuth(ctx, next) {
    if (ctx.method !== 'POST' || !GUARDED.has(ctx.path)) {
      await next();
      return;
    }
    await next();
    const address = addressOf(ctx.req);
    const body = ctx.body as { error?: unknown } | undefined;
    if (ctx.status === 401 && body?.error === 'invalid_client') {
      const wait = throttle.failed(presentedClientId(ctx), address);
      if (wait === 0) return;
      ctx.remove('WWW-Authenticate');
      renderError(ctx, new TooManyRequests(wait, 'failed client authentications'));
      return;
    }
    const client = (ctx as Context & { oidc?: { client?: { clientId: string } } }).oidc?.client;
    if (client && ctx.status < 400) throttle.succeeded(client.clientId, address);
  };
}

/**
 * Introspection's lookup, shared by both transports: what is the token a client presents, and may that client see
 * it? A PAT-shaped value is the PAT service's (checksum first, then the in-process, Redis and MongoDB layers); a JWT
 * may be an access token from token exchange (verified against our keys, then its PAT's current state); anything
 * else is an OAuth access token of oidc-provider's (through the same caches, `pats/oauth-lookup.ts`), or nothing. Every introspection of a PAT (or of a token exchanged
 * from one) that the client may see is a use of it (`last_used_at`, and by which client).
 *
 * **Resource binding** (RFC 8707): a PAT bound to a resource, and every exchanged token (bound to its `aud`), is
 * active only for a client that serves that resource (the `resources` of its registration); any other client is
 * answered `{"active":false}`, and the audit log records the attempt (`token.resource_mismatch`, at most one event per
 * token and client a minute). An unbound PAT answers every client. The rule needs no I/O: the client's served
 * resources come with its metadata, which authentication has just read (from memory when it is cached).
 */
import { LRUCache } from 'lru-cache';

import type { Actor, AuditService } from '../services/audit.ts';
import type { Clock } from '../services/clock.ts';
import type { PatFormat } from '../services/pat-format.ts';
import type { OAuthLookup } from '../pats/oauth-lookup.ts';
import type { LivePat, OAuthToken, PatService, TokenUse } from '../pats/types.ts';
import type { ExchangedToken, TokenExchange } from '../services/token-exchange.ts';
import type { ActiveSubject } from './render.ts';

/**
 * The authenticated client that introspects: its id and the resources it serves. Built once per client metadata
 * ({@link introspectionClientOf}), so the rule costs a set lookup.
 */
export interface IntrospectionClient {
  readonly clientId: string;
  readonly resources: ReadonlySet<string>;
}

/** The introspecting client for a client id and its metadata's `resources` (anything but a list of strings: none). */
export function introspectionClientOf(clientId: string, resources: unknown): IntrospectionClient {
  const served = Array.isArray(resources) ? resources.filter((r): r is string => typeof r === 'string') : [];
  return { clientId, resources: new Set(served) };
}

export interface Introspector {
  /** The active subject behind `token`, asked by an authenticated client, or null. Rejects on storage outage. */
  introspect(token: string, client: IntrospectionClient): Promise<ActiveSubject | null>;
  /**
   * The same answer when it needs no I/O (a malformed PAT, or a PAT or OAuth token in the in-process layer);
   * undefined when it does, or for exchanged tokens. Lets the fast path stay synchronous.
   */
  introspectCached(token: string, client: IntrospectionClient): ActiveSubject | null | undefined;
}

export interface IntrospectorDeps {
  readonly pats: PatService;
  readonly format: PatFormat;
  /** oidc-provider's OAuth access tokens, behind the token caches. */
  readonly oauth: OAuthLookup;
  /** Access tokens from token exchange. */
  readonly exchange: Pick<TokenExchange, 'verify' | 'subjectOf'>;
  /** Records refused introspections of bound tokens. */
  readonly audit: AuditService;
  readonly clock: Clock;
}

/** A compact JWS (an exchanged token is verified, never cached): oidc-provider's opaque values have no dots. */
const looksLikeJwt = (token: string): boolean => token.indexOf('.') !== token.lastIndexOf('.');

/** Creates the introspector. */
export function createIntrospector(deps: IntrospectorDeps): Introspector {
  const { pats, format, exchange } = deps;
  /** Who is introspecting, as the PAT service records a use: one object per client, not one per request. */
  const uses = new WeakMap<IntrospectionClient, TokenUse>();
  const useOf = (client: IntrospectionClient): TokenUse => {
    let use = uses.get(client);
    if (!use) {
      const actor: Actor = { id: `client:${client.clientId}`, via: 'introspection' };
      use = { clientId: client.clientId, actor, admits: (live) => serves(client, live.resource) };
      uses.set(client, use);
    }
    return use;
  };
  /** Subjects handed out once per cached answer (the in-process layer keeps handing out the same object). */
  const subjects = new WeakMap<LivePat | OAuthToken, ActiveSubject>();
  const subjectOf = (answer: LivePat | OAuthToken): ActiveSubject => {
    let subject = subjects.get(answer);
    if (!subject) {
      subject = answer.kind === 'pat' ? { kind: 'pat', live: answer } : { kind: 'oauth', token: answer };
      subjects.set(answer, subject);
    }
    return subject;
  };

  /** Refused introspections already recorded: one audit event per token and client a minute, however many come. */
  const refusals = new LRUCache<string, true>({
    max: 10_000,
    ttl: 60_000,
    perf: { now: () => deps.clock.nowMs() },
  });
  const refuse = (client: IntrospectionClient, token: { userId: string; tokenId: string }, resource: string) => {
    const key = `${token.tokenId}\u0000${client.clientId}`;
    if (refusals.has(key)) return;
    refusals.set(key, true);
    // The audit service keeps an event it cannot write yet; it never rejects.
    void deps.audit.record(
      'token.resource_mismatch',
      { id: `client:${client.clientId}`, via: 'introspection' },
      token,
      { resource },
    );
  };

  /** The resource-binding rule: an unbound token (null) answers every client, a bound one its resource's servers. */
  function serves(client: IntrospectionClient, resource: string | null): boolean {
    return resource === null || client.resources.has(resource);
  }

  /** A live PAT, as `client` may see it. */
  function admitted(live: LivePat | null, client: IntrospectionClient): ActiveSubject | null {
    if (!live) return null;
    if (serves(client, live.resource)) return subjectOf(live);
    refuse(client, { userId: live.userId, tokenId: live.id }, live.resource!);
    return null;
  }

  /** An access token from token exchange: bound to its `aud`, live while its PAT's value is. */
  async function exchanged(token: ExchangedToken, client: IntrospectionClient): Promise<ActiveSubject | null> {
    if (!serves(client, token.aud)) {
      refuse(client, { userId: token.sub, tokenId: token.patId }, token.aud);
      return null;
    }
    const live = await exchange.subjectOf(token, useOf(client));
    return live ? { kind: 'exchanged', token, live } : null;
  }

  return {
    async introspect(token, client) {
      if (format.hasPrefix(token)) return admitted(await pats.lookup(token, useOf(client)), client);
      const verified = await exchange.verify(token);
      if (verified) return exchanged(verified, client);
      const oauth = await deps.oauth.lookup(token, client.clientId);
      return oauth ? subjectOf(oauth) : null;
    },
    introspectCached(token, client) {
      if (format.hasPrefix(token)) {
        const live = pats.lookupCached(token, useOf(client));
        return live === undefined ? undefined : admitted(live, client);
      }
      if (looksLikeJwt(token)) return undefined;
      const oauth = deps.oauth.lookupCached(token);
      return oauth === undefined ? undefined : oauth && subjectOf(oauth);
    },
  };
}

/**
 * Introspection's lookup, shared by both transports: what is the token a client presents? A PAT-shaped value is
 * the PAT service's (checksum first, then the in-process, Redis and MongoDB layers); anything else is an OAuth
 * access token of oidc-provider's, or nothing. Every introspection of a PAT is a use of it (`last_used_at`, and by
 * which client).
 */
import type { Actor } from '../services/audit.ts';
import type { PatFormat } from '../services/pat-format.ts';
import type { LivePat, PatService } from '../pats/types.ts';
import type { ActiveSubject, OAuthTokenSubject } from './render.ts';

/** Who is introspecting, as the PAT service records a use: one object per client, not one per request. */
export type TokenUse = { readonly clientId: string; readonly actor: Actor };

export interface Introspector {
  /** The active subject behind `token`, asked by an authenticated `clientId`, or null. Rejects on storage outage. */
  introspect(token: string, clientId: string): Promise<ActiveSubject | null>;
  /**
   * The same answer when it needs no I/O (a malformed PAT, or a PAT in the in-process layer); undefined when it
   * does, or for OAuth tokens. Lets the fast path stay synchronous.
   */
  introspectCached(token: string, clientId: string): ActiveSubject | null | undefined;
}

export interface IntrospectorDeps {
  readonly pats: PatService;
  readonly format: PatFormat;
  /** oidc-provider's OAuth access tokens (see `server/oidc/oauth-tokens.ts`). */
  readonly findOAuthToken: (value: string, clientId: string) => Promise<OAuthTokenSubject | null>;
}

/** Creates the introspector. */
export function createIntrospector(deps: IntrospectorDeps): Introspector {
  const { pats, format } = deps;
  const uses = new Map<string, TokenUse>();
  const useOf = (clientId: string): TokenUse => {
    let use = uses.get(clientId);
    if (!use) {
      if (uses.size >= 1000) uses.clear();
      use = { clientId, actor: { id: `client:${clientId}`, via: 'introspection' } };
      uses.set(clientId, use);
    }
    return use;
  };
  /** Subjects handed out once per cached PAT object (the in-process layer keeps handing out the same object). */
  const subjects = new WeakMap<LivePat, ActiveSubject>();
  const patSubject = (live: LivePat | null): ActiveSubject | null => {
    if (!live) return null;
    let subject = subjects.get(live);
    if (!subject) {
      subject = { kind: 'pat', live };
      subjects.set(live, subject);
    }
    return subject;
  };

  return {
    async introspect(token, clientId) {
      if (format.hasPrefix(token)) return patSubject(await pats.lookup(token, useOf(clientId)));
      const oauth = await deps.findOAuthToken(token, clientId);
      return oauth ? { kind: 'oauth', token: oauth } : null;
    },
    introspectCached(token, clientId) {
      if (!format.hasPrefix(token)) return undefined;
      const live = pats.lookupCached(token, useOf(clientId));
      return live === undefined ? undefined : patSubject(live);
    },
  };
}

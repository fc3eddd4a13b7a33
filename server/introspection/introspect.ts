/**
 * Introspection's lookup, shared by both transports: what is the token a client presents? A PAT-shaped value is
 * the PAT service's (checksum first, then the in-process, Redis and MongoDB layers); anything else is an OAuth
 * access token of oidc-provider's (through the same caches, `pats/oauth-lookup.ts`), or nothing. Every
 * introspection of a PAT is a use of it (`last_used_at`, and by which client).
 */
import type { Actor } from '../services/audit.ts';
import type { PatFormat } from '../services/pat-format.ts';
import type { OAuthLookup } from '../pats/oauth-lookup.ts';
import type { LivePat, OAuthToken, PatService } from '../pats/types.ts';
import type { ActiveSubject } from './render.ts';

/** Who is introspecting, as the PAT service records a use: one object per client, not one per request. */
export type TokenUse = { readonly clientId: string; readonly actor: Actor };

export interface Introspector {
  /** The active subject behind `token`, asked by an authenticated `clientId`, or null. Rejects on storage outage. */
  introspect(token: string, clientId: string): Promise<ActiveSubject | null>;
  /**
   * The same answer when it needs no I/O (a malformed PAT, or a token in the in-process layer); undefined when it
   * does. Lets the fast path stay synchronous.
   */
  introspectCached(token: string, clientId: string): ActiveSubject | null | undefined;
}

export interface IntrospectorDeps {
  readonly pats: PatService;
  readonly format: PatFormat;
  /** oidc-provider's OAuth access tokens, behind the token caches. */
  readonly oauth: OAuthLookup;
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
  /** Subjects handed out once per cached answer (the in-process layer keeps handing out the same object). */
  const subjects = new WeakMap<LivePat | OAuthToken, ActiveSubject>();
  const subjectOf = (answer: LivePat | OAuthToken | null): ActiveSubject | null => {
    if (!answer) return null;
    let subject = subjects.get(answer);
    if (!subject) {
      subject = answer.kind === 'pat' ? { kind: 'pat', live: answer } : { kind: 'oauth', token: answer };
      subjects.set(answer, subject);
    }
    return subject;
  };

  return {
    async introspect(token, clientId) {
      if (format.hasPrefix(token)) return subjectOf(await pats.lookup(token, useOf(clientId)));
      return subjectOf(await deps.oauth.lookup(token, clientId));
    },
    introspectCached(token, clientId) {
      const answer = format.hasPrefix(token)
        ? pats.lookupCached(token, useOf(clientId))
        : deps.oauth.lookupCached(token);
      return answer === undefined ? undefined : subjectOf(answer);
    },
  };
}

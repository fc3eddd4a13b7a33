/**
 * The introspection fast path: `POST /introspect` with client_secret_basic or client_secret_post (for PATs and
 * OAuth access tokens alike) is answered here, in front of Koa and without oidc-provider's middleware chain (JOSE header
 * decoding of every token, AsyncLocalStorage, generic client authentication, parameter assembly). It is a second
 * transport over the same steps as oidc-provider's endpoint: the same lookup (`introspect.ts`) and the same renderer
 * (`render.ts`); the parity test checks status, headers and body request by request.
 *
 * Anything else goes to oidc-provider unchanged: JWT client authentication, a JWT response
 * (`Accept: application/token-introspection+jwt`), repeated or unknown parameters, malformed or failed client
 * authentication (so its RFC-shaped errors, and the failed-authentication throttle, stay the only ones). The body
 * this step read is replayed to it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { StoreUnavailableError } from '../../adapters/types.ts';
import { ServiceUnavailable } from '../errors.ts';
import { sendError } from '../http/errors.ts';
import type { PresentedSecret, SecretAuthenticator, SecretCheck } from './client-secrets.ts';
import { FORM_BODY_LIMIT, basicCredentials, readFormBodyThen, replayFormBody } from './form.ts';
import type { IntrospectionClient, Introspector } from './introspect.ts';
import { INACTIVE, renderActive, type ActiveSubject } from './render.ts';

interface Params {
  token: string | undefined;
  token_type_hint: string | undefined;
  client_id: string | undefined;
  client_secret: string | undefined;
}
/**
 * Characters that make a form value need decoding: escapes, and any byte over 0x7F (the body is first read as
 * latin1, which maps each byte to one character, cheaper than UTF-8 decoding; a non-ASCII body is then decoded as
 * UTF-8 and parsed by URLSearchParams).
 */
const NEEDS_DECODING = /[%+\u0080-\u00ff]/;
/**
 * oidc-provider reads bodies with `querystring.parse`, which stops at its 1000th `&` (empty parts count): anything
 * after that is not there for it. Bodies with that many separators are left to it.
 */
const MAX_SEPARATORS = 999;

function separators(text: string): number {
  let count = 0;
  for (let at = text.indexOf('&'); at !== -1 && count <= MAX_SEPARATORS; at = text.indexOf('&', at + 1)) count++;
  return count;
}

/**
 * Sets one parameter; false when it is unknown or already set (then the request is not for the fast path). One
 * named property per case, not `params[key]`: this runs for every parameter of every introspection.
 */
function assign(params: Params, key: string, value: string): boolean {
  switch (key) {
    case 'token':
      if (params.token !== undefined) return false;
      params.token = value;
      return true;
    case 'token_type_hint':
      if (params.token_type_hint !== undefined) return false;
      params.token_type_hint = value;
      return true;
    case 'client_id':
      if (params.client_id !== undefined) return false;
      params.client_id = value;
      return true;
    case 'client_secret':
      if (params.client_secret !== undefined) return false;
      params.client_secret = value;
      return true;
    default:
      return false;
  }
}

/**
 * The parameters of an introspection body, as oidc-provider reads them; null when one is unknown or repeated, or the
 * body has too many separators (not for the fast path). Bodies of plain characters — every PAT and most client
 * credentials — are split in place, without decoding or intermediate arrays: this runs on every introspection.
 */
function parseParams(raw: Buffer): Params | null {
  // Bytes < 0x80 are the same characters in latin1 and UTF-8, and no byte of a multi-byte UTF-8 sequence is an
  // ASCII separator: `&` counted here is what the UTF-8 text has.
  const text = raw.toString('latin1');
  const params: Params = {
    token: undefined,
    token_type_hint: undefined,
    client_id: undefined,
    client_secret: undefined,
  };
  // Counting needs a body of at least that many characters.
  if (text.length > MAX_SEPARATORS && separators(text) > MAX_SEPARATORS) return null;
  if (NEEDS_DECODING.test(text)) {
    for (const [key, value] of new URLSearchParams(raw.toString('utf8'))) if (!assign(params, key, value)) return null;
    return params;
  }
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('&', start);
    if (end === -1) end = text.length;
    if (end > start) {
      const eq = text.indexOf('=', start);
      const ok =
        eq === -1 || eq > end
          ? assign(params, text.slice(start, end), '')
          : assign(params, text.slice(start, eq), text.slice(eq + 1, end));
      if (!ok) return null;
    }
    start = end + 1;
  }
  return params;
}

export interface FastIntrospectionDeps {
  readonly introspector: Introspector;
  readonly authenticator: SecretAuthenticator;
  readonly issuer: string;
  readonly patClientId: string;
  readonly retryAfterSeconds: number;
}

/** The credentials of exactly one secret mechanism, or null (none, several, malformed: not for the fast path). */
function presentedSecret(header: string | undefined, params: Params): PresentedSecret | null {
  const bodyId = params.client_id;
  const bodySecret = params.client_secret;
  if (header) {
    if (bodySecret !== undefined) return null;
    const basic = basicCredentials(header);
    if (!basic) return null;
    if (bodyId !== undefined && bodyId !== basic.clientId) return null;
    return basic;
  }
  if (!bodyId || !bodySecret) return null;
  return { clientId: bodyId, clientSecret: bodySecret };
}

const FORM = /^application\/x-www-form-urlencoded\s*(;|$)/i;
/** What nearly every client sends, compared before the regular expression. */
const FORM_TYPE = 'application/x-www-form-urlencoded';

/** Whether the Accept header lets a JSON answer through (oidc-provider answers JWT only when it is preferred). */
function acceptsJson(accept: string | undefined): boolean {
  return accept === undefined || !/application\/token-introspection\+jwt/i.test(accept);
}

export type FastOutcome = 'active' | 'inactive' | 'error';
/**
 * Told once per request: false when the fast path left the request (its body replayed) to the application,
 * `'aborted'` when the client went away before its body arrived (nothing to answer), else the outcome it answered
 * with; or the error that stopped it.
 */
export type FastPathDone = (error: unknown, outcome: false | 'aborted' | FastOutcome) => void;

/**
 * The fast path as a plain `node:http` step, ahead of Koa. Callbacks rather than promises, and synchronous from the
 * body's last byte to the answer when the client and the PAT are in memory: this is the hot path of the product.
 */
export function fastIntrospectionHandler(
  deps: FastIntrospectionDeps,
): (req: IncomingMessage, res: ServerResponse, done: FastPathDone) => void {
  const { introspector, authenticator, issuer, patClientId } = deps;
  /**
   * An answer as it goes on the wire: the JSON bytes and the header list (name, value, …), built once per subject
   * (the in-process layer hands out the same subject until the token changes), so a warm answer allocates nothing.
   */
  interface Wire {
    readonly body: Buffer;
    readonly headers: readonly string[];
  }
  const wire = (json: unknown): Wire => {
    const body = Buffer.from(JSON.stringify(json));
    return {
      body,
      headers: [
        'Content-Type',
        'application/json; charset=utf-8',
        'Content-Length',
        String(body.length),
        'Cache-Control',
        'no-store',
      ],
    };
  };
  const rendered = new WeakMap<ActiveSubject, Wire>();
  const inactive = wire(INACTIVE);
  const answer = (res: ServerResponse, subject: ActiveSubject | null): FastOutcome => {
    let out = inactive;
    if (subject) {
      const known = rendered.get(subject);
      if (known) out = known;
      else rendered.set(subject, (out = wire(renderActive(subject, issuer, patClientId))));
    }
    res.writeHead(200, out.headers as string[]);
    res.end(out.body);
    return subject ? 'active' : 'inactive';
  };
  const unavailable = (res: ServerResponse, error: unknown, done: FastPathDone) => {
    if (!(error instanceof StoreUnavailableError)) {
      done(error, false);
      return;
    }
    sendError(res, new ServiceUnavailable(deps.retryAfterSeconds));
    done(null, 'error');
  };

  const introspect = (res: ServerResponse, token: string, client: IntrospectionClient, done: FastPathDone) => {
    let hot: ActiveSubject | null | undefined;
    try {
      hot = introspector.introspectCached(token, client);
    } catch (error) {
      done(error, false);
      return;
    }
    if (hot !== undefined) {
      done(null, answer(res, hot));
      return;
    }
    introspector
      .introspect(token, client)
      .then(
        (subject) => done(null, answer(res, subject)),
        (error: unknown) => unavailable(res, error, done),
      )
      .catch((error: unknown) => done(error, false));
  };

  const authenticated = (res: ServerResponse, token: string, check: SecretCheck, done: FastPathDone) => {
    if (check.outcome !== 'authenticated') done(null, false);
    else introspect(res, token, check.client, done);
  };

  return (req, res, told) => {
    if (req.method !== 'POST' || req.url !== '/introspect') return told(null, false);
    const type = req.headers['content-type'];
    if (!type || (type !== FORM_TYPE && !FORM.test(type)) || !acceptsJson(req.headers.accept) || req.readableEncoding) {
      return told(null, false);
    }
    const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
    if (declared !== undefined && !Number.isSafeInteger(declared)) return told(null, false);
    // From here on, once only whatever happens (an error thrown after the answer must not answer again); and whatever
    // this step does not answer goes on with the body it read.
    let settled = false;
    let read: Buffer | null = null;
    const done: FastPathDone = (error, outcome) => {
      if (settled) return;
      settled = true;
      if (read !== null && error === null && outcome === false) replayFormBody(req, read);
      told(error, outcome);
    };
    readFormBodyThen(req, declared, (raw) => {
      try {
        afterBody(raw);
      } catch (error) {
        // This runs in the request's 'end' listener: nothing thrown here may escape into the process.
        done(error, false);
      }
    });

    function afterBody(raw: Buffer | null | 'aborted'): void {
      if (raw === 'aborted') return done(null, 'aborted');
      if (raw === null) return done(null, false);
      read = raw;
      if (raw.length > FORM_BODY_LIMIT || (declared !== undefined && raw.length !== declared)) {
        return done(null, false);
      }
      const params = parseParams(raw);
      const token = params?.token;
      if (!params || !token) return done(null, false);
      const header = req.headers.authorization;
      if (header !== undefined && params.client_secret === undefined) {
        const remembered = authenticator.remembered(header, req.socket);
        if (remembered && (params.client_id === undefined || params.client_id === remembered.client.clientId)) {
          return authenticated(res, token, remembered, done);
        }
      }
      const presented = presentedSecret(header, params);
      if (!presented) return done(null, false);
      const cached = authenticator.authenticateCached(presented, header);
      if (cached) return authenticated(res, token, cached, done);
      authenticator
        .authenticate(presented, header)
        .then(
          (check) => authenticated(res, token, check, done),
          (error: unknown) => unavailable(res, error, done),
        )
        .catch((error: unknown) => done(error, false));
    }
  };
}

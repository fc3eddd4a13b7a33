/**
 * Reading an `application/x-www-form-urlencoded` body ahead of oidc-provider, and handing it back: the fast path
 * reads the parameters, and when it leaves a request to oidc-provider, oidc-provider must still read the same bytes
 * (it reads `req.iterator()`).
 */
import type { IncomingMessage } from 'node:http';

/** oidc-provider's own limit for form bodies. */
export const FORM_BODY_LIMIT = 56 * 1024;

/** Bodies already read from a request, for later readers of the same request. */
const replayed = new WeakMap<IncomingMessage, Buffer>();

/** Makes `body` what the next reader of `req` (oidc-provider reads `req.iterator()`) receives. */
export function replayFormBody(req: IncomingMessage, body: Buffer): void {
  replayed.set(req, body);
  Object.defineProperty(req, 'readable', { value: true, configurable: true });
  Object.defineProperty(req, 'iterator', {
    configurable: true,
    value: async function* replayBody() {
      yield body;
    },
  });
}

/**
 * Reads the body, calling `done` with the bytes, with null when the declared length is already over the limit
 * (nothing is read then), or with `'aborted'` when the request ended early (the client went away). A body over the
 * limit is passed on partially read (longer than the limit): callers leave it to oidc-provider, which rejects it.
 * A caller that hands the request on calls {@link replayFormBody} first. Plain stream events rather than an async
 * iterator: this runs on every introspection.
 */
export function readFormBodyThen(
  req: IncomingMessage,
  length: number | undefined,
  done: (body: Buffer | null | 'aborted') => void,
): void {
  const already = replayed.get(req);
  if (already || (length !== undefined && length > FORM_BODY_LIMIT)) {
    done(already ?? null);
    return;
  }
  // Already over (the client went away, or someone else read it): no event will ever come.
  if (req.destroyed || req.readableEnded) {
    done('aborted');
    return;
  }
  let first: Buffer | undefined;
  let chunks: Buffer[] | undefined;
  let received = 0;
  let over = false;
  const finish = (complete: boolean) => {
    if (over) return;
    over = true;
    const body = chunks ? Buffer.concat(chunks, received) : (first ?? Buffer.alloc(0));
    done(!complete && received <= FORM_BODY_LIMIT ? 'aborted' : body);
  };
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    if (first === undefined) first = chunk;
    else (chunks ??= [first]).push(chunk);
    if (received > FORM_BODY_LIMIT) {
      // Handed on partially read: whoever reads next gets the rest, not this listener.
      req.pause();
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      finish(true);
    }
  };
  // After the body's end the listeners stay, inert, until the request is collected: removing them on every request
  // costs more than keeping them.
  const onEnd = () => finish(true);
  const onClose = () => finish(false);
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('close', onClose);
}

/** Printable ASCII only: what a client id or secret may be once form-decoded. */
const PRINTABLE = /^[\x20-\x7E]*$/;
const FORM_ESCAPES = /[%+]/;

/** One half of a Basic credential, form-decoded; null when it is not printable ASCII once decoded. */
function formDecode(value: string): string | null {
  if (!FORM_ESCAPES.test(value)) return PRINTABLE.test(value) ? value : null;
  try {
    const decoded = decodeURIComponent(value.replace(/\+/g, '%20'));
    return PRINTABLE.test(decoded) ? decoded : null;
  } catch {
    return null;
  }
}

const BASE64 = /^([A-Za-z0-9+/]+)(={0,2})$/;

/**
 * The credentials part of a Basic header, decoded; null unless it is standard base64, padded correctly or not at
 * all (the rule oidc-provider applies before it decodes: anything else is its 400), or decodes to anything but
 * printable ASCII (which no client id or secret may contain, encoded or not).
 */
function decodeBase64(encoded: string): string | null {
  const match = BASE64.exec(encoded);
  if (!match) return null;
  const [, data = '', padding = ''] = match;
  const remainder = data.length % 4;
  if (padding === '' ? remainder === 1 : padding.length !== 4 - remainder) return null;
  const text = atob(encoded);
  return PRINTABLE.test(text) ? text : null;
}

/** Basic credentials from an Authorization header, form-decoded (RFC 6749 §2.3.1); null when absent or malformed. */
export function basicCredentials(header: string): { clientId: string; clientSecret: string } | null {
  // Exactly "<scheme> <credentials>": one space, nothing after.
  const space = header.indexOf(' ');
  if (space === -1 || header.indexOf(' ', space + 1) !== -1 || space === header.length - 1) return null;
  if (header.slice(0, space).toLowerCase() !== 'basic') return null;
  const basic = decodeBase64(header.slice(space + 1));
  if (basic === null) return null;
  const colon = basic.indexOf(':');
  if (colon === -1) return null;
  const clientId = formDecode(basic.slice(0, colon));
  const clientSecret = formDecode(basic.slice(colon + 1));
  return clientId && clientSecret ? { clientId, clientSecret } : null;
}

/**
 * Reading an `application/x-www-form-urlencoded` body ahead of oidc-provider, and handing it back: the steps in
 * front of it (the introspection fast path, the failed-authentication throttle) must see the parameters, and
 * oidc-provider must still read the same bytes (it reads `req.iterator()`).
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
 * (nothing is read then), or with `'aborted'` when the request ended early (the client went away). A body over the limit is passed on partially read
 * (longer than the limit): callers leave it to oidc-provider, which rejects it. A caller that hands the request on
 * calls {@link replayFormBody} first. Plain stream events rather than an async iterator: this runs on every
 * introspection.
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
  const finish = (complete: boolean) => {
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('close', onClose);
    const body = chunks ? Buffer.concat(chunks, received) : (first ?? Buffer.alloc(0));
    done(!complete && received <= FORM_BODY_LIMIT ? 'aborted' : body);
  };
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    if (first === undefined) first = chunk;
    else (chunks ??= [first]).push(chunk);
    if (received > FORM_BODY_LIMIT) {
      req.pause();
      finish(true);
    }
  };
  const onEnd = () => finish(true);
  const onClose = () => finish(false);
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('close', onClose);
}

/** {@link readFormBodyThen} as a promise, the body replayed for the next reader. */
export function readFormBody(req: IncomingMessage, length: number | undefined): Promise<Buffer | null> {
  return new Promise((resolve) =>
    readFormBodyThen(req, length, (body) => {
      if (body === 'aborted') return resolve(null);
      if (body) replayFormBody(req, body);
      resolve(body);
    }),
  );
}

/** Basic credentials from an Authorization header, form-decoded (RFC 6749 §2.3.1); null when absent or malformed. */
export function basicCredentials(header: string): { clientId: string; clientSecret: string } | null {
  const [scheme, encoded, extra] = header.split(' ');
  if (extra !== undefined || scheme?.toLowerCase() !== 'basic' || !encoded) return null;
  const basic = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = basic.indexOf(':');
  if (colon === -1) return null;
  const decode = (value: string) => {
    if (!/[%+]/.test(value)) return /^[\x20-\x7E]*$/.test(value) ? value : null;
    try {
      const decoded = decodeURIComponent(value.replace(/\+/g, '%20'));
      return /^[\x20-\x7E]*$/.test(decoded) ? decoded : null;
    } catch {
      return null;
    }
  };
  const clientId = decode(basic.slice(0, colon));
  const clientSecret = decode(basic.slice(colon + 1));
  return clientId && clientSecret ? { clientId, clientSecret } : null;
}

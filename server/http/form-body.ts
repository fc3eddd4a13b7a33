/**
 * Reading an `application/x-www-form-urlencoded` body ahead of oidc-provider, and handing it back: the steps in
 * front of it (the introspection fast path, the failed-authentication throttle) must see the parameters, and
 * oidc-provider must still read the same bytes (it reads `req.iterator()`).
 */
import type { IncomingMessage } from 'node:http';

/** oidc-provider's own limit for form bodies. */
export const FORM_BODY_LIMIT = 56 * 1024;

/**
 * Reads the body like oidc-provider does and replays it for the next reader. Returns the bytes, or null when the
 * declared length is already over the limit (nothing is read then). A body over the limit is returned partially
 * read (longer than the limit): callers leave it to oidc-provider, which rejects it.
 */
export async function readFormBody(req: IncomingMessage, length: number | undefined): Promise<Buffer | null> {
  if (length !== undefined && length > FORM_BODY_LIMIT) return null;
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    received += chunk.length;
    chunks.push(chunk);
    if (received > FORM_BODY_LIMIT) break;
  }
  const body = Buffer.concat(chunks, received);
  Object.defineProperty(req, 'readable', { value: true, configurable: true });
  Object.defineProperty(req, 'iterator', {
    configurable: true,
    value: async function* replayed() {
      yield body;
    },
  });
  return body;
}

/** Basic credentials from an Authorization header, form-decoded (RFC 6749 §2.3.1); null when absent or malformed. */
export function basicCredentials(header: string): { clientId: string; clientSecret: string } | null {
  const [scheme, encoded, extra] = header.split(' ');
  if (extra !== undefined || scheme?.toLowerCase() !== 'basic' || !encoded) return null;
  const basic = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = basic.indexOf(':');
  if (colon === -1) return null;
  const decode = (value: string) => {
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

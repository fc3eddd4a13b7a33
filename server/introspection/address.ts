/**
 * The client's address: the one function every path asks (the introspection fast path, the failed-authentication
 * throttle, the rate limits of the management API, the audit log), so they all count the same address.
 *
 * Behind `n` trusted proxies (`TRUST_PROXY`), each proxy appends the address it received the request from to
 * `X-Forwarded-For`; the client can write anything to the left of those. The client's address is therefore the n-th
 * entry from the right, never the leftmost. With no trusted proxy it is the socket's peer address.
 */
import type { IncomingMessage } from 'node:http';

/** Resolves a request's client address. */
export type AddressOf = (req: IncomingMessage) => string;

/** Creates the resolver for `trustedHops` proxies in front of the server (0: none). */
export function createAddressResolver(trustedHops: number): AddressOf {
  const socketAddress = (req: IncomingMessage) => req.socket.remoteAddress ?? '';
  if (trustedHops === 0) return socketAddress;
  return (req) => {
    const header = req.headers['x-forwarded-for'];
    if (header === undefined) return socketAddress(req);
    const entries = (Array.isArray(header) ? header.join(',') : header)
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== '');
    if (entries.length === 0) return socketAddress(req);
    // Fewer entries than proxies: the request skipped one; the leftmost is the nearest thing to the client.
    return entries[Math.max(0, entries.length - trustedHops)]!;
  };
}

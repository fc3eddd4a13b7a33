/**
 * Outbound POSTs to addresses an admin or a registered client chose (webhook endpoints, SSF push endpoints),
 * without server-side request forgery:
 *
 * - a target must resolve to public unicast addresses only: private, loopback, link-local, unique-local, CGNAT,
 *   multicast, reserved and the like are refused, unless inside a network `EVENTS_ALLOWED_NETWORKS` names (CIDRs);
 *   plain `http:` is accepted only for targets inside such an allowed network;
 * - checked at registration ({@link checkTarget}) and again at every delivery, on the address actually connected to
 *   (the resolver used for the connection drops refused addresses, and the socket's remote address is checked once
 *   connected), so a name that resolves elsewhere later (DNS rebinding) gains nothing;
 * - no redirect is followed (a 3xx is a failed attempt), the whole exchange has one deadline, and at most
 *   `maxResponseBytes` of the answer are read.
 *
 * Address ranges are classified by `ipaddr.js` (RFC 6890 special-purpose registries, IPv4-mapped IPv6 unwrapped):
 * a well-kept, dependency-free library, where a hand-written list of ranges is the classic source of SSRF holes.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { lookup as lookupAll } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';

import ipaddr from 'ipaddr.js';

import { TokenwardenError } from '../../config/errors.ts';

/** Networks targets may resolve to although they are not public (`EVENTS_ALLOWED_NETWORKS`). */
export interface TargetPolicy {
  readonly allowed: ReadonlyArray<readonly [ipaddr.IPv4 | ipaddr.IPv6, number]>;
}

/** `ERR_TARGET_REFUSED`: the URL is not one Tokenwarden may send to. The message says why (safe to show). */
export class TargetRefused extends TokenwardenError {
  constructor(message: string) {
    super('ERR_TARGET_REFUSED', message);
  }
}

/** Parses CIDRs (`127.0.0.0/8`, `::1/128`); a bare address is a /32 or /128. @throws {Error} naming the bad entry. */
export function parseNetworks(entries: readonly string[]): TargetPolicy {
  return {
    allowed: entries.map((entry) => {
      const text = entry.includes('/') ? entry : `${entry}/${ipaddr.IPv4.isValid(entry) ? 32 : 128}`;
      if (!ipaddr.isValidCIDR(text)) throw new Error(`not a CIDR: ${entry}`);
      const [address, bits] = ipaddr.parseCIDR(text);
      return [address, bits] as const;
    }),
  };
}

/** `public` (global unicast), `allowed` (inside an allowed network), or null (refused). */
export function classifyAddress(address: string, policy: TargetPolicy): 'public' | 'allowed' | null {
  if (!ipaddr.isValid(address)) return null;
  const ip = ipaddr.process(address);
  for (const [network, bits] of policy.allowed) {
    if (network.kind() === ip.kind() && ip.match(network, bits)) return 'allowed';
  }
  return ip.range() === 'unicast' ? 'public' : null;
}

function parseTarget(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TargetRefused('the URL is not an absolute URL');
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new TargetRefused('the URL must be https');
  if (parsed.username || parsed.password) throw new TargetRefused('the URL must not carry credentials');
  if (parsed.hash) throw new TargetRefused('the URL must not have a fragment');
  return parsed;
}

const hostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1');

function refuseAddresses(url: URL, kinds: ReadonlyArray<'public' | 'allowed' | null>): void {
  if (kinds.length === 0) throw new TargetRefused('the URL’s host does not resolve');
  if (kinds.includes(null)) {
    throw new TargetRefused(
      'the URL resolves to a private, loopback, link-local or reserved address (allow it with EVENTS_ALLOWED_NETWORKS)',
    );
  }
  if (url.protocol === 'http:' && kinds.includes('public')) {
    throw new TargetRefused('the URL must be https (plain http only to an EVENTS_ALLOWED_NETWORKS address)');
  }
}

/**
 * Checks a target when it is registered: its host must resolve, and only to addresses it may use.
 * @throws {TargetRefused}
 */
export async function checkTarget(url: string, policy: TargetPolicy): Promise<void> {
  const parsed = parseTarget(url);
  const host = hostOf(parsed);
  let addresses: string[];
  if (ipaddr.isValid(host)) addresses = [host];
  else {
    try {
      addresses = (await lookupAll(host, { all: true, verbatim: true })).map((a) => a.address);
    } catch {
      throw new TargetRefused('the URL’s host does not resolve');
    }
  }
  refuseAddresses(
    parsed,
    addresses.map((a) => classifyAddress(a, policy)),
  );
}

/** What a POST got: the status, a `Retry-After` in seconds if any, and at most `maxResponseBytes` of the body. */
export interface PostResult {
  readonly status: number;
  readonly retryAfterSeconds: number | null;
  readonly body: string;
}

export interface PostOptions {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  readonly policy: TargetPolicy;
}

/** A resolver for the connection that keeps only addresses the policy allows (and the URL's scheme may use). */
function guardedLookup(url: URL, policy: TargetPolicy) {
  return (
    hostname: string,
    options: { all?: boolean },
    callback: (error: Error | null, address: string | LookupAddress[], family?: number) => void,
  ) => {
    dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) => {
      if (error) return callback(error, []);
      try {
        refuseAddresses(
          url,
          addresses.map((a) => classifyAddress(a.address, policy)),
        );
      } catch (refused) {
        return callback(refused as Error, []);
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0]!;
      return callback(null, first.address, first.family);
    });
  };
}

function retryAfter(value: string | string[] | undefined): number | null {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return null;
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/**
 * POSTs `body` to `url` under the policy: one deadline for the whole exchange, no redirect followed, the answer
 * read up to `maxResponseBytes`. Rejects with {@link TargetRefused} when the address is not allowed, or with the
 * network error (its `code`) otherwise.
 */
export function postTo(url: string, options: PostOptions): Promise<PostResult> {
  const parsed = parseTarget(url);
  const host = hostOf(parsed);
  if (ipaddr.isValid(host)) refuseAddresses(parsed, [classifyAddress(host, options.policy)]);
  const client = parsed.protocol === 'https:' ? https : http;
  return new Promise<PostResult>((resolve, reject) => {
    let settled = false;
    const finish = (error: Error | null, result?: PostResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      if (error) reject(error);
      else resolve(result!);
    };
    const request = client.request(parsed, {
      method: 'POST',
      agent: false,
      lookup: guardedLookup(parsed, options.policy),
      headers: { ...options.headers, 'Content-Length': String(Buffer.byteLength(options.body)) },
    });
    const deadline = setTimeout(() => {
      const error = Object.assign(new Error(`no answer within ${options.timeoutMs} ms`), { code: 'ETIMEDOUT' });
      request.destroy(error);
      finish(error);
    }, options.timeoutMs);
    request.on('socket', (socket: Socket) => {
      // The address actually connected to, whatever resolved it (the last word against DNS rebinding).
      const check = () => {
        const remote = socket.remoteAddress;
        try {
          refuseAddresses(parsed, [remote === undefined ? null : classifyAddress(remote, options.policy)]);
        } catch (refused) {
          request.destroy(refused as Error);
        }
      };
      if (socket.remoteAddress !== undefined && !socket.connecting) check();
      // Ahead of the request's own writes waiting for the connection.
      else socket.prependOnceListener('connect', check);
    });
    request.on('error', (error) => finish(error));
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const done = () =>
        finish(null, {
          status: response.statusCode ?? 0,
          retryAfterSeconds: retryAfter(response.headers['retry-after']),
          body: Buffer.concat(chunks).toString('utf8'),
        });
      response.on('data', (chunk: Buffer) => {
        if (size >= options.maxResponseBytes) return;
        const room = options.maxResponseBytes - size;
        chunks.push(chunk.subarray(0, room));
        size += Math.min(chunk.length, room);
        // Enough read: the status is what counts, the rest of the answer is not waited for.
        if (size >= options.maxResponseBytes) {
          done();
          response.destroy();
        }
      });
      response.on('end', done);
      response.on('error', () => done());
      response.on('close', done);
    });
    request.end(options.body);
  });
}

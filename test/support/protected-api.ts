/**
 * A small API protected by the resource-server library on plain `node:http` (`protect`), for its tests: routes
 * requiring no scope, `read`, `write`, and both, each answering what it knows of the token; optionally the RFC 8935
 * push endpoint (`pushListener`).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import { protect, pushListener, type ResourceServer } from '../../server/resource-server/index.ts';

/** The routes and the scopes each requires. */
export const ROUTES: Readonly<Record<string, readonly string[]>> = {
  '/hello': [],
  '/read': ['read'],
  '/write': ['write'],
  '/read-write': ['read', 'write'],
};

/** A running protected API. */
export interface ProtectedApi {
  readonly url: string;
  readonly rs: ResourceServer;
  /** GETs a route with the given `Authorization` header (none when undefined). */
  get(path: string, authorization?: string): Promise<ApiAnswer>;
  close(): Promise<void>;
}

/** What a route answered. */
export interface ApiAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Record<string, unknown>;
}

/**
 * Starts the API on a free loopback port; `pushPath` also serves the push endpoint there. `rs` may be a function
 * of the API's URL (for push delivery, whose endpoint URL the resource server must know).
 */
export async function serveProtected(
  resourceServer: ResourceServer | ((url: string) => ResourceServer),
  pushPath?: string,
): Promise<ProtectedApi> {
  const self: { rs?: ResourceServer } = {};
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (pushPath !== undefined && path === pushPath) return pushListener(self.rs!)(req, res);
    const scopes = ROUTES[path];
    if (scopes === undefined) return void res.writeHead(404).end();
    void protect(self.rs!, req, res, scopes).then((token) => {
      if (!token) return;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(
        JSON.stringify({ sub: token.sub, jti: token.jti, scopes: token.scopes, source: token.source, aud: token.aud }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const rs = (self.rs = typeof resourceServer === 'function' ? resourceServer(url) : resourceServer);
  return {
    rs,
    url,
    async get(path, authorization) {
      const res = await fetch(
        `${url}${path}`,
        authorization === undefined ? {} : { headers: { Authorization: authorization } },
      );
      const text = await res.text();
      return {
        status: res.status,
        headers: res.headers,
        body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
      };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** RFC 6750 §3: the characters allowed in `error_description` (and so in every quoted value we send). */
export const RFC6750_DESCRIPTION = /^[\x20\x21\x23-\x5B\x5D-\x7E]*$/;

/** The auth-params of a `WWW-Authenticate: Bearer …` value (quoted values, as this library writes them). */
export function challengeParams(header: string | null): Record<string, string> {
  if (header === null || !/^Bearer( |$)/.test(header)) throw new Error(`not a Bearer challenge: ${header}`);
  const params: Record<string, string> = {};
  for (const match of header.slice(6).matchAll(/([a-z_]+)="([^"]*)"/g)) params[match[1]!] = match[2]!;
  return params;
}

/**
 * A management API route as data: method, path, who may call it, its zod schemas and its handler. The same list
 * registers the routes, validates every request and generates the OpenAPI document, so they cannot drift apart.
 */
import type { z } from 'zod';

import type { Caller } from '../services/callers.ts';

/**
 * `admin`: an admin-scoped OAuth access token. `self`: a user (PAT with tokens:manage, or trusted JWT). `client`:
 * any OAuth access token from `/token` (client_credentials), acting for its client (SSF stream management).
 */
export type RouteAuth = 'admin' | 'self' | 'client' | 'none';

export interface Reply {
  readonly status: number;
  readonly body?: unknown;
}

export interface RouteInput<B, Q, P = Readonly<Record<string, never>>> {
  readonly body: B;
  readonly query: Q;
  /** The path parameters, validated by the route's `params` schema (a bad one is a 404). */
  readonly params: P;
  /** Null only on `auth: 'none'` routes. */
  readonly caller: Caller | null;
  /** The client's address (X-Forwarded-For only with TRUST_PROXY). */
  readonly address: string;
}

export interface RouteSpec {
  readonly method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** Koa-style path: `/api/users/:user_id`. */
  readonly path: string;
  readonly summary: string;
  readonly tag: string;
  readonly auth: RouteAuth;
  readonly body?: z.ZodType;
  /** Largest body, in bytes (default 16 KiB). */
  readonly bodyLimit?: number;
  readonly query?: z.ZodType;
  /** The path parameters (every `:name` in `path`); each field's description names what it identifies. */
  readonly params?: z.ZodType;
  readonly responses: Readonly<Record<number, { readonly description: string; readonly schema?: z.ZodType }>>;
  handle(input: RouteInput<unknown, unknown, unknown>): Promise<Reply>;
}

/** Defines a route with handler input typed by its schemas. */
export function route<
  B extends z.ZodType = z.ZodUndefined,
  Q extends z.ZodType = z.ZodUndefined,
  P extends z.ZodType = z.ZodObject<Record<string, never>>,
>(spec: {
  method: RouteSpec['method'];
  path: string;
  summary: string;
  tag: string;
  auth: RouteAuth;
  body?: B;
  bodyLimit?: number;
  query?: Q;
  params?: P;
  responses: RouteSpec['responses'];
  handle(input: RouteInput<z.output<B>, z.output<Q>, z.output<P>>): Promise<Reply>;
}): RouteSpec {
  return spec;
}

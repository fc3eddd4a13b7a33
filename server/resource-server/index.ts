/**
 * `tokenwarden/resource-server`: validating Tokenwarden's bearer tokens in a Node API. The framework-agnostic core
 * and plain `node:http` use; the Express, Koa and Fastify adapters are the `/express`, `/koa` and `/fastify`
 * subpaths, so none of those frameworks is loaded unless its adapter is. See docs/protect-your-api.md, "Node SDK
 * (Express, Koa, Fastify)".
 *
 * This library knows Tokenwarden only through its HTTP API and the standards (RFC 6750, 7662, 8414, 9068, 8417,
 * 8935, 8936, OpenID SSF 1.0): it imports nothing from the server.
 */
export { createResourceServer } from './resource-server.ts';
export type { ResourceServer, ResourceServerStatus, Verdict } from './resource-server.ts';
export type { EventOptions, ResourceServerOptions } from './options.ts';
export type { AccessToken } from './claims.ts';
export type { HttpAnswer, Rejection } from './bearer.ts';
export type { PushRequest, SubscriptionState } from './events/subscription.ts';
export { protect, pushListener, send } from './node.ts';
export { OptionsError, ProtocolError, ResourceServerError, UnavailableError } from './errors.ts';

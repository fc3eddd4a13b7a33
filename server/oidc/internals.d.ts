/**
 * Types for the oidc-provider internals Tokenwarden reaches into (`server/introspection/provider-steps.ts`): each
 * endpoint's action is an exported array of named Koa middleware, which oidc-provider spreads into its router when a
 * Provider is constructed.
 */
declare module 'oidc-provider/lib/actions/introspection.js' {
  const steps: Array<(ctx: unknown, next: () => Promise<void>) => unknown>;
  export default steps;
}
declare module 'oidc-provider/lib/actions/revocation.js' {
  const steps: Array<(ctx: unknown, next: () => Promise<void>) => unknown>;
  export default steps;
}
declare module 'oidc-provider/lib/actions/token.js' {
  const steps: Array<(ctx: unknown, next: () => Promise<void>) => unknown>;
  export default steps;
}

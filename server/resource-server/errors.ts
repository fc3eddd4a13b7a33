/**
 * The library's errors, after jose's `JOSEError`: everything it throws on purpose is a {@link ResourceServerError}
 * with a stable string `code`. It shares no code with the server (this library knows Tokenwarden only through
 * its HTTP API), so it has its own base rather than Tokenwarden's `TokenwardenError`.
 */

/** The base of every error this library throws. `code` is stable: `switch (err.code)`. */
export class ResourceServerError extends Error {
  /** `ERR_RS_OPTIONS`, `ERR_RS_UNAVAILABLE`, `ERR_RS_PROTOCOL` or `ERR_RS_SUBSCRIPTION`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A bad option given to `createResourceServer` or a route; `option` names it. */
export class OptionsError extends ResourceServerError {
  constructor(
    readonly option: string,
    message: string,
  ) {
    super('ERR_RS_OPTIONS', `${option}: ${message}`);
  }
}

/**
 * Tokenwarden could not give a usable answer (unreachable, timed out, a 5xx or 429, or refusing this resource
 * server's own client credentials). `retryAfter` is Tokenwarden's `Retry-After` in seconds, when it sent one.
 */
export class UnavailableError extends ResourceServerError {
  constructor(
    message: string,
    readonly retryAfter?: number,
    options?: { cause?: unknown },
  ) {
    super('ERR_RS_UNAVAILABLE', message, options);
  }
}

/** An answer that breaks the protocol it claims to follow (a malformed SET, stream or poll answer). */
export class ProtocolError extends ResourceServerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_RS_PROTOCOL', message, options);
  }
}

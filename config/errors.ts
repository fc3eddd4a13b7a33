/**
 * The one error base of Tokenwarden, after jose's `JOSEError`: every error it throws on purpose is a
 * {@link TokenwardenError} with a stable string `code`, so callers can `switch (err.code)`. The families extend it
 * where they live: `ConfigError` (`config/`), the storage errors (`adapters/types.ts`) and the RFC-shaped HTTP
 * errors (`server/errors.ts`). It lives here, in the lowest layer, because every other layer may import `config/`.
 */
export class TokenwardenError extends Error {
  /** A stable identifier of the failure, e.g. `ERR_CONFIG`, `ERR_STORE_UNAVAILABLE`, `ERR_INVALID_REQUEST`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Thrown when an environment variable is invalid; `variable` names it. */
export class ConfigError extends TokenwardenError {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super('ERR_CONFIG', `${variable}: ${message}`);
  }
}

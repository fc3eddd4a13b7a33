/**
 * The management API, as documented at `/openapi.json`: the console's only source of data. Every failure becomes an
 * {@link ApiError} carrying the API's own `error` and `error_description`, which the pages show as they are.
 */

/** An error answer of the API (or the network failing: status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
  ) {
    super(description);
    this.name = 'ApiError';
  }

  /** The field the API named (`name: must not be empty` → `name`), if any. */
  get field(): string | undefined {
    return /^([a-z_]+)(?:\.\d+)?: /.exec(this.description)?.[1];
  }
}

export interface Page<T> {
  readonly data: T[];
  readonly next_cursor: string | null;
}

export interface User {
  readonly id: string;
  readonly username: string;
  readonly email: string | null;
  readonly disabled: boolean;
  readonly created_at: string;
  readonly updated_at: string;
}

export type TokenStatus = 'active' | 'expired' | 'revoked';

export interface Token {
  readonly id: string;
  readonly user_id: string;
  readonly name: string;
  readonly description: string | null;
  readonly scopes: string[];
  readonly resource: string | null;
  readonly status: TokenStatus;
  readonly created_at: string;
  readonly expires_at: string | null;
  readonly last_used_at: string | null;
  readonly last_used_client: string | null;
  readonly rotated_at: string | null;
  readonly revoked_at: string | null;
}

export interface TokenWithValue extends Token {
  readonly token: string;
}

export interface Client {
  readonly client_id: string;
  readonly client_name: string | null;
  readonly token_endpoint_auth_method: string;
  readonly created_at: string;
  readonly client_secret?: string;
}

export interface AuditEvent {
  readonly id: string;
  readonly type: string;
  readonly at: string;
  readonly user_id: string | null;
  readonly token_id: string | null;
  readonly actor: string;
  readonly via: string;
  readonly details: Record<string, string | number | boolean | null>;
}

export interface Scope {
  readonly name: string;
  readonly description: string;
}

export interface Policy {
  readonly max_lifetime_days: number | null;
  readonly default_lifetime_days: number | null;
  readonly max_tokens_per_user: number;
  readonly max_grace_seconds: number;
}

let bearer: string | null = null;
let onUnauthorized: (error: ApiError) => void = () => {};

/** Sets the access token sent with every call, and what to do when the API refuses it (401). */
export function authorize(token: string | null, unauthorized: (error: ApiError) => void = onUnauthorized): void {
  bearer = token;
  onUnauthorized = unauthorized;
}

/** Calls the API; resolves with the parsed body (undefined for 204), rejects with an {@link ApiError}. */
export async function api<T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: 'omit',
      cache: 'no-store',
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (error) {
    throw new ApiError(0, 'network_error', (error as Error).message);
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let parsed: unknown = undefined;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    const shape = (parsed ?? {}) as { error?: unknown; error_description?: unknown };
    const error = new ApiError(
      response.status,
      typeof shape.error === 'string' ? shape.error : 'http_error',
      typeof shape.error_description === 'string' ? shape.error_description : `HTTP ${response.status}`,
    );
    if (response.status === 401) onUnauthorized(error);
    throw error;
  }
  return parsed as T;
}

/** A query string from the given values, leaving out empty ones. */
export function query(values: Record<string, string | number | undefined | null>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  }
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

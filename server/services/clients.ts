/**
 * OAuth clients registered through the management API (resource servers that call `/introspect` and `/revoke`).
 * Stored as oidc-provider `Client` payloads, validated by oidc-provider itself before they are saved.
 */
import { randomBytes } from 'node:crypto';

import { StoreUnavailableError, type OidcStore } from '../../adapters/types.ts';
import { InvalidRequest, NotFound, assertThat } from '../errors.ts';
import { events } from '../events/catalogue.ts';
import type { Outbox } from '../events/outbox.ts';
import type { Actor } from './audit.ts';
import { hashClientSecret, isHashedClientSecret } from './client-secret-hash.ts';
import type { Clock } from './clock.ts';
import { randomBase62 } from './pat-format.ts';

/**
 * Client authentication methods a registered client may use at the token, introspection and revocation endpoints.
 * Not `client_secret_jwt`: there the secret is an HMAC key, so the server would have to keep it recoverable, where
 * Tokenwarden keeps only a hash of every secret. `private_key_jwt` gives the same "no secret on the wire" with no
 * shared secret at all.
 */
export const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const;
export type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];

export interface RegisterClientInput {
  readonly clientName?: string | undefined;
  readonly tokenEndpointAuthMethod?: ClientAuthMethod | undefined;
  /** Public keys for `private_key_jwt`. */
  readonly jwks?: { keys: Record<string, unknown>[] } | undefined;
}

/** A client as shown by the API: never its secret. */
export interface ClientView {
  readonly clientId: string;
  readonly clientName: string | null;
  readonly tokenEndpointAuthMethod: string;
  readonly createdAt: number;
}

export interface ClientService {
  /** Registers a client; the secret (when the method needs one) is returned here only. */
  register(input: RegisterClientInput): Promise<{ client: ClientView; clientSecret: string | null }>;
  list(): Promise<ClientView[]>;
  /** Deletes the client, which retires its OAuth tokens (an `oauth_token.revoked` event says so). */
  remove(clientId: string, actor?: Actor): Promise<void>;
  /**
   * Hashes client secrets stored in plaintext by earlier versions (idempotent; run at start-up). A client registered
   * with `client_secret_jwt` keeps its secret and authenticates with `client_secret_basic` from now on. Returns the
   * ids of the clients it changed.
   */
  hashStoredSecrets(): Promise<{ hashed: string[]; switchedFromJwt: string[] }>;
}

export interface ClientServiceDeps {
  readonly store: OidcStore;
  readonly clock: Clock;
  /** Validates metadata the way oidc-provider will when it loads the client; throws a described error. */
  readonly validate: (metadata: Record<string, unknown>) => Promise<void>;
  /** Where a deletion's event goes (an intent confirmed once the client is gone). Default: no events. */
  readonly events?: Pick<Outbox, 'intend'>;
}

const MODEL = 'Client';
/** The only scope a registered client may request at `/token` (the admin scope is the admin client's alone). */
export const CLIENT_SCOPE = 'api';

function view(metadata: Record<string, unknown>): ClientView {
  return {
    clientId: String(metadata.client_id),
    clientName: typeof metadata.client_name === 'string' ? metadata.client_name : null,
    tokenEndpointAuthMethod:
      typeof metadata.token_endpoint_auth_method === 'string'
        ? metadata.token_endpoint_auth_method
        : 'client_secret_basic',
    createdAt: typeof metadata.client_id_issued_at === 'number' ? metadata.client_id_issued_at : 0,
  };
}

/** Creates the client registry service. */
export function createClientService(deps: ClientServiceDeps): ClientService {
  const { store, clock, validate } = deps;
  return {
    async register(input) {
      const method = input.tokenEndpointAuthMethod ?? 'client_secret_basic';
      assertThat(
        method !== 'private_key_jwt' || input.jwks,
        () => new InvalidRequest('jwks is required for private_key_jwt', 'jwks'),
      );
      const needsSecret = method !== 'private_key_jwt';
      const clientSecret = needsSecret ? randomBytes(32).toString('base64url') : null;
      const metadata: Record<string, unknown> = {
        client_id: `rs_${randomBase62(20)}`,
        client_id_issued_at: Math.floor(clock.now().getTime() / 1000),
        grant_types: ['client_credentials'],
        // Without a scope list oidc-provider would let the client request every scope, admin included.
        scope: CLIENT_SCOPE,
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: method,
        ...(input.clientName === undefined ? {} : { client_name: input.clientName }),
        ...(clientSecret === null ? {} : { client_secret: hashClientSecret(clientSecret) }),
        ...(input.jwks === undefined ? {} : { jwks: input.jwks }),
      };
      try {
        await validate(metadata);
      } catch (error) {
        const description = (error as { error_description?: string }).error_description ?? 'invalid client metadata';
        throw new InvalidRequest(description);
      }
      await store.upsert(MODEL, String(metadata.client_id), metadata, undefined);
      return { client: view(metadata), clientSecret };
    },

    async list() {
      const all = await store.list(MODEL);
      return all.map(view).sort((a, b) => b.createdAt - a.createdAt || (a.clientId < b.clientId ? 1 : -1));
    },

    async remove(clientId, actor = { id: 'system', via: 'admin_api' }) {
      const existing = await store.find(MODEL, clientId);
      assertThat(existing, () => new NotFound('client'));
      // No document outlives the deletion to carry its event: an intent first, confirmed by the deletion.
      const event = events.oauthTokenRevoked(
        { tokenId: null, clientId, userId: null },
        'client_deleted',
        actor,
        clock.now(),
      );
      const intent = await deps.events?.intend(event, { model: MODEL, storedId: clientId });
      try {
        await store.destroy(MODEL, clientId);
      } catch (error) {
        // Unreachable: the deletion may have happened; the outbox's sweeper settles the intent against the store.
        if (!(error instanceof StoreUnavailableError)) await intent?.abandoned();
        throw error;
      }
      await intent?.confirmed();
    },

    async hashStoredSecrets() {
      const hashed: string[] = [];
      const switchedFromJwt: string[] = [];
      for (const metadata of await store.list(MODEL)) {
        const secret = metadata.client_secret;
        if (typeof secret !== 'string' || isHashedClientSecret(secret)) continue;
        const clientId = String(metadata.client_id);
        const updated: Record<string, unknown> = { ...metadata, client_secret: hashClientSecret(secret) };
        if (metadata.token_endpoint_auth_method === 'client_secret_jwt') {
          updated.token_endpoint_auth_method = 'client_secret_basic';
          switchedFromJwt.push(clientId);
        }
        await store.upsert(MODEL, clientId, updated, undefined);
        hashed.push(clientId);
      }
      return { hashed, switchedFromJwt };
    },
  };
}

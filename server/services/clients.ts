/**
 * OAuth clients registered through the management API (resource servers that call `/introspect` and `/revoke`).
 * Stored as oidc-provider `Client` payloads, validated by oidc-provider itself before they are saved.
 *
 * Two settings beyond authentication, both in the client's metadata:
 * - **token exchange** (RFC 8693): the grant type in its `grant_types` (RFC 7591), which oidc-provider checks at
 *   `/token` like any grant type;
 * - **the resources it serves** (RFC 8707 resource indicators), `resources`, an extra metadata property
 *   (oidc-provider's `extraClientMetadata`): a PAT or exchanged token bound to a resource introspects active only
 *   for a client that serves it.
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
import { TOKEN_EXCHANGE_GRANT } from './token-exchange.ts';

/**
 * Client authentication methods a registered client may use at the token, introspection and revocation endpoints.
 * Not `client_secret_jwt`: there the secret is an HMAC key, so the server would have to keep it recoverable, where
 * Tokenwarden keeps only a hash of every secret. `private_key_jwt` gives the same "no secret on the wire" with no
 * shared secret at all.
 */
export const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const;
export type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];

/** The client metadata property that lists the resources a client serves (oidc-provider `extraClientMetadata`). */
export const RESOURCES_METADATA = 'resources';
/** The most resources one client may serve. */
export const MAX_RESOURCES = 50;

/** The resources a client's metadata says it serves (none when the property is absent or not a list). */
export function resourcesOf(metadata: Readonly<Record<string, unknown>>): readonly string[] {
  const listed = metadata[RESOURCES_METADATA];
  return Array.isArray(listed) ? listed.filter((r): r is string => typeof r === 'string') : [];
}

export interface RegisterClientInput {
  readonly clientName?: string | undefined;
  readonly tokenEndpointAuthMethod?: ClientAuthMethod | undefined;
  /** Public keys for `private_key_jwt`. */
  readonly jwks?: { keys: Record<string, unknown>[] } | undefined;
  /** May exchange PATs for access tokens at `/token` (RFC 8693). Default false. */
  readonly tokenExchange?: boolean | undefined;
  /** The resources (RFC 8707) this client serves as a resource server. Default none. */
  readonly resources?: readonly string[] | undefined;
  /**
   * The development seed's client only (never from the API): this id and secret instead of generated ones. An
   * existing client with that id is replaced.
   */
  readonly fixed?: { readonly clientId: string; readonly clientSecret: string } | undefined;
}

/** What an update may change; absent fields are left alone. */
export interface UpdateClientInput {
  readonly clientName?: string | undefined;
  readonly tokenExchange?: boolean | undefined;
  readonly resources?: readonly string[] | undefined;
}

/** A client as shown by the API: never its secret. */
export interface ClientView {
  readonly clientId: string;
  readonly clientName: string | null;
  readonly tokenEndpointAuthMethod: string;
  readonly tokenExchange: boolean;
  readonly resources: readonly string[];
  readonly createdAt: number;
}

export interface ClientService {
  /** Registers a client; the secret (when the method needs one) is returned here only. */
  register(input: RegisterClientInput): Promise<{ client: ClientView; clientSecret: string | null }>;
  /** Changes a client's name, token exchange permission or served resources. @throws {NotFound} */
  update(clientId: string, input: UpdateClientInput): Promise<ClientView>;
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
  /**
   * Called before a client is deleted; the function it returns is called after. The composition root ends the
   * cached answers of the client's access tokens this way, before the deletion's answer leaves.
   */
  readonly aroundRemove?: (clientId: string) => Promise<() => Promise<void>>;
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
    tokenExchange: Array.isArray(metadata.grant_types) && metadata.grant_types.includes(TOKEN_EXCHANGE_GRANT),
    resources: resourcesOf(metadata),
    createdAt: typeof metadata.client_id_issued_at === 'number' ? metadata.client_id_issued_at : 0,
  };
}

/** The grant types of a registered client: client_credentials, and token exchange when allowed. */
const grantTypes = (tokenExchange: boolean) =>
  tokenExchange ? ['client_credentials', TOKEN_EXCHANGE_GRANT] : ['client_credentials'];

/** Creates the client registry service. */
export function createClientService(deps: ClientServiceDeps): ClientService {
  const { store, clock, validate } = deps;
  /** oidc-provider's own validation of the metadata it will load, as a `400 invalid_request`. */
  const validated = async (metadata: Record<string, unknown>) => {
    try {
      await validate(metadata);
    } catch (error) {
      const description = (error as { error_description?: string }).error_description ?? 'invalid client metadata';
      throw new InvalidRequest(description);
    }
  };
  return {
    async register(input) {
      const method = input.tokenEndpointAuthMethod ?? 'client_secret_basic';
      assertThat(
        method !== 'private_key_jwt' || input.jwks,
        () => new InvalidRequest('jwks is required for private_key_jwt', 'jwks'),
      );
      const needsSecret = method !== 'private_key_jwt';
      const clientSecret = needsSecret ? (input.fixed?.clientSecret ?? randomBytes(32).toString('base64url')) : null;
      const metadata: Record<string, unknown> = {
        client_id: input.fixed?.clientId ?? `rs_${randomBase62(20)}`,
        client_id_issued_at: Math.floor(clock.nowMs() / 1000),
        grant_types: grantTypes(input.tokenExchange ?? false),
        // Without a scope list oidc-provider would let the client request every scope, admin included.
        scope: CLIENT_SCOPE,
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: method,
        ...(input.clientName === undefined ? {} : { client_name: input.clientName }),
        ...(clientSecret === null ? {} : { client_secret: hashClientSecret(clientSecret) }),
        ...(input.jwks === undefined ? {} : { jwks: input.jwks }),
        ...(input.resources === undefined ? {} : { [RESOURCES_METADATA]: [...new Set(input.resources)] }),
      };
      await validated(metadata);
      await store.upsert(MODEL, String(metadata.client_id), metadata, undefined);
      return { client: view(metadata), clientSecret };
    },

    async update(clientId, input) {
      const existing = await store.find(MODEL, clientId);
      assertThat(existing, () => new NotFound('client'));
      const metadata: Record<string, unknown> = structuredClone(existing);
      if (input.clientName !== undefined) metadata.client_name = input.clientName;
      if (input.tokenExchange !== undefined) {
        const granted: unknown = metadata.grant_types;
        const others = Array.isArray(granted)
          ? granted.filter((g): g is string => typeof g === 'string' && g !== TOKEN_EXCHANGE_GRANT)
          : ['client_credentials'];
        metadata.grant_types = input.tokenExchange ? [...others, TOKEN_EXCHANGE_GRANT] : others;
      }
      if (input.resources !== undefined) metadata[RESOURCES_METADATA] = [...new Set(input.resources)];
      await validated(metadata);
      await store.upsert(MODEL, clientId, metadata, undefined);
      return view(metadata);
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
      const after = await deps.aroundRemove?.(clientId);
      try {
        await store.destroy(MODEL, clientId);
      } catch (error) {
        // Unreachable: the deletion may have happened; the outbox's sweeper settles the intent against the store.
        if (!(error instanceof StoreUnavailableError)) await intent?.abandoned();
        throw error;
      }
      await after?.();
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

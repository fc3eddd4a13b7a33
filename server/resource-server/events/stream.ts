/**
 * The SSF 1.0 management API as a receiver uses it: the transmitter's metadata (§7.1, at
 * `{issuer}/.well-known/ssf-configuration`), creating and deleting this receiver's stream (§8.1.1), and triggering
 * a verification event (§8.1.4.2). Every call carries a bearer access token this resource server gets from
 * Tokenwarden's `/token` with `client_credentials` (SSF §9, and the contract); a 401 gets one fresh token and
 * one retry.
 */
import { randomBytes } from 'node:crypto';

import { jsonObject, unusable, usableUrl, type AuthorizationServerClient } from '../authorization-server.ts';
import { ProtocolError } from '../errors.ts';

/** RFC 8936 poll delivery. */
export const POLL_DELIVERY = 'urn:ietf:rfc:8936';
/** RFC 8935 push delivery. */
export const PUSH_DELIVERY = 'urn:ietf:rfc:8935';

/** The members of the transmitter's metadata this receiver uses. */
export interface TransmitterMetadata {
  readonly issuer: string;
  readonly jwks_uri: string;
  readonly delivery_methods_supported: readonly string[];
  readonly configuration_endpoint: string;
  readonly verification_endpoint: string | undefined;
}

/** This receiver's stream, as the transmitter created it. */
export interface Stream {
  readonly id: string;
  readonly method: string;
  /** Poll: where to poll (transmitter-supplied). Push: where the transmitter pushes. */
  readonly endpointUrl: string;
  /** SSF §8.1.1: seconds between verification requests the transmitter accepts, if it says. */
  readonly minVerificationInterval: number | undefined;
}

/** The delivery a stream is created with. */
export type Delivery =
  | { readonly method: typeof POLL_DELIVERY }
  | { readonly method: typeof PUSH_DELIVERY; readonly endpointUrl: string; readonly authorizationHeader: string };

/** The stream no longer exists at the transmitter (404): create a new one. */
export class StreamGone extends ProtocolError {
  constructor() {
    super('the event stream no longer exists at Tokenwarden');
  }
}

/** The management API calls. */
export interface StreamClient {
  metadata(): Promise<TransmitterMetadata>;
  create(delivery: Delivery): Promise<Stream>;
  /** Deletes the stream (best effort: errors are the caller's to ignore). */
  delete(stream: Stream): Promise<void>;
  /** Asks for a verification event carrying `state`. */
  verify(stream: Stream, state: string): Promise<void>;
  /** An authorized JSON POST (used for polling). */
  post(url: string, body: unknown): Promise<Response>;
}

const string = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

/** Creates the client over the authorization server's client (for tokens and timeouts). */
export function createStreamClient(as: AuthorizationServerClient): StreamClient {
  let metadata: Promise<TransmitterMetadata> | undefined;
  const url = (value: unknown, what: string) => {
    const text = string(value);
    if (text === undefined) throw new ProtocolError(`the SSF configuration has no ${what}`);
    let parsed: URL;
    try {
      parsed = usableUrl(text, what);
    } catch {
      throw new ProtocolError(`${what} is not https (or http on a loopback address)`);
    }
    if (!as.insecure && parsed.protocol !== 'https:') throw new ProtocolError(`${what} is not https`);
    return text;
  };

  async function authorized(target: string, init: RequestInit): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const headers = new Headers(init.headers);
      headers.set('Authorization', `Bearer ${await as.accessToken()}`);
      const response = await as.fetch(target, { ...init, headers });
      if (response.status !== 401 || attempt === 1) return response;
      await response.body?.cancel();
      as.forgetAccessToken();
    }
  }
  const json = (method: string, body: unknown): RequestInit => ({
    method,
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(body),
  });

  return {
    metadata() {
      metadata ??= (async () => {
        const target = new URL('/.well-known/ssf-configuration', as.issuer).href;
        const response = await as.fetch(target, { headers: { Accept: 'application/json' } });
        if (response.status !== 200) throw await unusable(response, 'the SSF configuration');
        const body = await jsonObject(response, 'the SSF configuration');
        if (body.issuer !== as.issuer) throw new ProtocolError('the SSF configuration names another issuer');
        const methods = Array.isArray(body.delivery_methods_supported) ? body.delivery_methods_supported : [];
        return {
          issuer: as.issuer,
          jwks_uri: url(body.jwks_uri, 'jwks_uri'),
          delivery_methods_supported: methods.filter((m): m is string => typeof m === 'string'),
          configuration_endpoint: url(body.configuration_endpoint, 'configuration_endpoint'),
          verification_endpoint:
            body.verification_endpoint === undefined ? undefined : url(body.verification_endpoint, 'verification'),
        };
      })().catch((error: unknown) => {
        metadata = undefined;
        throw error;
      });
      return metadata;
    },

    async create(delivery) {
      const meta = await this.metadata();
      if (!meta.delivery_methods_supported.includes(delivery.method))
        throw new ProtocolError(`Tokenwarden does not offer ${delivery.method} delivery`);
      const requested =
        delivery.method === POLL_DELIVERY
          ? { method: POLL_DELIVERY }
          : {
              method: PUSH_DELIVERY,
              endpoint_url: delivery.endpointUrl,
              authorization_header: delivery.authorizationHeader,
            };
      const response = await authorized(meta.configuration_endpoint, json('POST', { delivery: requested }));
      if (response.status !== 201 && response.status !== 200) throw await unusable(response, 'stream creation');
      const body = await jsonObject(response, 'stream creation');
      const configured = (body.delivery ?? {}) as Record<string, unknown>;
      const id = string(body.stream_id);
      if (id === undefined) throw new ProtocolError('the created stream has no stream_id');
      if (configured.method !== delivery.method) throw new ProtocolError('the stream was created for another method');
      return {
        id,
        method: delivery.method,
        endpointUrl:
          delivery.method === POLL_DELIVERY
            ? url(configured.endpoint_url, 'delivery.endpoint_url')
            : delivery.endpointUrl,
        minVerificationInterval:
          typeof body.min_verification_interval === 'number' ? body.min_verification_interval : undefined,
      };
    },

    async delete(stream) {
      const meta = await this.metadata();
      const target = new URL(meta.configuration_endpoint);
      target.searchParams.set('stream_id', stream.id);
      const response = await authorized(target.href, { method: 'DELETE' });
      await response.body?.cancel();
    },

    async verify(stream, state) {
      const meta = await this.metadata();
      if (meta.verification_endpoint === undefined)
        throw new ProtocolError('Tokenwarden has no verification endpoint, which push delivery needs here');
      const response = await authorized(meta.verification_endpoint, json('POST', { stream_id: stream.id, state }));
      if (response.status === 404) throw new StreamGone();
      if (response.status !== 204 && response.status !== 200) throw await unusable(response, 'verification');
      await response.body?.cancel();
    },

    post: (target, body) => authorized(target, json('POST', body)),
  };
}

/** A random secret for push authorization and verification states. */
export const randomSecret = () => randomBytes(32).toString('base64url');

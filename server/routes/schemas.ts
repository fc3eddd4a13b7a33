/**
 * The management API's schemas, in zod: request bodies and query strings (validation and TypeScript types) and
 * responses (the OpenAPI document). One definition serves all three.
 */
import { z } from 'zod';

import { tokenStatus, type AuditEvent, type Cursor, type PatRecord, type UserRecord } from '../../adapters/types.ts';
import { InvalidRequest } from '../errors.ts';
import { AUDIT_TYPES } from '../services/audit.ts';
import { CLIENT_AUTH_METHODS, MAX_RESOURCES, type ClientView } from '../services/clients.ts';
import { MAX_RESOURCE_LENGTH } from '../services/resources.ts';
import { MAX_GRACE_SECONDS } from '../pats/policy.ts';
import { PAT_ID } from '../services/pat-format.ts';
import type { CreatePatInput, RotatePatInput, UpdatePatInput } from '../pats/types.ts';

/** User ids: 1-128 characters that are safe in a URL path segment. */
const USER_ID = /^[A-Za-z0-9._:@-]{1,128}$/;
/** RFC 6749 §3.3 scope-token. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;
/** Printable: no control characters (C0, DEL, C1). */
const PRINTABLE = /^[^\p{Cc}]*$/u;

const name = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(100, 'must be at most 100 characters')
  .regex(PRINTABLE, 'must contain printable characters only');
const description = z.string().trim().max(1000).regex(PRINTABLE, 'must contain printable characters only').nullable();
const dateTime = z.iso.datetime({ offset: true, message: 'must be an RFC 3339 date-time' });
const resource = z
  .url({ message: 'must be an absolute URI' })
  .max(MAX_RESOURCE_LENGTH)
  .refine((u) => !u.includes('#'), 'must not contain a fragment (RFC 8707)');
/** The resources a resource-server client serves (RFC 8707 resource indicators). */
const servedResources = z
  .array(resource)
  .max(MAX_RESOURCES)
  .refine((list) => new Set(list).size === list.length, 'must not repeat a resource')
  .describe(
    'the RFC 8707 resource indicators this client serves: a PAT or exchanged token bound to one of them introspects active for it, and only for clients that serve it',
  );
const tokenExchange = z
  .boolean()
  .describe('may exchange PATs for short-lived JWT access tokens at /token (RFC 8693 token exchange)');

/** Path parameters: each field's description is what a 404 names when the parameter cannot be an id. */
const userIdParam = z.string().regex(USER_ID).describe('user');
const tokenIdParam = z.string().regex(PAT_ID).describe('token');
export const params = {
  user: z.strictObject({ user_id: userIdParam }),
  userToken: z.strictObject({ user_id: userIdParam, id: tokenIdParam }),
  ownToken: z.strictObject({ id: tokenIdParam }),
  client: z.strictObject({
    client_id: z
      .string()
      .regex(/^[\x21-\x7e]{1,255}$/)
      .describe('client'),
  }),
};

/** Request bodies. */
export const bodies = {
  createUser: z.strictObject({
    id: z.string().regex(USER_ID, 'must be 1-128 characters of A-Z a-z 0-9 . _ : @ -').optional(),
    username: name,
    email: z.email().max(254).nullable().optional(),
  }),
  patchUser: z.strictObject({ disabled: z.boolean() }),
  createToken: z.strictObject({
    name,
    description: description.optional(),
    scopes: z.array(z.string().regex(SCOPE_TOKEN, 'must be an RFC 6749 scope token')).max(50),
    expires_at: dateTime.nullable().optional().describe('omit for the default lifetime; null for none, if allowed'),
    resource: resource.nullable().optional(),
  }),
  patchToken: z
    .strictObject({
      name: name.optional(),
      description: description.optional(),
      expires_at: dateTime.optional().describe('may only be brought earlier'),
    })
    .refine((b) => Object.keys(b).length > 0, 'give at least one of name, description, expires_at'),
  rotateToken: z.strictObject({
    expires_at: dateTime.nullable().optional(),
    grace_seconds: z.number().int().min(0).max(MAX_GRACE_SECONDS).optional(),
  }),
  createClient: z.strictObject({
    client_name: name.optional(),
    token_endpoint_auth_method: z.enum(CLIENT_AUTH_METHODS).optional(),
    jwks: z
      .strictObject({
        keys: z
          .array(z.looseObject({ kty: z.string() }))
          .min(1)
          .max(10),
      })
      .optional(),
    token_exchange: tokenExchange.optional(),
    resources: servedResources.optional(),
  }),
  patchClient: z
    .strictObject({
      client_name: name.optional(),
      token_exchange: tokenExchange.optional(),
      resources: servedResources.optional(),
    })
    .refine((b) => Object.keys(b).length > 0, 'give at least one of client_name, token_exchange, resources'),
};

const limit = z.coerce.number().int().min(1).max(200).default(50);
const cursor = z.string().max(300).optional();
const status = z.enum(['active', 'expired', 'revoked', 'all']);

/** Query strings (every value arrives as a string; a repeated parameter arrives as an array and is refused). */
export const queries = {
  page: z.strictObject({ limit, cursor }),
  users: z.strictObject({
    limit,
    cursor,
    q: z
      .string()
      .trim()
      .min(1)
      .max(100)
      .regex(PRINTABLE, 'must contain printable characters only')
      .optional()
      .describe('only users whose id, username or email contains this (case-insensitive)'),
  }),
  userTokens: z.strictObject({ limit, cursor, status: status.default('all') }),
  allTokens: z.strictObject({
    limit,
    cursor,
    status: status.default('all'),
    user_id: z.string().regex(USER_ID).optional(),
    expires_before: dateTime.optional(),
    last_used_before: dateTime.optional(),
    created_before: dateTime.optional(),
  }),
  inactiveTokens: z.strictObject({
    limit,
    cursor,
    days: z.coerce
      .number()
      .int()
      .min(1)
      .max(3650)
      .optional()
      .describe(
        'unused for this many days (default: INACTIVE_TOKEN_DAYS); never-used tokens count from their creation',
      ),
  }),
  audit: z.strictObject({
    limit,
    cursor,
    user_id: z.string().regex(USER_ID).optional(),
    token_id: z.string().max(64).optional(),
    type: z.enum(AUDIT_TYPES).optional(),
    from: dateTime.optional(),
    to: dateTime.optional(),
  }),
  meAudit: z.strictObject({
    limit,
    cursor,
    token_id: z.string().max(64).optional(),
    type: z.enum(AUDIT_TYPES).optional(),
  }),
};

/** Opaque pagination cursors: base64url of `[epoch ms, id]`. */
export const cursors = {
  encode: (c: Cursor | null) => (c ? Buffer.from(JSON.stringify([c.at.getTime(), c.id])).toString('base64url') : null),
  decode(raw: string | undefined): Cursor | undefined {
    if (raw === undefined) return undefined;
    try {
      const [ms, id] = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as unknown[];
      if (typeof ms === 'number' && Number.isFinite(ms) && typeof id === 'string') return { at: new Date(ms), id };
    } catch {
      // fall through
    }
    throw new InvalidRequest('cursor: not a cursor this API returned', 'cursor');
  },
};

/** Response schemas. */
const isoOrNull = z.iso.datetime().nullable();
export const responses = {
  error: z.object({ error: z.string(), error_description: z.string() }),
  user: z.object({
    id: z.string(),
    username: z.string(),
    email: z.string().nullable(),
    disabled: z.boolean(),
    created_at: z.iso.datetime(),
    updated_at: z.iso.datetime(),
  }),
  token: z.object({
    id: z.string(),
    user_id: z.string(),
    name: z.string(),
    description: z.string().nullable(),
    scopes: z.array(z.string()),
    resource: z.string().nullable(),
    status: z.enum(['active', 'expired', 'revoked']),
    created_at: z.iso.datetime(),
    expires_at: isoOrNull,
    last_used_at: isoOrNull,
    last_used_client: z.string().nullable(),
    rotated_at: isoOrNull,
    revoked_at: isoOrNull,
  }),
  client: z.object({
    client_id: z.string(),
    client_name: z.string().nullable(),
    token_endpoint_auth_method: z.string(),
    token_exchange: z.boolean(),
    resources: z.array(z.string()),
    created_at: z.iso.datetime(),
  }),
  audit: z.object({
    id: z.string(),
    type: z.string(),
    at: z.iso.datetime(),
    user_id: z.string().nullable(),
    token_id: z.string().nullable(),
    actor: z.string(),
    via: z.string(),
    details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
  }),
  scope: z.object({ name: z.string(), description: z.string() }),
  policy: z.object({
    max_lifetime_days: z.number().int().nullable().describe('null: no limit (tokens may never expire)'),
    default_lifetime_days: z.number().int().nullable().describe('the lifetime of a token created without expires_at'),
    max_tokens_per_user: z.number().int().describe('live (unrevoked, unexpired) tokens per user'),
    max_grace_seconds: z.number().int().describe('the longest grace period a rotation may give the old value'),
  }),
};
export const withValue = responses.token.extend({
  token: z.string().describe('the PAT value: shown once, never again'),
});
export const withSecret = responses.client.extend({ client_secret: z.string().optional() });
export const page = <T extends z.ZodType>(item: T) =>
  z.object({ data: z.array(item), next_cursor: z.string().nullable() });
export const inactivePage = page(responses.token).extend({
  inactive_days: z.number().int().describe('the tokens listed were neither used nor created in this many days'),
  unused_since: z.iso.datetime().describe('now less inactive_days'),
  enforced: z
    .boolean()
    .describe('whether INACTIVE_TOKEN_DAYS is these days, so that the next sweep revokes these tokens'),
});

const iso = (d: Date | null) => (d === null ? null : d.toISOString());
/** `undefined` stays "not given", `null` stays "none", a string becomes a Date. */
const dateOrNull = (v: string | null | undefined) => (v === undefined ? undefined : v === null ? null : new Date(v));

/** Request bodies as service inputs (the same for the admin and the self-service routes). */
export const inputs = {
  createToken: (b: z.output<typeof bodies.createToken>): CreatePatInput => ({
    name: b.name,
    description: b.description,
    scopes: b.scopes,
    expiresAt: dateOrNull(b.expires_at),
    resource: b.resource,
  }),
  patchToken: (b: z.output<typeof bodies.patchToken>): UpdatePatInput => ({
    name: b.name,
    description: b.description,
    expiresAt: b.expires_at === undefined ? undefined : new Date(b.expires_at),
  }),
  rotateToken: (b: z.output<typeof bodies.rotateToken>): RotatePatInput => ({
    expiresAt: dateOrNull(b.expires_at),
    graceSeconds: b.grace_seconds ?? 0,
  }),
};

/** A response page: rows rendered, and the cursor of the next page. */
export function pageOf<T>(items: readonly T[], next: Cursor | null, render: (row: T) => unknown) {
  return { data: items.map(render), next_cursor: cursors.encode(next) };
}

/** Renders records as the API shows them (snake_case; never a value or hash). */
export const views = {
  user: (u: UserRecord): z.output<typeof responses.user> => ({
    id: u.id,
    username: u.username,
    email: u.email,
    disabled: u.disabled,
    created_at: u.createdAt.toISOString(),
    updated_at: u.updatedAt.toISOString(),
  }),
  token: (p: PatRecord, now: Date): z.output<typeof responses.token> => ({
    id: p.id,
    user_id: p.userId,
    name: p.name,
    description: p.description,
    scopes: [...p.scopes],
    resource: p.resource,
    status: tokenStatus(p, now),
    created_at: p.createdAt.toISOString(),
    expires_at: iso(p.expiresAt),
    last_used_at: iso(p.lastUsedAt),
    last_used_client: p.lastUsedClient,
    rotated_at: iso(p.rotatedAt),
    revoked_at: iso(p.revokedAt),
  }),
  client: (c: ClientView): z.output<typeof responses.client> => ({
    client_id: c.clientId,
    client_name: c.clientName,
    token_endpoint_auth_method: c.tokenEndpointAuthMethod,
    token_exchange: c.tokenExchange,
    resources: [...c.resources],
    created_at: new Date(c.createdAt * 1000).toISOString(),
  }),
  audit: (e: AuditEvent): z.output<typeof responses.audit> => ({
    id: e.id,
    type: e.type,
    at: e.at.toISOString(),
    user_id: e.userId,
    token_id: e.tokenId,
    actor: e.actor,
    via: e.via,
    details: { ...e.details },
  }),
};

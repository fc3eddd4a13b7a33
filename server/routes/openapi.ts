/**
 * The OpenAPI 3.1 document of the management API, generated from the route specs (the same zod schemas that
 * validate requests), served at `GET /openapi.json`.
 */
import type { Middleware } from 'koa';
import { z } from 'zod';

import { responses } from './schemas.ts';
import type { RouteSpec } from './spec.ts';

type JsonSchema = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;
  delete out.$schema;
  return out;
}

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

function operation(spec: RouteSpec) {
  const pathSchemas = spec.params
    ? ((jsonSchema(spec.params, 'input').properties as Record<string, JsonSchema> | undefined) ?? {})
    : {};
  const parameters: JsonSchema[] = [...spec.path.matchAll(/:(\w+)/g)].map((m) => ({
    name: m[1],
    in: 'path',
    required: true,
    schema: pathSchemas[m[1]!] ?? { type: 'string' },
  }));
  if (spec.query) {
    const query = jsonSchema(spec.query, 'input');
    const required = new Set((query.required as string[] | undefined) ?? []);
    for (const [name, schema] of Object.entries((query.properties as Record<string, JsonSchema> | undefined) ?? {})) {
      parameters.push({ name, in: 'query', required: required.has(name), schema });
    }
  }
  const out: Record<string, unknown> = {};
  for (const [status, { description, schema }] of Object.entries(spec.responses)) {
    out[status] = schema
      ? { description, content: { 'application/json': { schema: jsonSchema(schema, 'output') } } }
      : Number(status) >= 400
        ? errorResponse(description)
        : { description };
  }
  out['400'] ??= errorResponse('invalid request: `error_description` names the field');
  if (spec.auth !== 'none') {
    out['401'] ??= errorResponse('missing or invalid bearer token');
    out['403'] ??= errorResponse('insufficient_scope');
  }
  out['503'] ??= errorResponse('storage temporarily unavailable; see Retry-After');
  return {
    operationId: `${spec.method}${spec.path.replace(/[/:-](\w)/g, (_m, c: string) => c.toUpperCase())}`,
    summary: spec.summary,
    tags: [spec.tag],
    security: spec.auth === 'none' ? [] : [{ bearer: [] }],
    ...(parameters.length ? { parameters } : {}),
    ...(spec.body
      ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(spec.body, 'input') } } } }
      : {}),
    responses: out,
  };
}

/** Builds the document. */
export function openApiDocument(routes: readonly RouteSpec[], serverUrl: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of routes) {
    const path = spec.path.replace(/:(\w+)/g, '{$1}');
    (paths[path] ??= {})[spec.method] = operation(spec);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tokenwarden management API',
      version: '1.0.0',
      description:
        'Users, personal access tokens, clients, webhooks, SSF streams and the audit log. Tokens are validated by resource servers ' +
        'through RFC 7662 POST /introspect, described by the OAuth metadata at /.well-known/oauth-authorization-server.',
    },
    servers: [{ url: serverUrl }],
    paths,
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description:
            'Admin routes: an OAuth access token with scope "admin" (client_credentials at /token). ' +
            'Self-service routes (/api/me): a PAT with scope "tokens:manage", or a JWT from a trusted issuer. ' +
            'SSF routes (/api/ssf): an OAuth access token of a registered client (client_credentials); its streams.',
        },
      },
      schemas: { Error: jsonSchema(responses.error, 'output') },
    },
  };
}

/** Serves the document at `GET /openapi.json` (built once). */
export function openApiRoute(document: Record<string, unknown>): Middleware {
  const body = JSON.stringify(document);
  return async function serveOpenApi(ctx, next) {
    if (ctx.path !== '/openapi.json' || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) {
      await next();
      return;
    }
    ctx.type = 'application/json';
    ctx.body = body;
  };
}

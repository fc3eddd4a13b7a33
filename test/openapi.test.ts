import assert from 'node:assert/strict';

import { Validator } from '@seriousme/openapi-schema-validator';

import { startApp, type TestApp } from './support/app.ts';

describe('GET /openapi.json', () => {
  let app: TestApp;
  let doc: { openapi: string; paths: Record<string, Record<string, unknown>> };

  before(async () => {
    app = await startApp();
    const res = await fetch(`${app.url}/openapi.json`);
    assert.equal(res.status, 200);
    doc = (await res.json()) as typeof doc;
  });
  after(() => app.close());

  it('is a valid OpenAPI 3.1 document', async () => {
    assert.equal(doc.openapi, '3.1.0');
    const result = await new Validator().validate(doc);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
  });

  it('describes every /api route, and every route it describes exists', async () => {
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    const expected = [
      'POST /api/users',
      'GET /api/users',
      'GET /api/users/{user_id}',
      'PATCH /api/users/{user_id}',
      'DELETE /api/users/{user_id}',
      'POST /api/users/{user_id}/tokens/revoke-all',
      'POST /api/users/{user_id}/tokens',
      'GET /api/users/{user_id}/tokens',
      'GET /api/users/{user_id}/tokens/{id}',
      'PATCH /api/users/{user_id}/tokens/{id}',
      'DELETE /api/users/{user_id}/tokens/{id}',
      'POST /api/users/{user_id}/tokens/{id}/rotate',
      'GET /api/tokens',
      'GET /api/tokens/inactive',
      'GET /api/audit',
      'POST /api/clients',
      'GET /api/clients',
      'DELETE /api/clients/{client_id}',
      'GET /api/policy',
      'GET /api/scopes',
      'POST /api/credentials/revoke',
      'GET /api/me',
      'GET /api/me/tokens',
      'POST /api/me/tokens',
      'GET /api/me/tokens/current',
      'POST /api/me/tokens/current/rotate',
      'GET /api/me/tokens/{id}',
      'PATCH /api/me/tokens/{id}',
      'DELETE /api/me/tokens/{id}',
      'POST /api/me/tokens/{id}/rotate',
      'GET /api/me/audit',
      'POST /api/webhooks',
      'GET /api/webhooks',
      'GET /api/webhooks/{id}',
      'PATCH /api/webhooks/{id}',
      'DELETE /api/webhooks/{id}',
      'POST /api/webhooks/{id}/test',
      'GET /api/webhooks/{id}/deliveries',
      'POST /api/ssf/stream',
      'GET /api/ssf/stream',
      'PATCH /api/ssf/stream',
      'PUT /api/ssf/stream',
      'DELETE /api/ssf/stream',
      'GET /api/ssf/status',
      'POST /api/ssf/status',
      'POST /api/ssf/verify',
      'POST /api/ssf/poll/{stream_id}',
    ];
    assert.deepEqual([...documented].sort(), [...expected].sort());
    // Each documented operation is routed: without credentials it answers 401 (public ones: not 404/405).
    const publicOps = new Set(['GET /api/scopes', 'GET /api/policy', 'POST /api/credentials/revoke']);
    for (const op of documented) {
      const [method, path] = op.split(' ') as [string, string];
      const res = await fetch(`${app.url}${path.replace(/\{[^}]+\}/g, 'x')}`, { method });
      if (publicOps.has(op)) assert.ok(res.status !== 404 && res.status !== 405, `${op}: ${res.status}`);
      else assert.equal(res.status, 401, op);
    }
  });

  it('documents request bodies and their constraints from the validating schemas', () => {
    const create = doc.paths['/api/users/{user_id}/tokens']?.post as {
      requestBody: {
        content: {
          'application/json': {
            schema: { properties: Record<string, unknown>; required: string[]; additionalProperties: boolean };
          };
        };
      };
    };
    const schema = create.requestBody.content['application/json'].schema;
    assert.deepEqual([...schema.required].sort(), ['name', 'scopes']);
    assert.equal(schema.additionalProperties, false);
    assert.equal((schema.properties.name as { maxLength: number }).maxLength, 100);
  });
});

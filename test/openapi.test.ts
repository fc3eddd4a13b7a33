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
      'PATCH /api/clients/{client_id}',
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

  it('documents a client’s token exchange permission and served resources, on registration and update', () => {
    for (const [path, method] of [
      ['/api/clients', 'post'],
      ['/api/clients/{client_id}', 'patch'],
    ] as const) {
      const op = doc.paths[path]?.[method] as {
        requestBody: { content: { 'application/json': { schema: { properties: Record<string, unknown> } } } };
      };
      const { properties } = op.requestBody.content['application/json'].schema;
      assert.equal((properties.token_exchange as { type: string }).type, 'boolean', `${method} ${path}`);
      const resources = properties.resources as { type: string; items: { format?: string }; description: string };
      assert.equal(resources.type, 'array');
      assert.match(resources.description, /RFC 8707/);
    }
  });
});

describe('GET /docs', () => {
  let app: TestApp;
  before(async () => {
    app = await startApp({ memory: true });
  });
  after(() => app.close());

  it("serves the reference page and Swagger UI's files from this server, under a CSP that allows only this origin", async () => {
    const page = await fetch(`${app.url}/docs`);
    assert.equal(page.status, 200);
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe|https?:/);
    const html = await page.text();
    const scripts = [...html.matchAll(/<script src="([^"]+)"><\/script>/g)].map((m) => m[1]!);
    assert.deepEqual(scripts, ['/docs/swagger-ui-bundle.js', '/docs/init.js']);
    assert.doesNotMatch(html, /<script>|<style|style=/, 'no inline code');
    for (const path of [...scripts, '/docs/swagger-ui.css']) {
      const res = await fetch(`${app.url}${path}`);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.ok((await res.arrayBuffer()).byteLength > 0, path);
    }
    assert.match(await (await fetch(`${app.url}/docs/init.js`)).text(), /url: '\/openapi\.json'/);
  });

  it('serves no other file of the package', async () => {
    for (const path of ['/docs/package.json', '/docs/index.html', '/docs/../package.json', '/docs/swagger-ui.js.map']) {
      assert.equal((await fetch(`${app.url}${path}`)).status, 404, path);
    }
  });
});

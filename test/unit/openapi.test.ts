/**
 * GET /v1/openapi.json is generated from the route table that registers the handlers (workers/core/
 * openapi.ts): every route Hono serves appears in it with its method, and nothing else does; every answer
 * has a schema (errors the shared Error schema), every body and parameter too; and it passes Redocly's
 * recommended ruleset (the exceptions below, with the reason). Also the input validation that the same
 * schemas do (stable error codes, no state change on bad input). That real answers match the schemas:
 * openapi-conformance.test.ts; that the validator agrees with Ajv: schema.test.ts.
 */
import { createConfig, lintFromString } from '@redocly/openapi-core';
import { describe, expect, it } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { replicaApp } from '../../workers/core/app.ts';
import { ReplicaHost } from '../../workers/core/host.ts';
import { MemoryStore } from '../../workers/core/store.ts';
import { testGroup } from '../helpers/group.ts';
import { DocumentSchemas } from '../helpers/openapi.ts';
import type { OpenApiDoc } from '../helpers/openapi.ts';

function makeApp() {
  const { group, secrets } = testGroup(4);
  const host = new ReplicaHost(group, secrets[0]!, new MemoryStore(), { post: async () => ({ status: 503, body: null }) }, () => 0, { bootstrap: true });
  return { host, app: replicaApp(host, { now: () => 0, afterChange: () => undefined }) };
}

describe('OpenAPI document', () => {
  it('lists exactly the registered routes', async () => {
    const { app } = makeApp();
    const res = await app.request('/v1/openapi.json');
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, { operationId: string; responses: object }>> };
    expect(doc.openapi).toBe('3.1.0');
    const registered = app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`);
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`));
    expect(new Set(registered)).toEqual(new Set(documented));
    for (const must of ['post /v1/requests', 'get /v1/receipts/{id}', 'post /v1/notary/stamp', 'get /v1/notary/stamps/{digest}', 'get /v1/notary/seq/{index}', 'post /v1/ca/requests', 'get /v1/ca/requests/{id}', 'get /v1/ca/names/{name}', 'get /v1/openapi.json']) {
      expect(documented).toContain(must);
    }
    const ids = Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((o) => o.operationId));
    expect(new Set(ids).size).toBe(ids.length);
    expect(doc.paths['/v1/notary/stamps/{digest}']!['get']).toMatchObject({ parameters: [{ name: 'digest', in: 'path', required: true }] });
  });
});

/**
 * Redocly recommended-ruleset findings we accept, each with the reason. Nothing else may be reported,
 * warnings included.
 */
const LINT_EXCEPTIONS: { rule: string; pointers: string[]; why: string }[] = [
  {
    rule: 'operation-4xx-response',
    pointers: ['/v1/info', '/v1/health', '/v1/metrics', '/metrics', '/v1/openapi.json'].map((p) => `#/paths/${p.replaceAll('/', '~1')}/get/responses`),
    why: 'these routes take no input and answer no 4xx of their own (404 and 405 belong to other paths and methods; `default` documents 5xx errors)',
  },
  {
    rule: 'no-ambiguous-paths',
    pointers: ['#/paths/~1{chainhash}~1info'],
    why: "drand's API (docs/beacon.md) has both /public/{round} and /{chainhash}/info, which a URL /public/info would match; a chain hash is 64 hex digits and a round an integer, so no URL either route answers is both, and the route table tries /public/{round} first",
  },
];

async function documentOf(): Promise<OpenApiDoc & Record<string, any>> {
  return (await (await makeApp().app.request('/v1/openapi.json')).json()) as OpenApiDoc & Record<string, any>;
}

describe('OpenAPI document: schemas', () => {
  it('every answer, body and parameter has a schema; errors are the shared Error schema', async () => {
    const doc = await documentOf();
    expect(doc.components.schemas['Error']).toMatchObject({ required: ['error'], properties: { error: { required: ['code', 'message'] } } });
    const ajv = new DocumentSchemas(doc);
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const where = `${method} ${path}`;
        expect(op.responses['default']?.content?.['application/json']?.schema, where).toEqual({ $ref: '#/components/schemas/Error' });
        for (const [status, r] of Object.entries(op.responses)) {
          const content = Object.entries(r.content ?? {});
          expect(content.length, `${where} ${status}`).toBeGreaterThan(0);
          for (const [type, { schema }] of content) {
            expect(schema, `${where} ${status} ${type}`).toBeTypeOf('object');
            // Every schema compiles in Ajv (draft 2020-12, strict): well-formed, no unknown keywords.
            ajv.compile(`${where} ${status} ${type}`, schema);
            if (Number(status) >= 400) {
              // An error is the Error schema, or extends it (health's 503, a peer's 409 with its ack).
              const text = JSON.stringify(schema);
              expect(text === '{"$ref":"#/components/schemas/Error"}' || (schema as { allOf?: unknown[] }).allOf?.[0] !== undefined, `${where} ${status}`).toBe(true);
              expect(text, `${where} ${status}`).toContain('#/components/schemas/Error');
            }
          }
        }
        for (const p of op.parameters ?? []) {
          expect(p.schema, `${where} ${p.name}`).toHaveProperty('type');
          ajv.compile(`${where} param ${p.name}`, p.schema);
        }
        for (const [type, { schema }] of Object.entries(op.requestBody?.content ?? {})) ajv.compile(`${where} body ${type}`, schema);
        if (method === 'post') expect(op.requestBody, where).toBeDefined();
      }
    }
    // The client's request forms and the checkpoint are named components, shared by the routes.
    expect(doc.paths['/v1/requests']!['post']!.requestBody!.content['application/json']!.schema).toEqual({ $ref: '#/components/schemas/RequestObject' });
    expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(['Checkpoint', 'Receipt', 'RequestStatus', 'CaRequest', 'DirectoryStatement', 'StampRegistration']));
    // Writes document the optional API key; reads none.
    expect(doc.paths['/v1/requests']!['post']).toMatchObject({ security: [{}, { apiKey: [] }] });
    expect(doc.paths['/v1/info']!['get']).toMatchObject({ security: [] });
  });

  it("passes Redocly's recommended ruleset (exceptions listed with their reason)", async () => {
    const doc = await documentOf();
    const config = await createConfig({ extends: ['recommended'] });
    const problems = await lintFromString({ source: JSON.stringify(doc), absoluteRef: 'openapi.json', config });
    const unexpected = problems
      .filter((p) => !LINT_EXCEPTIONS.some((e) => e.rule === p.ruleId && e.pointers.includes(p.location[0]?.pointer ?? '')))
      .map((p) => `${p.severity} ${p.ruleId} ${p.location[0]?.pointer}: ${p.message}`);
    expect(unexpected).toEqual([]);
    // The exceptions are still needed (else remove them).
    for (const e of LINT_EXCEPTIONS) expect(problems.filter((p) => p.ruleId === e.rule).map((p) => p.location[0]?.pointer).sort()).toEqual([...e.pointers].sort());
  });
});

describe('input validation by the published schemas', () => {
  const codeOf = async (r: Response | Promise<Response>) => ((await (await r).json()) as { error: { code: string; message: string } }).error;

  it('parameters: each answers its stable code, before the handler runs', async () => {
    const { app, host } = makeApp();
    const cases: [string, string][] = [
      ['/v1/requests/ABC', 'bad-id'],
      ['/v1/receipts/123', 'bad-id'],
      ['/v1/log/entries', 'bad-range'],
      ['/v1/log/entries?start=x', 'bad-range'],
      ['/v1/log/entries?start=1.5', 'bad-range'],
      ['/v1/log/entries?start=0&end=-1', 'bad-range'],
      ['/v1/log/entries?start=99999999999999999', 'bad-range'],
      ['/v1/log/consistency?first=0', 'bad-range'],
      ['/v1/log/checkpoint?covering=-1', 'bad-index'],
      ['/v1/peer/rejoin-report?nonce=' + '0'.repeat(32), 'bad-replica'],
      ['/v1/peer/rejoin-report?to=1', 'bad-nonce'],
      ['/v1/peer/rejoin-report?to=1&nonce=00', 'bad-nonce'],
      ['/v1/notary/seq/x', 'bad-range'],
      ['/v1/ca/requests/xyz', 'bad-id'],
      ['/v1/ca/names/-x', 'bad-name'],
    ];
    for (const [path, code] of cases) {
      const r = await app.request(path);
      expect(r.status, path).toBe(400);
      expect((await codeOf(r)).code, path).toBe(code);
    }
    expect((await app.request('/v1/log/entries?start=0&end=0')).status).toBe(200);
    expect(host.metrics().engine.pending).toBe(0);
  });

  it('bodies: the failure the client meant is reported, with the code of its field', async () => {
    const { app, host } = makeApp();
    const post = (path: string, body: unknown) => app.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const cases: [string, unknown, string, RegExp][] = [
      ['/v1/requests', { text: 'a', data: 'AAAA' }, 'bad-request', /expected exactly one field/],
      ['/v1/requests', {}, 'bad-request', /expected exactly one field/],
      ['/v1/requests', { text: 5 }, 'bad-request', /^text: expected a string/],
      ['/v1/requests', { data: 'A===' }, 'bad-request', /^data: not valid base64/],
      ['/v1/requests', { text: '' }, 'bad-request', /^text: must not be empty/],
      ['/v1/requests', { text: 'a', more: 1 }, 'bad-request', /unexpected field "more"/],
      ['/v1/requests/batch', { requests: [{ text: 'a' }, { data: '@@' }] }, 'bad-request', /^requests\[1\]\.data: not valid base64/],
      ['/v1/requests/batch', { requests: 'a' }, 'bad-request', /^requests: expected an array/],
      ['/v1/notary/stamp', { digest: 'AB' }, 'bad-digest', /^digest: "digest" is 64 lower-case hex/],
      ['/v1/notary/stamp', { digest: '0'.repeat(64), ciphertext: 'AAAA' }, 'bad-request', /expected \{"digest"/],
      ['/v1/ca/requests', { request: { op: 'burn' } }, 'unknown-op', /^request\.op: "op" must be one of/],
      ['/v1/ca/requests', { request: { op: 'revoke', name: 'a', serial: 1 } }, 'bad-request', /^request: missing "sig"/],
      ['/v1/ca/requests', { request: { op: 'revoke', name: 'a', serial: 1, sig: 'ab' } }, 'bad-signature', /^request\.sig: expected a 64-byte/],
    ];
    for (const [path, body, code, message] of cases) {
      const r = await post(path, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      const e = await codeOf(r);
      expect(e.code, JSON.stringify(body)).toBe(code);
      expect(e.message, JSON.stringify(body)).toMatch(message);
    }
    await host.init();
    expect(host.metrics().engine.pending).toBe(0);
  });
});

describe('notary routes: input validation', () => {
  const digest = toHex(sha256(utf8ToBytes('x')));
  const post = (app: ReturnType<typeof makeApp>['app'], body: unknown, type = 'application/json') =>
    app.request('/v1/notary/stamp', { method: 'POST', headers: { 'content-type': type }, body: typeof body === 'string' ? body : JSON.stringify(body) });

  it('refuses bad input with stable codes and accepts a good stamp', async () => {
    const { app, host } = makeApp();
    const cases: [unknown, number, string, string?][] = [
      ['{', 400, 'malformed-json'],
      [[], 400, 'bad-request'],
      [{ digest: digest.toUpperCase() }, 400, 'bad-digest'],
      [{ digest: digest.slice(1) }, 400, 'bad-digest'],
      [{ digest, nonce: 'abc' }, 400, 'bad-request'],
      [{ digest, extra: 1 }, 400, 'bad-request'],
      [{ ciphertext: '!!' }, 400, 'bad-request'],
      [{ ciphertext: 'AAAA' }, 400, 'invalid-ciphertext'],
      [{ digest }, 415, 'unsupported-media-type', 'text/plain'],
    ];
    for (const [body, status, code, type] of cases) {
      const r = await post(app, body, type);
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe(code);
    }
    expect(host.metrics().engine.pending).toBe(0);
    const ok = await post(app, { digest, nonce: '00' });
    expect(ok.status).toBe(202);
    expect(await ok.json()).toMatchObject({ digest, status: 'pending' });
    expect((await app.request(`/v1/notary/stamps/${digest}`)).status).toBe(404);
    expect(((await (await app.request('/v1/notary/stamps/xyz')).json()) as { error: { code: string } }).error.code).toBe('bad-digest');
    expect(((await (await app.request('/v1/notary/seq/0')).json()) as { error: { code: string } }).error.code).toBe('no-stamp');
    expect(((await (await app.request('/v1/notary/seq/-1')).json()) as { error: { code: string } }).error.code).toBe('bad-range');
    const info = (await (await app.request('/v1/info')).json()) as { apps: string[] };
    expect(info.apps).toEqual(['notary', 'ca']);
  });
});

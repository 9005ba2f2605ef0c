/**
 * GET /v1/openapi.json is generated from the route table that registers the handlers (workers/core/
 * openapi.ts): every route Hono serves appears in it with its method, and nothing else does. Also the
 * notary routes' input validation (stable error codes, no state change on bad input).
 */
import { describe, expect, it } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { replicaApp } from '../../workers/core/app.ts';
import { ReplicaHost } from '../../workers/core/host.ts';
import { MemoryStore } from '../../workers/core/store.ts';
import { testGroup } from '../helpers/group.ts';

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

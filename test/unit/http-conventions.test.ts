/**
 * HTTP conventions of the replica app (workers/core): CORS on client and read routes (preflights answered,
 * configurable origins, none on /v1/peer), ETag and Cache-Control on GET answers (304 on If-None-Match;
 * immutable consistency proofs, a short life for the latest checkpoint, no-store for errors), and 405 with
 * `Allow` for a method a route does not take.
 */
import { describe, expect, it } from 'vitest';
import { CorsConfigError, corsOriginsFromEnv } from '../../workers/core/cors.ts';
import type { CorsOrigins } from '../../workers/core/cors.ts';
import { hostCluster } from '../helpers/host-cluster.ts';

/** Four in-memory replicas that order and certify; app(i, corsOrigins) is replica i's HTTP app. */
function cluster() {
  const c = hostCluster();
  return { settle: c.settle, app: (i: number, corsOrigins?: CorsOrigins) => c.app(i, corsOrigins ? { corsOrigins } : {}) };
}

describe('HTTP conventions', () => {
  it('CORS: default any origin on client and read routes, preflights answered, nothing on /v1/peer', async () => {
    const app = cluster().app(0);
    const pre = await app.request('/v1/requests', { method: 'OPTIONS', headers: { origin: 'https://dash.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('*');
    expect(pre.headers.get('access-control-allow-methods')).toContain('POST');
    const get = await app.request('/v1/info', { headers: { origin: 'https://dash.example' } });
    expect(get.headers.get('access-control-allow-origin')).toBe('*');
    expect(get.headers.get('access-control-expose-headers')).toContain('etag');
    const peer = await app.request('/v1/peer', { method: 'POST', headers: { origin: 'https://dash.example', 'content-type': 'application/octet-stream' }, body: new Uint8Array(8) });
    expect(peer.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('CORS: a configured list of origins, or none', async () => {
    const c = cluster();
    const listed = c.app(0, ['https://dash.example']);
    expect((await listed.request('/v1/info', { headers: { origin: 'https://dash.example' } })).headers.get('access-control-allow-origin')).toBe('https://dash.example');
    expect((await listed.request('/v1/info', { headers: { origin: 'https://evil.example' } })).headers.get('access-control-allow-origin')).toBeNull();
    expect((await c.app(0, 'none').request('/v1/info', { headers: { origin: 'https://dash.example' } })).headers.get('access-control-allow-origin')).toBeNull();
    expect(corsOriginsFromEnv(undefined)).toBe('*');
    expect(corsOriginsFromEnv('https://a.example, http://localhost:3000')).toEqual(['https://a.example', 'http://localhost:3000']);
    for (const bad of ['https://a.example/', 'a.example', 'ftp://a.example', 'https://a.example/path']) expect(() => corsOriginsFromEnv(bad), bad).toThrow(CorsConfigError);
  });

  it('ETag and Cache-Control: 304 on If-None-Match, immutable proofs, short-lived checkpoint, no-store errors', async () => {
    const c = cluster();
    const app = c.app(1);
    for (const text of ['one', 'two', 'three']) expect((await c.app(0).request('/v1/requests', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) })).status).toBe(202);
    await c.settle();
    const cp = await app.request('/v1/log/checkpoint');
    expect(cp.status).toBe(200);
    expect(cp.headers.get('cache-control')).toBe('public, max-age=1');
    const tag = cp.headers.get('etag');
    expect(tag).toMatch(/^"[0-9a-f]+"$/);
    const again = await app.request('/v1/log/checkpoint', { headers: { 'if-none-match': tag! } });
    expect(again.status).toBe(304);
    expect(again.headers.get('cache-control')).toBe('public, max-age=1');
    const size = ((await cp.json()) as { size: number }).size;
    expect(size).toBeGreaterThanOrEqual(3);
    const proof = await app.request(`/v1/log/consistency?first=1&second=${size}`);
    expect(proof.status).toBe(200);
    expect(proof.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const status = await app.request(`/v1/requests/${'0'.repeat(64)}`);
    expect(status.status).toBe(404);
    expect(status.headers.get('cache-control')).toBe('no-store');
    expect((await app.request('/v1/metrics')).headers.get('cache-control')).toBe('no-store');
    // a status that changes over time is revalidated, never served stale
    const entries = await app.request('/v1/log/entries?start=0&end=1');
    expect(entries.headers.get('cache-control')).toBe('public, max-age=5');
  });

  it('405 with Allow for a method a route does not take; 404 for no route', async () => {
    const app = cluster().app(0);
    const r = await app.request('/v1/requests', { method: 'GET' });
    expect(r.status).toBe(405);
    expect(r.headers.get('allow')).toBe('OPTIONS, POST');
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('method-not-allowed');
    const d = await app.request('/v1/log/checkpoint', { method: 'DELETE' });
    expect(d.status).toBe(405);
    expect(d.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
    expect((await app.request('/v1/requests/abc', { method: 'PUT' })).headers.get('allow')).toBe('GET, HEAD, OPTIONS');
    expect((await app.request('/v1/nothing')).status).toBe(404);
    // OPTIONS that is not a CORS preflight: 204 with what is allowed
    const o = await app.request('/v1/requests', { method: 'OPTIONS' });
    expect(o.status).toBe(204);
    expect(o.headers.get('allow')).toBe('OPTIONS, POST');
    expect((await app.request('/v1/log/checkpoint', { method: 'HEAD' })).status).not.toBe(405);
  });
});

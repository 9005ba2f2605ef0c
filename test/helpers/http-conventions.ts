/**
 * The HTTP conventions of docs/api.md ("HTTP conventions") and the operations routes, asserted against a
 * replica that runs for real (a Durable Object in Miniflare/workerd, or a Node replica on
 * @hono/node-server) instead of the in-process Hono app of test/unit/http-conventions.test.ts: what a
 * runtime, its HTTP server or a proxy may change (headers dropped or rewritten, a 304 given a body,
 * OPTIONS handled before the app) shows only here.
 *
 * Call it on a replica whose log holds at least 2 certified entries, with the cluster quiet enough that
 * its latest checkpoint stays the same for a moment (retried a few times when a new one came meanwhile).
 */
import { expect } from 'vitest';
import { http } from './http.ts';

export interface ConventionOptions {
  /**
   * The origin the replica allows (its SINTRA_CORS_ORIGINS lists it); default: the replica allows every
   * origin (SINTRA_CORS_ORIGINS unset or `*`), and a browser page at https://dash.example is used.
   */
  readonly allowedOrigin?: string;
  /** An origin the replica does not allow (only with a configured list). */
  readonly deniedOrigin?: string;
}

const IMMUTABLE = 'public, max-age=31536000, immutable';

/** A GET with an ETag answers If-None-Match with 304 (no body, same ETag and Cache-Control). */
async function expectRevalidates(url: string, cache: string, what: string): Promise<Response> {
  const first = await http(url);
  expect(first.status, what).toBe(200);
  expect(first.headers.get('cache-control'), what).toBe(cache);
  const tag = first.headers.get('etag');
  expect(tag, `${what}: ETag`).toMatch(/^(W\/)?"[^"]+"$/);
  const again = await http(url, { headers: { 'if-none-match': tag! } });
  expect(again.status, `${what}: If-None-Match`).toBe(304);
  expect(await again.text(), `${what}: 304 body`).toBe('');
  expect(again.headers.get('etag'), what).toBe(tag);
  expect(again.headers.get('cache-control'), what).toBe(cache);
  // Another tag gets the whole answer again.
  expect((await http(url, { headers: { 'if-none-match': '"not-this-one"' } })).status, what).toBe(200);
  return first;
}

/** Prometheus text exposition 0.0.4: every sample line is `name{labels} value`; returns name -> samples. */
function parseExposition(text: string): Map<string, { labels: string; value: number }[]> {
  const series = new Map<string, { labels: string; value: number }[]>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) {
      if (line.startsWith('# TYPE ')) expect(line).toMatch(/^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (gauge|counter|histogram|summary|untyped)$/);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.]+(?:e[+-]?[0-9]+)?|NaN|[+-]Inf)$/.exec(line);
    expect(m, `exposition line ${JSON.stringify(line)}`).not.toBeNull();
    const list = series.get(m![1]!) ?? [];
    list.push({ labels: m![2] ?? '', value: Number(m![3]!.replace('Inf', 'Infinity')) });
    series.set(m![1]!, list);
  }
  return series;
}

/**
 * CORS (preflight from an allowed origin with Allow-Methods/-Headers/Max-Age; none on /v1/peer), ETag and
 * If-None-Match -> 304 with Cache-Control on immutable resources (a consistency proof, a hash tile, an entry
 * bundle) and the latest checkpoint's short lifetime, 405 with Allow, GET /metrics as Prometheus text, and
 * GET /v1/health 200 — against the replica at `base`. Returns the replica's id (from /v1/info).
 */
export async function expectHttpConventions(base: string, o: ConventionOptions = {}): Promise<string> {
  const origin = o.allowedOrigin ?? 'https://dash.example';
  const allowOrigin = o.allowedOrigin ?? '*';

  // ---- CORS
  const preflight = await http(`${base}/v1/requests`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
  expect(preflight.status).toBe(204);
  expect(preflight.headers.get('access-control-allow-origin')).toBe(allowOrigin);
  expect(preflight.headers.get('access-control-allow-methods')?.split(/,\s*/)).toEqual(expect.arrayContaining(['GET', 'HEAD', 'POST', 'OPTIONS']));
  expect(preflight.headers.get('access-control-allow-headers')?.split(/,\s*/)).toEqual(expect.arrayContaining(['content-type', 'authorization', 'if-none-match']));
  expect(preflight.headers.get('access-control-max-age')).toBe('600');
  const info = await http(`${base}/v1/info`, { headers: { origin } });
  expect(info.status).toBe(200);
  expect(info.headers.get('access-control-allow-origin')).toBe(allowOrigin);
  expect(info.headers.get('access-control-expose-headers')?.split(/,\s*/)).toEqual(expect.arrayContaining(['etag', 'retry-after', 'www-authenticate']));
  if (allowOrigin !== '*') expect(info.headers.get('vary')?.toLowerCase()).toContain('origin');
  const replica = ((await info.json()) as { replica: { id: string } }).replica.id;
  if (o.deniedOrigin) {
    const denied = await http(`${base}/v1/requests`, { method: 'OPTIONS', headers: { origin: o.deniedOrigin, 'access-control-request-method': 'POST' } });
    expect(denied.headers.get('access-control-allow-origin')).toBeNull();
    expect((await http(`${base}/v1/info`, { headers: { origin: o.deniedOrigin } })).headers.get('access-control-allow-origin')).toBeNull();
  }
  // Replicas are not browsers: no CORS on the peer route, preflight or not.
  const peerPreflight = await http(`${base}/v1/peer`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
  expect(peerPreflight.headers.get('access-control-allow-origin')).toBeNull();
  expect(peerPreflight.headers.get('access-control-allow-methods')).toBeNull();
  const peerPost = await http(`${base}/v1/peer`, { method: 'POST', headers: { origin, 'content-type': 'application/octet-stream' }, body: new Uint8Array(8) });
  expect(peerPost.status).toBeGreaterThanOrEqual(400);
  expect(peerPost.headers.get('access-control-allow-origin')).toBeNull();

  // ---- ETag, 304, Cache-Control. The latest checkpoint: short-lived (a new one may come meanwhile: retried).
  let size = 0;
  for (let attempt = 0; ; attempt++) {
    try {
      const cp = await expectRevalidates(`${base}/v1/log/checkpoint`, 'public, max-age=1', 'the latest checkpoint');
      size = ((await cp.json()) as { size: number }).size;
      break;
    } catch (e) {
      if (attempt >= 3) throw e;
    }
  }
  expect(size, 'certified entries in the log').toBeGreaterThanOrEqual(2);
  const head = await http(`${base}/v1/log/checkpoint`, { method: 'HEAD' });
  expect(head.status).toBe(200);
  expect(await head.text()).toBe('');
  // Immutable: a consistency proof between two sizes, a Merkle hash tile and an entry bundle (C2SP tlog-tiles).
  await expectRevalidates(`${base}/v1/log/consistency?first=1&second=${size}`, IMMUTABLE, 'a consistency proof');
  const width = Math.min(size, 255);
  const tile = await expectRevalidates(`${base}/tile/0/000.p/${width}`, IMMUTABLE, 'a partial hash tile');
  expect(tile.headers.get('content-type')).toBe('application/octet-stream');
  expect((await tile.arrayBuffer()).byteLength).toBe(32 * width);
  await expectRevalidates(`${base}/tile/entries/000.p/${width}`, IMMUTABLE, 'a partial entry bundle');
  // Errors are never cached.
  const missing = await http(`${base}/tile/0/001`);
  expect(missing.status).toBe(404);
  expect(missing.headers.get('cache-control')).toBe('no-store');

  // ---- 405 with Allow; 404 for no route
  const wrong = await http(`${base}/v1/requests`);
  expect(wrong.status).toBe(405);
  expect(wrong.headers.get('allow')).toBe('OPTIONS, POST');
  expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe('method-not-allowed');
  const del = await http(`${base}/v1/log/checkpoint`, { method: 'DELETE' });
  expect(del.status).toBe(405);
  expect(del.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
  await del.body?.cancel();
  const plainOptions = await http(`${base}/v1/log/checkpoint`, { method: 'OPTIONS' });
  expect(plainOptions.status).toBe(204);
  expect(plainOptions.headers.get('allow')).toBe('GET, HEAD, OPTIONS');

  // ---- GET /metrics: Prometheus text
  const metrics = await http(`${base}/metrics`);
  expect(metrics.status).toBe(200);
  expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4(; charset=utf-8)?$/);
  expect(metrics.headers.get('cache-control')).toBe('no-store');
  const series = parseExposition(await metrics.text());
  const one = (name: string) => {
    const s = series.get(name);
    expect(s, name).toBeDefined();
    return s!.find((x) => x.labels.includes(`replica="${replica}"`))!.value;
  };
  expect(one('sintra_log_size')).toBeGreaterThanOrEqual(size);
  expect(one('sintra_checkpoint_size')).toBeGreaterThanOrEqual(size);
  expect(one('sintra_epoch')).toBeGreaterThan(0);
  const age = one('sintra_checkpoint_age_seconds');
  expect(age).toBeGreaterThanOrEqual(0);
  expect(age).toBeLessThan(3600);
  expect(series.get('sintra_mode')!.find((x) => x.labels.includes('mode="active"'))!.value).toBe(1);
  expect(series.get('sintra_link_failures_total')?.length).toBeGreaterThan(0);
  expect([...series.keys()]).toEqual(expect.arrayContaining(['sintra_http_request_duration_seconds_bucket', 'sintra_http_request_duration_seconds_count']));

  // ---- health
  const health = await http(`${base}/v1/health`);
  expect(health.status).toBe(200);
  expect(health.headers.get('cache-control')).toBe('no-store');
  expect(await health.json()).toMatchObject({ ok: true, replica });
  return replica;
}

/**
 * GET /v1/ca/root.pem and GET /v1/tsa/cert.pem (workers/core/pki-routes.ts; issue 16): the group's
 * certificates from group.json's keys.rsa, byte for byte, as application/pem-certificate-chain, with an
 * ETag and an hour's cache; 404 no-rsa-key for a group dealt without --rsa. The RSA key comes from the
 * fixed safe primes of test/fixtures/threshold-rsa-primes.json.
 */
import { describe, expect, it } from 'vitest';
import { pemToDer } from '../../shared/crypto/pem.ts';
import { replicaApp } from '../../workers/core/app.ts';
import { ReplicaHost } from '../../workers/core/host.ts';
import { MemoryStore } from '../../workers/core/store.ts';
import { testGroup, testRsaGroup } from '../helpers/group.ts';
import type { TestGroup } from '../helpers/group.ts';

function appOf(g: TestGroup) {
  const host = new ReplicaHost(g.group, g.secrets[1]!, new MemoryStore(), { post: async () => ({ status: 503, body: null }) }, () => 0, { bootstrap: true });
  return replicaApp(host, { now: () => 0, afterChange: () => undefined });
}

describe('the group certificates over HTTP', () => {
  const g = testRsaGroup();
  const app = appOf(g);
  const routes = [
    ['/v1/ca/root.pem', g.group.rsa!.rootCertificate],
    ['/v1/tsa/cert.pem', g.group.rsa!.tsaCertificate],
  ] as const;

  it.each(routes)('%s serves the PEM of group.json byte for byte', async (route, expected) => {
    const res = await app.request(route);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/pem-certificate-chain');
    expect(res.headers.get('cache-control')).toBe('public, max-age=3600');
    const text = await res.text();
    expect(text).toBe(expected);
    expect(pemToDer(text).length).toBeGreaterThan(300);
    const etag = res.headers.get('etag');
    expect(etag).toBeTruthy();
    const again = await app.request(route, { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);
  });

  it('the two routes serve different certificates (root and TSA)', async () => {
    const [a, b] = await Promise.all(routes.map(async ([r]) => (await app.request(r)).text()));
    expect(a).not.toBe(b);
  });

  it.each(routes)('%s answers 404 no-rsa-key for a group dealt without --rsa', async (route) => {
    const plain = appOf(testGroup(4));
    const res = await plain.request(route);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toMatchObject({ error: { code: 'no-rsa-key', message: expect.stringContaining('--rsa') } });
  });

  it('a POST to them is 405 with Allow', async () => {
    const res = await app.request('/v1/ca/root.pem', { method: 'POST' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toMatch(/GET/);
  });
});

/**
 * POST /v1/requests/batch on in-memory replica hosts: many requests in one call and one storage write,
 * each answered as POST /v1/requests would; all of them ordered on every replica; bad input refused
 * whole with nothing submitted; refusals of single items (too large, invalid ciphertext) reported per item.
 * Also: status queries after a failed storage write (503 while storage fails, never a false 404).
 */
import { describe, expect, it } from 'vitest';
import { encryptRequest } from '../../shared/client/encrypt.ts';
import { utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { requestId } from '../../shared/replica/engine.ts';
import { MAX_BATCH_REQUESTS, replicaApp } from '../../workers/core/app.ts';
import { hostCluster } from '../helpers/host-cluster.ts';
import { testGroup } from '../helpers/group.ts';

const { group } = testGroup(4);

function cluster() {
  const { hosts, stores, settle, app } = hostCluster();
  return { hosts, stores, settle, app: (i: number) => app(i) };
}

const post = (app: ReturnType<typeof replicaApp>, body: unknown, type = 'application/json') =>
  app.request('/v1/requests/batch', { method: 'POST', headers: { 'content-type': type }, body: typeof body === 'string' ? body : JSON.stringify(body) });

describe('POST /v1/requests/batch', () => {
  it('submits many requests with one storage write; all are ordered everywhere; per-item refusals', async () => {
    const c = cluster();
    const texts = Array.from({ length: 50 }, (_, i) => `batched ${i}`);
    const enc = encryptRequest(group, utf8ToBytes('sealed in a batch'), 'batch-client', seededRandom('batch-route'));
    const writes = c.stores[0]!.journal.length;
    const items = [
      ...texts.map((text) => ({ text })),
      { text: texts[0] }, // a duplicate inside the call
      { ciphertext: Buffer.from(enc.ciphertext).toString('base64') },
      { ciphertext: Buffer.from(utf8ToBytes('not a ciphertext')).toString('base64') },
      { data: Buffer.from(new Uint8Array(64 * 1024 + 1)).toString('base64') },
    ];
    const r = await post(c.app(0), { requests: items });
    expect(r.status).toBe(200);
    const body = (await r.json()) as { results: ({ id: string; status: string } | { error: { code: string } })[] };
    expect(body.results).toHaveLength(items.length);
    texts.forEach((t, i) => expect(body.results[i]).toEqual({ id: requestId(utf8ToBytes(t)), status: 'pending' }));
    expect(body.results[50]).toEqual({ id: requestId(utf8ToBytes(texts[0]!)), status: 'pending' });
    expect(body.results[51]).toEqual({ id: enc.ciphertextId, status: 'pending' });
    expect(body.results[52]).toMatchObject({ error: { code: 'invalid-ciphertext' } });
    expect(body.results[53]).toMatchObject({ error: { code: 'request-too-large' } });
    // The 51 accepted requests are journaled (one event each, all in the call's one commit), after the
    // clock event that gives their proposal its time.
    expect(c.stores[0]!.journal.length - writes).toBe(52);
    await c.settle();
    for (const h of c.hosts) {
      expect(h.logSize).toBe(51);
      for (const t of texts) expect((await h.status(requestId(utf8ToBytes(t))))?.status).toBe('certified');
      expect(await h.status(enc.ciphertextId)).toMatchObject({ status: 'certified', plaintextId: enc.plaintextId });
    }
    // Again: every item is now answered from the log.
    const again = (await (await post(c.app(1), { requests: [{ text: texts[3] }] })).json()) as { results: { status: string }[] };
    expect(again.results[0]).toMatchObject({ status: 'ordered' });
  }, 60_000);

  it('refuses malformed calls whole, and submits nothing', async () => {
    const c = cluster();
    const app = c.app(0);
    const cases: [unknown, string, number, string][] = [
      ['{', 'application/json', 400, 'malformed-json'],
      [{ requests: [] }, 'application/json', 400, 'bad-request'],
      [{ requests: [{ text: 'a' }], extra: 1 }, 'application/json', 400, 'bad-request'],
      [{ requests: [{ text: 'ok' }, { data: '@@' }] }, 'application/json', 400, 'bad-request'],
      [{ requests: [{ text: '' }] }, 'application/json', 400, 'bad-request'],
      [{ requests: Array.from({ length: MAX_BATCH_REQUESTS + 1 }, (_, i) => ({ text: String(i) })) }, 'application/json', 400, 'bad-request'],
      [{ requests: [{ text: 'a' }] }, 'text/plain', 415, 'unsupported-media-type'],
    ];
    for (const [body, type, status, code] of cases) {
      const r = await post(app, body, type);
      expect(r.status, JSON.stringify(body).slice(0, 80)).toBe(status);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe(code);
    }
    expect(c.stores[0]!.journal.length).toBe(0);
    expect(await c.hosts[0]!.status(requestId(utf8ToBytes('ok')))).toBeNull();
  });
});

describe('queries while storage fails', () => {
  it('answer 503 storage-unavailable (not 404) until the host rebuilds from storage, then the truth', async () => {
    const c = cluster();
    const app = c.app(0);
    const ok = await app.request('/v1/requests', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'kept' }) });
    expect(ok.status).toBe(202);
    const id = requestId(utf8ToBytes('kept'));
    // The next write fails: the host is behind storage (stale) until it rebuilds.
    c.stores[0]!.failNext = true;
    const failed = await app.request('/v1/requests', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'lost' }) });
    expect(failed.status).toBe(500);
    expect(c.hosts[0]!.loaded).toBe(false);
    // Storage works again: the query rebuilds first and finds the request that was written.
    const s = await app.request(`/v1/requests/${id}`);
    expect(s.status).toBe(200);
    expect(((await s.json()) as { status: string }).status).toBe('pending');
    expect(c.hosts[0]!.loaded).toBe(true);
    // A store that keeps failing: 503, not "unknown request".
    c.stores[0]!.failNext = true;
    await app.request('/v1/requests', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'lost again' }) });
    const load = c.stores[0]!.load.bind(c.stores[0]!);
    c.stores[0]!.load = async () => {
      throw new Error('storage unavailable (test)');
    };
    const down = await app.request(`/v1/requests/${id}`);
    expect(down.status).toBe(503);
    expect(((await down.json()) as { error: { code: string } }).error.code).toBe('storage-unavailable');
    c.stores[0]!.load = load;
    expect((await app.request(`/v1/requests/${id}`)).status).toBe(200);
  });
});

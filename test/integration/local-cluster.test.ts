/**
 * The local Miniflare cluster of `sintra start` over real HTTP on loopback: four Durable Object replicas
 * order client requests, certify checkpoints and serve receipts that verify offline with group.json alone;
 * hostile input gets stable JSON errors and changes nothing; the HTTP conventions hold on the running
 * replicas (CORS, ETag/304, Cache-Control, 405 with Allow, /metrics, health); a full stop and restart
 * resumes the same log.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGroup } from '../../shared/config/group.ts';
import { checkpointFromJson, receiptFromJson, verifyCheckpoint, verifyReceipt } from '../../shared/log/checkpoint.ts';
import { startLocalCluster, waitUntilReady } from '../../infra/cluster/local-cluster.ts';
import type { LocalCluster } from '../../infra/cluster/local-cluster.ts';
import { startCommand } from '../../infra/cli/start.ts';
import { getJson, http, waitFor } from '../helpers/http.ts';
import { expectHttpConventions } from '../helpers/http-conventions.ts';
import { freePortRange } from '../helpers/ports.ts';

/** Replica i listens on BASE_PORT + i: a free range picked in beforeAll (ranges fixed by pid collided across files). */
let BASE_PORT = 0;
let dataDir: string;
let cluster: LocalCluster;

async function post(i: number, body: unknown, type = 'application/json'): Promise<{ status: number; json: any }> {
  const res = await http(`${cluster.urls[i]}/v1/requests`, { method: 'POST', headers: { 'content-type': type }, body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

const get = (i: number, path: string) => getJson(cluster.urls[i]!, path);

describe('local cluster (4 Durable Object replicas in Miniflare, HTTP on loopback)', () => {
  beforeAll(async () => {
    BASE_PORT = await freePortRange(16);
    dataDir = mkdtempSync(join(tmpdir(), 'sintra-cluster-'));
    cluster = await startLocalCluster({ dataDir, n: 4, basePort: BASE_PORT });
    await waitUntilReady(cluster.urls);
  }, 120_000);

  afterAll(async () => {
    await cluster?.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const ids: string[] = [];

  it('orders requests sent to different replicas and certifies them; receipts verify offline with group.json', async () => {
    for (let i = 0; i < 8; i++) {
      const r = await post(i % 4, i % 2 ? { text: `hello ${i}` } : { data: Buffer.from(`bytes ${i}`).toString('base64') });
      expect(r.status).toBe(202);
      expect(r.json.id).toMatch(/^[0-9a-f]{64}$/);
      ids.push(r.json.id);
    }
    const group = parseGroup(JSON.parse(readFileSync(cluster.groupPath, 'utf8')));
    for (const id of ids) {
      const s = await waitFor(async () => {
        const r = await get(3, `/v1/requests/${id}`);
        return r.status === 200 && r.json.status === 'certified' ? r.json : null;
      }, `request ${id} certified`);
      expect(s.index).toBeGreaterThanOrEqual(0);
      const rec = await get(1, `/v1/receipts/${id}`);
      expect(rec.status).toBe(200);
      const { groupId, receipt } = receiptFromJson(rec.json);
      expect(groupId).toEqual(group.groupId);
      expect(verifyReceipt(group.kernel.groupKey, group.groupId, receipt)).toEqual({ ok: true });
      const forged = { ...receipt, entry: new TextEncoder().encode('forged') };
      expect(verifyReceipt(group.kernel.groupKey, group.groupId, forged).ok).toBe(false);
    }
    // Every replica's log holds the same 8 entries in the same order.
    const logs = await Promise.all([0, 1, 2, 3].map((i) => get(i, '/v1/log/entries?start=0&end=8')));
    expect(new Set(logs.map((l) => JSON.stringify(l.json.entries))).size).toBe(1);
    expect(logs[0]!.json.entries.map((e: { id: string }) => e.id).sort()).toEqual([...ids].sort());
  }, 120_000);

  it('serves the checkpoint, consistency proofs, info, health and metrics', async () => {
    const group = parseGroup(JSON.parse(readFileSync(cluster.groupPath, 'utf8')));
    // sintra start deals a randomness beacon with new keys (docs/beacon.md; tested in beacon-cluster.test.ts).
    expect(group.beacon?.period).toBe(3);
    expect((await get(3, '/chains')).json).toEqual([Buffer.from(group.beacon!.chainHash).toString('hex')]);
    const cp = await get(0, '/v1/log/checkpoint');
    expect(cp.status).toBe(200);
    const c = checkpointFromJson(cp.json);
    expect(verifyCheckpoint(group.kernel.groupKey, group.groupId, c)).toBe(true);
    const cons = await get(2, `/v1/log/consistency?first=3&second=${c.size}`);
    expect(cons.status).toBe(200);
    const entries = (await get(2, `/v1/log/entries?start=0&end=3`)).json.entries as { data: string }[];
    expect(entries.length).toBe(3);
    const info = await get(1, '/v1/info');
    expect(info.json).toMatchObject({ service: 'sintra-edge', replica: { index: 1 }, n: 4 });
    expect(info.json.group.keys.kernel.groupKey).toBe(JSON.parse(readFileSync(cluster.groupPath, 'utf8')).keys.kernel.groupKey);
    expect((await get(3, '/v1/health')).json).toMatchObject({ ok: true });
    const m = await get(3, '/v1/metrics');
    expect(m.json.engine.logSize).toBe(c.size);
    expect(Object.keys(m.json.engine.faultsByPeer)).toEqual([]);
  });

  it('HTTP conventions on every running replica: CORS (none on /v1/peer), ETag/304 and Cache-Control, 405 with Allow, /metrics as Prometheus text, health', async () => {
    // What workerd and Miniflare's sockets pass through, not only the Hono app (test/unit/http-conventions.test.ts).
    const ids = [];
    for (const url of cluster.urls) ids.push(await expectHttpConventions(url));
    expect(ids).toEqual(['r1', 'r2', 'r3', 'r4']);
  });

  it('answers bad input with stable JSON error codes and changes nothing', async () => {
    const before = (await get(0, '/v1/metrics')).json.engine;
    const cases: [Promise<{ status: number; json: any }>, number, string][] = [
      [post(0, '{not json'), 400, 'malformed-json'],
      [post(0, { text: 5 }), 400, 'bad-request'],
      [post(0, { data: '***' }), 400, 'bad-request'],
      [post(0, { text: 'a', extra: 1 }), 400, 'bad-request'],
      [post(0, [1, 2]), 400, 'bad-request'],
      [post(0, { text: '' }), 400, 'bad-request'],
      [post(0, 'hello', 'text/plain'), 415, 'unsupported-media-type'],
      [post(0, { text: 'x'.repeat(300_000) }), 413, 'body-too-large'],
      [post(0, { text: 'x'.repeat(100_000) }), 413, 'request-too-large'],
      [get(0, '/v1/requests/xyz'), 400, 'bad-id'],
      [get(0, `/v1/requests/${'0'.repeat(64)}`), 404, 'unknown-request'],
      [get(0, `/v1/receipts/${'1'.repeat(64)}`), 404, 'unknown-request'],
      [get(0, '/v1/log/entries?start=-1'), 400, 'bad-range'],
      [get(0, '/v1/log/entries?start=0&end=5000'), 400, 'bad-range'],
      [get(0, '/v1/log/consistency?first=5&second=2'), 400, 'bad-range'],
      [get(0, '/v1/nope'), 404, 'not-found'],
    ];
    for (const [p, status, code] of cases) {
      const r = await p;
      expect({ status: r.status, code: r.json?.error?.code }).toEqual({ status, code });
      expect(typeof r.json.error.message).toBe('string');
    }
    // Hostile peer frames: garbage, and a real-looking frame from nobody.
    for (const body of [new Uint8Array(3), new Uint8Array(200).fill(1)]) {
      const res = await http(`${cluster.urls[0]}/v1/peer`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(((await res.json()) as any).error.code).toMatch(/^link-/);
    }
    const after = (await get(0, '/v1/metrics')).json.engine;
    expect(after.events).toBe(before.events);
    expect(after.logSize).toBe(before.logSize);
  });

  it('resubmitting an ordered request returns its position instead of ordering it twice', async () => {
    const r = await post(2, { text: 'hello 1' });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ id: ids[1], status: 'ordered' });
  });

  it('stops, starts again on the same data folder, and resumes the same log', async () => {
    const size = (await get(0, '/v1/log/checkpoint')).json.size as number;
    await cluster.dispose();
    cluster = await startLocalCluster({ dataDir, n: 4, basePort: BASE_PORT });
    expect(cluster.dealt).toBe(false);
    await waitUntilReady(cluster.urls);
    expect((await get(1, '/v1/log/checkpoint')).json.size).toBe(size);
    const r = await post(3, { text: 'after restart' });
    await waitFor(async () => {
      const s = await get(0, `/v1/requests/${r.json.id}`);
      return s.json.status === 'certified' ? s.json : null;
    }, 'the request after the restart to be certified');
    expect((await get(2, '/v1/log/checkpoint')).json.size).toBe(size + 1);
  }, 120_000);
});

describe('sintra start --json', () => {
  it('prints one JSON ready line with the replica URLs and the group path, then stops cleanly; --memory-budget-mb reaches the replicas', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sintra-start-'));
    const out: string[] = [];
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    let ready: readonly string[] = [];
    let budgets: unknown[] = [];
    const onReady = (u: readonly string[]) => {
      ready = u;
      Promise.all(u.map(async (url) => ((await (await fetch(`${url}/v1/metrics`)).json()) as { engine: { memory: { budgetBytes: number } } }).engine.memory.budgetBytes))
        .then((b) => (budgets = b), (e: unknown) => (budgets = [String(e)]))
        .finally(stop);
    };
    const code = startCommand({ data: dir, port: BASE_PORT + 10, json: true, memoryBudgetMb: 5, stop: stopped, onReady }, { out: (s) => out.push(s), err: () => {} });
    expect(await code).toBe(0);
    expect(budgets).toEqual([5 << 20, 5 << 20, 5 << 20, 5 << 20]);
    const line = JSON.parse(out.join('').trim());
    expect(line).toEqual({ ready: true, replicas: ready, group: join(dir, 'keys', 'group.json') });
    expect(line.replicas).toHaveLength(4);
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);
});

/**
 * Issue 5: clusters of two runtimes on one machine, over HTTP on loopback.
 *
 * - Two replicas as Workers with Durable Objects in Miniflare (workerd) and two Node replicas keeping their
 *   state in real redis-servers (one each) through the Upstash REST bridge: they deliver the same order and
 *   the same group-signed checkpoints, and receipts from either runtime verify offline with the group key.
 *   Two Node replicas on one Redis are refused (one storage failure domain for two replicas). With both
 *   Node replicas stopped (SIGTERM; each logs a JSON `stopping` line), a Durable Object replica's
 *   /v1/health answers 503 `peers-unreachable` naming them.
 * - `sintra start --mixed` (Node replicas on the embedded file store, no other service): the same ready
 *   line as `sintra start`; a request is certified; stopping and starting again resumes the same log; the
 *   HTTP conventions hold on a Node replica (test/helpers/http-conventions.ts); the data folder refuses
 *   to be started in the other layout (that would restart replicas on empty state).
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGroup } from '../../shared/config/group.ts';
import type { Group } from '../../shared/config/group.ts';
import { checkpointFromJson, receiptFromJson, verifyCheckpoint, verifyReceipt } from '../../shared/log/checkpoint.ts';
import { startCommand } from '../../infra/cli/start.ts';
import { waitUntilReady } from '../../infra/cluster/local-cluster.ts';
import { startMixedCluster } from '../../infra/cluster/mixed-cluster.ts';
import type { MixedCluster } from '../../infra/cluster/mixed-cluster.ts';
import { getJson, http, waitFor } from '../helpers/http.ts';
import { expectHttpConventions } from '../helpers/http-conventions.ts';
import { freePortRange } from '../helpers/ports.ts';
import { HAVE_REDIS, REDIS_SKIP_MESSAGE, startRedis } from '../helpers/redis.ts';
import type { TestRedis } from '../helpers/redis.ts';
import { startUpstashBridge } from '../helpers/upstash-bridge.ts';
import type { UpstashBridge } from '../helpers/upstash-bridge.ts';

const ALL = [0, 1, 2, 3];

async function post(url: string, text: string): Promise<{ status: number; json: any }> {
  const res = await http(`${url}/v1/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
  return { status: res.status, json: await res.json() };
}

async function sameCheckpoint(urls: readonly string[], size: number): Promise<any> {
  return waitFor(
    async () => {
      const cps = await Promise.all(urls.map((u) => getJson(u, '/v1/log/checkpoint')));
      if (cps.some((c) => c.status !== 200)) return null;
      return new Set(cps.map((c) => JSON.stringify(c.json))).size === 1 && cps[0]!.json.size >= size ? cps[0]!.json : null;
    },
    `one checkpoint of size >= ${size} at every replica`,
    90_000,
    250,
  );
}

describe.skipIf(!HAVE_REDIS)('mixed cluster: 2 Miniflare (Durable Object) replicas + 2 Node replicas on Redis', () => {
  let dataDir: string;
  let redis: TestRedis[] = [];
  let bridges: UpstashBridge[] = [];
  let cluster: MixedCluster;
  let group: Group;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sintra-mixed-'));
    redis = [await startRedis(), await startRedis()];
    bridges = await Promise.all(redis.map((r) => startUpstashBridge(r.port)));
    const store = (i: number) => ({ kind: 'redis' as const, url: bridges[i - 2]!.url, token: bridges[i - 2]!.token });
    // One Redis for both Node replicas: refused before anything starts.
    const shared = mkdtempSync(join(tmpdir(), 'sintra-mixed-shared-'));
    try {
      await expect(startMixedCluster({ dataDir: shared, n: 4, basePort: await freePortRange(4), nodeIndices: [2, 3], nodeStore: () => store(2) })).rejects.toThrow(
        /^Node replicas r3 and r4 would keep their state in one Redis \(http:\/\/127\.0\.0\.1:\d+\), one storage failure domain for two replicas/,
      );
    } finally {
      rmSync(shared, { recursive: true, force: true });
    }
    cluster = await startMixedCluster({ dataDir, n: 4, basePort: await freePortRange(4), nodeIndices: [2, 3], nodeStore: store });
    await waitUntilReady(cluster.urls, 60_000);
    group = parseGroup(JSON.parse(readFileSync(cluster.groupPath, 'utf8')));
  }, 120_000);

  afterAll(async () => {
    await cluster?.dispose();
    for (const b of bridges) await b.close();
    for (const r of redis) await r.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('delivers the same order and the same signed checkpoints; receipts from both runtimes verify', async () => {
    expect(cluster.mf).not.toBeNull();
    const ids: string[] = [];
    for (let k = 0; k < 6; k++) {
      // A kernel of two: one Worker and one Node replica each time.
      const [a] = await Promise.all([post(cluster.urls[k % 2]!, `mixed ${k}`), post(cluster.urls[2 + (k % 2)]!, `mixed ${k}`)]);
      expect(a.status).toBe(202);
      ids.push(a.json.id);
    }
    const cp = await sameCheckpoint(cluster.urls, ids.length);
    expect(cp.size).toBe(ids.length);
    expect(verifyCheckpoint(group.kernel.groupKey, group.groupId, checkpointFromJson(cp))).toBe(true);
    const logs = await Promise.all(ALL.map((i) => getJson(cluster.urls[i]!, `/v1/log/entries?start=0&end=${ids.length}`)));
    expect(new Set(logs.map((l) => JSON.stringify(l.json.entries))).size).toBe(1);
    expect(logs[0]!.json.entries.map((e: { id: string }) => e.id).sort()).toEqual([...ids].sort());
    for (const i of ALL) {
      const rec = await getJson(cluster.urls[i]!, `/v1/receipts/${ids[i]}`);
      expect(rec.status).toBe(200);
      const { receipt } = receiptFromJson(rec.json);
      expect(verifyReceipt(group.kernel.groupKey, group.groupId, receipt)).toEqual({ ok: true });
    }
    // Same signed checkpoints epoch by epoch, not only the latest.
    const sigs = await Promise.all(ALL.map((i) => getJson(cluster.urls[i]!, '/v1/metrics')));
    for (const m of sigs) expect(m.json.engine.faultsByPeer).toEqual({});
    for (const id of ids) {
      const s = await Promise.all(ALL.map((i) => getJson(cluster.urls[i]!, `/v1/requests/${id}`)));
      expect(new Set(s.map((x) => JSON.stringify(x.json.checkpoint))).size).toBe(1);
    }
  }, 120_000);

  // Last in this block: it leaves the Node replicas stopped (afterAll disposes the rest).
  it('both Node replicas stopped (SIGTERM: a JSON stopping line each): a Durable Object replica answers /v1/health 503 peers-unreachable naming them', async () => {
    expect((await getJson(cluster.urls[0]!, '/v1/health')).status).toBe(200);
    await Promise.all([2, 3].map((i) => cluster.kill(i, 'SIGTERM')));
    for (const i of [2, 3]) {
      const stopping = cluster.logTail(i).filter((l) => l.includes('"event":"stopping"'));
      expect(stopping, cluster.logTail(i).join('\n')).toHaveLength(1);
      expect(JSON.parse(stopping[0]!)).toMatchObject({ level: 'info', replica: `r${i + 1}`, event: 'stopping', reason: 'SIGTERM', msg: `replica r${i + 1}: SIGTERM, stopping` });
    }
    // A request makes replica r1 send to every peer; its sends to r3 and r4 fail: 2 of 4 are no quorum.
    expect((await post(cluster.urls[0]!, 'while r3 and r4 are down')).status).toBe(202);
    const down = await waitFor(async () => {
      const res = await http(`${cluster.urls[0]!}/v1/health`);
      return res.status === 503 ? { res, json: (await res.json()) as any } : null;
    }, 'r1 to report its peers unreachable', 30_000, 200);
    expect(down.res.headers.get('cache-control')).toBe('no-store');
    expect(down.res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(down.json).toMatchObject({ ok: false, replica: 'r1', logSize: expect.any(Number), error: { code: 'peers-unreachable' } });
    expect(down.json.error.message).toMatch(/^fewer than a quorum of replicas reachable; failing: r3 \(.+\), r4 \(.+\)$/);
  }, 60_000);
});

if (!HAVE_REDIS) describe('mixed cluster on Redis', () => it.skip(REDIS_SKIP_MESSAGE, () => undefined));

describe('sintra start --mixed (Node replicas on the embedded file store)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sintra-start-mixed-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const run = async (port: number, mixed: boolean, work: (urls: readonly string[]) => Promise<void>): Promise<{ code: number; out: string; err: string }> => {
    const out: string[] = [];
    const err: string[] = [];
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    let failure: unknown = null;
    const code = await startCommand(
      {
        data: dir,
        port,
        mixed,
        json: true,
        stop: stopped,
        onReady: (urls) => {
          work(urls).then(stop, (e: unknown) => {
            failure = e;
            stop();
          });
        },
      },
      { out: (s) => out.push(s), err: (s) => err.push(s) },
    );
    if (failure) throw failure;
    return { code, out: out.join(''), err: err.join('') };
  };

  it('prints the same ready line, certifies a request, resumes after a restart, and keeps its layout', async () => {
    const port = await freePortRange(4);
    let first: { id: string; size: number } | null = null;
    const r1 = await run(port, true, async (urls) => {
      const r = await post(urls[3]!, 'hello mixed');
      expect(r.status).toBe(202);
      const cp = await sameCheckpoint(urls, 1);
      first = { id: r.json.id, size: cp.size };
    });
    expect(r1.code).toBe(0);
    const line = JSON.parse(r1.out.trim());
    expect(line).toEqual({ ready: true, replicas: Array.from({ length: 4 }, (_, i) => `http://127.0.0.1:${port + i}`), group: join(dir, 'keys', 'group.json') });
    expect(first).not.toBeNull();
    // Each Node replica has storage of its own: its own folder with its own append-only file.
    for (const id of ['r3', 'r4']) expect(statSync(join(dir, 'node', id, 'state.db')).size, id).toBeGreaterThan(0);

    const r2 = await run(port, true, async (urls) => {
      expect((await getJson(urls[2]!, `/v1/requests/${first!.id}`)).json.status).toBe('certified');
      const r = await post(urls[0]!, 'after restart');
      expect(r.status).toBe(202);
      await sameCheckpoint(urls, first!.size + 1);
      // The HTTP conventions on a Node replica as `sintra start --mixed` runs it (@hono/node-server, its
      // own process; CORS from any origin by default); local-cluster.test.ts checks the Miniflare ones.
      expect(await expectHttpConventions(urls[2]!)).toBe('r3');
    });
    expect(r2.code).toBe(0);

    await expect(run(port, false, async () => undefined)).rejects.toThrow(/Use another --data folder/);
  }, 180_000);
});

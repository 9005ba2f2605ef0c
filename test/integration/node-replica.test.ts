/**
 * Issue 5, integration: four Node replicas (workers/node), each its own process (`sintra node-replica`)
 * talking HTTP on loopback; r1 and r2 keep their state in real redis-servers (append-only file, fsync
 * always; one server each: a replica's storage is its own failure domain) through the Upstash REST bridge
 * and the real @upstash/redis client, r3 and r4 in local file stores.
 *
 * 1. Under load, a Redis-backed and then a file-backed replica are SIGKILLed and started again: every
 *    request is certified, all four logs and checkpoints are equal, receipts from every replica verify with
 *    the group key, the restarted replicas replayed their state, and nobody recorded a fault from anyone
 *    (a replica that signed or voted twice differently would show up as a fault at its peers).
 * 2. r1's Redis is killed during load and started again 2.5 s later: r1 answers 503 `storage-unavailable`
 *    (JSON) meanwhile and never crashes; afterwards it serves again, and every request any replica had
 *    accepted is in every log.
 * 3. The HTTP conventions hold on every Node replica (test/helpers/http-conventions.ts), with CORS from a
 *    configured SINTRA_CORS_ORIGINS list only.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGroup } from '../../shared/config/group.ts';
import type { Group } from '../../shared/config/group.ts';
import { checkpointFromJson, receiptFromJson, verifyCheckpoint, verifyReceipt } from '../../shared/log/checkpoint.ts';
import { waitUntilReady } from '../../infra/cluster/local-cluster.ts';
import { startMixedCluster } from '../../infra/cluster/mixed-cluster.ts';
import type { MixedCluster } from '../../infra/cluster/mixed-cluster.ts';
import { getJson, http, sleep, waitFor } from '../helpers/http.ts';
import { expectHttpConventions } from '../helpers/http-conventions.ts';
import { freePortRange } from '../helpers/ports.ts';
import { HAVE_REDIS, REDIS_SKIP_MESSAGE, startRedis } from '../helpers/redis.ts';
import type { TestRedis } from '../helpers/redis.ts';
import { startUpstashBridge } from '../helpers/upstash-bridge.ts';
import type { UpstashBridge } from '../helpers/upstash-bridge.ts';

let dataDir: string;
/** One Redis per Redis-backed replica (r1, r2). */
let redis: TestRedis[] = [];
let bridges: UpstashBridge[] = [];
let cluster: MixedCluster;
let group: Group;
const N = 4;
const ALL = [0, 1, 2, 3];
const DASHBOARD = 'https://dash.example';

const get = (i: number, path: string) => getJson(cluster.urls[i]!, path);

async function submit(i: number, text: string): Promise<{ status: number; json: any }> {
  try {
    const res = await http(`${cluster.urls[i]}/v1/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
    return { status: res.status, json: await res.json() };
  } catch (e) {
    return { status: 0, json: { error: { code: 'connection', message: (e as Error).message } } };
  }
}

/** Waits until every replica's latest checkpoint is the same one, of at least `size` entries. */
async function sameCheckpointEverywhere(size: number): Promise<any> {
  return waitFor(
    async () => {
      const cps = await Promise.all(ALL.map((i) => get(i, '/v1/log/checkpoint')));
      if (cps.some((c) => c.status !== 200)) return null;
      const texts = new Set(cps.map((c) => JSON.stringify(c.json)));
      return texts.size === 1 && cps[0]!.json.size >= size ? cps[0]!.json : null;
    },
    `all ${N} replicas at one checkpoint of size >= ${size}`,
    120_000,
    250,
  );
}

async function expectSameLogs(ids: readonly string[]): Promise<void> {
  const cp = await sameCheckpointEverywhere(ids.length);
  expect(verifyCheckpoint(group.kernel.groupKey, group.groupId, checkpointFromJson(cp))).toBe(true);
  const logs = await Promise.all(ALL.map((i) => get(i, `/v1/log/entries?start=0&end=${cp.size}`)));
  expect(new Set(logs.map((l) => JSON.stringify(l.json.entries))).size).toBe(1);
  const inLog = new Set(logs[0]!.json.entries.map((e: { id: string }) => e.id));
  for (const id of ids) expect(inLog.has(id), `request ${id} in the log`).toBe(true);
}

async function expectNoFaults(): Promise<any[]> {
  const metrics = await Promise.all(ALL.map((i) => get(i, '/v1/metrics')));
  for (const m of metrics) expect(m.json.engine.faultsByPeer, `faults seen by replica ${m.json.index}`).toEqual({});
  return metrics.map((m) => m.json);
}

describe.skipIf(!HAVE_REDIS)('Node replicas (2 on Redis via the Upstash REST bridge, 2 on files), HTTP on loopback', () => {
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sintra-node-'));
    // The Node replicas (child processes) take their environment from this one: a configured CORS list.
    process.env['SINTRA_CORS_ORIGINS'] = `${DASHBOARD}, http://localhost:3000`;
    redis = [await startRedis(), await startRedis()];
    bridges = await Promise.all(redis.map((r) => startUpstashBridge(r.port)));
    cluster = await startMixedCluster({
      dataDir,
      n: N,
      basePort: await freePortRange(N),
      nodeIndices: ALL,
      nodeStore: (i) => (i < 2 ? { kind: 'redis', url: bridges[i]!.url, token: bridges[i]!.token } : { kind: 'file' }),
    });
    await waitUntilReady(cluster.urls, 60_000);
    group = parseGroup(JSON.parse(readFileSync(cluster.groupPath, 'utf8')));
  }, 120_000);

  afterAll(async () => {
    delete process.env['SINTRA_CORS_ORIGINS'];
    await cluster?.dispose();
    for (const b of bridges) await b.close();
    for (const r of redis) await r.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const accepted: string[] = [];

  it('SIGKILL of a Redis-backed and of a file-backed replica under load: no equivocation, they catch up, same order and checkpoints', async () => {
    const timeline: string[] = [];
    const t0 = Date.now();
    const mark = (s: string) => timeline.push(`${((Date.now() - t0) / 1000).toFixed(1)}s ${s}`);
    const down = new Set<number>();
    let sent = 0;
    let chaosDone = false;
    const chaos = (async () => {
      for (const victim of [1, 3]) {
        const at = sent + 3;
        while (sent < at) await sleep(20);
        down.add(victim);
        await cluster.kill(victim, 'SIGKILL');
        mark(`r${victim + 1} SIGKILLed after ${sent} requests`);
        await sleep(1000);
        await cluster.start(victim);
        down.delete(victim);
        mark(`r${victim + 1} restarted after ${sent} requests`);
      }
      chaosDone = true;
    })();
    // The load goes on until both replicas are back, and a little longer.
    for (let k = 0, after = 0; after < 3 && k < 80; k++) {
      if (chaosDone) after++;
      // Each request to two replicas (a kernel for t = 1), skipping one that is down.
      const targets = [k % N, (k + 1) % N].filter((i) => !down.has(i));
      const results = await Promise.all(targets.map((i) => submit(i, `node load ${k}`)));
      const ok = results.find((r) => r.status === 202 || r.status === 200);
      expect(ok, JSON.stringify(results)).toBeDefined();
      accepted.push(ok!.json.id);
      sent++;
      await sleep(150);
    }
    await chaos;
    mark('load done');
    await expectSameLogs(accepted);
    mark('same checkpoint everywhere');
    const metrics = await expectNoFaults();
    expect(metrics[1].replayedEvents).toBeGreaterThan(0);
    expect(metrics[3].replayedEvents).toBeGreaterThan(0);
    for (const i of ALL) {
      const rec = await get(i, `/v1/receipts/${accepted[(i * 5) % accepted.length]}`);
      expect(rec.status).toBe(200);
      const { groupId, receipt } = receiptFromJson(rec.json);
      expect(groupId).toEqual(group.groupId);
      expect(verifyReceipt(group.kernel.groupKey, group.groupId, receipt)).toEqual({ ok: true });
    }
    console.log(`node-replica kill: ${timeline.join('; ')}`);
  }, 180_000);

  it("a replica's Redis killed during load: 503 storage-unavailable meanwhile, no crash, then it recovers and nothing is lost", async () => {
    const t0 = Date.now();
    const before = accepted.length;
    const unavailable: { status: number; code: string }[] = [];
    let redisDown = false;
    const outage = (async () => {
      await sleep(600);
      await redis[0]!.kill('SIGKILL');
      redisDown = true;
      await sleep(2500);
      await redis[0]!.restart();
      redisDown = false;
    })();
    for (let k = 0; k < 12; k++) {
      const text = `outage load ${k}`;
      // To a Redis-backed replica and a file-backed one.
      const [a, b] = await Promise.all([submit(k % 2, text), submit(2 + (k % 2), text)]);
      if (a.status === 503) unavailable.push({ status: a.status, code: a.json.error.code });
      for (const r of [a, b]) if (r.status === 202 || r.status === 200) accepted.push(r.json.id);
      if (redisDown) {
        const h = await get(0, '/v1/health');
        if (h.status === 503) unavailable.push({ status: h.status, code: h.json.error.code });
      }
      await sleep(300);
    }
    await outage;
    expect(unavailable.length, 'r1 answered 503 while its Redis was down').toBeGreaterThan(0);
    expect(new Set(unavailable.map((u) => u.code))).toEqual(new Set(['storage-unavailable']));
    expect(cluster.running(0) && cluster.running(1)).toBe(true);
    await waitFor(async () => ((await get(0, '/v1/health')).status === 200 ? true : null), 'replica r1 healthy again', 30_000);
    const ids = [...new Set(accepted)];
    expect(ids.length).toBeGreaterThan(before);
    await expectSameLogs(ids);
    await expectNoFaults();
    console.log(`node-replica redis outage: ${unavailable.length} x 503 while down; recovered and all ${ids.length} requests ordered everywhere in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }, 180_000);

  it('HTTP conventions on every Node replica (@hono/node-server): CORS from the configured origins only (none on /v1/peer), ETag/304 and Cache-Control, 405 with Allow, /metrics, health', async () => {
    await sameCheckpointEverywhere(new Set(accepted).size);
    const ids = [];
    for (const url of cluster.urls) ids.push(await expectHttpConventions(url, { allowedOrigin: DASHBOARD, deniedOrigin: 'https://evil.example' }));
    expect(ids).toEqual(['r1', 'r2', 'r3', 'r4']);
  }, 60_000);
});

if (!HAVE_REDIS) describe('Node replicas on Redis', () => it.skip(REDIS_SKIP_MESSAGE, () => undefined));

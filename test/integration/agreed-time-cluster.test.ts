/**
 * Agreed time on a mixed cluster over HTTP (replicas 0 and 1 Durable Objects in Miniflare, 2 and 3 Node
 * replicas), with the Durable Object replica 1's clock six hours behind (SINTRA_CLOCK_OFFSET_MS): every
 * checkpoint the replicas sign carries one time, and it lies within the honest clocks (this machine's clock
 * between the first request and the receipt); receipts, the log's entries and the C2SP note show it. The
 * lag between the signed time and the moment a client holds its receipt is printed (docs/operations.md,
 * "Clocks").
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseGroup } from '../../shared/config/group.ts';
import type { Group } from '../../shared/config/group.ts';
import { checkpointFromJson, receiptFromJson, verifyCheckpoint, verifyReceipt } from '../../shared/log/checkpoint.ts';
import { verifyCheckpointNote } from '../../shared/log/checkpoint-note.ts';
import { waitUntilReady } from '../../infra/cluster/local-cluster.ts';
import { startMixedCluster } from '../../infra/cluster/mixed-cluster.ts';
import type { MixedCluster } from '../../infra/cluster/mixed-cluster.ts';
import { getJson, waitFor } from '../helpers/http.ts';
import { freePortRange } from '../helpers/ports.ts';

const HOUR = 3_600_000;
let dataDir: string;
let cluster: MixedCluster;
let group: Group;

describe("agreed time on a mixed cluster with one replica's clock six hours behind", () => {
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sintra-time-'));
    cluster = await startMixedCluster({ dataDir, n: 4, basePort: await freePortRange(4), nodeIndices: [2, 3], clockOffsetMs: { 1: -6 * HOUR } });
    await waitUntilReady(cluster.urls, 120_000);
    group = parseGroup(JSON.parse(readFileSync(cluster.groupPath, 'utf8')));
  }, 300_000);

  afterAll(async () => {
    await cluster?.dispose();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('signs one time per checkpoint, within the honest clocks; receipts, entries and the note carry it', async () => {
    const lags: number[] = [];
    let last = 0;
    for (let k = 0; k < 6; k++) {
      const before = Date.now();
      // To the skewed replica too: its proposals carry its clock, which the others outvote.
      const res = await fetch(`${cluster.urls[k % 4]}/v1/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `agreed time ${k} ${before}` }) });
      expect(res.status).toBe(202);
      const { id } = (await res.json()) as { id: string };
      const receipt = await waitFor(async () => {
        const r = await getJson(cluster.urls[(k + 1) % 4]!, `/v1/receipts/${id}`);
        return r.status === 200 ? r.json : null;
      }, `receipt ${k}`);
      const after = Date.now();
      const { groupId, receipt: rc } = receiptFromJson(receipt);
      expect(verifyReceipt(group.kernel.groupKey, groupId, rc)).toEqual({ ok: true });
      const time = rc.checkpoint.time!;
      expect(time).toBeGreaterThanOrEqual(before - 1000);
      expect(time).toBeLessThanOrEqual(after);
      expect(time).toBeGreaterThanOrEqual(last);
      last = time;
      lags.push(after - time);
      // The entry's epoch has the time of the checkpoint of that epoch, at every replica.
      const entries = await getJson(cluster.urls[1]!, `/v1/log/entries?start=${rc.index}&end=${rc.index + 1}`);
      expect(entries.json.entries[0].time).toBeLessThanOrEqual(time);
      expect(entries.json.entries[0].time).toBeGreaterThanOrEqual(before - 1000);
    }
    // Every replica, the skewed one included, serves the same signed checkpoint for an epoch.
    const latest = await Promise.all(cluster.urls.map((u) => getJson(u, '/v1/log/checkpoint')));
    const cps = latest.map((r) => checkpointFromJson(r.json));
    const epoch = Math.min(...cps.map((c) => c.epoch));
    const same = await Promise.all(cluster.urls.map((u) => getJson(u, `/v1/log/checkpoint?covering=${cps.find((c) => c.epoch === epoch)!.size - 1}`)));
    expect(new Set(same.map((r) => JSON.stringify(r.json))).size).toBe(1);
    for (const c of cps) expect(verifyCheckpoint(group.kernel.groupKey, group.groupId, c)).toBe(true);
    const note = await (await fetch(`${cluster.urls[1]}/checkpoint`)).text();
    const v = verifyCheckpointNote(group.groupId, group.kernel.groupKey, note);
    expect(v.ok && v.checkpoint.time).toBe(cps[1]!.time);
    expect(note).toMatch(/^time \d+$/m);
    console.log(`agreed time, replica 1 six hours behind: receipt held ${lags.map((l) => `${l} ms`).join(', ')} after the signed time`);
  }, 180_000);
});

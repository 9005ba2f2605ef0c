/**
 * Issue 4, integration: a replica stopped and restarted mid-load catches up. Four replicas, each its own
 * Miniflare instance (its own workerd process and Durable Object state), talking HTTP on loopback through
 * SINTRA_PEERS. A client submits requests to replicas 0-2 while replica 3 is stopped partway (its peers'
 * POSTs fail; they keep its messages and retry from alarms) and started again a few seconds later on the
 * same state (it replays its journal). Every request is certified, all four logs are equal, the restarted
 * replica reaches the others' checkpoint, and nobody records a fault.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntilReady } from '../../infra/cluster/local-cluster.ts';
import { startSeparateCluster } from '../../infra/cluster/separate-cluster.ts';
import type { SeparateCluster } from '../../infra/cluster/separate-cluster.ts';
import { getJson, http, sleep, waitFor as waitUntil } from '../helpers/http.ts';
import { freePortRange } from '../helpers/ports.ts';

/** Replica i listens on BASE_PORT + i: a free range picked in beforeAll (ranges fixed by pid collided across files). */
let BASE_PORT = 0;
const REQUESTS = 30;
let dataDir: string;
let cluster: SeparateCluster;

const get = (i: number, path: string) => getJson(cluster.urls[i]!, path);

const waitFor = <T>(f: () => Promise<T | null>, what: string) => waitUntil(f, what, 90000, 250);

describe('replica restart mid-load (4 replicas, one Miniflare each, HTTP between them)', () => {
  beforeAll(async () => {
    BASE_PORT = await freePortRange(16);
    dataDir = mkdtempSync(join(tmpdir(), 'sintra-restart-'));
    cluster = await startSeparateCluster({ dataDir, n: 4, basePort: BASE_PORT });
    await waitUntilReady(cluster.urls);
  }, 120_000);

  afterAll(async () => {
    await cluster?.dispose();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('a replica stopped and restarted during load catches up; every request is certified; all logs agree', async () => {
    const t0 = Date.now();
    const ids: string[] = [];
    let submitted = 0;
    let downtimeLinks: { failures: number; lastError: string | null }[] = [];
    const timeline: string[] = [];
    const mark = (what: string) => timeline.push(`${((Date.now() - t0) / 1000).toFixed(1)}s ${what}`);

    // Stop replica 3 after a quarter of the requests, start it again ~3 s later while the load goes on.
    const chaos = (async () => {
      while (submitted < REQUESTS / 4) await sleep(20);
      await cluster.stop(3);
      mark(`replica 3 stopped after ${submitted} requests`);
      await sleep(3000);
      // Meanwhile its peers' POSTs to it fail (they keep its messages and retry with backoff).
      const ms = await Promise.all([0, 1, 2].map((i) => get(i, '/v1/metrics')));
      downtimeLinks = ms.map((m) => m.json.links[3]);
      await cluster.start(3);
      mark(`replica 3 started again after ${submitted} requests`);
    })();

    for (let k = 0; k < REQUESTS; k++) {
      const res = await http(`${cluster.urls[k % 3]}/v1/requests`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: `restart test request ${k}` }),
      });
      const json = (await res.json()) as any;
      expect(res.status, JSON.stringify(json)).toBe(202);
      ids.push(json.id);
      submitted++;
      await sleep(200);
    }
    mark('all requests submitted');
    await chaos;
    expect(cluster.running(3)).toBe(true);

    for (const id of ids) {
      await waitFor(async () => {
        const r = await get(0, `/v1/requests/${id}`);
        return r.status === 200 && r.json.status === 'certified' ? true : null;
      }, `request ${id} certified at replica 0`);
    }
    mark('all requests certified at replica 0');

    // The restarted replica catches up to the others' checkpoint (peers retry with backoff up to 30 s).
    const cp0 = await waitFor(async () => {
      const cps = await Promise.all([0, 1, 2, 3].map((i) => get(i, '/v1/log/checkpoint')));
      if (cps.some((c) => c.status !== 200)) return null;
      const texts = new Set(cps.map((c) => JSON.stringify(c.json)));
      return texts.size === 1 && cps[0]!.json.size >= REQUESTS ? cps[0]!.json : null;
    }, 'all four replicas at the same checkpoint');
    mark(`all replicas at checkpoint size ${cp0.size}`);
    expect(cp0.size).toBe(REQUESTS);

    const logs = await Promise.all([0, 1, 2, 3].map((i) => get(i, `/v1/log/entries?start=0&end=${REQUESTS}`)));
    for (const l of logs) {
      expect(l.status).toBe(200);
      expect(l.json.size).toBe(REQUESTS);
    }
    expect(new Set(logs.map((l) => JSON.stringify(l.json.entries))).size).toBe(1);
    expect(logs[0]!.json.entries.map((e: { id: string }) => e.id).sort()).toEqual([...ids].sort());

    const metrics = await Promise.all([0, 1, 2, 3].map((i) => get(i, '/v1/metrics')));
    expect(downtimeLinks.some((l) => l.failures > 0 && l.lastError !== null), JSON.stringify(downtimeLinks)).toBe(true);
    // The restarted replica rebuilt its state from its journal.
    expect(metrics[3]!.json.replayedEvents).toBeGreaterThan(0);
    for (const m of metrics) {
      // No replica saw a fault (equivocation, bad share, ...) from any other: the restart is invisible.
      expect(m.json.engine.faultsByPeer, `faults at replica ${m.json.index}`).toEqual({});
      expect(m.json.engine.logSize).toBe(REQUESTS);
    }
    // The peers have delivered to replica 3 everything they kept for it while it was down.
    await waitFor(async () => {
      const ms = await Promise.all([0, 1, 2].map((i) => get(i, '/v1/metrics')));
      return ms.every((m) => m.json.outbox[3] === 0) ? true : null;
    }, 'peers to empty their outboxes for replica 3');
    mark('peers hold nothing more for replica 3');
    console.log(`replica-restart: ${timeline.join('; ')}; replayed ${metrics[3]!.json.replayedEvents} events`);
  }, 240_000);
});

/**
 * GET /v1/health reports a stall on running replicas (issue 17, workers/core/health.ts): a group of one
 * Durable Object (Miniflare) and three Node replicas on files, SINTRA_HEALTH_STALL_SECONDS=3. Two Node
 * replicas are frozen (SIGSTOP): their ports still accept connections, nothing answers, and no send has
 * failed yet, so every peer counts as reachable; a request waits and no checkpoint comes. Health then
 * answers 503 `stalled` (with the pending work in its message) on the Durable Object and on the live Node
 * replica, and 200 again once the frozen ones are thawed and the request is certified. A bad
 * SINTRA_HEALTH_STALL_SECONDS is refused with the variable's name.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntilReady } from '../../infra/cluster/local-cluster.ts';
import { startMixedCluster } from '../../infra/cluster/mixed-cluster.ts';
import type { MixedCluster } from '../../infra/cluster/mixed-cluster.ts';
import { healthStallOption } from '../../workers/core/health.ts';
import { getJson, http, waitFor } from '../helpers/http.ts';
import { freePortRange } from '../helpers/ports.ts';

describe('health reports a stall on running replicas', () => {
  let dataDir: string;
  let cluster: MixedCluster;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sintra-stall-'));
    cluster = await startMixedCluster({ dataDir, n: 4, basePort: await freePortRange(4), nodeIndices: [1, 2, 3], healthStallSeconds: 3 });
    await waitUntilReady(cluster.urls, 90_000);
  }, 240_000);

  afterAll(async () => {
    for (const i of [2, 3]) if (cluster?.running(i)) cluster.resume(i);
    await cluster?.dispose();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const health = async (i: number) => {
    const r = await getJson(cluster.urls[i]!, '/v1/health');
    return { status: r.status, body: r.json as { ok: boolean; error?: { code: string; message: string } } };
  };
  const submit = async (i: number, text: string) => {
    const res = await http(`${cluster.urls[i]}/v1/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  };
  const certified = (id: string, at: readonly number[]) =>
    waitFor(async () => ((await Promise.all(at.map((i) => getJson(cluster.urls[i]!, `/v1/requests/${id}`)))).every((s) => s.json.status === 'certified') ? true : null), `request ${id} certified`, 120_000, 300);

  it('503 stalled while two replicas are frozen, 200 again once they are back', async () => {
    await certified(await submit(0, 'before the freeze'), [0, 1, 2, 3]);
    expect((await health(0)).status).toBe(200);
    expect((await health(1)).status).toBe(200);

    cluster.pause(2);
    cluster.pause(3);
    const id = await submit(1, 'while two are frozen');
    await submit(0, 'while two are frozen, at the Durable Object');
    // Polled across the window (progress is observed when health is asked), within the 15 s a send may take.
    for (const i of [0, 1]) {
      const seen = await waitFor(
        async () => {
          const h = await health(i);
          return h.status === 503 ? h : null;
        },
        `replica ${i} to report a stall`,
        30_000,
        250,
      );
      expect(seen.body.ok).toBe(false);
      expect(seen.body.error!.code).toBe('stalled');
      expect(seen.body.error!.message).toMatch(/work waits \(\d+ pending, \d+ entries uncertified\) and no new checkpoint for \d+ s/);
    }

    cluster.resume(2);
    cluster.resume(3);
    await certified(id, [0, 1, 2, 3]);
    await waitFor(async () => ((await health(0)).status === 200 && (await health(1)).status === 200 ? true : null), 'healthy again', 60_000, 500);
  }, 300_000);

  it('SINTRA_HEALTH_STALL_SECONDS: seconds from 1 to 86400, else refused by name', () => {
    expect(healthStallOption(undefined)).toEqual({});
    expect(healthStallOption('')).toEqual({});
    expect(healthStallOption('3')).toEqual({ healthStallMs: 3000 });
    for (const bad of ['0.5', 'x', '100000', '-3']) expect(() => healthStallOption(bad)).toThrow(/SINTRA_HEALTH_STALL_SECONDS: expected a number of seconds from 1 to 86400/);
  });
});

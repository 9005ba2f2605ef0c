/**
 * The randomness beacon on a mixed cluster (`sintra start --mixed`: replicas 0 and 1 Durable Objects in
 * Miniflare, 2 and 3 Node replicas with the local file store, all over HTTP): the Node replicas release,
 * gather, combine and store rounds as the Durable Objects do, and drand-client verifies the same rounds
 * from all four. The Node replicas keep rounds in their SQLite file (workers/node/sqlite-store.ts).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpCachingChain, HttpChainClient, fetchBeacon } from 'drand-client';
import { parseGroup } from '../../shared/config/group.ts';
import type { Group } from '../../shared/config/group.ts';
import { toHex } from '../../shared/crypto/bytes.ts';
import { roundAt } from '../../shared/crypto/beacon.ts';
import { waitUntilReady } from '../../infra/cluster/local-cluster.ts';
import { startMixedCluster } from '../../infra/cluster/mixed-cluster.ts';
import type { MixedCluster } from '../../infra/cluster/mixed-cluster.ts';
import { sleep } from '../helpers/http.ts';
import { freePortRange } from '../helpers/ports.ts';

let dataDir: string;
let cluster: MixedCluster;
let group: Group;

describe('randomness beacon on a mixed cluster (2 Durable Objects, 2 Node replicas)', () => {
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sintra-beacon-mixed-'));
    cluster = await startMixedCluster({ dataDir, n: 4, basePort: await freePortRange(4), nodeIndices: [2, 3], beaconPeriod: 1 });
    await waitUntilReady(cluster.urls, 120_000);
    group = parseGroup(JSON.parse(readFileSync(cluster.groupPath, 'utf8')));
  }, 300_000);

  afterAll(async () => {
    await cluster?.dispose();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('every replica produces each round on its own timer (Durable Object alarms, Node timers), asked by nobody', async () => {
    const produced = async (url: string) => Number(/^sintra_beacon_produced_round\{[^}]*\} (\d+)$/m.exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? -1);
    const first = await Promise.all(cluster.urls.map(produced));
    expect(first.every((r) => r >= 0)).toBe(true);
    // Three periods later every replica has produced newer rounds, though no client asked for any.
    await sleep(3500);
    const later = await Promise.all(cluster.urls.map(produced));
    later.forEach((r, i) => expect(r, `replica ${i}`).toBeGreaterThan(first[i]!));
  }, 60_000);

  it('drand-client verifies the same rounds from the Durable Object and the Node replicas', async () => {
    const b = group.beacon!;
    expect(b.period).toBe(1);
    while (roundAt(Date.now(), b.genesisTime, b.period) < 3) await sleep(100);
    const hash = toHex(b.chainHash);
    const opts = { disableBeaconVerification: false, noCache: false, chainVerificationParams: { chainHash: hash, publicKey: group.file.keys.beacon!.groupKey } };
    const seen = new Map<number, Set<string>>();
    // Node replicas first: they gather from the Durable Objects and each other.
    for (const url of [cluster.urls[3]!, cluster.urls[2]!, cluster.urls[0]!, cluster.urls[1]!]) {
      const client = new HttpChainClient(new HttpCachingChain(`${url}/${hash}`, opts), opts);
      for (const round of [1, 3]) {
        const r = await fetchBeacon(client, round);
        (seen.get(round) ?? seen.set(round, new Set()).get(round)!).add(r.signature);
      }
      expect((await fetchBeacon(client)).round).toBeGreaterThanOrEqual(3);
    }
    expect([...seen.values()].map((s) => s.size)).toEqual([1, 1]);
  }, 120_000);
});

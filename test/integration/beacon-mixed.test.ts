/**
 * The randomness beacon on a mixed cluster (`sintra start --mixed`: replicas 0 and 1 Durable Objects in
 * Miniflare, 2 and 3 Node replicas with the local file store, all over HTTP): the Node replicas release,
 * gather, combine and store rounds as the Durable Objects do, and drand-client verifies the same rounds
 * from all four. The Node replicas keep rounds in their SQLite file (workers/node/sqlite-store.ts). Node
 * replica 3 is Byzantine in the beacon (a wrong key share: every share it serves is invalid), and every
 * replica still produces the same rounds, on its own timer.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpCachingChain, HttpChainClient, fetchBeacon } from 'drand-client';
import { parseGroup } from '../../shared/config/group.ts';
import type { Group } from '../../shared/config/group.ts';
import { toHex } from '../../shared/crypto/bytes.ts';
import { roundAt, verifyBeaconShare } from '../../shared/crypto/beacon.ts';
import { decodeSignatureShare } from '../../shared/crypto/threshold-bls.ts';
import { fromHex } from '../../shared/crypto/bytes.ts';
import type { SecretsFile } from '../../shared/config/group.ts';
import { GROUP_FILE, dealToDir, secretsFileName, structureFromThreshold, systemRandom } from '../../infra/dealer/dealer.ts';
import { waitUntilReady } from '../../infra/cluster/local-cluster.ts';
import { startMixedCluster } from '../../infra/cluster/mixed-cluster.ts';
import type { MixedCluster } from '../../infra/cluster/mixed-cluster.ts';
import { sleep } from '../helpers/http.ts';
import { freePortRange } from '../helpers/ports.ts';

let dataDir: string;
let cluster: MixedCluster;
let group: Group;

describe('randomness beacon on a mixed cluster (2 Durable Objects, 2 Node replicas, Node replica 3 Byzantine in the beacon)', () => {
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sintra-beacon-mixed-'));
    // Dealt here so that replica 3 (a Node replica) can be made Byzantine in the beacon before it starts:
    // its beacon share becomes another scalar, so every share it serves is invalid.
    const keysDir = join(dataDir, 'keys');
    await dealToDir(structureFromThreshold(4, 1), { out: keysDir, rng: systemRandom, testOnly: false, beacon: { period: 1, genesisTime: Math.floor(Date.now() / 1000) } });
    const dealt = parseGroup(JSON.parse(readFileSync(join(keysDir, GROUP_FILE), 'utf8')));
    const file = join(keysDir, secretsFileName(dealt.replicas[3]!.id));
    const secrets = JSON.parse(readFileSync(file, 'utf8')) as SecretsFile;
    const shares = JSON.parse(secrets.SINTRA_KEY_SHARES) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify({ ...secrets, SINTRA_KEY_SHARES: JSON.stringify({ ...shares, beacon: ['0'.repeat(63) + '5'] }) }));
    cluster = await startMixedCluster({ dataDir, n: 4, basePort: await freePortRange(4), nodeIndices: [2, 3], newGroup: true });
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

  it('the Byzantine Node replica serves invalid shares, the others valid ones', async () => {
    const b = group.beacon!;
    for (const [i, url] of cluster.urls.entries()) {
      const r = await fetch(`${url}/v1/beacon/shares/1`);
      expect(r.status).toBe(200);
      const share = decodeSignatureShare(b.key.scheme, fromHex(((await r.json()) as { share: string }).share));
      expect(verifyBeaconShare(b.key, 1, share), `replica ${i}`).toBe(i !== 3);
    }
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

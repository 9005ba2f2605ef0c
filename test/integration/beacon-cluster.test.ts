/**
 * The randomness beacon (docs/beacon.md) on the local Miniflare cluster over real HTTP: drand-client 1.4.2
 * fetches and verifies rounds 1, 2, the latest and a past one nobody asked for in time, from every replica,
 * pinned to the chain hash and public key of group.json; a round altered in one byte is rejected by it;
 * replica 3 is Byzantine in the beacon (its key share is wrong, so every share it serves is invalid), and
 * the rounds are still produced by every replica, the same ones the honest replicas' shares give offline;
 * `sintra beacon get` prints and verifies a round.
 *
 * Keys are dealt here (the dealer `sintra start` uses, with a 2-second period) so that replica 3's secrets
 * can be corrupted before it starts. These keys never ran, so the empty state/ folder only tells the
 * launcher that (no log is started: the beacon needs none).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HttpCachingChain, HttpChainClient, fetchBeacon } from 'drand-client';
import { parseGroup, parseReplicaSecrets } from '../../shared/config/group.ts';
import type { Group, SecretsFile } from '../../shared/config/group.ts';
import { toHex } from '../../shared/crypto/bytes.ts';
import { beaconShare, combineBeacon, roundAt, verifyBeaconShare } from '../../shared/crypto/beacon.ts';
import { decodeSignatureShare } from '../../shared/crypto/threshold-bls.ts';
import { fromHex } from '../../shared/crypto/bytes.ts';
import { GROUP_FILE, dealToDir, secretsFileName, structureFromThreshold, systemRandom } from '../../infra/dealer/dealer.ts';
import { startLocalCluster } from '../../infra/cluster/local-cluster.ts';
import type { LocalCluster } from '../../infra/cluster/local-cluster.ts';
import { main } from '../../infra/cli/main.ts';
import { getJson, sleep, waitFor } from '../helpers/http.ts';
import { freePortRange } from '../helpers/ports.ts';

const PERIOD = 2;
let dataDir: string;
let cluster: LocalCluster;
let group: Group;
let hash: string;
let publicKey: string;

function client(url: string, prefixed = true) {
  const opts = { disableBeaconVerification: false, noCache: false, chainVerificationParams: { chainHash: hash, publicKey } };
  return new HttpChainClient(new HttpCachingChain(prefixed ? `${url}/${hash}` : url, opts), opts);
}

/** Waits until round `r` is due by this machine's clock (the replicas', too). */
async function untilDue(r: number): Promise<void> {
  const b = group.beacon!;
  while (roundAt(Date.now(), b.genesisTime, b.period) < r) await sleep(100);
}

describe('randomness beacon on the local cluster (4 Durable Object replicas, one Byzantine in the beacon)', () => {
  beforeAll(async () => {
    const basePort = await freePortRange(16);
    dataDir = mkdtempSync(join(tmpdir(), 'sintra-beacon-'));
    const keysDir = join(dataDir, 'keys');
    await dealToDir(structureFromThreshold(4, 1), { out: keysDir, rng: systemRandom, testOnly: false, beacon: { period: PERIOD, genesisTime: Math.floor(Date.now() / 1000) } });
    group = parseGroup(JSON.parse(readFileSync(join(keysDir, GROUP_FILE), 'utf8')));
    hash = toHex(group.beacon!.chainHash);
    publicKey = group.file.keys.beacon!.groupKey;
    // Replica 3's beacon share becomes another scalar: a Byzantine replica serving invalid shares.
    const file = join(keysDir, secretsFileName(group.replicas[3]!.id));
    const secrets = JSON.parse(readFileSync(file, 'utf8')) as SecretsFile;
    const shares = JSON.parse(secrets.SINTRA_KEY_SHARES) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify({ ...secrets, SINTRA_KEY_SHARES: JSON.stringify({ ...shares, beacon: ['0'.repeat(63) + '5'] }) }));
    mkdirSync(join(dataDir, 'state'));
    cluster = await startLocalCluster({ dataDir, basePort });
    for (const url of cluster.urls) await waitFor(async () => ((await getJson(url, '/info')).status === 200 ? true : null), `${url}/info`, 120_000);
  }, 300_000);

  afterAll(async () => {
    await cluster?.dispose();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  /** The round as the honest replicas 0 and 1 sign it, combined here from their secrets files. */
  function honestRound(round: number): string {
    const shares = [0, 1].map((i) => {
      const s = parseReplicaSecrets(JSON.parse(readFileSync(join(dataDir, 'keys', secretsFileName(group.replicas[i]!.id)), 'utf8')), group);
      return beaconShare(s.beacon!, round);
    });
    return toHex(combineBeacon(group.beacon!.key, round, shares).signature);
  }

  it('drand-client verifies rounds 1, 2, the latest and a past one from every replica; all are the honest rounds', async () => {
    await untilDue(2);
    const seen = new Map<number, string>();
    for (const url of cluster.urls) {
      const c = client(url);
      for (const round of [1, 2]) {
        const b = await fetchBeacon(c, round);
        expect(b.round).toBe(round);
        expect(b.signature).toBe(seen.get(round) ?? honestRound(round));
        seen.set(round, b.signature);
      }
      const latest = await fetchBeacon(c);
      expect(latest.round).toBeGreaterThanOrEqual(2);
      // The un-prefixed routes serve the same default chain.
      expect((await fetchBeacon(client(url, false), 1)).signature).toBe(seen.get(1));
    }
    // A past round that nobody asked for in time is produced on request, the same everywhere.
    const target = roundAt(Date.now(), group.beacon!.genesisTime, PERIOD) + 1;
    await untilDue(target + 2);
    const past = new Set<string>();
    for (const url of [...cluster.urls].reverse()) past.add((await fetchBeacon(client(url), target)).signature);
    expect([...past]).toEqual([honestRound(target)]);
  }, 180_000);

  it('replica 3 serves invalid shares, the others valid ones; a future round is 404 with a short cache lifetime', async () => {
    const b = group.beacon!;
    for (const [i, url] of cluster.urls.entries()) {
      const r = await getJson(url, '/v1/beacon/shares/1');
      expect(r.status).toBe(200);
      const share = decodeSignatureShare(b.key.scheme, fromHex(r.json.share));
      expect(verifyBeaconShare(b.key, 1, share)).toBe(i !== 3);
    }
    const ahead = roundAt(Date.now(), b.genesisTime, PERIOD) + 100;
    const res = await fetch(`${cluster.urls[0]}/public/${ahead}`);
    expect(res.status).toBe(404);
    expect(res.headers.get('cache-control')).toMatch(/^public, max-age=[12]$/);
    expect(((await res.json()) as any).error.code).toBe('round-not-due');
    expect((await fetch(`${cluster.urls[1]}/v1/beacon/shares/${ahead}`)).status).toBe(404);
  }, 60_000);

  it('drand-client rejects a round altered in one byte', async () => {
    const realFetch = globalThis.fetch;
    for (const field of ['signature', 'randomness'] as const) {
      vi.stubGlobal('fetch', async (url: string | URL, init?: RequestInit) => {
        const res = await realFetch(url, init);
        if (!String(url).includes('/public/')) return res;
        const body = (await res.json()) as Record<string, string>;
        const hex = body[field]!;
        body[field] = hex.slice(0, 10) + (hex[10] === '0' ? '1' : '0') + hex.slice(11);
        return new Response(JSON.stringify(body), { status: res.status, headers: { 'content-type': 'application/json' } });
      });
      try {
        await expect(fetchBeacon(client(cluster.urls[2]!), 1)).rejects.toThrow(/not valid/);
      } finally {
        vi.unstubAllGlobals();
      }
    }
    // Unaltered, the same call succeeds.
    expect((await fetchBeacon(client(cluster.urls[2]!), 1)).round).toBe(1);
  }, 60_000);

  it('`sintra beacon get` prints and verifies a round (exit 0), and says why it cannot (exit 1, 2)', async () => {
    const run = async (args: string[]) => {
      let out = '';
      let err = '';
      const code = await main(['node', 'sintra', ...args], { out: (s) => void (out += s), err: (s) => void (err += s) });
      return { code, out, err };
    };
    const groupPath = join(dataDir, 'keys', GROUP_FILE);
    const got = await run(['beacon', 'get', '2', '--cluster', cluster.urls[3]!, '--cluster', cluster.urls[0]!, '--group', groupPath, '--json']);
    expect(got.code, got.err).toBe(0);
    expect(JSON.parse(got.out)).toMatchObject({ round: 2, signature: honestRound(2), chainHash: hash, verified: true });
    const text = await run(['beacon', 'get', '--cluster', cluster.urls[1]!, '--group', groupPath]);
    expect(text.code, text.err).toBe(0);
    expect(text.out).toMatch(/^round \d+\n {2}randomness [0-9a-f]{64}\n/);
    const future = await run(['beacon', 'get', '99999999', '--cluster', cluster.urls[0]!, '--group', groupPath]);
    expect(future.code).toBe(1);
    expect(future.err).toMatch(/^error: no replica served a verified round 99999999: .*round-not-due|is due at/);
    const unpinned = await run(['beacon', 'get', '1', '--cluster', cluster.urls[0]!]);
    expect(unpinned.code).toBe(2);
    expect(unpinned.err.split('\n').filter(Boolean)).toHaveLength(1);
  }, 60_000);

  it('`sintra deal --beacon` deals the chain asked for and `deal verify` checks it; beacon flags need --beacon', async () => {
    const run = async (args: string[]) => {
      let out = '';
      let err = '';
      const code = await main(['node', 'sintra', ...args], { out: (s) => void (out += s), err: (s) => void (err += s) });
      return { code, out, err };
    };
    const out = join(dataDir, 'dealt');
    const dealt = await run(['deal', '--n', '4', '--t', '1', '--beacon', '--beacon-period', '30', '--beacon-genesis', '2030-01-01T00:00:00Z', '--beacon-id', 'lottery', '--out', out, '--json']);
    expect(dealt.code, dealt.err).toBe(0);
    const summary = JSON.parse(dealt.out) as { keys: { beacon: { period: number; genesisTime: number; beaconId: string; chainHash: string } } };
    expect(summary.keys.beacon).toMatchObject({ period: 30, genesisTime: 1893456000, beaconId: 'lottery' });
    const g = parseGroup(JSON.parse(readFileSync(join(out, GROUP_FILE), 'utf8')));
    expect(toHex(g.beacon!.chainHash)).toBe(summary.keys.beacon.chainHash);
    expect((await run(['deal', 'verify', out])).code).toBe(0);
    const stray = await run(['deal', '--n', '4', '--t', '1', '--beacon-period', '5', '--out', join(dataDir, 'stray')]);
    expect(stray.code).toBe(2);
    expect(stray.err).toBe('error: --beacon-period goes with --beacon\n');
    const badId = await run(['deal', '--n', '4', '--t', '1', '--beacon', '--beacon-id', 'Bad Id', '--out', join(dataDir, 'bad')]);
    expect(badId.code).toBe(2);
  }, 120_000);
});

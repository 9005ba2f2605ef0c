/**
 * The notary with one Byzantine replica (issue 6, "done when"): replicas 0-2 are honest (one Miniflare each,
 * HTTP on loopback); replica 3's slot is a Node server in this test holding replica 3's REAL secrets. On the
 * peer link it runs a real engine (with the standard applications) and attacks: it equivocates on its own
 * proposals, sends invalid checkpoint and coin shares, and claims to take every message. To clients it
 * lies: it swallows stamp requests (answers 202, orders nothing), and serves forged stamp receipts (a
 * registration at index 0 with a fabricated proof and a garbage signature) and forged registrations.
 *
 * The SDK and the CLI, given replica 3 first, still get every stamp ordered (they submit to a kernel, so an
 * honest replica has it), reject replica 3's receipts, verify the honest ones; duplicate stamps and lookups
 * agree on the honest replicas; the honest replicas blame replica 3 only.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../infra/cli/main.ts';
import { nodeFetch } from '../../infra/cli/stamp.ts';
import type { SeparateCluster } from '../../infra/cluster/separate-cluster.ts';
import { standardApps } from '../../shared/app/index.ts';
import { encodeStampEntry } from '../../shared/app/notary.ts';
import { SintraClient, verifyStampReceipt } from '../../shared/client/sdk.ts';
import type { Group, ReplicaSecrets } from '../../shared/config/group.ts';
import { toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import type { Message } from '../../shared/protocols/messages.ts';
import { ByzantineReplica, startWithByzantine } from '../helpers/byzantine-replica.ts';
import type { ByzantineCluster, Reply } from '../helpers/byzantine-replica.ts';
import { getJson, sleep, waitFor } from '../helpers/http.ts';

const BYZ = 3;
const HONEST = [0, 1, 2];

class ByzantineNotary extends ByzantineReplica {
  readonly swallowed: string[] = [];
  forgedReceipts = 0;

  constructor(group: Group, secrets: ReplicaSecrets, urls: readonly string[]) {
    super(group, secrets, urls, { engine: { apps: () => standardApps(group) }, infoApps: ['notary', 'ca'] });
  }

  protected override async route(method: string, url: string, body: Uint8Array, reply: Reply): Promise<boolean> {
    if (method === 'POST' && url === '/v1/notary/stamp') {
      // Swallowed: a cheerful 202, and nothing is ever proposed.
      const j = JSON.parse(Buffer.from(body).toString('utf8')) as { digest?: string; ciphertext?: string };
      this.swallowed.push(j.digest ?? 'ciphertext');
      reply(202, { id: toHex(sha256(body)), digest: j.digest, status: 'pending', replica: this.secrets.id });
      return true;
    }
    const m = /^\/v1\/notary\/stamps\/([0-9a-f]{64})$/.exec(url);
    if (method === 'GET' && m) {
      // A registration at index 0, "certified", with a made-up proof and checkpoint.
      this.forgedReceipts++;
      const entry = encodeStampEntry({ digest: m[1]! });
      const { checkpoint, receipt } = this.forgedReceipt(sha256(new Uint8Array([0, ...entry])), entry);
      reply(200, { digest: m[1], index: 0, epoch: 0, entryId: toHex(sha256(entry)), status: 'certified', checkpoint, receipt });
      return true;
    }
    return false;
  }

  /** Equivocation (another batch, one that even holds a notary stamp nobody asked for), invalid checkpoint and coin shares. */
  protected override corrupt(to: number, m: Message): Message[] {
    return this.equivocateAndBreakShares(to, m, () => [encodeStampEntry({ digest: toHex(sha256(utf8ToBytes(`byzantine ${m.tag}`))) })]);
  }
}

let env: ByzantineCluster<ByzantineNotary>;
let dataDir: string;
let cluster: SeparateCluster;
let byz: ByzantineNotary;
let group: Group;

async function sintra(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['node', 'sintra', ...args], { out: (s) => void (out += s), err: (s) => void (err += s) });
  return { code, out, err };
}

const digestOf = (s: string) => toHex(sha256(utf8ToBytes(s)));

describe('notary with one Byzantine replica (equivocation, bad shares, swallowed requests, forged receipts)', () => {
  beforeAll(async () => {
    env = await startWithByzantine('sintra-notary-byz-', BYZ, (g, secrets, urls) => new ByzantineNotary(g, secrets, urls));
    ({ dataDir, cluster, group, byz } = env);
  }, 120_000);

  afterAll(() => env?.dispose());

  it('SDK and CLI stamps succeed with the Byzantine replica listed first; its receipts are rejected', async () => {
    const urls = [cluster.urls[BYZ]!, ...HONEST.map((i) => cluster.urls[i]!)];
    const log: string[] = [];
    const sdk = new SintraClient({ group, urls, fetch: nodeFetch, sleep, randomBytes: (n) => new Uint8Array(randomBytes(n)), timeoutMs: 90_000, log: (l) => void log.push(l) });

    const d1 = digestOf('byzantine-proof document');
    const r1 = await sdk.stamp(d1);
    expect(r1.acceptedBy).toContain(cluster.urls[BYZ]);
    expect(r1.from).not.toBe(cluster.urls[BYZ]);
    // Before the stamp is certified anywhere, replica 3's instant forged answer is checked and refused.
    expect(sdk.liarList().map((l) => l.url)).toEqual([cluster.urls[BYZ]]);
    expect(verifyStampReceipt(group, r1.receipt, d1).ok).toBe(true);
    expect(byz.swallowed).toContain(d1);
    expect(byz.forgedReceipts).toBeGreaterThan(0);

    // An encrypted stamp through the same client (the liar is not asked again).
    const d2 = digestOf('sealed, with a liar around');
    const r2 = await sdk.stamp(d2, { encrypt: true });
    expect(verifyStampReceipt(group, r2.receipt, d2).ok).toBe(true);
    expect(r2.verdict.index).toBeGreaterThan(r1.verdict.index);

    // A duplicate: the first registration, from every honest replica.
    const again = await sdk.stamp(d1, { nonce: '99' });
    expect(again.verdict.index).toBe(r1.verdict.index);
    for (const i of HONEST) {
      const j = await waitFor(async () => {
        const g = await getJson(cluster.urls[i]!, `/v1/notary/stamps/${d1}`);
        return g.json.status === 'certified' ? g.json : null;
      }, `d1 certified at replica ${i}`);
      expect(j.index).toBe(r1.verdict.index);
      expect((await getJson(cluster.urls[i]!, `/v1/notary/seq/${r2.verdict.index}`)).json.digest).toBe(d2);
    }

    // The CLI with the Byzantine replica as the first --cluster.
    const file = join(dataDir, 'doc.txt');
    writeFileSync(file, 'stamped despite a Byzantine replica\n');
    const out = join(dataDir, 'doc.stamp.json');
    const s = await sintra('stamp', file, '--cluster', cluster.urls[BYZ]!, '--cluster', cluster.urls[1]!, '--cluster', cluster.urls[2]!, '--group', cluster.groupPath, '--out', out);
    expect(s.err).not.toMatch(/^error/m);
    expect(s.code).toBe(0);
    expect(s.err).toMatch(/does not verify/);
    expect((await sintra('stamp', '--verify', file, out, '--group', cluster.groupPath)).code).toBe(0);
    // Replica 3's forged receipt, saved: rejected offline.
    const forged = join(dataDir, 'forged.json');
    writeFileSync(forged, JSON.stringify((await getJson(cluster.urls[BYZ]!, `/v1/notary/stamps/${toHex(sha256(readFileSync(file)))}`)).json.receipt));
    const v = await sintra('stamp', '--verify', file, forged, '--group', cluster.groupPath);
    expect(v.code).toBe(1);

    // The honest replicas agree on the log and the signed state, and blame replica 3 only.
    await waitFor(async () => {
      const cps = await Promise.all(HONEST.map((i) => getJson(cluster.urls[i]!, '/v1/log/checkpoint')));
      return new Set(cps.map((c) => JSON.stringify(c.json))).size === 1 ? true : null;
    }, 'the honest replicas at the same checkpoint');
    const metrics = await Promise.all(HONEST.map((i) => getJson(cluster.urls[i]!, '/v1/metrics')));
    for (const m of metrics) expect(Object.keys(m.json.engine.faultsByPeer)).toEqual([String(BYZ)]);
    expect(byz.errors).toEqual([]);
  }, 240_000);
});

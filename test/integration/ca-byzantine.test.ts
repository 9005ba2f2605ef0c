/**
 * The certification authority with one Byzantine replica (issue 6, "done when"): replicas 0-2 are honest
 * (one Miniflare each, HTTP on loopback); replica 3's slot is a Node server in this test holding replica 3's
 * REAL secrets. On the peer link it runs a real engine (with the standard applications) and attacks: it
 * equivocates on its own proposals (a batch registering a name for Mallory), sends invalid checkpoint and
 * coin shares, and claims to take every message. To clients it lies: it swallows CA requests (202, orders
 * nothing), claims every request certified with a forged receipt, and serves forged directory statements
 * (registered names claimed absent, absent names claimed held by Mallory).
 *
 * The SDK and the CLI, given replica 3 first, still get every request ordered (a kernel has it), reject
 * replica 3's answers and verify the honest ones: register, lookup present and absent, revoke; the honest
 * replicas agree on the signed state and blame replica 3 only.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../infra/cli/main.ts';
import { nodeFetch } from '../../infra/cli/stamp.ts';
import type { SeparateCluster } from '../../infra/cluster/separate-cluster.ts';
import { standardApps } from '../../shared/app/index.ts';
import { ed25519PublicKey, encodeCaRequest, registerRequest, verifyDirectoryStatement } from '../../shared/app/ca.ts';
import type { CaRequest } from '../../shared/app/ca.ts';
import { SintraClient } from '../../shared/client/sdk.ts';
import type { Group, ReplicaSecrets } from '../../shared/config/group.ts';
import { toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import type { Message } from '../../shared/protocols/messages.ts';
import { ByzantineReplica, startWithByzantine } from '../helpers/byzantine-replica.ts';
import type { ByzantineCluster, Reply } from '../helpers/byzantine-replica.ts';
import { getJson, http, sleep, waitFor } from '../helpers/http.ts';

const BYZ = 3;
const HONEST = [0, 1, 2];
const MALLORY = new Uint8Array(32).fill(9);
const DAVE = new Uint8Array(32).fill(4);

class ByzantineCa extends ByzantineReplica {
  readonly swallowed: string[] = [];
  forgedReceipts = 0;
  forgedStatements = 0;

  constructor(group: Group, secrets: ReplicaSecrets, urls: readonly string[]) {
    super(group, secrets, urls, { engine: { apps: () => standardApps(group) }, infoApps: ['notary', 'ca'] });
  }

  protected override async route(method: string, url: string, body: Uint8Array, reply: Reply): Promise<boolean> {
    if (method === 'POST' && url === '/v1/ca/requests') {
      // Swallowed: a cheerful 202, and nothing is ever proposed.
      const j = JSON.parse(Buffer.from(body).toString('utf8')) as { request: CaRequest };
      this.swallowed.push(j.request.name);
      reply(202, { id: toHex(sha256(encodeCaRequest(j.request))), op: j.request.op, name: j.request.name, status: 'pending', replica: this.secrets.id });
      return true;
    }
    const q = /^\/v1\/ca\/requests\/([0-9a-f]{64})$/.exec(url);
    if (method === 'GET' && q) {
      // "Certified at index 0", with a made-up receipt and a made-up success.
      this.forgedReceipts++;
      const { checkpoint, receipt } = this.forgedReceipt(new Uint8Array(32).fill(1), utf8ToBytes('{"app":"ca"}'));
      reply(200, { id: q[1], status: 'certified', index: 0, epoch: 0, response: { app: 'ca', op: 'register', ok: true, index: 0 }, checkpoint, receipt });
      return true;
    }
    const n = /^\/v1\/ca\/names\/([a-z0-9._@-]+)$/.exec(url);
    if (method === 'GET' && n) {
      // An honest replica's statement, turned around: present names claimed absent, absent ones held by Mallory.
      this.forgedStatements++;
      const honest = await (await http(`${this.urls[0]}${url}`)).json() as Record<string, unknown>;
      const record = honest['record']
        ? null
        : { v: 1, name: n[1], key: toHex(ed25519PublicKey(MALLORY)), serial: 1, notBefore: 0, notAfter: 1_000_000, status: 'active', revokedAt: null };
      reply(200, { ...honest, record });
      return true;
    }
    return false;
  }

  /** Equivocation (another batch, one that even registers a name for Mallory), invalid checkpoint and coin shares. */
  protected override corrupt(to: number, m: Message): Message[] {
    return this.equivocateAndBreakShares(to, m, () => [encodeCaRequest(registerRequest(this.group.groupId, `byz-${m.tag.replace(/[^a-z0-9]/g, '')}`, MALLORY, 5))]);
  }
}

let env: ByzantineCluster<ByzantineCa>;
let dataDir: string;
let cluster: SeparateCluster;
let byz: ByzantineCa;
let group: Group;

async function sintra(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['node', 'sintra', ...args], { out: (s) => void (out += s), err: (s) => void (err += s) });
  return { code, out, err };
}

describe('CA with one Byzantine replica (equivocation, bad shares, swallowed requests, forged receipts and statements)', () => {
  beforeAll(async () => {
    env = await startWithByzantine('sintra-ca-byz-', BYZ, (g, secrets, urls) => new ByzantineCa(g, secrets, urls));
    ({ dataDir, cluster, group, byz } = env);
  }, 120_000);

  afterAll(() => env?.dispose());

  it('SDK and CLI: register, lookups, revoke succeed with the Byzantine replica listed first; its answers are rejected', async () => {
    const urls = [cluster.urls[BYZ]!, ...HONEST.map((i) => cluster.urls[i]!)];
    const log: string[] = [];
    const sdk = new SintraClient({ group, urls, fetch: nodeFetch, sleep, timeoutMs: 50_000, log: (l) => void log.push(l) });

    const r = await sdk.caRegister('dave', DAVE, 1000);
    expect(r.acceptedBy).toContain(cluster.urls[BYZ]);
    expect(r.from).not.toBe(cluster.urls[BYZ]);
    expect(r.verdict).toMatchObject({ status: 'active', record: { key: toHex(ed25519PublicKey(DAVE)) } });
    expect(sdk.liarList().map((l) => l.url)).toEqual([cluster.urls[BYZ]]);
    expect(byz.swallowed).toContain('dave');
    expect(byz.forgedReceipts).toBeGreaterThan(0);

    // Lookups by fresh clients that list replica 3 first: its forged statements are refused.
    for (const name of ['dave', 'nobody']) {
      const c = new SintraClient({ group, urls, fetch: nodeFetch, sleep, timeoutMs: 30_000 });
      const l = await c.caLookup(name, { wait: true });
      expect(l.from).not.toBe(cluster.urls[BYZ]);
      expect(l.verdict.status).toBe(name === 'dave' ? 'active' : 'absent');
      // Whichever answers first: an honest statement wins, and replica 3's, when it comes first, is refused.
      expect(c.liarList().map((x) => x.url)).not.toContain(cluster.urls[1]);
      const alone = new SintraClient({ group, urls: [cluster.urls[BYZ]!], fetch: nodeFetch, sleep, timeoutMs: 30_000 });
      await expect(alone.caLookup(name)).rejects.toThrow(/no replica served/);
      expect(alone.liarList()).toEqual([{ url: cluster.urls[BYZ], reason: expect.stringMatching(/proof/) }]);
    }
    expect(byz.forgedStatements).toBeGreaterThan(0);

    const rv = await sdk.caRevoke('dave', DAVE);
    expect(rv.verdict.status).toBe('revoked');

    // The CLI with the Byzantine replica as the first --cluster.
    const key = join(dataDir, 'erin.key');
    expect((await sintra('ca', 'keygen', '--out', key)).code).toBe(0);
    const cl = ['--cluster', cluster.urls[BYZ]!, '--cluster', cluster.urls[1]!, '--cluster', cluster.urls[2]!, '--group', cluster.groupPath];
    const s = await sintra('ca', 'register', 'erin', '--key', key, ...cl);
    expect(s.err).not.toMatch(/^error/m);
    expect(s.code).toBe(0);
    expect(s.err).toMatch(/not asking it again/);
    const lk = await sintra('ca', 'lookup', 'erin', ...cl, '--json');
    expect(lk.code).toBe(0);
    expect(JSON.parse(lk.out)).toMatchObject({ status: 'active' });
    // Replica 3's forged statement, saved: rejected offline.
    const forged = join(dataDir, 'forged.json');
    writeFileSync(forged, JSON.stringify((await getJson(cluster.urls[BYZ]!, '/v1/ca/names/erin')).json));
    expect(verifyDirectoryStatement(group, JSON.parse(readFileSync(forged, 'utf8'))).ok).toBe(false);
    expect((await sintra('ca', 'verify', forged, '--group', cluster.groupPath)).code).toBe(1);

    // The honest replicas agree on the log and the signed state, and blame replica 3 only.
    await waitFor(async () => {
      const cps = await Promise.all(HONEST.map((i) => getJson(cluster.urls[i]!, '/v1/log/checkpoint')));
      return new Set(cps.map((c) => JSON.stringify(c.json))).size === 1 ? true : null;
    }, 'the honest replicas at the same checkpoint');
    const metrics = await Promise.all(HONEST.map((i) => getJson(cluster.urls[i]!, '/v1/metrics')));
    for (const m of metrics) expect(Object.keys(m.json.engine.faultsByPeer)).toEqual([String(BYZ)]);
    expect(byz.errors).toEqual([]);
  }, 120_000);
});

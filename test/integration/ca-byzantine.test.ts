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
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../infra/cli/main.ts';
import { nodeFetch } from '../../infra/cli/stamp.ts';
import { waitUntilReady } from '../../infra/cluster/local-cluster.ts';
import { startSeparateCluster } from '../../infra/cluster/separate-cluster.ts';
import type { SeparateCluster } from '../../infra/cluster/separate-cluster.ts';
import { secretsFileName } from '../../infra/dealer/dealer.ts';
import { standardApps } from '../../shared/app/index.ts';
import { ed25519PublicKey, encodeCaRequest, registerRequest, verifyDirectoryStatement } from '../../shared/app/ca.ts';
import type { CaRequest } from '../../shared/app/ca.ts';
import { SintraClient } from '../../shared/client/sdk.ts';
import { encodeMessage } from '../../shared/codec/message-codec.ts';
import { parseGroup, parseReplicaSecrets } from '../../shared/config/group.ts';
import type { Group, ReplicaSecrets } from '../../shared/config/group.ts';
import { toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { checkFrame, decodeFrame, LinkReceiver, LinkSender, linkPeers } from '../../shared/link/index.ts';
import type { LinkPeer } from '../../shared/link/index.ts';
import { encodeBatch } from '../../shared/protocols/batch.ts';
import type { Message } from '../../shared/protocols/messages.ts';
import { ReplicaEngine } from '../../shared/replica/engine.ts';
import type { EngineStep } from '../../shared/replica/engine.ts';
import { contextFromConfig } from '../../shared/replica/from-config.ts';
import { decodeTransport, encodeTransport } from '../../shared/replica/transport.ts';
import { getJson, http, sleep, waitFor } from '../helpers/http.ts';
import { freePortRange } from '../helpers/ports.ts';

/** Replica i listens on BASE_PORT + i: a free range picked in beforeAll (ranges fixed by pid collided across files). */
let BASE_PORT = 0;
const BYZ = 3;
const HONEST = [0, 1, 2];
const MALLORY = new Uint8Array(32).fill(9);
const DAVE = new Uint8Array(32).fill(4);

function flipByte(b: Uint8Array, at = b.length >> 1): Uint8Array {
  const out = b.slice();
  if (out.length > 0) out[at % out.length]! ^= 0x5a;
  return out;
}

class ByzantineCa {
  readonly engine: ReplicaEngine;
  private readonly peers: readonly (LinkPeer | undefined)[];
  private readonly receivers: (LinkReceiver | undefined)[];
  private readonly senders: (LinkSender | undefined)[];
  private readonly nextId: number[];
  private readonly chains: Promise<void>[];
  private server: Server | null = null;
  private stopped = false;
  readonly errors: string[] = [];
  readonly swallowed: string[] = [];
  forgedReceipts = 0;
  forgedStatements = 0;

  constructor(
    readonly group: Group,
    readonly secrets: ReplicaSecrets,
    readonly urls: readonly string[],
  ) {
    this.engine = new ReplicaEngine(contextFromConfig(group, secrets), { apps: () => standardApps(group) });
    this.peers = linkPeers(group, secrets);
    this.receivers = this.peers.map((p) => (p ? LinkReceiver.create(p.incoming) : undefined));
    this.senders = this.peers.map((p) => (p ? LinkSender.create(p.outgoing) : undefined));
    this.nextId = group.replicas.map(() => 1);
    this.chains = group.replicas.map(() => Promise.resolve());
  }

  async listen(port: number): Promise<void> {
    this.server = createServer((req, res) => void this.serve(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, '127.0.0.1', () => resolve());
    });
  }

  async close(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.chains);
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = new Uint8Array(Buffer.concat(chunks));
      const url = req.url ?? '';
      if (req.method === 'GET' && url === '/v1/info') {
        return reply(200, { service: 'sintra-edge', replica: { id: this.secrets.id, index: BYZ }, groupId: toHex(this.group.groupId), n: 4, group: this.group.file, apps: ['notary', 'ca'] });
      }
      if (req.method === 'POST' && url === '/v1/ca/requests') {
        // Swallowed: a cheerful 202, and nothing is ever proposed.
        const j = JSON.parse(Buffer.from(body).toString('utf8')) as { request: CaRequest };
        this.swallowed.push(j.request.name);
        return reply(202, { id: toHex(sha256(encodeCaRequest(j.request))), op: j.request.op, name: j.request.name, status: 'pending', replica: this.secrets.id });
      }
      const q = /^\/v1\/ca\/requests\/([0-9a-f]{64})$/.exec(url);
      if (req.method === 'GET' && q) {
        // "Certified at index 0", with a made-up receipt and a made-up success.
        this.forgedReceipts++;
        const cp = { size: 1, root: toHex(new Uint8Array(32).fill(1)), epoch: 0, stateDigest: toHex(new Uint8Array(32)), signature: toHex(flipByte(new Uint8Array(48).fill(0xa0))) };
        const receipt = { format: 'sintra-edge/receipt@1', groupId: toHex(this.group.groupId), entry: toHex(utf8ToBytes('{"app":"ca"}')), index: 0, proof: [], checkpoint: cp };
        return reply(200, { id: q[1], status: 'certified', index: 0, epoch: 0, response: { app: 'ca', op: 'register', ok: true, index: 0 }, checkpoint: cp, receipt });
      }
      const n = /^\/v1\/ca\/names\/([a-z0-9._@-]+)$/.exec(url);
      if (req.method === 'GET' && n) {
        // An honest replica's statement, turned around: present names claimed absent, absent ones held by Mallory.
        this.forgedStatements++;
        const honest = await (await http(`${this.urls[0]}${url}`)).json() as Record<string, unknown>;
        const record = honest['record']
          ? null
          : { v: 1, name: n[1], key: toHex(ed25519PublicKey(MALLORY)), serial: 1, notBefore: 0, notAfter: 1_000_000, status: 'active', revokedAt: null };
        return reply(200, { ...honest, record });
      }
      if (req.method !== 'POST' || url !== '/v1/peer') return reply(404, { error: { code: 'not-found', message: 'byzantine' } });
      const d = decodeFrame(body);
      if (!d.ok) return reply(400, { error: { code: `link-${d.code}`, message: d.message } });
      let items: { id: number; msg: Message }[] = [];
      try {
        items = decodeTransport(d.frame.payload);
      } catch {
        return reply(400, { error: { code: 'bad-payload', message: 'byzantine' } });
      }
      const v = checkFrame(body, this.receivers);
      if (v.ok && v.seq > 0) {
        this.receivers[v.sender] = this.receivers[v.sender]!.commit(v.seq);
        const steps: EngineStep[] = [];
        for (const { msg } of items) {
          const step = this.engine.handle({ kind: 'peer', from: v.sender, msg });
          if (!step.deferred) steps.push(step);
        }
        if (!this.stopped) this.emit(steps);
      }
      reply(200, { accepted: items.map((i) => i.id), deferred: [] });
    } catch (e) {
      this.errors.push(e instanceof Error ? (e.stack ?? e.message) : String(e));
      reply(500, { error: { code: 'internal', message: 'byzantine replica bug' } });
    }
  }

  private emit(steps: readonly EngineStep[]): void {
    const out = new Map<number, Message[]>();
    for (const s of steps) {
      for (const { to, msg } of s.outgoing) {
        if (!HONEST.includes(to)) continue;
        out.set(to, [...(out.get(to) ?? []), ...this.corrupt(to, msg)]);
      }
    }
    for (const [to, msgs] of out) {
      this.chains[to] = this.chains[to]!.then(() => this.send(to, msgs)).catch((e) => void this.errors.push(`send to ${to}: ${String(e)}`));
    }
  }

  private corrupt(to: number, m: Message): Message[] {
    const b = m.body;
    switch (b.t) {
      case 'cbc-send': {
        // Equivocation: another batch, one that even registers a name for Mallory.
        const fake: Message = { tag: m.tag, body: { t: 'cbc-send', value: encodeBatch([encodeCaRequest(registerRequest(this.group.groupId, `byz-${m.tag.replace(/[^a-z0-9]/g, '')}`, MALLORY, 5))]) } };
        return to === 0 ? [m, fake] : [fake, m];
      }
      case 'ckpt-share':
        return [{ tag: m.tag, body: { t: 'ckpt-share', share: flipByte(b.share) } }];
      case 'aba-coin':
        return [{ tag: m.tag, body: { t: 'aba-coin', round: b.round, share: flipByte(b.share) } }];
      default:
        return [m];
    }
  }

  private async send(to: number, msgs: readonly Message[]): Promise<void> {
    if (msgs.length === 0) return;
    const payload = encodeTransport(msgs.map((m) => ({ id: this.nextId[to]!++, bytes: encodeMessage(m) })));
    const { seq, sender } = this.senders[to]!.allocate();
    const res = await http(`${this.urls[to]}/v1/peer`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: sender.seal(seq, payload, this.receivers[to]!.contiguousAck) });
    const body = (await res.json().catch(() => null)) as { ack?: number } | null;
    if (res.status >= 500) this.errors.push(`replica ${to} answered ${res.status}`);
    if (res.status === 200) {
      const acked = sender.acknowledge(seq);
      this.senders[to] = acked.ok ? acked.sender : sender;
    } else if (res.status === 409 && Number.isSafeInteger(body?.ack)) {
      const next = Math.max(sender.next, body!.ack! + 1);
      this.senders[to] = LinkSender.fromJSON(this.peers[to]!.outgoing, { next, peerAck: next - 1 });
    }
  }
}

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
    BASE_PORT = await freePortRange(16);
    dataDir = mkdtempSync(join(tmpdir(), 'sintra-ca-byz-'));
    cluster = await startSeparateCluster({ dataDir, n: 4, basePort: BASE_PORT, exclude: [BYZ] });
    group = parseGroup(JSON.parse(readFileSync(cluster.groupPath, 'utf8')));
    const secrets = parseReplicaSecrets(JSON.parse(readFileSync(join(cluster.dataDir, 'keys', secretsFileName(group.replicas[BYZ]!.id)), 'utf8')), group);
    byz = new ByzantineCa(group, secrets, cluster.urls);
    await byz.listen(BASE_PORT + BYZ);
    await waitUntilReady(HONEST.map((i) => cluster.urls[i]!));
  }, 120_000);

  afterAll(async () => {
    await byz?.close();
    await cluster?.dispose();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

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

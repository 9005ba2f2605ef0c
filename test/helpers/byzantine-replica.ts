/**
 * A Byzantine replica for the integration tests: a Node HTTP server in a replica's slot that holds that
 * replica's REAL secrets (so its frames are authentic), runs a real ReplicaEngine on what the honest replicas
 * send it, claims to take every message, and turns its engine's messages into attacks.
 *
 * The machinery is here: the engine, link senders and receivers per peer, the server, receiving,
 * authenticating and applying peer frames, sending authentic frames (and wrong-MAC, garbage and replayed
 * ones) to the honest replicas. Each test subclasses it for its own misbehaviour:
 * - `corrupt`: what becomes of each engine message to an honest replica (equivocation, bad shares);
 * - `route`: answers to client requests (swallowed requests, forged receipts and statements);
 * - `answerPeer`: how the "took everything" answer to a peer's POST is given (e.g. late).
 * `startWithByzantine` starts the honest replicas (a separate cluster) around one.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitUntilReady } from '../../infra/cluster/local-cluster.ts';
import { startSeparateCluster } from '../../infra/cluster/separate-cluster.ts';
import type { SeparateCluster } from '../../infra/cluster/separate-cluster.ts';
import { secretsFileName } from '../../infra/dealer/dealer.ts';
import { encodeMessage } from '../../shared/codec/message-codec.ts';
import { parseGroup, parseReplicaSecrets } from '../../shared/config/group.ts';
import type { Group, ReplicaSecrets } from '../../shared/config/group.ts';
import { toHex } from '../../shared/crypto/bytes.ts';
import { checkFrame, decodeFrame, encodeFrame, LinkReceiver, LinkSender, linkChannel, linkPeers } from '../../shared/link/index.ts';
import type { LinkPeer } from '../../shared/link/index.ts';
import type { Message } from '../../shared/protocols/messages.ts';
import { ReplicaEngine } from '../../shared/replica/engine.ts';
import type { EngineOptions, EngineStep } from '../../shared/replica/engine.ts';
import { contextFromConfig } from '../../shared/replica/from-config.ts';
import { decodeTransport, encodeTransport } from '../../shared/replica/transport.ts';
import { encodeBatch } from '../../shared/protocols/batch.ts';
import { http } from './http.ts';
import { freePortRange } from './ports.ts';

/** A copy of `b` with one byte (at `at`, modulo the length; the middle one by default) flipped. */
export function flipByte(b: Uint8Array, at = b.length >> 1): Uint8Array {
  const out = b.slice();
  if (out.length > 0) out[at % out.length]! ^= 0x5a;
  return out;
}

/** The group file of a separate cluster, and the real secrets of its replica `index` (from keys/). */
export function replicaKeys(cluster: SeparateCluster, index: number): { group: Group; secrets: ReplicaSecrets } {
  const group = parseGroup(JSON.parse(readFileSync(cluster.groupPath, 'utf8')));
  const secrets = parseReplicaSecrets(JSON.parse(readFileSync(join(cluster.dataDir, 'keys', secretsFileName(group.replicas[index]!.id)), 'utf8')), group);
  return { group, secrets };
}

export type Reply = (status: number, body: unknown) => void;

export interface ByzantineOptions {
  /** Engine options (e.g. the replicated applications); none by default. */
  readonly engine?: EngineOptions;
  /** Answer GET /v1/info like a replica serving these applications; 404 (no answer) when absent. */
  readonly infoApps?: readonly string[];
}

export class ByzantineReplica {
  readonly engine: ReplicaEngine;
  /** Our index in the group, and the replicas we send to (every other one). */
  readonly index: number;
  readonly honest: readonly number[];
  protected readonly peers: readonly (LinkPeer | undefined)[];
  protected readonly receivers: (LinkReceiver | undefined)[];
  protected readonly senders: (LinkSender | undefined)[];
  protected readonly nextId: number[];
  /** Frames each honest replica accepted from us (to replay later). */
  protected readonly accepted: Uint8Array[][];
  private readonly chains: Promise<void>[];
  /** Per kind of message: how many our engine has sent (passed to `corrupt`). */
  private readonly seen = new Map<string, number>();
  private server: Server | null = null;
  protected stopped = false;
  /** Per attack kind: HTTP statuses of the honest replicas' answers. */
  readonly answers = new Map<string, number[]>();
  /** What we sent: counts by kind of misbehaviour. */
  readonly sent = new Map<string, number>();
  /** Frames the honest replicas sent us, and messages our engine handled. */
  received = 0;
  handled = 0;
  readonly errors: string[] = [];

  constructor(
    readonly group: Group,
    readonly secrets: ReplicaSecrets,
    readonly urls: readonly string[],
    private readonly options: ByzantineOptions = {},
  ) {
    this.engine = new ReplicaEngine(contextFromConfig(group, secrets), options.engine);
    this.index = secrets.index;
    this.honest = group.replicas.map((_, i) => i).filter((i) => i !== secrets.index);
    this.peers = linkPeers(group, secrets);
    this.receivers = this.peers.map((p) => (p ? LinkReceiver.create(p.incoming) : undefined));
    this.senders = this.peers.map((p) => (p ? LinkSender.create(p.outgoing) : undefined));
    this.nextId = group.replicas.map(() => 1);
    this.accepted = group.replicas.map(() => []);
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
    this.onStop();
    await Promise.all(this.chains);
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /** Called as close() begins (after `stopped` is set, before the pending sends are awaited). */
  protected onStop(): void {}

  protected count(what: string, k = 1): void {
    this.sent.set(what, (this.sent.get(what) ?? 0) + k);
  }

  /** A client request (anything but POST /v1/peer and GET /v1/info): true if answered, else 404. */
  protected async route(_method: string, _url: string, _body: Uint8Array, _reply: Reply): Promise<boolean> {
    return false;
  }

  /** Our engine's message `m` to honest replica `to` (the `k`-th of its kind, from 0), as we send it. */
  protected corrupt(_to: number, m: Message, _k: number): Message[] {
    return [m];
  }

  /** The answer to a peer's POST: "took everything". */
  protected answerPeer(reply: Reply, ack: { accepted: number[]; deferred: number[] }): void {
    reply(200, ack);
  }

  /** Replica `to` sees `m` first, then `fake` (replica 0) or the other way round (the others). */
  protected equivocate(to: number, m: Message, fake: Message): Message[] {
    return to === 0 ? [m, fake] : [fake, m];
  }

  /**
   * Equivocation on our own proposals (each honest replica gets both, see `equivocate`: ours and a batch of
   * `fakeEntries`), invalid checkpoint and coin shares (a byte flipped); everything else as it is.
   */
  protected equivocateAndBreakShares(to: number, m: Message, fakeEntries: () => Uint8Array[]): Message[] {
    const b = m.body;
    switch (b.t) {
      case 'cbc-send':
        return this.equivocate(to, m, { tag: m.tag, body: { t: 'cbc-send', value: encodeBatch(fakeEntries()) } });
      case 'ckpt-share':
        return [{ tag: m.tag, body: { t: 'ckpt-share', share: flipByte(b.share) } }];
      case 'aba-coin':
        return [{ tag: m.tag, body: { t: 'aba-coin', round: b.round, share: flipByte(b.share) } }];
      default:
        return [m];
    }
  }

  /** A forged "certified at index 0" checkpoint and receipt: made-up proof, garbage signature. */
  protected forgedReceipt(root: Uint8Array, entry: Uint8Array) {
    const checkpoint = { size: 1, root: toHex(root), epoch: 0, stateDigest: toHex(new Uint8Array(32)), signature: toHex(flipByte(new Uint8Array(48).fill(0xa0))) };
    const receipt = { format: 'sintra-edge/receipt@1', groupId: toHex(this.group.groupId), entry: toHex(entry), index: 0, proof: [], checkpoint };
    return { checkpoint, receipt };
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reply: Reply = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = new Uint8Array(Buffer.concat(chunks));
      const url = req.url ?? '';
      const method = req.method ?? '';
      const apps = this.options.infoApps;
      if (apps && method === 'GET' && url === '/v1/info') {
        const { groupId, file } = this.group;
        return reply(200, { service: 'sintra-edge', replica: { id: this.secrets.id, index: this.index }, groupId: toHex(groupId), n: this.group.replicas.length, group: file, apps });
      }
      if (!(method === 'POST' && url === '/v1/peer')) {
        if (await this.route(method, url, body, reply)) return;
        return reply(404, { error: { code: 'not-found', message: 'byzantine' } });
      }
      this.received++;
      const d = decodeFrame(body);
      if (!d.ok) return reply(400, { error: { code: `link-${d.code}`, message: d.message } });
      let items: { id: number; msg: Message }[] = [];
      try {
        items = decodeTransport(d.frame.payload).items;
      } catch {
        return reply(400, { error: { code: 'bad-payload', message: 'byzantine' } });
      }
      // Feed authentic fresh frames to our engine; whatever happens, claim we took everything.
      const v = checkFrame(body, this.receivers);
      if (v.ok && v.seq > 0) {
        this.receivers[v.sender] = this.receivers[v.sender]!.commit(v.seq);
        const steps: EngineStep[] = [];
        for (const { msg } of items) {
          const step = this.engine.handle({ kind: 'peer', from: v.sender, msg });
          if (!step.deferred) {
            this.handled++;
            steps.push(step);
          }
        }
        if (!this.stopped) this.emit(steps);
      }
      this.answerPeer(reply, { accepted: items.map((i) => i.id), deferred: [] });
    } catch (e) {
      this.errors.push(e instanceof Error ? (e.stack ?? e.message) : String(e));
      reply(500, { error: { code: 'internal', message: 'byzantine replica bug' } });
    }
  }

  /** Our engine's messages, turned into attacks, per honest replica. */
  private emit(steps: readonly EngineStep[]): void {
    const out = new Map<number, Message[]>();
    for (const s of steps) {
      for (const { to, msg } of s.outgoing) {
        if (!this.honest.includes(to)) continue;
        const k = this.seen.get(msg.body.t) ?? 0;
        this.seen.set(msg.body.t, k + 1);
        out.set(to, [...(out.get(to) ?? []), ...this.corrupt(to, msg, k)]);
      }
    }
    for (const [to, msgs] of out) this.enqueue(to, () => this.sendMessages(to, msgs, 'protocol'));
  }

  /** Runs `f` after everything we already queued for replica `to` (one POST at a time per replica). */
  protected enqueue(to: number, f: () => Promise<void>): void {
    this.chains[to] = this.chains[to]!.then(f).catch((e) => void this.errors.push(`send to ${to}: ${e instanceof Error ? e.message : String(e)}`));
  }

  private async post(to: number, frame: Uint8Array, attack: string): Promise<{ status: number; body: any }> {
    const res = await http(`${this.urls[to]}/v1/peer`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: frame });
    const body = (await res.json().catch(() => null)) as any;
    const list = this.answers.get(attack) ?? [];
    list.push(res.status);
    this.answers.set(attack, list);
    if (res.status >= 500) this.errors.push(`replica ${to} answered ${res.status} to ${attack}: ${JSON.stringify(body)}`);
    return { status: res.status, body };
  }

  /** One authentic frame on our real link to `to`, with fresh message ids. */
  protected async sendMessages(to: number, msgs: readonly Message[], attack: string): Promise<void> {
    if (msgs.length === 0) return;
    const payload = encodeTransport(msgs.map((m) => ({ id: this.nextId[to]!++, bytes: encodeMessage(m) })));
    const { seq, sender } = this.senders[to]!.allocate();
    const frame = sender.seal(seq, payload, this.receivers[to]!.contiguousAck);
    const r = await this.post(to, frame, attack);
    if (r.status === 200) {
      const acked = sender.acknowledge(seq);
      this.senders[to] = acked.ok ? acked.sender : sender;
      this.accepted[to]!.push(frame);
    } else if (r.status === 409 && Number.isSafeInteger(r.body?.ack)) {
      const next = Math.max(sender.next, (r.body.ack as number) + 1);
      this.senders[to] = LinkSender.fromJSON(this.peers[to]!.outgoing, { next, peerAck: next - 1 });
    }
  }

  /** An authentic-looking frame under a key that is not the link's. */
  protected async sendWrongMac(to: number): Promise<void> {
    const wrong = linkChannel(this.group.groupId, this.index, to, crypto.getRandomValues(new Uint8Array(32)));
    const payload = encodeTransport([{ id: this.nextId[to]!, bytes: encodeMessage({ tag: 'ab/0/aba/0', body: { t: 'aba-term', value: 1, round: 0 } }) }]);
    this.count('wrong MAC');
    await this.post(to, encodeFrame(wrong, { seq: this.senders[to]!.next, ack: 0, payload }), 'wrong-mac');
  }

  /** Authentic, but the payload is `length` random bytes: refused before the seq is taken, so we reuse the seq. */
  protected async sendGarbage(to: number, length: number): Promise<void> {
    const { seq, sender } = this.senders[to]!.allocate();
    this.count('garbage payload');
    await this.post(to, sender.seal(seq, crypto.getRandomValues(new Uint8Array(length)), 0), 'garbage-payload');
  }

  /** One of the frames replica `to` already accepted from us (the `k`-th, modulo), again; none yet: nothing. */
  protected async replay(to: number, k: number): Promise<void> {
    const old = this.accepted[to]!;
    if (old.length === 0) return;
    this.count('replayed frame');
    await this.post(to, old[k % old.length]!, 'replay');
  }
}

export interface ByzantineCluster<B extends ByzantineReplica> {
  readonly dataDir: string;
  readonly cluster: SeparateCluster;
  readonly group: Group;
  readonly byz: B;
  /** Closes the Byzantine replica, stops the cluster, deletes dataDir. */
  dispose(): Promise<void>;
}

/**
 * Honest replicas (a separate cluster of 4, one Miniflare each, on a free port range, in a fresh temporary
 * dataDir named after `prefix`) with replica `index` left out; its slot served by `make(...)` with its real
 * secrets. Resolves once the honest replicas are ready; on a failure on the way, cleans up what it started.
 */
export async function startWithByzantine<B extends ByzantineReplica>(
  prefix: string,
  index: number,
  make: (group: Group, secrets: ReplicaSecrets, urls: readonly string[]) => B,
): Promise<ByzantineCluster<B>> {
  const basePort = await freePortRange(16);
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  let cluster: SeparateCluster | undefined;
  let byz: B | undefined;
  const dispose = async () => {
    await byz?.close();
    await cluster?.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    cluster = await startSeparateCluster({ dataDir, n: 4, basePort, exclude: [index] });
    const { group, secrets } = replicaKeys(cluster, index);
    byz = make(group, secrets, cluster.urls);
    await byz.listen(basePort + index);
    await waitUntilReady(cluster.urls.filter((_, i) => i !== index));
    return { dataDir, cluster, group, byz, dispose };
  } catch (e) {
    await dispose();
    throw e;
  }
}

/**
 * Secure causal atomic broadcast (shared/protocols/scab.ts) under the simulator. One instance, tag 'scab'
 * (atomic broadcast below it at 'scab/ab', decryption shares at 'scab/<epoch>'). Clients (labels
 * 'client-<c>') encrypt seeded requests to the group key and submit each ciphertext to one, several or
 * all replicas (sometimes twice, sometimes only to corrupted ones), at step 0 or later. Some submissions
 * are garbage (random bytes, a valid ciphertext with one bit flipped, a truncated one) and some valid but
 * undecryptable (encrypted under another key). The adversary's malicious clients have more of both, and
 * valid ones of their own, which the 'scab-early' replicas push into honest replicas' pending requests.
 *
 * Checks (over the honest and crash-restart replicas):
 *  - total order: the delivered epochs (epoch number + plaintexts) are prefixes of one another, numbered
 *    0, 1, 2, ... at every replica;
 *  - integrity: no plaintext twice in one epoch (without corrupted replicas, none twice at all: a corrupted
 *    proposer may order a ciphertext again, which the log drops); nothing but plaintexts of valid, decryptable ciphertexts
 *    that some client made (garbage and undecryptable ones are never delivered);
 *  - confidentiality before order (online, while the run goes): every decryption share an honest replica
 *    sends (recognized by its bytes: shares are deterministic) must be for a ciphertext that this replica's
 *    atomic broadcast has already ordered; and before the first honest replica ordered a ciphertext, the
 *    shares the adversary holds for it (every corrupted replica's, from the start: it holds their keys,
 *    plus those honest replicas sent) must never be qualified;
 *  - liveness: every valid, decryptable request submitted to a non-Byzantine replica is delivered by all
 *    honest replicas, and all honest replicas delivered the same number of epochs.
 *
 * Params: `leak: true` (negative control: honest replicas send their decryption share of every valid
 * input straight to the Byzantine replicas, before ordering; the confidentiality checker must fire),
 * `mixed: true` (the replica engine's mixed mode: every payload in an envelope, plus 1..3 plain requests
 * that share the order with the encrypted ones; 'scab-early' then also injects unknown envelopes),
 * `requests: N` (requests per run; default 3..8), `spread: S` (submissions within the first S steps, some
 * of them S steps after GST; default 30 n; 0: all at step 0, so mostly one epoch: for real crypto).
 * Extra behaviour 'scab-early': releases its own decryption share of every ciphertext it sees (in a
 * proposal or a forwarded request) at once, sends its ordered shares rotated, swapped for shares of other
 * ciphertexts or to one side only, and injects garbage, undecryptable and its clients' valid ciphertexts
 * into honest replicas' pending requests (ab-requests).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import type { AbDelivery } from '../../../shared/protocols/ab.ts';
import { decodeBatch } from '../../../shared/protocols/batch.ts';
import { isBytes } from '../../../shared/protocols/context.ts';
import type { ProtocolContext } from '../../../shared/protocols/context.ts';
import type { ThresholdDecryptor } from '../../../shared/protocols/crypto-suite.ts';
import type { Body, Message } from '../../../shared/protocols/messages.ts';
import { DEFAULT_AB_CONFIG } from '../../../shared/protocols/ab.ts';
import { ENVELOPE_BYTES, ENVELOPE_CIPHERTEXT, ENVELOPE_PLAIN, SecureCausalBroadcast, envelope } from '../../../shared/protocols/scab.ts';
import { childSegments, childTag, formatEpochTag, parseEpochTag, parseNumber } from '../../../shared/protocols/instance-tag.ts';
import { Step } from '../../../shared/protocols/step.ts';
import type { Outgoing, Protocol } from '../../../shared/protocols/step.ts';
import type { BehaviourFactory } from '../byzantine.ts';
import { honestOutputs, integrity, totalOrder, uniqueWithinEpochs } from '../checkers.ts';
import type { ReplicaOutputs } from '../checkers.ts';
import { hex, short } from '../encode.ts';
import type { Rng } from '../rng.ts';
import type { RunSetup, RunView, Scenario, ScenarioOptions } from '../types.ts';

export const SCAB_TAG = 'scab';
/** The inner atomic broadcast's tag (SecureCausalBroadcast's default under SCAB_TAG). */
const SCAB_AB_TAG = childTag(SCAB_TAG, 'ab');

export type CiphertextKind = 'valid' | 'undecryptable' | 'garbage';

export interface ClientRequest {
  readonly id: number;
  readonly label: string;
  /** Empty for garbage. */
  readonly plaintext: Uint8Array;
  readonly ciphertext: Uint8Array;
  readonly kind: CiphertextKind;
}

const ctKey = (ct: Uint8Array) => hex(sha256(ct)).slice(0, 24);

/** What the 'scab-early' behaviour needs from the run being simulated (set by plan()). */
interface RunRef {
  readonly decryptors: readonly ThresholdDecryptor[];
  /** The adversary's clients' ciphertexts (every kind). */
  readonly adversarial: readonly Uint8Array[];
  /** Mixed mode: payloads are envelopes. */
  readonly mixed: boolean;
}

function flipBit(b: Uint8Array, rng: Rng): Uint8Array {
  const c = b.slice();
  if (c.length > 0) c[rng.int(c.length)]! ^= 1 << rng.int(8);
  return c;
}

/** A client request of the given kind (garbage: random bytes, a flipped bit or a truncation of a valid one). */
function makeRequest(setup: RunSetup, rng: Rng, id: number, label: string, kind: CiphertextKind): ClientRequest {
  const plaintext = new Uint8Array([...utf8ToBytes(`request ${id} `), ...rng.bytes(rng.int(33))]);
  const bytes = rng.randomBytes();
  const l = utf8ToBytes(label);
  if (kind === 'valid' || kind === 'undecryptable') {
    return { id, label, plaintext, ciphertext: setup.encrypt(l, plaintext, bytes, kind === 'undecryptable'), kind };
  }
  const valid = setup.encrypt(l, plaintext, bytes);
  const r = rng.int(3);
  const ciphertext = r === 0 ? rng.bytes(rng.int(200)) : r === 1 ? flipBit(valid, rng) : valid.subarray(0, rng.int(valid.length)).slice();
  return { id, label, plaintext: new Uint8Array(0), ciphertext, kind };
}

function rotate<T>(xs: readonly T[], k: number): T[] {
  if (xs.length === 0) return [];
  const s = k % xs.length;
  return [...xs.slice(s), ...xs.slice(0, s)];
}

/** The protocol-aware attack (see the header). `run()` is the run being simulated. */
export function scabEarly(run: () => RunRef | null): BehaviourFactory {
  return ({ me, n, rng, adversary }) => {
    const ref = run();
    const dec = ref?.decryptors[me];
    const seen = new Set<string>();
    const known: Uint8Array[] = [];
    const queue: Uint8Array[] = [];
    let epoch = 0;
    let injected = 0;
    // The epoch of any tag inside an epoch of the inner atomic broadcast (`scab/ab/<e>/...`, whatever
    // follows: the adversary learns from mutated tags too), up to 999,999 as the regex this replaced.
    const learnTag = (tag: string) => {
      const below = childSegments(tag, SCAB_AB_TAG);
      const e = below !== null && below.length >= 2 ? parseNumber(below[0]!, 999_999) : null;
      if (e !== null) epoch = Math.max(epoch, e);
    };
    const learn = (ct: unknown) => {
      if (!isBytes(ct) || !dec) return;
      const k = ctKey(ct);
      if (seen.has(k)) return;
      seen.add(k);
      if (!dec.isValid(ct)) return;
      known.push(ct);
      queue.push(ct);
    };
    const learnPayload = (p: unknown) => {
      if (!ref?.mixed) return learn(p);
      if (isBytes(p) && p[0] === ENVELOPE_CIPHERTEXT) learn(p.subarray(ENVELOPE_BYTES).slice());
    };
    const learnBody = (b: Body) => {
      if (b.t === 'ab-requests' && Array.isArray(b.requests)) for (const c of b.requests) learnPayload(c);
      if ((b.t === 'cbc-send' || b.t === 'cbc-final') && isBytes(b.value)) {
        for (const c of decodeBatch(b.value, DEFAULT_AB_CONFIG.maxBatch, DEFAULT_AB_CONFIG.maxRequestBytes + ENVELOPE_BYTES) ?? []) learnPayload(c);
      }
    };
    return {
      name: 'scab-early',
      observe(_from: number, msg: Message) {
        learnTag(msg.tag);
        learnBody(msg.body);
      },
      transform(o: Outgoing): Outgoing[] {
        learnTag(o.msg.tag);
        learnBody(o.msg.body);
        const out: Outgoing[] = [];
        const b = o.msg.body;
        if (b.t === 'dec-shares' && dec) {
          const m = (shares: readonly Uint8Array[]): Message => ({ tag: o.msg.tag, body: { t: 'dec-shares', first: b.first, shares } });
          switch (rng.int(4)) {
            case 0:
              out.push(o);
              break;
            case 1: // right shares, wrong positions
              out.push({ to: o.to, msg: m(rotate(b.shares, 1 + rng.int(Math.max(1, b.shares.length)))) });
              break;
            case 2: // a valid share, but of another ciphertext
              out.push({ to: o.to, msg: m(b.shares.map((s) => (known.length > 0 && rng.chance(0.5) ? dec.share(rng.pick(known)) : s))) });
              break;
            default: // only to one side of the adversary's split
              for (let j = 0; j < n; j++) if (adversary.corrupted.has(j) || adversary.side[j] === 0) out.push({ to: j, msg: o.msg });
          }
        } else out.push(o);
        if (queue.length > 0 && dec) {
          // Early release of our own shares (harmless: the adversary holds our key share anyway).
          const shares = queue.splice(0).map((c) => dec.share(c));
          out.push({ to: 'all', msg: { tag: formatEpochTag(SCAB_TAG, epoch + rng.int(2)), body: { t: 'dec-shares', first: 0, shares } } });
        }
        if (ref && injected < 3 && rng.chance(0.1)) {
          injected++;
          const pool = [...ref.adversarial, ...known.slice(0, 4).map((c) => flipBit(c, rng))];
          let requests = rng.sample(pool, 1 + rng.int(Math.min(4, pool.length)));
          if (ref.mixed) requests = [...requests.map((c) => envelope(ENVELOPE_CIPHERTEXT, c)), new Uint8Array([7, ...rng.bytes(1 + rng.int(40))])];
          if (requests.length > 0) out.push({ to: 'all', msg: { tag: SCAB_AB_TAG, body: { t: 'ab-requests', requests } } });
        }
        return out;
      },
    };
  };
}

/** Online checker of confidentiality before order (see the header); shares are recognized by their bytes. */
class ConfidentialityMonitor {
  readonly violations: string[] = [];
  /** ctKey -> request id (every valid ciphertext any client made). */
  private readonly ids = new Map<string, number>();
  private readonly valid: Uint8Array[] = [];
  /** Per replica: share bytes (hex) -> ctKey, computed when the replica first sends shares. */
  private readonly shareOwner = new Map<number, Map<string, string>>();
  private readonly ordered: Set<string>[];
  private readonly fixedByHonest = new Set<string>();
  private readonly released = new Map<string, Set<number>>();
  sharesSeen = 0;

  constructor(
    private readonly setup: RunSetup,
    requests: readonly ClientRequest[],
  ) {
    this.ordered = Array.from({ length: setup.n }, () => new Set<string>());
    for (const r of requests) {
      if (r.kind === 'garbage') continue;
      this.ids.set(ctKey(r.ciphertext), r.id);
      this.valid.push(r.ciphertext);
    }
    // Beyond the structure (negative controls), the corrupted replicas' key shares alone decrypt anything.
    if (this.valid.length > 0 && setup.decryptors[0]!.scheme.isQualified(setup.corrupted)) {
      this.violate(`confidentiality: the corrupted replicas [${setup.corrupted.join(',')}] hold a qualified set of key shares: every request is readable before it is ordered`);
    }
  }

  private name(k: string): string {
    const id = this.ids.get(k);
    return id === undefined ? `ciphertext ${k}` : `request #${id}`;
  }

  private violate(text: string): void {
    if (this.violations.length < 20 && !this.violations.includes(text)) this.violations.push(text);
  }

  /** How many of `due` (ctKeys) this replica's atomic broadcast has not ordered (yet). */
  unordered(replica: number, due: ReadonlySet<string>): number {
    let k = 0;
    for (const c of due) if (!this.ordered[replica]!.has(c)) k++;
    return k;
  }

  onOrdered(replica: number, ciphertexts: readonly Uint8Array[]): void {
    for (const c of ciphertexts) {
      const k = ctKey(c);
      this.ordered[replica]!.add(k);
      this.fixedByHonest.add(k);
    }
  }

  onSent(replica: number, msgs: readonly Outgoing[]): void {
    for (const o of msgs) {
      if (o.msg.body.t !== 'dec-shares' || !Array.isArray(o.msg.body.shares)) continue;
      for (const s of o.msg.body.shares) this.onShare(replica, s, o.msg.tag);
    }
  }

  private onShare(replica: number, share: Uint8Array, tag: string): void {
    this.sharesSeen++;
    let owner = this.shareOwner.get(replica);
    if (!owner) {
      owner = new Map();
      for (const c of this.valid) owner.set(hex(this.setup.decryptors[replica]!.share(c)), ctKey(c));
      this.shareOwner.set(replica, owner);
    }
    const k = owner.get(hex(share));
    if (k === undefined) {
      this.violate(`confidentiality: honest replica ${replica} sent a decryption share ${short(share)} at ${tag} that is its share of no client's valid ciphertext`);
      return;
    }
    if (!this.ordered[replica]!.has(k)) {
      this.violate(`confidentiality: honest replica ${replica} released its decryption share of ${this.name(k)} (at ${tag}) before its atomic broadcast ordered it`);
    }
    let holders = this.released.get(k);
    if (!holders) this.released.set(k, (holders = new Set()));
    holders.add(replica);
    if (!this.fixedByHonest.has(k)) {
      const adversary = [...this.setup.corrupted, ...holders];
      if (this.setup.decryptors[replica]!.scheme.isQualified(adversary)) {
        this.violate(
          `confidentiality: the adversary held a qualified set of decryption shares of ${this.name(k)} ` +
            `(corrupted [${this.setup.corrupted.join(',')}] + sent by honest [${[...holders].join(',')}]) before any honest replica ordered it`,
        );
      }
    }
  }
}

/** An honest replica's instance as the monitor sees it: every Step's messages pass by it. */
class Observed implements Protocol<Uint8Array, AbDelivery> {
  constructor(
    readonly inner: Protocol<Uint8Array, AbDelivery> & { readonly maxAbaRound: number },
    private readonly me: number,
    private readonly monitor: ConfidentialityMonitor,
  ) {}

  get tag(): string {
    return this.inner.tag;
  }

  get terminated(): boolean {
    return this.inner.terminated;
  }

  get maxAbaRound(): number {
    return this.inner.maxAbaRound;
  }

  handleInput(x: Uint8Array): Step<AbDelivery> {
    const s = this.inner.handleInput(x);
    this.monitor.onSent(this.me, s.messages);
    return s;
  }

  handleMessage(from: number, msg: Message): Step<AbDelivery> {
    const s = this.inner.handleMessage(from, msg);
    this.monitor.onSent(this.me, s.messages);
    return s;
  }
}

/** Negative control: a broken replica that sends its share of every valid input to the adversary at once. */
class Leaky implements Protocol<Uint8Array, AbDelivery> {
  constructor(
    readonly inner: SecureCausalBroadcast,
    private readonly dec: ThresholdDecryptor,
    private readonly adversary: readonly number[],
  ) {}

  get tag(): string {
    return this.inner.tag;
  }

  get terminated(): boolean {
    return false;
  }

  get maxAbaRound(): number {
    return this.inner.maxAbaRound;
  }

  handleInput(x: Uint8Array): Step<AbDelivery> {
    const s = this.inner.handleInput(x);
    if (isBytes(x) && this.dec.isValid(x)) {
      for (const b of this.adversary) s.send(b, { tag: formatEpochTag(SCAB_TAG, 0), body: { t: 'dec-shares', first: 0, shares: [this.dec.share(x)] } });
    }
    return s;
  }

  handleMessage(from: number, msg: Message): Step<AbDelivery> {
    return this.inner.handleMessage(from, msg);
  }
}

const batchKey = (d: AbDelivery) => `${d.epoch}:${d.requests.map(hex).join(',')}`;

export function scabScenario(o: ScenarioOptions): Scenario<Uint8Array, AbDelivery> {
  const leak = o.params?.['leak'] === true;
  const mixed = o.params?.['mixed'] === true;
  if (o.params?.['mixed'] !== undefined && typeof o.params['mixed'] !== 'boolean') throw new Error('scab: --param mixed=true|false');
  if (mixed && leak) throw new Error('scab: leak=true is a pure-mode negative control; drop mixed=true');
  const wrap = (ct: Uint8Array) => (mixed ? envelope(ENVELOPE_CIPHERTEXT, ct) : ct);
  const requestCount = o.params?.['requests'];
  if (requestCount !== undefined && (typeof requestCount !== 'number' || !Number.isInteger(requestCount) || requestCount < 0 || requestCount > 64)) {
    throw new Error(`scab: --param requests=N needs an integer 0..64, got ${String(requestCount)}`);
  }
  const spreadParam = o.params?.['spread'];
  if (spreadParam !== undefined && (typeof spreadParam !== 'number' || !Number.isInteger(spreadParam) || spreadParam < 0)) {
    throw new Error(`scab: --param spread=S needs an integer >= 0, got ${String(spreadParam)}`);
  }
  // The run being planned, for the 'scab-early' behaviour (created by the simulator right after plan()).
  let current: RunRef | null = null;
  return {
    protocol: 'scab',
    structure: o.structure,
    behaviours: { 'scab-early': scabEarly(() => current) },
    // Runs stop early (done); the budget is for the slow ones. An epoch at n = 13 takes ~25k deliveries,
    // and after GST the simulator puts deferred messages (replay and garbage send many for far-future
    // epochs) straight back at the end of its FIFO, so every honest hop waits behind all of them: grid,
    // seed 4, replay needed 460k steps after GST (1800 n^2), far beyond the generic gst + 400 n^2.
    defaults: (n) => ({ maxSteps: 20 * n * n + 5000 * n * n }),
    plan(setup) {
      const { rng, n, byzantine } = setup;
      const byz = new Set(byzantine);
      const clients = 1 + rng.int(4);
      const k = typeof requestCount === 'number' ? requestCount : rng.range(3, 9);
      const kindOf = (): CiphertextKind => {
        const r = rng.float();
        return r < 0.7 ? 'valid' : r < 0.85 ? 'undecryptable' : 'garbage';
      };
      const requests: ClientRequest[] = [];
      for (let id = 0; id < k; id++) requests.push(makeRequest(setup, rng, id, `client-${id % clients}`, kindOf()));
      // The adversary's own clients: never submitted by the scenario, only pushed by 'scab-early' replicas.
      const adversarial: ClientRequest[] = [];
      for (let id = k; id < k + 3; id++) adversarial.push(makeRequest(setup, rng, id, 'mallory', id === k ? 'valid' : id === k + 1 ? 'undecryptable' : 'garbage'));
      current = { decryptors: setup.decryptors, adversarial: adversarial.map((r) => r.ciphertext), mixed };
      const payloads = new Map(requests.map((r) => [r, wrap(r.ciphertext)]));

      const everyone = Array.from({ length: n }, (_, i) => i);
      const inputs: { replica: number; atStep: number; value: Uint8Array }[] = [];
      const live = new Set<string>();
      const spread = typeof spreadParam === 'number' ? spreadParam : 30 * n;
      for (const r of requests) {
        const mode = rng.int(4);
        const targets =
          mode === 0 ? [rng.int(n)] : mode === 1 && byzantine.length > 0 ? [rng.pick(byzantine)] : mode === 2 ? everyone : rng.sample(everyone, 1 + rng.int(n));
        const atStep = spread === 0 || rng.chance(0.4) ? 0 : rng.int(rng.chance(0.2) ? setup.gstStep + spread : spread);
        const value = payloads.get(r)!;
        for (const t of targets) inputs.push({ replica: t, atStep: spread === 0 ? 0 : atStep + rng.int(n), value });
        if (rng.chance(0.1)) inputs.push({ replica: rng.pick(targets), atStep: atStep + rng.int(spread + 1), value });
        if (r.kind === 'valid' && targets.some((t) => !byz.has(t))) live.add(hex(r.plaintext));
      }
      // Mixed mode: plain requests in the same order (they need no decryption, but wait for earlier epochs).
      const plains: Uint8Array[] = [];
      if (mixed) {
        for (let i = 0, count = 1 + rng.int(3); i < count; i++) {
          const p = new Uint8Array([...utf8ToBytes(`plain ${i} `), ...rng.bytes(rng.int(20))]);
          plains.push(p);
          const t = rng.int(n);
          inputs.push({ replica: t, atStep: spread === 0 ? 0 : rng.int(spread), value: envelope(ENVELOPE_PLAIN, p) });
          if (!byz.has(t)) live.add(hex(p));
        }
      }
      // Valid ciphertexts (decryptable or not) that reached a non-Byzantine replica: every honest replica orders them.
      const dueOrder = new Set(
        requests.filter((r) => r.kind !== 'garbage' && inputs.some((x) => x.value === payloads.get(r) && !byz.has(x.replica))).map((r) => ctKey(r.ciphertext)),
      );
      const lastInput = Math.max(0, ...inputs.map((x) => x.atStep));
      const allowed = new Set([...[...requests, ...adversarial].filter((r) => r.kind === 'valid').map((r) => hex(r.plaintext)), ...plains.map(hex)]);
      const monitor = new ConfidentialityMonitor(setup, [...requests, ...adversarial]);
      const count = (kind: CiphertextKind) => requests.filter((r) => r.kind === kind).length;

      const delivered = (rs: readonly ReplicaOutputs<AbDelivery>[]): ReplicaOutputs<Uint8Array>[] =>
        rs.map((r) => ({ replica: r.replica, outputs: r.outputs.flatMap((d) => d.requests) }));
      const shortfall = (view: RunView<Uint8Array, AbDelivery>): string | null => {
        const rs = honestOutputs(view);
        const missing: string[] = [];
        for (const r of delivered(rs)) {
          const got = new Set(r.outputs.map(hex));
          const lacks = [...live].filter((p) => !got.has(p)).length;
          const unordered = monitor.unordered(r.replica, dueOrder);
          if (lacks + unordered > 0) missing.push(`${r.replica} (${lacks} of ${live.size} undelivered, ${unordered} of ${dueOrder.size} unordered)`);
        }
        if (missing.length > 0) return `liveness: honest replicas without every request submitted to an honest replica: ${missing.join(', ')}`;
        const epochs = rs.map((r) => r.outputs.length);
        if (Math.min(...epochs) !== Math.max(...epochs)) {
          return `liveness: honest replicas delivered different numbers of epochs (${rs.map((r) => `${r.replica}: ${r.outputs.length}`).join(', ')})`;
        }
        return null;
      };

      return {
        describe:
          `${k} requests from ${clients} clients (${count('valid')} valid, ${count('undecryptable')} undecryptable, ${count('garbage')} garbage), ` +
          `${mixed ? `${plains.length} plain requests (mixed mode), ` : ''}${live.size} due at every honest replica${leak ? ', LEAKY honest replicas' : ''}`,
        create(ctx: ProtocolContext) {
          const dec = setup.decryptors[ctx.me]!;
          if (byz.has(ctx.me)) return new SecureCausalBroadcast(ctx, dec, { tag: SCAB_TAG, mixed });
          const me = ctx.me;
          const scab = new SecureCausalBroadcast(ctx, dec, { tag: SCAB_TAG, mixed, onOrdered: (_e, cts) => monitor.onOrdered(me, cts) });
          return new Observed(leak ? new Leaky(scab, dec, byzantine) : scab, me, monitor);
        },
        inputs,
        // Early stop: every honest replica ordered everything due and delivered every live request, in
        // as many epochs as the others (what comes later is the adversary's own traffic and requests).
        done: (view) => view.step >= lastInput && shortfall(view) === null,
        check(view) {
          const rs = honestOutputs(view);
          const flat = delivered(rs);
          const safety = [
            ...totalOrder(rs, batchKey, 'delivered epochs'),
            ...rs.flatMap((r) => {
              const k = r.outputs.findIndex((d, i) => d.epoch !== i);
              return k < 0 ? [] : [`total order: replica ${r.replica} delivered epoch ${r.outputs[k]!.epoch} as its delivery #${k}`];
            }),
            // A corrupted proposer may order a ciphertext again: decrypted again, dropped by the log (ab.ts).
            ...integrity(flat, { key: hex, unique: byzantine.length === 0, allowed: (p) => allowed.has(hex(p)) }),
            ...uniqueWithinEpochs(rs, hex),
            ...monitor.violations,
          ];
          return { safety, liveness: shortfall(view) };
        },
        metrics(view) {
          const rounds = Math.max(0, ...view.honest.map((i) => (view.instances[i] as { maxAbaRound?: number } | null)?.maxAbaRound ?? 0));
          const epochs = Math.max(0, ...view.honest.map((i) => view.outputs[i]!.length));
          const invalidDecShares = view.faults.filter(
            (f) => f.kind === 'invalid-share' && !byz.has(f.reporter) && parseEpochTag(f.tag, SCAB_TAG) !== null,
          ).length;
          return { rounds, epochs, invalidDecShares, sharesSent: monitor.sharesSeen };
        },
      };
    },
  };
}

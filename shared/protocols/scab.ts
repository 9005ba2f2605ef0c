/**
 * Secure causal atomic broadcast: Cachin-Kursawe-Petzold-Shoup, CRYPTO 2001, section 6 (and Reiter-Birman
 * 1994 for the idea). Clients encrypt requests to the group key with TDH2 (labelled with the client id,
 * crypto/tdh2.ts); the replicas order the ciphertexts with atomic broadcast; only once a ciphertext's
 * position is fixed (atomic broadcast delivered its epoch here) does a replica check it and release its
 * decryption share; a kernel of valid shares gives the plaintext, delivered in that position.
 * Confidentiality before order: no honest replica releases a share before the position is fixed, and a
 * corruptible set of shares reveals nothing, so nobody sees a request before its place in the order.
 * Invalid ciphertexts (failing the TDH2 validity proof) take no position: every honest replica skips
 * them, deterministically; so do valid ciphertexts that do not decrypt under the combined key (their
 * maker used another key: the verdict depends on the ciphertext alone, since every share used is
 * verified). Shares for one epoch travel in parts of at most DEC_SHARES_PER_MESSAGE (tag <tag>/<epoch>,
 * each with the index of its first ciphertext, so every message fits a link frame); an epoch without valid
 * ciphertexts needs none.
 *
 * Mixed mode (the replica engine): one total order for plain and encrypted requests. Every atomic
 * broadcast payload is an envelope, one byte 0x00 (plain request) or 0x01 (TDH2 ciphertext) before the
 * body; plain requests take their position at once, ciphertexts once decrypted, and an epoch is delivered
 * when all its ciphertexts are resolved and every earlier epoch was delivered, so the order of the
 * delivered requests is exactly the order atomic broadcast fixed. A payload with another first byte (only a
 * Byzantine proposer makes one) takes no position, like an invalid ciphertext.
 */
import { sha256 } from '../crypto/sha256.ts';
import { CryptoError } from '../crypto/errors.ts';
import { AtomicBroadcast, DEFAULT_AB_CONFIG, defaultRequestKey } from './ab.ts';
import type { AbConfig, AbDelivery, AbSnapshot } from './ab.ts';
import type { ProtocolContext } from './context.ts';
import { hexKey, isBytes, isRound } from './context.ts';
import type { ThresholdDecryptor } from './crypto-suite.ts';
import type { Message } from './messages.ts';
import { checkPrefixes, childTag, formatEpochTag, parseScabTag } from './instance-tag.ts';
import type { ScabPrefixes } from './instance-tag.ts';
import { Step } from './step.ts';
import type { Protocol } from './step.ts';

export const ENVELOPE_PLAIN = 0x00;
export const ENVELOPE_CIPHERTEXT = 0x01;
/** Bytes an envelope adds to a request. */
export const ENVELOPE_BYTES = 1;

/** Wraps a request for mixed mode. */
export function envelope(kind: typeof ENVELOPE_PLAIN | typeof ENVELOPE_CIPHERTEXT, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + 1);
  out[0] = kind;
  out.set(body, 1);
  return out;
}

/** Mixed mode's request key: the hex SHA-256 of the body, the id its client knows. */
function envelopeKey(payload: Uint8Array): string {
  return hexKey(sha256(payload.subarray(ENVELOPE_BYTES)));
}

/** One ordered payload, classified. */
type Item =
  /** `id`: the hex SHA-256 of the request (atomic broadcast's key for it). */
  | { readonly kind: 'plain'; readonly request: Uint8Array; readonly id: string }
  /** `slot`: its index among the epoch's valid ciphertexts (the shares message lists shares in that order). */
  | { readonly kind: 'ciphertext'; readonly id: string; readonly slot: number }
  /** Takes no position: an invalid ciphertext, or an unknown envelope. */
  | { readonly kind: 'skipped'; readonly id: string };

interface EpochDecryption {
  /** The payloads atomic broadcast delivered for this epoch, as delivered (snapshots keep these). */
  readonly payloads: readonly Uint8Array[];
  /** The epoch's agreed time (AbDelivery.time). */
  readonly time: number;
  readonly items: readonly Item[];
  readonly ciphertexts: readonly Uint8Array[];
  /** shares[i] = signer -> share for ciphertexts[i]. */
  readonly shares: Map<number, Uint8Array>[];
  readonly bad: Set<number>[];
  /** undefined: not yet combined; null: valid but undecryptable (skipped by every honest replica). */
  readonly plaintexts: (Uint8Array | null | undefined)[];
  /** Every share message accepted for this epoch: by sender, its parts by first index (snapshots keep these). */
  readonly received: Map<number, Map<number, readonly Uint8Array[]>>;
}

export interface ScabDelivery extends AbDelivery {
  /**
   * Parallel to `requests`: the hex id (SHA-256 of the encoded ciphertext) a request was decrypted from,
   * or null for a plain request.
   */
  readonly sources: readonly (string | null)[];
  /** Parallel to `requests`: the hex SHA-256 of a plain request (known already), null for decrypted ones. */
  readonly ids: readonly (string | null)[];
  /**
   * Ordered payloads that took no position (hex id of the ciphertext or body): invalid or undecryptable
   * ciphertexts, unknown envelopes.
   */
  readonly skipped: readonly string[];
}

/**
 * Observation only (the simulator's confidentiality-before-order checker, metrics): called when this
 * replica's atomic broadcast fixes an epoch, with every ciphertext it ordered (valid or not; envelopes
 * removed), before any decryption share for that epoch is made. Must not feed back into the protocol.
 */
export type OrderObserver = (epoch: number, ciphertexts: readonly Uint8Array[]) => void;

export interface ScabOptions {
  /** Prefix of the decryption-share messages (<tag>/<epoch>). Default 'scab'. */
  readonly tag?: string;
  /** Tag of the inner atomic broadcast. Default <tag>/ab. */
  readonly abTag?: string;
  readonly ab?: AbConfig;
  readonly onOrdered?: OrderObserver;
  /** Envelopes: plain and encrypted requests in one order (see the module comment). Default false. */
  readonly mixed?: boolean;
}

export interface ScabSnapshot {
  readonly ab: AbSnapshot;
  readonly next: number;
  /** Epochs ordered but not yet delivered: their payloads and every share message accepted. */
  readonly epochs: ReadonlyMap<number, { readonly payloads: readonly Uint8Array[]; readonly time: number; readonly received: ReadonlyMap<number, SharesByFirst> }>;
  readonly early: ReadonlyMap<number, ReadonlyMap<number, SharesByFirst>>;
}

/** One sender's share messages for one epoch: shares by the index of the first ciphertext they cover. */
export type SharesByFirst = ReadonlyMap<number, readonly Uint8Array[]>;

/** How far beyond our own atomic broadcast's epoch a peer's shares are kept (bounded memory). */
const EARLY_EPOCHS = 8;
/**
 * An epoch's shares travel in parts of at most this many shares and DEC_PART_BYTES bytes: one message for
 * all of them broke the wire codec's 4,096-item list limit, or a link frame, once an epoch ordered more
 * ciphertexts (up to n proposals of maxBatch requests each; issue 13, bug 6).
 */
export const DEC_SHARES_PER_MESSAGE = 1024;
const DEC_PART_BYTES = 1024 * 1024;
/** Parts kept per sender for an epoch not yet ordered here (more is that sender's fault). */
const MAX_EARLY_PARTS = 512;
/**
 * Bytes of shares kept per sender for epochs not yet ordered here; more are deferred (the sender retries
 * once we ordered the epoch), so what a peer can make us hold early is bounded.
 */
const EARLY_BYTES_PER_PEER = 4 * 1024 * 1024;

export class SecureCausalBroadcast implements Protocol<Uint8Array, ScabDelivery> {
  private ab: AtomicBroadcast;
  readonly tag: string;
  /** Where atomic broadcast's tags and the decryption shares' tags live (instance-tag.ts). */
  private readonly prefixes: ScabPrefixes;
  private readonly mixed: boolean;
  private readonly onOrdered: OrderObserver | undefined;
  private readonly epochs = new Map<number, EpochDecryption>();
  /** Share messages that arrived before our own atomic broadcast fixed that epoch. */
  private readonly early = new Map<number, Map<number, Map<number, readonly Uint8Array[]>>>();
  /** Hex ids of the ciphertexts in undelivered epochs (status queries). */
  private readonly decrypting = new Set<string>();
  private nextToDeliver = 0;

  constructor(
    private readonly ctx: ProtocolContext,
    private readonly decryptor: ThresholdDecryptor,
    options: ScabOptions = {},
  ) {
    this.tag = options.tag ?? 'scab';
    this.mixed = options.mixed ?? false;
    this.onOrdered = options.onOrdered;
    this.prefixes = { ab: options.abTag ?? childTag(this.tag, 'ab'), dec: this.tag };
    checkPrefixes([this.prefixes.ab, this.prefixes.dec]);
    this.ab = new AtomicBroadcast(ctx, this.prefixes.ab, options.ab ?? DEFAULT_AB_CONFIG, this.mixed ? envelopeKey : defaultRequestKey);
  }

  get terminated(): boolean {
    return false;
  }

  get maxAbaRound(): number {
    return this.ab.maxAbaRound;
  }

  /** The inner atomic broadcast (queue size, epoch, config). */
  get atomicBroadcast(): AtomicBroadcast {
    return this.ab;
  }

  /** Whether a request or ciphertext (hex SHA-256 of it, without envelope) waits in our queue. */
  isPending(id: string): boolean {
    return this.ab.isPending(id);
  }

  /** The next epoch to deliver (every earlier one has been). */
  get nextEpoch(): number {
    return this.nextToDeliver;
  }

  /** Whether a ciphertext (hex id) is ordered and waits for its decryption. */
  isDecrypting(id: string): boolean {
    return this.decrypting.has(id);
  }

  /**
   * Submit: in pure mode a TDH2 ciphertext (encoded), in mixed mode an envelope. Invalid ciphertexts are
   * refused here already (a client gets to know why through the adapter, which checks first).
   */
  handleInput(payload: Uint8Array): Step<ScabDelivery> {
    const step = new Step<ScabDelivery>();
    if (!isBytes(payload)) return step;
    const item = this.classify(payload, 0);
    if (item.kind === 'skipped') return step;
    this.onAb(step, this.ab.handleInput(payload));
    return step;
  }

  handleMessage(from: number, msg: Message): Step<ScabDelivery> {
    const step = new Step<ScabDelivery>();
    // One canonical tag per instance (instance-tag.ts): an alias of an epoch's share tag is refused.
    const id = parseScabTag(msg.tag, this.prefixes, this.ctx.n);
    if (id === null) return step.fault(from, msg.tag, 'malformed', 'tag outside secure causal broadcast');
    if (id.kind !== 'dec') {
      const child = this.ab.handleMessage(from, msg);
      if (child.deferred) {
        step.deferred = true;
        return step;
      }
      if (child.unchanged) return step.ignore();
      this.onAb(step, child);
      return step;
    }
    if (msg.body.t !== 'dec-shares') return step.fault(from, msg.tag, 'malformed', 'not a decryption-share message');
    const e = id.epoch;
    const { first, shares } = msg.body;
    if (!isRound(first) || !Array.isArray(shares) || shares.length === 0 || !shares.every((s) => isBytes(s))) return step.fault(from, msg.tag, 'malformed', 'shares');
    if (e < this.nextToDeliver) return step.ignore();
    const known = this.epochs.get(e);
    if (!known) {
      if (e > this.ab.currentEpoch + EARLY_EPOCHS) {
        step.deferred = true;
        return step;
      }
      const size = shares.reduce((a, x) => a + x.length, 0);
      if (this.earlyBytes(from) + size > EARLY_BYTES_PER_PEER) {
        step.deferred = true;
        return step;
      }
      let byPeer = this.early.get(e);
      if (!byPeer) this.early.set(e, (byPeer = new Map()));
      let parts = byPeer.get(from);
      if (!parts) byPeer.set(from, (parts = new Map()));
      if (parts.has(first)) return step.fault(from, msg.tag, 'duplicate', `second share message from ciphertext ${first}`);
      if (parts.size >= MAX_EARLY_PARTS) return step.fault(from, msg.tag, 'unexpected', `more than ${MAX_EARLY_PARTS} share messages for an epoch not ordered yet`);
      parts.set(first, shares);
      return step;
    }
    this.acceptShares(step, e, known, from, first, shares);
    this.deliverReady(step);
    return step;
  }

  /** Bytes of the shares a sender sent us for epochs we have not ordered yet. */
  private earlyBytes(from: number): number {
    let bytes = 0;
    for (const byPeer of this.early.values()) for (const shares of byPeer.get(from)?.values() ?? []) for (const x of shares) bytes += x.length;
    return bytes;
  }

  /** Everything needed to continue exactly from here (the engine's compaction), as plain data. */
  snapshot(): ScabSnapshot {
    return {
      ab: this.ab.snapshot(),
      next: this.nextToDeliver,
      epochs: new Map([...this.epochs].map(([e, ed]) => [e, { payloads: [...ed.payloads], time: ed.time, received: copyParts(ed.received) }])),
      early: new Map([...this.early].map(([e, m]) => [e, copyParts(m)])),
    };
  }

  /**
   * The instance snapshot() captured: the inner atomic broadcast restored, and every pending epoch rebuilt
   * from its payloads and accepted share messages (deterministic, so the same shares and verdicts; the
   * messages this regenerates were sent before the snapshot and are dropped).
   */
  static restore(ctx: ProtocolContext, decryptor: ThresholdDecryptor, options: ScabOptions, s: ScabSnapshot): SecureCausalBroadcast {
    const x = new SecureCausalBroadcast(ctx, decryptor, options);
    x.ab = AtomicBroadcast.restore(ctx, x.ab.tag, x.ab.config, s.ab, x.mixed ? envelopeKey : defaultRequestKey);
    x.nextToDeliver = s.next;
    const scratch = new Step<ScabDelivery>();
    for (const [e, saved] of [...s.epochs].sort((a, b) => a[0] - b[0])) {
      const ed = x.openEpoch(e, saved.payloads, saved.time);
      for (const [from, parts] of saved.received) for (const [first, shares] of parts) x.acceptShares(scratch, e, ed, from, first, shares);
    }
    for (const [e, m] of s.early) x.early.set(e, copyParts(m));
    return x;
  }

  /**
   * State transfer (engine.ts transferTo): every epoch before `next` is known from a signed checkpoint.
   * What we hold of their decryption goes (our shares for them were deterministic: nothing to take back);
   * atomic broadcast skips them too (`ids`: what they put in the log, by epoch), and epochs from `next` on
   * that we already ordered are delivered as soon as they are decrypted.
   */
  skipTo(next: number, ids: ReadonlyMap<number, readonly string[]>, time: number): Step<ScabDelivery> {
    const step = new Step<ScabDelivery>();
    if (next <= this.nextToDeliver) return step;
    for (const [e, ed] of [...this.epochs]) {
      if (e >= next) continue;
      for (const item of ed.items) if (item.kind === 'ciphertext') this.decrypting.delete(item.id);
      this.epochs.delete(e);
    }
    for (const e of [...this.early.keys()]) if (e < next) this.early.delete(e);
    this.nextToDeliver = next;
    this.onAb(step, this.ab.skipTo(next, ids, time));
    this.deliverReady(step);
    return step;
  }

  /** `key`: atomic broadcast's key for the payload if known (mixed mode: the body's hex SHA-256). */
  private classify(payload: Uint8Array, slot: number, key?: string): Item {
    if (!this.mixed) {
      const id = key ?? hexKey(sha256(payload));
      return this.decryptor.isValid(payload) ? { kind: 'ciphertext', id, slot } : { kind: 'skipped', id };
    }
    const body = payload.subarray(ENVELOPE_BYTES);
    const id = key ?? envelopeKey(payload);
    if (payload[0] === ENVELOPE_PLAIN && payload.length > ENVELOPE_BYTES) return { kind: 'plain', request: body, id };
    if (payload[0] === ENVELOPE_CIPHERTEXT && this.decryptor.isValid(body)) return { kind: 'ciphertext', id, slot };
    return { kind: 'skipped', id };
  }

  private ciphertextOf(payload: Uint8Array): Uint8Array {
    return this.mixed ? payload.subarray(ENVELOPE_BYTES) : payload;
  }

  /** Classifies an epoch's payloads once its order is fixed (no share is made before this). */
  private openEpoch(e: number, payloads: readonly Uint8Array[], time: number, keys?: readonly string[]): EpochDecryption {
    const items: Item[] = [];
    const ciphertexts: Uint8Array[] = [];
    for (let k = 0; k < payloads.length; k++) {
      const p = payloads[k]!;
      const item = this.classify(p, ciphertexts.length, keys?.[k]);
      items.push(item);
      if (item.kind === 'ciphertext') {
        ciphertexts.push(this.ciphertextOf(p));
        this.decrypting.add(item.id);
      }
    }
    const ed: EpochDecryption = {
      payloads,
      time,
      items,
      ciphertexts,
      shares: ciphertexts.map(() => new Map()),
      bad: ciphertexts.map(() => new Set()),
      plaintexts: ciphertexts.map(() => undefined),
      received: new Map(),
    };
    this.epochs.set(e, ed);
    return ed;
  }

  private onAb(step: Step<ScabDelivery>, child: Step<AbDelivery>): void {
    step.absorb(child, (d) => {
      // The position of every payload in d is now fixed: check the ciphertexts, then release our shares.
      if (this.onOrdered) {
        const cts = this.mixed ? d.requests.filter((p) => p[0] !== ENVELOPE_PLAIN).map((p) => p.subarray(ENVELOPE_BYTES)) : d.requests;
        this.onOrdered(d.epoch, cts);
      }
      const ed = this.openEpoch(d.epoch, d.requests, d.time, d.keys);
      if (ed.ciphertexts.length > 0) {
        const tag = formatEpochTag(this.tag, d.epoch);
        const mine = ed.ciphertexts.map((c) => this.decryptor.share(c));
        for (const { first, shares } of sharesInParts(mine)) step.broadcast({ tag, body: { t: 'dec-shares', first, shares } });
      }
      for (const [from, parts] of this.early.get(d.epoch) ?? []) for (const [first, shares] of parts) this.acceptShares(step, d.epoch, ed, from, first, shares);
      this.early.delete(d.epoch);
      this.deliverReady(step);
    });
  }

  /** One part of a sender's shares for an epoch: ciphertexts first .. first + shares.length - 1, each once. */
  private acceptShares(step: Step<ScabDelivery>, e: number, ed: EpochDecryption, from: number, first: number, shares: readonly Uint8Array[]): void {
    const tag = formatEpochTag(this.tag, e);
    if (first + shares.length > ed.ciphertexts.length) {
      step.fault(from, tag, 'malformed', `shares for ciphertexts ${first}..${first + shares.length - 1}, but the epoch has ${ed.ciphertexts.length}`);
      return;
    }
    let parts = ed.received.get(from);
    if (!parts) ed.received.set(from, (parts = new Map()));
    for (const [f, s] of parts) {
      if (first < f + s.length && f < first + shares.length) {
        step.fault(from, tag, 'duplicate', `shares for ciphertexts ${first}..${first + shares.length - 1} overlap an earlier message`);
        return;
      }
    }
    parts.set(first, shares);
    for (let k = 0; k < shares.length; k++) {
      const i = first + k;
      if (ed.plaintexts[i] !== undefined || ed.bad[i]!.has(from)) continue;
      ed.shares[i]!.set(from, shares[k]!);
      this.tryCombine(step, tag, ed, i);
    }
  }

  private tryCombine(step: Step<ScabDelivery>, tag: string, ed: EpochDecryption, i: number): void {
    const shares = ed.shares[i]!;
    if (!this.decryptor.scheme.isQualified(shares.keys())) return;
    try {
      const r = this.decryptor.combine(ed.ciphertexts[i]!, shares);
      for (const f of r.faulty) step.fault(f, tag, 'invalid-share', `decryption share for ciphertext ${i}`);
      ed.plaintexts[i] = r.plaintext;
    } catch (e) {
      // Only 'not-qualified' reaches here (the ciphertext was checked valid before the epoch was kept):
      // drop the invalid shares so later valid ones can complete the set.
      if (!(e instanceof CryptoError)) throw e;
      for (const [p, s] of [...shares]) {
        if (!this.decryptor.verifyShare(ed.ciphertexts[i]!, p, s)) {
          shares.delete(p);
          ed.bad[i]!.add(p);
          step.fault(p, tag, 'invalid-share', `decryption share for ciphertext ${i}`);
        }
      }
    }
  }

  private deliverReady(step: Step<ScabDelivery>): void {
    for (let ed = this.epochs.get(this.nextToDeliver); ed && ed.plaintexts.every((p) => p !== undefined); ed = this.epochs.get(this.nextToDeliver)) {
      const e = this.nextToDeliver;
      const requests: Uint8Array[] = [];
      const sources: (string | null)[] = [];
      const ids: (string | null)[] = [];
      const skipped: string[] = [];
      for (const item of ed.items) {
        if (item.kind === 'plain') {
          requests.push(item.request);
          sources.push(null);
          ids.push(item.id);
        } else if (item.kind === 'skipped') {
          skipped.push(item.id);
        } else {
          this.decrypting.delete(item.id);
          const p = ed.plaintexts[item.slot]!;
          if (p === null) skipped.push(item.id);
          else {
            requests.push(p);
            sources.push(item.id);
            ids.push(null);
          }
        }
      }
      step.output({ epoch: e, requests, proposers: [], sources, ids, skipped, time: ed.time });
      this.epochs.delete(e);
      this.nextToDeliver = e + 1;
    }
  }
}

/** Our shares for an epoch in parts that each fit a message (DEC_SHARES_PER_MESSAGE, DEC_PART_BYTES). */
export function sharesInParts(shares: readonly Uint8Array[]): { first: number; shares: Uint8Array[] }[] {
  const parts: { first: number; shares: Uint8Array[] }[] = [];
  let cur: { first: number; shares: Uint8Array[] } | null = null;
  let bytes = 0;
  shares.forEach((share, i) => {
    if (!cur || cur.shares.length >= DEC_SHARES_PER_MESSAGE || bytes + share.length > DEC_PART_BYTES) {
      parts.push((cur = { first: i, shares: [] }));
      bytes = 0;
    }
    cur.shares.push(share);
    bytes += share.length;
  });
  return parts;
}

function copyParts(m: ReadonlyMap<number, SharesByFirst>): Map<number, Map<number, readonly Uint8Array[]>> {
  return new Map([...m].map(([from, parts]) => [from, new Map(parts)]));
}

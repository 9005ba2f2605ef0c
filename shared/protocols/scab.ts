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
 * verified). Shares for one epoch travel in one message (tag scab/<epoch>).
 */
import { CryptoError } from '../crypto/errors.ts';
import { AtomicBroadcast, DEFAULT_AB_CONFIG } from './ab.ts';
import type { AbConfig, AbDelivery } from './ab.ts';
import type { ProtocolContext } from './context.ts';
import { isBytes } from './context.ts';
import type { ThresholdDecryptor } from './crypto-suite.ts';
import type { Message } from './messages.ts';
import { Step } from './step.ts';
import type { Protocol } from './step.ts';

interface EpochDecryption {
  readonly ciphertexts: readonly Uint8Array[];
  /** shares[i] = signer -> share for ciphertexts[i]. */
  readonly shares: Map<number, Uint8Array>[];
  readonly bad: Set<number>[];
  /** undefined: not yet combined; null: valid but undecryptable (skipped by every honest replica). */
  readonly plaintexts: (Uint8Array | null | undefined)[];
}

/**
 * Observation only (the simulator's confidentiality-before-order checker, metrics): called when this
 * replica's atomic broadcast fixes an epoch, with every ciphertext it ordered (valid or not), before any
 * decryption share for that epoch is made. Must not feed back into the protocol.
 */
export type OrderObserver = (epoch: number, ciphertexts: readonly Uint8Array[]) => void;

export class SecureCausalBroadcast implements Protocol<Uint8Array, AbDelivery> {
  private readonly ab: AtomicBroadcast;
  private readonly epochs = new Map<number, EpochDecryption>();
  /** Share messages that arrived before our own atomic broadcast fixed that epoch. */
  private readonly early = new Map<number, Map<number, readonly Uint8Array[]>>();
  private nextToDeliver = 0;

  constructor(
    private readonly ctx: ProtocolContext,
    private readonly decryptor: ThresholdDecryptor,
    readonly tag: string = 'scab',
    config: AbConfig = DEFAULT_AB_CONFIG,
    private readonly onOrdered?: OrderObserver,
  ) {
    this.ab = new AtomicBroadcast(ctx, `${tag}/ab`, config);
  }

  get terminated(): boolean {
    return false;
  }

  get maxAbaRound(): number {
    return this.ab.maxAbaRound;
  }

  /** Submit a TDH2 ciphertext (encoded). Invalid ones are refused here already. */
  handleInput(ciphertext: Uint8Array): Step<AbDelivery> {
    const step = new Step<AbDelivery>();
    if (!isBytes(ciphertext) || !this.decryptor.isValid(ciphertext)) return step;
    this.onAb(step, this.ab.handleInput(ciphertext));
    return step;
  }

  handleMessage(from: number, msg: Message): Step<AbDelivery> {
    const step = new Step<AbDelivery>();
    if (msg.tag.startsWith(`${this.tag}/ab`)) {
      this.onAb(step, this.ab.handleMessage(from, msg));
      return step;
    }
    const m = /^(\d{1,9})$/.exec(msg.tag.slice(this.tag.length + 1));
    if (!msg.tag.startsWith(this.tag + '/') || !m || msg.body.t !== 'dec-shares') return step.fault(from, msg.tag, 'malformed', 'not a decryption-share message');
    const e = Number(m[1]);
    const shares = msg.body.shares;
    if (!Array.isArray(shares) || !shares.every((s) => isBytes(s))) return step.fault(from, msg.tag, 'malformed', 'shares');
    if (e < this.nextToDeliver) return step;
    const known = this.epochs.get(e);
    if (!known) {
      if (e > this.ab.currentEpoch + 8) {
        step.deferred = true;
        return step;
      }
      let byPeer = this.early.get(e);
      if (!byPeer) this.early.set(e, (byPeer = new Map()));
      if (byPeer.has(from)) return step.fault(from, msg.tag, 'duplicate', 'second share message for an epoch');
      byPeer.set(from, shares);
      return step;
    }
    this.acceptShares(step, e, known, from, shares);
    this.deliverReady(step);
    return step;
  }

  private onAb(step: Step<AbDelivery>, child: Step<AbDelivery>): void {
    step.absorb(child, (d) => {
      // The position of every ciphertext in d is now fixed: check them, then release our shares.
      this.onOrdered?.(d.epoch, d.requests);
      const ciphertexts = d.requests.filter((c) => this.decryptor.isValid(c));
      const ed: EpochDecryption = {
        ciphertexts,
        shares: ciphertexts.map(() => new Map()),
        bad: ciphertexts.map(() => new Set()),
        plaintexts: ciphertexts.map(() => undefined),
      };
      this.epochs.set(d.epoch, ed);
      const mine = ciphertexts.map((c) => this.decryptor.share(c));
      step.broadcast({ tag: `${this.tag}/${d.epoch}`, body: { t: 'dec-shares', shares: mine } });
      for (const [from, shares] of this.early.get(d.epoch) ?? []) this.acceptShares(step, d.epoch, ed, from, shares);
      this.early.delete(d.epoch);
      this.deliverReady(step);
    });
  }

  private acceptShares(step: Step<AbDelivery>, e: number, ed: EpochDecryption, from: number, shares: readonly Uint8Array[]): void {
    const tag = `${this.tag}/${e}`;
    if (shares.length !== ed.ciphertexts.length) {
      step.fault(from, tag, 'malformed', `expected ${ed.ciphertexts.length} shares, got ${shares.length}`);
      return;
    }
    for (let i = 0; i < shares.length; i++) {
      if (ed.plaintexts[i] !== undefined || ed.bad[i]!.has(from)) continue;
      if (ed.shares[i]!.has(from)) {
        step.fault(from, tag, 'duplicate', 'second decryption share');
        continue;
      }
      ed.shares[i]!.set(from, shares[i]!);
      this.tryCombine(step, tag, ed, i);
    }
  }

  private tryCombine(step: Step<AbDelivery>, tag: string, ed: EpochDecryption, i: number): void {
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

  private deliverReady(step: Step<AbDelivery>): void {
    for (let ed = this.epochs.get(this.nextToDeliver); ed && ed.plaintexts.every((p) => p !== undefined); ed = this.epochs.get(this.nextToDeliver)) {
      const e = this.nextToDeliver;
      step.output({ epoch: e, requests: ed.plaintexts.filter((p): p is Uint8Array => p !== null), proposers: [] });
      this.epochs.delete(e);
      this.nextToDeliver = e + 1;
    }
  }
}

/**
 * Consistent broadcast with a transferable proof: Reiter's echo broadcast (ACM CCS 1994), as "verifiable
 * consistent broadcast" in Cachin-Kursawe-Petzold-Shoup, "Secure and Efficient Asynchronous Broadcast
 * Protocols", CRYPTO 2001, section 2.3.
 *   sender: SEND(v) to all; replicas answer each sender once, and only for externally valid v, with an
 *   echo on (tag, SHA-256(v)) from `crypto.quorum`: the replica's Ed25519 signature (signature-set.ts) or,
 *   in groups without echo keys, its share of the quorum-key threshold signature; the sender combines a
 *   quorum of echoes into the proof and sends FINAL(v, proof) to all; anyone delivers (v, proof) on a
 *   FINAL whose proof verifies.
 * Each value travels once: the sender's FINAL to a replica whose echo is in the proof is a `cbc-proof`
 * (the proof alone; that replica holds the value it echoed), a whole FINAL only to the others. Sending the
 * value twice made every batch cross each link twice (bytes per request 2 (n - 1) x the request).
 * Consistency: two proofs for one tag need two quorums of signers, which share an honest replica (Q3),
 * who signs once. The proof lets any replica convince any other (used by common subset and atomic
 * broadcast). Byzantine senders may deliver to some replicas only; `cbc-want` lets a replica that learned
 * elsewhere that the value matters fetch it from any replica that delivered it.
 */
import { sha256 } from '../crypto/sha256.ts';
import { CryptoError } from '../crypto/errors.ts';
import type { ProtocolContext } from './context.ts';
import { isBytes } from './context.ts';
import type { CryptoSuite } from './crypto-suite.ts';
import type { Message } from './messages.ts';
import { Step } from './step.ts';
import type { Protocol } from './step.ts';

export interface CbcOutput {
  readonly value: Uint8Array;
  /** Quorum-key threshold signature on (tag, SHA-256(value)), purpose 'cbc'. */
  readonly signature: Uint8Array;
}

export type Validator = (value: Uint8Array) => boolean;

/** `digest`: SHA-256(value) when the caller has it already (values are whole batches: hashing costs). */
export function verifyCbcProof(crypto: CryptoSuite, tag: string, value: Uint8Array, signature: Uint8Array, digest?: Uint8Array): boolean {
  return crypto.quorum.verify('cbc', tag, digest ?? sha256(value), signature);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class ConsistentBroadcast implements Protocol<Uint8Array, CbcOutput> {
  private sent = false;
  private echoed: Uint8Array | null = null;
  /** SHA-256 of the echoed value (reused for the FINAL of the same value) and of our proposal. */
  private echoedDigest: Uint8Array | null = null;
  private proposal: Uint8Array | null = null;
  private proposalDigest: Uint8Array | null = null;
  private readonly shares = new Map<number, Uint8Array>();
  private readonly badSigners = new Set<number>();
  private finalSent = false;
  private result: CbcOutput | null = null;
  private readonly answered = new Set<number>();
  private readonly wanted = new Set<number>();
  /** Replicas we asked for the value after they said they have it (cbc-have): once each. */
  private readonly askedFrom = new Set<number>();

  constructor(
    private readonly ctx: ProtocolContext,
    readonly tag: string,
    readonly sender: number,
    private readonly validate: Validator = () => true,
  ) {}

  get terminated(): boolean {
    return this.result !== null;
  }

  get delivered(): CbcOutput | null {
    return this.result;
  }

  handleInput(value: Uint8Array): Step<CbcOutput> {
    const step = new Step<CbcOutput>();
    if (this.ctx.me !== this.sender || this.sent) return step;
    this.sent = true;
    this.proposal = value;
    return step.broadcast({ tag: this.tag, body: { t: 'cbc-send', value } });
  }

  /** Ask every replica for the delivered value (used when agreement says it exists). */
  want(): Step<CbcOutput> {
    const step = new Step<CbcOutput>();
    if (this.result) return step;
    return step.broadcast({ tag: this.tag, body: { t: 'cbc-want' } });
  }

  /** Ask these replicas for the delivered value (they said they have it, in effect). */
  wantFrom(peers: Iterable<number>): Step<CbcOutput> {
    const step = new Step<CbcOutput>();
    if (this.result) return step;
    for (const p of peers) if (p !== this.ctx.me) step.send(p, { tag: this.tag, body: { t: 'cbc-want' } });
    return step;
  }

  handleMessage(from: number, msg: Message): Step<CbcOutput> {
    const step = new Step<CbcOutput>();
    const b = msg.body;
    switch (b.t) {
      case 'cbc-send': {
        if (from !== this.sender) return step.fault(from, this.tag, 'unexpected', 'SEND from a replica that is not the sender');
        if (!isBytes(b.value) || b.value.length > this.ctx.maxValueBytes) return step.fault(from, this.tag, 'malformed', 'SEND value');
        if (this.echoed) {
          const same = b.value.length === this.echoed.length && b.value.every((x, i) => x === this.echoed![i]);
          return step.fault(from, this.tag, same ? 'duplicate' : 'equivocation', 'second SEND');
        }
        if (!this.validate(b.value)) return step.fault(from, this.tag, 'invalid-value', 'SEND value fails the validity predicate');
        this.echoed = b.value;
        this.echoedDigest = sha256(b.value);
        const share = this.ctx.crypto.quorum.sign('cbc', this.tag, this.echoedDigest);
        return step.send(this.sender, { tag: this.tag, body: { t: 'cbc-echo', share } });
      }
      case 'cbc-echo': {
        if (this.ctx.me !== this.sender || !this.proposal) return step.fault(from, this.tag, 'unexpected', 'ECHO to a replica that did not send');
        if (!isBytes(b.share)) return step.fault(from, this.tag, 'malformed', 'ECHO share');
        if (this.shares.has(from) || this.badSigners.has(from)) return step.fault(from, this.tag, 'duplicate', 'second ECHO');
        if (this.finalSent) return step.ignore();
        this.shares.set(from, b.share);
        this.tryCombine(step);
        return step;
      }
      case 'cbc-final': {
        if (this.result) return step.ignore();
        if (!isBytes(b.value) || !isBytes(b.signature) || b.value.length > this.ctx.maxValueBytes) return step.fault(from, this.tag, 'malformed', 'FINAL');
        const known = this.echoed && this.echoedDigest && sameBytes(this.echoed, b.value) ? this.echoedDigest : undefined;
        if (!verifyCbcProof(this.ctx.crypto, this.tag, b.value, b.signature, known)) return step.fault(from, this.tag, 'invalid-proof', 'FINAL proof does not verify');
        // A valid proof means a quorum echoed, so honest replicas checked validity; check again anyway
        // (cheap) so a predicate that depends on local state cannot be bypassed.
        if (!this.validate(b.value)) return step.fault(from, this.tag, 'invalid-value', 'FINAL value fails the validity predicate');
        this.deliver(b.value, b.signature, step);
        return step;
      }
      case 'cbc-proof': {
        if (this.result) return step.ignore();
        if (from !== this.sender) return step.fault(from, this.tag, 'unexpected', 'PROOF from a replica that is not the sender');
        if (!isBytes(b.signature)) return step.fault(from, this.tag, 'malformed', 'PROOF');
        if (!this.echoed || !this.echoedDigest) {
          // The sender counts our echo, but we hold no value (our state was lost since): ask for it, once.
          if (this.askedFrom.has(from)) return step.ignore();
          this.askedFrom.add(from);
          return step.send(from, { tag: this.tag, body: { t: 'cbc-want' } });
        }
        if (!verifyCbcProof(this.ctx.crypto, this.tag, this.echoed, b.signature, this.echoedDigest)) return step.fault(from, this.tag, 'invalid-proof', 'PROOF does not verify for the value we echoed');
        this.deliver(this.echoed, b.signature, step);
        return step;
      }
      case 'cbc-want': {
        if (this.answered.has(from)) return step.ignore();
        if (!this.result) {
          if (this.wanted.has(from) || this.wanted.size >= this.ctx.n) return step.ignore();
          this.wanted.add(from);
          return step;
        }
        this.answer(from, step);
        return step;
      }
      case 'cbc-have': {
        if (this.result || this.askedFrom.has(from)) return step.ignore();
        this.askedFrom.add(from);
        return step.send(from, { tag: this.tag, body: { t: 'cbc-want' } });
      }
      default:
        return step.fault(from, this.tag, 'unexpected', `message ${b.t} in consistent broadcast`);
    }
  }

  /** Delivers (value, proof) once: the output, and the answers to the replicas that asked for it meanwhile. */
  private deliver(value: Uint8Array, signature: Uint8Array, step: Step<CbcOutput>): void {
    this.result = { value, signature };
    step.output(this.result);
    for (const p of this.wanted) this.answer(p, step);
  }

  private answer(to: number, step: Step<CbcOutput>): void {
    if (this.answered.has(to) || !this.result) return;
    this.answered.add(to);
    step.send(to, { tag: this.tag, body: { t: 'cbc-final', value: this.result.value, signature: this.result.signature } });
  }

  private digestOfProposal(): Uint8Array {
    return (this.proposalDigest ??= sha256(this.proposal!));
  }

  private tryCombine(step: Step<CbcOutput>): void {
    const scheme = this.ctx.crypto.quorum.scheme;
    if (!scheme.isQualified(this.shares.keys())) return;
    try {
      const c = this.ctx.crypto.quorum.combine('cbc', this.tag, this.digestOfProposal(), this.shares);
      for (const f of c.faulty) {
        this.shares.delete(f);
        this.badSigners.add(f);
        step.fault(f, this.tag, 'invalid-share', 'ECHO signature share does not verify');
      }
      this.finalSent = true;
      // combine() verified the signature; delivering now spares the check our own FINAL would cost.
      if (!this.result && this.echoed && sameBytes(this.echoed, this.proposal!)) {
        this.deliver(this.proposal!, c.signature, step);
      }
      // The proof alone to the replicas whose valid echo it rests on (they hold the value), the value too
      // to the others (and to ourselves if we have not delivered: our own SEND was not handled yet).
      for (let j = 0; j < this.ctx.n; j++) {
        if (j === this.ctx.me && this.result) continue;
        const body = j !== this.ctx.me && this.shares.has(j) ? { t: 'cbc-proof' as const, signature: c.signature } : { t: 'cbc-final' as const, value: this.proposal!, signature: c.signature };
        step.send(j, { tag: this.tag, body });
      }
    } catch (e) {
      if (!(e instanceof CryptoError)) throw e;
      // Not qualified once the bad shares are out: find them (combine only names them on success), drop them, wait.
      for (const [signer, share] of [...this.shares]) {
        if (!this.ctx.crypto.quorum.verifyShare('cbc', this.tag, this.digestOfProposal(), signer, share)) {
          this.shares.delete(signer);
          this.badSigners.add(signer);
          step.fault(signer, this.tag, 'invalid-share', 'ECHO signature share does not verify');
        }
      }
    }
  }
}

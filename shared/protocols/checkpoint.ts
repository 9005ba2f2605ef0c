/**
 * Threshold-signed log checkpoints (docs/protocols.md, "Checkpoints"; the "one signature per batch" of
 * Cachin's SINTRA applications, DSN 2001 section 5). After atomic broadcast delivers epoch e, every honest
 * replica has the same log head (size, root) and application state digest; each signs it with its kernel-key
 * share (purpose 'checkpoint', tag ckpt/<e>) and sends the share to all. A qualified set of valid shares
 * combines into the group signature (robustly: invalid shares are named as faults). Since honest replicas
 * sign only their own head, and the heads of honest replicas are equal for every epoch, no two different
 * checkpoints for one epoch can ever be signed (a kernel always contains an honest replica).
 *
 * Shares may arrive before this replica delivered the epoch: they are kept for epochs up to `window`
 * beyond the last one it knows (one share per peer per epoch), and deferred beyond that.
 */
import type { ProtocolContext } from './context.ts';
import { isBytes } from './context.ts';
import type { Message } from './messages.ts';
import { Step } from './step.ts';
import type { Protocol } from './step.ts';
import { bytesEqual } from '../crypto/bytes.ts';
import { CryptoError } from '../crypto/errors.ts';
import { checkpointPayload } from '../log/checkpoint.ts';
import { CHECKPOINT_PREFIX, checkpointTag, parseCheckpointTag } from './instance-tag.ts';
import type { Checkpoint, SignedCheckpoint } from '../log/checkpoint.ts';

interface EpochShares {
  head: Checkpoint | null;
  readonly shares: Map<number, Uint8Array>;
  readonly bad: Set<number>;
}

export const CHECKPOINT_WINDOW = 16;

/** Snapshot of the certifier (engine.ts compaction): plain data, Maps and bytes. */
export interface CertifierState {
  readonly known: number;
  readonly floor: number;
  readonly epochs: ReadonlyMap<number, { readonly head: Checkpoint | null; readonly shares: ReadonlyMap<number, Uint8Array>; readonly bad: ReadonlySet<number> }>;
}

export class CheckpointCertifier implements Protocol<Checkpoint, SignedCheckpoint> {
  readonly tag = CHECKPOINT_PREFIX;
  private readonly epochs = new Map<number, EpochShares>();
  /** Highest epoch this replica has signed its own head for (-1: none). */
  private known = -1;
  /** Epochs below this are certified or superseded; their shares are ignored. */
  private floor = 0;

  constructor(private readonly ctx: ProtocolContext) {}

  get terminated(): boolean {
    return false;
  }

  snapshot(): CertifierState {
    const epochs = new Map<number, { head: Checkpoint | null; shares: Map<number, Uint8Array>; bad: Set<number> }>();
    for (const [e, es] of this.epochs) epochs.set(e, { head: es.head, shares: new Map(es.shares), bad: new Set(es.bad) });
    return { known: this.known, floor: this.floor, epochs };
  }

  static restore(ctx: ProtocolContext, s: CertifierState): CheckpointCertifier {
    const c = new CheckpointCertifier(ctx);
    c.known = s.known;
    c.floor = s.floor;
    for (const [e, es] of s.epochs) c.epochs.set(e, { head: es.head, shares: new Map(es.shares), bad: new Set(es.bad) });
    return c;
  }

  /**
   * State transfer (engine.ts transferTo): the group's signed checkpoint for `epoch` came from a peer, so
   * this replica signs no head for it or any earlier epoch (it never computed them), and their shares go.
   */
  skipTo(epoch: number): void {
    this.known = Math.max(this.known, epoch);
    this.floor = Math.max(this.floor, epoch + 1);
    for (const e of [...this.epochs.keys()]) if (e <= epoch) this.epochs.delete(e);
  }

  /** This replica's own head after delivering `c.epoch` (epochs come in order). */
  handleInput(c: Checkpoint): Step<SignedCheckpoint> {
    const step = new Step<SignedCheckpoint>();
    if (c.epoch < this.floor || c.epoch <= this.known) return step;
    this.known = c.epoch;
    const es = this.entry(c.epoch);
    es.head = c;
    const tag = checkpointTag(c.epoch);
    step.broadcast({ tag, body: { t: 'ckpt-share', share: this.ctx.crypto.kernel.sign('checkpoint', tag, checkpointPayload(c)) } });
    this.tryCombine(step, c.epoch, es);
    return step;
  }

  handleMessage(from: number, msg: Message): Step<SignedCheckpoint> {
    const step = new Step<SignedCheckpoint>();
    // `ckpt/<epoch>`, canonically: an alias would be a second name for the epoch's signature.
    const e = parseCheckpointTag(msg.tag);
    if (e === null || msg.body.t !== 'ckpt-share') return step.fault(from, msg.tag, 'malformed', 'not a checkpoint share');
    if (!isBytes(msg.body.share)) return step.fault(from, msg.tag, 'malformed', 'share');
    if (e < this.floor) return step.ignore();
    if (e > this.known + CHECKPOINT_WINDOW) {
      step.deferred = true;
      return step;
    }
    const es = this.entry(e);
    if (es.bad.has(from)) return step.ignore();
    const had = es.shares.get(from);
    if (had) {
      if (!bytesEqual(had, msg.body.share)) return step.fault(from, msg.tag, 'equivocation', 'two different checkpoint shares');
      return step.ignore();
    }
    es.shares.set(from, msg.body.share);
    this.tryCombine(step, e, es);
    return step;
  }

  private entry(e: number): EpochShares {
    let es = this.epochs.get(e);
    if (!es) this.epochs.set(e, (es = { head: null, shares: new Map(), bad: new Set() }));
    return es;
  }

  private tryCombine(step: Step<SignedCheckpoint>, e: number, es: EpochShares): void {
    if (!es.head || !this.ctx.crypto.kernel.scheme.isQualified(es.shares.keys())) return;
    const tag = checkpointTag(e);
    const payload = checkpointPayload(es.head);
    try {
      const r = this.ctx.crypto.kernel.combine('checkpoint', tag, payload, es.shares);
      for (const f of r.faulty) step.fault(f, tag, 'invalid-share', 'checkpoint share');
      step.output({ ...es.head, signature: r.signature });
      // Certified: this epoch and all earlier ones need no more shares.
      for (const k of this.epochs.keys()) if (k <= e) this.epochs.delete(k);
      this.floor = Math.max(this.floor, e + 1);
    } catch (err) {
      if (!(err instanceof CryptoError)) throw err;
      for (const [p, s] of [...es.shares]) {
        if (!this.ctx.crypto.kernel.verifyShare('checkpoint', tag, payload, p, s)) {
          es.shares.delete(p);
          es.bad.add(p);
          step.fault(p, tag, 'invalid-share', 'checkpoint share');
        }
      }
    }
  }
}

/**
 * Which sequence numbers of one incoming link have been accepted: pure bookkeeping, no crypto.
 *
 * The window is anchored at the CONTIGUOUS ack c (every seq 1..c accepted), not at the highest seq seen as
 * in IPsec. Links here are reliable (the sender's outbox retransmits until acked), so a window that slid
 * past a seq never received would refuse that seq forever as a "replay" and the link would stall: a
 * liveness bug in an asynchronous protocol. Instead:
 *
 *   seq <= c                        -> replay (accepted before)
 *   c < seq <= c + LINK_WINDOW      -> accepted once (a set records the ones above c), then replay
 *   seq > c + LINK_WINDOW           -> ahead (refused for now; the sender keeps at most LINK_WINDOW
 *                                      frames unacked, so an honest sender meets this only when it
 *                                      ignores acks)
 *
 * State is at most LINK_WINDOW numbers above c and serializes to `{ ack, received }` (plain JSON).
 * Values are immutable: `accept` returns a new window.
 */
import { fail, isSeq } from './errors.ts';

/** Most frames a sender may have unacknowledged on one link; also the receiver's reorder tolerance. */
export const LINK_WINDOW = 1024;

export type WindowVerdict = 'fresh' | 'replay' | 'ahead';

/** JSON form: `received` holds the accepted seqs above `ack`, strictly increasing, all in (ack+1, ack+W]. */
export interface ReceiveWindowState {
  readonly ack: number;
  readonly received: readonly number[];
}

export class ReceiveWindow {
  private constructor(
    /** Every seq 1..ack has been accepted. */
    readonly ack: number,
    private readonly above: ReadonlySet<number>,
  ) {}

  static readonly EMPTY = new ReceiveWindow(0, new Set());

  /** Strictly parses a persisted state; throws LinkError('bad-state'). */
  static fromJSON(json: unknown): ReceiveWindow {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('bad-state', 'receive window: expected an object');
    const keys = Object.keys(json);
    if (keys.length !== 2 || !Object.hasOwn(json, 'ack') || !Object.hasOwn(json, 'received')) fail('bad-state', 'receive window: expected exactly { ack, received }');
    const { ack, received } = json as Record<string, unknown>;
    if (!isSeq(ack)) fail('bad-state', 'receive window: ack must be an integer in 0..2^53-1');
    if (!Array.isArray(received) || received.length >= LINK_WINDOW) fail('bad-state', `receive window: received must be an array of fewer than ${LINK_WINDOW} seqs`);
    let last = ack + 1; // ack + 1 itself would have been absorbed into ack
    for (const s of received) {
      if (!isSeq(s) || s <= last || s > ack + LINK_WINDOW) fail('bad-state', `receive window: received must increase strictly within (${ack + 1}, ${ack + LINK_WINDOW}]`);
      last = s;
    }
    return new ReceiveWindow(ack, new Set(received as number[]));
  }

  toJSON(): ReceiveWindowState {
    return { ack: this.ack, received: [...this.above].sort((a, b) => a - b) };
  }

  /** Accepted seqs above the contiguous ack (out-of-order arrivals), ascending. */
  get pending(): readonly number[] {
    return this.toJSON().received;
  }

  /** Verdict for seq >= 1 (seq 0 is the ack-only frame and never enters the window). */
  verdict(seq: number): WindowVerdict {
    if (seq <= this.ack) return 'replay';
    if (seq > this.ack + LINK_WINDOW) return 'ahead';
    return this.above.has(seq) ? 'replay' : 'fresh';
  }

  /** The window with `seq` accepted. Throws LinkError('bad-seq') unless verdict(seq) is 'fresh'. */
  accept(seq: number): ReceiveWindow {
    if (!isSeq(seq) || seq === 0) fail('bad-seq', `seq must be an integer in 1..2^53-1, got ${String(seq)}`);
    const v = this.verdict(seq);
    if (v !== 'fresh') fail('bad-seq', `seq ${seq} is ${v === 'replay' ? 'already accepted' : `beyond the window (ack ${this.ack} + ${LINK_WINDOW})`}`);
    let ack = this.ack;
    const above = new Set(this.above);
    above.add(seq);
    while (above.delete(ack + 1)) ack++;
    return new ReceiveWindow(ack, above);
  }
}

/** Highest c >= base such that base+1..c are all in `seqs` (base 0: the contiguous ack of a set of seqs). */
export function contiguousAck(seqs: Iterable<number>, base = 0): number {
  const set = new Set(seqs);
  let c = base;
  while (set.has(c + 1)) c++;
  return c;
}

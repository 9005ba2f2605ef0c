/**
 * The sending end of one link (me -> peer): allocates sequence numbers, builds MAC'd frames, and tracks
 * how far the peer has acknowledged, so the outbox can drop what the peer holds and stop at the window.
 *
 * Values are immutable and serialize to `{ next, peerAck }` (plain JSON). How the replica host uses it
 * (shared/replica/host-core.ts; docs/design.md section 8):
 *
 *   - one frame in flight per link: `{ seq, sender } = s.allocate()`, transmit `sender.seal(seq, payload,
 *     ack)` with the outbox messages (persisted before, with the events that made them);
 *   - once the peer took the frame, persist `sender.acknowledge(seq)` and only then use it; after a crash
 *     before that write, the same seq is allocated again, and the peer answers `replay` with its ack, from
 *     which the sender resumes (and persists that before using it too). So storage is never behind a seq
 *     the peer took by more than the one frame in flight, and a peer's ack further ahead means this
 *     replica's storage lost what it had written (host-core.ts, lost state).
 *   - retransmit: `seal` again with the current ack (the ack field may change between copies of one seq;
 *     the receiver accepts the seq once, whichever copy arrives first).
 *
 * At most LINK_WINDOW frames are unacknowledged: `allocate` refuses beyond that (back-pressure: more
 * messages go into the next, larger batch), so an honest sender never meets the receiver's `ahead`.
 */
import { fail, isSeq, MAX_SEQ } from './errors.ts';
import { encodeFrame } from './frame.ts';
import type { LinkChannel } from './keys.ts';
import { LINK_WINDOW } from './window.ts';

export interface LinkSenderState {
  /** The seq the next `allocate` returns (>= 1). */
  readonly next: number;
  /** The peer holds every seq 1..peerAck (0 <= peerAck < next). */
  readonly peerAck: number;
}

/** A peer's ack for a seq we never allocated: the peer is faulty (or our state was rolled back). */
export type AckRejectCode = 'ack-ahead';

export type AckResult =
  | { readonly ok: true; readonly sender: LinkSender; readonly advanced: boolean }
  | { readonly ok: false; readonly code: AckRejectCode; readonly message: string };

export class LinkSender {
  private constructor(
    /** me -> peer. */
    readonly channel: LinkChannel,
    readonly next: number,
    readonly peerAck: number,
  ) {}

  static create(channel: LinkChannel): LinkSender {
    return new LinkSender(channel, 1, 0);
  }

  /** Restores a persisted `toJSON()`; throws LinkError('bad-state') if it does not parse strictly. */
  static fromJSON(channel: LinkChannel, json: unknown): LinkSender {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('bad-state', 'link sender: expected an object');
    const keys = Object.keys(json);
    if (keys.length !== 2 || !Object.hasOwn(json, 'next') || !Object.hasOwn(json, 'peerAck')) fail('bad-state', 'link sender: expected exactly { next, peerAck }');
    const { next, peerAck } = json as Record<string, unknown>;
    if (!isSeq(next) || next === 0) fail('bad-state', 'link sender: next must be an integer in 1..2^53-1');
    if (!isSeq(peerAck) || peerAck >= next) fail('bad-state', 'link sender: peerAck must be an integer in 0..next-1');
    if (next - 1 - peerAck > LINK_WINDOW) fail('bad-state', `link sender: more than ${LINK_WINDOW} seqs unacknowledged`);
    return new LinkSender(channel, next, peerAck);
  }

  toJSON(): LinkSenderState {
    return { next: this.next, peerAck: this.peerAck };
  }

  get peer(): number {
    return this.channel.receiver;
  }

  get me(): number {
    return this.channel.sender;
  }

  /** Seqs peerAck+1 .. next-1 are allocated and not yet acknowledged: how many. */
  get unacked(): number {
    return this.next - 1 - this.peerAck;
  }

  /** Whether `allocate` may hand out another seq (fewer than LINK_WINDOW unacknowledged). */
  get windowOpen(): boolean {
    return this.unacked < LINK_WINDOW && this.next < MAX_SEQ;
  }

  /** The next seq, and the sender that has handed it out. Throws LinkError('bad-seq') if !windowOpen. */
  allocate(): { readonly seq: number; readonly sender: LinkSender } {
    if (!this.windowOpen) fail('bad-seq', `window full: ${this.unacked} frames to replica ${this.peer} unacknowledged`);
    return { seq: this.next, sender: new LinkSender(this.channel, this.next + 1, this.peerAck) };
  }

  /**
   * The frame for an allocated seq (1 <= seq < next) carrying `payload` and `ack` (our receiver's
   * contiguousAck for this peer). Pure: the same arguments give the same bytes. Throws LinkError.
   */
  seal(seq: number, payload: Uint8Array, ack: number): Uint8Array {
    if (!isSeq(seq) || seq === 0 || seq >= this.next) fail('bad-seq', `seq ${String(seq)} was not allocated (next is ${this.next})`);
    return encodeFrame(this.channel, { seq, ack, payload });
  }

  /** An ack-only frame (seq 0, empty payload). */
  sealAck(ack: number): Uint8Array {
    return encodeFrame(this.channel, { seq: 0, ack, payload: new Uint8Array(0) });
  }

  /** Takes the peer's ack (a maximum: stale acks from reordered frames change nothing). */
  acknowledge(ack: number): AckResult {
    if (!isSeq(ack)) fail('bad-argument', `ack must be an integer in 0..2^53-1, got ${String(ack)}`);
    if (ack >= this.next) return { ok: false, code: 'ack-ahead', message: `replica ${this.peer} acknowledges seq ${ack}, but only 1..${this.next - 1} were sent` };
    if (ack <= this.peerAck) return { ok: true, sender: this, advanced: false };
    return { ok: true, sender: new LinkSender(this.channel, this.next, ack), advanced: true };
  }
}

/**
 * The receiving end of one link (peer -> me): decides whether an HTTP body is a fresh, authentic frame
 * from that peer, and remembers which sequence numbers it has accepted (window.ts).
 *
 * Accepting is split in two so that "accepted" and "applied" can never disagree after a crash:
 *
 *   1. `check(bytes)`   pure verdict, no state change: `{ ok: true, sender, seq, ack, payload }` or a
 *                       `LinkReject` with a stable code (errors.ts).
 *   2. the adapter applies the payload to the replica and computes `next = receiver.commit(seq)` (also
 *      pure: a NEW LinkReceiver, the old one is untouched), then persists the payload's effects AND
 *      `next.toJSON()` in ONE atomic storage write,
 *   3. only after the write succeeds does it replace its receiver with `next`.
 *
 * A crash before the write leaves neither the effects nor the seq recorded (the sender retransmits, the
 * frame is accepted then); after it, both are (a retransmission is a `replay`). Nothing is ever applied
 * twice or lost. Per link, steps 1-3 must not interleave with another check of the same link across an
 * await (a Durable Object's input gate, or a per-peer promise chain, gives this); if they do anyway,
 * `commit` refuses the second copy of a seq with LinkError('bad-seq') instead of accepting it twice.
 *
 * Seq 0 is an ack-only frame (no payload, e.g. the body of an HTTP response): it is accepted every time,
 * since all it can do is raise an ack (a stale replayed ack is harmless: acks are taken as a maximum), and
 * `commit(0)` is a no-op so the adapter needs no special case.
 */
import { bytesEqual } from '../crypto/bytes.ts';
import { reject } from './errors.ts';
import type { LinkReject } from './errors.ts';
import { decodeFrame, macValid } from './frame.ts';
import type { DecodedFrame } from './frame.ts';
import type { LinkChannel } from './keys.ts';
import { LINK_WINDOW, ReceiveWindow } from './window.ts';
import type { ReceiveWindowState } from './window.ts';

export interface LinkAccept {
  readonly ok: true;
  readonly sender: number;
  /** 0 for an ack-only frame. */
  readonly seq: number;
  /** The sender's contiguous ack of OUR frames to it: feed to our LinkSender for that peer. */
  readonly ack: number;
  /** View into the frame bytes (copy if kept). Empty for an ack-only frame. */
  readonly payload: Uint8Array;
}

export type LinkVerdict = LinkAccept | LinkReject;

export type LinkReceiverState = ReceiveWindowState;

export class LinkReceiver {
  private constructor(
    /** peer -> me. */
    readonly channel: LinkChannel,
    private readonly window: ReceiveWindow,
  ) {}

  static create(channel: LinkChannel): LinkReceiver {
    return new LinkReceiver(channel, ReceiveWindow.EMPTY);
  }

  /** Restores a persisted `toJSON()`; throws LinkError('bad-state') if it does not parse strictly. */
  static fromJSON(channel: LinkChannel, state: unknown): LinkReceiver {
    return new LinkReceiver(channel, ReceiveWindow.fromJSON(state));
  }

  toJSON(): LinkReceiverState {
    return this.window.toJSON();
  }

  get peer(): number {
    return this.channel.sender;
  }

  get me(): number {
    return this.channel.receiver;
  }

  /** Highest seq such that every seq 1..it from the peer is committed: the `ack` we send back. */
  get contiguousAck(): number {
    return this.window.ack;
  }

  /** Committed seqs above the contiguous ack (arrived out of order), ascending. */
  get pending(): readonly number[] {
    return this.window.pending;
  }

  /** Pure verdict on one HTTP body. Never throws on a Uint8Array. */
  check(bytes: Uint8Array): LinkVerdict {
    const d = decodeFrame(bytes);
    return d.ok ? this.checkDecoded(d.frame) : d;
  }

  /** `check` after decodeFrame (lets a router decode once). */
  checkDecoded(frame: DecodedFrame): LinkVerdict {
    const c = this.channel;
    if (!bytesEqual(frame.groupId, c.groupId)) return reject('wrong-group', 'frame is for another group');
    if (frame.receiver !== c.receiver) return reject('wrong-receiver', `frame is for replica ${frame.receiver}, this is replica ${c.receiver}`);
    if (frame.sender !== c.sender) {
      return reject('unknown-sender', frame.sender === c.receiver ? 'frame claims to come from this replica' : `no link from replica ${frame.sender} here`);
    }
    if (!macValid(c, frame)) return reject('bad-mac', `tag does not verify on link ${c.sender} -> ${c.receiver}`);
    if (frame.seq !== 0) {
      const v = this.window.verdict(frame.seq);
      if (v === 'replay') return reject('replay', `seq ${frame.seq} already accepted (contiguous ack ${this.window.ack})`);
      if (v === 'ahead') return reject('ahead', `seq ${frame.seq} beyond contiguous ack ${this.window.ack} + window ${LINK_WINDOW}; resend after acks`);
    }
    return { ok: true, sender: frame.sender, seq: frame.seq, ack: frame.ack, payload: frame.payload };
  }

  /**
   * The receiver with `seq` marked accepted (a new value; this one is unchanged). Persist its toJSON()
   * atomically with the payload's effects, then adopt it. `commit(0)` returns this. Throws
   * LinkError('bad-seq') for a seq the window does not take as fresh.
   */
  commit(seq: number): LinkReceiver {
    if (seq === 0) return this;
    return new LinkReceiver(this.channel, this.window.accept(seq));
  }
}

/**
 * Routes one HTTP body to the receiver of its claimed sender and checks it there. `receivers[p]` is the
 * receiver for peer p (undefined at our own index). Decodes once; a sender without a receiver yields the
 * header-level verdict (wrong-group / wrong-receiver / unknown-sender) of any receiver, since all of them
 * share the group and `me`.
 */
export function checkFrame(bytes: Uint8Array, receivers: readonly (LinkReceiver | undefined)[]): LinkVerdict {
  const d = decodeFrame(bytes);
  if (!d.ok) return d;
  const r = receivers[d.frame.sender] ?? receivers.find((x) => x !== undefined);
  return r ? r.checkDecoded(d.frame) : reject('unknown-sender', `no link from replica ${d.frame.sender} here`);
}

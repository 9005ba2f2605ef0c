/**
 * The link layer's two kinds of failure, kept apart on purpose:
 *
 * - A frame from the network that we refuse is not an exception: `LinkReceiver.check` returns a
 *   `LinkReject` with a stable `code`. The HTTP adapter sends the code back as its JSON error code, so the
 *   codes below are part of the wire contract: never rename or reuse one, only add.
 * - A caller mistake (bad key bytes, an index out of range, a corrupt persisted state, sealing a payload
 *   over the size limit, committing a seq the window refuses) throws `LinkError`: it is a bug or a broken
 *   deployment, not something a peer can cause.
 */

/**
 * Why a frame was refused, in the order `check` tests them (the first failing test wins):
 *
 * | code             | meaning                                                                  | retry helps |
 * |------------------|--------------------------------------------------------------------------|-------------|
 * | `too-large`      | more than MAX_FRAME_BYTES; tested before anything is read               | no          |
 * | `version`        | first byte is not FRAME_VERSION                                          | no          |
 * | `malformed`      | truncated, trailing bytes, length field mismatch, seq/ack not a u53,     | no          |
 * |                  | or an ack-only frame (seq 0) with a payload                              |             |
 * | `wrong-group`    | group id is not ours                                                     | no          |
 * | `wrong-receiver` | receiver index is not ours                                               | no          |
 * | `unknown-sender` | sender is ourselves, not a replica, or not the peer of this receiver     | no          |
 * | `bad-mac`        | HMAC-SHA256 tag does not verify under the sender->receiver link key      | no          |
 * | `replay`         | authentic, but this seq was already accepted (exactly, or at/below ack)  | no (done)   |
 * | `ahead`          | authentic, but seq > contiguous ack + LINK_WINDOW: resend after acks     | yes, later  |
 *
 * Everything before `bad-mac` is decided on unauthenticated bytes and reveals nothing secret; `replay` and
 * `ahead` are only ever reported for authentic frames.
 */
export type LinkRejectCode =
  | 'too-large'
  | 'version'
  | 'malformed'
  | 'wrong-group'
  | 'wrong-receiver'
  | 'unknown-sender'
  | 'bad-mac'
  | 'replay'
  | 'ahead';

export const LINK_REJECT_CODES: readonly LinkRejectCode[] = Object.freeze([
  'too-large',
  'version',
  'malformed',
  'wrong-group',
  'wrong-receiver',
  'unknown-sender',
  'bad-mac',
  'replay',
  'ahead',
]);

export interface LinkReject {
  readonly ok: false;
  readonly code: LinkRejectCode;
  readonly message: string;
}

export function reject(code: LinkRejectCode, message: string): LinkReject {
  return { ok: false, code, message };
}

export type LinkErrorCode =
  | 'bad-key' // key bytes of the wrong length, or an X25519 key of small order
  | 'bad-index' // a replica index that is not a u16, or sender == receiver
  | 'bad-state' // a persisted sender/receiver state that does not parse strictly
  | 'too-large' // sealing a payload over MAX_PAYLOAD_BYTES
  | 'bad-seq' // sealing an unallocated seq, allocating past the window, committing a refused seq
  | 'bad-argument'; // anything else of the wrong type or range

export class LinkError extends Error {
  override readonly name = 'LinkError';
  constructor(
    readonly code: LinkErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function fail(code: LinkErrorCode, message: string): never {
  throw new LinkError(code, message);
}

export function isLinkError(e: unknown): e is LinkError {
  return e instanceof LinkError;
}

/** Sequence numbers and acks are JS-safe non-negative integers (u53), carried as u64 on the wire. */
export const MAX_SEQ = Number.MAX_SAFE_INTEGER;

export function isSeq(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** Replica indices are u16 on the wire. */
export const MAX_REPLICA_INDEX = 0xffff;

export function isReplicaIndex(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= MAX_REPLICA_INDEX;
}

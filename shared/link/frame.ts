/**
 * The link frame: the whole body of one HTTP POST from replica `sender` to replica `receiver`. It carries a
 * per-link sequence number (one per batch), a piggybacked acknowledgement for the opposite direction, an
 * opaque payload (a transport batch of shared/replica/transport.ts; this layer never looks inside) and an
 * HMAC-SHA256 tag under key(sender -> receiver) (keys.ts).
 *
 * Layout (integers big-endian, fixed widths, nothing optional):
 *
 *   off  size  field
 *     0     1  version            = FRAME_VERSION (1)
 *     1    32  group id
 *    33     2  sender index       u16
 *    35     2  receiver index     u16
 *    37     8  seq                u64, <= 2^53 - 1; 0 = ack-only frame (then the payload must be empty)
 *    45     8  ack                u64, <= 2^53 - 1; highest seq such that we hold every seq 1..ack of the
 *                                 receiver -> sender direction (0 = none)
 *    53     4  payload length L   u32, must equal (frame length - 89)
 *    57     L  payload
 *  57+L    32  tag                HMAC-SHA256(key(sender -> receiver), bytes[0 .. 57+L))
 *
 * Overhead: 89 bytes. The tag covers every byte before it, so the header cannot be changed without the
 * key; the key itself is per direction, group and pair, so the header fields are bound twice.
 *
 * Decoding is strict (exactly one encoding per frame) and ordered cheap-to-costly: the size limit first
 * (before reading a byte), then the version byte (so a future version is reported as `version`, not as
 * `malformed`), then the layout. Decoding never checks the tag; `macValid` does, in constant time.
 * Decoded byte fields are VIEWS into the input (no copy of a 4 MiB payload); copy what you keep.
 */
import { bytesEqual } from '../crypto/bytes.ts';
import { GROUP_ID_BYTES } from '../crypto/domain.ts';
import { fail, isSeq, MAX_SEQ, reject } from './errors.ts';
import type { LinkReject } from './errors.ts';
import { MAC_BYTES } from './keys.ts';
import type { LinkChannel } from './keys.ts';

export const FRAME_VERSION = 1;
export const FRAME_HEADER_BYTES = 57;
export const FRAME_OVERHEAD_BYTES = FRAME_HEADER_BYTES + MAC_BYTES;
/** Largest frame (= HTTP body) accepted or built: 4 MiB. */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;
/** Largest payload that fits: MAX_FRAME_BYTES - 89 (transport.ts MAX_MESSAGE_BYTES keeps one message within it). */
export const MAX_PAYLOAD_BYTES = MAX_FRAME_BYTES - FRAME_OVERHEAD_BYTES;

const OFF_GROUP = 1;
const OFF_SENDER = 33;
const OFF_RECEIVER = 35;
const OFF_SEQ = 37;
const OFF_ACK = 45;
const OFF_LENGTH = 53;
const TWO_32 = 0x1_0000_0000;
/** Largest high word of a u53 carried in a u64. */
const MAX_HIGH_WORD = Math.floor(MAX_SEQ / TWO_32);

export interface DecodedFrame {
  readonly groupId: Uint8Array;
  readonly sender: number;
  readonly receiver: number;
  readonly seq: number;
  readonly ack: number;
  readonly payload: Uint8Array;
  /** bytes[0 .. 57+L): what the tag authenticates. */
  readonly authenticated: Uint8Array;
  readonly tag: Uint8Array;
}

export type DecodeFrameResult = { readonly ok: true; readonly frame: DecodedFrame } | LinkReject;

export interface FrameFields {
  readonly seq: number;
  readonly ack: number;
  readonly payload: Uint8Array;
}

function readU32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}

/** A u64 as a number, or undefined if it exceeds 2^53 - 1. */
function readU53(b: Uint8Array, off: number): number | undefined {
  const hi = readU32(b, off);
  return hi > MAX_HIGH_WORD ? undefined : hi * TWO_32 + readU32(b, off + 4);
}

function writeU53(b: Uint8Array, off: number, v: number): void {
  writeU32(b, off, Math.floor(v / TWO_32));
  writeU32(b, off + 4, v % TWO_32);
}

/** Builds and MACs one frame on `channel` (its sender, receiver and group fill the header). Throws LinkError. */
export function encodeFrame(channel: LinkChannel, fields: FrameFields): Uint8Array {
  const { seq, ack, payload } = fields;
  if (!isSeq(seq)) fail('bad-seq', `seq must be an integer in 0..2^53-1, got ${String(seq)}`);
  if (!isSeq(ack)) fail('bad-seq', `ack must be an integer in 0..2^53-1, got ${String(ack)}`);
  if (!(payload instanceof Uint8Array)) fail('bad-argument', 'payload must be a Uint8Array');
  if (payload.length > MAX_PAYLOAD_BYTES) fail('too-large', `payload of ${payload.length} bytes > MAX_PAYLOAD_BYTES ${MAX_PAYLOAD_BYTES}`);
  if (seq === 0 && payload.length !== 0) fail('bad-seq', 'an ack-only frame (seq 0) carries no payload');
  const out = new Uint8Array(FRAME_OVERHEAD_BYTES + payload.length);
  out[0] = FRAME_VERSION;
  out.set(channel.groupId, OFF_GROUP);
  out[OFF_SENDER] = channel.sender >>> 8;
  out[OFF_SENDER + 1] = channel.sender & 0xff;
  out[OFF_RECEIVER] = channel.receiver >>> 8;
  out[OFF_RECEIVER + 1] = channel.receiver & 0xff;
  writeU53(out, OFF_SEQ, seq);
  writeU53(out, OFF_ACK, ack);
  writeU32(out, OFF_LENGTH, payload.length);
  out.set(payload, FRAME_HEADER_BYTES);
  const end = FRAME_HEADER_BYTES + payload.length;
  out.set(channel.mac(out.subarray(0, end)), end);
  return out;
}

/** Parses a frame strictly without authenticating it. Never throws on any Uint8Array. */
export function decodeFrame(bytes: Uint8Array): DecodeFrameResult {
  if (!(bytes instanceof Uint8Array)) fail('bad-argument', 'frame must be a Uint8Array');
  if (bytes.length > MAX_FRAME_BYTES) return reject('too-large', `frame of ${bytes.length} bytes > ${MAX_FRAME_BYTES}`);
  if (bytes.length === 0) return reject('malformed', 'empty frame');
  if (bytes[0] !== FRAME_VERSION) return reject('version', `frame version ${bytes[0]}, expected ${FRAME_VERSION}`);
  if (bytes.length < FRAME_OVERHEAD_BYTES) return reject('malformed', `frame of ${bytes.length} bytes < the ${FRAME_OVERHEAD_BYTES}-byte minimum`);
  const length = readU32(bytes, OFF_LENGTH);
  if (length !== bytes.length - FRAME_OVERHEAD_BYTES) {
    return reject('malformed', `payload length field ${length}, but the frame holds ${bytes.length - FRAME_OVERHEAD_BYTES} payload bytes`);
  }
  const seq = readU53(bytes, OFF_SEQ);
  if (seq === undefined) return reject('malformed', 'seq exceeds 2^53 - 1');
  const ack = readU53(bytes, OFF_ACK);
  if (ack === undefined) return reject('malformed', 'ack exceeds 2^53 - 1');
  if (seq === 0 && length !== 0) return reject('malformed', 'ack-only frame (seq 0) with a payload');
  const end = FRAME_HEADER_BYTES + length;
  return {
    ok: true,
    frame: {
      groupId: bytes.subarray(OFF_GROUP, OFF_GROUP + GROUP_ID_BYTES),
      sender: (bytes[OFF_SENDER]! << 8) | bytes[OFF_SENDER + 1]!,
      receiver: (bytes[OFF_RECEIVER]! << 8) | bytes[OFF_RECEIVER + 1]!,
      seq,
      ack,
      payload: bytes.subarray(FRAME_HEADER_BYTES, end),
      authenticated: bytes.subarray(0, end),
      tag: bytes.subarray(end),
    },
  };
}

/** Whether the frame's tag verifies under `channel` (constant-time compare of equal-length tags). */
export function macValid(channel: LinkChannel, frame: DecodedFrame): boolean {
  return bytesEqual(channel.mac(frame.authenticated), frame.tag);
}

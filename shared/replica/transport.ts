/**
 * What travels inside one authenticated link frame (shared/link) from replica i to replica j: a batch of
 * outbox messages, each with its per-link message id. The ids let the receiver drop retransmitted copies
 * silently (a lost HTTP response makes the sender resend what was already applied) and let the sender
 * drop exactly the messages the receiver took, keeping those it deferred for a later retry.
 *
 *   u32 count | u64 low | count x { u64 id | u32 length | one message in the wire codec (shared/codec) }
 *
 * `low`: the sender's smallest outbox id for this receiver (0: none). Ids below it will never come: they
 * were accepted, or dropped from a bounded outbox (host-core.ts: messages of epochs a signed checkpoint
 * covers, which a lagging receiver gets by state transfer). The receiver moves its window of applied ids
 * up to it, so that gaps the sender will never fill do not pile up in that window.
 *
 * The receiver's answer (JSON in the HTTP response body) is a TransportAck.
 */
import { CodecError, decodeMessage, encodeMessage } from '../codec/message-codec.ts';
import type { Message } from '../protocols/messages.ts';
import { MAX_PAYLOAD_BYTES } from '../link/frame.ts';

export interface OutboxMessage {
  readonly id: number;
  /** The message in the wire codec (stored that way in the outbox). */
  readonly bytes: Uint8Array;
}

export interface TransportAck {
  /** Ids applied now or earlier: drop them from the outbox. */
  readonly accepted: readonly number[];
  /** Ids not accepted yet (beyond the receiver's window): retry later. */
  readonly deferred: readonly number[];
}

export const MAX_TRANSPORT_MESSAGES = 4096;
/** u32 count, u64 low. */
const HEADER_BYTES = 12;
/**
 * Largest encoded message a replica may produce: one alone in a transport payload (header, u64 id,
 * u32 length) fits a link frame. The protocols build their messages within it (values and forwarded
 * requests by maxValueBytes, decryption shares in parts); the host core asserts it for every message.
 */
export const MAX_MESSAGE_BYTES = MAX_PAYLOAD_BYTES - HEADER_BYTES - 12;

export function encodeTransport(messages: readonly OutboxMessage[], low = 0): Uint8Array {
  let size = HEADER_BYTES;
  for (const m of messages) size += 12 + m.bytes.length;
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint32(0, messages.length);
  v.setBigUint64(4, BigInt(low));
  let off = HEADER_BYTES;
  for (const m of messages) {
    v.setBigUint64(off, BigInt(m.id));
    v.setUint32(off + 8, m.bytes.length);
    out.set(m.bytes, off + 12);
    off += 12 + m.bytes.length;
  }
  return out;
}

export class TransportError extends Error {
  override readonly name = 'TransportError';
}

/** Strict: any malformed message rejects the whole payload (it came from one authenticated sender). */
export function decodeTransport(b: Uint8Array): { readonly low: number; readonly items: { id: number; msg: Message }[] } {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length < HEADER_BYTES) throw new TransportError('truncated header');
  const count = v.getUint32(0);
  if (count > MAX_TRANSPORT_MESSAGES) throw new TransportError(`${count} messages > ${MAX_TRANSPORT_MESSAGES}`);
  const low = v.getBigUint64(4);
  if (low > BigInt(Number.MAX_SAFE_INTEGER)) throw new TransportError(`low id ${low} out of range`);
  const out: { id: number; msg: Message }[] = [];
  let off = HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    if (off + 12 > b.length) throw new TransportError(`truncated header of message ${i}`);
    const id = v.getBigUint64(off);
    if (id > BigInt(Number.MAX_SAFE_INTEGER)) throw new TransportError(`message id ${id} out of range`);
    const len = v.getUint32(off + 8);
    off += 12;
    if (off + len > b.length) throw new TransportError(`truncated message ${i}`);
    let msg: Message;
    try {
      msg = decodeMessage(b.subarray(off, off + len));
    } catch (e) {
      if (e instanceof CodecError) throw new TransportError(`message ${i}: ${e.message}`);
      throw e;
    }
    out.push({ id: Number(id), msg });
    off += len;
  }
  if (off !== b.length) throw new TransportError(`${b.length - off} trailing bytes`);
  return { low: Number(low), items: out };
}

export { encodeMessage };

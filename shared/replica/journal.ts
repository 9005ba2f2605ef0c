/**
 * The journal: the accepted events of a replica, in order, as bytes an adapter can store (SQLite rows,
 * Redis list items). Replaying them into a fresh engine rebuilds its state exactly (engine.ts).
 *   submit: 0x01 | request bytes
 *   peer:   0x02 | u16 sender | one message in the wire codec (shared/codec)
 *   submit-encrypted: 0x03 | TDH2 ciphertext bytes
 */
import { decodeMessage, encodeMessage } from '../codec/message-codec.ts';
import type { EngineEvent } from './engine.ts';

export class JournalError extends Error {
  override readonly name = 'JournalError';
}

export function encodeEvent(e: EngineEvent): Uint8Array {
  if (e.kind === 'submit') {
    const out = new Uint8Array(1 + e.request.length);
    out[0] = 1;
    out.set(e.request, 1);
    return out;
  }
  if (e.kind === 'submit-encrypted') {
    const out = new Uint8Array(1 + e.ciphertext.length);
    out[0] = 3;
    out.set(e.ciphertext, 1);
    return out;
  }
  const m = encodeMessage(e.msg);
  const out = new Uint8Array(3 + m.length);
  out[0] = 2;
  out[1] = e.from >> 8;
  out[2] = e.from & 0xff;
  out.set(m, 3);
  return out;
}

export function decodeEvent(b: Uint8Array): EngineEvent {
  if (b[0] === 1) return { kind: 'submit', request: b.slice(1) };
  if (b[0] === 3) return { kind: 'submit-encrypted', ciphertext: b.slice(1) };
  if (b[0] === 2 && b.length >= 3) return { kind: 'peer', from: (b[1]! << 8) | b[2]!, msg: decodeMessage(b.subarray(3)) };
  throw new JournalError(`journal entry of kind ${b[0]} and ${b.length} bytes`);
}

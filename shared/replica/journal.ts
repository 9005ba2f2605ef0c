/**
 * The journal: the accepted events of a replica, in order, as bytes an adapter can store (SQLite rows,
 * Redis list items). Replaying them into a fresh engine rebuilds its state exactly (engine.ts).
 *   submit: 0x01 | request bytes
 *   peer:   0x02 | u16 sender | one message in the wire codec (shared/codec)
 *   submit-encrypted: 0x03 | TDH2 ciphertext bytes
 *   executed: 0x04 | u64 epoch | u8 count | count x (u8 name length | name (ASCII) | digest (32))
 *   clock:    0x05 | u64 ms since 1970 (at most 2^53 - 1)
 */
import { decodeMessage, encodeMessage } from '../codec/message-codec.ts';
import type { EngineEvent } from './engine.ts';

export class JournalError extends Error {
  override readonly name = 'JournalError';
}

export function encodeEvent(e: EngineEvent): Uint8Array {
  if (e.kind === 'executed') {
    const names = e.digests.map((d) => new TextEncoder().encode(d.name));
    if (names.length > 255 || names.some((n) => n.length > 255)) throw new JournalError('executed: too many applications or too long a name');
    const out = new Uint8Array(10 + names.reduce((a, n) => a + 33 + n.length, 0));
    const v = new DataView(out.buffer);
    out[0] = 4;
    v.setBigUint64(1, BigInt(e.epoch));
    out[9] = names.length;
    let at = 10;
    e.digests.forEach((d, k) => {
      out[at++] = names[k]!.length;
      out.set(names[k]!, at);
      at += names[k]!.length;
      if (d.digest.length !== 32) throw new JournalError('executed: a digest is not 32 bytes');
      out.set(d.digest, at);
      at += 32;
    });
    return out;
  }
  if (e.kind === 'submit') {
    const out = new Uint8Array(1 + e.request.length);
    out[0] = 1;
    out.set(e.request, 1);
    return out;
  }
  if (e.kind === 'clock') {
    if (!Number.isSafeInteger(e.ms) || e.ms < 0) throw new JournalError(`clock: ${e.ms} is not a non-negative safe integer`);
    const out = new Uint8Array(9);
    out[0] = 5;
    new DataView(out.buffer).setBigUint64(1, BigInt(e.ms));
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
  if (b[0] === 4 && b.length >= 10) return decodeExecuted(b);
  if (b[0] === 5 && b.length === 9) {
    const ms = new DataView(b.buffer, b.byteOffset + 1, 8).getBigUint64(0);
    if (ms > BigInt(Number.MAX_SAFE_INTEGER)) throw new JournalError(`clock event past 2^53 - 1 ms`);
    return { kind: 'clock', ms: Number(ms) };
  }
  if (b[0] === 2 && b.length >= 3) return { kind: 'peer', from: (b[1]! << 8) | b[2]!, msg: decodeMessage(b.subarray(3)) };
  throw new JournalError(`journal entry of kind ${b[0]} and ${b.length} bytes`);
}

function decodeExecuted(b: Uint8Array): EngineEvent {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const epoch = Number(v.getBigUint64(1));
  const count = b[9]!;
  const digests: { name: string; digest: Uint8Array }[] = [];
  let at = 10;
  for (let k = 0; k < count; k++) {
    const len = b[at++];
    if (len === undefined || at + len + 32 > b.length) throw new JournalError('executed event cut short');
    const name = new TextDecoder().decode(b.subarray(at, at + len));
    at += len;
    digests.push({ name, digest: b.slice(at, at + 32) });
    at += 32;
  }
  if (at !== b.length) throw new JournalError('executed event with trailing bytes');
  return { kind: 'executed', epoch, digests };
}

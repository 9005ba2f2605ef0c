/** The proposal format of atomic broadcast: a list of requests (u16 count, then u32-length-prefixed bytes). */
import { concatBytes, u16be, u32be } from '../crypto/bytes.ts';

export function encodeBatch(requests: readonly Uint8Array[]): Uint8Array {
  const parts: Uint8Array[] = [u16be(requests.length)];
  for (const r of requests) parts.push(u32be(r.length), r);
  return concatBytes(...parts);
}

/** Strict: returns null for anything but an exact encoding within the limits. */
export function decodeBatch(b: Uint8Array, maxCount: number, maxRequestBytes: number): Uint8Array[] | null {
  if (!(b instanceof Uint8Array) || b.length < 2) return null;
  const count = (b[0]! << 8) | b[1]!;
  if (count > maxCount) return null;
  const out: Uint8Array[] = [];
  let off = 2;
  for (let i = 0; i < count; i++) {
    if (off + 4 > b.length) return null;
    const len = ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
    off += 4;
    if (len > maxRequestBytes || off + len > b.length) return null;
    out.push(b.subarray(off, off + len));
    off += len;
  }
  return off === b.length ? out : null;
}

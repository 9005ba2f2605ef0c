/**
 * The proposal format of atomic broadcast (replica-internal; docs/protocols.md "Agreed time"): the
 * proposer's clock reading, then a list of requests.
 *
 *   u64 clock (milliseconds since 1970-01-01T00:00:00Z, at most 2^53 - 1) | u16 count | count x (u32 length | bytes)
 *
 * The clock is what the proposer's runtime said when it proposed; the epoch's agreed time is a function of
 * the readings in the agreed proposals (agreed-time.ts), so time enters the replicas only through the
 * protocol's input and every replica derives the same value.
 */
import { concatBytes, u16be, u32be } from '../crypto/bytes.ts';

/** Bytes before the requests: the clock and the count. */
export const PROPOSAL_HEADER_BYTES = 10;

function u64be(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n));
  return b;
}

/** `clock`: the proposer's reading in ms (a safe non-negative integer; 0 when it has none). */
export function encodeBatch(requests: readonly Uint8Array[], clock = 0): Uint8Array {
  if (!Number.isSafeInteger(clock) || clock < 0) throw new RangeError(`proposal clock ${clock} is not a non-negative safe integer`);
  const parts: Uint8Array[] = [u64be(clock), u16be(requests.length)];
  for (const r of requests) parts.push(u32be(r.length), r);
  return concatBytes(...parts);
}

export interface Proposal {
  /** The proposer's clock reading (ms). */
  readonly clock: number;
  readonly requests: Uint8Array[];
}

/** Strict: returns null for anything but an exact encoding within the limits (a clock past 2^53 - 1 too). */
export function decodeProposal(b: Uint8Array, maxCount: number, maxRequestBytes: number): Proposal | null {
  if (!(b instanceof Uint8Array) || b.length < PROPOSAL_HEADER_BYTES) return null;
  const clock = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0);
  if (clock > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  const count = (b[8]! << 8) | b[9]!;
  if (count > maxCount) return null;
  const out: Uint8Array[] = [];
  let off = PROPOSAL_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    if (off + 4 > b.length) return null;
    const len = ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
    off += 4;
    if (len > maxRequestBytes || off + len > b.length) return null;
    out.push(b.subarray(off, off + len));
    off += len;
  }
  return off === b.length ? { clock: Number(clock), requests: out } : null;
}

/** Whether a proposal's count says it orders a request (a look at the header, not a validation). */
export function proposesRequests(b: Uint8Array): boolean {
  return b.length >= PROPOSAL_HEADER_BYTES && (b[8]! | b[9]!) !== 0;
}

/** The requests of a proposal (decodeProposal without the clock). */
export function decodeBatch(b: Uint8Array, maxCount: number, maxRequestBytes: number): Uint8Array[] | null {
  return decodeProposal(b, maxCount, maxRequestBytes)?.requests ?? null;
}

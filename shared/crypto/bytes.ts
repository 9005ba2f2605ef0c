/** Byte helpers shared by every codec: strict hex, length-prefixed framing, big-endian integers. */
import { concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { fail } from './errors.ts';

export { concatBytes, utf8ToBytes };

const HEX = /^(?:[0-9a-f]{2})*$/;

/** HEX_CODES[2b], HEX_CODES[2b + 1]: the ASCII codes of byte b's two lower-case hex digits. */
const HEX_CODES = Uint8Array.from({ length: 512 }, (_, i) => '0123456789abcdef'.charCodeAt(i % 2 === 0 ? i >> 5 : (i >> 1) & 15));
const ASCII = new TextDecoder();
let hexScratch = new Uint8Array(64);

/**
 * Ids and keys are made per request on the hot path, and kept (request index, de-duplication window).
 * Why not `s += table[b]`: that builds a rope of 32 cons strings, which V8 keeps unflattened: about 325
 * bytes per kept 64-digit id instead of about 70 for the flat string TextDecoder makes (and half as fast).
 */
export function toHex(bytes: Uint8Array): string {
  if (hexScratch.length < 2 * bytes.length) hexScratch = new Uint8Array(2 * bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]! << 1;
    hexScratch[2 * i] = HEX_CODES[b]!;
    hexScratch[2 * i + 1] = HEX_CODES[b + 1]!;
  }
  return ASCII.decode(hexScratch.subarray(0, 2 * bytes.length));
}

const BASE64_CODES = new TextEncoder().encode('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/');
const PAD = 0x3d; // '='

/**
 * Standard base64 (RFC 4648 section 4, with padding). Why not btoa(String.fromCharCode(...chunk)): that
 * spreads 32 KiB argument lists and builds a binary string first; encoding a replica's snapshot that way
 * was 12% of a loaded Node replica's CPU. This writes ASCII codes and decodes them once (about 1 ns/byte).
 */
export function toBase64(bytes: Uint8Array): string {
  const n = bytes.length;
  const out = new Uint8Array(Math.ceil(n / 3) * 4);
  let o = 0;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out[o++] = BASE64_CODES[v >> 18]!;
    out[o++] = BASE64_CODES[(v >> 12) & 63]!;
    out[o++] = BASE64_CODES[(v >> 6) & 63]!;
    out[o++] = BASE64_CODES[v & 63]!;
  }
  if (i < n) {
    const v = (bytes[i]! << 16) | (i + 1 < n ? bytes[i + 1]! << 8 : 0);
    out[o++] = BASE64_CODES[v >> 18]!;
    out[o++] = BASE64_CODES[(v >> 12) & 63]!;
    out[o++] = i + 1 < n ? BASE64_CODES[(v >> 6) & 63]! : PAD;
    out[o++] = PAD;
  }
  return ASCII.decode(out);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Standard padded base64 (RFC 4648 section 4), strictly: anything else is null. */
export function fromBase64(s: string): Uint8Array | null {
  if (!BASE64.test(s)) return null;
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  // atob ignores the unused bits of the last character: refuse encodings that set them (two spellings).
  return toBase64(out) === s ? out : null;
}

/** Lower-case hex only: upper case would give one value two encodings. */
export function fromHex(hex: string, expectedLength?: number): Uint8Array {
  if (typeof hex !== 'string' || !HEX.test(hex)) fail('bad-encoding', 'expected lower-case hex with an even number of digits');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  if (expectedLength !== undefined && out.length !== expectedLength) {
    fail('bad-length', `expected ${expectedLength} bytes, got ${out.length}`);
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export function u32be(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) fail('bad-encoding', `not a u32: ${n}`);
  return new Uint8Array([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}

export function u16be(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) fail('bad-encoding', `not a u16: ${n}`);
  return new Uint8Array([(n >>> 8) & 0xff, n & 0xff]);
}

export function readU16(b: Uint8Array, off: number): number {
  if (off + 2 > b.length) fail('bad-length', 'truncated u16');
  return (b[off]! << 8) | b[off + 1]!;
}

/**
 * Unambiguous concatenation: each part is prefixed with its u32 length, so ("ab","c") and ("a","bc")
 * never frame to the same bytes. All hashed and signed messages are built with it.
 */
export function frame(...parts: (Uint8Array | string)[]): Uint8Array {
  const bufs: Uint8Array[] = [];
  for (const p of parts) {
    const b = typeof p === 'string' ? utf8ToBytes(p) : p;
    bufs.push(u32be(b.length), b);
  }
  return concatBytes(...bufs);
}

export function bigintToBytes(x: bigint, length: number): Uint8Array {
  if (x < 0n) fail('scalar-out-of-range', 'negative integer');
  const out = new Uint8Array(length);
  let v = x;
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  if (v !== 0n) fail('scalar-out-of-range', `integer does not fit in ${length} bytes`);
  return out;
}

export function bytesToBigint(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

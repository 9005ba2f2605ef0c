/**
 * SHA-256 (FIPS 180-4) for everything in shared/ that hashes protocol data: request ids, Merkle log
 * leaves and nodes, batch digests, state digests.
 *
 * Why a backend slot: noble's SHA-256 is portable JavaScript (about 4 us for a 250-byte request, 142 MB/s
 * on large inputs on the reference machine), and per-request hashing was a quarter of the CPU of an
 * in-process replica group under load (docs/benchmarks.md). Every runtime we deploy on has a native,
 * synchronous SHA-256 (node:crypto on Node and, with the nodejs_compat flag, in workerd): 1.6 us per
 * request and about 1.4 GB/s. shared/ may not import a runtime module, so an adapter hands the native
 * function in once at start-up with `installSha256`. The output is the same function of the input, so runs
 * stay deterministic and replayable whichever backend is installed; the install is refused unless the
 * candidate agrees with noble on the FIPS 180-4 examples and on inputs around every block boundary.
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { fail } from './errors.ts';

export type Sha256 = (data: Uint8Array) => Uint8Array;
export type HmacSha256 = (key: Uint8Array, data: Uint8Array) => Uint8Array;

const nobleHmac: HmacSha256 = (key, data) => hmac(nobleSha256, key, data);
let hmacBackend: HmacSha256 = nobleHmac;

/**
 * HMAC-SHA256 (RFC 2104) of `data` under `key`: the link layer's frame MAC (shared/link). Frames carry whole
 * batches (up to a megabyte); noble's HMAC was 3% of a loaded Node replica's CPU. Same backend rule as
 * sha256: an adapter installs the native one with installSha256's companion, installHmacSha256.
 */
export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  return hmacBackend(key, data);
}

let backend: Sha256 = nobleSha256;
let backendName = 'noble';

/** SHA-256 of `data` (32 bytes, a fresh plain Uint8Array the caller may keep or modify). */
export function sha256(data: Uint8Array): Uint8Array {
  return backend(data);
}

/** Which implementation `sha256` uses: 'noble' unless an adapter installed a native one. */
export function sha256Backend(): string {
  return backendName;
}

const FIPS_EXAMPLES: readonly (readonly [string, string])[] = [
  ['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
  ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
  [
    'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq',
    '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
  ],
];

/**
 * Use `candidate` for every later `sha256` call. Checked first: the FIPS 180-4 examples, and agreement with
 * noble on inputs of every length from 0 to 200 bytes (all padding cases) and on a 64 KiB input; a candidate
 * that disagrees anywhere, throws, or returns anything but 32 bytes is refused with a CryptoError and the
 * current backend stays. Returning a Node Buffer is fine: results are rewrapped as plain Uint8Arrays so
 * that equality checks and structured clones see the same type from every backend.
 */
export function installSha256(name: string, candidate: Sha256): void {
  const wrapped: Sha256 = (data) => {
    const out = candidate(data);
    if (out.constructor === Uint8Array && out.buffer.byteLength === out.length) return out;
    // A Buffer may be a view into a shared pool slab: copy, so that a kept hash does not keep the slab.
    return out.buffer.byteLength === out.length ? new Uint8Array(out.buffer) : new Uint8Array(out);
  };
  const text = new TextEncoder();
  const check = (input: Uint8Array, expected: Uint8Array, what: string): void => {
    let got: Uint8Array;
    try {
      got = wrapped(input);
    } catch (e) {
      fail('bad-encoding', `SHA-256 backend '${name}' threw on ${what}: ${(e as Error).message}`);
    }
    if (got.length !== 32 || !got.every((b, i) => b === expected[i])) {
      fail('bad-encoding', `SHA-256 backend '${name}' disagrees with FIPS 180-4 / noble on ${what}`);
    }
  };
  for (const [message, hex] of FIPS_EXAMPLES) {
    check(text.encode(message), Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16)), `"${message}"`);
  }
  const pattern = Uint8Array.from({ length: (1 << 16) + 1 }, (_, i) => (i * 131 + (i >> 8)) & 0xff);
  for (let len = 0; len <= 200; len++) {
    const input = pattern.subarray(len, 2 * len);
    check(input, nobleSha256(input), `${len} bytes`);
  }
  check(pattern, nobleSha256(pattern), '64 KiB + 1 bytes');
  backend = wrapped;
  backendName = name;
}

/**
 * Use `candidate` for every later `hmacSha256` call, after the RFC 4231 test cases 1, 2 and 6 (short,
 * "Jefe", and a key longer than a block) and agreement with noble on keys of 0-100 bytes and messages up
 * to 64 KiB; refused with a CryptoError otherwise (the current backend stays).
 */
export function installHmacSha256(name: string, candidate: HmacSha256): void {
  const hex = (h: string) => Uint8Array.from(h.match(/../g) ?? [], (x) => parseInt(x, 16));
  const text = new TextEncoder();
  const cases: [Uint8Array, Uint8Array, Uint8Array, string][] = [
    [new Uint8Array(20).fill(0x0b), text.encode('Hi There'), hex('b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7'), 'RFC 4231 case 1'],
    [text.encode('Jefe'), text.encode('what do ya want for nothing?'), hex('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'), 'RFC 4231 case 2'],
    [
      new Uint8Array(131).fill(0xaa),
      text.encode('Test Using Larger Than Block-Size Key - Hash Key First'),
      hex('60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54'),
      'RFC 4231 case 6',
    ],
  ];
  const pattern = Uint8Array.from({ length: (1 << 16) + 1 }, (_, i) => (i * 97 + (i >> 7)) & 0xff);
  for (let k = 0; k <= 100; k += 7) cases.push([pattern.subarray(k, 2 * k), pattern.subarray(3 * k, 5 * k), nobleHmac(pattern.subarray(k, 2 * k), pattern.subarray(3 * k, 5 * k)), `a ${k}-byte key`]);
  cases.push([pattern.subarray(0, 32), pattern, nobleHmac(pattern.subarray(0, 32), pattern), '64 KiB + 1 bytes']);
  for (const [key, data, expected, what] of cases) {
    let got: Uint8Array;
    try {
      got = candidate(key, data);
    } catch (e) {
      fail('bad-encoding', `HMAC-SHA256 backend '${name}' threw on ${what}: ${(e as Error).message}`);
    }
    if (got.length !== 32 || !got.every((b, i) => b === expected[i])) fail('bad-encoding', `HMAC-SHA256 backend '${name}' disagrees with RFC 4231 / noble on ${what}`);
  }
  hmacBackend = (key, data) => {
    const out = candidate(key, data);
    return out.constructor === Uint8Array && out.buffer.byteLength === out.length ? out : new Uint8Array(out);
  };
}

/** Back to noble (tests). */
export function resetSha256(): void {
  backend = nobleSha256;
  backendName = 'noble';
  hmacBackend = nobleHmac;
}

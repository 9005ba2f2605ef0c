/**
 * Integer arithmetic modulo an RSA modulus, on native bigints: modular exponentiation, inverses, the
 * extended Euclidean algorithm, and a Miller-Rabin primality check for the dealer's inputs. Used by
 * threshold RSA (threshold-rsa.ts) and plain RSA verification (rsa.ts); the BLS12-381 field has its own
 * arithmetic in curve.ts / field.ts.
 *
 * None of this is constant-time: V8's bigint operations take time that depends on their values, and the
 * sliding window below branches on exponent bits. That is the same exposure as the rest of shared/crypto
 * (noble's bigint field arithmetic): secret exponents must not be used where an attacker can time them
 * finely on the same hardware.
 */
import { sha256 } from './sha256.ts';
import { bigintToBytes, frame, u32be } from './bytes.ts';
import { fail } from './errors.ts';

export function bitLength(x: bigint): number {
  if (x < 0n) fail('scalar-out-of-range', 'bit length of a negative integer');
  return x === 0n ? 0 : x.toString(2).length;
}

export function byteLength(x: bigint): number {
  return Math.ceil(bitLength(x) / 8);
}

/** x mod m in [0, m), also for negative x. */
export function mod(x: bigint, m: bigint): bigint {
  const r = x % m;
  return r < 0n ? r + m : r;
}

/**
 * base^exponent mod modulus for exponent >= 0, modulus >= 1. Left-to-right sliding window over odd
 * powers: about bits squarings and bits / (w + 1) multiplications, against bits / 2 for plain
 * square-and-multiply; a threshold-RSA share exponent has about 2,060 bits for a 2048-bit key.
 */
export function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  if (modulus < 1n) fail('scalar-out-of-range', 'modulus must be positive');
  if (exponent < 0n) fail('scalar-out-of-range', 'negative exponent: invert the base first');
  if (modulus === 1n) return 0n;
  const b = mod(base, modulus);
  if (exponent === 0n) return 1n;
  const bits = exponent.toString(2);
  const w = bits.length > 768 ? 6 : bits.length > 240 ? 5 : bits.length > 80 ? 4 : bits.length > 24 ? 3 : 1;
  // odd[i] = b^(2i + 1)
  const odd: bigint[] = [b];
  if (w > 1) {
    const b2 = (b * b) % modulus;
    for (let i = 1; i < 1 << (w - 1); i++) odd.push((odd[i - 1]! * b2) % modulus);
  }
  let result = 1n;
  let started = false;
  let i = 0;
  while (i < bits.length) {
    if (bits[i] === '0') {
      result = (result * result) % modulus;
      i++;
      continue;
    }
    // The longest window bits[i..j] of at most w bits that ends in a 1.
    let j = Math.min(i + w, bits.length) - 1;
    while (bits[j] === '0') j--;
    let value = 0;
    for (let t = i; t <= j; t++) {
      if (started) result = (result * result) % modulus;
      value = (value << 1) | (bits[t] === '1' ? 1 : 0);
    }
    result = started ? (result * odd[(value - 1) >> 1]!) % modulus : odd[(value - 1) >> 1]!;
    started = true;
    i = j + 1;
  }
  return result;
}

/** [g, x, y] with a*x + b*y = g = gcd(a, b), for a, b >= 0. */
export function egcd(a: bigint, b: bigint): [bigint, bigint, bigint] {
  if (a < 0n || b < 0n) fail('scalar-out-of-range', 'egcd of a negative integer');
  let [r0, r1] = [a, b];
  let [x0, x1] = [1n, 0n];
  let [y0, y1] = [0n, 1n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [x0, x1] = [x1, x0 - q * x1];
    [y0, y1] = [y1, y0 - q * y1];
  }
  return [r0, x0, y0];
}

export function gcd(a: bigint, b: bigint): bigint {
  return egcd(a < 0n ? -a : a, b < 0n ? -b : b)[0];
}

/** The inverse of a modulo m, or null when gcd(a, m) != 1. */
export function modInverseOrNull(a: bigint, m: bigint): bigint | null {
  if (m < 2n) fail('scalar-out-of-range', 'inverse modulo a modulus below 2');
  const [g, x] = egcd(mod(a, m), m);
  return g === 1n ? mod(x, m) : null;
}

export function modInverse(a: bigint, m: bigint): bigint {
  return modInverseOrNull(a, m) ?? fail('scalar-out-of-range', 'not invertible modulo m');
}

const SMALL_PRIMES: readonly bigint[] = (() => {
  const out: bigint[] = [];
  for (let c = 2; c < 2000; c++) {
    let prime = true;
    for (const p of out) {
      if (p * p > BigInt(c)) break;
      if (BigInt(c) % p === 0n) {
        prime = false;
        break;
      }
    }
    if (prime) out.push(BigInt(c));
  }
  return out;
})();

/**
 * Miller-Rabin with `rounds` bases derived from the candidate by hashing: whoever picked a composite
 * candidate cannot choose the bases, so each try passes with probability at most 4^-rounds (a fixed base
 * list could be fooled by a crafted composite). Deterministic and consumes no caller randomness, so a
 * seeded dealing stays reproducible whatever it checks. Trial division by the primes below 2000 first.
 */
export function isProbablePrime(n: bigint, rounds = 40): boolean {
  if (n < 2n) return false;
  for (const p of SMALL_PRIMES) {
    if (n === p) return true;
    if (n % p === 0n) return false;
  }
  let d = n - 1n;
  let s = 0;
  while ((d & 1n) === 0n) {
    d >>= 1n;
    s++;
  }
  const len = byteLength(n);
  for (let round = 0; round < rounds; round++) {
    const h = sha256(frame('sintra-edge/v1/miller-rabin-base', bigintToBytes(n, len), u32be(round)));
    let seed = 0n;
    for (const byte of h) seed = (seed << 8n) | BigInt(byte);
    const a = 2n + (seed % (n - 3n)); // in [2, n - 2]
    let x = modPow(a, d, n);
    if (x === 1n || x === n - 1n) continue;
    let witness = true;
    for (let r = 1; r < s; r++) {
      x = (x * x) % n;
      if (x === n - 1n) {
        witness = false;
        break;
      }
    }
    if (witness) return false;
  }
  return true;
}

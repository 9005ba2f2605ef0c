/**
 * The dealer's threshold RSA inputs (`sintra deal --rsa`): safe primes from node:crypto (OpenSSL's
 * BN_generate_prime_ex with safe = 1: p and (p - 1) / 2 both prime), or read from a file (tests, or primes
 * made elsewhere); the certificates' validity from the options. The pure dealing (shared/config/deal.ts)
 * checks the primes again (Miller-Rabin on p, p', q, q') and does the rest.
 */
import { generatePrime } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { bitLength } from '../../shared/crypto/modular.ts';
import { DEALER_MIN_MODULUS_BITS } from '../../shared/crypto/threshold-rsa.ts';
import { RSA_MAX_MODULUS_BITS, RSA_MIN_MODULUS_BITS } from '../../shared/crypto/rsa.ts';
import { DealerError } from './output.ts';

export const DEFAULT_RSA_BITS = DEALER_MIN_MODULUS_BITS;
export const DEFAULT_CERT_YEARS = 10;
/** How often a still-running prime search says so on stderr. */
const STILL_EVERY_MS = 10_000;

export interface SafePrimes {
  readonly p: bigint;
  readonly q: bigint;
}

/** Modulus sizes the dealer accepts: even, 2048-8192 (from 1024 for test keys). */
export function checkModulusBits(bits: number, testOnly: boolean): void {
  const floor = testOnly ? RSA_MIN_MODULUS_BITS : DEALER_MIN_MODULUS_BITS;
  if (!Number.isInteger(bits) || bits % 2 !== 0 || bits < floor || bits > RSA_MAX_MODULUS_BITS) {
    throw new DealerError(`--rsa-bits: an even number of bits from ${floor} to ${RSA_MAX_MODULUS_BITS}${testOnly ? '' : ` (${RSA_MIN_MODULUS_BITS} only for test keys, with --seed)`}, got ${bits}`);
  }
}

function safePrime(bits: number): Promise<bigint> {
  return new Promise((resolve, reject) => {
    generatePrime(bits, { safe: true, bigint: true }, (err, prime) => (err ? reject(err) : resolve(prime)));
  });
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/**
 * Two different safe primes of bits / 2 bits whose product has exactly `bits` bits, found in parallel on
 * libuv's thread pool (the event loop stays free for the progress lines).
 */
export async function generateSafePrimes(bits: number, progress: (message: string) => void): Promise<SafePrimes & { ms: number }> {
  const half = bits / 2;
  const started = Date.now();
  progress(`threshold RSA key: generating two ${half}-bit safe primes for a ${bits}-bit modulus with node:crypto (seconds for 2048 bits, minutes for 4096)`);
  let found = 0;
  const timer = setInterval(() => progress(`threshold RSA key: still generating safe primes (${seconds(Date.now() - started)}, ${found} of 2 found)`), STILL_EVERY_MS);
  timer.unref?.();
  const one = async (): Promise<bigint> => {
    const t0 = Date.now();
    const prime = await safePrime(half);
    found++;
    progress(`threshold RSA key: safe prime ${found} of 2 (${half} bits) in ${seconds(Date.now() - t0)}`);
    return prime;
  };
  try {
    let [p, q] = await Promise.all([one(), one()]);
    // OpenSSL sets the two top bits, so n has exactly `bits` bits; check rather than assume.
    while (p === q || bitLength(p * q) !== bits) q = await one();
    return { p, q, ms: Date.now() - started };
  } finally {
    clearInterval(timer);
  }
}

/** `--rsa-primes FILE`: {"p": hex, "q": hex}, lower-case hex without 0x. The file holds the whole private key. */
export async function loadSafePrimes(file: string): Promise<SafePrimes> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DealerError(`--rsa-primes ${file}: ${code ?? (e instanceof SyntaxError ? `invalid JSON: ${e.message}` : (e as Error).message)}`);
  }
  const o = raw as Record<string, unknown>;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || Object.keys(o).sort().join() !== 'p,q') {
    throw new DealerError(`--rsa-primes ${file}: expected {"p": "<hex>", "q": "<hex>"} and nothing else`);
  }
  const prime = (name: 'p' | 'q'): bigint => {
    const x = o[name];
    if (typeof x !== 'string' || !/^[0-9a-f]+$/.test(x)) throw new DealerError(`--rsa-primes ${file}: ${name} must be lower-case hex`);
    return BigInt(`0x${x}`);
  };
  return { p: prime('p'), q: prime('q') };
}

/** notAfter: `years` calendar years after notBefore (UTC; 29 February goes to 1 March). */
export function certificateValidity(start: Date, years: number): { notBefore: Date; notAfter: Date } {
  const notBefore = new Date(Math.floor(start.getTime() / 1000) * 1000);
  const notAfter = new Date(notBefore.getTime());
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + years);
  return { notBefore, notAfter };
}

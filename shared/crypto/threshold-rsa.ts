/**
 * Threshold RSA signatures: V. Shoup, "Practical Threshold Signatures", EUROCRYPT 2000 (LNCS 1807,
 * pp. 207-220), the scheme of section 3 ("protocol 1"), with a trusted dealer. Any k of the l players
 * produce a standard RSASSA-PKCS1-v1_5 signature with SHA-256 (RFC 8017 section 8.2) that every RSA
 * library verifies with (n, e) alone; fewer than k cannot; shares are non-interactive and carry a proof of
 * correctness, so bad shares are detected and their signers named.
 *
 * Notation (the paper's). n = pq with safe primes p = 2p' + 1, q = 2q' + 1; m = p'q'; Q_n the squares of
 * Z_n^* (cyclic of order m); Delta = l!; L(n) the bit length of n; L1 = 128 the challenge length.
 *   dealer (3.1):      e prime > l, d = e^-1 mod m; f a random polynomial over Z_m of degree k - 1 with
 *                      f(0) = d; s_i = f(i); v a random generator of Q_n; v_i = v^s_i.
 *   share (3.3):       x = the message representative; x_i = x^(2 Delta s_i), with a proof that
 *                      log_v(v_i) = log_x~(x_i^2), x~ = x^(4 Delta): r random of L(n) + 2 L1 bits,
 *                      c = H'(v, x~, v_i, x_i^2, v^r, x~^r), z = s_i c + r; the proof is (z, c).
 *   verify (3.3):      c == H'(v, x~, v_i, x_i^2, v^z v_i^-c, x~^z x_i^-2c).
 *   combine (3.4):     for a set S of k valid shares, lambda_j = Delta * prod_{j' in S, j' != j} j' / (j' - j)
 *                      (an integer, 3.2); w = prod x_j^(2 lambda_j), so w^e = x^e' with e' = 4 Delta^2;
 *                      e' a + e b = 1 (gcd 1 because e is a prime > l); y = w^a x^b, the e-th root of x.
 *
 * Choices here:
 *  - x is OS2IP(EMSA-PKCS1-v1_5-ENCODE(SHA-256 digest)) (rsa.ts), not the paper's full-domain hash, so
 *    the result is an ordinary PKCS #1 v1.5 signature (X.509, CMS, RFC 3161 take those). The paper's
 *    argument simulates the corrupted players' view (every share and proof) from the signatures alone,
 *    with H' a random oracle; with this deterministic encoding in place of the full-domain hash,
 *    unforgeability rests on RSASSA-PKCS1-v1_5 itself, as for any ordinary signature under the key.
 *  - H' is the first 16 bytes of SHA-256 over a framed, domain-separated input that also binds n
 *    (docs/formats.md section 16); L1 = 128.
 *  - Players are the replicas 0..l-1 (`signer`, as everywhere in shared/crypto); the paper's index is
 *    i = signer + 1. The kernel of a threshold structure (t + 1 of n) gives k = t + 1, the case the
 *    paper's protocol 1 is analysed for. General adversary structures are refused: the scheme is Shamir
 *    sharing over Z_m (m secret) made to work with the integers Delta * lambda; a general structure would
 *    need a linear integer secret-sharing scheme (e.g. Damgard-Thorbek 2006), which is not implemented.
 *  - Combination is optimistic like threshold-bls.ts: combine k shares, check y^e = x (17 squarings), and
 *    only when that fails verify every proof, drop the invalid shares, name their signers and combine again.
 *    A share whose x_i is right but whose proof is not does no harm and is named only with `checkAll`.
 *  - x_i enters the combination squared, so x_i and -x_i (or x_i times any element of order 2) are both
 *    valid: the proof is about x_i^2 (paper, 3.3). The share encoding keeps the x_i the signer sent.
 *  - Randomness (the polynomial, v, and r) comes from the caller (random.ts); nothing else is random.
 *  - The dealer may sign with the whole key while it deals (its certificates: shared/crypto/x509.ts), through
 *    a signing function handed to a callback and dead once the callback returns; d is never returned.
 */
import { sha256 } from './sha256.ts';
import { bytesToBigint, concatBytes, frame, readU16, u16be } from './bytes.ts';
import { CryptoError } from './errors.ts';
import type { CryptoErrorCode } from './errors.ts';
import { bitLength, byteLength, egcd, isProbablePrime, mod, modInverse, modInverseOrNull, modPow } from './modular.ts';
import type { RandomBytes } from './random.ts';
import { RSA_MAX_MODULUS_BITS, RSA_MIN_MODULUS_BITS, SHA256_BYTES, i2osp, pkcs1v15Representative, pssRepresentative } from './rsa.ts';
import type { RsaPublicKey } from './rsa.ts';
import type { StructureDescription } from '../quorum/quorum-system.ts';

/** Every refusal of this module; a CryptoError, so callers that switch on `code` need nothing new. */
export class ThresholdRsaError extends CryptoError {
  override readonly name: string = 'ThresholdRsaError';
}

function refuse(code: CryptoErrorCode, message: string): never {
  throw new ThresholdRsaError(code, message);
}

/** L1, the bit length of the challenge c (the paper's secondary security parameter). */
export const CHALLENGE_BITS = 128;
const CHALLENGE_BYTES = CHALLENGE_BITS / 8;
export const PROOF_DOMAIN = 'sintra-edge/v1/threshold-rsa/proof';
export const DEFAULT_PUBLIC_EXPONENT = 65537n;
/** The dealer's floor for real keys; `testOnly` dealings may use RSA_MIN_MODULUS_BITS (1024). */
export const DEALER_MIN_MODULUS_BITS = 2048;
/**
 * Delta = l! adds log2(l!) bits to every share exponent 2 Delta s_i: 1,684 bits at l = 255, which nearly
 * doubles the cost of a share for a 2048-bit key; groups are far smaller. Also the u16 of the share wire form.
 */
export const MAX_PLAYERS = 255;

export interface ThresholdRsaPublicKey extends RsaPublicKey {
  /** l, the number of players (replicas). */
  readonly players: number;
  /** k, the number of valid shares that make a signature. */
  readonly threshold: number;
  /** v, a generator of Q_n. */
  readonly v: bigint;
  /** v_i = v^s_i, by signer (the paper's player i = signer + 1). */
  readonly verificationKeys: readonly bigint[];
}

export interface ThresholdRsaKeyShare {
  readonly signer: number;
  /** s_i = f(signer + 1) mod m. */
  readonly s: bigint;
}

export interface ThresholdRsaSignatureShare {
  readonly signer: number;
  /** x_i = x^(2 Delta s_i) mod n. */
  readonly xi: bigint;
  /** The proof of correctness (z, c). */
  readonly c: bigint;
  readonly z: bigint;
}

export interface ThresholdRsaSignature {
  /** RSASSA-PKCS1-v1_5: I2OSP(y, length of n in bytes). */
  readonly signature: Uint8Array;
  /** Signers whose shares were invalid (all of them with `checkAll`, else those found after a failed combination). */
  readonly faulty: readonly number[];
}

/**
 * RSASSA-PKCS1-v1_5 with SHA-256 under the whole key, on a message's digest: the same bytes k shares
 * combine to. Only valid inside the callback of dealThresholdRsa.
 */
export type DealerSign = (digest: Uint8Array) => Uint8Array;

export interface ThresholdRsaDealing {
  readonly publicKey: ThresholdRsaPublicKey;
  /** One per signer, in signer order. */
  readonly shares: readonly ThresholdRsaKeyShare[];
}

/** k of l given directly, or the group's structure (its kernel, t + 1 of n). */
export type ThresholdRsaGroup = { readonly players: number; readonly threshold: number } | StructureDescription;

export interface ThresholdRsaDealingInput {
  /** Safe primes p = 2p' + 1 and q = 2q' + 1 of the same bit length (generated by the caller). */
  readonly p: bigint;
  readonly q: bigint;
  readonly group: ThresholdRsaGroup;
  /** A prime > l; 65537 unless given. */
  readonly e?: bigint;
  /** Allows moduli from 1024 bits (tests); real keys need DEALER_MIN_MODULUS_BITS. */
  readonly testOnly?: boolean;
}

const isIndex = (x: unknown, below: number): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < below;

/**
 * k and l for a group, or a ThresholdRsaError: the dealer calls this before anything else, so a group with
 * a general adversary structure learns at dealing time that it cannot have a threshold RSA key.
 */
export function thresholdRsaParameters(group: ThresholdRsaGroup): { players: number; threshold: number } {
  if (typeof group !== 'object' || group === null) refuse('invalid-structure', 'threshold RSA: no group given');
  let players: unknown;
  let threshold: unknown;
  if ('type' in group) {
    if (group.type === 'general') {
      refuse('invalid-structure', "threshold RSA supports threshold structures only (k of n); this group's structure is general");
    }
    if (group.type !== 'threshold') refuse('invalid-structure', `threshold RSA: unknown structure type ${String((group as { type: unknown }).type)}`);
    if (!isIndex(group.t, Number.MAX_SAFE_INTEGER)) refuse('invalid-structure', 'threshold RSA: t must be a non-negative integer');
    players = group.n;
    threshold = group.t + 1;
  } else {
    players = group.players;
    threshold = group.threshold;
  }
  if (!isIndex(players, MAX_PLAYERS + 1) || players < 1) refuse('invalid-structure', `threshold RSA: the number of players must be an integer in 1..${MAX_PLAYERS}`);
  if (!isIndex(threshold, players + 1) || threshold < 1) refuse('invalid-structure', `threshold RSA: the threshold must be an integer in 1..${players} (the number of players)`);
  return { players, threshold };
}

function factorial(l: number): bigint {
  let f = 1n;
  for (let i = 2n; i <= BigInt(l); i++) f *= i;
  return f;
}

/** Uniform in [0, bound) up to a bias below 2^-256: 32 bytes more than the bound, reduced. */
function randomBelow(bound: bigint, rng: RandomBytes): bigint {
  return bytesToBigint(rng(byteLength(bound) + 32)) % bound;
}

/**
 * The dealer of section 3.1. A pure function of its inputs: the same primes, group, exponent and random
 * stream give the same key. Checks that p, p', q, q' are prime (Miller-Rabin, modular.ts), that e is a
 * prime > l and prime to m, and the modulus size; d and m are not returned.
 *
 * `withWholeKey`, if given, runs once the key is dealt, with a DealerSign under the whole key and the
 * public key: the dealer's one chance to sign (its root CA and TSA certificates) before it forgets the key.
 * The signing function refuses once the callback has returned.
 */
export function dealThresholdRsa(
  input: ThresholdRsaDealingInput,
  rng: RandomBytes,
  withWholeKey?: (sign: DealerSign, publicKey: ThresholdRsaPublicKey) => void,
): ThresholdRsaDealing {
  if (typeof input !== 'object' || input === null) refuse('bad-encoding', 'threshold RSA dealing: no input');
  if (typeof rng !== 'function') refuse('bad-encoding', 'threshold RSA dealing: rng must be a RandomBytes function');
  const { players: l, threshold: k } = thresholdRsaParameters(input.group);
  const { p, q } = input;
  const e = input.e ?? DEFAULT_PUBLIC_EXPONENT;
  if (typeof p !== 'bigint' || typeof q !== 'bigint' || typeof e !== 'bigint') refuse('bad-encoding', 'threshold RSA dealing: p, q and e must be bigints');
  if (p < 5n || q < 5n || p === q) refuse('scalar-out-of-range', 'threshold RSA dealing: p and q must be two different primes');
  if (bitLength(p) !== bitLength(q)) refuse('bad-length', `threshold RSA dealing: p and q must have the same bit length (${bitLength(p)} and ${bitLength(q)})`);
  const n = p * q;
  const bits = bitLength(n);
  const floor = input.testOnly === true ? RSA_MIN_MODULUS_BITS : DEALER_MIN_MODULUS_BITS;
  if (bits < floor || bits > RSA_MAX_MODULUS_BITS) {
    refuse('bad-length', `threshold RSA dealing: the modulus has ${bits} bits; accepted: ${floor}-${RSA_MAX_MODULUS_BITS}${input.testOnly ? '' : ' (1024 with testOnly)'}`);
  }
  const pp = (p - 1n) >> 1n;
  const qq = (q - 1n) >> 1n;
  for (const [name, prime, half] of [['p', p, pp], ['q', q, qq]] as const) {
    // Both halves matter: with p' composite, Q_n is not cyclic of order p'q' and the proof loses soundness.
    if ((prime & 1n) === 0n || !isProbablePrime(prime) || !isProbablePrime(half)) refuse('scalar-out-of-range', `threshold RSA dealing: ${name} is not a safe prime (${name} = 2${name}' + 1 with ${name} and ${name}' prime)`);
  }
  if (e <= BigInt(l) || !isProbablePrime(e)) refuse('scalar-out-of-range', `threshold RSA dealing: e must be a prime greater than the number of players (${l})`);
  if (e === pp || e === qq || e >= n) refuse('scalar-out-of-range', 'threshold RSA dealing: e must be prime to m = p\'q\' and below n');
  const m = pp * qq;
  const d = modInverse(e, m);

  // f(X) = d + a_1 X + ... + a_{k-1} X^{k-1} over Z_m; s_i = f(i) for i = 1..l (Horner).
  const coeffs = [d];
  for (let j = 1; j < k; j++) coeffs.push(randomBelow(m, rng));
  const shares: ThresholdRsaKeyShare[] = [];
  for (let signer = 0; signer < l; signer++) {
    const i = BigInt(signer + 1);
    let s = 0n;
    for (let j = coeffs.length - 1; j >= 0; j--) s = (s * i + coeffs[j]!) % m;
    shares.push({ signer, s });
  }

  // v = u^2 for a random unit u, kept only if it generates Q_n (order m: neither v^p' nor v^q' is 1);
  // a random square fails that with probability about 1/p' + 1/q'.
  let v: bigint;
  for (;;) {
    const u = randomBelow(n, rng);
    if (modInverseOrNull(u, n) === null) continue;
    v = (u * u) % n;
    if (modPow(v, pp, n) !== 1n && modPow(v, qq, n) !== 1n) break;
  }
  const verificationKeys = shares.map((sh) => modPow(v, sh.s, n));
  const publicKey: ThresholdRsaPublicKey = { n, e, players: l, threshold: k, v, verificationKeys };
  if (withWholeKey !== undefined) {
    if (typeof withWholeKey !== 'function') refuse('bad-encoding', 'threshold RSA dealing: withWholeKey must be a function');
    // The ordinary private exponent: e^-1 modulo lambda(n) = lcm(2p', 2q') = 2m (d above is only right on Q_n).
    const wholeD = modInverse(e, 2n * m);
    let open = true;
    const sign: DealerSign = (digest) => {
      if (!open) refuse('not-qualified', "threshold RSA: the dealer's whole key is gone; it signs only inside the dealing's callback");
      if (!(digest instanceof Uint8Array) || digest.length !== SHA256_BYTES) refuse('bad-length', `threshold RSA: the message digest must be a ${SHA256_BYTES}-byte SHA-256 digest (a Uint8Array)`);
      const x = pkcs1v15Representative(n, digest);
      const y = modPow(x, wholeD, n);
      if (modPow(y, e, n) !== x) refuse('invalid-share', 'threshold RSA: the whole-key signature does not verify'); // cannot happen
      return i2osp(y, byteLength(n));
    };
    try {
      withWholeKey(sign, publicKey);
    } finally {
      open = false;
    }
  }
  return { publicKey, shares };
}

/** Structural checks of a public key (sizes, ranges, e a prime > l); throws a ThresholdRsaError. */
export function checkThresholdRsaPublicKey(pk: ThresholdRsaPublicKey): void {
  if (typeof pk !== 'object' || pk === null) refuse('bad-encoding', 'threshold RSA public key: not an object');
  const { n, e, v, verificationKeys } = pk;
  if (typeof n !== 'bigint' || typeof e !== 'bigint' || typeof v !== 'bigint') refuse('bad-encoding', 'threshold RSA public key: n, e and v must be bigints');
  const bits = n > 0n ? bitLength(n) : 0;
  if (bits < RSA_MIN_MODULUS_BITS || bits > RSA_MAX_MODULUS_BITS) refuse('bad-length', `threshold RSA public key: the modulus has ${bits} bits; accepted: ${RSA_MIN_MODULUS_BITS}-${RSA_MAX_MODULUS_BITS}`);
  if ((n & 1n) === 0n) refuse('scalar-out-of-range', 'threshold RSA public key: the modulus is even');
  const { players } = thresholdRsaParameters(pk);
  if (e <= BigInt(players) || e >= n || !isProbablePrime(e)) refuse('scalar-out-of-range', `threshold RSA public key: e must be a prime greater than the number of players (${players}) and below n`);
  if (v <= 1n || v >= n - 1n) refuse('scalar-out-of-range', 'threshold RSA public key: v must be in 2..n-2');
  if (!Array.isArray(verificationKeys) || verificationKeys.length !== players) refuse('bad-length', `threshold RSA public key: expected ${players} verification keys`);
  for (const vi of verificationKeys) {
    if (typeof vi !== 'bigint' || vi <= 0n || vi >= n) refuse('scalar-out-of-range', 'threshold RSA public key: every verification key must be a bigint in 1..n-1');
  }
}

/** The key share's structure, and that v^s_i is its verification key (one exponentiation; at load time). */
export function checkKeyShare(pk: ThresholdRsaPublicKey, key: ThresholdRsaKeyShare): boolean {
  checkThresholdRsaPublicKey(pk);
  if (typeof key !== 'object' || key === null || !isIndex(key.signer, pk.players) || typeof key.s !== 'bigint' || key.s < 0n || key.s >= pk.n) return false;
  return modPow(pk.v, key.s, pk.n) === pk.verificationKeys[key.signer];
}

/**
 * How a SHA-256 digest becomes the message representative x: EMSA-PKCS1-v1_5 (the default), or EMSA-PSS
 * with `pssSalt` (RFC 8017 section 9.1; every signer must be given the same salt, so the caller derives it
 * from what they all know). The combined signature is then RSASSA-PSS instead of RSASSA-PKCS1-v1_5.
 */
export interface RsaEncoding {
  readonly pssSalt?: Uint8Array;
}

/** x for a SHA-256 digest, and x~ = x^(4 Delta). */
interface MessageContext {
  readonly x: bigint;
  readonly xTilde: bigint;
  readonly delta: bigint;
}

function messageContext(pk: ThresholdRsaPublicKey, digest: Uint8Array, encoding: RsaEncoding = {}): MessageContext {
  if (!(digest instanceof Uint8Array) || digest.length !== SHA256_BYTES) refuse('bad-length', `threshold RSA: the message digest must be a ${SHA256_BYTES}-byte SHA-256 digest (a Uint8Array)`);
  const x = encoding.pssSalt === undefined ? pkcs1v15Representative(pk.n, digest) : pssRepresentative(pk.n, digest, encoding.pssSalt);
  const delta = factorial(pk.players);
  return { x, xTilde: modPow(x, 4n * delta, pk.n), delta };
}

/** The bit length of z = s_i c + r: r < 2^(L(n) + 2 L1) and s_i c < m 2^L1 < 2^(L(n) + L1 - 2), so z < 2^(L(n) + 2 L1 + 1). */
function zBits(n: bigint): number {
  return bitLength(n) + 2 * CHALLENGE_BITS + 1;
}

/**
 * c = the first 16 bytes of SHA-256(frame(PROOF_DOMAIN, n, v, x~, v_i, x_i^2, v', x')), every integer as
 * I2OSP to the length of n: the paper's H'(v, x~, v_i, x_i^2, v^r, x~^r), bound to the key.
 */
function challenge(pk: ThresholdRsaPublicKey, xTilde: bigint, vi: bigint, xi2: bigint, vPrime: bigint, xPrime: bigint): bigint {
  const len = byteLength(pk.n);
  const ints = [pk.n, pk.v, xTilde, vi, xi2, vPrime, xPrime].map((a) => i2osp(a, len));
  return bytesToBigint(sha256(frame(PROOF_DOMAIN, ...ints)).subarray(0, CHALLENGE_BYTES));
}

/**
 * Signer `key.signer`'s share of the signature on `digest` (SHA-256 of the message), with its proof of
 * correctness (section 3.3). `rng` gives r (L(n) + 2 L1 bits).
 */
export function signShare(pk: ThresholdRsaPublicKey, key: ThresholdRsaKeyShare, digest: Uint8Array, rng: RandomBytes, encoding?: RsaEncoding): ThresholdRsaSignatureShare {
  checkThresholdRsaPublicKey(pk);
  if (typeof key !== 'object' || key === null || !isIndex(key.signer, pk.players)) refuse('index-out-of-range', `threshold RSA key share: signer must be an integer in 0..${pk.players - 1}`);
  if (typeof key.s !== 'bigint' || key.s < 0n || key.s >= pk.n) refuse('scalar-out-of-range', 'threshold RSA key share: s must be a bigint in 0..n-1');
  if (typeof rng !== 'function') refuse('bad-encoding', 'threshold RSA: rng must be a RandomBytes function');
  const { n } = pk;
  const ctx = messageContext(pk, digest, encoding);
  const xi = modPow(ctx.x, 2n * ctx.delta * key.s, n);
  const rBits = bitLength(n) + 2 * CHALLENGE_BITS;
  const rBytes = rng(Math.ceil(rBits / 8));
  if (!(rBytes instanceof Uint8Array) || rBytes.length !== Math.ceil(rBits / 8)) refuse('bad-length', 'threshold RSA: rng returned the wrong number of bytes');
  const r = bytesToBigint(rBytes) & ((1n << BigInt(rBits)) - 1n);
  const c = challenge(pk, ctx.xTilde, pk.verificationKeys[key.signer]!, (xi * xi) % n, modPow(pk.v, r, n), modPow(ctx.xTilde, r, n));
  return { signer: key.signer, xi, c, z: key.s * c + r };
}

function shareShapeOk(pk: ThresholdRsaPublicKey, s: ThresholdRsaSignatureShare): boolean {
  if (typeof s !== 'object' || s === null || !isIndex(s.signer, pk.players)) return false;
  const { xi, c, z } = s;
  if (typeof xi !== 'bigint' || typeof c !== 'bigint' || typeof z !== 'bigint') return false;
  return xi > 0n && xi < pk.n && c >= 0n && c < 1n << BigInt(CHALLENGE_BITS) && z >= 0n && z < 1n << BigInt(zBits(pk.n));
}

function verifyWithContext(pk: ThresholdRsaPublicKey, ctx: MessageContext, s: ThresholdRsaSignatureShare): boolean {
  if (!shareShapeOk(pk, s)) return false;
  const { n } = pk;
  const vi = pk.verificationKeys[s.signer]!;
  const xi2 = (s.xi * s.xi) % n;
  const viInv = modInverseOrNull(vi, n);
  const xi2Inv = modInverseOrNull(xi2, n);
  if (viInv === null || xi2Inv === null) return false;
  const vPrime = (modPow(pk.v, s.z, n) * modPow(viInv, s.c, n)) % n;
  const xPrime = (modPow(ctx.xTilde, s.z, n) * modPow(xi2Inv, s.c, n)) % n;
  return challenge(pk, ctx.xTilde, vi, xi2, vPrime, xPrime) === s.c;
}

/**
 * Checks one share's proof of correctness for `digest` (section 3.3). False, never an exception, for a
 * share that is malformed, from a signer outside 0..l-1, or whose proof fails; throws only for a bad
 * public key or digest (the caller's own inputs).
 */
export function verifyShare(pk: ThresholdRsaPublicKey, digest: Uint8Array, share: ThresholdRsaSignatureShare, encoding?: RsaEncoding): boolean {
  checkThresholdRsaPublicKey(pk);
  const ctx = messageContext(pk, digest, encoding);
  return verifyWithContext(pk, ctx, share);
}

/** lambda^S_{0,j} = Delta * prod_{j' in S \ {j}} (0 - j') / (j - j'), an integer (section 3.2). */
function lagrangeTimesDelta(delta: bigint, points: readonly bigint[], j: bigint): bigint {
  let num = delta;
  let den = 1n;
  for (const jj of points) {
    if (jj === j) continue;
    num *= -jj;
    den *= j - jj;
  }
  if (num % den !== 0n) refuse('invalid-structure', 'threshold RSA: a Lagrange coefficient times Delta is not an integer'); // cannot happen for points in 1..l
  return num / den;
}

/** y = w^a x^b from exactly k shares (section 3.4), or null when some x_i is not a unit. */
function combineExactly(pk: ThresholdRsaPublicKey, ctx: MessageContext, shares: readonly ThresholdRsaSignatureShare[]): bigint | null {
  const { n, e } = pk;
  const points = shares.map((s) => BigInt(s.signer + 1));
  let w = 1n;
  for (let idx = 0; idx < shares.length; idx++) {
    const lambda = lagrangeTimesDelta(ctx.delta, points, points[idx]!);
    let base = shares[idx]!.xi;
    if (lambda < 0n) {
      const inv = modInverseOrNull(base, n);
      if (inv === null) return null;
      base = inv;
    }
    w = (w * modPow(base, 2n * (lambda < 0n ? -lambda : lambda), n)) % n;
  }
  // e' a + e b = 1 with 0 <= a < e, so b <= 0 and x^b = (x^-1)^|b|.
  const ePrime = 4n * ctx.delta * ctx.delta;
  const [g, a0] = egcd(ePrime, e);
  if (g !== 1n) refuse('scalar-out-of-range', 'threshold RSA: e is not prime to 4 Delta^2'); // excluded by e prime > l
  const a = mod(a0, e);
  const b = (1n - ePrime * a) / e;
  const xInv = modInverseOrNull(ctx.x, n);
  if (xInv === null) refuse('scalar-out-of-range', 'threshold RSA: the message representative is not a unit modulo n');
  return (modPow(w, a, n) * modPow(xInv, -b, n)) % n;
}

function sameShare(a: ThresholdRsaSignatureShare, b: ThresholdRsaSignatureShare): boolean {
  return a.xi === b.xi && a.c === b.c && a.z === b.z;
}

/**
 * Any k valid shares of the signature on `digest` into the RSASSA-PKCS1-v1_5 signature (section 3.4),
 * robustly: see the module comment. Malformed shares and shares of signers outside 0..l-1 are ignored
 * (the former named faulty); of two different shares from one signer the valid one is kept. Throws a
 * ThresholdRsaError 'not-qualified' when fewer than k valid shares remain.
 */
export function combineShares(
  pk: ThresholdRsaPublicKey,
  digest: Uint8Array,
  shares: readonly ThresholdRsaSignatureShare[],
  opts: { readonly checkAll?: boolean; readonly encoding?: RsaEncoding } = {},
): ThresholdRsaSignature {
  checkThresholdRsaPublicKey(pk);
  const ctx = messageContext(pk, digest, opts.encoding);
  if (!Array.isArray(shares)) refuse('bad-encoding', 'threshold RSA: shares must be an array');
  const k = pk.threshold;
  const faulty = new Set<number>();
  const bySigner = new Map<number, ThresholdRsaSignatureShare>();
  for (const s of shares) {
    if (!shareShapeOk(pk, s)) {
      const signer = (s as { signer?: unknown } | null)?.signer;
      if (isIndex(signer, pk.players)) faulty.add(signer);
      continue;
    }
    const prev = bySigner.get(s.signer);
    if (prev && !sameShare(prev, s)) {
      if (!verifyWithContext(pk, ctx, prev)) bySigner.set(s.signer, s);
      continue;
    }
    bySigner.set(s.signer, s);
  }
  const notQualified = (): never =>
    refuse(
      'not-qualified',
      `threshold RSA needs ${k} valid signature shares; got ${bySigner.size} (signers [${[...bySigner.keys()].sort((a, b) => a - b).join(',')}]; faulty: [${[...faulty].sort((a, b) => a - b).join(',')}])`,
    );
  const dropInvalid = () => {
    for (const [signer, s] of [...bySigner]) {
      if (!verifyWithContext(pk, ctx, s)) {
        bySigner.delete(signer);
        faulty.add(signer);
      }
    }
  };
  const firstK = () => [...bySigner.values()].sort((a, b) => a.signer - b.signer).slice(0, k);
  const isSignature = (y: bigint | null): y is bigint => y !== null && modPow(y, pk.e, pk.n) === ctx.x;
  const done = (y: bigint): ThresholdRsaSignature => ({ signature: i2osp(y, byteLength(pk.n)), faulty: [...faulty].sort((a, b) => a - b) });

  if (opts.checkAll === true) dropInvalid();
  if (bySigner.size < k) notQualified();
  const y = combineExactly(pk, ctx, firstK());
  if (isSignature(y)) return done(y);
  if (opts.checkAll === true) refuse('invalid-share', 'threshold RSA: shares that pass their proofs do not combine to a signature (the public key does not match the dealing)');
  dropInvalid();
  if (bySigner.size < k) notQualified();
  const y2 = combineExactly(pk, ctx, firstK());
  if (!isSignature(y2)) refuse('invalid-share', 'threshold RSA: shares that pass their proofs do not combine to a signature (the public key does not match the dealing)');
  return done(y2);
}

/** Bytes of a share's wire form: u16 signer, x_i (length of n), c (16), z (ceil((L(n) + 2 L1 + 1) / 8)). */
export function signatureShareBytes(pk: ThresholdRsaPublicKey): number {
  return 2 + byteLength(pk.n) + CHALLENGE_BYTES + Math.ceil(zBits(pk.n) / 8);
}

export function encodeSignatureShare(pk: ThresholdRsaPublicKey, s: ThresholdRsaSignatureShare): Uint8Array {
  checkThresholdRsaPublicKey(pk);
  if (!shareShapeOk(pk, s)) refuse('bad-encoding', 'threshold RSA signature share: out of range, cannot encode');
  return concatBytes(u16be(s.signer), i2osp(s.xi, byteLength(pk.n)), i2osp(s.c, CHALLENGE_BYTES), i2osp(s.z, Math.ceil(zBits(pk.n) / 8)));
}

/** Strict: exact length, signer < l, 0 < x_i < n, z < 2^(L(n) + 2 L1 + 1). The proof is not checked here. */
export function decodeSignatureShare(pk: ThresholdRsaPublicKey, b: Uint8Array): ThresholdRsaSignatureShare {
  checkThresholdRsaPublicKey(pk);
  const len = signatureShareBytes(pk);
  if (!(b instanceof Uint8Array) || b.length !== len) refuse('bad-length', `threshold RSA signature share: expected ${len} bytes`);
  const signer = readU16(b, 0);
  if (signer >= pk.players) refuse('index-out-of-range', `threshold RSA signature share: signer ${signer} is outside 0..${pk.players - 1}`);
  const nb = byteLength(pk.n);
  const xi = bytesToBigint(b.subarray(2, 2 + nb));
  const c = bytesToBigint(b.subarray(2 + nb, 2 + nb + CHALLENGE_BYTES));
  const z = bytesToBigint(b.subarray(2 + nb + CHALLENGE_BYTES));
  const share = { signer, xi, c, z };
  if (!shareShapeOk(pk, share)) refuse('scalar-out-of-range', 'threshold RSA signature share: x_i must be in 1..n-1 and z below 2^(L(n) + 257)');
  return share;
}

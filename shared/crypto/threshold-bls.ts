/**
 * Threshold BLS signatures (Boneh-Lynn-Shacham 2001; threshold variant Boldyreva 2003) on BLS12-381:
 * signatures in G1 (48 bytes), keys in G2 (96 bytes), RFC 9380 hash-to-curve with one DST per purpose
 * (domain.ts). The secret key is shared with any linear scheme (lsss.ts); a replica signs with each of
 * its rows. Combination is robust: it combines optimistically, checks the result with one verification,
 * and only on failure checks every share, drops the bad ones and names their signers.
 */
import { sha256 } from './sha256.ts';
import { concatBytes, readU16, u16be } from './bytes.ts';
import {
  G1,
  G1_BYTES,
  G2,
  bls,
  decodeG1,
  encodeG1,
  encodeG2,
  hashToCurveG1,
  msmG1,
  msmG2,
} from './curve.ts';
import type { G1Point, G2Point } from './curve.ts';
import { boundMessage, dstFor } from './domain.ts';
import type { Domain } from './domain.ts';
import { CryptoError, fail } from './errors.ts';
import { hashToScalar, mod } from './field.ts';
import type { SharingScheme } from './lsss.ts';

/** Public side of a threshold key: the group key and one verification key per share row. */
export interface ThresholdPublicKey {
  readonly scheme: SharingScheme;
  readonly groupKey: G2Point;
  readonly rowKeys: readonly G2Point[];
}

/** One replica's secret: the values of its rows (in scheme.rowsOf order). */
export interface KeyShare {
  readonly replica: number;
  readonly values: readonly bigint[];
}

export interface SignatureShare {
  readonly signer: number;
  /** One G1 point per row of the signer, in scheme.rowsOf(signer) order. */
  readonly points: readonly G1Point[];
}

export interface CombinedSignature {
  readonly signature: G1Point;
  readonly bytes: Uint8Array;
  /** Signers whose shares were invalid (checked only when the optimistic combination failed). */
  readonly faulty: readonly number[];
}

export function hashToG1(d: Domain, tag: string, payload: Uint8Array): G1Point {
  return hashToCurveG1(boundMessage(d, tag, payload), dstFor(d.purpose));
}

export function signShare(key: KeyShare, d: Domain, tag: string, payload: Uint8Array, h = hashToG1(d, tag, payload)): SignatureShare {
  return { signer: key.replica, points: key.values.map((v) => h.multiply(v)) };
}

/** -g2: the sign goes on the fixed G2 side, whose Miller-loop coefficients are computed once. */
const NEG_G2 = G2.BASE.negate();
type LineCoefficients = ReturnType<typeof bls.utils.calcPairingPrecomputes>;
const lineCoefficients = new WeakMap<G2Point, LineCoefficients>();

function coefficientsOf(q: G2Point): LineCoefficients {
  let c = lineCoefficients.get(q);
  if (!c) {
    c = bls.utils.calcPairingPrecomputes(q);
    lineCoefficients.set(q, c);
  }
  return c;
}

/**
 * e(sig, g2) == e(h, key), checked as e(sig, -g2) * e(h, key) == 1 with one final exponentiation.
 *
 * Why not bls.pairingBatch: on every call it re-derives the G2 points' Miller-loop line coefficients and
 * re-runs both points' subgroup checks, which together cost about as much as the pairing (profile in
 * docs/benchmarks.md). Here the coefficients are cached per G2 point object (-g2, and the group and row
 * keys, each decoded once with its subgroup check when the group is loaded), and the subgroup checks are
 * not repeated because they cannot fail: every G1 point that reaches this function was decoded by
 * decodeG1 (subgroup-checked), hashed to the curve (in the subgroup by construction), made by signing, or
 * is a linear combination of such points; every G2 key likewise.
 */
function pairingCheck(sig: G1Point, h: G1Point, key: G2Point): boolean {
  if (sig.is0() || h.is0() || key.is0()) return false;
  const s = sig.toAffine();
  const m = h.toAffine();
  const { Fp12 } = bls.fields;
  const miller = bls.millerLoopBatch([
    [coefficientsOf(NEG_G2), s.x, s.y],
    [coefficientsOf(key), m.x, m.y],
  ]);
  return Fp12.eql(Fp12.finalExponentiate(miller), Fp12.ONE);
}

/**
 * Checks every row of one share. Several rows are checked in one pairing product with coefficients
 * derived by hashing the share (a deterministic random linear combination), so a replica with many rows
 * costs one check.
 */
export function verifyShareWithHash(pk: ThresholdPublicKey, h: G1Point, share: SignatureShare): boolean {
  const rows = rowsOrNull(pk.scheme, share);
  if (!rows) return false;
  if (rows.length === 1) return pairingCheck(share.points[0]!, h, pk.rowKeys[rows[0]!]!);
  const seed = concatBytes(...share.points.map((p) => p.toBytes(true)));
  const cs = rows.map((_, i) => mod(hashToScalar('share-batch', seed, u16be(i)) | 1n));
  const sig = msmG1([...share.points], cs);
  const key = msmG2(rows.map((r) => pk.rowKeys[r]!), cs);
  return pairingCheck(sig, h, key);
}

export function verifyShare(pk: ThresholdPublicKey, d: Domain, tag: string, payload: Uint8Array, share: SignatureShare): boolean {
  return verifyShareWithHash(pk, hashToG1(d, tag, payload), share);
}

function rowsOrNull(scheme: SharingScheme, share: SignatureShare): readonly number[] | null {
  if (!Number.isInteger(share.signer) || share.signer < 0 || share.signer >= scheme.n) return null;
  const rows = scheme.rowsOf(share.signer);
  if (rows.length !== share.points.length || rows.length === 0) return null;
  if (share.points.some((p) => p.is0())) return null;
  return rows;
}

/** Verifies a combined signature (bytes, strictly decoded) against `h`, the message hashed to G1. */
export function verifySignatureWithHash(groupKey: G2Point, h: G1Point, signature: Uint8Array): boolean {
  let sig: G1Point;
  try {
    sig = decodeG1(signature);
  } catch (e) {
    if (e instanceof CryptoError) return false;
    throw e;
  }
  return pairingCheck(sig, h, groupKey);
}

/** Verifies a combined signature (bytes, strictly decoded) with the single group key. */
export function verifySignature(groupKey: G2Point, d: Domain, tag: string, payload: Uint8Array, signature: Uint8Array): boolean {
  return verifySignatureWithHash(groupKey, hashToG1(d, tag, payload), signature);
}

function combineRows(pk: ThresholdPublicKey, bySigner: Map<number, SignatureShare>): G1Point {
  const rec = pk.scheme.recombine(bySigner.keys());
  const points = rec.rows.map((row) => {
    const owner = pk.scheme.owners[row]!;
    const share = bySigner.get(owner)!;
    const idx = pk.scheme.rowsOf(owner).indexOf(row);
    return share.points[idx]!;
  });
  return msmG1(points, [...rec.coeffs]);
}

/**
 * Robust combination. Structurally bad shares (wrong signer, wrong number of rows) and conflicting
 * duplicates are faulty at once; the rest are combined from a qualified subset and the result verified;
 * if that fails every share is verified and the invalid ones are dropped.
 * Throws CryptoError('not-qualified') when the valid shares cannot reach a qualified set.
 */
export function combineShares(pk: ThresholdPublicKey, d: Domain, tag: string, payload: Uint8Array, shares: readonly SignatureShare[]): CombinedSignature {
  const h = hashToG1(d, tag, payload);
  return combineSharesWithHash(pk, h, shares);
}

export function combineSharesWithHash(pk: ThresholdPublicKey, h: G1Point, shares: readonly SignatureShare[]): CombinedSignature {
  const faulty = new Set<number>();
  const bySigner = new Map<number, SignatureShare>();
  for (const s of shares) {
    if (!rowsOrNull(pk.scheme, s)) {
      if (Number.isInteger(s.signer) && s.signer >= 0 && s.signer < pk.scheme.n) faulty.add(s.signer);
      continue;
    }
    const prev = bySigner.get(s.signer);
    if (prev && !prev.points.every((p, i) => p.equals(s.points[i]!))) {
      // Two different shares from one signer: at most one verifies; keep the one that does.
      if (!verifyShareWithHash(pk, h, prev)) bySigner.set(s.signer, s);
      continue;
    }
    bySigner.set(s.signer, s);
  }
  const notQualified = (): never =>
    fail('not-qualified', `valid shares from replicas [${[...bySigner.keys()].join(',')}] are not a qualified set (faulty: [${[...faulty].join(',')}])`);
  if (!pk.scheme.isQualified(bySigner.keys())) notQualified();
  const sig = combineRows(pk, bySigner);
  if (pairingCheck(sig, h, pk.groupKey)) return done(sig, faulty);
  for (const [signer, share] of [...bySigner]) {
    if (!verifyShareWithHash(pk, h, share)) {
      bySigner.delete(signer);
      faulty.add(signer);
    }
  }
  if (!pk.scheme.isQualified(bySigner.keys())) notQualified();
  // Every remaining share is valid, so the combination is the unique signature.
  return done(combineRows(pk, bySigner), faulty);
}

function done(sig: G1Point, faulty: Set<number>): CombinedSignature {
  return { signature: sig, bytes: encodeG1(sig), faulty: [...faulty].sort((a, b) => a - b) };
}

/** Public key from the dealer's secret row values (used by the dealer and tests). */
export function publicKeyFromShares(scheme: SharingScheme, secret: bigint, rowValues: readonly bigint[]): ThresholdPublicKey {
  return {
    scheme,
    groupKey: G2.BASE.multiply(secret),
    rowKeys: rowValues.map((v) => G2.BASE.multiply(v)),
  };
}

/** Wire form: u16 signer, u16 row count, then 48-byte compressed G1 points. */
export function encodeSignatureShare(s: SignatureShare): Uint8Array {
  return concatBytes(u16be(s.signer), u16be(s.points.length), ...s.points.map(encodeG1));
}

export function decodeSignatureShare(scheme: SharingScheme, b: Uint8Array): SignatureShare {
  if (!(b instanceof Uint8Array) || b.length < 4) fail('bad-length', 'signature share: too short');
  const signer = readU16(b, 0);
  const count = readU16(b, 2);
  if (signer >= scheme.n) fail('index-out-of-range', `signature share: signer ${signer} is outside 0..${scheme.n - 1}`);
  const expected = scheme.rowsOf(signer).length;
  if (count !== expected) fail('bad-encoding', `signature share: signer ${signer} holds ${expected} rows, share has ${count}`);
  if (b.length !== 4 + count * G1_BYTES) fail('bad-length', `signature share: expected ${4 + count * G1_BYTES} bytes, got ${b.length}`);
  const points: G1Point[] = [];
  for (let i = 0; i < count; i++) points.push(decodeG1(b.subarray(4 + i * G1_BYTES, 4 + (i + 1) * G1_BYTES)));
  return { signer, points };
}

export function groupKeyBytes(pk: ThresholdPublicKey): Uint8Array {
  return encodeG2(pk.groupKey);
}

/** Short fingerprint of a group key, for logs and CLI output. */
export function keyFingerprint(key: G2Point): string {
  return [...sha256(encodeG2(key)).subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export { G1 };

/**
 * The group's public randomness beacon in drand's format (docs/beacon.md; drand's specification, "Beacon
 * format", scheme `bls-unchained-g1-rfc9380`, as drand-client 1.4.2 verifies it):
 *
 *   message(r)    = SHA-256(r as a 64-bit big-endian integer)
 *   signature(r)  = BLS signature on message(r) in G1 (48 bytes compressed), hashed to G1 with RFC 9380
 *                   under the DST `BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_`, public key in G2 (96 bytes)
 *   randomness(r) = SHA-256(signature(r))
 *
 * The signing key is the beacon key, its own threshold key dealt over the group's kernel scheme (any
 * kernel, e.g. t + 1 replicas, signs; no corruptible set can): a BLS signature is unique, so every
 * qualified set of valid shares gives the same signature (threshold-bls.ts), and no corruptible set can
 * compute or bias it before an honest replica releases its share.
 *
 * Round timing follows drand (and drand-client's roundAt/roundTime): round 1 is due at the genesis time,
 * round r at genesis + (r - 1) * period. The chain hash is drand's chain.Info.Hash(). Pure: the caller
 * passes the time.
 */
import { sha256 } from './sha256.ts';
import { concatBytes, u32be, utf8ToBytes } from './bytes.ts';
import { encodeG2, hashToCurveG1 } from './curve.ts';
import type { G1Point, G2Point } from './curve.ts';
import { combineSharesWithHash, verifyShareWithHash, verifySignatureWithHash } from './threshold-bls.ts';
import type { KeyShare, SignatureShare, ThresholdPublicKey } from './threshold-bls.ts';

/** drand's scheme id: unchained, signatures on G1, RFC 9380 hash to curve. */
export const BEACON_SCHEME_ID = 'bls-unchained-g1-rfc9380';
/** The DST of that scheme (the IETF BLS signature suite for G1 signatures, basic scheme). */
export const BEACON_DST = 'BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_';
/** drand's default beacon id, which its chain hash leaves out (drand's "backward compatibility"). */
export const DRAND_DEFAULT_BEACON_ID = 'default';

/** Rounds are u64 in drand; here safe integers, 1 .. 2^53 - 1 (2^53 periods is beyond any clock). */
export const MAX_ROUND = Number.MAX_SAFE_INTEGER;

export function checkRound(round: number): number {
  if (!Number.isSafeInteger(round) || round < 1) throw new RangeError(`a beacon round is an integer from 1 to ${MAX_ROUND}, got ${round}`);
  return round;
}

/** The round as 8 bytes, big-endian (drand's roundBuffer). */
export function roundBytes(round: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(checkRound(round)));
  return out;
}

/** The signed message: SHA-256 of the round's 8 bytes. */
export function roundMessage(round: number): Uint8Array {
  return sha256(roundBytes(round));
}

/** The message hashed to G1 (computed once per round and reused for every share check). */
export function roundPoint(round: number): G1Point {
  return hashToCurveG1(roundMessage(round), BEACON_DST);
}

/** One replica's share of round `round` (one G1 point per row it holds). */
export function beaconShare(key: KeyShare, round: number, h: G1Point = roundPoint(round)): SignatureShare {
  return { signer: key.replica, points: key.values.map((v) => h.multiply(v)) };
}

export function verifyBeaconShare(pk: ThresholdPublicKey, round: number, share: SignatureShare, h: G1Point = roundPoint(round)): boolean {
  return verifyShareWithHash(pk, h, share);
}

export interface CombinedBeacon {
  readonly round: number;
  /** 48 bytes, compressed G1. */
  readonly signature: Uint8Array;
  /** SHA-256(signature). */
  readonly randomness: Uint8Array;
  /** Signers whose shares were invalid. */
  readonly faulty: readonly number[];
}

/**
 * Combines shares of a round (robustly: bad shares are dropped and their signers named) and returns the
 * beacon, verified against the group beacon key. Throws CryptoError('not-qualified') when the valid
 * shares are not a qualified set.
 */
export function combineBeacon(pk: ThresholdPublicKey, round: number, shares: readonly SignatureShare[], h: G1Point = roundPoint(round)): CombinedBeacon {
  const c = combineSharesWithHash(pk, h, shares);
  return { round, signature: c.bytes, randomness: beaconRandomness(c.bytes), faulty: c.faulty };
}

/** The round's signature (strictly decoded) is the group beacon key's signature on message(round). */
export function verifyBeacon(groupKey: G2Point, round: number, signature: Uint8Array): boolean {
  return verifySignatureWithHash(groupKey, roundPoint(round), signature);
}

export function beaconRandomness(signature: Uint8Array): Uint8Array {
  return sha256(signature);
}

/** What drand hashes into a chain hash. */
export interface ChainParameters {
  /** Seconds, 1 .. 2^32 - 1. */
  readonly period: number;
  /** Unix seconds of round 1. */
  readonly genesisTime: number;
  readonly publicKey: G2Point;
  /** drand's group hash ("genesis seed"); here the Sintra group id (32 bytes). */
  readonly groupHash: Uint8Array;
  readonly beaconId: string;
}

/**
 * drand's chain hash (chain.Info.Hash): SHA-256(u32 period || i64 genesis time || public key ||
 * group hash || beacon id), big-endian, the beacon id left out when it is drand's default ("" or "default").
 */
export function chainHash(p: ChainParameters): Uint8Array {
  const genesis = new Uint8Array(8);
  new DataView(genesis.buffer).setBigInt64(0, BigInt(p.genesisTime));
  const id = p.beaconId === '' || p.beaconId === DRAND_DEFAULT_BEACON_ID ? new Uint8Array(0) : utf8ToBytes(p.beaconId);
  return sha256(concatBytes(u32be(p.period), genesis, encodeG2(p.publicKey), p.groupHash, id));
}

/** Milliseconds since the Unix epoch at which round `round` is due (drand-client's roundTime). */
export function roundTimeMs(round: number, genesisTime: number, period: number): number {
  return (genesisTime + (checkRound(round) - 1) * period) * 1000;
}

/** The newest round due at `nowMs` (drand-client's roundAt), or 0 before the genesis time. */
export function roundAt(nowMs: number, genesisTime: number, period: number): number {
  if (nowMs < genesisTime * 1000) return 0;
  return Math.floor((nowMs - genesisTime * 1000) / (period * 1000)) + 1;
}

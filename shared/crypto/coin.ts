/**
 * Threshold coin (Cachin-Kursawe-Shoup 2000, "Random oracles in Constantinople", section 4, with the
 * unique-signature instantiation): the coin named N is H(sigma_N), where sigma_N is the unique threshold
 * BLS signature on N under the kernel key with the 'coin' DST. Any qualified set of valid shares gives the
 * same sigma_N, hence the same coin; a corruptible set cannot compute sigma_N, so the value is
 * unpredictable until an honest replica releases its share.
 */
import { sha256 } from './sha256.ts';
import { frame } from './bytes.ts';
import { domain } from './domain.ts';
import { combineShares, signShare, verifyShare, verifySignature } from './threshold-bls.ts';
import type { G2Point } from './curve.ts';
import type { KeyShare, SignatureShare, ThresholdPublicKey } from './threshold-bls.ts';

const EMPTY = new Uint8Array(0);

export type CoinShare = SignatureShare;

export interface CoinValue {
  /** 32 pseudorandom bytes. */
  readonly value: Uint8Array;
  /** The unique threshold signature the value is derived from (a transferable proof of the coin). */
  readonly signature: Uint8Array;
  readonly faulty: readonly number[];
}

export function coinShare(key: KeyShare, groupId: Uint8Array, name: string): CoinShare {
  return signShare(key, domain(groupId, 'coin'), name, EMPTY);
}

export function verifyCoinShare(pk: ThresholdPublicKey, groupId: Uint8Array, name: string, share: CoinShare): boolean {
  return verifyShare(pk, domain(groupId, 'coin'), name, EMPTY, share);
}

export function coinValueFromSignature(signature: Uint8Array): Uint8Array {
  return sha256(frame('sintra-edge/v1/coin-value', signature));
}

export function combineCoin(pk: ThresholdPublicKey, groupId: Uint8Array, name: string, shares: readonly CoinShare[]): CoinValue {
  const c = combineShares(pk, domain(groupId, 'coin'), name, EMPTY, shares);
  return { value: coinValueFromSignature(c.bytes), signature: c.bytes, faulty: c.faulty };
}

export function verifyCoin(groupKey: G2Point, groupId: Uint8Array, name: string, signature: Uint8Array): boolean {
  return verifySignature(groupKey, domain(groupId, 'coin'), name, EMPTY, signature);
}

/** The binary coin used by binary agreement: the low bit of the first byte. */
export function coinBit(value: Uint8Array): 0 | 1 {
  return (value[0]! & 1) as 0 | 1;
}

/**
 * The group's signature on a caller's message (the signing service, shared/app/signer.ts; docs/signer.md):
 * plain BLS "minimal-signature-size" (Boneh, Lynn, Shacham; the IETF BLS draft, section 2.6: signatures
 * in G1, public key in G2) made by the kernel's threshold key (Boldyreva, PKC 2003), over the message
 * bytes as given, under a DST that names the group and the purpose:
 *
 *   SINTRA-EDGE-V1-SIGN-<group id, 64 lower-case hex>-<purpose>_BLS12381G1_XMD:SHA-256_SSWU_RO_
 *
 * Why the message is not framed: a verifier needs any BLS library, the group key (group.json
 * keys.kernel.groupKey) and this DST, not our framing. Why the DST binds group and purpose: a signature
 * issued for one purpose (or group) is never valid for another, and nothing else the kernel key signs
 * (checkpoints, coins, statements: their DSTs start SINTRA-EDGE-V1-<PURPOSE>_) hashes under this DST.
 */
import { toHex } from './bytes.ts';
import { fail } from './errors.ts';
import { hashToCurveG1 } from './curve.ts';
import type { G1Point, G2Point } from './curve.ts';
import { GROUP_ID_BYTES } from './domain.ts';
import { combineSharesWithHash, verifyShareWithHash, verifySignatureWithHash } from './threshold-bls.ts';
import type { CombinedSignature, KeyShare, SignatureShare, ThresholdPublicKey } from './threshold-bls.ts';

/** The DST is this, the group id in hex, '-', the purpose, then SIGN_DST_SUFFIX. */
export const SIGN_DST_PREFIX = 'SINTRA-EDGE-V1-SIGN-';
export const SIGN_DST_SUFFIX = '_BLS12381G1_XMD:SHA-256_SSWU_RO_';

/** A purpose: 1-64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit. */
export const PURPOSE_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export function isPurpose(p: unknown): p is string {
  return typeof p === 'string' && PURPOSE_PATTERN.test(p);
}

/** The RFC 9380 domain separation tag of (group, purpose): at most 64 + 64 + 53 = 181 bytes (limit 255). */
export function signingDst(groupId: Uint8Array, purpose: string): string {
  if (!(groupId instanceof Uint8Array) || groupId.length !== GROUP_ID_BYTES) fail('bad-length', `group id must be ${GROUP_ID_BYTES} bytes`);
  if (!isPurpose(purpose)) fail('bad-encoding', `purpose ${JSON.stringify(purpose)} is not 1-64 of a-z, 0-9, '.', '_', '-'`);
  return `${SIGN_DST_PREFIX}${toHex(groupId)}-${purpose}${SIGN_DST_SUFFIX}`;
}

/** The message hashed to G1 under the purpose's DST (computed once per message, reused for every share). */
export function signingPoint(groupId: Uint8Array, purpose: string, message: Uint8Array): G1Point {
  return hashToCurveG1(message, signingDst(groupId, purpose));
}

/** One replica's share of the signature (one G1 point per row it holds). */
export function groupSignShare(key: KeyShare, h: G1Point): SignatureShare {
  return { signer: key.replica, points: key.values.map((v) => h.multiply(v)) };
}

export function verifyGroupSignShare(pk: ThresholdPublicKey, h: G1Point, share: SignatureShare): boolean {
  return verifyShareWithHash(pk, h, share);
}

/** Robust combination (bad shares dropped, their signers named); CryptoError('not-qualified') otherwise. */
export function combineGroupSignature(pk: ThresholdPublicKey, h: G1Point, shares: readonly SignatureShare[]): CombinedSignature {
  return combineSharesWithHash(pk, h, shares);
}

/** The 48-byte compressed G1 signature (strictly decoded) is the group key's on `message` for `purpose`. */
export function verifyGroupSignature(groupKey: G2Point, groupId: Uint8Array, purpose: string, message: Uint8Array, signature: Uint8Array): boolean {
  if (!isPurpose(purpose)) return false;
  return verifySignatureWithHash(groupKey, signingPoint(groupId, purpose, message), signature);
}

/**
 * Random audit samples of the signatures the group issued, bound to a round of the group's randomness
 * beacon (docs/signer.md, "Audit samples"; docs/beacon.md): how a replicated application reads beacon
 * randomness deterministically. Two ordered steps:
 *
 *   {"app":"signer","count":k,"op":"audit","round":r}              schedule: the population is fixed now
 *   {"app":"signer","audit":ID,"op":"reveal","signature":HEX}       reveal: round r's beacon signature
 *
 * At `audit`, the population is the accepted sign requests so far (ordinals 0 .. N-1, in log order). At
 * `reveal`, every replica checks the signature against keys.beacon (a round is a unique BLS signature, so
 * every replica reads the same randomness; anyone may reveal, since rounds are public) and draws k distinct
 * ordinals by a partial Fisher-Yates shuffle driven by
 *   x_j = u64(SHA-256(frame('sintra-edge/signer/audit@1', randomness, audit id, u32(j))))   (j = 0 .. k-1)
 * swapping position j with j + (x_j mod (N - j)). The modulo bias is below N / 2^64.
 *
 * Why two steps: the population is fixed before the randomness is used, so nobody can pick which requests
 * enter the sample once the round is known. The sample is fair if round r was not yet due when the audit
 * entry was ordered; the application cannot check that (it has no clock until the group agrees on time),
 * so whoever relies on a sample checks that the round's due time (genesis + (r - 1) x period) is after the
 * audit's certification.
 */
import { frame, fromHex, u32be } from '../crypto/bytes.ts';
import { sha256 } from '../crypto/sha256.ts';
import { beaconRandomness, checkRound, verifyBeacon } from '../crypto/beacon.ts';
import type { G2Point } from '../crypto/curve.ts';

export const AUDIT_LABEL = 'sintra-edge/signer/audit@1';
/** At most this many requests in one sample. */
export const MAX_AUDIT_COUNT = 256;

export interface AuditRequest {
  readonly count: number;
  readonly round: number;
}

export interface RevealRequest {
  /** The audit entry's request id (64 hex). */
  readonly audit: string;
  /** The beacon round's signature, 96 hex (48 bytes, compressed G1). */
  readonly signature: string;
}

/** Why an audit or reveal request is malformed, or null. */
export function auditFieldsError(r: AuditRequest): string | null {
  if (!Number.isSafeInteger(r.count) || r.count < 1 || r.count > MAX_AUDIT_COUNT) return `count: an integer from 1 to ${MAX_AUDIT_COUNT}`;
  try {
    checkRound(r.round);
  } catch {
    return 'round: a beacon round (a positive integer)';
  }
  return r.round >= 1 ? null : 'round: a beacon round (a positive integer)';
}

export function revealFieldsError(r: RevealRequest): string | null {
  if (typeof r.audit !== 'string' || !/^[0-9a-f]{64}$/.test(r.audit)) return 'audit: the audit request id (64 lower-case hex)';
  if (typeof r.signature !== 'string' || !/^[0-9a-f]{96}$/.test(r.signature)) return 'signature: the round signature (48 bytes, lower-case hex)';
  return null;
}

/** The randomness of `round` if `signatureHex` is its beacon signature under `beaconKey`, else null. */
export function beaconRoundRandomness(beaconKey: G2Point, round: number, signatureHex: string): Uint8Array | null {
  const signature = fromHex(signatureHex, 48);
  return verifyBeacon(beaconKey, round, signature) ? beaconRandomness(signature) : null;
}

/** k distinct ordinals of 0 .. population-1, drawn as the module comment says (k <= population). */
export function auditSample(randomness: Uint8Array, auditId: string, population: number, count: number): number[] {
  const k = Math.min(count, population);
  const swapped = new Map<number, number>();
  const at = (i: number) => swapped.get(i) ?? i;
  const out: number[] = [];
  for (let j = 0; j < k; j++) {
    const h = sha256(frame(AUDIT_LABEL, randomness, fromHex(auditId, 32), u32be(j)));
    const x = new DataView(h.buffer, h.byteOffset, 8).getBigUint64(0);
    const pick = j + Number(x % BigInt(population - j));
    const chosen = at(pick);
    swapped.set(pick, at(j));
    swapped.set(j, chosen);
    out.push(chosen);
  }
  return out;
}

/** The ordinal key of an accepted sign request (its request id as 32 bytes). */
export function ordinalKey(ordinal: number): string {
  return `a/${ordinal.toString(16).padStart(16, '0')}`;
}


/**
 * drand's HTTP JSON forms for the group's beacon chain (docs/beacon.md; drand's v1 public API as
 * drand-client 1.4.2 reads it): the chain info of `/info`, a round of `/public/{round}`, and the check a
 * client makes of a round against the pinned group.json (the same checks as drand-client's verifyBeacon:
 * the round asked for, randomness = SHA-256(signature), the signature under the beacon key).
 */
import { fromHex, toHex, bytesEqual } from '../crypto/bytes.ts';
import { encodeG2 } from '../crypto/curve.ts';
import { beaconRandomness, checkRound, verifyBeacon } from '../crypto/beacon.ts';
import type { GroupBeacon } from '../config/group.ts';

/** drand's ChainInfo (v1 `/info`). */
export interface ChainInfoJson {
  readonly public_key: string;
  readonly period: number;
  readonly genesis_time: number;
  readonly hash: string;
  readonly groupHash: string;
  readonly schemeID: string;
  readonly metadata: { readonly beaconID: string };
}

/** An unchained round (no previous_signature). */
export interface BeaconJson {
  readonly round: number;
  readonly randomness: string;
  readonly signature: string;
}

export function chainInfoJson(b: GroupBeacon): ChainInfoJson {
  return {
    public_key: toHex(encodeG2(b.key.groupKey)),
    period: b.period,
    genesis_time: b.genesisTime,
    hash: toHex(b.chainHash),
    groupHash: toHex(b.groupHash),
    schemeID: b.schemeId,
    metadata: { beaconID: b.beaconId },
  };
}

export function beaconJson(round: number, signature: Uint8Array): BeaconJson {
  return { round, randomness: toHex(beaconRandomness(signature)), signature: toHex(signature) };
}

export type BeaconCheck = { readonly ok: true; readonly round: number; readonly signature: Uint8Array; readonly randomness: Uint8Array } | { readonly ok: false; readonly reason: string };

const HEX = (bytes: number) => new RegExp(`^[0-9a-f]{${bytes * 2}}$`);

/**
 * Checks a served round against the pinned beacon key: the JSON form, the round (`expected`, if given),
 * the signature under the group beacon key, and randomness = SHA-256(signature). Never throws.
 */
export function checkBeaconJson(b: GroupBeacon, json: unknown, expected?: number): BeaconCheck {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return { ok: false, reason: 'not a JSON object' };
  const o = json as Record<string, unknown>;
  const round = o['round'];
  if (typeof round !== 'number' || !Number.isSafeInteger(round) || round < 1) return { ok: false, reason: 'round: expected a positive integer' };
  if (expected !== undefined && round !== checkRound(expected)) return { ok: false, reason: `round ${round}, but round ${expected} was asked for` };
  if ('previous_signature' in o) return { ok: false, reason: 'previous_signature: this chain is unchained' };
  const sig = o['signature'];
  const rnd = o['randomness'];
  if (typeof sig !== 'string' || !HEX(48).test(sig)) return { ok: false, reason: 'signature: expected 48 bytes of lower-case hex' };
  if (typeof rnd !== 'string' || !HEX(32).test(rnd)) return { ok: false, reason: 'randomness: expected 32 bytes of lower-case hex' };
  const signature = fromHex(sig);
  const randomness = fromHex(rnd);
  if (!bytesEqual(randomness, beaconRandomness(signature))) return { ok: false, reason: 'randomness is not SHA-256 of the signature' };
  if (!verifyBeacon(b.key.groupKey, round, signature)) return { ok: false, reason: `the signature is not the beacon key's signature of round ${round}` };
  return { ok: true, round, signature, randomness };
}

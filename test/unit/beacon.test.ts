/**
 * The randomness beacon's pure parts (shared/crypto/beacon.ts, shared/client/beacon.ts, keys.beacon in
 * shared/config): drand's round message and chain hash (checked against drand's public quicknet chain),
 * combination by any qualified set, a bad share named, randomness = SHA-256(signature), the dealing
 * leaving every other key unchanged, and the strict parsing of keys.beacon and the replicas' shares.
 */
import { describe, expect, it } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { deal } from '../../shared/config/deal.ts';
import { ConfigError, parseGroup, parseReplicaSecrets, verifyGroupKeys, verifyReplicaSecrets } from '../../shared/config/group.ts';
import type { GroupFile } from '../../shared/config/group.ts';
import { fromHex, toHex } from '../../shared/crypto/bytes.ts';
import { decodeG2, G1 } from '../../shared/crypto/curve.ts';
import { CryptoError } from '../../shared/crypto/errors.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import {
  BEACON_DST,
  beaconRandomness,
  beaconShare,
  chainHash,
  combineBeacon,
  roundAt,
  roundBytes,
  roundMessage,
  roundTimeMs,
  verifyBeacon,
  verifyBeaconShare,
} from '../../shared/crypto/beacon.ts';
import { beaconJson, chainInfoJson, checkBeaconJson } from '../../shared/client/beacon.ts';
import { thresholdStructure } from '../../shared/quorum/structure-file.ts';
import { TEST_BEACON_GENESIS, testBeaconGroup } from '../helpers/group.ts';

// drand's quicknet chain (https://api.drand.sh/52db9ba7.../info) and two of its rounds: public facts.
const QUICKNET = {
  publicKey: '83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a',
  period: 3,
  genesisTime: 1692803367,
  groupHash: 'f477d5c89f21a17c863a7f937c6a6d15859414d2be09cd448d4279af331c5d3e',
  beaconId: 'quicknet',
  hash: '52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971',
  round2: 'b6b6a585449b66eb12e875b64fcbab3799861a00e4dbf092d99e969a5eac57dd3f798acf61e705fe4f093db926626807',
  round3: 'b3fab6df720b68cc47175f2c777e86d84187caab5770906f515ff1099cb01e4deaa027075d860823e49477b93c72bd64',
};

describe('drand bls-unchained-g1-rfc9380', () => {
  it('signs SHA-256 of the round as 8 big-endian bytes', () => {
    expect(toHex(roundBytes(1))).toBe('0000000000000001');
    expect(toHex(roundBytes(0x0102030405))).toBe('0000000102030405');
    expect(roundMessage(2)).toEqual(sha256(fromHex('0000000000000002')));
    expect(BEACON_DST).toBe('BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_');
    expect(() => roundBytes(0)).toThrow(RangeError);
    expect(() => roundBytes(1.5)).toThrow(RangeError);
  });

  it("verifies drand quicknet's rounds 2 and 3 and computes its chain hash", () => {
    const pk = decodeG2(fromHex(QUICKNET.publicKey));
    expect(verifyBeacon(pk, 2, fromHex(QUICKNET.round2))).toBe(true);
    expect(verifyBeacon(pk, 3, fromHex(QUICKNET.round3))).toBe(true);
    expect(verifyBeacon(pk, 2, fromHex(QUICKNET.round3))).toBe(false);
    const h = chainHash({ period: QUICKNET.period, genesisTime: QUICKNET.genesisTime, publicKey: pk, groupHash: fromHex(QUICKNET.groupHash), beaconId: QUICKNET.beaconId });
    expect(toHex(h)).toBe(QUICKNET.hash);
    // drand leaves its default beacon id out of the hash.
    const base = { period: 3, genesisTime: 1, publicKey: pk, groupHash: new Uint8Array(32) };
    expect(chainHash({ ...base, beaconId: 'default' })).toEqual(chainHash({ ...base, beaconId: '' }));
    expect(chainHash({ ...base, beaconId: 'x' })).not.toEqual(chainHash({ ...base, beaconId: '' }));
  }, 300_000);

  it('rounds are due as drand-client computes them: round 1 at genesis, r at genesis + (r - 1) period', () => {
    expect(roundAt(999_999, 1000, 3)).toBe(0);
    expect(roundAt(1_000_000, 1000, 3)).toBe(1);
    expect(roundAt(1_002_999, 1000, 3)).toBe(1);
    expect(roundAt(1_003_000, 1000, 3)).toBe(2);
    expect(roundTimeMs(1, 1000, 3)).toBe(1_000_000);
    expect(roundTimeMs(5, 1000, 3)).toBe(1_012_000);
  });
});

describe('threshold beacon', () => {
  const { group, secrets } = testBeaconGroup();
  const b = group.beacon!;

  it('every qualified set of shares gives the same signature, valid under the beacon key; randomness is its SHA-256', () => {
    for (const round of [1, 1234567]) {
      const shares = secrets.map((s) => beaconShare(s.beacon!, round));
      for (const s of shares) expect(verifyBeaconShare(b.key, round, s)).toBe(true);
      const sigs = new Set<string>();
      for (let i = 0; i < 4; i++) for (let j = i + 1; j < 4; j++) sigs.add(toHex(combineBeacon(b.key, round, [shares[i]!, shares[j]!]).signature));
      sigs.add(toHex(combineBeacon(b.key, round, shares).signature));
      expect(sigs.size).toBe(1);
      const sig = fromHex([...sigs][0]!);
      expect(verifyBeacon(b.key.groupKey, round, sig)).toBe(true);
      expect(verifyBeacon(b.key.groupKey, round + 1, sig)).toBe(false);
      expect(beaconRandomness(sig)).toEqual(sha256(sig));
      expect(checkBeaconJson(b, beaconJson(round, sig), round)).toMatchObject({ ok: true, round });
    }
  }, 300_000);

  it('a bad share is named and skipped; a corruptible set alone cannot combine', () => {
    const round = 7;
    const shares = secrets.map((s) => beaconShare(s.beacon!, round));
    const bad = { signer: 2, points: [shares[2]!.points[0]!.add(G1.BASE)] };
    expect(verifyBeaconShare(b.key, round, bad)).toBe(false);
    const good = combineBeacon(b.key, round, [shares[0]!, shares[1]!]);
    // Combination is optimistic: the bad share is named when the qualified subset it tried included it.
    const withBad = combineBeacon(b.key, round, [bad, shares[0]!, shares[1]!]);
    expect([[], [2]]).toContainEqual(withBad.faulty);
    expect(withBad.signature).toEqual(good.signature);
    const named = combineBeacon(b.key, round, [bad, shares[0]!, shares[3]!, shares[1]!]);
    expect(named.signature).toEqual(good.signature);
    expect(() => combineBeacon(b.key, round, [shares[0]!, bad])).toThrow(CryptoError);
    expect(() => combineBeacon(b.key, round, [shares[3]!])).toThrow(/not a qualified set/);
  });

  it('a client check refuses a round altered in one byte, the wrong round, and randomness that is not the hash', () => {
    const sig = combineBeacon(b.key, 9, secrets.slice(0, 2).map((s) => beaconShare(s.beacon!, 9))).signature;
    const json = beaconJson(9, sig);
    expect(checkBeaconJson(b, json, 9).ok).toBe(true);
    expect(checkBeaconJson(b, json, 10)).toMatchObject({ ok: false, reason: expect.stringMatching(/round 10 was asked/) });
    const flipped = (hex: string, at: number) => hex.slice(0, at) + (hex[at] === '0' ? '1' : '0') + hex.slice(at + 1);
    const sigAltered = { ...json, signature: flipped(json.signature, 40) };
    expect(checkBeaconJson(b, sigAltered, 9).ok).toBe(false);
    expect(checkBeaconJson(b, { ...json, randomness: flipped(json.randomness, 5) }, 9)).toMatchObject({ ok: false, reason: expect.stringMatching(/SHA-256/) });
    expect(checkBeaconJson(b, { ...json, round: 8 }).ok).toBe(false);
    expect(checkBeaconJson(b, { ...json, previous_signature: json.signature }).ok).toBe(false);
  });

  it("serves drand's chain info: the chain hash of the group's parameters", () => {
    const info = chainInfoJson(b);
    expect(info).toEqual({
      public_key: group.file.keys.beacon!.groupKey,
      period: 3,
      genesis_time: TEST_BEACON_GENESIS,
      hash: toHex(b.chainHash),
      groupHash: toHex(group.groupId),
      schemeID: 'bls-unchained-g1-rfc9380',
      metadata: { beaconID: group.file.keys.beacon!.beaconId },
    });
    expect(info.metadata.beaconID).toBe(`sintra-${toHex(group.groupId).slice(0, 16)}`);
    expect(b.chainHash).toEqual(chainHash({ period: 3, genesisTime: TEST_BEACON_GENESIS, publicKey: b.key.groupKey, groupHash: group.groupId, beaconId: info.metadata.beaconID }));
  });
});

describe('keys.beacon in the deal and group.json', () => {
  const structure = thresholdStructure(4, 1);
  const plain = deal(structure, seededRandom('beacon-deal'), { testOnly: true });
  const withBeacon = deal(structure, seededRandom('beacon-deal'), { testOnly: true, beacon: { period: 5, genesisTime: 1800000000, beaconId: 'lottery' } });

  it('is drawn after everything else: every other key and secret is byte-identical with or without it', () => {
    const { beacon, ...rest } = withBeacon.group.keys;
    expect(beacon).toBeDefined();
    expect({ ...withBeacon.group, keys: rest }).toEqual(plain.group);
    withBeacon.secrets.forEach((s, i) => {
      const { beacon: rows, ...others } = JSON.parse(s.SINTRA_KEY_SHARES) as Record<string, unknown>;
      expect(rows).toHaveLength(1);
      expect(JSON.stringify(others)).toBe(plain.secrets[i]!.SINTRA_KEY_SHARES);
      expect({ ...s, SINTRA_KEY_SHARES: '' }).toEqual({ ...plain.secrets[i]!, SINTRA_KEY_SHARES: '' });
    });
  });

  it('parses, and checks the row keys and every share', () => {
    const group = parseGroup(withBeacon.group);
    expect(group.beacon).toMatchObject({ beaconId: 'lottery', period: 5, genesisTime: 1800000000, schemeId: 'bls-unchained-g1-rfc9380' });
    verifyGroupKeys(group);
    for (const s of withBeacon.secrets) verifyReplicaSecrets(group, parseReplicaSecrets(s, group));
    // A share that is not the replica's: parsed (the replicas do not pay for the check), refused by verify.
    const shares = JSON.parse(withBeacon.secrets[1]!.SINTRA_KEY_SHARES) as Record<string, string[]>;
    const wrong = { ...withBeacon.secrets[1]!, SINTRA_KEY_SHARES: JSON.stringify({ ...shares, beacon: [toHex(new Uint8Array(32).fill(7))] }) };
    expect(() => verifyReplicaSecrets(group, parseReplicaSecrets(wrong, group))).toThrow(/SINTRA_KEY_SHARES\.beacon\[0\]: does not match keys\.beacon\.rowKeys\[1\]/);
    // Row keys that are not a sharing of the group key.
    const file = JSON.parse(JSON.stringify(withBeacon.group)) as { keys: { beacon: { rowKeys: string[] } } };
    [file.keys.beacon.rowKeys[0], file.keys.beacon.rowKeys[1]] = [file.keys.beacon.rowKeys[1]!, file.keys.beacon.rowKeys[0]!];
    expect(() => verifyGroupKeys(parseGroup(file))).toThrow(/keys\.beacon\.rowKeys/);
  });

  it('refuses malformed fields with their path, and a share without a beacon key', () => {
    const bad = (patch: Record<string, unknown>, path: RegExp) => {
      const g = JSON.parse(JSON.stringify(withBeacon.group)) as GroupFile & { keys: { beacon: Record<string, unknown> } };
      Object.assign(g.keys.beacon, patch);
      expect(() => parseGroup(g)).toThrow(ConfigError);
      expect(() => parseGroup(g)).toThrow(path);
    };
    bad({ schemeId: 'pedersen-bls-chained' }, /^keys\.beacon\.schemeId/);
    bad({ beaconId: 'Upper' }, /^keys\.beacon\.beaconId/);
    bad({ period: 0 }, /^keys\.beacon\.period/);
    bad({ period: 2.5 }, /^keys\.beacon\.period/);
    bad({ genesisTime: -1 }, /^keys\.beacon\.genesisTime/);
    bad({ extra: 1 }, /^keys\.beacon: unknown field "extra"/);
    bad({ rowKeys: [] }, /^keys\.beacon\.rowKeys/);
    const plainGroup = parseGroup(plain.group);
    expect(() => parseReplicaSecrets(withBeacon.secrets[0]!, plainGroup)).toThrow(/SINTRA_KEY_SHARES\.beacon: the group has no beacon key/);
    const beaconGroup = parseGroup(withBeacon.group);
    expect(() => parseReplicaSecrets(plain.secrets[0]!, beaconGroup)).toThrow(/SINTRA_KEY_SHARES\.beacon: missing/);
  });
});

/**
 * One deterministic crypto scenario, imported unchanged by the Node suite (crypto.node.test.ts) and the
 * workerd suite (crypto.workerd.test.ts), so both runtimes execute exactly the same code on exactly the
 * same inputs and must produce the bytes recorded in vectors.ts.
 *
 * Only shared/crypto is imported here: no Node or Workers API.
 */
import { toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { coinShare, combineCoin, verifyCoin } from '../../shared/crypto/coin.ts';
import { bls } from '../../shared/crypto/curve.ts';
import { domain } from '../../shared/crypto/domain.ts';
import { randomScalar } from '../../shared/crypto/field.ts';
import { shamirScheme } from '../../shared/crypto/lsss.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { combineShares, groupKeyBytes, publicKeyFromShares, signShare, verifySignature } from '../../shared/crypto/threshold-bls.ts';
import type { KeyShare, ThresholdPublicKey } from '../../shared/crypto/threshold-bls.ts';
import * as tdh2 from '../../shared/crypto/tdh2.ts';

/** Records how long each step takes; the default does nothing. */
export type Timer = <T>(label: string, f: () => T) => T;
const untimed: Timer = (_label, f) => f();

export const SEED = 'sintra-edge/workerd-parity/shamir-4-2';
export const GROUP_ID = new Uint8Array(32).fill(0x5e);
export const TAG = 'ab/1/checkpoint/0';
export const PAYLOAD = utf8ToBytes('checkpoint: log size 3');
export const COIN_NAME = 'ab/1/mvba/aba/0/coin/0';
/** The replica whose share is bad (it signed another payload). */
export const BAD_SIGNER = 1;

export interface DealtKey {
  readonly pk: ThresholdPublicKey;
  readonly shares: readonly KeyShare[];
}

/** RFC 9380 appendix J.9.1, msg = "abc": compressed encoding of hash_to_curve. */
export function hashToCurveAbc(time: Timer = untimed): string {
  const p = time('hashToCurve G1 (RFC 9380 KAT)', () =>
    bls.G1.hashToCurve(utf8ToBytes('abc'), { DST: 'QUUX-V01-CS02-with-BLS12381G1_XMD:SHA-256_SSWU_RO_' }),
  );
  return toHex(p.toBytes(true));
}

/** Shamir (4, 2) dealing from SEED: secret = randomScalar(rng), rows = scheme.share(secret, rng). */
export function dealKey(time: Timer = untimed): DealtKey {
  const scheme = shamirScheme(4, 2);
  const rng = seededRandom(SEED);
  const secret = randomScalar(rng);
  const rows = scheme.share(secret, rng);
  const pk = time('deal: publicKeyFromShares (5 G2 mults)', () => publicKeyFromShares(scheme, secret, rows));
  const shares = Array.from({ length: scheme.n }, (_, replica) => ({ replica, values: scheme.rowsOf(replica).map((r) => rows[r]!) }));
  return { pk, shares };
}

export interface ThresholdResult {
  readonly groupKey: string;
  /** Hex of each submitted share's single G1 point, in submission order (replicas 0, 1 (bad), 3). */
  readonly shares: readonly string[];
  readonly signature: string;
  readonly faulty: readonly number[];
  readonly verified: boolean;
}

/**
 * Replicas 0, 1 and 3 send signature shares; replica 1's is for another payload. Shamir's recombine
 * takes the first k = 2 signers (0 and 1), so the optimistic combination fails and the robust path runs:
 * every share is verified, 1 is dropped and named, and 0 + 3 give the signature.
 */
export function thresholdScenario(key: DealtKey, time: Timer = untimed): ThresholdResult {
  const d = domain(GROUP_ID, 'checkpoint');
  const good0 = time('signShare (hash to G1 + G1 mult)', () => signShare(key.shares[0]!, d, TAG, PAYLOAD));
  const bad1 = signShare(key.shares[BAD_SIGNER]!, d, TAG, utf8ToBytes('another payload'));
  const good3 = signShare(key.shares[3]!, d, TAG, PAYLOAD);
  const submitted = [good0, bad1, good3];
  const c = time('combineShares, robust path (1 bad of 3: 4 pairing checks)', () => combineShares(key.pk, d, TAG, PAYLOAD, submitted));
  const verified = time('verifySignature (hash + decode + pairing check)', () => verifySignature(key.pk.groupKey, d, TAG, PAYLOAD, c.bytes));
  return {
    groupKey: toHex(groupKeyBytes(key.pk)),
    shares: submitted.map((s) => toHex(s.points[0]!.toBytes(true))),
    signature: toHex(c.bytes),
    faulty: c.faulty,
    verified,
  };
}

export interface CoinResult {
  /** Coin value from replicas {0, 1}. */
  readonly valueA: string;
  /** Coin value from replicas {2, 3}. */
  readonly valueB: string;
  readonly signature: string;
  readonly verified: boolean;
}

export function coinScenario(key: DealtKey, time: Timer = untimed): CoinResult {
  const shares = key.shares.map((s) => coinShare(s, GROUP_ID, COIN_NAME));
  const a = time('combineCoin, optimistic path (msm + 1 pairing check)', () => combineCoin(key.pk, GROUP_ID, COIN_NAME, [shares[0]!, shares[1]!]));
  const b = combineCoin(key.pk, GROUP_ID, COIN_NAME, [shares[3]!, shares[2]!]);
  const verified = verifyCoin(key.pk.groupKey, GROUP_ID, COIN_NAME, a.signature);
  if (a.faulty.length || b.faulty.length) throw new Error('coin: unexpected faulty shares');
  return { valueA: toHex(a.value), valueB: toHex(b.value), signature: toHex(a.signature), verified };
}

export interface Tdh2Result {
  readonly ciphertextId: string;
  /** Hex of the encoded decryption shares of replicas 0 and 2. */
  readonly shares: readonly string[];
  readonly plaintext: string;
  readonly valid: boolean;
  readonly sharesValid: boolean;
}

export const TDH2_LABEL = utf8ToBytes('client-7');
export const TDH2_PLAINTEXT = utf8ToBytes('sealed bid: 1234');

/**
 * TDH2 over Shamir (4, 2) with a key dealt from SEED + '/tdh2': encrypt with a seeded rng, check the
 * ciphertext, decryption shares of replicas 0 and 2 (deterministic nonces), verify them, combine.
 */
export function tdh2Scenario(time: Timer = untimed): Tdh2Result {
  const scheme = shamirScheme(4, 2);
  const rng = seededRandom(`${SEED}/tdh2`);
  const secret = randomScalar(rng);
  const rows = scheme.share(secret, rng);
  const pk = tdh2.tdh2PublicKeyFromShares(scheme, secret, rows);
  const keyOf = (replica: number): KeyShare => ({ replica, values: scheme.rowsOf(replica).map((r) => rows[r]!) });
  const ct = time('tdh2 encrypt (5 G1 mults + AEAD)', () => tdh2.encrypt(pk, GROUP_ID, TDH2_LABEL, TDH2_PLAINTEXT, rng));
  const wire = tdh2.decodeCiphertext(tdh2.encodeCiphertext(ct));
  const valid = time('tdh2 verifyCiphertext', () => tdh2.verifyCiphertext(pk, GROUP_ID, wire));
  const s0 = time('tdh2 decryptionShare (with DLEQ proof)', () => tdh2.decryptionShare(pk, keyOf(0), GROUP_ID, wire));
  const s2 = tdh2.decryptionShare(pk, keyOf(2), GROUP_ID, wire);
  const sharesValid = time('tdh2 verifyDecryptionShare', () => tdh2.verifyDecryptionShare(pk, GROUP_ID, wire, s0)) && tdh2.verifyDecryptionShare(pk, GROUP_ID, wire, s2);
  const d = time('tdh2 combineDecryption (2 shares)', () => tdh2.combineDecryption(pk, GROUP_ID, wire, [s0, s2]));
  return {
    ciphertextId: toHex(tdh2.ciphertextId(wire)),
    shares: [s0, s2].map((s) => toHex(tdh2.encodeDecryptionShare(s))),
    plaintext: toHex(d.plaintext),
    valid,
    sharesValid,
  };
}

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sha256 } from '@noble/hashes/sha2.js';
import { bigintToBytes, concatBytes, toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { G1, G1_BYTES, P, R, encodeG1 } from '../../shared/crypto/curve.ts';
import { CryptoError } from '../../shared/crypto/errors.ts';
import { randomScalar } from '../../shared/crypto/field.ts';
import { cnfScheme, dnfScheme, shamirScheme } from '../../shared/crypto/lsss.ts';
import type { SharingScheme } from '../../shared/crypto/lsss.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import {
  ciphertextId,
  combineDecryption,
  decodeCiphertext,
  decodeDecryptionShare,
  decryptionShare,
  encodeCiphertext,
  encodeDecryptionShare,
  encrypt,
  secondGenerator,
  tdh2PublicKeyFromShares,
  verifyCiphertext,
  verifyDecryptionShare,
} from '../../shared/crypto/tdh2.ts';
import type { KeyShare, Tdh2Ciphertext, Tdh2DecryptionShare, Tdh2PublicKey } from '../../shared/crypto/tdh2.ts';

const GROUP = new Uint8Array(32).fill(7);
const OTHER_GROUP = new Uint8Array(32).fill(8);
const LABEL = utf8ToBytes('client-42');
const MSG = utf8ToBytes('transfer 10 coins to bob, request 17');

interface Dealt {
  pk: Tdh2PublicKey;
  keys: KeyShare[];
}

function deal(scheme: SharingScheme, seed: string): Dealt {
  const rng = seededRandom(seed);
  const secret = randomScalar(rng);
  const rows = scheme.share(secret, rng);
  const keys = Array.from({ length: scheme.n }, (_, replica) => ({ replica, values: scheme.rowsOf(replica).map((r) => rows[r]!) }));
  return { pk: tdh2PublicKeyFromShares(scheme, secret, rows), keys };
}

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof CryptoError) return e.code;
    throw e;
  }
  return 'accepted';
}

const flipByte = (b: Uint8Array, i: number): Uint8Array => {
  const c = b.slice();
  c[i] = c[i]! ^ 1;
  return c;
};

/** Qualified sets of replicas, smallest first, for `numRuns` fast-check runs over a scheme. */
const qualifiedSubset = (scheme: SharingScheme) =>
  fc.subarray(Array.from({ length: scheme.n }, (_, i) => i), { minLength: 1 }).filter((s) => scheme.isQualified(s));

const SCHEMES: [string, SharingScheme][] = [
  ['shamir(4, 2)', shamirScheme(4, 2)],
  ['shamir(7, 3)', shamirScheme(7, 3)],
  ['cnf(4, singletons)', cnfScheme(4, [[0], [1], [2], [3]])],
  ['dnf(4, {01, 23, 02})', dnfScheme(4, [[0, 1], [2, 3], [0, 2]])],
];

describe.each(SCHEMES)('TDH2 round trip over %s', (name, scheme) => {
  const { pk, keys } = deal(scheme, `tdh2-${name}`);
  const ct = encrypt(pk, GROUP, LABEL, MSG, seededRandom(`enc-${name}`));
  const shares = keys.map((k) => decryptionShare(pk, k, GROUP, ct));

  it('the ciphertext is valid, every share verifies, and all shares decrypt', () => {
    expect(verifyCiphertext(pk, GROUP, ct)).toBe(true);
    for (const s of shares) {
      expect(s.parts.length).toBe(scheme.rowsOf(s.signer).length);
      expect(verifyDecryptionShare(pk, GROUP, ct, s)).toBe(true);
    }
    const d = combineDecryption(pk, GROUP, ct, shares);
    expect(toHex(d.plaintext)).toBe(toHex(MSG));
    expect(d.faulty).toEqual([]);
  });

  it('every qualified subset of shares yields the plaintext', () => {
    if (scheme.n <= 4) {
      // small enough to enumerate every subset
      for (let mask = 1; mask < 1 << scheme.n; mask++) {
        const set = [...Array(scheme.n).keys()].filter((i) => mask & (1 << i));
        if (!scheme.isQualified(set)) {
          expect(codeOf(() => combineDecryption(pk, GROUP, ct, set.map((i) => shares[i]!)))).toBe('not-qualified');
          continue;
        }
        expect(toHex(combineDecryption(pk, GROUP, ct, set.map((i) => shares[i]!)).plaintext)).toBe(toHex(MSG));
      }
    }
    fc.assert(
      fc.property(qualifiedSubset(scheme), (set) => {
        const d = combineDecryption(pk, GROUP, ct, set.map((i) => shares[i]!));
        expect(toHex(d.plaintext)).toBe(toHex(MSG));
      }),
      { numRuns: 10, seed: 7 },
    );
  });

  it('shares that are not a qualified set cannot decrypt', () => {
    const unqualified = [...Array(scheme.n).keys()].filter((i) => !scheme.isQualified([i]));
    for (const i of unqualified) expect(codeOf(() => combineDecryption(pk, GROUP, ct, [shares[i]!, shares[i]!]))).toBe('not-qualified');
    expect(codeOf(() => combineDecryption(pk, GROUP, ct, []))).toBe('not-qualified');
  });

  it('shares survive their wire encoding', () => {
    for (const s of shares) {
      const back = decodeDecryptionShare(scheme, encodeDecryptionShare(s));
      expect(back.signer).toBe(s.signer);
      expect(toHex(encodeDecryptionShare(back))).toBe(toHex(encodeDecryptionShare(s)));
      expect(verifyDecryptionShare(pk, GROUP, ct, back)).toBe(true);
      // the fast point encoding agrees with the strict encoder, for both signs of y
      s.parts.forEach((p, j) => {
        const o = 4 + j * 112;
        expect(toHex(encodeDecryptionShare(s).subarray(o, o + G1_BYTES))).toBe(toHex(encodeG1(p.point)));
      });
    }
  });
});

describe('TDH2 over Shamir (4, 2): validity, robustness, encodings', () => {
  const scheme = shamirScheme(4, 2);
  const { pk, keys } = deal(scheme, 'tdh2-4-2');
  const rng = seededRandom('tdh2-4-2-enc');
  const ct = encrypt(pk, GROUP, LABEL, MSG, rng);
  const shares = keys.map((k) => decryptionShare(pk, k, GROUP, ct));
  const enc = encodeCiphertext(ct);

  it('fewer than a qualified set of shares is not-qualified', () => {
    expect(codeOf(() => combineDecryption(pk, GROUP, ct, [shares[3]!]))).toBe('not-qualified');
    expect(codeOf(() => combineDecryption(pk, GROUP, ct, [shares[3]!, shares[3]!]))).toBe('not-qualified');
  });

  it('encryption is randomized; shares are per ciphertext', () => {
    const again = encrypt(pk, GROUP, LABEL, MSG, rng);
    expect(toHex(encodeCiphertext(again))).not.toBe(toHex(enc));
    expect(codeOf(() => combineDecryption(pk, GROUP, again, shares))).toBe('not-qualified');
    const fresh = [keys[1]!, keys[2]!].map((k) => decryptionShare(pk, k, GROUP, again));
    expect(toHex(combineDecryption(pk, GROUP, again, fresh).plaintext)).toBe(toHex(MSG));
  });

  const tampered: [string, Tdh2Ciphertext][] = [
    ['label', { ...ct, label: utf8ToBytes('client-43') }],
    ['empty label', { ...ct, label: new Uint8Array(0) }],
    ['c (one bit)', { ...ct, c: flipByte(ct.c, 0) }],
    ['c (tag bit)', { ...ct, c: flipByte(ct.c, ct.c.length - 1) }],
    ['c (truncated)', { ...ct, c: ct.c.subarray(0, ct.c.length - 1) }],
    ['u', { ...ct, u: ct.u.add(G1.BASE) }],
    ['ubar', { ...ct, ubar: ct.ubar.add(G1.BASE) }],
    ['u and ubar swapped', { ...ct, u: ct.ubar, ubar: ct.u }],
    ['e', { ...ct, e: (ct.e + 1n) % R }],
    ['f', { ...ct, f: (ct.f + 1n) % R }],
    ['e out of range', { ...ct, e: ct.e + R }],
  ];

  it.each(tampered)('a modified %s fails the validity test; no share is produced and no combination happens', (_, bad) => {
    expect(verifyCiphertext(pk, GROUP, bad)).toBe(false);
    expect(codeOf(() => decryptionShare(pk, keys[0]!, GROUP, bad))).toBe('invalid-ciphertext');
    // shares released for the original ciphertext do not decrypt the modified one
    expect(codeOf(() => combineDecryption(pk, GROUP, bad, shares))).toBe('invalid-ciphertext');
  });

  it('a ciphertext is valid only in its own group', () => {
    expect(verifyCiphertext(pk, OTHER_GROUP, ct)).toBe(false);
    expect(codeOf(() => decryptionShare(pk, keys[0]!, OTHER_GROUP, ct))).toBe('invalid-ciphertext');
    expect(codeOf(() => combineDecryption(pk, OTHER_GROUP, ct, shares))).toBe('invalid-ciphertext');
    // a malformed group id is a local configuration error
    expect(codeOf(() => verifyCiphertext(pk, new Uint8Array(31), ct))).toBe('bad-length');
  });

  it('shares are bound to their row, ciphertext and group', () => {
    const other = encrypt(pk, GROUP, LABEL, MSG, rng);
    const s0 = shares[0]!;
    expect(verifyDecryptionShare(pk, GROUP, other, s0)).toBe(false);
    expect(verifyDecryptionShare(pk, OTHER_GROUP, ct, s0)).toBe(false);
    expect(verifyDecryptionShare(pk, GROUP, ct, { signer: 1, parts: s0.parts })).toBe(false);
    expect(verifyDecryptionShare(pk, GROUP, ct, { signer: 4, parts: s0.parts })).toBe(false);
    expect(verifyDecryptionShare(pk, GROUP, ct, { signer: 0, parts: [] })).toBe(false);
    // decryption shares are deterministic (derived nonces), so re-sharing is idempotent
    expect(toHex(encodeDecryptionShare(decryptionShare(pk, keys[0]!, GROUP, ct)))).toBe(toHex(encodeDecryptionShare(s0)));
  });

  it('is robust: bad shares are named in faulty and the right plaintext still comes out', () => {
    const p = shares[0]!.parts[0]!;
    const wrongPoint: Tdh2DecryptionShare = { signer: 0, parts: [{ ...p, point: G1.BASE.multiply(99n) }] };
    const wrongProof: Tdh2DecryptionShare = { signer: 1, parts: [{ ...shares[1]!.parts[0]!, f: (shares[1]!.parts[0]!.f + 1n) % R }] };
    const otherCt = encrypt(pk, GROUP, LABEL, MSG, rng);
    const forOtherCt = decryptionShare(pk, keys[2]!, GROUP, otherCt);
    const replayed: Tdh2DecryptionShare = { signer: 0, parts: shares[3]!.parts };
    for (const bad of [wrongPoint, wrongProof, forOtherCt, replayed]) expect(verifyDecryptionShare(pk, GROUP, ct, bad)).toBe(false);

    const a = combineDecryption(pk, GROUP, ct, [wrongPoint, wrongProof, forOtherCt, shares[3]!, shares[1]!]);
    expect(a.faulty).toEqual([0, 1, 2]);
    expect(toHex(a.plaintext)).toBe(toHex(MSG));

    const b = combineDecryption(pk, GROUP, ct, [replayed, shares[2]!, shares[1]!]);
    expect(b.faulty).toEqual([0]);
    expect(toHex(b.plaintext)).toBe(toHex(MSG));

    // a signer that also sent a valid share is named, and its valid share is used
    const c = combineDecryption(pk, GROUP, ct, [wrongPoint, shares[0]!, shares[2]!, shares[3]!]);
    expect(c.faulty).toEqual([0]);
    expect(toHex(c.plaintext)).toBe(toHex(MSG));
    expect(combineDecryption(pk, GROUP, ct, [wrongPoint, shares[0]!, shares[2]!]).faulty).toEqual([0]);

    // structurally bad shares: out-of-range signers are ignored, wrong row counts are faulty
    const d = combineDecryption(pk, GROUP, ct, [{ signer: 9, parts: shares[0]!.parts }, { signer: 1, parts: [] }, shares[2]!, shares[3]!]);
    expect(d.faulty).toEqual([1]);

    // shares beyond a qualified set of valid ones are not examined (not needed, not named)
    expect(combineDecryption(pk, GROUP, ct, [shares[2]!, shares[3]!, wrongPoint]).faulty).toEqual([]);

    // too many bad ones
    expect(codeOf(() => combineDecryption(pk, GROUP, ct, [wrongPoint, wrongProof, forOtherCt, shares[3]!]))).toBe('not-qualified');
  });

  it('a valid ciphertext whose maker encrypted under another key fails with decryption-failed', () => {
    // Validity does not depend on the key (as in the paper), so this is a valid ciphertext for pk
    // whose payload was encrypted under r*h' instead of r*h: every combiner gets the same verdict.
    const wrongKey: Tdh2PublicKey = { ...pk, publicKey: G1.BASE.multiply(12345n) };
    const bad = encrypt(wrongKey, GROUP, LABEL, MSG, rng);
    expect(verifyCiphertext(pk, GROUP, bad)).toBe(true);
    const bs = keys.slice(0, 2).map((k) => decryptionShare(pk, k, GROUP, bad));
    expect(codeOf(() => combineDecryption(pk, GROUP, bad, bs))).toBe('decryption-failed');
  });

  it('empty and 100 KB plaintexts round-trip (also through the wire encoding)', () => {
    for (const size of [0, 100 * 1024]) {
      const m = new Uint8Array(size).map((_, i) => (i * 31 + 7) & 0xff);
      const c = decodeCiphertext(encodeCiphertext(encrypt(pk, GROUP, LABEL, m, rng)));
      expect(c.c.length).toBe(size + 16);
      const ss = [keys[3]!, keys[0]!].map((k) => decryptionShare(pk, k, GROUP, c));
      const d = combineDecryption(pk, GROUP, c, ss);
      expect(d.plaintext.length).toBe(size);
      expect(toHex(sha256(d.plaintext))).toBe(toHex(sha256(m)));
    }
  });

  it('the ciphertext encoding round-trips, uses the standard point encoding, and names the ciphertext', () => {
    const back = decodeCiphertext(enc);
    expect(back.u.equals(ct.u) && back.ubar.equals(ct.ubar) && back.e === ct.e && back.f === ct.f).toBe(true);
    expect(toHex(back.label)).toBe(toHex(ct.label));
    expect(toHex(back.c)).toBe(toHex(ct.c));
    expect(toHex(encodeCiphertext(back))).toBe(toHex(enc));
    expect(toHex(enc.subarray(0, G1_BYTES))).toBe(toHex(encodeG1(ct.u)));
    expect(toHex(enc.subarray(G1_BYTES, 2 * G1_BYTES))).toBe(toHex(encodeG1(ct.ubar)));
    expect(verifyCiphertext(pk, GROUP, back)).toBe(true);
    expect(toHex(ciphertextId(ct))).toBe(toHex(sha256(enc)));
    expect(toHex(ciphertextId(back))).toBe(toHex(ciphertextId(ct)));
    // the decoded ciphertext does not alias the input buffer
    const copy = enc.slice();
    const decoded = decodeCiphertext(copy);
    copy.fill(0);
    expect(toHex(encodeCiphertext(decoded))).toBe(toHex(enc));
  });

  it('decoding a ciphertext rejects malformed bytes with typed errors', () => {
    const at = (off: number, bytes: Uint8Array) => {
      const b = enc.slice();
      b.set(bytes, off);
      return b;
    };
    const identity = new Uint8Array(G1_BYTES);
    identity[0] = 0xc0;
    const xEqualsP = bigintToBytes(P, G1_BYTES);
    xEqualsP[0] = xEqualsP[0]! | 0x80;
    const labelLenOff = 2 * G1_BYTES + 64;
    const cLenOff = labelLenOff + 4 + ct.label.length;
    expect(codeOf(() => decodeCiphertext(new Uint8Array(0)))).toBe('bad-length');
    for (const cut of [1, 17, enc.length - 200]) expect(codeOf(() => decodeCiphertext(enc.subarray(0, enc.length - cut)))).toBe('bad-length');
    expect(codeOf(() => decodeCiphertext(concatBytes(enc, new Uint8Array([0]))))).toBe('bad-encoding');
    expect(codeOf(() => decodeCiphertext(at(0, identity)))).toBe('identity');
    expect(codeOf(() => decodeCiphertext(at(G1_BYTES, identity)))).toBe('identity');
    expect(codeOf(() => decodeCiphertext(at(0, xEqualsP)))).toBe('non-canonical');
    expect(codeOf(() => decodeCiphertext(at(0, new Uint8Array([enc[0]! & 0x7f]))))).toBe('bad-encoding');
    expect(codeOf(() => decodeCiphertext(at(2 * G1_BYTES, bigintToBytes(R, 32))))).toBe('scalar-out-of-range');
    expect(codeOf(() => decodeCiphertext(at(2 * G1_BYTES + 32, bigintToBytes(R + 5n, 32))))).toBe('scalar-out-of-range');
    expect(codeOf(() => decodeCiphertext(at(2 * G1_BYTES + 32, new Uint8Array(32).fill(0xff))))).toBe('scalar-out-of-range');
    expect(codeOf(() => decodeCiphertext(at(labelLenOff, new Uint8Array([0, 0, 1, 0]))))).toBe('bad-length');
    expect(codeOf(() => decodeCiphertext(at(labelLenOff, new Uint8Array([0xff, 0xff, 0xff, 0xff]))))).toBe('bad-length');
    expect(codeOf(() => decodeCiphertext(at(cLenOff, new Uint8Array([0, 0, 0, 15]))))).toBe('bad-length');
    // shrinking the declared c length leaves trailing bytes
    expect(codeOf(() => decodeCiphertext(at(cLenOff, new Uint8Array([0, 0, 0, ct.c.length - 1]))))).toBe('bad-encoding');
    // the empty-payload ciphertext is the shortest one
    const empty = encodeCiphertext(encrypt(pk, GROUP, new Uint8Array(0), new Uint8Array(0), rng));
    expect(empty.length).toBe(2 * G1_BYTES + 64 + 8 + 16);
    expect(decodeCiphertext(empty).c.length).toBe(16);
  });

  it('decoding a decryption share rejects malformed bytes with typed errors', () => {
    const b = encodeDecryptionShare(shares[2]!);
    expect(b.length).toBe(4 + 48 + 64);
    const at = (off: number, bytes: Uint8Array) => {
      const c = b.slice();
      c.set(bytes, off);
      return c;
    };
    const identity = new Uint8Array(G1_BYTES);
    identity[0] = 0xc0;
    expect(codeOf(() => decodeDecryptionShare(scheme, b.subarray(0, 3)))).toBe('bad-length');
    expect(codeOf(() => decodeDecryptionShare(scheme, b.subarray(0, b.length - 1)))).toBe('bad-length');
    expect(codeOf(() => decodeDecryptionShare(scheme, concatBytes(b, new Uint8Array([0]))))).toBe('bad-encoding');
    expect(codeOf(() => decodeDecryptionShare(scheme, at(0, new Uint8Array([0, 4]))))).toBe('index-out-of-range');
    expect(codeOf(() => decodeDecryptionShare(scheme, at(2, new Uint8Array([0, 2]))))).toBe('bad-encoding');
    expect(codeOf(() => decodeDecryptionShare(scheme, at(4, identity)))).toBe('identity');
    expect(codeOf(() => decodeDecryptionShare(scheme, at(4 + 48, bigintToBytes(R, 32))))).toBe('scalar-out-of-range');
    expect(codeOf(() => decodeDecryptionShare(scheme, at(4 + 80, bigintToBytes(R, 32))))).toBe('scalar-out-of-range');
    // a well-formed share decoded under another signer index is a replay and fails verification
    const replay = decodeDecryptionShare(scheme, at(0, new Uint8Array([0, 0])));
    expect(verifyDecryptionShare(pk, GROUP, ct, replay)).toBe(false);
  });

  it('a key share that does not fit the scheme is refused', () => {
    expect(codeOf(() => decryptionShare(pk, { replica: 4, values: [1n] }, GROUP, ct))).toBe('index-out-of-range');
    expect(codeOf(() => decryptionShare(pk, { replica: 0, values: [1n, 2n] }, GROUP, ct))).toBe('index-out-of-range');
  });
});

describe('TDH2 fixed-seed known answer', () => {
  const KAT_SHA256 = '48fba2bf8917fd8bdc513be93127584fef2d33f2e5f778fab1b22fd97f1d26e3';
  const run = () => {
    const { pk } = deal(shamirScheme(4, 2), 'tdh2-kat-key');
    return encodeCiphertext(encrypt(pk, GROUP, LABEL, utf8ToBytes('known answer'), seededRandom('tdh2-kat-enc')));
  };

  it('encryption with a fixed seed is deterministic and matches the stored digest', () => {
    const a = run();
    const b = run();
    expect(toHex(a)).toBe(toHex(b));
    expect(toHex(sha256(a))).toBe(KAT_SHA256);
  });

  it('the second generator is fixed, not the base point, and in the group', () => {
    const gbar = secondGenerator();
    expect(gbar).toBe(secondGenerator());
    expect(gbar.equals(G1.BASE)).toBe(false);
    expect(gbar.is0()).toBe(false);
    expect(gbar.isTorsionFree()).toBe(true);
  });
});

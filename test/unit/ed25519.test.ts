import { ed25519 } from '@noble/curves/ed25519.js';
import { afterEach, describe, expect, it } from 'vitest';
import { CryptoError } from '../../shared/crypto/errors.ts';
import {
  ed25519Backend,
  ed25519PublicKey,
  ed25519Signer,
  ed25519Verifier,
  installEd25519,
  isEd25519PublicKey,
  referenceVerify,
  resetEd25519,
  torsionSignature,
} from '../../shared/crypto/ed25519.ts';
import type { Ed25519Backend } from '../../shared/crypto/ed25519.ts';
import { NATIVE_ED25519, useNativeEd25519 } from '../../workers/core/native-ed25519.ts';

const hex = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const TORSION = ed25519.Point.fromBytes(hex('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05'));

/** RFC 8032 section 7.1, TEST 2. */
const SEED = hex('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb');
const PUB = hex('3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c');
const SIG = hex('92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00');
const MSG = Uint8Array.of(0x72);

function plusL(sig: Uint8Array): Uint8Array | null {
  let s = 0n;
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i]!);
  s += L;
  if (s >= 2n ** 256n) return null;
  const out = sig.slice();
  for (let i = 0; i < 32; i++) out[32 + i] = Number((s >> BigInt(8 * i)) & 0xffn);
  return out;
}

describe.each(['noble', NATIVE_ED25519])('Ed25519 on the %s backend', (backend) => {
  afterEach(() => resetEd25519());
  const install = () => {
    if (backend === NATIVE_ED25519) useNativeEd25519();
    expect(ed25519Backend()).toBe(backend);
  };

  it('RFC 8032 test 2: public key, signature, verification', () => {
    install();
    expect(ed25519PublicKey(SEED)).toEqual(PUB);
    expect(ed25519Signer(SEED)(MSG)).toEqual(SIG);
    const verify = ed25519Verifier(PUB);
    expect(verify(MSG, SIG)).toBe(true);
    expect(verify(Uint8Array.of(0x73), SIG)).toBe(false);
    expect(verify(MSG, SIG.subarray(0, 63))).toBe(false);
  });

  it('refuses what a lax verifier accepts: R with a small-order component, S + L', () => {
    install();
    const verify = ed25519Verifier(PUB);
    const torsioned = torsionSignature(SEED, MSG, TORSION, 1);
    // noble's own verify checks the cofactored equation and accepts it: that is the disagreement the
    // strict rule exists to rule out.
    expect(ed25519.verify(torsioned, MSG, PUB)).toBe(true);
    expect(verify(MSG, torsioned)).toBe(false);
    const malleated = plusL(SIG)!;
    expect(malleated).not.toBeNull();
    expect(verify(MSG, malleated)).toBe(false);
    // A signature of r without torsion is fine: the construction itself is right.
    expect(verify(MSG, torsionSignature(SEED, MSG, ed25519.Point.ZERO, 1))).toBe(true);
  });
});

describe('the Ed25519 backend slot', () => {
  afterEach(() => resetEd25519());

  it('node:crypto agrees with the reference on 200 random signatures and corruptions of them', () => {
    useNativeEd25519();
    useNativeEd25519(); // idempotent
    for (let k = 0; k < 200; k++) {
      const seed = Uint8Array.from({ length: 32 }, (_, i) => (i * 7 + k * 13) & 0xff);
      const m = Uint8Array.from({ length: k }, (_, i) => (i ^ k) & 0xff);
      const sig = ed25519Signer(seed)(m);
      const pub = ed25519PublicKey(seed);
      const bad = sig.slice();
      bad[k % 64]! ^= 1 << (k % 8);
      const verify = ed25519Verifier(pub);
      expect(verify(m, sig)).toBe(true);
      expect(verify(m, bad)).toBe(referenceVerify(pub, m, bad));
    }
  });

  it('refuses a backend that follows another rule, that is wrong, or that throws; the current one stays', () => {
    const reference: Ed25519Backend = {
      publicKey: (seed) => ed25519.getPublicKey(seed),
      signer: (seed) => (m) => ed25519.sign(m, seed),
      verifier: (pub) => (m, s) => referenceVerify(pub, m, s),
    };
    const cofactored: Ed25519Backend = { ...reference, verifier: (pub) => (m, s) => ed25519.verify(s, m, pub) };
    expect(() => installEd25519('cofactored', cofactored)).toThrow(/R plus a small-order point/);
    const wrongKey: Ed25519Backend = { ...reference, publicKey: (seed) => ed25519.getPublicKey(seed.map((b) => b ^ 1)) };
    expect(() => installEd25519('wrong-key', wrongKey)).toThrow(/RFC 8032 test 1 \(public key\)/);
    const acceptsAll: Ed25519Backend = { ...reference, verifier: () => () => true };
    expect(() => installEd25519('accepts-all', acceptsAll)).toThrow(CryptoError);
    const throwing: Ed25519Backend = { ...reference, verifier: () => () => { throw new Error('boom'); } };
    expect(() => installEd25519('throwing', throwing)).toThrow(/threw on RFC 8032 test 1: boom/);
    expect(ed25519Backend()).toBe('noble');
    installEd25519('reference', reference);
    expect(ed25519Backend()).toBe('reference');
  });

  it('S >= L is refused before any backend sees it', () => {
    const lax: Ed25519Backend = {
      publicKey: (seed) => ed25519.getPublicKey(seed),
      signer: (seed) => (m) => ed25519.sign(m, seed),
      // Checks the equation with S reduced, as a verifier without the range check would.
      verifier: (pub) => (m, s) => {
        const reduced = s.slice();
        let v = 0n;
        for (let i = 63; i >= 32; i--) v = (v << 8n) | BigInt(s[i]!);
        v %= L;
        for (let i = 0; i < 32; i++) reduced[32 + i] = Number((v >> BigInt(8 * i)) & 0xffn);
        return referenceVerify(pub, m, reduced);
      },
    };
    installEd25519('lax-s', lax);
    expect(ed25519Verifier(PUB)(MSG, plusL(SIG)!)).toBe(false);
    expect(ed25519Verifier(PUB)(MSG, SIG)).toBe(true);
  });

  it('dealt public keys: canonical, on the curve, not of small order', () => {
    expect(isEd25519PublicKey(PUB)).toBe(true);
    expect(isEd25519PublicKey(TORSION.toBytes())).toBe(false);
    expect(isEd25519PublicKey(ed25519.Point.ZERO.toBytes())).toBe(false);
    expect(isEd25519PublicKey(hex(`ee${'ff'.repeat(30)}7f`))).toBe(false); // y = p + 1
    expect(isEd25519PublicKey(PUB.subarray(1))).toBe(false);
    expect(() => ed25519Signer(new Uint8Array(31))).toThrow(CryptoError);
  });
});

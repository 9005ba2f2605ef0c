import { describe, expect, it } from 'vitest';
import { bls12_381 } from '@noble/curves/bls12-381.js';
import { bigintToBytes, fromHex, toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import {
  G1,
  G2,
  P,
  R,
  decodeG1,
  decodeG2,
  decodeScalar,
  encodeG1,
  encodeG2,
  encodeScalar,
  hashToCurveG1,
} from '../../shared/crypto/curve.ts';
import { CryptoError } from '../../shared/crypto/errors.ts';

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof CryptoError) return e.code;
    throw e;
  }
  return 'accepted';
}

// RFC 9380, appendix J.9.1 (suite BLS12381G1_XMD:SHA-256_SSWU_RO_).
const RFC9380_G1 = [
  {
    msg: '',
    x: '052926add2207b76ca4fa57a8734416c8dc95e24501772c814278700eed6d1e4e8cf62d9c09db0fac349612b759e79a1',
    y: '08ba738453bfed09cb546dbb0783dbb3a5f1f566ed67bb6be0e8c67e2e81a4cc68ee29813bb7994998f3eae0c9c6a265',
  },
  {
    msg: 'abc',
    x: '03567bc5ef9c690c2ab2ecdf6a96ef1c139cc0b2f284dca0a9a7943388a49a3aee664ba5379a7655d3c68900be2f6903',
    y: '0b9c15f3fe6e5cf4211f346271d7b01c8f3b28be689c8429c85b67af215533311f0b8dfaaa154fa6b88176c229f2885d',
  },
  {
    msg: 'abcdef0123456789',
    x: '11e0b079dea29a68f0383ee94fed1b940995272407e3bb916bbf268c263ddd57a6a27200a784cbc248e84f357ce82d98',
    y: '03a87ae2caf14e8ee52e51fa2ed8eefe80f02457004ba4d486d6aa1f517c0889501dc7413753f9599b099ebcbbd2d709',
  },
];

const Fp = bls12_381.fields.Fp;
const Fp2 = bls12_381.fields.Fp2;

/** Compressed encoding of an on-curve point that is NOT in the prime-order subgroup. */
function offSubgroupG1(): Uint8Array {
  for (let x = 1n; ; x++) {
    const y2 = Fp.add(Fp.pow(x, 3n), 4n);
    try {
      Fp.sqrt(y2);
    } catch {
      continue;
    }
    const b = bigintToBytes(x, 48);
    b[0]! |= 0x80;
    return b;
  }
}

function offSubgroupG2(): Uint8Array {
  for (let c0 = 1n; ; c0++) {
    const x = Fp2.create({ c0, c1: 0n });
    try {
      Fp2.sqrt(Fp2.add(Fp2.pow(x, 3n), Fp2.create({ c0: 4n, c1: 4n })));
    } catch {
      continue;
    }
    const b = new Uint8Array(96);
    b.set(bigintToBytes(c0, 48), 48);
    b[0]! |= 0x80;
    return b;
  }
}

describe('hash to G1 (RFC 9380 known answers)', () => {
  for (const v of RFC9380_G1) {
    it(`msg ${JSON.stringify(v.msg)}`, () => {
      const p = hashToCurveG1(utf8ToBytes(v.msg), 'QUUX-V01-CS02-with-BLS12381G1_XMD:SHA-256_SSWU_RO_').toAffine();
      expect(toHex(bigintToBytes(p.x, 48))).toBe(v.x);
      expect(toHex(bigintToBytes(p.y, 48))).toBe(v.y);
    });
  }
});

describe('strict G1 decoding', () => {
  const good = G1.BASE.multiply(12345n);
  it('round-trips', () => {
    expect(decodeG1(encodeG1(good)).equals(good)).toBe(true);
  });
  it('rejects wrong lengths', () => {
    expect(code(() => decodeG1(new Uint8Array(47)))).toBe('bad-length');
    expect(code(() => decodeG1(good.toBytes(false)))).toBe('bad-length');
    expect(code(() => decodeG1(new Uint8Array([...encodeG1(good), 0])))).toBe('bad-length');
  });
  it('rejects a missing compression flag', () => {
    const b = encodeG1(good);
    b[0]! &= 0x7f;
    expect(code(() => decodeG1(b))).toBe('bad-encoding');
  });
  it('rejects the identity, canonical or not', () => {
    const inf = new Uint8Array(48);
    inf[0] = 0xc0;
    expect(code(() => decodeG1(inf))).toBe('identity');
    const b = encodeG1(good);
    b[0]! |= 0x40;
    expect(code(() => decodeG1(b))).toBe('identity');
    expect(code(() => encodeG1(G1.ZERO))).toBe('identity');
  });
  it('rejects a non-canonical coordinate (x >= p)', () => {
    const b = bigintToBytes(P + 1n, 48);
    b[0]! |= 0x80;
    expect(code(() => decodeG1(b))).toBe('non-canonical');
  });
  it('rejects x off the curve', () => {
    const b = bigintToBytes(1n, 48);
    b[0]! |= 0x80;
    expect(code(() => decodeG1(b))).toBe('not-on-curve');
  });
  it('rejects a curve point outside the subgroup', () => {
    const b = offSubgroupG1();
    expect(code(() => decodeG1(b))).toBe('not-in-subgroup');
    b[0]! |= 0x20; // the other y
    expect(code(() => decodeG1(b))).toBe('not-in-subgroup');
  });
  it('rejects non-bytes', () => {
    expect(code(() => decodeG1('00' as unknown as Uint8Array))).toBe('bad-encoding');
  });
});

describe('strict G2 decoding', () => {
  const good = G2.BASE.multiply(777n);
  it('round-trips', () => {
    expect(decodeG2(encodeG2(good)).equals(good)).toBe(true);
  });
  it('rejects wrong lengths, identity, non-canonical, off-curve and off-subgroup', () => {
    expect(code(() => decodeG2(new Uint8Array(95)))).toBe('bad-length');
    const inf = new Uint8Array(96);
    inf[0] = 0xc0;
    expect(code(() => decodeG2(inf))).toBe('identity');
    expect(code(() => encodeG2(G2.ZERO))).toBe('identity');
    const big = encodeG2(good);
    big.set(bigintToBytes(P, 48), 48); // c0 = p
    expect(code(() => decodeG2(big))).toBe('non-canonical');
    expect(code(() => decodeG2(offSubgroupG2()))).toBe('not-in-subgroup');
    let offCurve: Uint8Array | undefined;
    for (let c0 = 1n; !offCurve; c0++) {
      const x = Fp2.create({ c0, c1: 0n });
      try {
        Fp2.sqrt(Fp2.add(Fp2.pow(x, 3n), Fp2.create({ c0: 4n, c1: 4n })));
      } catch {
        offCurve = new Uint8Array(96);
        offCurve.set(bigintToBytes(c0, 48), 48);
        offCurve[0] = 0x80;
      }
    }
    expect(code(() => decodeG2(offCurve!))).toBe('not-on-curve');
  });
});

describe('scalars', () => {
  it('round-trip and reject out-of-range values', () => {
    expect(decodeScalar(encodeScalar(R - 1n))).toBe(R - 1n);
    expect(code(() => decodeScalar(bigintToBytes(R, 32)))).toBe('scalar-out-of-range');
    expect(code(() => decodeScalar(new Uint8Array(32)))).toBe('scalar-out-of-range');
    expect(decodeScalar(new Uint8Array(32), true)).toBe(0n);
    expect(code(() => decodeScalar(new Uint8Array(31)))).toBe('bad-length');
    expect(code(() => encodeScalar(R))).toBe('scalar-out-of-range');
  });
  it('hex is strict', () => {
    expect(code(() => fromHex('ABCD'))).toBe('bad-encoding');
    expect(code(() => fromHex('abc'))).toBe('bad-encoding');
    expect(code(() => fromHex('abcd', 3))).toBe('bad-length');
    expect(toHex(fromHex('00ff'))).toBe('00ff');
  });
});

describe('encoding (written here, without noble toBytes and its subgroup check)', () => {
  it('equals noble compressed bytes for G1 and G2 points of both y signs, and round-trips', () => {
    const signs1 = new Set<number>();
    const signs2 = new Set<number>();
    for (let k = 1n; k <= 40n; k++) {
      const p = G1.BASE.multiply(k * 7919n + 3n);
      const e = encodeG1(p);
      expect(toHex(e)).toBe(toHex(p.toBytes(true)));
      expect(decodeG1(e).equals(p)).toBe(true);
      signs1.add(e[0]! & 0x20);
      const q = G2.BASE.multiply(k * 104729n + 5n);
      const f = encodeG2(q);
      expect(toHex(f)).toBe(toHex(q.toBytes(true)));
      expect(decodeG2(f).equals(q)).toBe(true);
      signs2.add(f[0]! & 0x20);
    }
    // Both signs of y were met (the flag is computed, not constant).
    expect(signs1.size).toBe(2);
    expect(signs2.size).toBe(2);
    expect(code(() => encodeG1(G1.ZERO))).toBe('identity');
    expect(code(() => encodeG2(G2.ZERO))).toBe('identity');
  });
});

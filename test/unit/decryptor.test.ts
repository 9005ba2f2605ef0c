/**
 * The ThresholdDecryptor adapters that secure causal atomic broadcast uses: the real one (TDH2 of
 * crypto/tdh2.ts) and the insecure test stand-in must agree on every rule the protocol relies on.
 */
import { describe, expect, it } from 'vitest';
import { randomScalar } from '../../shared/crypto/field.ts';
import { shamirScheme } from '../../shared/crypto/lsss.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { encodeCiphertext, encrypt, tdh2PublicKeyFromShares } from '../../shared/crypto/tdh2.ts';
import { insecureTestDecryptor, insecureTestEncrypt, realDecryptor } from '../../shared/protocols/crypto-suite.ts';
import type { ThresholdDecryptor } from '../../shared/protocols/crypto-suite.ts';
import { CryptoError } from '../../shared/crypto/errors.ts';

const groupId = new Uint8Array(32).fill(9);
const scheme = shamirScheme(4, 2);
const text = (s: string) => new TextEncoder().encode(s);

function realSetup() {
  const rng = seededRandom('decryptor-test');
  const secret = randomScalar(rng);
  const rows = scheme.share(secret, rng);
  const pk = tdh2PublicKeyFromShares(scheme, secret, rows);
  const decryptors = [0, 1, 2, 3].map((r) => realDecryptor(groupId, pk, { replica: r, values: scheme.rowsOf(r).map((x) => rows[x]!) }));
  return {
    decryptors,
    encrypt: (label: Uint8Array, m: Uint8Array, undecryptable = false) =>
      encodeCiphertext(encrypt(undecryptable ? { ...pk, publicKey: pk.rowKeys[0]! } : pk, groupId, label, m, rng)),
  };
}

function insecureSetup() {
  return {
    decryptors: [0, 1, 2, 3].map((r) => insecureTestDecryptor(groupId, r, scheme)),
    encrypt: (label: Uint8Array, m: Uint8Array, undecryptable = false) => insecureTestEncrypt(groupId, label, m, undecryptable),
  };
}

describe.each([
  ['real TDH2', realSetup],
  ['insecure test stand-in', insecureSetup],
] as const)('%s decryptor', (_name, setup) => {
  const { decryptors, encrypt } = setup();
  const d: ThresholdDecryptor[] = decryptors;

  it('valid ciphertext: shares verify, a qualified set decrypts, an unqualified one is refused', () => {
    const ct = encrypt(text('client-1'), text('order 42'));
    expect(d.every((x) => x.isValid(ct))).toBe(true);
    const shares = new Map(d.map((x, i) => [i, x.share(ct)] as const));
    for (const [i, s] of shares) expect(d[0]!.verifyShare(ct, i, s)).toBe(true);
    expect(d[0]!.verifyShare(ct, 1, shares.get(2)!)).toBe(false);
    const r = d[3]!.combine(ct, new Map([[0, shares.get(0)!], [2, shares.get(2)!]]));
    expect(new TextDecoder().decode(r.plaintext!)).toBe('order 42');
    expect(r.faulty).toEqual([]);
    expect(() => d[3]!.combine(ct, new Map([[1, shares.get(1)!]]))).toThrow(CryptoError);
  });

  it('a bad share is named and the plaintext still comes out; too few good ones is not-qualified', () => {
    const ct = encrypt(text('client-2'), text('secret bid'));
    const good = d.map((x) => x.share(ct));
    const bad = good[1]!.slice();
    bad[bad.length - 1]! ^= 1;
    const r = d[0]!.combine(ct, new Map([[1, bad], [0, good[0]!], [3, good[3]!]]));
    expect(new TextDecoder().decode(r.plaintext!)).toBe('secret bid');
    expect(r.faulty).toEqual([1]);
    try {
      d[0]!.combine(ct, new Map([[1, bad], [0, good[0]!]]));
      expect.unreachable();
    } catch (e) {
      expect((e as CryptoError).code).toBe('not-qualified');
    }
  });

  it('garbage and tampered ciphertexts are invalid and get no share', () => {
    const ct = encrypt(text('client-3'), text('x'));
    const tampered = ct.slice();
    tampered[tampered.length - 1]! ^= 0x40;
    for (const bad of [new Uint8Array(0), new Uint8Array(300).fill(7), tampered]) {
      expect(d[0]!.isValid(bad)).toBe(false);
      expect(() => d[0]!.share(bad)).toThrow(CryptoError);
    }
  });

  it('a valid ciphertext made under another key combines to null for every qualified set', () => {
    const ct = encrypt(text('client-4'), text('lost'), true);
    expect(d[0]!.isValid(ct)).toBe(true);
    const shares = d.map((x) => x.share(ct));
    expect(d[0]!.combine(ct, new Map([[0, shares[0]!], [1, shares[1]!]])).plaintext).toBeNull();
    expect(d[2]!.combine(ct, new Map([[2, shares[2]!], [3, shares[3]!]])).plaintext).toBeNull();
  });
});

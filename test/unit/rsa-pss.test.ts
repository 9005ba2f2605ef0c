/**
 * RSASSA-PSS (RFC 8017 section 8.1, SHA-256, MGF1-SHA-256, 32-byte salt) in shared/crypto/rsa.ts and
 * through Shoup's threshold shares (threshold-rsa.ts, RsaEncoding.pssSalt): the combined signature is a
 * standard PSS signature that node:crypto verifies; our verifier accepts node:crypto's own PSS signatures
 * (random salts) and refuses altered ones and PKCS #1 v1.5 signatures.
 */
import { constants, createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../shared/crypto/random.ts';
import { sha256 } from '../../shared/crypto/sha256.ts';
import { rsaPssVerify, rsaVerify } from '../../shared/crypto/rsa.ts';
import { combineShares, dealThresholdRsa, signShare, verifyShare } from '../../shared/crypto/threshold-rsa.ts';
import { rsaPublicKeyPem } from '../../shared/crypto/x509.ts';
import { utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { fixturePrimes } from '../helpers/group.ts';

const { p, q } = fixturePrimes(1);
const rng = seededRandom('rsa-pss');
const dealing = dealThresholdRsa({ p, q, group: { players: 4, threshold: 2 }, testOnly: true }, rng);
const pk = dealing.publicKey;
const key = createPublicKey(rsaPublicKeyPem(pk));
const pss = { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };

describe('RSASSA-PSS', () => {
  it('threshold shares with a PSS salt combine to a signature node:crypto verifies', () => {
    const message = utf8ToBytes('release 2.0');
    const digest = sha256(message);
    const salt = sha256(utf8ToBytes('a salt every replica derives alike'));
    const shares = dealing.shares.slice(1, 3).map((k) => signShare(pk, k, digest, rng, { pssSalt: salt }));
    expect(shares.every((s) => verifyShare(pk, digest, s, { pssSalt: salt }))).toBe(true);
    // A PSS share is not a share under PKCS #1 v1.5 (another x), nor under another salt.
    expect(verifyShare(pk, digest, shares[0]!)).toBe(false);
    expect(verifyShare(pk, digest, shares[0]!, { pssSalt: new Uint8Array(32) })).toBe(false);
    const { signature } = combineShares(pk, digest, shares, { encoding: { pssSalt: salt } });
    expect(nodeVerify('sha256', message, pss, signature)).toBe(true);
    expect(rsaPssVerify(pk, message, signature)).toBe(true);
    expect(rsaVerify(pk, message, signature)).toBe(false);
    const altered = signature.slice();
    altered[10]! ^= 1;
    expect(rsaPssVerify(pk, message, altered)).toBe(false);
    expect(rsaPssVerify(pk, utf8ToBytes('release 2.1'), signature)).toBe(false);
    // Every pair of signers gives the same signature (the salt is fixed).
    const other = combineShares(pk, digest, [dealing.shares[0]!, dealing.shares[3]!].map((k) => signShare(pk, k, digest, rng, { pssSalt: salt })), { encoding: { pssSalt: salt } });
    expect(other.signature).toEqual(signature);
  });

  it('our verifier accepts node:crypto PSS signatures with random salts, and refuses PKCS #1 v1.5 ones', () => {
    // A whole private key from the same primes, for node:crypto to sign with.
    const n = p * q;
    const e = pk.e;
    const phi = (p - 1n) * (q - 1n);
    const modInv = (a: bigint, m: bigint): bigint => {
      let [r0, r1, s0, s1] = [a % m, m, 1n, 0n];
      while (r1 !== 0n) {
        const qt = r0 / r1;
        [r0, r1, s0, s1] = [r1, r0 - qt * r1, s1, s0 - qt * s1];
      }
      return ((s0 % m) + m) % m;
    };
    const d = modInv(e, phi);
    const b64 = (x: bigint) => Buffer.from(x.toString(16).padStart(Math.ceil(x.toString(16).length / 2) * 2, '0'), 'hex').toString('base64url');
    const priv = createPrivateKey({
      key: { kty: 'RSA', n: b64(n), e: b64(e), d: b64(d), p: b64(p), q: b64(q), dp: b64(d % (p - 1n)), dq: b64(d % (q - 1n)), qi: b64(modInv(q, p)) },
      format: 'jwk',
    });
    for (let i = 0; i < 5; i++) {
      const message = utf8ToBytes(`message ${i}`);
      const sig = nodeSign('sha256', message, { key: priv, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
      expect(rsaPssVerify(pk, message, new Uint8Array(sig))).toBe(true);
      expect(rsaPssVerify(pk, message, new Uint8Array(nodeSign('sha256', message, priv)))).toBe(false);
    }
  });
});

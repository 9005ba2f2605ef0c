/**
 * Threshold RSA (Shoup 2000, shared/crypto/threshold-rsa.ts), PKCS #1 v1.5 (shared/crypto/rsa.ts) and the
 * bigint arithmetic under them (shared/crypto/modular.ts). The keys come from the fixed safe primes of
 * test/fixtures/threshold-rsa-primes.json (1024-bit moduli for most tests, one 2048-bit modulus); node:crypto
 * is the independent referee: it must accept every combined signature, and its own PKCS #1 v1.5 signature
 * with the ordinary private exponent must be byte-identical.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as nodeCrypto from 'node:crypto';
import { toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { CryptoError } from '../../shared/crypto/errors.ts';
import { bitLength, egcd, isProbablePrime, modInverse, modInverseOrNull, modPow } from '../../shared/crypto/modular.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import {
  SHA256_DIGEST_INFO_PREFIX,
  emsaPkcs1v15Sha256,
  pkcs1v15Representative,
  rsaPublicKeyJwk,
  rsaVerify,
  rsaVerifyDigest,
} from '../../shared/crypto/rsa.ts';
import { sha256 } from '../../shared/crypto/sha256.ts';
import {
  PROOF_DOMAIN,
  ThresholdRsaError,
  checkKeyShare,
  combineShares,
  dealThresholdRsa,
  decodeSignatureShare,
  encodeSignatureShare,
  signShare,
  signatureShareBytes,
  thresholdRsaParameters,
  verifyShare,
} from '../../shared/crypto/threshold-rsa.ts';
import type { ThresholdRsaDealing, ThresholdRsaPublicKey, ThresholdRsaSignatureShare } from '../../shared/crypto/threshold-rsa.ts';

interface PrimePair {
  p: string;
  q: string;
}
const FIXTURE = JSON.parse(readFileSync(resolve(import.meta.dirname, '../fixtures/threshold-rsa-primes.json'), 'utf8')) as {
  modulus1024: PrimePair[];
  modulus2048: PrimePair;
};
const primes = (pair: PrimePair) => ({ p: BigInt(`0x${pair.p}`), q: BigInt(`0x${pair.q}`) });
const SMALL = primes(FIXTURE.modulus1024[0]!);
const SMALL_OTHER = primes(FIXTURE.modulus1024[1]!);
const BIG = primes(FIXTURE.modulus2048);

const MESSAGE = utf8ToBytes('tbsCertificate of www.example.org, serial 17');
const DIGEST = sha256(MESSAGE);
const OTHER_DIGEST = sha256(utf8ToBytes('another message'));

function deal(pq: { p: bigint; q: bigint }, players: number, threshold: number, seed: string, testOnly = true): ThresholdRsaDealing {
  return dealThresholdRsa({ ...pq, group: { players, threshold }, testOnly }, seededRandom(seed));
}

function errorOf(f: () => unknown): { code: string; message: string; name: string } | 'accepted' {
  try {
    f();
  } catch (e) {
    if (e instanceof CryptoError) return { code: e.code, message: e.message, name: e.name };
    throw e;
  }
  return 'accepted';
}

/** The ordinary RSA private key for (p, q, e): d = e^-1 mod lcm(p - 1, q - 1) = e^-1 mod 2p'q'. */
function ordinaryKey(pq: { p: bigint; q: bigint }, e: bigint) {
  const { p, q } = pq;
  const lambda = (2n * (p - 1n) * (q - 1n)) / 4n; // lcm(2p', 2q') = 2p'q'
  const d = modInverse(e, lambda);
  return { n: p * q, d, p, q, dp: d % (p - 1n), dq: d % (q - 1n), qi: modInverse(q, p) };
}

const b64u = (x: bigint) => {
  const hex = x.toString(16);
  return Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex').toString('base64url');
};

/** node:crypto key objects built from (n, e) (and the private parts) given as a JWK, as an outside verifier would. */
function nodePublicKey(pk: { n: bigint; e: bigint }) {
  return nodeCrypto.createPublicKey({ key: { kty: 'RSA', n: b64u(pk.n), e: b64u(pk.e) }, format: 'jwk' });
}
function nodePrivateKey(pq: { p: bigint; q: bigint }, e: bigint) {
  const k = ordinaryKey(pq, e);
  const jwk = { kty: 'RSA', n: b64u(k.n), e: b64u(e), d: b64u(k.d), p: b64u(k.p), q: b64u(k.q), dp: b64u(k.dp), dq: b64u(k.dq), qi: b64u(k.qi) };
  return nodeCrypto.createPrivateKey({ key: jwk, format: 'jwk' });
}

function subsets<T>(xs: readonly T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (xs.length < k) return [];
  const [head, ...rest] = xs;
  return [...subsets(rest, k - 1).map((s) => [head!, ...s]), ...subsets(rest, k)];
}

describe('fixtures', () => {
  it('every fixture prime is a safe prime (our Miller-Rabin and node:crypto checkPrime agree) of the stated size', () => {
    for (const [pq, bits] of [[SMALL, 512], [SMALL_OTHER, 512], [BIG, 1024]] as const) {
      for (const x of [pq.p, pq.q]) {
        expect(bitLength(x)).toBe(bits);
        for (const y of [x, (x - 1n) / 2n]) {
          expect(isProbablePrime(y)).toBe(true);
          expect(nodeCrypto.checkPrimeSync(y)).toBe(true);
        }
      }
    }
    expect(bitLength(BIG.p * BIG.q)).toBe(2048);
  });
});

describe('modular arithmetic', () => {
  const naivePow = (b: bigint, e: bigint, m: bigint) => {
    let r = 1n % m;
    b %= m;
    for (; e > 0n; e >>= 1n, b = (b * b) % m) if (e & 1n) r = (r * b) % m;
    return r;
  };

  it('modPow agrees with square-and-multiply on every window size and edge case', () => {
    const n = SMALL.p * SMALL.q;
    const rng = seededRandom('modpow');
    const exps = [0n, 1n, 2n, 3n, 15n, 16n, 17n, 65537n, (1n << 64n) - 1n, 1n << 200n, BigInt(`0x${toHex(rng(40))}`), BigInt(`0x${toHex(rng(300))}`)];
    for (const e of exps) {
      for (const b of [0n, 1n, 2n, n - 1n, BigInt(`0x${toHex(rng(128))}`) % n, -5n]) expect(modPow(b, e, n)).toBe(naivePow(((b % n) + n) % n, e, n));
    }
    expect(modPow(5n, 3n, 1n)).toBe(0n);
    expect(errorOf(() => modPow(2n, -1n, n))).toMatchObject({ code: 'scalar-out-of-range' });
  });

  it('egcd, inverses', () => {
    const [g, x, y] = egcd(240n, 46n);
    expect(g).toBe(2n);
    expect(240n * x + 46n * y).toBe(2n);
    expect((modInverse(3n, 7n) * 3n) % 7n).toBe(1n);
    expect(modInverseOrNull(6n, 9n)).toBeNull();
    expect(errorOf(() => modInverse(6n, 9n))).toMatchObject({ code: 'scalar-out-of-range' });
  });

  it('isProbablePrime: small primes, Carmichael numbers and strong pseudoprimes to small bases are told apart', () => {
    for (const p of [2n, 3n, 1999n, 2003n, 65537n, (1n << 127n) - 1n, (1n << 521n) - 1n]) expect(isProbablePrime(p)).toBe(true);
    // 561, 41041, 825265: Carmichael; 2047, 3215031751, 3825123056546413051: strong pseudoprimes to small bases.
    for (const c of [0n, 1n, 4n, 561n, 41041n, 825265n, 2047n, 3215031751n, 3825123056546413051n, (1n << 128n) + 1n, SMALL.p * SMALL.q]) {
      expect(isProbablePrime(c)).toBe(false);
    }
  });
});

describe('PKCS #1 v1.5 (RFC 8017)', () => {
  it('the DigestInfo prefix is the one of RFC 8017 section 9.2, note 1, and the encoding has the standard layout', () => {
    expect(toHex(SHA256_DIGEST_INFO_PREFIX)).toBe('3031300d060960864801650304020105000420');
    const em = emsaPkcs1v15Sha256(DIGEST, 128);
    expect(em.length).toBe(128);
    expect(toHex(em.subarray(0, 2))).toBe('0001');
    expect(em.subarray(2, 128 - 52).every((b) => b === 0xff)).toBe(true);
    expect(em[128 - 52]).toBe(0);
    expect(toHex(em.subarray(128 - 51))).toBe(toHex(SHA256_DIGEST_INFO_PREFIX) + toHex(DIGEST));
    expect(errorOf(() => emsaPkcs1v15Sha256(DIGEST, 61))).toMatchObject({ code: 'bad-length' });
    expect(errorOf(() => emsaPkcs1v15Sha256(DIGEST.subarray(1), 128))).toMatchObject({ code: 'bad-length' });
  });

  it('rsaVerify accepts node:crypto PKCS #1 v1.5 SHA-256 signatures and refuses altered ones', () => {
    const e = 65537n;
    const pk = { n: SMALL.p * SMALL.q, e };
    const sig = new Uint8Array(nodeCrypto.sign('sha256', MESSAGE, nodePrivateKey(SMALL, e)));
    expect(rsaVerify(pk, MESSAGE, sig)).toBe(true);
    expect(rsaVerifyDigest(pk, DIGEST, sig)).toBe(true);
    expect(rsaVerify(pk, utf8ToBytes('other'), sig)).toBe(false);
    const flipped = sig.slice();
    flipped[10]! ^= 1;
    expect(rsaVerify(pk, MESSAGE, flipped)).toBe(false);
    expect(rsaVerify(pk, MESSAGE, sig.subarray(1))).toBe(false); // wrong length
    const tooBig = new Uint8Array(sig.length).fill(0xff); // s >= n
    expect(rsaVerify(pk, MESSAGE, tooBig)).toBe(false);
    expect(rsaVerify({ n: SMALL_OTHER.p * SMALL_OTHER.q, e }, MESSAGE, sig)).toBe(false);
  });

  it('the JWK of a key is what node:crypto exports for it', () => {
    const pk = { n: SMALL.p * SMALL.q, e: 65537n };
    const exported = nodePublicKey(pk).export({ format: 'jwk' });
    expect(rsaPublicKeyJwk(pk)).toEqual({ kty: 'RSA', n: exported.n, e: exported.e });
  });
});

describe('threshold RSA: known answers', () => {
  // The combined signature is the unique e-th root of x, whatever the randomness; the shares depend on it,
  // so their encodings are pinned too (dealing and proofs are deterministic under a seeded source).
  const KAT_1024 = {
    signature:
      '12d01441cb4f30020da8a7c0662cdcfe3ee0d04eb7f1c1a80f05e96e8cc54df2'
      + '7ad83e338d76648d9abad0c8e134c1ec4fccc8698a6eebae750338f84c22bd8e'
      + '2433470f9064c254fbc39ab6ef4a79155ace4b8f77c5f21d5868df745b6f7631'
      + 'deeef9e42493b6112521766d4e05c57e5f40ddd40941e4389b62f507f8559265',
    /** SHA-256 of the four encoded shares, concatenated in signer order. */
    sharesSha256: '53d10ad57f6aa0464041b5cd2a2f9221d2c03c2bee640e864ff672112749d73c',
  };
  const KAT_2048 = {
    signature:
      '96dfe541431fedeb3d32542aee6a1c161898a5f5cbd4a4091694bc8fb012b596'
      + 'b1a98904a2bb365c9cc7ea77f621e48ae165b807cbc1fc97e2d614c87921a2ba'
      + '77e676243cbd48d328a266d66dbef365dee16c65cbd45c7b046e008cfa630d5b'
      + '228f50f528db0b45b7804b81fc6bbaab70cf02c6d880ad930fa0b0c98586ffb4'
      + '02acc5342915a5e7f76af2c0c96566abfc59cd5eb479381dd8cf5e93e2f457c9'
      + '4e7a923ced974535eccdcb59e1b142485ce6511e2c3f2a0a79ffbd29e036754b'
      + 'dace8e4ea53d74bd325cb82578972b10a2fa316c6f34f78f47e8a670b3b2c8c7'
      + 'f9095493f392aecaf6e845102711a897538982d2cf05e6e059cb87f1d9facfde',
  };

  it('1024-bit modulus, l = 4, k = 2: the expected signature, equal to x^d mod n and to node:crypto\'s own signature', () => {
    const { publicKey: pk, shares } = deal(SMALL, 4, 2, 'threshold-rsa kat');
    const rng = seededRandom('threshold-rsa kat shares');
    const sigShares = shares.map((k) => signShare(pk, k, DIGEST, rng));
    const encoded = sigShares.map((s) => encodeSignatureShare(pk, s));
    const { signature, faulty } = combineShares(pk, DIGEST, sigShares.slice(0, 2));
    expect(faulty).toEqual([]);
    // The ordinary RSA signature x^d mod n, d = e^-1 mod lcm(p - 1, q - 1). (Not the dealt d = e^-1 mod m:
    // x^(d mod m) can be off by an element of order 2 when x is not a square.)
    const direct = modPow(pkcs1v15Representative(pk.n, DIGEST), ordinaryKey(SMALL, pk.e).d, pk.n);
    expect(toHex(signature)).toBe(direct.toString(16).padStart(256, '0'));
    expect(toHex(signature)).toBe(toHex(new Uint8Array(nodeCrypto.sign('sha256', MESSAGE, nodePrivateKey(SMALL, pk.e)))));
    expect(nodeCrypto.verify('sha256', MESSAGE, nodePublicKey(pk), signature)).toBe(true);
    expect(rsaVerify(pk, MESSAGE, signature)).toBe(true);
    expect(toHex(signature)).toBe(KAT_1024.signature);
    expect(toHex(sha256(new Uint8Array(encoded.flatMap((b) => [...b]))))).toBe(KAT_1024.sharesSha256);
    // The same seeds deal the same key and shares.
    const again = deal(SMALL, 4, 2, 'threshold-rsa kat');
    expect(again.publicKey).toEqual(pk);
    expect(again.shares).toEqual(shares);
  });

  it('2048-bit modulus, l = 4, k = 2: node:crypto.verify accepts the combined signature under a PEM built from (n, e)', () => {
    const { publicKey: pk, shares } = deal(BIG, 4, 2, 'threshold-rsa kat 2048', false);
    expect(bitLength(pk.n)).toBe(2048);
    const rng = seededRandom('threshold-rsa kat 2048 shares');
    const sigShares = [shares[3]!, shares[1]!].map((k) => signShare(pk, k, DIGEST, rng));
    const { signature } = combineShares(pk, DIGEST, sigShares);
    expect(signature.length).toBe(256);
    const pem = nodePublicKey(pk).export({ type: 'spki', format: 'pem' });
    expect(nodeCrypto.verify('sha256', MESSAGE, pem, signature)).toBe(true);
    expect(nodeCrypto.verify('sha256', utf8ToBytes('not it'), pem, signature)).toBe(false);
    expect(toHex(signature)).toBe(toHex(new Uint8Array(nodeCrypto.sign('sha256', MESSAGE, nodePrivateKey(BIG, pk.e)))));
    expect(toHex(signature)).toBe(KAT_2048.signature);
  });
});

describe('threshold RSA: any k of l', () => {
  for (const [l, k] of [[4, 2], [7, 3]] as const) {
    it(`l = ${l}, k = ${k}: every k-subset of valid shares combines to the same signature, which node:crypto accepts`, () => {
      const { publicKey: pk, shares } = deal(SMALL, l, k, `threshold-rsa ${l}-${k}`);
      for (const key of shares) expect(checkKeyShare(pk, key)).toBe(true);
      const rng = seededRandom(`threshold-rsa ${l}-${k} shares`);
      const sigShares = shares.map((key) => signShare(pk, key, DIGEST, rng));
      for (const s of sigShares) expect(verifyShare(pk, DIGEST, s)).toBe(true);
      const expected = toHex(new Uint8Array(nodeCrypto.sign('sha256', MESSAGE, nodePrivateKey(SMALL, pk.e))));
      const all = subsets(sigShares, k);
      expect(all.length).toBe(l === 4 ? 6 : 35);
      for (const subset of all) {
        const { signature, faulty } = combineShares(pk, DIGEST, subset);
        expect(faulty).toEqual([]);
        expect(toHex(signature)).toBe(expected);
      }
      // More than k, in any order, gives the same.
      expect(toHex(combineShares(pk, DIGEST, [...sigShares].reverse()).signature)).toBe(expected);
      expect(nodeCrypto.verify('sha256', MESSAGE, nodePublicKey(pk), combineShares(pk, DIGEST, all[0]!).signature)).toBe(true);
    });
  }

  it('the extremes k = 1 (one share signs) and k = l (all must sign)', () => {
    const expected = toHex(new Uint8Array(nodeCrypto.sign('sha256', MESSAGE, nodePrivateKey(SMALL, 65537n))));
    for (const [l, k] of [[1, 1], [3, 1], [4, 4]] as const) {
      const { publicKey: pk, shares } = deal(SMALL, l, k, `threshold-rsa ${l}-${k}`);
      const rng = seededRandom(`threshold-rsa ${l}-${k} shares`);
      const sigShares = shares.map((key) => signShare(pk, key, DIGEST, rng));
      for (const s of subsets(sigShares, k)) expect(toHex(combineShares(pk, DIGEST, s).signature)).toBe(expected);
      if (k > 1) expect(errorOf(() => combineShares(pk, DIGEST, sigShares.slice(1)))).toMatchObject({ code: 'not-qualified' });
    }
  });

  it('a threshold structure deals its kernel (t + 1 of n); a general structure is refused at dealing', () => {
    expect(thresholdRsaParameters({ type: 'threshold', n: 4, t: 1 })).toEqual({ players: 4, threshold: 2 });
    expect(thresholdRsaParameters({ type: 'threshold', n: 7, t: 2 })).toEqual({ players: 7, threshold: 3 });
    const viaStructure = dealThresholdRsa({ ...SMALL, group: { type: 'threshold', n: 4, t: 1 }, testOnly: true }, seededRandom('threshold-rsa 4-2'));
    expect(viaStructure).toEqual(deal(SMALL, 4, 2, 'threshold-rsa 4-2'));
    const general = { type: 'general' as const, n: 4, maximalCorruptible: [[0], [1], [2], [3]] };
    const err = errorOf(() => dealThresholdRsa({ ...SMALL, group: general, testOnly: true }, seededRandom('x')));
    expect(err).toEqual({
      code: 'invalid-structure',
      name: 'ThresholdRsaError',
      message: "threshold RSA supports threshold structures only (k of n); this group's structure is general",
    });
    expect(() => thresholdRsaParameters(general)).toThrow(ThresholdRsaError);
    expect(() => thresholdRsaParameters(general)).toThrow(CryptoError);
  });
});

describe('threshold RSA: bad shares are detected and named', () => {
  const { publicKey: pk, shares } = deal(SMALL, 4, 2, 'threshold-rsa bad');
  const rng = seededRandom('threshold-rsa bad shares');
  const good = shares.map((key) => signShare(pk, key, DIGEST, rng));
  const expected = toHex(new Uint8Array(nodeCrypto.sign('sha256', MESSAGE, nodePrivateKey(SMALL, pk.e))));
  const n = pk.n;

  const bad: Record<string, ThresholdRsaSignatureShare> = {
    'wrong x_i': { ...good[0]!, xi: (good[0]!.xi * 2n) % n },
    'wrong proof (c)': { ...good[0]!, c: good[0]!.c ^ 1n },
    'wrong proof (z)': { ...good[0]!, z: good[0]!.z + 1n },
    'share of another message': signShare(pk, shares[0]!, OTHER_DIGEST, rng),
    'share from another index': { ...good[1]!, signer: 0 },
    'x_i = 0': { ...good[0]!, xi: 0n },
    'x_i = n': { ...good[0]!, xi: n },
    'z too long': { ...good[0]!, z: 1n << BigInt(bitLength(n) + 257) },
    'c too long': { ...good[0]!, c: 1n << 128n },
  };

  for (const [what, share] of Object.entries(bad)) {
    it(`${what}: verifyShare is false; combination still succeeds from the others and names signer 0`, () => {
      expect(verifyShare(pk, DIGEST, share)).toBe(false);
      const { signature, faulty } = combineShares(pk, DIGEST, [share, good[2]!, good[3]!], { checkAll: true });
      expect(toHex(signature)).toBe(expected);
      expect(faulty).toEqual([0]);
      if (what !== 'wrong proof (c)' && what !== 'wrong proof (z)') {
        // Without checkAll the bad share spoils the optimistic combination of the first k, so it is found too.
        expect(combineShares(pk, DIGEST, [share, good[2]!, good[3]!]).faulty).toEqual([0]);
      }
    });
  }

  it('a share whose x_i is right but whose proof is wrong does no harm; it is named only with checkAll', () => {
    const share = bad['wrong proof (z)']!;
    const optimistic = combineShares(pk, DIGEST, [share, good[2]!]);
    expect(toHex(optimistic.signature)).toBe(expected);
    expect(optimistic.faulty).toEqual([]);
    expect(errorOf(() => combineShares(pk, DIGEST, [share, good[2]!], { checkAll: true }))).toMatchObject({ code: 'not-qualified' });
  });

  it('-x_i is as valid as x_i (the proof and the combination use x_i^2)', () => {
    const negated = { ...good[0]!, xi: n - good[0]!.xi };
    expect(verifyShare(pk, DIGEST, negated)).toBe(true);
    expect(toHex(combineShares(pk, DIGEST, [negated, good[1]!]).signature)).toBe(expected);
  });

  it('malformed shares are false, never an exception', () => {
    const junk = [
      { ...good[0]!, signer: 4 },
      { ...good[0]!, signer: -1 },
      { ...good[0]!, signer: 1.5 },
      { ...good[0]!, xi: Number(5) },
      { ...good[0]!, z: -1n },
      null,
      'share',
      {},
    ] as unknown as ThresholdRsaSignatureShare[];
    for (const s of junk) expect(verifyShare(pk, DIGEST, s)).toBe(false);
    // ... and ignored by combination.
    expect(toHex(combineShares(pk, DIGEST, [...junk, good[1]!, good[3]!]).signature)).toBe(expected);
  });

  it('two different shares from one signer: the valid one is kept', () => {
    const r = combineShares(pk, DIGEST, [bad['wrong x_i']!, good[0]!, good[1]!]);
    expect(toHex(r.signature)).toBe(expected);
    expect(r.faulty).toEqual([]);
  });

  it('fewer than k valid shares: a not-qualified error naming what it got', () => {
    for (const set of [[], [good[0]!], [good[2]!, good[2]!]]) {
      const err = errorOf(() => combineShares(pk, DIGEST, set));
      expect(err).toMatchObject({ code: 'not-qualified', name: 'ThresholdRsaError' });
      expect((err as { message: string }).message).toMatch(/^threshold RSA needs 2 valid signature shares; got [01] /);
    }
    const err = errorOf(() => combineShares(pk, DIGEST, [bad['wrong x_i']!, good[3]!]));
    expect(err).toMatchObject({ code: 'not-qualified' });
    expect((err as { message: string }).message).toBe('threshold RSA needs 2 valid signature shares; got 1 (signers [3]; faulty: [0])');
  });

  it('shares for another key do not verify', () => {
    const other = deal(SMALL_OTHER, 4, 2, 'threshold-rsa other key');
    const foreign = signShare(other.publicKey, other.shares[0]!, DIGEST, rng);
    expect(verifyShare(pk, DIGEST, foreign)).toBe(false);
    expect(verifyShare(other.publicKey, DIGEST, foreign)).toBe(true);
  });
});

describe('threshold RSA: share encoding', () => {
  const { publicKey: pk, shares } = deal(SMALL, 4, 2, 'threshold-rsa encoding');
  const share = signShare(pk, shares[2]!, DIGEST, seededRandom('threshold-rsa encoding shares'));

  it('round-trips with the documented layout and length', () => {
    const b = encodeSignatureShare(pk, share);
    expect(b.length).toBe(signatureShareBytes(pk));
    expect(b.length).toBe(2 + 128 + 16 + Math.ceil((1024 + 257) / 8));
    expect(toHex(b.subarray(0, 2))).toBe('0002');
    expect(decodeSignatureShare(pk, b)).toEqual(share);
  });

  it('decoding is strict', () => {
    const b = encodeSignatureShare(pk, share);
    const edit = (f: (c: Uint8Array) => void) => {
      const c = b.slice();
      f(c);
      return c;
    };
    expect(errorOf(() => decodeSignatureShare(pk, b.subarray(1)))).toMatchObject({ code: 'bad-length' });
    expect(errorOf(() => decodeSignatureShare(pk, new Uint8Array([...b, 0])))).toMatchObject({ code: 'bad-length' });
    expect(errorOf(() => decodeSignatureShare(pk, edit((c) => (c[1] = 4))))).toMatchObject({ code: 'index-out-of-range' });
    expect(errorOf(() => decodeSignatureShare(pk, edit((c) => c.fill(0, 2, 130))))).toMatchObject({ code: 'scalar-out-of-range' }); // x_i = 0
    expect(errorOf(() => decodeSignatureShare(pk, edit((c) => c.fill(0xff, 2, 130))))).toMatchObject({ code: 'scalar-out-of-range' }); // x_i >= n
    expect(errorOf(() => decodeSignatureShare(pk, edit((c) => (c[146] = 0xff))))).toMatchObject({ code: 'scalar-out-of-range' }); // z too long
    expect(errorOf(() => decodeSignatureShare(pk, 'ab' as unknown as Uint8Array))).toMatchObject({ code: 'bad-length' });
    expect(errorOf(() => encodeSignatureShare(pk, { ...share, xi: 0n }))).toMatchObject({ code: 'bad-encoding' });
  });
});

describe('threshold RSA: inputs are validated', () => {
  const { publicKey: pk, shares } = deal(SMALL, 4, 2, 'threshold-rsa inputs');
  const rng = seededRandom('threshold-rsa inputs shares');
  const dealWith = (over: Record<string, unknown>) => errorOf(() => dealThresholdRsa({ ...SMALL, group: { players: 4, threshold: 2 }, testOnly: true, ...over } as never, seededRandom('x')));

  it('dealing: primes', () => {
    // A 512-bit prime that is not safe (a random prime is safe with negligible probability), with a 1024-bit n.
    let notSafe = 0n;
    while (bitLength(notSafe * SMALL.q) !== 1024) notSafe = nodeCrypto.generatePrimeSync(512, { bigint: true });
    expect(isProbablePrime((notSafe - 1n) / 2n)).toBe(false);
    expect(dealWith({ p: notSafe })).toMatchObject({ code: 'scalar-out-of-range', message: expect.stringContaining('p is not a safe prime') });
    expect(dealWith({ q: SMALL.q + 2n })).toMatchObject({ code: 'scalar-out-of-range', message: expect.stringContaining('q is not a safe prime') });
    expect(dealWith({ q: SMALL.p })).toMatchObject({ code: 'scalar-out-of-range' });
    expect(dealWith({ q: BIG.q })).toMatchObject({ code: 'bad-length' }); // 512 and 1024 bits
    expect(dealWith({ p: Number(7) })).toMatchObject({ code: 'bad-encoding' });
    expect(dealWith({ p: '0x1234' })).toMatchObject({ code: 'bad-encoding' });
    // A 1024-bit modulus is for tests only.
    expect(dealWith({ testOnly: false })).toMatchObject({ code: 'bad-length', message: expect.stringContaining('accepted: 2048-8192') });
  });

  it('dealing: exponent and group', () => {
    expect(dealWith({ e: 3n })).toMatchObject({ code: 'scalar-out-of-range' }); // not > l = 4
    expect(dealWith({ e: 65535n })).toMatchObject({ code: 'scalar-out-of-range' }); // not prime
    expect(dealWith({ e: 65537 })).toMatchObject({ code: 'bad-encoding' });
    expect(dealWith({ e: 65539n })).toBe('accepted'); // another prime > l is fine
    for (const group of [
      { players: 0, threshold: 0 },
      { players: 4, threshold: 0 },
      { players: 4, threshold: 5 },
      { players: 2.5, threshold: 1 },
      { players: 4, threshold: 1.5 },
      { players: 256, threshold: 2 },
      { players: '4', threshold: 2 },
      { type: 'threshold', n: 4, t: 4 },
      { type: 'threshold', n: 4, t: -1 },
      { type: 'grid', n: 4 },
    ]) {
      expect(dealWith({ group })).toMatchObject({ code: 'invalid-structure', name: 'ThresholdRsaError' });
    }
    expect(dealWith({ group: { players: 1, threshold: 1 } })).toBe('accepted');
    expect(dealWith({ group: { players: 4, threshold: 4 } })).toBe('accepted');
  });

  it('signing and verifying: digest, key share, public key', () => {
    for (const digest of [DIGEST.subarray(1), new Uint8Array(33), 'digest', Array.from(DIGEST)]) {
      expect(errorOf(() => signShare(pk, shares[0]!, digest as Uint8Array, rng))).toMatchObject({ code: 'bad-length' });
      expect(errorOf(() => verifyShare(pk, digest as Uint8Array, signShare(pk, shares[0]!, DIGEST, rng)))).toMatchObject({ code: 'bad-length' });
      expect(errorOf(() => combineShares(pk, digest as Uint8Array, []))).toMatchObject({ code: 'bad-length' });
    }
    expect(errorOf(() => signShare(pk, { signer: 4, s: 1n }, DIGEST, rng))).toMatchObject({ code: 'index-out-of-range' });
    expect(errorOf(() => signShare(pk, { signer: 0.5, s: 1n }, DIGEST, rng))).toMatchObject({ code: 'index-out-of-range' });
    expect(errorOf(() => signShare(pk, { signer: 0, s: 1 as unknown as bigint }, DIGEST, rng))).toMatchObject({ code: 'scalar-out-of-range' });
    expect(errorOf(() => signShare(pk, { signer: 0, s: -1n }, DIGEST, rng))).toMatchObject({ code: 'scalar-out-of-range' });
    expect(errorOf(() => signShare(pk, shares[0]!, DIGEST, (() => new Uint8Array(3)) as never))).toMatchObject({ code: 'bad-length' });
    expect(checkKeyShare(pk, { signer: 0, s: shares[1]!.s })).toBe(false);

    const badKeys: [string, Partial<ThresholdRsaPublicKey> | Record<string, unknown>][] = [
      ['even n', { n: pk.n + 1n }],
      ['short n', { n: (1n << 1000n) + 1n }],
      ['n not bigint', { n: Number(pk.n) }],
      ['e not prime', { e: 65535n }],
      ['e <= l', { e: 3n }],
      ['v = 1', { v: 1n }],
      ['a missing verification key', { verificationKeys: pk.verificationKeys.slice(1) }],
      ['a verification key >= n', { verificationKeys: [pk.n, ...pk.verificationKeys.slice(1)] }],
      ['threshold > players', { threshold: 5 }],
    ];
    for (const [what, over] of badKeys) {
      const badPk = { ...pk, ...over } as ThresholdRsaPublicKey;
      const err = errorOf(() => verifyShare(badPk, DIGEST, signShare(pk, shares[0]!, DIGEST, rng)));
      expect(err, what).not.toBe('accepted');
      expect((err as { name: string }).name, what).toBe('ThresholdRsaError');
    }
  });

  it('the proof hash is domain-separated', () => {
    expect(PROOF_DOMAIN).toBe('sintra-edge/v1/threshold-rsa/proof');
  });
});

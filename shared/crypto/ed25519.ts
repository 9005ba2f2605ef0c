/**
 * Ed25519 (RFC 8032, section 5.1) signatures of single replicas: the echoes of consistent broadcast, whose
 * certificate is a quorum's set of them (shared/protocols/signature-set.ts).
 *
 * Why a backend slot: noble's Ed25519 is portable JavaScript (about 1 ms per verification); node:crypto's
 * is native in Node (OpenSSL) and in workerd with nodejs_compat (BoringSSL), about 60-110 us. shared/ may
 * not import a runtime module, so an adapter installs the native one with `installEd25519`.
 *
 * One verification rule for every backend, because honest replicas must agree on every certificate a
 * Byzantine replica helps to form (a share one replica accepts and another refuses would let a corrupt
 * echo make a proof that convinces only some): RFC 8032's strict, cofactorless check. S must be below the
 * group order L, and the encoding of [S]B - [k]A must equal R byte for byte (so R is canonical and has no
 * small-order component). OpenSSL and BoringSSL verify this way; noble's own `verify` checks the cofactored
 * equation (8[S]B = 8R + 8[k]A) and so accepts R + T for a small-order T, which is why the reference here
 * (`referenceVerify`) is written with noble's point arithmetic instead. The public keys are dealt by the
 * trusted dealer (valid, not small-order), so only signatures are adversarial input. A candidate backend is
 * refused unless it agrees with the reference on RFC 8032's test vectors, on signatures of many keys and
 * lengths, and on the malformed cases (R + T for a small-order T, a flipped bit); S < L is also
 * checked in front of it, so a lax native check on S cannot matter.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE, numberToBytesLE } from '@noble/curves/utils.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { bytesEqual, fromHex } from './bytes.ts';
import { fail } from './errors.ts';

export const ED25519_PUBLIC_KEY_BYTES = 32;
export const ED25519_SEED_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;

/** The group order L of the prime-order subgroup. */
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

export interface Ed25519Backend {
  /** The public key of a 32-byte seed (RFC 8032's private key). */
  publicKey(seed: Uint8Array): Uint8Array;
  /** A signing function for one seed (a backend may prepare a key object once). */
  signer(seed: Uint8Array): (message: Uint8Array) => Uint8Array;
  /** A verifying function for one public key; must never throw for a 64-byte signature. */
  verifier(publicKey: Uint8Array): (message: Uint8Array, signature: Uint8Array) => boolean;
}

/** S (the signature's second half, little-endian) is below L: checked without a BigInt. */
function scalarBelowOrder(signature: Uint8Array): boolean {
  // L = 0x1000...0 14def9de a2f79cd6 5812631a 5cf5d3ed (little-endian bytes below).
  for (let i = 63; i >= 32; i--) {
    const b = signature[i]!;
    const l = L_BYTES[i - 32]!;
    if (b !== l) return b < l;
  }
  return false; // S == L
}

const L_BYTES = numberToBytesLE(L, 32);

/** k = SHA-512(R || A || M) mod L: the challenge of RFC 8032 section 5.1.6/5.1.7. */
function challenge(R: Uint8Array, publicKey: Uint8Array, message: Uint8Array): bigint {
  const input = new Uint8Array(64 + message.length);
  input.set(R, 0);
  input.set(publicKey, 32);
  input.set(message, 64);
  return bytesToNumberLE(sha512(input)) % L;
}

/** RFC 8032 section 5.1.7, cofactorless, with canonical S and R: the rule every backend must follow. */
export function referenceVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== ED25519_PUBLIC_KEY_BYTES || signature.length !== ED25519_SIGNATURE_BYTES) return false;
  if (!scalarBelowOrder(signature)) return false;
  let A: InstanceType<typeof ed25519.Point>;
  try {
    A = ed25519.Point.fromBytes(publicKey, false);
  } catch {
    return false;
  }
  const r = signature.subarray(0, 32);
  const S = bytesToNumberLE(signature.subarray(32));
  const check = ed25519.Point.BASE.multiplyUnsafe(S).subtract(A.multiplyUnsafe(challenge(r, publicKey, message)));
  return bytesEqual(check.toBytes(), r);
}

const nobleBackend: Ed25519Backend = {
  publicKey: (seed) => ed25519.getPublicKey(seed),
  signer: (seed) => (message) => ed25519.sign(message, seed),
  verifier: (publicKey) => (message, signature) => referenceVerify(publicKey, message, signature),
};

let backend: Ed25519Backend = nobleBackend;
let backendName = 'noble';

export function ed25519PublicKey(seed: Uint8Array): Uint8Array {
  if (seed.length !== ED25519_SEED_BYTES) fail('bad-length', `an Ed25519 seed is ${ED25519_SEED_BYTES} bytes`);
  return Uint8Array.from(backend.publicKey(seed));
}

/** Signing function of one seed, bound to the backend installed now. */
export function ed25519Signer(seed: Uint8Array): (message: Uint8Array) => Uint8Array {
  if (seed.length !== ED25519_SEED_BYTES) fail('bad-length', `an Ed25519 seed is ${ED25519_SEED_BYTES} bytes`);
  const sign = backend.signer(seed);
  return (message) => Uint8Array.from(sign(message));
}

/** Verifying function of one public key (strict, see above), bound to the backend installed now. */
export function ed25519Verifier(publicKey: Uint8Array): (message: Uint8Array, signature: Uint8Array) => boolean {
  if (publicKey.length !== ED25519_PUBLIC_KEY_BYTES) fail('bad-length', `an Ed25519 public key is ${ED25519_PUBLIC_KEY_BYTES} bytes`);
  const verify = backend.verifier(publicKey);
  return (message, signature) => signature.length === ED25519_SIGNATURE_BYTES && scalarBelowOrder(signature) && verify(message, signature);
}

/** A public key a dealer could have made: canonical, on the curve, not of small order. */
export function isEd25519PublicKey(publicKey: Uint8Array): boolean {
  if (publicKey.length !== ED25519_PUBLIC_KEY_BYTES) return false;
  try {
    const A = ed25519.Point.fromBytes(publicKey, false);
    return !A.isSmallOrder() && bytesEqual(A.toBytes(), publicKey);
  } catch {
    return false;
  }
}

export function ed25519Backend(): string {
  return backendName;
}

/** RFC 8032 section 7.1, tests 1-3: [seed, public key, message, signature]. */
const RFC8032: readonly (readonly [string, string, string, string])[] = [
  [
    '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    '',
    'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  ],
  [
    '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    '72',
    '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  ],
  [
    'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    'af82',
    '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  ],
];

/**
 * Use `candidate` for every later Ed25519 operation. Checked first against RFC 8032's vectors and noble on
 * 8 keys and messages of 0-176 bytes: equal public keys and signatures (Ed25519 is deterministic),
 * acceptance of good signatures, refusal of flipped bits and of R plus a small-order point (S >= L never
 * reaches a backend: the wrapper refuses it). A candidate that disagrees anywhere or throws is refused
 * with a CryptoError and the current backend stays. Functions made before an install keep their backend.
 * About 130 ms once per process (noble's tables included).
 */
export function installEd25519(name: string, candidate: Ed25519Backend): void {
  const problem = (what: string): never => fail('bad-encoding', `Ed25519 backend '${name}' disagrees with RFC 8032 / the strict reference on ${what}`);
  const attempt = <T>(what: string, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      return fail('bad-encoding', `Ed25519 backend '${name}' threw on ${what}: ${(e as Error).message}`);
    }
  };
  for (const [i, [seed, pub, msg, sig]] of RFC8032.entries()) {
    const what = `RFC 8032 test ${i + 1}`;
    if (!bytesEqual(attempt(what, () => candidate.publicKey(fromHex(seed))), fromHex(pub))) problem(`${what} (public key)`);
    if (!bytesEqual(attempt(what, () => candidate.signer(fromHex(seed))(fromHex(msg))), fromHex(sig))) problem(`${what} (signature)`);
    if (!attempt(what, () => candidate.verifier(fromHex(pub))(fromHex(msg), fromHex(sig)))) problem(`${what} (verification)`);
  }
  // A point of order 8 (RFC 8032's curve has torsion subgroup of order 8); R + T differs from R.
  const torsion = ed25519.Point.fromBytes(fromHex('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05'), false);
  // Expected verdicts are known without the reference (which costs about 1.3 ms per check): a flipped bit
  // changes R or S by less than L, so no equation holds. Eight keys keep the check near 20 ms at start-up.
  for (let k = 0; k < 8; k++) {
    const seed = sha512(Uint8Array.of(k, 0x5e)).subarray(0, 32);
    const pub = nobleBackend.publicKey(seed);
    for (const m of [new Uint8Array(0), new Uint8Array(25 * k + 1).map((_, i) => (i * 31 + k) & 0xff)]) {
      const what = `key ${k}, a ${m.length}-byte message`;
      if (!bytesEqual(attempt(what, () => candidate.publicKey(seed)), pub)) problem(`${what} (public key)`);
      const sig = nobleBackend.signer(seed)(m);
      if (!bytesEqual(attempt(what, () => candidate.signer(seed)(m)), sig)) problem(`${what} (signature)`);
      const verify = attempt(what, () => candidate.verifier(pub));
      const flipped = sig.slice();
      flipped[(k * 9) % 64]! ^= 1 << k % 8;
      const cases: [Uint8Array, string, boolean][] = [
        [sig, 'a good signature', true],
        [flipped, 'a flipped bit', false],
        [torsionSignature(seed, m, torsion, k), 'R plus a small-order point', false],
      ];
      for (const [candidateSig, kind, expected] of cases) {
        if (attempt(`${what}, ${kind}`, () => verify(m, candidateSig)) !== expected) problem(`${what}, ${kind}`);
      }
    }
  }
  backend = candidate;
  backendName = name;
}

/**
 * A signature whose R has a small-order component, made with the secret key as a Byzantine signer could:
 * R' = [r]B + T, k = H(R' || A || M), S = r + k a. The cofactored equation holds (8T = 0), the strict one
 * does not ([S]B - [k]A = [r]B, not R'): exactly where verifiers that follow different rules disagree.
 */
export function torsionSignature(seed: Uint8Array, message: Uint8Array, torsion: InstanceType<typeof ed25519.Point>, nonce: number): Uint8Array {
  const { scalar, pointBytes } = ed25519.utils.getExtendedPublicKey(seed);
  const r = (bytesToNumberLE(sha512(Uint8Array.of(nonce, 0x72))) % (L - 1n)) + 1n;
  const R = ed25519.Point.BASE.multiply(r).add(torsion).toBytes();
  const S = (r + challenge(R, pointBytes, message) * scalar) % L;
  const out = new Uint8Array(64);
  out.set(R, 0);
  out.set(numberToBytesLE(S, 32), 32);
  return out;
}

/** Back to noble (tests). */
export function resetEd25519(): void {
  backend = nobleBackend;
  backendName = 'noble';
}

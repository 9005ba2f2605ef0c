/**
 * Plain RSA public-key operations as PKCS #1 v2.2 (RFC 8017) defines them, for the signatures threshold RSA
 * (threshold-rsa.ts) combines: I2OSP / OS2IP (section 4), EMSA-PKCS1-v1_5 with SHA-256 (section 9.2) and
 * RSASSA-PKCS1-v1_5 verification (section 8.2.2), plus the public key as a JWK (RFC 7518 section 6.3.1)
 * for the tools that import keys that way (node:crypto, WebCrypto). The signatures are the standard
 * ones: any RSA library verifies them with the public key (n, e) alone.
 */
import { sha256 } from './sha256.ts';
import { bigintToBytes, bytesEqual, bytesToBigint, concatBytes, toBase64 } from './bytes.ts';
import { fail } from './errors.ts';
import { bitLength, byteLength, modPow } from './modular.ts';

export interface RsaPublicKey {
  readonly n: bigint;
  readonly e: bigint;
}

/** Bounds on the modulus every function here accepts; the dealer's policy (2048 bits) is in threshold-rsa.ts. */
export const RSA_MIN_MODULUS_BITS = 1024;
export const RSA_MAX_MODULUS_BITS = 8192;

/**
 * DER of DigestInfo { AlgorithmIdentifier { id-sha256, NULL }, OCTET STRING (32 bytes) } without the
 * digest: RFC 8017 section 9.2, note 1 (the SHA-256 line).
 */
export const SHA256_DIGEST_INFO_PREFIX = Uint8Array.from([
  0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
]);

export const SHA256_BYTES = 32;

/** Structural checks of a public key: odd modulus within the bounds, odd exponent 3 <= e < n. */
export function checkRsaPublicKey(pk: RsaPublicKey): void {
  if (typeof pk !== 'object' || pk === null) fail('bad-encoding', 'RSA public key: not an object');
  const { n, e } = pk;
  if (typeof n !== 'bigint' || typeof e !== 'bigint') fail('bad-encoding', 'RSA public key: n and e must be bigints');
  const bits = n > 0n ? bitLength(n) : 0;
  if (bits < RSA_MIN_MODULUS_BITS || bits > RSA_MAX_MODULUS_BITS) {
    fail('bad-length', `RSA modulus has ${bits} bits; accepted: ${RSA_MIN_MODULUS_BITS}-${RSA_MAX_MODULUS_BITS}`);
  }
  if ((n & 1n) === 0n) fail('scalar-out-of-range', 'RSA modulus is even');
  if (e < 3n || e >= n || (e & 1n) === 0n) fail('scalar-out-of-range', 'RSA public exponent must be odd, at least 3 and below n');
}

/** The length of n in bytes: the length of every signature under the key (RFC 8017 section 8.2.1, k). */
export function modulusBytes(n: bigint): number {
  return byteLength(n);
}

/** I2OSP (RFC 8017 section 4.1): big-endian, exactly `length` bytes; refuses x >= 256^length. */
export function i2osp(x: bigint, length: number): Uint8Array {
  return bigintToBytes(x, length);
}

/** OS2IP (RFC 8017 section 4.2). */
export function os2ip(b: Uint8Array): bigint {
  return bytesToBigint(b);
}

/**
 * EMSA-PKCS1-v1_5-ENCODE (RFC 8017 section 9.2) of a SHA-256 digest for an encoded message of `emLen`
 * bytes: 0x00 0x01 || 0xff * (emLen - 54) || 0x00 || DigestInfo prefix (19 bytes) || digest (32 bytes).
 * Step 1 (hashing) is the caller's, so a message is hashed once however many shares are made.
 */
export function emsaPkcs1v15Sha256(digest: Uint8Array, emLen: number): Uint8Array {
  if (!(digest instanceof Uint8Array) || digest.length !== SHA256_BYTES) fail('bad-length', `SHA-256 digest must be ${SHA256_BYTES} bytes`);
  const tLen = SHA256_DIGEST_INFO_PREFIX.length + SHA256_BYTES;
  // Step 3: emLen < tLen + 11 is "intended encoded message length too short".
  if (!Number.isInteger(emLen) || emLen < tLen + 11) fail('bad-length', `EMSA-PKCS1-v1_5: emLen must be at least ${tLen + 11}`);
  const ps = new Uint8Array(emLen - tLen - 3).fill(0xff);
  return concatBytes(Uint8Array.of(0x00, 0x01), ps, Uint8Array.of(0x00), SHA256_DIGEST_INFO_PREFIX, digest);
}

/** The message representative m = OS2IP(EMSA-PKCS1-v1_5-ENCODE(M, k)) of RSASP1 (RFC 8017 section 8.2.1, step 2). */
export function pkcs1v15Representative(n: bigint, digest: Uint8Array): bigint {
  return os2ip(emsaPkcs1v15Sha256(digest, modulusBytes(n)));
}

/**
 * RSASSA-PKCS1-v1_5-VERIFY (RFC 8017 section 8.2.2) with SHA-256, on the digest of the message. Compares
 * encodings (step 3, the recommended way) rather than parsing the DigestInfo, so no lax parser can accept a
 * forged tail. False on any mismatch, wrong length or out-of-range signature; throws only for a bad key.
 */
export function rsaVerifyDigest(pk: RsaPublicKey, digest: Uint8Array, signature: Uint8Array): boolean {
  checkRsaPublicKey(pk);
  if (!(digest instanceof Uint8Array) || digest.length !== SHA256_BYTES) return false;
  const k = modulusBytes(pk.n);
  if (!(signature instanceof Uint8Array) || signature.length !== k) return false; // step 1
  const s = os2ip(signature);
  if (s >= pk.n) return false; // RSAVP1 step 1: "signature representative out of range"
  const em = i2osp(modPow(s, pk.e, pk.n), k);
  return bytesEqual(em, emsaPkcs1v15Sha256(digest, k));
}

/** RSASSA-PKCS1-v1_5-VERIFY with SHA-256 of `message`: what `crypto.verify('sha256', ...)` does. */
export function rsaVerify(pk: RsaPublicKey, message: Uint8Array, signature: Uint8Array): boolean {
  if (!(message instanceof Uint8Array)) return false;
  return rsaVerifyDigest(pk, sha256(message), signature);
}

function base64url(b: Uint8Array): string {
  return toBase64(b).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The public key as a JWK (RFC 7518 section 6.3.1): n and e base64url, big-endian, no leading zero bytes. */
export function rsaPublicKeyJwk(pk: RsaPublicKey): { kty: 'RSA'; n: string; e: string } {
  checkRsaPublicKey(pk);
  return { kty: 'RSA', n: base64url(i2osp(pk.n, byteLength(pk.n))), e: base64url(i2osp(pk.e, byteLength(pk.e))) };
}

/** MGF1 with SHA-256 (RFC 8017 appendix B.2.1): `length` bytes. */
function mgf1Sha256(seed: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let counter = 0, at = 0; at < length; counter++) {
    const c = new Uint8Array(4);
    new DataView(c.buffer).setUint32(0, counter);
    const block = sha256(concatBytes(seed, c));
    out.set(block.subarray(0, Math.min(block.length, length - at)), at);
    at += block.length;
  }
  return out;
}

/**
 * EMSA-PSS-ENCODE (RFC 8017 section 9.1.1) with SHA-256 and MGF1-SHA-256 of a SHA-256 digest, with the
 * given salt (the caller's: the threshold signers need one salt that every replica derives alike), for
 * emBits = modBits - 1. Step 2 (hashing) is the caller's.
 */
export function emsaPssSha256(digest: Uint8Array, salt: Uint8Array, emBits: number): Uint8Array {
  if (!(digest instanceof Uint8Array) || digest.length !== SHA256_BYTES) fail('bad-length', `SHA-256 digest must be ${SHA256_BYTES} bytes`);
  const emLen = Math.ceil(emBits / 8);
  if (emLen < SHA256_BYTES + salt.length + 2) fail('bad-length', 'EMSA-PSS: encoding error (emLen too small for the salt)');
  const h = sha256(concatBytes(new Uint8Array(8), digest, salt));
  const db = new Uint8Array(emLen - SHA256_BYTES - 1);
  db[db.length - salt.length - 1] = 0x01;
  db.set(salt, db.length - salt.length);
  const mask = mgf1Sha256(h, db.length);
  for (let i = 0; i < db.length; i++) db[i]! ^= mask[i]!;
  db[0]! &= 0xff >> (8 * emLen - emBits);
  return concatBytes(db, h, Uint8Array.of(0xbc));
}

/** The message representative of RSASSA-PSS-SIGN (RFC 8017 section 8.1.1, step 2) for `salt`. */
export function pssRepresentative(n: bigint, digest: Uint8Array, salt: Uint8Array): bigint {
  return os2ip(emsaPssSha256(digest, salt, bitLength(n) - 1));
}

/**
 * RSASSA-PSS-VERIFY (RFC 8017 section 8.1.2) with SHA-256, MGF1-SHA-256 and a salt of `saltLength`
 * bytes, of `message`: what `openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt
 * rsa_pss_saltlen:32` does. False on any mismatch; throws only for a bad key.
 */
export function rsaPssVerify(pk: RsaPublicKey, message: Uint8Array, signature: Uint8Array, saltLength = SHA256_BYTES): boolean {
  checkRsaPublicKey(pk);
  if (!(message instanceof Uint8Array)) return false;
  const k = modulusBytes(pk.n);
  if (!(signature instanceof Uint8Array) || signature.length !== k) return false;
  const s = os2ip(signature);
  if (s >= pk.n) return false;
  const emBits = bitLength(pk.n) - 1;
  const emLen = Math.ceil(emBits / 8);
  const m = modPow(s, pk.e, pk.n);
  if (bitLength(m) > emBits) return false;
  const em = i2osp(m, emLen);
  // EMSA-PSS-VERIFY, steps 4-14.
  if (emLen < SHA256_BYTES + saltLength + 2 || em[emLen - 1] !== 0xbc) return false;
  const masked = em.subarray(0, emLen - SHA256_BYTES - 1);
  const h = em.subarray(emLen - SHA256_BYTES - 1, emLen - 1);
  const topBits = 8 * emLen - emBits;
  if ((masked[0]! & ~(0xff >> topBits) & 0xff) !== 0) return false;
  const mask = mgf1Sha256(h, masked.length);
  const db = masked.map((b, i) => b ^ mask[i]!);
  db[0]! &= 0xff >> topBits;
  const psLen = emLen - SHA256_BYTES - saltLength - 2;
  for (let i = 0; i < psLen; i++) if (db[i] !== 0) return false;
  if (db[psLen] !== 0x01) return false;
  const salt = db.subarray(db.length - saltLength);
  return bytesEqual(sha256(concatBytes(new Uint8Array(8), sha256(message), salt)), h);
}

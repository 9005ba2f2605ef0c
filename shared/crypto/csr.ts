/**
 * PKCS #10 certification requests (RFC 2986) for the group's CA: parse a request from DER or PEM, check
 * its self-signature (proof of possession of the key) and decide whether the CA will certify it. The
 * X.509 certificate for an accepted request is made by x509-issue.ts; this module says what goes in it.
 *
 * Accepted (everything else is refused with a CsrError naming the problem, never silently dropped):
 *
 *  - encoding: one DER CertificationRequest, at most MAX_CSR_BYTES (16 KiB; an 8192-bit RSA request with
 *    a SHA-512 signature is about 2.2 KiB), nothing after it, and exactly the DER that re-encoding the
 *    parsed structure gives (so one request has one encoding); PEM only as pem.ts writes it, label
 *    `CERTIFICATE REQUEST` (RFC 7468 section 7). version v1 (0).
 *  - keys and self-signatures:
 *      rsaEncryption (parameters NULL), modulus 2048..8192 bits, public exponent odd in 2^16+1..2^256-1
 *      (CA/Browser Forum Baseline Requirements 6.1.6; also bounds the verification cost), signed with
 *      sha256/384/512WithRSAEncryption (RSASSA-PKCS1-v1_5, RFC 8017 section 8.2; RFC 4055 section 5:
 *      parameters NULL or absent);
 *      id-ecPublicKey on namedCurve P-256 with ecdsa-with-SHA256, or P-384 with ecdsa-with-SHA384
 *      (RFC 5480, RFC 5758 section 3.2: parameters absent), uncompressed points only (RFC 5480
 *      section 2.2 makes it the one every implementation supports), high or low S (OpenSSL makes both);
 *      id-Ed25519 with Ed25519 (RFC 8410; parameters absent), verified strictly (RFC 8032, not ZIP-215),
 *      a key of small order refused.
 *    RSASSA-PSS (keys or signatures) is refused: its parameters (hash, MGF, salt length) would have to be
 *    pinned and carried into the certificate (RFC 4055 section 3.1) for no gain over the above; PKCS #1
 *    v1.5 is what `openssl req` makes by default. DSA, Ed448, other curves and hashes are refused.
 *  - subject: exactly one RDN with exactly one attribute, commonName (UTF8String or PrintableString),
 *    whose value is a name the directory accepts (shared/app/ca-codec.ts isValidName: 1-128 of
 *    a-z 0-9 . _ @ -, starting with a letter or digit) and at most 64 characters (RFC 5280 Appendix A,
 *    ub-common-name). The certificate certifies that name and nothing else.
 *  - attributes: none, or one extensionRequest (PKCS #9, 1.2.840.113549.1.9.14) holding one non-empty
 *    Extensions, each extension at most once, each value DER. Honoured:
 *      subjectAltName: exactly one entry, the subject's name itself, as dNSName if it is a host name
 *        (letters, digits and hyphens in dot-separated labels of 1-63, at most 253 characters) or as
 *        rfc822Name if it is a mailbox (one @, a dot-atom local part, a host-name domain). A certificate
 *        never names anything the directory did not bind: other names, IP addresses, URIs and the like
 *        are refused.
 *      extendedKeyUsage: any of serverAuth, clientAuth, emailProtection (each at most once); anything
 *        else (timeStamping and OCSPSigning above all, which would let the holder speak for the group;
 *        anyExtendedKeyUsage, codeSigning) is refused.
 *      keyUsage: a non-empty subset of what the key type allows (RSA: digitalSignature, keyEncipherment;
 *        ECDSA: digitalSignature, keyAgreement; Ed25519: digitalSignature); the certificate then carries
 *        exactly those bits. Without it the certificate gets the default for the key type.
 *      basicConstraints: only cA FALSE without a path length (what the certificate says anyway).
 *    The criticality a request asks for is not copied: the certificate profile (x509-issue.ts) fixes it.
 *
 * Pure and synchronous (no clock, no randomness, no Node built-ins): the replicas run it on ordered
 * requests and must all reach the same verdict. ASN.1 from @peculiar/asn1-csr / asn1-x509 / asn1-rsa.
 */
import { AsnConvert, AsnProp, AsnPropTypes, AsnType, AsnTypeTypes } from '@peculiar/asn1-schema';
import { CertificationRequest, CertificationRequestInfo } from '@peculiar/asn1-csr';
import { RSAPublicKey, id_rsaEncryption, id_sha256WithRSAEncryption, id_sha384WithRSAEncryption, id_sha512WithRSAEncryption } from '@peculiar/asn1-rsa';
import {
  BasicConstraints,
  ExtendedKeyUsage,
  Extensions,
  KeyUsage,
  KeyUsageFlags,
  SubjectAlternativeName,
  SubjectPublicKeyInfo,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_kp_clientAuth,
  id_kp_emailProtection,
  id_kp_serverAuth,
} from '@peculiar/asn1-x509';
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256, p384 } from '@noble/curves/nist.js';
import { sha384, sha512 } from '@noble/hashes/sha2.js';
import { isValidName } from '../app/ca-codec.ts';
import { bytesEqual, bytesToBigint, concatBytes } from './bytes.ts';
import { CryptoError } from './errors.ts';
import type { CryptoErrorCode } from './errors.ts';
import { bitLength, modPow } from './modular.ts';
import { derSequenceSpan, pemToDer } from './pem.ts';
import { i2osp, modulusBytes, os2ip, rsaVerifyDigest } from './rsa.ts';
import { sha256 } from './sha256.ts';

/** Largest request accepted, in DER bytes. */
export const MAX_CSR_BYTES = 16 * 1024;
/** Largest PEM text accepted: the base64 of MAX_CSR_BYTES in 64-character lines, plus the armor. */
export const MAX_CSR_PEM_CHARS = 22_500;
export const CSR_PEM_LABEL = 'CERTIFICATE REQUEST';
/** RFC 5280 Appendix A: ub-common-name INTEGER ::= 64. */
export const MAX_COMMON_NAME_LENGTH = 64;
export const RSA_MIN_REQUEST_BITS = 2048;
export const RSA_MAX_REQUEST_BITS = 8192;

/** What was wrong with a request; `code` (CryptoError) is the coarser class callers already switch on. */
export type CsrRefusal =
  | 'too-large'
  | 'bad-encoding' // not PEM, not ASN.1, not a CertificationRequest, trailing bytes
  | 'non-canonical' // BER that is not DER
  | 'bad-version'
  | 'unsupported-key' // key type, curve, size or exponent outside the accepted set
  | 'unsupported-algorithm' // signature algorithm not accepted, or not the one for the key
  | 'bad-signature' // the self-signature does not verify
  | 'bad-subject'
  | 'unsupported-attribute'
  | 'unsupported-extension' // an extension (or a value in one) the CA does not honour
  | 'bad-extension'; // an honoured extension that is malformed

const CODES: Record<CsrRefusal, CryptoErrorCode> = {
  'too-large': 'bad-length',
  'bad-encoding': 'bad-encoding',
  'non-canonical': 'non-canonical',
  'bad-version': 'bad-encoding',
  'unsupported-key': 'bad-encoding',
  'unsupported-algorithm': 'bad-encoding',
  'bad-signature': 'invalid-share',
  'bad-subject': 'bad-encoding',
  'unsupported-attribute': 'bad-encoding',
  'unsupported-extension': 'bad-encoding',
  'bad-extension': 'bad-encoding',
};

export class CsrError extends CryptoError {
  override readonly name: string = 'CsrError';
  constructor(
    readonly reason: CsrRefusal,
    message: string,
  ) {
    super(CODES[reason], message);
  }
}

function refuse(reason: CsrRefusal, message: string): never {
  throw new CsrError(reason, `CSR: ${message}`);
}

export type CsrKeyAlgorithm = 'rsa' | 'ecdsa-p256' | 'ecdsa-p384' | 'ed25519';
export type CsrSignatureAlgorithm = 'sha256WithRSAEncryption' | 'sha384WithRSAEncryption' | 'sha512WithRSAEncryption' | 'ecdsa-with-SHA256' | 'ecdsa-with-SHA384' | 'Ed25519';
export type KeyUsageName = 'digitalSignature' | 'keyEncipherment' | 'keyAgreement';
export type ExtendedKeyUsageName = 'serverAuth' | 'clientAuth' | 'emailProtection';

export interface SubjectAltName {
  readonly type: 'dNSName' | 'rfc822Name';
  readonly value: string;
}

/** An accepted request and what the certificate for it will say. */
export interface CheckedCsr {
  /** The request, DER (as given, or decoded from the PEM). */
  readonly der: Uint8Array;
  /** The subject's commonName: a directory name. */
  readonly name: string;
  /** DER of the SubjectPublicKeyInfo, byte for byte as in the request (and the certificate). */
  readonly publicKeyInfo: Uint8Array;
  readonly keyAlgorithm: CsrKeyAlgorithm;
  /** Modulus bits for RSA; 256, 384 for the curves; 255 for Ed25519. */
  readonly keyBits: number;
  readonly signatureAlgorithm: CsrSignatureAlgorithm;
  /** The one subjectAltName entry requested (always the name itself), or null. */
  readonly subjectAltName: SubjectAltName | null;
  /** The certificate's keyUsage: as requested, or the key type's default; in KeyUsage bit order. */
  readonly keyUsage: readonly KeyUsageName[];
  readonly keyUsageRequested: boolean;
  /** The certificate's extendedKeyUsage, in the order serverAuth, clientAuth, emailProtection; empty: none. */
  readonly extendedKeyUsage: readonly ExtendedKeyUsageName[];
}

// Object identifiers (RFC 5480, RFC 5758, RFC 8410, PKCS #9).
const ID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const ID_P256 = '1.2.840.10045.3.1.7';
const ID_P384 = '1.3.132.0.34';
const ID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';
const ID_ECDSA_SHA384 = '1.2.840.10045.4.3.3';
const ID_ED25519 = '1.3.101.112';
const ID_RSASSA_PSS = '1.2.840.113549.1.1.10';
const ID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const ID_CHALLENGE_PASSWORD = '1.2.840.113549.1.9.7';
const ID_AT_COMMON_NAME = '2.5.4.3';

/** The curve of id-ecPublicKey parameters: ECParameters ::= CHOICE { namedCurve OBJECT IDENTIFIER } (RFC 5480 section 2.1.1; implicitCurve and specifiedCurve are not allowed). */
class NamedCurve {
  namedCurve = '';
}
AsnProp({ type: AsnPropTypes.ObjectIdentifier })(NamedCurve.prototype, 'namedCurve');
AsnType({ type: AsnTypeTypes.Choice })(NamedCurve);

const KEY_USAGE_BITS: Record<KeyUsageName, number> = {
  digitalSignature: KeyUsageFlags.digitalSignature,
  keyEncipherment: KeyUsageFlags.keyEncipherment,
  keyAgreement: KeyUsageFlags.keyAgreement,
};
const KEY_USAGE_ORDER: readonly KeyUsageName[] = ['digitalSignature', 'keyEncipherment', 'keyAgreement'];
/** What each key type may be used for, and what it gets when the request does not say. */
const KEY_USAGES: Record<CsrKeyAlgorithm, { allowed: readonly KeyUsageName[]; default: readonly KeyUsageName[] }> = {
  rsa: { allowed: ['digitalSignature', 'keyEncipherment'], default: ['digitalSignature', 'keyEncipherment'] },
  'ecdsa-p256': { allowed: ['digitalSignature', 'keyAgreement'], default: ['digitalSignature'] },
  'ecdsa-p384': { allowed: ['digitalSignature', 'keyAgreement'], default: ['digitalSignature'] },
  ed25519: { allowed: ['digitalSignature'], default: ['digitalSignature'] },
};
const EKU: readonly (readonly [ExtendedKeyUsageName, string])[] = [
  ['serverAuth', id_kp_serverAuth],
  ['clientAuth', id_kp_clientAuth],
  ['emailProtection', id_kp_emailProtection],
];

export function keyUsageFlags(usages: readonly KeyUsageName[]): number {
  let flags = 0;
  for (const u of usages) flags |= KEY_USAGE_BITS[u];
  return flags;
}

export function extendedKeyUsageOid(name: ExtendedKeyUsageName): string {
  return EKU.find(([n]) => n === name)![1];
}

const der = (obj: unknown): Uint8Array => new Uint8Array(AsnConvert.serialize(obj));
const bytes = (b: ArrayBuffer): Uint8Array => new Uint8Array(b);
const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Parses `value` as `type` and insists that it is DER (re-encoding gives the same bytes). */
function parseDer<T>(value: Uint8Array, type: new () => T, what: string, reason: CsrRefusal = 'bad-encoding'): T {
  let parsed: T;
  try {
    parsed = AsnConvert.parse(value, type);
  } catch (e) {
    refuse(reason, `${what}: malformed (${errorText(e)})`);
  }
  let again: Uint8Array;
  try {
    again = der(parsed);
  } catch (e) {
    refuse(reason, `${what}: malformed (${errorText(e)})`);
  }
  if (!bytesEqual(again, value)) refuse('non-canonical', `${what}: not in DER (the distinguished encoding)`);
  return parsed;
}

function toDer(input: Uint8Array | string): Uint8Array {
  if (typeof input === 'string') {
    if (input.length > MAX_CSR_PEM_CHARS) refuse('too-large', `PEM text longer than ${MAX_CSR_PEM_CHARS} characters`);
    try {
      input = pemToDer(input, CSR_PEM_LABEL);
    } catch (e) {
      refuse('bad-encoding', errorText(e));
    }
  }
  if (!(input instanceof Uint8Array) || input.length === 0) refuse('bad-encoding', 'expected DER bytes or a PEM string');
  if (input.length > MAX_CSR_BYTES) refuse('too-large', `${input.length} bytes; at most ${MAX_CSR_BYTES}`);
  try {
    derSequenceSpan(input);
  } catch (e) {
    refuse(e instanceof CryptoError && e.code === 'non-canonical' ? 'non-canonical' : 'bad-encoding', `not one DER SEQUENCE and nothing after it (${errorText(e)})`);
  }
  return input.slice();
}

// --- keys and signatures -------------------------------------------------------------------------------

interface Key {
  readonly algorithm: CsrKeyAlgorithm;
  readonly bits: number;
  /** Verifies `signature` over `message` with the request's signature algorithm. */
  readonly verify: (algorithm: CsrSignatureAlgorithm, message: Uint8Array, signature: Uint8Array) => boolean;
  readonly signatureAlgorithms: readonly CsrSignatureAlgorithm[];
}

/** RFC 8017 section 9.2, note 1: DigestInfo prefixes for SHA-384 and SHA-512 (SHA-256's is in rsa.ts). */
const DIGEST_INFO_PREFIX = {
  sha384: Uint8Array.from([0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30]),
  sha512: Uint8Array.from([0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40]),
};

/**
 * RSASSA-PKCS1-v1_5-VERIFY (RFC 8017 section 8.2.2) with SHA-384 or SHA-512: rsa.ts has SHA-256 only (what
 * the group signs). Compares encodings (step 3), as rsa.ts does.
 */
function rsaVerifyPkcs1(n: bigint, e: bigint, hash: 'sha384' | 'sha512', message: Uint8Array, signature: Uint8Array): boolean {
  const k = modulusBytes(n);
  if (signature.length !== k) return false; // step 1
  const s = os2ip(signature);
  if (s >= n) return false; // RSAVP1 step 1
  const t = concatBytes(DIGEST_INFO_PREFIX[hash], hash === 'sha384' ? sha384(message) : sha512(message));
  const expected = concatBytes(Uint8Array.of(0x00, 0x01), new Uint8Array(k - t.length - 3).fill(0xff), Uint8Array.of(0x00), t);
  return bytesEqual(i2osp(modPow(s, e, n), k), expected);
}

function rsaKey(spki: SubjectPublicKeyInfo): Key {
  if (spki.algorithm.parameters !== null) refuse('unsupported-key', 'rsaEncryption key: parameters must be NULL (RFC 3279 section 2.3.1)');
  const key = parseDer(bytes(spki.subjectPublicKey), RSAPublicKey, 'RSA public key', 'unsupported-key');
  const nb = bytes(key.modulus);
  const eb = bytes(key.publicExponent);
  if ((nb[0] ?? 0x80) >= 0x80 || (eb[0] ?? 0x80) >= 0x80) refuse('unsupported-key', 'RSA public key: n and e must be positive');
  const n = bytesToBigint(nb);
  const e = bytesToBigint(eb);
  const bits = bitLength(n);
  if (bits < RSA_MIN_REQUEST_BITS || bits > RSA_MAX_REQUEST_BITS) refuse('unsupported-key', `RSA key of ${bits} bits; accepted: ${RSA_MIN_REQUEST_BITS}-${RSA_MAX_REQUEST_BITS}`);
  if ((n & 1n) === 0n) refuse('unsupported-key', 'RSA modulus is even');
  if ((e & 1n) === 0n || e < 65537n || e >= 1n << 256n || e >= n) refuse('unsupported-key', 'RSA public exponent must be odd, from 65537 to 2^256 - 1');
  return {
    algorithm: 'rsa',
    bits,
    signatureAlgorithms: ['sha256WithRSAEncryption', 'sha384WithRSAEncryption', 'sha512WithRSAEncryption'],
    verify: (alg, message, signature) =>
      alg === 'sha256WithRSAEncryption' ? rsaVerifyDigest({ n, e }, sha256(message), signature) : rsaVerifyPkcs1(n, e, alg === 'sha384WithRSAEncryption' ? 'sha384' : 'sha512', message, signature),
  };
}

function ecKey(spki: SubjectPublicKeyInfo): Key {
  const params = spki.algorithm.parameters;
  if (!(params instanceof ArrayBuffer)) refuse('unsupported-key', 'EC key: parameters must name the curve (RFC 5480 section 2.1.1)');
  const curveId = parseDer(bytes(params), NamedCurve, 'EC key parameters', 'unsupported-key').namedCurve;
  const point = bytes(spki.subjectPublicKey);
  const curve = curveId === ID_P256 ? { c: p256, name: 'ecdsa-p256' as const, bits: 256, len: 65 } : curveId === ID_P384 ? { c: p384, name: 'ecdsa-p384' as const, bits: 384, len: 97 } : null;
  if (!curve) refuse('unsupported-key', `EC key on curve ${curveId}; accepted: P-256 (${ID_P256}), P-384 (${ID_P384})`);
  if (point.length !== curve.len || point[0] !== 0x04) refuse('unsupported-key', `EC key: must be an uncompressed ${curve.name === 'ecdsa-p256' ? 'P-256' : 'P-384'} point (04 || X || Y, ${curve.len} bytes)`);
  try {
    curve.c.Point.fromBytes(point).assertValidity();
  } catch {
    refuse('unsupported-key', 'EC key: not a point on the curve');
  }
  return {
    algorithm: curve.name,
    bits: curve.bits,
    signatureAlgorithms: [curve.name === 'ecdsa-p256' ? 'ecdsa-with-SHA256' : 'ecdsa-with-SHA384'],
    verify: (_alg, message, signature) => {
      const digest = curve.name === 'ecdsa-p256' ? sha256(message) : sha384(message);
      try {
        // OpenSSL makes high-S signatures half the time: lowS false. The hash is ours (prehash false).
        return curve.c.verify(signature, digest, point, { prehash: false, lowS: false, format: 'der' });
      } catch {
        return false;
      }
    },
  };
}

function ed25519Key(spki: SubjectPublicKeyInfo): Key {
  if (spki.algorithm.parameters !== undefined) refuse('unsupported-key', 'Ed25519 key: parameters must be absent (RFC 8410 section 3)');
  const key = bytes(spki.subjectPublicKey);
  if (key.length !== 32) refuse('unsupported-key', 'Ed25519 key: must be 32 bytes');
  try {
    if (ed25519.Point.fromBytes(key, false).isSmallOrder()) refuse('unsupported-key', 'Ed25519 key: of small order');
  } catch (e) {
    if (e instanceof CsrError) throw e;
    refuse('unsupported-key', 'Ed25519 key: not a canonical point encoding');
  }
  return {
    algorithm: 'ed25519',
    bits: 255,
    signatureAlgorithms: ['Ed25519'],
    verify: (_alg, message, signature) => {
      try {
        return signature.length === 64 && ed25519.verify(signature, message, key, { zip215: false });
      } catch {
        return false;
      }
    },
  };
}

function publicKey(spki: SubjectPublicKeyInfo): Key {
  const alg = spki.algorithm.algorithm;
  if (alg === id_rsaEncryption) return rsaKey(spki);
  if (alg === ID_EC_PUBLIC_KEY) return ecKey(spki);
  if (alg === ID_ED25519) return ed25519Key(spki);
  if (alg === ID_RSASSA_PSS) refuse('unsupported-key', 'RSASSA-PSS keys (id-RSASSA-PSS) are not accepted: use an rsaEncryption key');
  return refuse('unsupported-key', `key algorithm ${alg}; accepted: rsaEncryption, id-ecPublicKey (P-256, P-384), Ed25519`);
}

function signatureAlgorithm(id: string, parameters: ArrayBuffer | null | undefined): CsrSignatureAlgorithm {
  const rsa = (name: CsrSignatureAlgorithm): CsrSignatureAlgorithm => {
    if (parameters !== null && parameters !== undefined) refuse('unsupported-algorithm', `${name}: parameters must be NULL or absent (RFC 4055 section 5)`);
    return name;
  };
  const absent = (name: CsrSignatureAlgorithm): CsrSignatureAlgorithm => {
    if (parameters !== undefined) refuse('unsupported-algorithm', `${name}: parameters must be absent (RFC 5758 section 3.2, RFC 8410 section 3)`);
    return name;
  };
  switch (id) {
    case id_sha256WithRSAEncryption:
      return rsa('sha256WithRSAEncryption');
    case id_sha384WithRSAEncryption:
      return rsa('sha384WithRSAEncryption');
    case id_sha512WithRSAEncryption:
      return rsa('sha512WithRSAEncryption');
    case ID_ECDSA_SHA256:
      return absent('ecdsa-with-SHA256');
    case ID_ECDSA_SHA384:
      return absent('ecdsa-with-SHA384');
    case ID_ED25519:
      return absent('Ed25519');
    case ID_RSASSA_PSS:
      return refuse('unsupported-algorithm', 'RSASSA-PSS signatures are not accepted: sign the request with PKCS #1 v1.5 (sha256WithRSAEncryption)');
    default:
      return refuse('unsupported-algorithm', `signature algorithm ${id}; accepted: sha256/384/512WithRSAEncryption, ecdsa-with-SHA256 (P-256), ecdsa-with-SHA384 (P-384), Ed25519`);
  }
}

// --- names ---------------------------------------------------------------------------------------------

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const ATOM = /^[a-z0-9_-]+$/;

/** A host name in RFC 1034 section 3.5 preferred syntax (RFC 5280 section 4.2.1.6), lower case, at most 253 characters. */
export function isHostName(name: string): boolean {
  return name.length <= 253 && name.split('.').every((l) => LABEL.test(l));
}

/** A mailbox local-part@domain: a dot-atom (RFC 5321 section 4.1.2) of a-z 0-9 _ - and a host name. */
export function isMailbox(name: string): boolean {
  const at = name.indexOf('@');
  if (at <= 0 || at !== name.lastIndexOf('@')) return false;
  return name.slice(0, at).split('.').every((a) => ATOM.test(a)) && isHostName(name.slice(at + 1));
}

function subjectName(info: CertificationRequestInfo): string {
  const subject = info.subject;
  if (subject.length !== 1 || subject[0]!.length !== 1) refuse('bad-subject', 'the subject must be exactly one commonName (CN=<directory name>) and nothing else');
  const atv = subject[0]![0]!;
  if (atv.type !== ID_AT_COMMON_NAME) refuse('bad-subject', `the subject must be a commonName (${ID_AT_COMMON_NAME}), not ${atv.type}`);
  const v = atv.value;
  const cn = v.utf8String ?? v.printableString;
  if (typeof cn !== 'string') refuse('bad-subject', 'the commonName must be a UTF8String or PrintableString');
  if (!isValidName(cn)) refuse('bad-subject', `the commonName ${JSON.stringify(String(cn).slice(0, 80))} is not a directory name (1-128 of a-z 0-9 . _ @ -, starting with a letter or digit)`);
  if (cn.length > MAX_COMMON_NAME_LENGTH) refuse('bad-subject', `the commonName has ${cn.length} characters; at most ${MAX_COMMON_NAME_LENGTH} (RFC 5280 ub-common-name)`);
  return cn;
}

// --- attributes and extensions -------------------------------------------------------------------------

interface Requested {
  subjectAltName: SubjectAltName | null;
  keyUsage: readonly KeyUsageName[] | null;
  extendedKeyUsage: readonly ExtendedKeyUsageName[];
}

function requestedSubjectAltName(value: Uint8Array, name: string): SubjectAltName {
  const san = parseDer(value, SubjectAlternativeName, 'subjectAltName', 'bad-extension');
  if (san.length !== 1) refuse('unsupported-extension', `subjectAltName: exactly one entry, the subject's name ${JSON.stringify(name)}; got ${san.length}`);
  const g = san[0]!;
  if (g.dNSName !== undefined) {
    if (g.dNSName !== name) refuse('unsupported-extension', `subjectAltName: dNSName ${JSON.stringify(g.dNSName.slice(0, 80))} is not the subject's name ${JSON.stringify(name)}`);
    if (!isHostName(name)) refuse('unsupported-extension', `subjectAltName: ${JSON.stringify(name)} is not a host name, so it cannot be a dNSName`);
    return { type: 'dNSName', value: name };
  }
  if (g.rfc822Name !== undefined) {
    if (g.rfc822Name !== name) refuse('unsupported-extension', `subjectAltName: rfc822Name ${JSON.stringify(g.rfc822Name.slice(0, 80))} is not the subject's name ${JSON.stringify(name)}`);
    if (!isMailbox(name)) refuse('unsupported-extension', `subjectAltName: ${JSON.stringify(name)} is not a mailbox, so it cannot be an rfc822Name`);
    return { type: 'rfc822Name', value: name };
  }
  return refuse('unsupported-extension', 'subjectAltName: only a dNSName or an rfc822Name (equal to the subject\'s name) is accepted');
}

function requestedKeyUsage(value: Uint8Array, key: Key): readonly KeyUsageName[] {
  const ku = parseDer(value, KeyUsage, 'keyUsage', 'bad-extension');
  const flags = ku.toNumber();
  // Named bit lists drop trailing zero bits in DER (X.690 section 11.2.2): the minimal encoding of these flags.
  if (!bytesEqual(der(new KeyUsage(flags)), value)) refuse('non-canonical', 'keyUsage: not in DER (trailing zero bits)');
  const allowed = KEY_USAGES[key.algorithm].allowed;
  const wanted = KEY_USAGE_ORDER.filter((u) => flags & KEY_USAGE_BITS[u]);
  if (flags === 0 || keyUsageFlags(wanted) !== flags || wanted.some((u) => !allowed.includes(u))) {
    refuse('unsupported-extension', `keyUsage: a ${key.algorithm} key may have only ${allowed.join(', ')}`);
  }
  return wanted;
}

function requestedExtendedKeyUsage(value: Uint8Array): readonly ExtendedKeyUsageName[] {
  const eku = parseDer(value, ExtendedKeyUsage, 'extendedKeyUsage', 'bad-extension');
  if (eku.length === 0) refuse('bad-extension', 'extendedKeyUsage: empty');
  const names = new Set<ExtendedKeyUsageName>();
  for (const oid of eku) {
    const hit = EKU.find(([, o]) => o === oid);
    if (!hit) refuse('unsupported-extension', `extendedKeyUsage: ${oid} is not accepted; accepted: serverAuth, clientAuth, emailProtection`);
    if (names.has(hit[0])) refuse('bad-extension', `extendedKeyUsage: ${hit[0]} twice`);
    names.add(hit[0]);
  }
  return EKU.map(([n]) => n).filter((n) => names.has(n));
}

function requestedExtensions(info: CertificationRequestInfo, name: string, key: Key): Requested {
  const out: Requested = { subjectAltName: null, keyUsage: null, extendedKeyUsage: [] };
  const attributes = info.attributes ?? [];
  if (attributes.length === 0) return out;
  if (attributes.length > 1) refuse('unsupported-attribute', 'at most one attribute (extensionRequest)');
  const attr = attributes[0]!;
  if (attr.type === ID_CHALLENGE_PASSWORD) refuse('unsupported-attribute', 'challengePassword is not accepted (the CA authenticates requests otherwise)');
  if (attr.type !== ID_EXTENSION_REQUEST) refuse('unsupported-attribute', `attribute ${attr.type} is not accepted; only extensionRequest (${ID_EXTENSION_REQUEST})`);
  if (attr.values.length !== 1) refuse('unsupported-attribute', 'extensionRequest: exactly one value');
  const extensions = parseDer(bytes(attr.values[0]!), Extensions, 'extensionRequest', 'bad-extension');
  if (extensions.length === 0) refuse('bad-extension', 'extensionRequest: no extensions');
  const seen = new Set<string>();
  for (const ext of extensions) {
    if (seen.has(ext.extnID)) refuse('bad-extension', `extension ${ext.extnID} twice`);
    seen.add(ext.extnID);
    const value = bytes(ext.extnValue.buffer);
    switch (ext.extnID) {
      case id_ce_subjectAltName:
        out.subjectAltName = requestedSubjectAltName(value, name);
        break;
      case id_ce_keyUsage:
        out.keyUsage = requestedKeyUsage(value, key);
        break;
      case id_ce_extKeyUsage:
        out.extendedKeyUsage = requestedExtendedKeyUsage(value);
        break;
      case id_ce_basicConstraints: {
        const bc = parseDer(value, BasicConstraints, 'basicConstraints', 'bad-extension');
        if (bc.cA || bc.pathLenConstraint !== undefined) refuse('unsupported-extension', 'basicConstraints: the CA issues end-entity certificates only (cA FALSE, no pathLenConstraint)');
        break;
      }
      default:
        refuse('unsupported-extension', `extension ${ext.extnID} is not accepted; accepted: subjectAltName, keyUsage, extendedKeyUsage, basicConstraints (cA FALSE)`);
    }
  }
  return out;
}

// --- the request ---------------------------------------------------------------------------------------

/**
 * Parses and checks a PKCS #10 request (DER bytes, or PEM text with the label CERTIFICATE REQUEST): see the
 * module comment for what is accepted. Throws a CsrError (a CryptoError) saying what is wrong; never
 * anything else, whatever the input.
 */
export function parseCsr(input: Uint8Array | string): CheckedCsr {
  try {
    return checkCsr(toDer(input));
  } catch (e) {
    if (e instanceof CsrError) throw e;
    // A library or runtime error on hostile input (no known case): still a refusal, not a crash.
    return refuse('bad-encoding', `malformed request (${errorText(e)})`);
  }
}

function checkCsr(input: Uint8Array): CheckedCsr {
  const req = parseDer(input, CertificationRequest, 'not a PKCS #10 CertificationRequest');
  const info = req.certificationRequestInfo;
  const infoDer = req.certificationRequestInfoRaw ? bytes(req.certificationRequestInfoRaw) : new Uint8Array(0);
  // What the signature covers must be the DER of what we read (the re-encoding check above covers the
  // whole; this pins the signed part too, whichever bytes the library keeps).
  if (!bytesEqual(der(info), infoDer)) refuse('non-canonical', 'certificationRequestInfo: not in DER');
  if (info.version !== 0) refuse('bad-version', `version must be 0 (v1), not ${String(info.version)}`);
  const key = publicKey(info.subjectPKInfo);
  const alg = signatureAlgorithm(req.signatureAlgorithm.algorithm, req.signatureAlgorithm.parameters);
  if (!key.signatureAlgorithms.includes(alg)) refuse('unsupported-algorithm', `a ${key.algorithm} key must sign with ${key.signatureAlgorithms.join(' or ')}, not ${alg}`);
  if (!key.verify(alg, infoDer, bytes(req.signature))) refuse('bad-signature', `the self-signature (${alg}) does not verify with the request's public key`);
  const name = subjectName(info);
  const requested = requestedExtensions(info, name, key);
  return {
    der: input,
    name,
    publicKeyInfo: der(info.subjectPKInfo),
    keyAlgorithm: key.algorithm,
    keyBits: key.bits,
    signatureAlgorithm: alg,
    subjectAltName: requested.subjectAltName,
    keyUsage: requested.keyUsage ?? KEY_USAGES[key.algorithm].default,
    keyUsageRequested: requested.keyUsage !== null,
    extendedKeyUsage: requested.extendedKeyUsage,
  };
}

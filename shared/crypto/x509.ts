/**
 * The group's two X.509 certificates (RFC 5280) for its threshold RSA key (threshold-rsa.ts), issued by
 * the dealer with the whole key before it forgets it:
 *
 *  - the root CA certificate: self-signed, basicConstraints CA:TRUE pathlen:0 (critical), keyUsage
 *    keyCertSign + cRLSign (critical), subjectKeyIdentifier;
 *  - the TSA certificate (RFC 3161 section 2.3): the same public key, issued by the root, basicConstraints
 *    CA:FALSE (critical), keyUsage digitalSignature (critical), extendedKeyUsage timeStamping only
 *    (critical), subjectKeyIdentifier and authorityKeyIdentifier.
 *
 * Both sign with sha256WithRSAEncryption (RSASSA-PKCS1-v1_5, SHA-256): what k replicas' shares combine to.
 * Why one key may be both the root and the TSA, and the profile field by field: docs/formats.md section 4.
 *
 * The ASN.1 structures and their DER come from @peculiar/asn1-x509 / asn1-rsa / asn1-schema (pure
 * JavaScript, no Node built-ins, synchronous: runs in workerd, browsers and Node); this module only fills
 * them in. Signing is the caller's (a function of the SHA-256 digest of the TBSCertificate), so the same
 * code will serve certificates signed by combined threshold shares.
 *
 * `checkGroupCertificates` re-issues the expected TBSCertificates from the parsed serials, validity and
 * label and compares them byte for byte: a certificate passes only if it is exactly what this profile
 * gives for the group's key and id, and its signature verifies under that key.
 */
import { derToPem } from './pem.ts';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { RSAPublicKey, id_rsaEncryption, id_sha256WithRSAEncryption } from '@peculiar/asn1-rsa';
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  Name,
  RelativeDistinguishedName,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectKeyIdentifier,
  id_kp_timeStamping,
} from '@peculiar/asn1-x509';
import { sha256 } from './sha256.ts';
import { bigintToBytes, bytesEqual, bytesToBigint, toHex } from './bytes.ts';
import { CryptoError } from './errors.ts';
import type { CryptoErrorCode } from './errors.ts';
import { byteLength } from './modular.ts';
import type { RandomBytes } from './random.ts';
import { checkRsaPublicKey, rsaVerify } from './rsa.ts';
import type { RsaPublicKey } from './rsa.ts';

export class X509Error extends CryptoError {
  override readonly name: string = 'X509Error';
}

function refuse(code: CryptoErrorCode, message: string): never {
  throw new X509Error(code, message);
}

const ID_AT_COMMON_NAME = '2.5.4.3';
const ID_AT_SERIAL_NUMBER = '2.5.4.5';
const ROOT_SUFFIX = ' Sintra Edge group root';
const TSA_SUFFIX = ' Sintra Edge group TSA';
/** Letters, digits, space and . , ' ( ) + : = ? / - (PrintableString's set), no space at either end. */
const LABEL = /^[A-Za-z0-9.,'()+:=?/-](?:[A-Za-z0-9 .,'()+:=?/-]{0,30}[A-Za-z0-9.,'()+:=?/-])?$/;
export const MAX_LABEL_LENGTH = 32;
/** Bytes of a serial number from `certificateSerial`: 128 bits, 126 of them random. */
export const SERIAL_BYTES = 16;
const GROUP_ID_BYTES = 32;
/** RFC 5280 section 4.1.2.5: UTCTime through 2049, GeneralizedTime after; nothing before 1950 or after 9999. */
const MIN_TIME = Date.UTC(1950, 0, 1);
const MAX_TIME = Date.UTC(9999, 11, 31, 23, 59, 59);

export interface GroupCertificateParams {
  /** The group's RSA public key: both certificates certify it, and it signs both. */
  readonly publicKey: RsaPublicKey;
  /** The 32-byte group id: the subjects' serialNumber attribute, as 64 hex digits. */
  readonly groupId: Uint8Array;
  /** The start of the subjects' common names (1-32 PrintableString characters); defaultCertificateLabel by default. */
  readonly label: string;
  /** Whole seconds (milliseconds are dropped), 1950-9999, notBefore < notAfter. */
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Positive DER INTEGER contents (certificateSerial): 1-20 bytes, minimal. */
  readonly rootSerial: Uint8Array;
  readonly tsaSerial: Uint8Array;
}

/** DER of both certificates. */
export interface GroupCertificates {
  readonly root: Uint8Array;
  readonly tsa: Uint8Array;
}

/** What checkGroupCertificates found. */
export interface GroupCertificateInfo {
  readonly label: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Hex of the serial numbers' INTEGER contents. */
  readonly rootSerial: string;
  readonly tsaSerial: string;
  /** Hex: subjectKeyIdentifier of both, authorityKeyIdentifier of the TSA certificate. */
  readonly keyIdentifier: string;
}

/** The first 16 hex digits of the group id: the default label, so the name says which group. */
export function defaultCertificateLabel(groupId: Uint8Array): string {
  return toHex(groupId).slice(0, 16);
}

export function checkCertificateLabel(label: unknown): string {
  if (typeof label !== 'string' || !LABEL.test(label)) {
    refuse('bad-encoding', `certificate name: 1-${MAX_LABEL_LENGTH} characters of letters, digits, space and . , ' ( ) + : = ? / - (no space at either end)`);
  }
  return label;
}

/** A random positive serial number: SERIAL_BYTES bytes, the first in 0x40..0x7f (so exactly 16 bytes, positive). */
export function certificateSerial(rng: RandomBytes): Uint8Array {
  const b = rng(SERIAL_BYTES);
  if (!(b instanceof Uint8Array) || b.length !== SERIAL_BYTES) refuse('bad-length', 'certificate serial: rng returned the wrong number of bytes');
  const out = b.slice();
  out[0] = (out[0]! & 0x3f) | 0x40;
  return out;
}

export function checkSerial(serial: Uint8Array, what: string): Uint8Array {
  if (!(serial instanceof Uint8Array) || serial.length < 1 || serial.length > 20) refuse('bad-length', `${what} serial: 1-20 bytes (RFC 5280 section 4.1.2.2)`);
  if (serial[0]! >= 0x80 || (serial.length > 1 && serial[0] === 0 && serial[1]! < 0x80) || (serial.length === 1 && serial[0] === 0)) {
    refuse('non-canonical', `${what} serial: must be a positive integer in its shortest DER form`);
  }
  return serial;
}

function checkTime(d: Date, what: string): Date {
  if (!(d instanceof Date) || Number.isNaN(d.getTime())) refuse('bad-encoding', `certificate ${what}: not a valid date`);
  const t = Math.floor(d.getTime() / 1000) * 1000;
  if (t < MIN_TIME || t > MAX_TIME) refuse('scalar-out-of-range', `certificate ${what}: must be in the years 1950-9999 (RFC 5280)`);
  return new Date(t);
}

/** A non-negative integer as DER INTEGER contents: big-endian, shortest, a 00 byte before a set top bit. */
export function integerContents(x: bigint): Uint8Array {
  const len = Math.max(1, byteLength(x));
  const b = bigintToBytes(x, len);
  if (b[0]! < 0x80) return b;
  const out = new Uint8Array(len + 1);
  out.set(b, 1);
  return out;
}

const ab = (b: Uint8Array): ArrayBuffer => b.slice().buffer as ArrayBuffer;
const der = (obj: unknown): Uint8Array => new Uint8Array(AsnConvert.serialize(obj));

function name(commonName: string, groupId: Uint8Array): Name {
  return new Name([
    new RelativeDistinguishedName([new AttributeTypeAndValue({ type: ID_AT_COMMON_NAME, value: new AttributeValue({ utf8String: commonName }) })]),
    new RelativeDistinguishedName([new AttributeTypeAndValue({ type: ID_AT_SERIAL_NUMBER, value: new AttributeValue({ printableString: toHex(groupId) }) })]),
  ]);
}

const sha256WithRsa = () => new AlgorithmIdentifier({ algorithm: id_sha256WithRSAEncryption, parameters: null });

function extension(extnID: string, critical: boolean, value: unknown): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(der(value)) });
}

/** RFC 7093 section 2, method 1: the leftmost 160 bits of SHA-256 of the subjectPublicKey BIT STRING's value. */
export function keyIdentifier(spki: SubjectPublicKeyInfo): Uint8Array {
  return sha256(new Uint8Array(spki.subjectPublicKey)).slice(0, 20);
}

function publicKeyInfo(pk: RsaPublicKey): SubjectPublicKeyInfo {
  const key = new RSAPublicKey({ modulus: ab(integerContents(pk.n)), publicExponent: ab(integerContents(pk.e)) });
  return new SubjectPublicKeyInfo({ algorithm: new AlgorithmIdentifier({ algorithm: id_rsaEncryption, parameters: null }), subjectPublicKey: ab(der(key)) });
}

/** An RSA public key as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo, RFC 5280), for openssl dgst -verify. */
export function rsaPublicKeyPem(pk: RsaPublicKey): string {
  return derToPem(der(publicKeyInfo(pk)), 'PUBLIC KEY');
}

interface Checked {
  readonly pk: RsaPublicKey;
  readonly groupId: Uint8Array;
  readonly label: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

function checkParams(p: GroupCertificateParams): Checked {
  if (typeof p !== 'object' || p === null) refuse('bad-encoding', 'group certificates: no parameters');
  checkRsaPublicKey(p.publicKey);
  if (!(p.groupId instanceof Uint8Array) || p.groupId.length !== GROUP_ID_BYTES) refuse('bad-length', `group certificates: the group id must be ${GROUP_ID_BYTES} bytes`);
  const notBefore = checkTime(p.notBefore, 'notBefore');
  const notAfter = checkTime(p.notAfter, 'notAfter');
  if (notAfter.getTime() <= notBefore.getTime()) refuse('scalar-out-of-range', 'group certificates: notAfter must be later than notBefore');
  return { pk: p.publicKey, groupId: p.groupId, label: checkCertificateLabel(p.label), notBefore, notAfter };
}

/** The two TBSCertificates of the profile, as DER. */
function tbsCertificates(c: Checked, rootSerial: Uint8Array, tsaSerial: Uint8Array): { root: Uint8Array; tsa: Uint8Array } {
  const spki = publicKeyInfo(c.pk);
  const kid = keyIdentifier(spki);
  const rootName = name(`${c.label}${ROOT_SUFFIX}`, c.groupId);
  // Both are issued by the root, for the same key, with the same validity; they differ in what follows.
  const tbs = (serial: Uint8Array, what: string, subject: Name, extensions: Extension[]) =>
    new TBSCertificate({
      version: Version.v3,
      serialNumber: ab(checkSerial(serial, what)),
      signature: sha256WithRsa(),
      issuer: rootName,
      validity: new Validity({ notBefore: c.notBefore, notAfter: c.notAfter }),
      subject,
      subjectPublicKeyInfo: spki,
      extensions: new Extensions(extensions),
    });
  const root = tbs(rootSerial, 'root certificate', rootName, [
    extension(id_ce_basicConstraints, true, new BasicConstraints({ cA: true, pathLenConstraint: 0 })),
    extension(id_ce_keyUsage, true, new KeyUsage(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign)),
    extension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(kid)),
  ]);
  const tsa = tbs(tsaSerial, 'TSA certificate', name(`${c.label}${TSA_SUFFIX}`, c.groupId), [
    extension(id_ce_basicConstraints, true, new BasicConstraints({ cA: false })),
    extension(id_ce_keyUsage, true, new KeyUsage(KeyUsageFlags.digitalSignature)),
    extension(id_ce_extKeyUsage, true, new ExtendedKeyUsage([id_kp_timeStamping])),
    extension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(kid)),
    extension(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(kid) })),
  ]);
  return { root: der(root), tsa: der(tsa) };
}

function certificate(tbsDer: Uint8Array, signature: Uint8Array): Uint8Array {
  const tbsCertificate = AsnConvert.parse(tbsDer, TBSCertificate);
  return der(new Certificate({ tbsCertificate, signatureAlgorithm: sha256WithRsa(), signatureValue: ab(signature) }));
}

/**
 * Issues the root CA and TSA certificates: `sign` gets the SHA-256 digest of each DER TBSCertificate and
 * returns the RSASSA-PKCS1-v1_5 signature under the group key (the dealer's DealerSign, or later combined
 * shares). The signatures are checked against the public key before anything is returned.
 */
export function issueGroupCertificates(params: GroupCertificateParams, sign: (digest: Uint8Array) => Uint8Array): GroupCertificates {
  const c = checkParams(params);
  if (typeof sign !== 'function') refuse('bad-encoding', 'group certificates: sign must be a function');
  const tbs = tbsCertificates(c, params.rootSerial, params.tsaSerial);
  const signed = (tbsDer: Uint8Array, what: string) => {
    const signature = sign(sha256(tbsDer));
    if (!rsaVerify(c.pk, tbsDer, signature)) refuse('invalid-share', `${what}: the signature does not verify under the group's RSA key`);
    return certificate(tbsDer, signature);
  };
  return { root: signed(tbs.root, 'root certificate'), tsa: signed(tbs.tsa, 'TSA certificate') };
}

interface Parsed {
  readonly cert: Certificate;
  readonly tbs: Uint8Array;
  readonly signature: Uint8Array;
}

function parseCertificate(bytes: Uint8Array, what: string): Parsed {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) refuse('bad-encoding', `${what}: no bytes`);
  let cert: Certificate;
  try {
    cert = AsnConvert.parse(bytes, Certificate);
  } catch (e) {
    refuse('bad-encoding', `${what}: not an X.509 certificate (${e instanceof Error ? e.message : String(e)})`);
  }
  let again: Uint8Array;
  try {
    again = der(cert);
  } catch {
    refuse('bad-encoding', `${what}: not an X.509 certificate`);
  }
  if (!bytesEqual(again, bytes)) refuse('non-canonical', `${what}: not in DER (the distinguished encoding)`);
  const tbs = der(cert.tbsCertificate);
  return { cert, tbs, signature: new Uint8Array(cert.signatureValue) };
}

function attribute(n: Name, type: string): AttributeValue | undefined {
  for (const rdn of n) for (const atv of rdn) if (atv.type === type) return atv.value;
  return undefined;
}

function sameKey(spki: SubjectPublicKeyInfo, pk: RsaPublicKey): boolean {
  if (spki.algorithm.algorithm !== id_rsaEncryption) return false;
  try {
    const key = AsnConvert.parse(spki.subjectPublicKey, RSAPublicKey);
    return bytesToBigint(new Uint8Array(key.modulus)) === pk.n && bytesToBigint(new Uint8Array(key.publicExponent)) === pk.e;
  } catch {
    return false;
  }
}

/**
 * Checks DER certificates against the group's RSA key and id: both parse, are DER, certify (n, e), name
 * this group, verify under the key, and are exactly the profile's certificates for their serials, validity
 * and label (the TSA certificate with the root's validity and label). Throws an X509Error saying what is wrong.
 */
export function checkGroupCertificates(publicKey: RsaPublicKey, groupId: Uint8Array, rootDer: Uint8Array, tsaDer: Uint8Array): GroupCertificateInfo {
  checkRsaPublicKey(publicKey);
  if (!(groupId instanceof Uint8Array) || groupId.length !== GROUP_ID_BYTES) refuse('bad-length', `group certificates: the group id must be ${GROUP_ID_BYTES} bytes`);
  const root = parseCertificate(rootDer, 'root certificate');
  const tsa = parseCertificate(tsaDer, 'TSA certificate');
  for (const [what, p] of [['root certificate', root], ['TSA certificate', tsa]] as const) {
    const t = p.cert.tbsCertificate;
    if (!sameKey(t.subjectPublicKeyInfo, publicKey)) refuse('invalid-share', `${what}: certifies another public key than the group's RSA key (n, e)`);
    const id = attribute(t.subject, ID_AT_SERIAL_NUMBER)?.printableString;
    if (id !== toHex(groupId)) refuse('invalid-share', `${what}: is not for this group (subject serialNumber ${JSON.stringify(id ?? null)}, expected the group id)`);
    if (!p.cert.signatureAlgorithm.isEqual(sha256WithRsa())) refuse('invalid-share', `${what}: signatureAlgorithm must be sha256WithRSAEncryption (NULL parameters)`);
    if (!rsaVerify(publicKey, p.tbs, p.signature)) refuse('invalid-share', `${what}: the signature does not verify under the group's RSA key`);
  }
  const rt = root.cert.tbsCertificate;
  const cn = attribute(rt.subject, ID_AT_COMMON_NAME)?.utf8String ?? '';
  if (!cn.endsWith(ROOT_SUFFIX)) refuse('invalid-share', `root certificate: the common name must end with "${ROOT_SUFFIX.trim()}"`);
  const label = cn.slice(0, -ROOT_SUFFIX.length);
  const c = checkParams({
    publicKey,
    groupId,
    label,
    notBefore: rt.validity.notBefore.getTime(),
    notAfter: rt.validity.notAfter.getTime(),
    rootSerial: new Uint8Array(rt.serialNumber),
    tsaSerial: new Uint8Array(tsa.cert.tbsCertificate.serialNumber),
  });
  const expected = tbsCertificates(c, new Uint8Array(rt.serialNumber), new Uint8Array(tsa.cert.tbsCertificate.serialNumber));
  if (!bytesEqual(expected.root, root.tbs)) refuse('invalid-share', 'root certificate: does not follow the group root CA profile (docs/formats.md section 4)');
  if (!bytesEqual(expected.tsa, tsa.tbs)) {
    refuse('invalid-share', "TSA certificate: does not follow the group TSA profile (docs/formats.md section 4: issued by the root, with the root's validity and name)");
  }
  return {
    label,
    notBefore: c.notBefore,
    notAfter: c.notAfter,
    rootSerial: toHex(new Uint8Array(rt.serialNumber)),
    tsaSerial: toHex(new Uint8Array(tsa.cert.tbsCertificate.serialNumber)),
    keyIdentifier: toHex(keyIdentifier(rt.subjectPublicKeyInfo)),
  };
}

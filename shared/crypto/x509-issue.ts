/**
 * End-entity X.509 v3 certificates (RFC 5280) that the group's root CA (x509.ts) issues for accepted
 * PKCS #10 requests (csr.ts), signed with the group's threshold RSA key (threshold-rsa.ts).
 *
 * Issuing is split in two so that the replicas can sign with shares:
 *
 *  1. `prepareCertificate` builds the DER TBSCertificate from ordered data only (the request, a serial
 *     number and a validity from the ordered state, the root certificate) and returns it with its SHA-256
 *     digest. It is a pure function: every replica computes the same bytes, and a replica signs a share
 *     of that digest only, never a digest or TBS handed to it.
 *  2. `assembleCertificate` wraps the TBSCertificate and the RSASSA-PKCS1-v1_5 SHA-256 signature that k
 *     shares combine to (combineShares) into the Certificate.
 *
 * The profile (the exact fields, in order; docs/formats.md "X.509 certificates and CRLs the CA issues"):
 * version v3; the given serial; sha256WithRSAEncryption (NULL parameters) in both places; issuer = the
 * root's subject, byte for byte; validity in whole seconds (UTCTime through 2049, GeneralizedTime from
 * 2050: RFC 5280 section 4.1.2.5); subject = one RDN, commonName (UTF8String) = the request's directory
 * name; the request's SubjectPublicKeyInfo byte for byte; extensions basicConstraints cA FALSE (critical),
 * keyUsage (critical) as csr.ts decided, extendedKeyUsage (not critical) if requested, subjectKeyIdentifier
 * (RFC 7093 section 2 method 1, as the root's), authorityKeyIdentifier = the root's subjectKeyIdentifier,
 * subjectAltName (not critical; the subject is not empty) if requested.
 *
 * The certificate must lie within the root's validity: a certificate that outlives its root would be
 * unverifiable for the rest of its life. Serial numbers are the caller's (the CA state's counter); they
 * must be unique per issuer; the root and TSA certificates have 16-byte serials with the top byte in
 * 0x40..0x7f (x509.ts), at least 2^126, which a counter (1, 2, 3, ...) never reaches.
 *
 * ASN.1 from @peculiar/asn1-x509 / asn1-schema (pure JavaScript: workerd, browsers, Node); this module only
 * fills the structures in, as x509.ts does. No clock, no randomness: times come in as arguments.
 */
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
  GeneralName,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  Name,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
} from '@peculiar/asn1-x509';
import { bytesEqual, bytesToBigint } from './bytes.ts';
import { extendedKeyUsageOid, keyUsageFlags, parseCsr } from './csr.ts';
import type { CheckedCsr } from './csr.ts';
import type { CryptoErrorCode } from './errors.ts';
import { derToPem } from './pem.ts';
import { checkRsaPublicKey, modulusBytes, rsaVerify } from './rsa.ts';
import type { RsaPublicKey } from './rsa.ts';
import { sha256 } from './sha256.ts';
import { X509Error, checkSerial, integerContents, keyIdentifier } from './x509.ts';

export { X509Error };

function refuse(code: CryptoErrorCode, message: string): never {
  throw new X509Error(code, message);
}

const ID_AT_COMMON_NAME = '2.5.4.3';
/** RFC 5280 section 4.1.2.5: UTCTime through 2049, GeneralizedTime after; nothing before 1950 or after 9999. */
const MIN_TIME = Date.UTC(1950, 0, 1);
const MAX_TIME = Date.UTC(9999, 11, 31, 23, 59, 59);
/** RFC 5280 section 4.1.2.2: serial numbers (and section 5.2.3: CRL numbers) of at most 20 octets. */
export const MAX_SERIAL = (1n << 159n) - 1n;
/** Bounds on a key identifier handed in by hand (ours are 20 bytes). */
const MAX_KEY_IDENTIFIER_BYTES = 64;
const MAX_NAME_BYTES = 4096;

/** The TBS bytes the replicas sign and the digest their shares are of. */
export interface PreparedTbs {
  /** DER of the TBSCertificate (or TBSCertList). */
  readonly tbsDer: Uint8Array;
  /** SHA-256(tbsDer): what signShare / combineShares take. */
  readonly digest: Uint8Array;
}

/** What an issued certificate or CRL takes from its issuer, the group's root CA. */
export interface CertificateIssuer {
  /** DER of the root's subject Name: the issuer field, byte for byte. */
  readonly name: Uint8Array;
  /** The root's subjectKeyIdentifier: the authorityKeyIdentifier of what it issues. */
  readonly keyIdentifier: Uint8Array;
  /** The root's validity: certificates must lie within it, CRLs start within it. */
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** A root CA certificate read by `certificateIssuer`. */
export interface RootCertificate extends CertificateIssuer {
  readonly publicKey: RsaPublicKey;
  /** keyUsage keyCertSign and cRLSign. */
  readonly keyCertSign: boolean;
  readonly cRLSign: boolean;
}

export interface CertificateParams {
  /** An accepted request from parseCsr. Its `der` is checked again and everything is taken from it. */
  readonly csr: CheckedCsr;
  /** Positive: DER INTEGER contents (minimal, 1-20 bytes) or a bigint 1..2^159 - 1. */
  readonly serial: Uint8Array | bigint;
  /** Whole seconds (milliseconds are dropped), 1950-9999, notBefore < notAfter, within the root's validity. */
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The root CA certificate (DER), or what certificateIssuer read from it. */
  readonly issuer: Uint8Array | CertificateIssuer;
}

// --- helpers shared with crl.ts --------------------------------------------------------------------------

export const ab = (b: Uint8Array): ArrayBuffer => b.slice().buffer as ArrayBuffer;
export const der = (obj: unknown): Uint8Array => new Uint8Array(AsnConvert.serialize(obj));
export const sha256WithRsa = (): AlgorithmIdentifier => new AlgorithmIdentifier({ algorithm: id_sha256WithRSAEncryption, parameters: null });
const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export function extension(extnID: string, critical: boolean, value: unknown): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(der(value)) });
}

/** A valid date in whole seconds (milliseconds dropped), 1950-9999. */
export function checkTime(d: Date, what: string): Date {
  if (!(d instanceof Date) || Number.isNaN(d.getTime())) refuse('bad-encoding', `${what}: not a valid date`);
  const t = Math.floor(d.getTime() / 1000) * 1000;
  if (t < MIN_TIME || t > MAX_TIME) refuse('scalar-out-of-range', `${what}: must be in the years 1950-9999 (RFC 5280 section 4.1.2.5)`);
  return new Date(t);
}

/** A serial number as DER INTEGER contents: positive, minimal, at most 20 bytes. */
export function serialContents(serial: Uint8Array | bigint, what: string): Uint8Array {
  if (typeof serial === 'bigint') {
    if (serial < 1n || serial > MAX_SERIAL) refuse('scalar-out-of-range', `${what} serial: must be from 1 to 2^159 - 1 (20 octets, RFC 5280 section 4.1.2.2)`);
    return integerContents(serial);
  }
  if (!(serial instanceof Uint8Array)) refuse('bad-encoding', `${what} serial: expected a bigint or the bytes of a DER INTEGER`);
  return checkSerial(serial, what).slice();
}

/** `value` parsed as `type`, refused unless it is exactly the DER of what was parsed. */
export function parseDer<T>(value: Uint8Array, type: new () => T, what: string): T {
  let parsed: T;
  let again: Uint8Array;
  try {
    parsed = AsnConvert.parse(value, type);
    again = der(parsed);
  } catch (e) {
    refuse('bad-encoding', `${what}: malformed (${errorText(e)})`);
  }
  if (!bytesEqual(again, value)) refuse('non-canonical', `${what}: not in DER (the distinguished encoding)`);
  return parsed;
}

function findExtension(extensions: Extensions | undefined, id: string): Uint8Array | null {
  const hits = (extensions ?? []).filter((e) => e.extnID === id);
  if (hits.length > 1) refuse('bad-encoding', `root certificate: extension ${id} twice`);
  return hits[0] ? new Uint8Array(hits[0].extnValue.buffer) : null;
}

/**
 * Reads the root CA certificate (DER) the group issues from: DER, v3, self-issued and self-signed with
 * sha256WithRSAEncryption under its own RSA key, basicConstraints cA TRUE, a subjectKeyIdentifier.
 * Whether it is *this group's* root is checkGroupCertificates' job (x509.ts).
 */
export function certificateIssuer(rootDer: Uint8Array): RootCertificate {
  if (!(rootDer instanceof Uint8Array) || rootDer.length === 0 || rootDer.length > 65_536) refuse('bad-length', 'root certificate: expected 1-65536 bytes of DER');
  const cert = parseDer(rootDer, Certificate, 'root certificate');
  const tbs = cert.tbsCertificate;
  if (tbs.version !== Version.v3) refuse('bad-encoding', 'root certificate: must be X.509 v3');
  const spki = tbs.subjectPublicKeyInfo;
  if (spki.algorithm.algorithm !== id_rsaEncryption) refuse('bad-encoding', 'root certificate: the key must be RSA (rsaEncryption): what the group signs with');
  let publicKey: RsaPublicKey;
  try {
    const key = AsnConvert.parse(spki.subjectPublicKey, RSAPublicKey);
    publicKey = { n: bytesToBigint(new Uint8Array(key.modulus)), e: bytesToBigint(new Uint8Array(key.publicExponent)) };
    checkRsaPublicKey(publicKey);
  } catch (e) {
    refuse('bad-encoding', `root certificate: not a usable RSA public key (${errorText(e)})`);
  }
  const name = der(tbs.subject);
  if (!bytesEqual(der(tbs.issuer), name)) refuse('bad-encoding', 'root certificate: not self-issued (issuer differs from subject)');
  if (!cert.signatureAlgorithm.isEqual(sha256WithRsa()) || !tbs.signature.isEqual(sha256WithRsa())) refuse('bad-encoding', 'root certificate: must be signed with sha256WithRSAEncryption');
  if (!rsaVerify(publicKey, der(tbs), new Uint8Array(cert.signatureValue))) refuse('invalid-share', 'root certificate: its self-signature does not verify');
  const bcBytes = findExtension(tbs.extensions, id_ce_basicConstraints);
  if (!bcBytes || !parseDer(bcBytes, BasicConstraints, 'root certificate basicConstraints').cA) refuse('bad-encoding', 'root certificate: not a CA (basicConstraints cA TRUE)');
  const skiBytes = findExtension(tbs.extensions, id_ce_subjectKeyIdentifier);
  if (!skiBytes) refuse('bad-encoding', 'root certificate: no subjectKeyIdentifier (RFC 5280 section 4.2.1.2)');
  const ski = new Uint8Array(parseDer(skiBytes, SubjectKeyIdentifier, 'root certificate subjectKeyIdentifier').buffer);
  if (ski.length === 0 || ski.length > MAX_KEY_IDENTIFIER_BYTES) refuse('bad-length', `root certificate: subjectKeyIdentifier of ${ski.length} bytes`);
  const kuBytes = findExtension(tbs.extensions, id_ce_keyUsage);
  // No keyUsage extension: the key may be used for anything (RFC 5280 section 4.2.1.3).
  const ku = kuBytes ? parseDer(kuBytes, KeyUsage, 'root certificate keyUsage').toNumber() : KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign;
  return {
    name,
    keyIdentifier: ski,
    notBefore: tbs.validity.notBefore.getTime(),
    notAfter: tbs.validity.notAfter.getTime(),
    publicKey,
    keyCertSign: (ku & KeyUsageFlags.keyCertSign) !== 0,
    cRLSign: (ku & KeyUsageFlags.cRLSign) !== 0,
  };
}

/** The issuer as the TBS builders use it: from a root certificate, or checked field by field. */
export interface Issuer {
  readonly name: Name;
  readonly keyIdentifier: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export function resolveIssuer(issuer: Uint8Array | CertificateIssuer, use: 'keyCertSign' | 'cRLSign'): Issuer {
  if (issuer instanceof Uint8Array) {
    const root = certificateIssuer(issuer);
    if (!root[use]) refuse('bad-encoding', `root certificate: its keyUsage does not allow ${use}`);
    return { name: AsnConvert.parse(root.name, Name), keyIdentifier: root.keyIdentifier, notBefore: root.notBefore, notAfter: root.notAfter };
  }
  if (typeof issuer !== 'object' || issuer === null) refuse('bad-encoding', 'issuer: expected the root certificate (DER) or {name, keyIdentifier, notBefore, notAfter}');
  const { name, keyIdentifier: kid } = issuer;
  if (!(name instanceof Uint8Array) || name.length === 0 || name.length > MAX_NAME_BYTES) refuse('bad-length', `issuer name: expected 1-${MAX_NAME_BYTES} bytes of DER`);
  const parsed = parseDer(name, Name, 'issuer name');
  if (parsed.length === 0) refuse('bad-encoding', 'issuer name: empty (RFC 5280 section 4.1.2.4)');
  if (!(kid instanceof Uint8Array) || kid.length === 0 || kid.length > MAX_KEY_IDENTIFIER_BYTES) refuse('bad-length', `issuer keyIdentifier: expected 1-${MAX_KEY_IDENTIFIER_BYTES} bytes`);
  const notBefore = checkTime(issuer.notBefore, 'issuer notBefore');
  const notAfter = checkTime(issuer.notAfter, 'issuer notAfter');
  if (notAfter.getTime() <= notBefore.getTime()) refuse('scalar-out-of-range', 'issuer: notAfter must be later than notBefore');
  return { name: parsed, keyIdentifier: kid.slice(), notBefore, notAfter };
}

const KEY_USAGE_NONE = 0;

/**
 * The TBSCertificate for an accepted request and its SHA-256 digest: the same inputs give the same bytes
 * on every replica. Throws an X509Error (or the CsrError of re-checking the request) saying what is wrong.
 */
export function prepareCertificate(params: CertificateParams): PreparedTbs {
  if (typeof params !== 'object' || params === null) refuse('bad-encoding', 'certificate: no parameters');
  const csr = params.csr;
  if (typeof csr !== 'object' || csr === null || !(csr.der instanceof Uint8Array)) refuse('bad-encoding', 'certificate: csr must be a request from parseCsr');
  // Everything below comes from the request's bytes, checked again: a CheckedCsr edited by hand cannot
  // put a field in a certificate that the request did not earn.
  const req = parseCsr(csr.der);
  const serial = serialContents(params.serial, 'certificate');
  const notBefore = checkTime(params.notBefore, 'certificate notBefore');
  const notAfter = checkTime(params.notAfter, 'certificate notAfter');
  if (notAfter.getTime() <= notBefore.getTime()) refuse('scalar-out-of-range', 'certificate: notAfter must be later than notBefore');
  const issuer = resolveIssuer(params.issuer, 'keyCertSign');
  if (notBefore.getTime() < issuer.notBefore.getTime() || notAfter.getTime() > issuer.notAfter.getTime()) {
    refuse('scalar-out-of-range', `certificate: the validity must lie within the root's (${issuer.notBefore.toISOString()} to ${issuer.notAfter.toISOString()})`);
  }

  const spki = AsnConvert.parse(req.publicKeyInfo, SubjectPublicKeyInfo);
  const flags = keyUsageFlags(req.keyUsage);
  if (flags === KEY_USAGE_NONE) refuse('bad-encoding', 'certificate: no key usage');
  const extensions = [
    extension(id_ce_basicConstraints, true, new BasicConstraints({ cA: false })),
    extension(id_ce_keyUsage, true, new KeyUsage(flags)),
  ];
  if (req.extendedKeyUsage.length > 0) extensions.push(extension(id_ce_extKeyUsage, false, new ExtendedKeyUsage(req.extendedKeyUsage.map(extendedKeyUsageOid))));
  extensions.push(
    extension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(keyIdentifier(spki))),
    extension(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(issuer.keyIdentifier) })),
  );
  if (req.subjectAltName) {
    const g = req.subjectAltName.type === 'dNSName' ? new GeneralName({ dNSName: req.subjectAltName.value }) : new GeneralName({ rfc822Name: req.subjectAltName.value });
    extensions.push(extension(id_ce_subjectAltName, false, new SubjectAlternativeName([g])));
  }
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: ab(serial),
    signature: sha256WithRsa(),
    issuer: issuer.name,
    validity: new Validity({ notBefore, notAfter }),
    subject: new Name([new RelativeDistinguishedName([new AttributeTypeAndValue({ type: ID_AT_COMMON_NAME, value: new AttributeValue({ utf8String: req.name }) })])]),
    subjectPublicKeyInfo: spki,
    extensions: new Extensions(extensions),
  });
  const tbsDer = der(tbs);
  // The key is the request's, byte for byte (it was DER there, so it re-encodes to itself).
  if (!bytesEqual(der(AsnConvert.parse(tbsDer, TBSCertificate).subjectPublicKeyInfo), req.publicKeyInfo)) refuse('bad-encoding', 'certificate: the public key did not survive encoding');
  return { tbsDer, digest: sha256(tbsDer) };
}

/**
 * Checks an RSASSA-PKCS1-v1_5 SHA-256 signature handed to an assembler: exactly as long as the modulus
 * and, when the issuer's key is given (it should be), valid over `tbsDer` under it.
 */
export function checkTbsSignature(tbsDer: Uint8Array, signature: Uint8Array, issuerKey: RsaPublicKey | undefined, what: string): void {
  if (!(signature instanceof Uint8Array) || signature.length === 0) refuse('bad-length', `${what}: no signature`);
  if (issuerKey === undefined) return;
  checkRsaPublicKey(issuerKey);
  if (signature.length !== modulusBytes(issuerKey.n)) refuse('bad-length', `${what}: the signature must be ${modulusBytes(issuerKey.n)} bytes (the modulus length)`);
  if (!rsaVerify(issuerKey, tbsDer, signature)) refuse('invalid-share', `${what}: the signature does not verify under the issuer's RSA key`);
}

/**
 * The Certificate (DER) of a TBSCertificate from prepareCertificate and its signature (what combineShares
 * returns). With `issuerKey` (the group's RSA public key) the signature is verified first.
 */
export function assembleCertificate(tbsDer: Uint8Array, signature: Uint8Array, issuerKey?: RsaPublicKey): Uint8Array {
  if (!(tbsDer instanceof Uint8Array) || tbsDer.length === 0) refuse('bad-encoding', 'certificate: no TBSCertificate');
  const tbsCertificate = parseDer(tbsDer, TBSCertificate, 'TBSCertificate');
  if (!tbsCertificate.signature.isEqual(sha256WithRsa())) refuse('bad-encoding', 'TBSCertificate: its signature algorithm must be sha256WithRSAEncryption');
  checkTbsSignature(tbsDer, signature, issuerKey, 'certificate');
  return der(new Certificate({ tbsCertificate, signatureAlgorithm: sha256WithRsa(), signatureValue: ab(signature) }));
}

/** PEM of a certificate (RFC 7468 section 5, the spelling of pem.ts). */
export function certificateToPem(certificateDer: Uint8Array): string {
  return derToPem(certificateDer, 'CERTIFICATE');
}

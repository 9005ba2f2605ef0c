/**
 * RFC 3161 time-stamp tokens signed by the group's threshold RSA key (threshold-rsa.ts) under its TSA
 * certificate (x509.ts), in two deterministic steps so that replicas can sign without trusting each other:
 *
 *  1. `prepareTimeStampToken` builds, from the ordered query, the agreed serial number and time and the TSA
 *     certificate, the TSTInfo (RFC 3161 section 2.4.2) and the CMS signed attributes (RFC 5652 section
 *     5.3) that cover it, and returns their DER and `digest` = SHA-256 of the signed attributes' DER SET
 *     (RFC 5652 section 5.4: what the signature covers). The same inputs give the same bytes on every
 *     replica, so each signs `digest` with its share (signShare) and any k shares combine (combineShares)
 *     into one RSASSA-PKCS1-v1_5 SHA-256 signature.
 *  2. `assembleTimeStampReply` wraps the prepared bytes and that signature into a TimeStampResp with status
 *     granted: ContentInfo / SignedData (RFC 5652 section 5) as RFC 3161 section 2.4.2 profiles it.
 *
 * `timeStampFailureReply` answers a refused query (tsp-query.ts) with status rejection and the failInfo bit.
 * Byte-level description of all of it: docs/formats.md, "RFC 3161 time-stamp tokens".
 *
 * Choices, and why:
 *  - TSTInfo: version 1, the group's policy (tsp-policy.ts), the query's messageImprint as sent, the serial
 *    the caller gives (the request's position in the total order), genTime in UTC with milliseconds
 *    (GeneralizedTime without trailing zeros in the fraction, none when whole seconds: X.690 section
 *    11.7), accuracy only when given, ordering FALSE (omitted, DEFAULT), the nonce when the query has one,
 *    tsa = the TSA certificate's subject as a directoryName (a hint RFC 3161 allows; it names the group id,
 *    and OpenSSL checks it against the signer), no extensions.
 *  - Signed attributes, in DER order: contentType = id-ct-TSTInfo, messageDigest = SHA-256(TSTInfo DER),
 *    signingCertificateV2 (RFC 5035; required by RFC 3161 section 2.4.1 through ESSCertID or ESSCertIDv2)
 *    with one ESSCertIDv2: SHA-256 of the TSA certificate (hashAlgorithm omitted, it is the DEFAULT) and
 *    issuerSerial. No signingTime: genTime is the time, and a second clock field could only disagree.
 *  - SignerInfo: version 1, issuerAndSerialNumber of the TSA certificate, digestAlgorithm sha256 (parameters
 *    absent, RFC 5754 section 2), signatureAlgorithm rsaEncryption with NULL parameters (RFC 3370 section
 *    3.2: the identifier every CMS implementation must accept; OpenSSL's own TSA writes it).
 *  - certificates: exactly when the query asks (certReq), the TSA certificate and any extra ones given, in
 *    DER SET order; otherwise absent (RFC 3161 section 2.4.1 requires both).
 *
 * Runtime-free: time, serial and signature come in as arguments; ASN.1 from @peculiar/asn1-* (tsp-asn1.ts).
 */
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  Attribute,
  CMSVersion,
  CertificateChoices,
  CertificateSet,
  DigestAlgorithmIdentifier,
  DigestAlgorithmIdentifiers,
  EncapsulatedContent,
  EncapsulatedContentInfo,
  IssuerAndSerialNumber,
  SignatureAlgorithmIdentifier,
  SignedData,
  SignerIdentifier,
  SignerInfo,
  SignerInfos,
  id_signedData,
} from '@peculiar/asn1-cms';
import { RSAPublicKey, id_rsaEncryption, id_sha256 } from '@peculiar/asn1-rsa';
import { Accuracy, MessageImprint, PKIFailureInfo, PKIFreeText, PKIStatus, PKIStatusInfo, TimeStampResp, TimeStampToken, id_ct_tstInfo } from '@peculiar/asn1-tsp';
import { AlgorithmIdentifier, Certificate, GeneralName, GeneralNames } from '@peculiar/asn1-x509';
import { bytesEqual, bytesToBigint } from './bytes.ts';
import { rsaVerifyDigest } from './rsa.ts';
import type { RsaPublicKey } from './rsa.ts';
import { sha256 } from './sha256.ts';
import {
  EssCertIdV2,
  EssCertIdV2s,
  ID_CONTENT_TYPE,
  ID_MESSAGE_DIGEST,
  ID_SIGNING_CERTIFICATE_V2,
  IssuerSerial,
  PKI_FAILURE_BITS,
  SignedAttributeSet,
  SigningCertificateV2,
  TspError,
  TspTstInfo,
  ab,
  der,
  derSetOrder,
  integerContents,
  isOidText,
  oidDer,
} from './tsp-asn1.ts';
import type { PkiFailureInfo } from './tsp-asn1.ts';
import { TSP_HASH_ALGORITHMS } from './tsp-query.ts';
import type { TimeStampQuery } from './tsp-query.ts';

export { TspError, PKI_FAILURE_BITS } from './tsp-asn1.ts';

/** RFC 3161 section 2.4.2: serial numbers up to 160 bits are what every client must take. */
export const MAX_SERIAL_BITS = 160;
/** genTime bounds: 1970-01-01 to the end of 9999 (GeneralizedTime has four year digits). */
const MIN_GEN_TIME = 0;
const MAX_GEN_TIME = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
/** A failure reply's statusString is at most this many UTF-16 code units (it is for people, not parsers). */
export const MAX_STATUS_TEXT = 256;

/** RFC 3161 section 2.4.2 Accuracy; absent fields are absent from the token. */
export interface TimeStampAccuracy {
  /** Whole seconds, 0 to 2^31 - 1. */
  readonly seconds?: number;
  /** 1 to 999. */
  readonly millis?: number;
  /** 1 to 999. */
  readonly micros?: number;
}

export interface TimeStampTokenInput {
  /** An accepted query (parseTimeStampQuery). */
  readonly query: TimeStampQuery;
  /** The TSA policy OID (tsaPolicyOid of the group id). */
  readonly policy: string;
  /** The token's serialNumber: the request's position in the total order; 0 <= serial < 2^160. */
  readonly serial: bigint;
  /** The agreed time, UTC, to the millisecond; 1970 to 9999. */
  readonly genTime: Date;
  /** DER of the TSA certificate (the group's tsa.pem). */
  readonly tsaCertificate: Uint8Array;
  readonly accuracy?: TimeStampAccuracy;
}

/** What the replicas sign (`digest`) and what the reply is assembled from. */
export interface PreparedTimeStampToken {
  /** DER TSTInfo: the SignedData's eContent. */
  readonly tstInfo: Uint8Array;
  /** DER SET OF Attribute (first byte 0x31): the bytes the signature covers (RFC 5652 section 5.4). */
  readonly signedAttributes: Uint8Array;
  /** SHA-256(signedAttributes): what signShare and combineShares take. */
  readonly digest: Uint8Array;
  /** DER of the TSA certificate the token names. */
  readonly tsaCertificate: Uint8Array;
  /** The query's certReq: the reply carries certificates exactly when true. */
  readonly certReq: boolean;
}

export interface TsaCertificate {
  readonly der: Uint8Array;
  readonly cert: Certificate;
  readonly publicKey: RsaPublicKey;
}

/** Parses a DER certificate with an RSA key; a TspError when it is not one (or not DER). */
export function readTsaCertificate(bytes: Uint8Array, what = 'TSA certificate'): TsaCertificate {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) throw new TspError('bad-encoding', `${what}: no bytes`);
  let cert: Certificate;
  try {
    cert = AsnConvert.parse(bytes, Certificate);
    if (!bytesEqual(der(cert), bytes)) throw new Error('not DER');
  } catch {
    throw new TspError('bad-encoding', `${what}: not a DER X.509 certificate`);
  }
  const spki = cert.tbsCertificate.subjectPublicKeyInfo;
  if (spki.algorithm.algorithm !== id_rsaEncryption) throw new TspError('bad-encoding', `${what}: not an RSA key`);
  let key: RSAPublicKey;
  try {
    key = AsnConvert.parse(spki.subjectPublicKey, RSAPublicKey);
  } catch {
    throw new TspError('bad-encoding', `${what}: unreadable RSA public key`);
  }
  return { der: bytes, cert, publicKey: { n: bytesToBigint(new Uint8Array(key.modulus)), e: bytesToBigint(new Uint8Array(key.publicExponent)) } };
}

function checkInteger(x: unknown, lo: number, hi: number, what: string): number | undefined {
  if (x === undefined) return undefined;
  if (typeof x !== 'number' || !Number.isInteger(x) || x < lo || x > hi) throw new TspError('scalar-out-of-range', `time-stamp accuracy: ${what} must be an integer ${lo}-${hi}`);
  return x;
}

function accuracyOf(a: TimeStampAccuracy | undefined): Accuracy | undefined {
  if (a === undefined) return undefined;
  if (typeof a !== 'object' || a === null) throw new TspError('bad-encoding', 'time-stamp accuracy: not an object');
  const seconds = checkInteger(a.seconds, 0, 2 ** 31 - 1, 'seconds');
  const millis = checkInteger(a.millis, 1, 999, 'millis');
  const micros = checkInteger(a.micros, 1, 999, 'micros');
  if (!seconds && millis === undefined && micros === undefined) throw new TspError('scalar-out-of-range', 'time-stamp accuracy: must be more than zero');
  // Accuracy's constructor presets seconds = 0, which would be encoded: absent fields are set undefined.
  return new Accuracy({ seconds, millis, micros });
}

function checkQuery(q: TimeStampQuery): void {
  if (typeof q !== 'object' || q === null) throw new TspError('bad-encoding', 'time-stamp token: no query');
  const h = TSP_HASH_ALGORITHMS[q.hashAlgorithm];
  if (h === undefined) throw new TspError('bad-encoding', 'time-stamp token: unknown hash algorithm');
  if (!(q.hashedMessage instanceof Uint8Array) || q.hashedMessage.length !== h.bytes) throw new TspError('bad-length', 'time-stamp token: imprint length does not match its hash');
  if (q.nonce !== undefined && (typeof q.nonce !== 'bigint' || q.nonce < 0n)) throw new TspError('scalar-out-of-range', 'time-stamp token: nonce must be a non-negative bigint');
  if (typeof q.certReq !== 'boolean' || typeof q.hashParametersNull !== 'boolean') throw new TspError('bad-encoding', 'time-stamp token: malformed query');
}

/** The ESSCertIDv2 of the TSA certificate and the three signed attributes, as a DER SET in DER order. */
function signedAttributesFor(tstInfo: Uint8Array, tsa: TsaCertificate): Uint8Array {
  const tbs = tsa.cert.tbsCertificate;
  const certId = new EssCertIdV2({
    certHash: new OctetString(sha256(tsa.der)),
    issuerSerial: new IssuerSerial({ issuer: new GeneralNames([new GeneralName({ directoryName: tbs.issuer })]), serialNumber: tbs.serialNumber }),
  });
  const attrs = [
    new Attribute({ attrType: ID_CONTENT_TYPE, attrValues: [ab(oidDer(id_ct_tstInfo))] }),
    new Attribute({ attrType: ID_MESSAGE_DIGEST, attrValues: [ab(der(new OctetString(sha256(tstInfo))))] }),
    new Attribute({ attrType: ID_SIGNING_CERTIFICATE_V2, attrValues: [ab(der(new SigningCertificateV2({ certs: new EssCertIdV2s([certId]) })))] }),
  ];
  const sorted = derSetOrder(attrs.map(der)).map((b) => AsnConvert.parse(b, Attribute));
  return der(new SignedAttributeSet(sorted));
}

/**
 * Step 1: the TSTInfo and the signed attributes for an accepted query, and the digest to sign. Pure: the
 * same inputs give the same bytes. Throws a TspError for arguments out of range (they come from the
 * replica's own ordered state, never from the client: a client's query was checked by parseTimeStampQuery).
 */
export function prepareTimeStampToken(input: TimeStampTokenInput): PreparedTimeStampToken {
  if (typeof input !== 'object' || input === null) throw new TspError('bad-encoding', 'time-stamp token: no input');
  const { query, policy, serial, genTime } = input;
  checkQuery(query);
  if (!isOidText(policy)) throw new TspError('bad-encoding', 'time-stamp token: the policy must be an OBJECT IDENTIFIER in dotted decimal');
  if (typeof serial !== 'bigint' || serial < 0n || serial >= 1n << BigInt(MAX_SERIAL_BITS)) {
    throw new TspError('scalar-out-of-range', `time-stamp token: serial must be a bigint, 0 <= serial < 2^${MAX_SERIAL_BITS}`);
  }
  if (!(genTime instanceof Date) || Number.isNaN(genTime.getTime()) || genTime.getTime() < MIN_GEN_TIME || genTime.getTime() > MAX_GEN_TIME) {
    throw new TspError('scalar-out-of-range', 'time-stamp token: genTime must be a valid date from 1970 to 9999');
  }
  const tsa = readTsaCertificate(input.tsaCertificate);
  const tstInfoObj = new TspTstInfo({
    version: 1,
    policy,
    messageImprint: new MessageImprint({
      hashAlgorithm: new AlgorithmIdentifier({ algorithm: TSP_HASH_ALGORITHMS[query.hashAlgorithm].oid, parameters: query.hashParametersNull ? null : undefined }),
      hashedMessage: new OctetString(query.hashedMessage),
    }),
    serialNumber: ab(integerContents(serial)),
    genTime: new Date(genTime.getTime()),
    accuracy: accuracyOf(input.accuracy),
    ordering: false,
    nonce: query.nonce === undefined ? undefined : ab(integerContents(query.nonce)),
    tsa: new GeneralName({ directoryName: tsa.cert.tbsCertificate.subject }),
  });
  const tstInfo = der(tstInfoObj);
  const signedAttributes = signedAttributesFor(tstInfo, tsa);
  return { tstInfo, signedAttributes, digest: sha256(signedAttributes), tsaCertificate: tsa.der.slice(), certReq: query.certReq };
}

export interface AssembleOptions {
  /** More DER certificates for the reply (e.g. root-ca.pem's), included with the TSA's only when certReq. */
  readonly extraCertificates?: readonly Uint8Array[];
}

const sha256AbsentParams = () => new DigestAlgorithmIdentifier({ algorithm: id_sha256 });

/**
 * Step 2: the DER TimeStampResp, status granted, for a prepared token and its RSASSA-PKCS1-v1_5 SHA-256
 * signature (combined from k shares, or any signature under the TSA certificate's key). Throws a TspError
 * when the signature does not verify under the TSA certificate's key, or the prepared bytes do not belong
 * together, so a bad combination never leaves as a token.
 */
export function assembleTimeStampReply(prepared: PreparedTimeStampToken, signature: Uint8Array, options: AssembleOptions = {}): Uint8Array {
  if (typeof prepared !== 'object' || prepared === null) throw new TspError('bad-encoding', 'time-stamp reply: nothing prepared');
  const tsa = readTsaCertificate(prepared.tsaCertificate);
  if (!(prepared.tstInfo instanceof Uint8Array) || !(prepared.signedAttributes instanceof Uint8Array)) throw new TspError('bad-encoding', 'time-stamp reply: prepared bytes missing');
  if (!bytesEqual(signedAttributesFor(prepared.tstInfo, tsa), prepared.signedAttributes)) {
    throw new TspError('invalid-share', 'time-stamp reply: the signed attributes are not those of this TSTInfo and TSA certificate');
  }
  if (!(signature instanceof Uint8Array) || !rsaVerifyDigest(tsa.publicKey, sha256(prepared.signedAttributes), signature)) {
    throw new TspError('invalid-share', "time-stamp reply: the signature does not verify under the TSA certificate's key");
  }
  const attrs = [...AsnConvert.parse(prepared.signedAttributes, SignedAttributeSet)];
  const tbs = tsa.cert.tbsCertificate;
  const signerInfo = new SignerInfo({
    version: CMSVersion.v1,
    sid: new SignerIdentifier({ issuerAndSerialNumber: new IssuerAndSerialNumber({ issuer: tbs.issuer, serialNumber: tbs.serialNumber }) }),
    digestAlgorithm: sha256AbsentParams(),
    signedAttrs: attrs,
    signatureAlgorithm: new SignatureAlgorithmIdentifier({ algorithm: id_rsaEncryption, parameters: null }),
    signature: new OctetString(signature),
  });
  let certificates: CertificateSet | undefined;
  if (prepared.certReq) {
    const extra = options.extraCertificates ?? [];
    if (!Array.isArray(extra)) throw new TspError('bad-encoding', 'time-stamp reply: extraCertificates must be an array');
    const all = [tsa.der, ...extra.map((c, i) => readTsaCertificateDer(c, i))];
    const unique = derSetOrder(all).filter((c, i, a) => i === 0 || !bytesEqual(c, a[i - 1]!));
    certificates = new CertificateSet(unique.map((c) => new CertificateChoices({ certificate: AsnConvert.parse(c, Certificate) })));
  }
  const signedData = new SignedData({
    // RFC 5652 section 5.1: version 3 because eContentType is not id-data.
    version: CMSVersion.v3,
    digestAlgorithms: new DigestAlgorithmIdentifiers([sha256AbsentParams()]),
    encapContentInfo: new EncapsulatedContentInfo({ eContentType: id_ct_tstInfo, eContent: new EncapsulatedContent({ single: new OctetString(prepared.tstInfo) }) }),
    certificates,
    signerInfos: new SignerInfos([signerInfo]),
  });
  const signedDataDer = der(signedData);
  // The [0] IMPLICIT signedAttrs must hold exactly the signed SET's contents (RFC 5652 section 5.4).
  const implicit = prepared.signedAttributes.slice();
  implicit[0] = 0xa0;
  if (!contains(signedDataDer, implicit)) throw new TspError('non-canonical', 'time-stamp reply: the SignerInfo does not carry the signed attributes as signed');
  const token = new TimeStampToken({ contentType: id_signedData, content: ab(signedDataDer) });
  return der(new TimeStampResp({ status: new PKIStatusInfo({ status: PKIStatus.granted }), timeStampToken: token }));
}

function readTsaCertificateDer(c: Uint8Array, i: number): Uint8Array {
  return readTsaCertificate(c, `extra certificate ${i}`).der;
}

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/**
 * The DER TimeStampResp for a refused query: status rejection (2), statusString [text], failInfo with the
 * one RFC 3161 section 2.4.2 bit set, no token. Throws a TspError for an unknown failInfo or a text that is
 * not 1-MAX_STATUS_TEXT characters.
 */
export function timeStampFailureReply(failInfo: PkiFailureInfo, text: string): Uint8Array {
  const bit = Object.hasOwn(PKI_FAILURE_BITS, failInfo) ? PKI_FAILURE_BITS[failInfo] : undefined;
  if (bit === undefined) throw new TspError('bad-encoding', 'time-stamp failure: unknown failInfo');
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_STATUS_TEXT) throw new TspError('bad-length', `time-stamp failure: text must be 1-${MAX_STATUS_TEXT} characters`);
  const status = new PKIStatusInfo({ status: PKIStatus.rejection, statusString: new PKIFreeText([text]), failInfo: new PKIFailureInfo(2 ** bit) });
  return der(new TimeStampResp({ status }));
}

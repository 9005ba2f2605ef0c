/**
 * Checking an RFC 3161 TimeStampResp against a pinned TSA certificate (the group's tsa.pem), for the SDK
 * and for tests: the checks `openssl ts -verify -queryfile` makes on the token itself (RFC 3161 section
 * 2.4.2, RFC 5652 section 5.6, RFC 5035), without chain building, which the pinned certificate replaces.
 *
 * Strict in the way tsp.ts writes: the response, the SignedData and the TSTInfo must be DER, with one
 * SignerInfo naming the TSA certificate by issuerAndSerialNumber, signed attributes in DER order holding
 * exactly one contentType (id-ct-TSTInfo), one messageDigest (SHA-256 of the TSTInfo) and one
 * signingCertificateV2 whose first ESSCertIDv2 is the SHA-256 of the TSA certificate, and an
 * RSASSA-PKCS1-v1_5 SHA-256 signature over the signed attributes' DER SET that verifies under the TSA
 * certificate's key. With a query, the imprint must be the query's and the nonce the query's (or absent
 * with it); with a policy, the TSTInfo's must be it. Never throws on the reply's bytes.
 */
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { Attribute, SignedData, id_signedData } from '@peculiar/asn1-cms';
import type { SignerInfo } from '@peculiar/asn1-cms';
import { id_rsaEncryption, id_sha256, id_sha256WithRSAEncryption } from '@peculiar/asn1-rsa';
import { PKIStatus, TimeStampResp, id_ct_tstInfo } from '@peculiar/asn1-tsp';
import type { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { bytesEqual } from './bytes.ts';
import { derSequenceSpan } from './pem.ts';
import { rsaVerifyDigest } from './rsa.ts';
import { sha256 } from './sha256.ts';
import {
  ID_CONTENT_TYPE,
  ID_MESSAGE_DIGEST,
  ID_SIGNING_CERTIFICATE_V2,
  PKI_FAILURE_BITS,
  SignedAttributeSet,
  SigningCertificateV2,
  TspTstInfo,
  der,
  derSetOrder,
  nonNegativeInteger,
  oidDer,
} from './tsp-asn1.ts';
import type { PkiFailureInfo } from './tsp-asn1.ts';
import { TSP_HASH_ALGORITHMS } from './tsp-query.ts';
import type { TimeStampQuery } from './tsp-query.ts';
import { readTsaCertificate } from './tsp.ts';
import type { TsaCertificate } from './tsp.ts';

export interface VerifiedTimeStamp {
  readonly policy: string;
  readonly serial: bigint;
  readonly genTime: Date;
  readonly hashAlgorithmOid: string;
  readonly hashedMessage: Uint8Array;
  readonly nonce: bigint | undefined;
  /** DER of the TSTInfo the signature covers. */
  readonly tstInfo: Uint8Array;
}

export type TimeStampReplyCheck =
  | { readonly ok: true; readonly token: VerifiedTimeStamp }
  /** `failInfo`: the bits of a rejection reply (status 2), when that is what it is. */
  | { readonly ok: false; readonly reason: string; readonly failInfo?: readonly PkiFailureInfo[] };

export interface VerifyTimeStampOptions {
  /** DER of the pinned TSA certificate: the signer must be it. */
  readonly tsaCertificate: Uint8Array;
  /** The query the reply answers: imprint and nonce must match. */
  readonly query?: TimeStampQuery;
  /** The TSA policy the token must state. */
  readonly policy?: string;
}

class Refused extends Error {}
function no(reason: string): never {
  throw new Refused(reason);
}

/** asn1-schema parse that must also re-encode to the same bytes (DER), or a refusal naming `what`. */
function parseDer<T>(bytes: Uint8Array, type: new () => T, what: string): T {
  let v: T;
  try {
    v = AsnConvert.parse(bytes, type);
  } catch {
    return no(`${what}: does not parse`);
  }
  if (!bytesEqual(der(v), bytes)) no(`${what}: not DER`);
  return v;
}

const isSha256 = (a: AlgorithmIdentifier) => a.algorithm === id_sha256 && (a.parameters === undefined || a.parameters === null);

function failBits(bits: Uint8Array, unused: number): PkiFailureInfo[] {
  const set = (i: number) => i < bits.length * 8 - unused && ((bits[i >> 3]! >> (7 - (i & 7))) & 1) === 1;
  return (Object.keys(PKI_FAILURE_BITS) as PkiFailureInfo[]).filter((k) => set(PKI_FAILURE_BITS[k]));
}

/** The one value of the one attribute of `type`, or a refusal. */
function single(attrs: readonly Attribute[], type: string, what: string): Uint8Array {
  const found = attrs.filter((a) => a.attrType === type);
  if (found.length !== 1 || found[0]!.attrValues.length !== 1) no(`signed attributes: need exactly one ${what} with one value`);
  return new Uint8Array(found[0]!.attrValues[0]!);
}

function check(reply: Uint8Array, opts: VerifyTimeStampOptions, tsa: TsaCertificate): VerifiedTimeStamp {
  if (!(reply instanceof Uint8Array)) no('reply: not bytes');
  try {
    derSequenceSpan(reply);
  } catch {
    no('reply: not one DER SEQUENCE');
  }
  const resp = parseDer(reply, TimeStampResp, 'TimeStampResp');
  if (resp.status.status !== PKIStatus.granted && resp.status.status !== PKIStatus.grantedWithMods) {
    const fi = resp.status.failInfo;
    const bits = fi ? failBits(new Uint8Array(fi.value), fi.unusedBits) : [];
    const text = resp.status.statusString?.join(' ') ?? '';
    throw Object.assign(new Refused(`TSA refused (status ${resp.status.status}${bits.length ? `, ${bits.join(', ')}` : ''})${text ? `: ${text}` : ''}`), { bits });
  }
  const token = resp.timeStampToken;
  if (token === undefined) return no('TimeStampResp: granted without a token');
  if (token.contentType !== id_signedData) no('token: not SignedData');
  const sd = parseDer(new Uint8Array(token.content), SignedData, 'SignedData');
  if (sd.version !== 3) no('SignedData: version must be 3');
  if (!sd.digestAlgorithms.some(isSha256)) no('SignedData: digestAlgorithms lacks sha256');
  if (sd.encapContentInfo.eContentType !== id_ct_tstInfo) no('SignedData: content is not id-ct-TSTInfo');
  const eContent = sd.encapContentInfo.eContent?.single;
  if (eContent === undefined) no('SignedData: no TSTInfo');
  const tstInfo = new Uint8Array(eContent.buffer);
  if (sd.signerInfos.length !== 1) no('SignedData: need exactly one SignerInfo');
  const si: SignerInfo = sd.signerInfos[0]!;

  const tbs = tsa.cert.tbsCertificate;
  const ias = si.sid.issuerAndSerialNumber;
  if (si.version !== 1 || ias === undefined) no('SignerInfo: must be version 1 with issuerAndSerialNumber');
  if (!bytesEqual(der(ias.issuer), der(tbs.issuer)) || !bytesEqual(new Uint8Array(ias.serialNumber), new Uint8Array(tbs.serialNumber))) {
    no('SignerInfo: names another certificate than the TSA certificate');
  }
  if (!isSha256(si.digestAlgorithm)) no('SignerInfo: digestAlgorithm must be sha256');
  const sa = si.signatureAlgorithm;
  if ((sa.algorithm !== id_rsaEncryption && sa.algorithm !== id_sha256WithRSAEncryption) || (sa.parameters !== undefined && sa.parameters !== null)) {
    no('SignerInfo: signatureAlgorithm must be rsaEncryption or sha256WithRSAEncryption');
  }
  const attrs = si.signedAttrs;
  if (attrs === undefined || attrs.length === 0) return no('SignerInfo: no signed attributes');
  const encodings = attrs.map((a) => der(a));
  if (!derSetOrder(encodings).every((e, i) => bytesEqual(e, encodings[i]!))) no('signed attributes: not in DER order');
  if (!bytesEqual(single(attrs, ID_CONTENT_TYPE, 'contentType'), oidDer(id_ct_tstInfo))) no('signed attributes: contentType is not id-ct-TSTInfo');
  if (!bytesEqual(single(attrs, ID_MESSAGE_DIGEST, 'messageDigest'), der(new OctetString(sha256(tstInfo))))) no('signed attributes: messageDigest is not SHA-256 of the TSTInfo');
  const scv2 = parseDer(single(attrs, ID_SIGNING_CERTIFICATE_V2, 'signingCertificateV2'), SigningCertificateV2, 'signingCertificateV2');
  const first = scv2.certs[0];
  if (first === undefined || !isSha256(first.hashAlgorithm) || !bytesEqual(new Uint8Array(first.certHash.buffer), sha256(tsa.der))) {
    no('signed attributes: signingCertificateV2 does not name the TSA certificate');
  }
  const signedSet = der(new SignedAttributeSet(attrs));
  if (!rsaVerifyDigest(tsa.publicKey, sha256(signedSet), new Uint8Array(si.signature.buffer))) no("signature: does not verify under the TSA certificate's key");

  const info = parseDer(tstInfo, TspTstInfo, 'TSTInfo');
  if (info.version !== 1) no('TSTInfo: version must be 1');
  if (opts.policy !== undefined && info.policy !== opts.policy) no(`TSTInfo: policy ${info.policy}, expected ${opts.policy}`);
  const serial = nonNegativeInteger(new Uint8Array(info.serialNumber));
  if (serial === undefined) return no('TSTInfo: serialNumber must be a non-negative DER INTEGER');
  let nonce: bigint | undefined;
  if (info.nonce !== undefined) {
    nonce = nonNegativeInteger(new Uint8Array(info.nonce));
    if (nonce === undefined) no('TSTInfo: nonce must be a non-negative DER INTEGER');
  }
  const imprint = info.messageImprint;
  const hashedMessage = new Uint8Array(imprint.hashedMessage.buffer);
  const q = opts.query;
  if (q !== undefined) {
    const alg = imprint.hashAlgorithm;
    if (alg.algorithm !== TSP_HASH_ALGORITHMS[q.hashAlgorithm].oid || (alg.parameters === null) !== q.hashParametersNull || (alg.parameters !== undefined && alg.parameters !== null)) {
      no("TSTInfo: hash algorithm is not the query's");
    }
    if (!bytesEqual(hashedMessage, q.hashedMessage)) no("TSTInfo: message imprint is not the query's");
    if (nonce !== q.nonce) no(q.nonce === undefined ? 'TSTInfo: a nonce the query did not send' : "TSTInfo: nonce is not the query's");
  }
  if (info.tsa !== undefined && (info.tsa.directoryName === undefined || !bytesEqual(der(info.tsa.directoryName), der(tbs.subject)))) {
    no("TSTInfo: tsa is not the TSA certificate's subject");
  }
  return { policy: info.policy, serial, genTime: info.genTime, hashAlgorithmOid: imprint.hashAlgorithm.algorithm, hashedMessage, nonce, tstInfo };
}

/**
 * Checks a DER TimeStampResp (see the file comment). Throws only for a bad `tsaCertificate` argument (a
 * TspError); any problem with `reply` is `{ ok: false, reason }`.
 */
export function verifyTimeStampReply(reply: Uint8Array, opts: VerifyTimeStampOptions): TimeStampReplyCheck {
  const tsa = readTsaCertificate(opts.tsaCertificate); // the caller's mistake throws, before the reply is looked at
  try {
    return { ok: true, token: check(reply, opts, tsa) };
  } catch (e) {
    if (e instanceof Refused) {
      const bits = (e as Refused & { bits?: PkiFailureInfo[] }).bits;
      return bits === undefined ? { ok: false, reason: e.message } : { ok: false, reason: e.message, failInfo: bits };
    }
    return { ok: false, reason: 'reply: not a TimeStampResp' };
  }
}

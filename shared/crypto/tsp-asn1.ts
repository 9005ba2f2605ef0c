/**
 * The ASN.1 pieces RFC 3161 time stamps need beyond what @peculiar/asn1-tsp 2.6.0 and asn1-cms 2.11.1 give,
 * or give wrongly, all still described with @peculiar/asn1-schema (no hand-written encoder):
 *
 *  - OBJECT IDENTIFIERs with arcs above 2^53. asn1js 3.0 encodes `2.25.<128-bit UUID>` (ITU-T X.667)
 *    correctly from its dotted form, but reads such an arc back as `{hex}` of its 7-bit groups, which it
 *    cannot encode again: a query carrying the group's policy would not survive parse + re-encode. The
 *    converter below reads the arcs from the DER contents with bigints; `TspTimeStampReq` and `TspTstInfo`
 *    are asn1-tsp's TimeStampReq and TSTInfo with that converter on their policy fields.
 *  - PKIFailureInfo bit numbers. asn1-tsp's PKIFailureInfoFlags are right for badAlg only (badRequest is
 *    bit 2 in RFC 3161 section 2.4.2, asn1-tsp sets bit 1, and so on); `PKI_FAILURE_BITS` has the RFC's.
 *  - ESS signingCertificateV2 (RFC 5035 section 3): not in asn1-cms.
 *  - DER order of SET OF (X.690 section 11.6). asn1-schema writes a SET OF in the order it is given; CMS
 *    verifiers (OpenSSL among them) re-encode the signed attributes before checking the signature, so they
 *    must already be in DER order: `derSetOrder` sorts encodings as X.690 says.
 *
 * Decorators are applied as plain function calls: the project does not compile with experimentalDecorators,
 * and asn1-schema's decorators are the legacy (target, key) kind, which are just functions.
 */
import { AsnArray, AsnConvert, AsnIntegerArrayBufferConverter, AsnObjectIdentifierConverter, AsnProp, AsnPropTypes, AsnType, AsnTypeTypes, OctetString } from '@peculiar/asn1-schema';
import type { IAsnConverter } from '@peculiar/asn1-schema';
import { Attribute } from '@peculiar/asn1-cms';
import { TSTInfo, TimeStampReq } from '@peculiar/asn1-tsp';
import { AlgorithmIdentifier, GeneralNames } from '@peculiar/asn1-x509';
import { id_sha256 } from '@peculiar/asn1-rsa';
import { CryptoError, fail } from './errors.ts';

/** A refused argument of the time-stamp functions (never a refused query: those get failure replies). */
export class TspError extends CryptoError {
  override readonly name: string = 'TspError';
}

/** DER of an asn1-schema object (or of an asn1js block the library hands out). */
export const der = (obj: unknown): Uint8Array => new Uint8Array(AsnConvert.serialize(obj));

/** A fresh ArrayBuffer holding exactly `b` (asn1-schema keeps ArrayBuffers, not views). */
export const ab = (b: Uint8Array): ArrayBuffer => b.slice().buffer as ArrayBuffer;

/**
 * DER INTEGER contents of a non-negative integer: big-endian, shortest, a 00 byte before a set top bit
 * (X.690 section 8.3). asn1-schema's ArrayBuffer integer converter writes whatever bytes it is given.
 */
export function integerContents(x: bigint): Uint8Array {
  if (typeof x !== 'bigint' || x < 0n) fail('scalar-out-of-range', 'INTEGER: a non-negative bigint is required');
  const hex = x.toString(16);
  const digits = hex.length % 2 === 1 ? `0${hex}` : hex;
  const out = Uint8Array.from(digits.match(/../g)!, (h) => parseInt(h, 16));
  if (out[0]! < 0x80) return out;
  const padded = new Uint8Array(out.length + 1);
  padded.set(out, 1);
  return padded;
}

/**
 * The value of DER INTEGER contents that must be non-negative and minimal, or undefined: X.690 section
 * 8.3.2 (no 9 leading bits alike) and a clear top bit.
 */
export function nonNegativeInteger(contents: Uint8Array): bigint | undefined {
  if (contents.length === 0 || contents[0]! >= 0x80) return undefined;
  if (contents.length > 1 && contents[0] === 0 && contents[1]! < 0x80) return undefined;
  let v = 0n;
  for (const b of contents) v = (v << 8n) | BigInt(b);
  return v;
}

/** X.690 section 11.6: SET OF components in ascending order of their encodings, the shorter padded with 0 octets. */
export function derSetOrder(encodings: readonly Uint8Array[]): Uint8Array[] {
  const cmp = (a: Uint8Array, b: Uint8Array): number => {
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const d = (a[i] ?? 0) - (b[i] ?? 0);
      if (d !== 0) return d;
    }
    return 0;
  };
  return [...encodings].sort(cmp);
}

/** Decimal dotted text of DER OBJECT IDENTIFIER contents (X.690 section 8.19), every arc a bigint. Throws on non-DER. */
function oidFromContents(c: Uint8Array): string {
  if (c.length === 0) throw new Error('OBJECT IDENTIFIER: empty');
  const arcs: bigint[] = [];
  let v = 0n;
  let start = true;
  for (let i = 0; i < c.length; i++) {
    const b = c[i]!;
    // X.690 8.19.2: a subidentifier's first octet is never 0x80 (that would be a leading zero group).
    if (start && b === 0x80) throw new Error('OBJECT IDENTIFIER: subidentifier not in its shortest form');
    v = (v << 7n) | BigInt(b & 0x7f);
    start = (b & 0x80) === 0;
    if (start) {
      arcs.push(v);
      v = 0n;
    }
  }
  if (!start) throw new Error('OBJECT IDENTIFIER: truncated subidentifier');
  const first = arcs[0]!;
  const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n];
  return [...head, ...arcs.slice(1)].map(String).join('.');
}

/** What the converter reads from an asn1js block: the bytes it was decoded from (tag, length, contents). */
interface DecodedBlock {
  readonly valueBeforeDecodeView?: Uint8Array;
}

/** Contents of a TLV with a definite length (the block asn1js decoded from). */
function tlvContents(tlv: Uint8Array): Uint8Array {
  const first = tlv[1];
  if (first === undefined) throw new Error('OBJECT IDENTIFIER: no length');
  const header = first < 0x80 ? 2 : 2 + (first & 0x7f);
  return tlv.subarray(header);
}

/** OBJECT IDENTIFIER as dotted decimal text, arcs of any size (see the file comment). Encoding is asn1js's. */
export const BigArcOidConverter: IAsnConverter<string> = {
  fromASN: (value) => {
    const raw = (value as unknown as DecodedBlock).valueBeforeDecodeView;
    if (!(raw instanceof Uint8Array) || raw.length < 2) throw new Error('OBJECT IDENTIFIER: not decoded from bytes');
    return oidFromContents(tlvContents(raw));
  },
  toASN: (value) => AsnObjectIdentifierConverter.toASN(value),
};

/** Dotted decimal arcs: 0, 1 or 2, then at least one more, no leading zeros. */
const OID_TEXT = /^[012](?:\.(?:0|[1-9][0-9]*))+$/;

/** True for an OID in dotted decimal that encodes and decodes back to itself through the converter. */
export function isOidText(oid: unknown): oid is string {
  if (typeof oid !== 'string' || oid.length > 200 || !OID_TEXT.test(oid)) return false;
  const [a, b] = oid.split('.');
  if (a !== '2' && BigInt(b!) >= 40n) return false; // X.660: under arcs 0 and 1 the second arc is below 40
  try {
    return oidFromContents(tlvContents(der(BigArcOidConverter.toASN(oid)))) === oid;
  } catch {
    return false;
  }
}

/** DER of an OBJECT IDENTIFIER (the attribute value of contentType, RFC 5652 section 11.1). */
export const oidDer = (oid: string): Uint8Array => der(BigArcOidConverter.toASN(oid));

/** RFC 3161 section 2.4.1 TimeStampReq, with reqPolicy read by BigArcOidConverter. */
export class TspTimeStampReq extends TimeStampReq {}
AsnProp({ type: AsnPropTypes.ObjectIdentifier, optional: true, converter: BigArcOidConverter })(TspTimeStampReq.prototype, 'reqPolicy');

/** RFC 3161 section 2.4.2 TSTInfo, with policy read by BigArcOidConverter. */
export class TspTstInfo extends TSTInfo {}
AsnProp({ type: AsnPropTypes.ObjectIdentifier, converter: BigArcOidConverter })(TspTstInfo.prototype, 'policy');

/**
 * RFC 3161 section 2.4.2 PKIFailureInfo: the named bits. DER writes a named-bit BIT STRING without trailing
 * zero bits (X.690 section 11.2.2), so one failure is ceil((bit + 1) / 8) bytes ending in that bit.
 */
export const PKI_FAILURE_BITS = {
  badAlg: 0,
  badRequest: 2,
  badDataFormat: 5,
  timeNotAvailable: 14,
  unacceptedPolicy: 15,
  unacceptedExtension: 16,
  addInfoNotAvailable: 17,
  systemFailure: 25,
} as const;
export type PkiFailureInfo = keyof typeof PKI_FAILURE_BITS;

/** RFC 5035 section 4: IssuerSerial ::= SEQUENCE { issuer GeneralNames, serialNumber CertificateSerialNumber }. */
export class IssuerSerial {
  issuer = new GeneralNames();
  serialNumber = new ArrayBuffer(0);
  constructor(params: Partial<IssuerSerial> = {}) {
    Object.assign(this, params);
  }
}
AsnProp({ type: GeneralNames })(IssuerSerial.prototype, 'issuer');
AsnProp({ type: AsnPropTypes.Integer, converter: AsnIntegerArrayBufferConverter })(IssuerSerial.prototype, 'serialNumber');

/** sha256 with absent parameters: ESSCertIDv2's DEFAULT (RFC 5035 section 4), which DER omits. */
export const sha256AlgorithmAbsentParams = (): AlgorithmIdentifier => new AlgorithmIdentifier({ algorithm: id_sha256 });

/**
 * RFC 5035 section 4: ESSCertIDv2 ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier DEFAULT {algorithm
 * id-sha256}, certHash OCTET STRING, issuerSerial IssuerSerial OPTIONAL }.
 */
export class EssCertIdV2 {
  hashAlgorithm: AlgorithmIdentifier = sha256AlgorithmAbsentParams();
  certHash = new OctetString();
  issuerSerial?: IssuerSerial;
  constructor(params: Partial<EssCertIdV2> = {}) {
    Object.assign(this, params);
  }
}
// optional too: asn1-schema's parser treats a DEFAULT field as required unless it is also marked optional.
AsnProp({ type: AlgorithmIdentifier, optional: true, defaultValue: sha256AlgorithmAbsentParams() })(EssCertIdV2.prototype, 'hashAlgorithm');
AsnProp({ type: OctetString })(EssCertIdV2.prototype, 'certHash');
AsnProp({ type: IssuerSerial, optional: true })(EssCertIdV2.prototype, 'issuerSerial');

export class EssCertIdV2s extends AsnArray<EssCertIdV2> {}
AsnType({ type: AsnTypeTypes.Sequence, itemType: EssCertIdV2 })(EssCertIdV2s);

/** RFC 5035 section 3: SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2, policies OPTIONAL }; no policies here. */
export class SigningCertificateV2 {
  certs = new EssCertIdV2s();
  constructor(params: Partial<SigningCertificateV2> = {}) {
    Object.assign(this, params);
  }
}
AsnProp({ type: EssCertIdV2s })(SigningCertificateV2.prototype, 'certs');

/** RFC 5652 section 5.3: SignedAttributes ::= SET SIZE (1..MAX) OF Attribute, as its own DER (tag 0x31). */
export class SignedAttributeSet extends AsnArray<Attribute> {}
AsnType({ type: AsnTypeTypes.Set, itemType: Attribute })(SignedAttributeSet);

/** RFC 5652 section 11.1 and 11.2, RFC 5035 section 3. */
export const ID_CONTENT_TYPE = '1.2.840.113549.1.9.3';
export const ID_MESSAGE_DIGEST = '1.2.840.113549.1.9.4';
export const ID_SIGNING_CERTIFICATE_V2 = '1.2.840.113549.1.9.16.2.47';

/**
 * X.509 v2 certificate revocation lists (RFC 5280 section 5) of the group's root CA, signed with the
 * group's threshold RSA key. As for certificates (x509-issue.ts), `prepareCrl` builds the DER TBSCertList
 * from ordered data (the CRL number, the agreed time, the revoked serials) and returns its SHA-256 digest
 * for the replicas' shares; `assembleCrl` adds the combined signature.
 *
 * The profile (docs/formats.md "X.509 certificates and CRLs the CA issues"): version v2; signature
 * sha256WithRSAEncryption (NULL parameters); issuer = the root's subject, byte for byte; thisUpdate and
 * nextUpdate (always present: RFC 5280 section 5.1.2.5) in whole seconds, UTCTime through 2049 and
 * GeneralizedTime from 2050; revokedCertificates sorted by serial number, ascending, each serial at most
 * once, absent when nothing is revoked (section 5.1.2.6), each entry with its revocationDate and, when a
 * reason is given, a reasonCode entry extension (not critical, section 5.3.1); crlExtensions
 * authorityKeyIdentifier = the root's subjectKeyIdentifier (section 5.2.1) and cRLNumber (section 5.2.3),
 * both not critical, in that order.
 *
 * Reasons: those that fit an end-entity certificate of this CA. `unspecified` is not taken (section 5.3.1:
 * omit the extension instead), nor cACompromise and aACompromise (this CA issues no CA or attribute
 * certificates), certificateHold and removeFromCRL (holds are not used: a revocation is final, as in the
 * directory, docs/ca.md).
 *
 * Pure: no clock, no randomness. ASN.1 from @peculiar/asn1-x509 / asn1-schema.
 */
import { AsnIntegerArrayBufferConverter, AsnProp, AsnPropTypes, AsnType, AsnTypeTypes } from '@peculiar/asn1-schema';
import {
  AuthorityKeyIdentifier,
  CRLReason,
  CRLReasons,
  CertificateList,
  KeyIdentifier,
  RevokedCertificate,
  TBSCertList,
  Time,
  Version,
  id_ce_authorityKeyIdentifier,
  id_ce_cRLNumber,
  id_ce_cRLReasons,
} from '@peculiar/asn1-x509';
import type { Extension } from '@peculiar/asn1-x509';
import type { CryptoErrorCode } from './errors.ts';
import { derToPem } from './pem.ts';
import type { RsaPublicKey } from './rsa.ts';
import { sha256 } from './sha256.ts';
import { MAX_SERIAL, X509Error, ab, checkTbsSignature, checkTime, der, extension, parseDer, resolveIssuer, serialContents, sha256WithRsa } from './x509-issue.ts';
import type { CertificateIssuer, PreparedTbs } from './x509-issue.ts';
import { integerContents } from './x509.ts';

function refuse(code: CryptoErrorCode, message: string): never {
  throw new X509Error(code, message);
}

export type CrlReason = 'keyCompromise' | 'affiliationChanged' | 'superseded' | 'cessationOfOperation' | 'privilegeWithdrawn';

const REASONS: Record<CrlReason, CRLReasons> = {
  keyCompromise: CRLReasons.keyCompromise,
  affiliationChanged: CRLReasons.affiliationChanged,
  superseded: CRLReasons.superseded,
  cessationOfOperation: CRLReasons.cessationOfOperation,
  privilegeWithdrawn: CRLReasons.privilegeWithdrawn,
};

export interface RevokedCertificateEntry {
  /** The certificate's serial: DER INTEGER contents (positive, minimal, 1-20 bytes) or a bigint 1..2^159 - 1. */
  readonly serial: Uint8Array | bigint;
  /** When it was revoked: whole seconds, not after the CRL's thisUpdate. */
  readonly revocationDate: Date;
  readonly reason?: CrlReason;
}

export interface CrlParams {
  /** The root CA certificate (DER), or what certificateIssuer read from it. */
  readonly issuer: Uint8Array | CertificateIssuer;
  /** Monotonically increasing per issuer (RFC 5280 section 5.2.3): 0..2^159 - 1. */
  readonly crlNumber: bigint;
  /** Whole seconds (milliseconds are dropped), 1950-9999; thisUpdate within the root's validity, nextUpdate later. */
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  /** In any order: the CRL lists them by serial. */
  readonly revoked: readonly RevokedCertificateEntry[];
}

/** CRLNumber ::= INTEGER (0..MAX): asn1-x509's CRLNumber holds a JavaScript number; this one any 20 octets. */
class CrlNumber {
  value = new ArrayBuffer(0);
}
AsnProp({ type: AsnPropTypes.Integer, converter: AsnIntegerArrayBufferConverter })(CrlNumber.prototype, 'value');
AsnType({ type: AsnTypeTypes.Choice })(CrlNumber);

/** Orders DER INTEGER contents of positive minimal integers by value: shorter is smaller, then bytewise. */
function compareSerials(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/**
 * The TBSCertList and its SHA-256 digest: the same inputs (in any order of `revoked`) give the same bytes.
 * Throws an X509Error saying what is wrong.
 */
export function prepareCrl(params: CrlParams): PreparedTbs {
  if (typeof params !== 'object' || params === null) refuse('bad-encoding', 'CRL: no parameters');
  const { crlNumber } = params;
  if (typeof crlNumber !== 'bigint' || crlNumber < 0n || crlNumber > MAX_SERIAL) refuse('scalar-out-of-range', 'CRL: crlNumber must be a bigint from 0 to 2^159 - 1 (20 octets, RFC 5280 section 5.2.3)');
  const thisUpdate = checkTime(params.thisUpdate, 'CRL thisUpdate');
  const nextUpdate = checkTime(params.nextUpdate, 'CRL nextUpdate');
  if (nextUpdate.getTime() <= thisUpdate.getTime()) refuse('scalar-out-of-range', 'CRL: nextUpdate must be later than thisUpdate');
  const issuer = resolveIssuer(params.issuer, 'cRLSign');
  if (thisUpdate.getTime() < issuer.notBefore.getTime() || thisUpdate.getTime() > issuer.notAfter.getTime()) {
    refuse('scalar-out-of-range', `CRL: thisUpdate must lie within the root's validity (${issuer.notBefore.toISOString()} to ${issuer.notAfter.toISOString()})`);
  }
  if (!Array.isArray(params.revoked)) refuse('bad-encoding', 'CRL: revoked must be an array');

  const entries = params.revoked.map((r, i) => {
    if (typeof r !== 'object' || r === null) refuse('bad-encoding', `CRL revoked[${i}]: expected {serial, revocationDate, reason?}`);
    const serial = serialContents(r.serial, `CRL revoked[${i}]`);
    const date = checkTime(r.revocationDate, `CRL revoked[${i}] revocationDate`);
    if (date.getTime() > thisUpdate.getTime()) refuse('scalar-out-of-range', `CRL revoked[${i}]: revocationDate is after thisUpdate`);
    let reason: CRLReasons | undefined;
    const given: unknown = r.reason;
    if (given !== undefined) {
      if (typeof given !== 'string' || !Object.hasOwn(REASONS, given)) refuse('bad-encoding', `CRL revoked[${i}]: reason ${JSON.stringify(given)}; accepted: ${Object.keys(REASONS).join(', ')} (or none)`);
      reason = REASONS[given as CrlReason];
    }
    return { serial, date, reason };
  });
  entries.sort((a, b) => compareSerials(a.serial, b.serial));
  for (let i = 1; i < entries.length; i++) {
    if (compareSerials(entries[i - 1]!.serial, entries[i]!.serial) === 0) refuse('bad-encoding', 'CRL: a serial number is listed twice');
  }

  const revokedCertificates = entries.map(
    (e) =>
      new RevokedCertificate({
        userCertificate: ab(e.serial),
        revocationDate: new Time(e.date),
        ...(e.reason === undefined ? {} : { crlEntryExtensions: [extension(id_ce_cRLReasons, false, new CRLReason(e.reason))] }),
      }),
  );
  const number = new CrlNumber();
  number.value = ab(integerContents(crlNumber));
  const crlExtensions: Extension[] = [
    extension(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(issuer.keyIdentifier) })),
    extension(id_ce_cRLNumber, false, number),
  ];
  const tbs = new TBSCertList({
    version: Version.v2,
    signature: sha256WithRsa(),
    issuer: issuer.name,
    thisUpdate: new Time(thisUpdate),
    nextUpdate: new Time(nextUpdate),
    ...(revokedCertificates.length === 0 ? {} : { revokedCertificates }),
    crlExtensions,
  });
  const tbsDer = der(tbs);
  return { tbsDer, digest: sha256(tbsDer) };
}

/**
 * The CertificateList (DER) of a TBSCertList from prepareCrl and its signature (what combineShares
 * returns). With `issuerKey` (the group's RSA public key) the signature is verified first.
 */
export function assembleCrl(tbsDer: Uint8Array, signature: Uint8Array, issuerKey?: RsaPublicKey): Uint8Array {
  if (!(tbsDer instanceof Uint8Array) || tbsDer.length === 0) refuse('bad-encoding', 'CRL: no TBSCertList');
  const tbsCertList = parseDer(tbsDer, TBSCertList, 'TBSCertList');
  if (tbsCertList.version !== Version.v2) refuse('bad-encoding', 'TBSCertList: must be v2');
  if (!tbsCertList.signature.isEqual(sha256WithRsa())) refuse('bad-encoding', 'TBSCertList: its signature algorithm must be sha256WithRSAEncryption');
  checkTbsSignature(tbsDer, signature, issuerKey, 'CRL');
  return der(new CertificateList({ tbsCertList, signatureAlgorithm: sha256WithRsa(), signature: ab(signature) }));
}

/** PEM of a CRL (RFC 7468 section 6: label X509 CRL). */
export function crlToPem(crlDer: Uint8Array): string {
  return derToPem(crlDer, 'X509 CRL');
}

/**
 * PKCS #10 requests built with @peculiar/asn1-csr and signed with node:crypto, for the cases OpenSSL will
 * not produce and for tests that must not depend on an openssl binary (test/unit/csr.test.ts,
 * x509-issue.test.ts, crl.test.ts).
 */
import { createPublicKey, sign as nodeSign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { Attributes, CertificationRequest, CertificationRequestInfo } from '@peculiar/asn1-csr';
import { AlgorithmIdentifier, Attribute, AttributeTypeAndValue, AttributeValue, Extension, Extensions, Name, RelativeDistinguishedName, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';

export const der = (o: unknown) => new Uint8Array(AsnConvert.serialize(o));
export const cn = (value: string, printable = false) =>
  new Name([new RelativeDistinguishedName([new AttributeTypeAndValue({ type: '2.5.4.3', value: new AttributeValue(printable ? { printableString: value } : { utf8String: value }) })])]);
export const extensionRequest = (extensions: Extension[]) => new Attribute({ type: '1.2.840.113549.1.9.14', values: [der(new Extensions(extensions)).buffer as ArrayBuffer] });
export const ext = (extnID: string, value: Uint8Array, critical = false) => new Extension({ extnID, critical, extnValue: new OctetString(value) });
export const hex = (h: string) => Uint8Array.from(Buffer.from(h.replace(/\s/g, ''), 'hex'));

export interface BuildOptions {
  key: KeyObject;
  subject?: Name;
  attributes?: Attribute[];
  version?: number;
  spki?: Uint8Array;
  /** sha256 for RSA and P-256, sha384 for P-384, null for Ed25519 */
  hash?: string | null;
  sigAlg?: AlgorithmIdentifier;
}

/** A request built with asn1-csr and signed with node:crypto: the cases OpenSSL will not produce. */
export function buildCsr(o: BuildOptions): Uint8Array {
  const pub = createPublicKey(o.key);
  const spki = o.spki ?? new Uint8Array(pub.export({ type: 'spki', format: 'der' }));
  const info = new CertificationRequestInfo({
    version: o.version ?? 0,
    subject: o.subject ?? cn('alice'),
    subjectPKInfo: AsnConvert.parse(spki, SubjectPublicKeyInfo),
    attributes: new Attributes(o.attributes ?? []),
  });
  const infoDer = der(info);
  const type = o.key.asymmetricKeyType;
  const hash = o.hash !== undefined ? o.hash : type === 'ed25519' ? null : 'sha256';
  const sigAlg =
    o.sigAlg ??
    (type === 'ed25519'
      ? new AlgorithmIdentifier({ algorithm: '1.3.101.112' })
      : type === 'ec'
        ? new AlgorithmIdentifier({ algorithm: hash === 'sha384' ? '1.2.840.10045.4.3.3' : '1.2.840.10045.4.3.2' })
        : new AlgorithmIdentifier({ algorithm: '1.2.840.113549.1.1.11', parameters: null }));
  const signature = new Uint8Array(nodeSign(hash, infoDer, o.key));
  return der(new CertificationRequest({ certificationRequestInfo: info, signatureAlgorithm: sigAlg, signature: signature.buffer as ArrayBuffer }));
}

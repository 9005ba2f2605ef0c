/**
 * End-entity certificates (shared/crypto/x509-issue.ts) for PKCS #10 requests, issued by a dealt group's
 * root CA (fixed safe primes, test/fixtures/threshold-rsa-primes.json): the TBSCertificate digest signed
 * by k threshold RSA shares combined equals the whole key's signature; OpenSSL 3 (`openssl verify`,
 * `openssl x509 -text`) and node:crypto accept the certificates with the profile's fields; one altered
 * byte breaks them; the same inputs give the same bytes; bad inputs are refused with clear errors.
 */
import { X509Certificate, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate, TBSCertificate } from '@peculiar/asn1-x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CsrError, parseCsr } from '../../shared/crypto/csr.ts';
import type { CheckedCsr } from '../../shared/crypto/csr.ts';
import { toHex } from '../../shared/crypto/bytes.ts';
import { CryptoError } from '../../shared/crypto/errors.ts';
import { pemToDer } from '../../shared/crypto/pem.ts';
import { rsaVerify } from '../../shared/crypto/rsa.ts';
import { sha256 } from '../../shared/crypto/sha256.ts';
import { X509Error, assembleCertificate, certificateIssuer, certificateToPem, prepareCertificate } from '../../shared/crypto/x509-issue.ts';
import type { CertificateParams } from '../../shared/crypto/x509-issue.ts';
import { buildCsr, cn, ext, extensionRequest, hex } from '../helpers/csr-build.ts';
import { HAVE_OPENSSL, OpensslDir, ROOT_NOT_AFTER, ROOT_NOT_BEFORE, attime, rsaCaGroup } from '../helpers/rsa-ca.ts';

const ca = rsaCaGroup('x509-issue/t41');
const NOT_BEFORE = new Date('2026-03-01T00:00:00Z');
const NOT_AFTER = new Date('2027-03-01T12:00:00Z');
const CHECK_AT = new Date('2026-06-01T00:00:00Z');

function problem(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof X509Error || e instanceof CsrError) {
      expect(e).toBeInstanceOf(CryptoError);
      return e.message;
    }
    throw e;
  }
  return 'accepted';
}

/** Prepare, sign with shares of replicas 0 and 1, check against the whole key and shares 2, 3; assemble. */
function issue(params: CertificateParams): Uint8Array {
  const { tbsDer, digest } = prepareCertificate(params);
  expect(digest).toEqual(sha256(tbsDer));
  const signature = ca.thresholdSign(digest, [0, 1]);
  expect(signature).toEqual(ca.wholeKeySign(digest));
  expect(ca.thresholdSign(digest, [3, 2], 'other shares')).toEqual(signature);
  return assembleCertificate(tbsDer, signature, ca.publicKey);
}

const edKey = generateKeyPairSync('ed25519').privateKey;
const edCsr = parseCsr(buildCsr({ key: edKey, subject: cn('dave.example'), attributes: [extensionRequest([ext('2.5.29.17', hex('300e820c646176652e6578616d706c65'))])] }));
const base: CertificateParams = { csr: edCsr, serial: 7n, notBefore: NOT_BEFORE, notAfter: NOT_AFTER, issuer: ca.rootDer };

describe('prepareCertificate', () => {
  it('threshold shares and the whole key sign the same digest; node:crypto accepts the certificate', () => {
    const certDer = issue(base);
    const cert = new X509Certificate(certDer);
    const root = new X509Certificate(ca.rootPem);
    expect(cert.subject).toBe('CN=dave.example');
    expect(cert.issuer).toBe(root.subject);
    expect(cert.serialNumber).toBe('07');
    expect(cert.subjectAltName).toBe('DNS:dave.example');
    expect(cert.ca).toBe(false);
    expect(cert.checkIssued(root)).toBe(true);
    expect(cert.verify(root.publicKey)).toBe(true);
    expect(cert.validFrom).toBe('Mar  1 00:00:00 2026 GMT');
    expect(cert.validTo).toBe('Mar  1 12:00:00 2027 GMT');
    expect(cert.publicKey.export({ type: 'spki', format: 'der' })).toEqual(createPublicKey(edKey).export({ type: 'spki', format: 'der' }));
    expect(pemToDer(certificateToPem(certDer))).toEqual(certDer);
    expect(rsaVerify(ca.publicKey, prepareCertificate(base).tbsDer, new Uint8Array(AsnConvert.parse(certDer, Certificate).signatureValue))).toBe(true);
  });

  it('is deterministic: the same inputs give the same bytes, whichever form the serial and issuer take', () => {
    const a = prepareCertificate(base);
    expect(prepareCertificate({ ...base }).tbsDer).toEqual(a.tbsDer);
    expect(prepareCertificate({ ...base, serial: Uint8Array.of(7) }).tbsDer).toEqual(a.tbsDer);
    expect(prepareCertificate({ ...base, issuer: certificateIssuer(ca.rootDer) }).tbsDer).toEqual(a.tbsDer);
    expect(prepareCertificate({ ...base, csr: parseCsr(edCsr.der.slice()) }).tbsDer).toEqual(a.tbsDer);
    // Milliseconds are dropped (whole seconds).
    expect(prepareCertificate({ ...base, notBefore: new Date(NOT_BEFORE.getTime() + 999) }).tbsDer).toEqual(a.tbsDer);
    // ... and each input counts.
    expect(prepareCertificate({ ...base, serial: 8n }).tbsDer).not.toEqual(a.tbsDer);
    expect(prepareCertificate({ ...base, notAfter: new Date(NOT_AFTER.getTime() + 1000) }).tbsDer).not.toEqual(a.tbsDer);
    expect(prepareCertificate({ ...base, csr: parseCsr(buildCsr({ key: edKey, subject: cn('erin') })) }).tbsDer).not.toEqual(a.tbsDer);
  });

  it('takes everything from the request bytes: an edited CheckedCsr changes nothing', () => {
    const edited: CheckedCsr = { ...edCsr, name: 'mallory', extendedKeyUsage: ['serverAuth'], keyUsage: ['digitalSignature', 'keyEncipherment'], subjectAltName: { type: 'dNSName', value: 'bank.example' } };
    expect(prepareCertificate({ ...base, csr: edited }).tbsDer).toEqual(prepareCertificate(base).tbsDer);
    const broken = edCsr.der.slice();
    broken[broken.length - 1]! ^= 1;
    expect(problem(() => prepareCertificate({ ...base, csr: { ...edCsr, der: broken } }))).toBe("CSR: the self-signature (Ed25519) does not verify with the request's public key");
    expect(problem(() => prepareCertificate({ ...base, csr: {} as CheckedCsr }))).toBe('certificate: csr must be a request from parseCsr');
  });

  it('follows the profile field by field (decoded with asn1-x509)', () => {
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const csr = parseCsr(
      buildCsr({
        key: p256,
        subject: cn('frank@example.org'),
        attributes: [
          extensionRequest([
            ext('2.5.29.17', hex('3013811166 72616e6b406578616d706c652e6f7267'.replace(/ /g, ''))),
            ext('2.5.29.37', hex('3014 06082b06010505070302 06082b06010505070301'.replace(/ /g, ''))), // clientAuth, serverAuth
          ]),
        ],
      }),
    );
    const tbs = AsnConvert.parse(prepareCertificate({ ...base, csr, serial: (1n << 159n) - 1n }).tbsDer, TBSCertificate);
    const root = AsnConvert.parse(ca.rootDer, Certificate).tbsCertificate;
    expect(tbs.version).toBe(2);
    expect(new Uint8Array(tbs.serialNumber)).toEqual(Uint8Array.from([0x7f, ...new Array(19).fill(0xff)]));
    expect(tbs.signature.algorithm).toBe('1.2.840.113549.1.1.11');
    expect(tbs.signature.parameters).toBeNull();
    expect(new Uint8Array(AsnConvert.serialize(tbs.issuer))).toEqual(new Uint8Array(AsnConvert.serialize(root.subject)));
    expect(new Uint8Array(AsnConvert.serialize(tbs.subjectPublicKeyInfo))).toEqual(csr.publicKeyInfo);
    expect(tbs.subject.map((rdn) => rdn.map((a) => [a.type, a.value.utf8String]))).toEqual([[['2.5.4.3', 'frank@example.org']]]);
    const exts = tbs.extensions!.map((e) => [e.extnID, e.critical, Buffer.from(e.extnValue.buffer).toString('hex')]);
    const skiRoot = root.extensions!.find((e) => e.extnID === '2.5.29.14')!;
    const kid = sha256(new Uint8Array(tbs.subjectPublicKeyInfo.subjectPublicKey)).subarray(0, 20);
    expect(exts).toEqual([
      ['2.5.29.19', true, '3000'],
      ['2.5.29.15', true, '03020780'], // digitalSignature
      ['2.5.29.37', false, '301406082b0601050507030106082b06010505070302'], // serverAuth, clientAuth: the canonical order
      ['2.5.29.14', false, `0414${Buffer.from(kid).toString('hex')}`],
      ['2.5.29.35', false, `3016${Buffer.from(skiRoot.extnValue.buffer).toString('hex').replace(/^0414/, '8014')}`],
      ['2.5.29.17', false, `30138111${Buffer.from('frank@example.org').toString('hex')}`],
    ]);
    expect(tbs.validity.notBefore.utcTime).toEqual(NOT_BEFORE);
  });

  it('UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 section 4.1.2.5)', () => {
    const { name, keyIdentifier } = certificateIssuer(ca.rootDer);
    const longRoot = { name, keyIdentifier, notBefore: ROOT_NOT_BEFORE, notAfter: new Date('2099-01-01T00:00:00Z') };
    const validity = (notBefore: string, notAfter: string) => {
      const t = AsnConvert.parse(prepareCertificate({ ...base, issuer: longRoot, notBefore: new Date(notBefore), notAfter: new Date(notAfter) }).tbsDer, TBSCertificate).validity;
      return [t.notBefore.utcTime ? 'UTCTime' : 'GeneralizedTime', t.notAfter.utcTime ? 'UTCTime' : 'GeneralizedTime', t.notAfter.getTime().toISOString()];
    };
    expect(validity('2049-06-01T00:00:00Z', '2049-12-31T23:59:59.999Z')).toEqual(['UTCTime', 'UTCTime', '2049-12-31T23:59:59.000Z']);
    expect(validity('2049-06-01T00:00:00Z', '2050-01-01T00:00:00Z')).toEqual(['UTCTime', 'GeneralizedTime', '2050-01-01T00:00:00.000Z']);
    expect(validity('2050-01-01T00:00:00Z', '2098-01-01T00:00:00Z')).toEqual(['GeneralizedTime', 'GeneralizedTime', '2098-01-01T00:00:00.000Z']);
  });

  it('refuses bad serials, validity and issuers with clear messages', () => {
    const bad = (p: Partial<CertificateParams>) => problem(() => prepareCertificate({ ...base, ...p }));
    expect(bad({ serial: 0n })).toBe('certificate serial: must be from 1 to 2^159 - 1 (20 octets, RFC 5280 section 4.1.2.2)');
    expect(bad({ serial: 1n << 159n })).toBe('certificate serial: must be from 1 to 2^159 - 1 (20 octets, RFC 5280 section 4.1.2.2)');
    expect(bad({ serial: -5n })).toMatch(/^certificate serial: must be from 1/);
    expect(bad({ serial: Uint8Array.of(0x00, 0x05) })).toBe('certificate serial: must be a positive integer in its shortest DER form');
    expect(bad({ serial: Uint8Array.of(0x80) })).toBe('certificate serial: must be a positive integer in its shortest DER form');
    expect(bad({ serial: new Uint8Array(21).fill(1) })).toBe('certificate serial: 1-20 bytes (RFC 5280 section 4.1.2.2)');
    expect(bad({ serial: 7 as unknown as bigint })).toBe('certificate serial: expected a bigint or the bytes of a DER INTEGER');
    expect(bad({ notAfter: NOT_BEFORE })).toBe('certificate: notAfter must be later than notBefore');
    expect(bad({ notBefore: new Date('nonsense') })).toBe('certificate notBefore: not a valid date');
    expect(bad({ notBefore: new Date('1949-12-31T23:59:59Z') })).toBe('certificate notBefore: must be in the years 1950-9999 (RFC 5280 section 4.1.2.5)');
    expect(bad({ notAfter: new Date('2036-01-01T00:00:01Z') })).toBe("certificate: the validity must lie within the root's (2026-01-01T00:00:00.000Z to 2036-01-01T00:00:00.000Z)");
    expect(bad({ notBefore: new Date('2025-12-31T23:59:59Z') })).toMatch(/^certificate: the validity must lie within the root's/);
    expect(bad({ notAfter: ROOT_NOT_AFTER })).toBe('accepted');
    // The TSA certificate is not a root; a root altered in one byte does not verify; garbage is not a certificate.
    expect(bad({ issuer: pemToDer(ca.tsaPem) })).toBe('root certificate: not self-issued (issuer differs from subject)');
    const tampered = ca.rootDer.slice();
    tampered[tampered.length - 5]! ^= 1;
    expect(bad({ issuer: tampered })).toBe('root certificate: its self-signature does not verify');
    expect(bad({ issuer: Uint8Array.of(0x30, 0x00) })).toMatch(/^root certificate: malformed/);
    expect(bad({ issuer: new Uint8Array([...ca.rootDer, 0]) })).toMatch(/^root certificate: (malformed|not in DER)/);
    const issuer = certificateIssuer(ca.rootDer);
    expect(bad({ issuer: { ...issuer, keyIdentifier: new Uint8Array(0) } })).toBe('issuer keyIdentifier: expected 1-64 bytes');
    expect(bad({ issuer: { ...issuer, name: Uint8Array.of(0x30, 0x00) } })).toBe('issuer name: empty (RFC 5280 section 4.1.2.4)');
    expect(bad({ issuer: { ...issuer, name: Uint8Array.of(0x31, 0x00) } })).toMatch(/^issuer name: malformed/);
    expect(problem(() => prepareCertificate(null as unknown as CertificateParams))).toBe('certificate: no parameters');
  });

  it('certificateIssuer reads the root: name, key identifier, validity, key and usage', () => {
    const r = certificateIssuer(ca.rootDer);
    expect(r.publicKey).toEqual({ n: ca.publicKey.n, e: ca.publicKey.e });
    expect(r.notBefore).toEqual(ROOT_NOT_BEFORE);
    expect(r.notAfter).toEqual(ROOT_NOT_AFTER);
    expect(r.keyCertSign && r.cRLSign).toBe(true);
    expect(r.keyIdentifier).toHaveLength(20);
  });

  it("assembleCertificate refuses a signature that is not the group key's over these bytes", () => {
    const { tbsDer, digest } = prepareCertificate(base);
    const good = ca.thresholdSign(digest, [1, 2]);
    expect(assembleCertificate(tbsDer, good, ca.publicKey)).toEqual(assembleCertificate(tbsDer, good));
    const other = prepareCertificate({ ...base, serial: 8n });
    expect(problem(() => assembleCertificate(tbsDer, ca.thresholdSign(other.digest, [0, 1]), ca.publicKey))).toBe("certificate: the signature does not verify under the issuer's RSA key");
    expect(problem(() => assembleCertificate(tbsDer, good.subarray(1), ca.publicKey))).toBe('certificate: the signature must be 128 bytes (the modulus length)');
    expect(problem(() => assembleCertificate(tbsDer, new Uint8Array(0)))).toBe('certificate: no signature');
    expect(problem(() => assembleCertificate(tbsDer.subarray(0, 10), good))).toMatch(/^TBSCertificate: malformed/);
    expect(problem(() => assembleCertificate(new Uint8Array([...tbsDer, 0]), good))).toMatch(/^TBSCertificate: (malformed|not in DER)/);
  });
});

describe('a 2048-bit group key', () => {
  it('issues a certificate that node:crypto verifies under the root', () => {
    const big = rsaCaGroup('x509-issue/2048', true);
    const { tbsDer, digest } = prepareCertificate({ ...base, issuer: big.rootDer });
    const signature = big.thresholdSign(digest, [2, 0]);
    expect(signature).toEqual(big.wholeKeySign(digest));
    const cert = new X509Certificate(assembleCertificate(tbsDer, signature, big.publicKey));
    expect(cert.verify(new X509Certificate(big.rootPem).publicKey)).toBe(true);
    expect(cert.verify(new X509Certificate(ca.rootPem).publicKey)).toBe(false);
  });
});

describe.skipIf(!HAVE_OPENSSL)('certificates for openssl requests, checked by openssl', () => {
  let ossl: OpensslDir;
  const names = ['rsa', 'p256', 'p384', 'ed25519'] as const;
  const certs = new Map<string, Uint8Array>();
  beforeAll(async () => {
    ossl = await OpensslDir.create('x509-issue');
    await ossl.write('root-ca.pem', ca.rootPem);
    const csrs = await Promise.all([
      ossl.request('rsa', ['rsa:2048'], '/CN=alice.example', ['-addext', 'subjectAltName=DNS:alice.example', '-addext', 'extendedKeyUsage=serverAuth,clientAuth']),
      ossl.request('p256', ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], '/CN=bob'),
      ossl.request('p384', ['ec', '-pkeyopt', 'ec_paramgen_curve:P-384'], '/CN=p384.example', ['-sha384', '-addext', 'keyUsage=critical,digitalSignature,keyAgreement']),
      ossl.request('ed25519', ['ed25519'], '/CN=carol@example.org', ['-addext', 'subjectAltName=email:carol@example.org', '-addext', 'extendedKeyUsage=emailProtection']),
    ]);
    for (const [i, name] of names.entries()) {
      const der = issue({ csr: parseCsr(csrs[i]!), serial: BigInt(i + 1), notBefore: NOT_BEFORE, notAfter: NOT_AFTER, issuer: ca.rootDer });
      certs.set(name, der);
      await ossl.write(`${name}.pem`, certificateToPem(der));
    }
  });
  afterAll(async () => {
    await ossl?.remove();
  });

  it('openssl verify -CAfile root-ca.pem says OK for each (also with -x509_strict)', async () => {
    for (const name of names) {
      expect((await ossl.ok(['verify', '-CAfile', 'root-ca.pem', '-attime', attime(CHECK_AT), `${name}.pem`])).trim()).toBe(`${name}.pem: OK`);
      expect((await ossl.ok(['verify', '-x509_strict', '-CAfile', 'root-ca.pem', '-attime', attime(CHECK_AT), `${name}.pem`])).trim()).toBe(`${name}.pem: OK`);
    }
    // Outside the validity, it is refused.
    const late = await ossl.run(['verify', '-CAfile', 'root-ca.pem', '-attime', attime(new Date('2027-03-02T00:00:00Z')), 'rsa.pem']);
    expect(late.code).not.toBe(0);
    expect(late.stdout + late.stderr).toMatch(/certificate has expired/);
  });

  it('the extended key usage counts: sslserver for the serverAuth certificate, not for the emailProtection one', async () => {
    expect((await ossl.ok(['verify', '-purpose', 'sslserver', '-CAfile', 'root-ca.pem', '-attime', attime(CHECK_AT), 'rsa.pem'])).trim()).toBe('rsa.pem: OK');
    const r = await ossl.run(['verify', '-purpose', 'sslserver', '-CAfile', 'root-ca.pem', '-attime', attime(CHECK_AT), 'ed25519.pem']);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/error 26 at 0 depth lookup: unsuitable certificate purpose/);
  });

  it('openssl x509 -text shows the fields', async () => {
    const root = new X509Certificate(ca.rootPem);
    const text = await ossl.ok(['x509', '-in', 'rsa.pem', '-noout', '-text']);
    const rootText = await ossl.ok(['x509', '-in', 'root-ca.pem', '-noout', '-text']);
    const rootSki = /X509v3 Subject Key Identifier: \n\s+([0-9A-F:]+)/.exec(rootText)![1]!;
    for (const line of [
      'Version: 3 (0x2)',
      'Serial Number: 1 (0x1)',
      'Signature Algorithm: sha256WithRSAEncryption',
      `Issuer: CN = ${root.subject.split('\n')[0]!.slice(3)}, serialNumber = ${toHex(ca.group.groupId)}`,
      'Not Before: Mar  1 00:00:00 2026 GMT',
      'Not After : Mar  1 12:00:00 2027 GMT',
      'Subject: CN = alice.example',
      'Public-Key: (2048 bit)',
      'X509v3 Basic Constraints: critical\n                CA:FALSE',
      'X509v3 Key Usage: critical\n                Digital Signature, Key Encipherment',
      'X509v3 Extended Key Usage: \n                TLS Web Server Authentication, TLS Web Client Authentication',
      `X509v3 Authority Key Identifier: \n                ${rootSki}`,
      'X509v3 Subject Alternative Name: \n                DNS:alice.example',
    ]) {
      expect(text).toContain(line);
    }
    expect(text).toMatch(/X509v3 Subject Key Identifier: \n\s+[0-9A-F:]{59}\n/);
    const ed = await ossl.ok(['x509', '-in', 'ed25519.pem', '-noout', '-text']);
    for (const line of ['Public Key Algorithm: ED25519', 'Digital Signature', 'E-mail Protection', 'email:carol@example.org', 'Subject: CN = carol@example.org']) expect(ed).toContain(line);
    const p384 = await ossl.ok(['x509', '-in', 'p384.pem', '-noout', '-text']);
    for (const line of ['NIST CURVE: P-384', 'X509v3 Key Usage: critical\n                Digital Signature, Key Agreement']) expect(p384).toContain(line);
    expect(p384).not.toContain('X509v3 Subject Alternative Name');
  });

  it('the certificate key is the request key (openssl req -pubkey vs x509 -pubkey)', async () => {
    for (const name of names) {
      const fromCsr = await ossl.ok(['req', '-in', `${name}.csr`, '-noout', '-pubkey']);
      const fromCert = await ossl.ok(['x509', '-in', `${name}.pem`, '-noout', '-pubkey']);
      expect(fromCert).toBe(fromCsr);
    }
  });

  it('one altered byte, in the signed part or the signature, and openssl verify fails', async () => {
    const der = certs.get('p256')!;
    const tbsLength = AsnConvert.serialize(AsnConvert.parse(der, Certificate).tbsCertificate).byteLength;
    // The last byte of the signature; the first letter of the subject's name, UTF8String "bob" (inside the TBS).
    const nameAt = Buffer.from(der).indexOf(Buffer.from([0x0c, 0x03, 0x62, 0x6f, 0x62])) + 2;
    expect(nameAt).toBeGreaterThan(2);
    expect(nameAt).toBeLessThan(tbsLength);
    for (const [file, at] of [['sig.pem', der.length - 1], ['tbs.pem', nameAt]] as const) {
      const bad = der.slice();
      bad[at]! ^= 0x01;
      await ossl.write(file, certificateToPem(bad));
      const r = await ossl.run(['verify', '-CAfile', 'root-ca.pem', '-attime', attime(CHECK_AT), file]);
      expect(r.code, file).not.toBe(0);
      expect(r.stdout + r.stderr, file).toMatch(/error 7 at 0 depth lookup: certificate signature failure/);
      expect(new X509Certificate(bad).verify(new X509Certificate(ca.rootPem).publicKey), file).toBe(false);
    }
  });
});

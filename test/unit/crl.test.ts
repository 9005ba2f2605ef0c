/**
 * Certificate revocation lists (shared/crypto/crl.ts) of a dealt group's root CA: the TBSCertList digest
 * signed by k threshold RSA shares combined equals the whole key's signature; `openssl crl -CAfile`
 * verifies the CRL and `openssl verify -crl_check` reports a listed certificate revoked and an unlisted
 * one OK; one altered byte breaks the CRL; the entries are sorted by serial, so the order of the input does
 * not matter; bad inputs are refused with clear errors.
 */
import { generateKeyPairSync } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate, CertificateList, TBSCertList } from '@peculiar/asn1-x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../shared/crypto/bytes.ts';
import { assembleCrl, crlToPem, prepareCrl } from '../../shared/crypto/crl.ts';
import type { CrlParams, CrlReason } from '../../shared/crypto/crl.ts';
import { parseCsr } from '../../shared/crypto/csr.ts';
import { CryptoError } from '../../shared/crypto/errors.ts';
import { pemToDer } from '../../shared/crypto/pem.ts';
import { rsaVerify } from '../../shared/crypto/rsa.ts';
import { sha256 } from '../../shared/crypto/sha256.ts';
import { X509Error, assembleCertificate, certificateIssuer, certificateToPem, prepareCertificate } from '../../shared/crypto/x509-issue.ts';
import { buildCsr, cn } from '../helpers/csr-build.ts';
import { HAVE_OPENSSL, OpensslDir, ROOT_NOT_BEFORE, attime, rsaCaGroup } from '../helpers/rsa-ca.ts';

const ca = rsaCaGroup('crl/t41');
const THIS_UPDATE = new Date('2026-06-01T00:00:00Z');
const NEXT_UPDATE = new Date('2026-06-08T00:00:00Z');
const CHECK_AT = new Date('2026-06-02T00:00:00Z');

function problem(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof X509Error) {
      expect(e).toBeInstanceOf(CryptoError);
      return e.message;
    }
    throw e;
  }
  return 'accepted';
}

function signCrl(params: CrlParams): Uint8Array {
  const { tbsDer, digest } = prepareCrl(params);
  expect(digest).toEqual(sha256(tbsDer));
  const signature = ca.thresholdSign(digest, [0, 3]);
  expect(signature).toEqual(ca.wholeKeySign(digest));
  expect(ca.thresholdSign(digest, [2, 1], 'other shares')).toEqual(signature);
  return assembleCrl(tbsDer, signature, ca.publicKey);
}

const revoked = [
  { serial: 1n << 64n, revocationDate: new Date('2026-05-01T00:00:00Z') },
  { serial: 3n, revocationDate: new Date('2026-05-03T10:00:00Z'), reason: 'superseded' as const },
  { serial: Uint8Array.of(0x00, 0x80), revocationDate: new Date('2026-05-02T00:00:00Z'), reason: 'cessationOfOperation' as const },
  { serial: 1n, revocationDate: new Date('2026-04-01T12:30:45.678Z'), reason: 'keyCompromise' as const },
];
const base: CrlParams = { issuer: ca.rootDer, crlNumber: 5n, thisUpdate: THIS_UPDATE, nextUpdate: NEXT_UPDATE, revoked };

describe('prepareCrl', () => {
  it('follows the profile: v2, the root as issuer, entries by serial with reasons where given, AKI and CRL number', () => {
    const crl = AsnConvert.parse(signCrl(base), CertificateList);
    expect(rsaVerify(ca.publicKey, new Uint8Array(AsnConvert.serialize(crl.tbsCertList)), new Uint8Array(crl.signature))).toBe(true);
    const tbs = crl.tbsCertList;
    const root = AsnConvert.parse(ca.rootDer, Certificate).tbsCertificate;
    expect(tbs.version).toBe(1);
    expect(tbs.signature.algorithm).toBe('1.2.840.113549.1.1.11');
    expect(tbs.signature.parameters).toBeNull();
    expect(crl.signatureAlgorithm.isEqual(tbs.signature)).toBe(true);
    expect(toHex(new Uint8Array(AsnConvert.serialize(tbs.issuer)))).toBe(toHex(new Uint8Array(AsnConvert.serialize(root.subject))));
    expect(tbs.thisUpdate.utcTime).toEqual(THIS_UPDATE);
    expect(tbs.nextUpdate!.utcTime).toEqual(NEXT_UPDATE);
    expect(
      tbs.revokedCertificates!.map((r) => [
        toHex(new Uint8Array(r.userCertificate)),
        r.revocationDate.getTime().toISOString(),
        (r.crlEntryExtensions ?? []).map((e) => [e.extnID, e.critical, toHex(new Uint8Array(e.extnValue.buffer))]),
      ]),
    ).toEqual([
      ['01', '2026-04-01T12:30:45.000Z', [['2.5.29.21', false, '0a0101']]],
      ['03', '2026-05-03T10:00:00.000Z', [['2.5.29.21', false, '0a0104']]],
      ['0080', '2026-05-02T00:00:00.000Z', [['2.5.29.21', false, '0a0105']]],
      ['010000000000000000', '2026-05-01T00:00:00.000Z', []],
    ]);
    const ski = toHex(new Uint8Array(root.extensions!.find((e) => e.extnID === '2.5.29.14')!.extnValue.buffer)).slice(4);
    expect(tbs.crlExtensions!.map((e) => [e.extnID, e.critical, toHex(new Uint8Array(e.extnValue.buffer))])).toEqual([
      ['2.5.29.35', false, `3016${'8014'}${ski}`],
      ['2.5.29.20', false, '020105'],
    ]);
  });

  it('is deterministic and ignores the order of the revoked list; every input counts', () => {
    const a = prepareCrl(base).tbsDer;
    expect(prepareCrl({ ...base, revoked: [...revoked].reverse() }).tbsDer).toEqual(a);
    expect(prepareCrl({ ...base, revoked: [revoked[2]!, revoked[0]!, revoked[3]!, revoked[1]!] }).tbsDer).toEqual(a);
    expect(prepareCrl({ ...base, issuer: certificateIssuer(ca.rootDer) }).tbsDer).toEqual(a);
    expect(prepareCrl({ ...base, revoked: revoked.map((r) => ({ ...r, serial: typeof r.serial === 'bigint' ? Uint8Array.from(Buffer.from(r.serial.toString(16).padStart(2, '0').replace(/^(.)(..)*$/, '0$&'), 'hex')) : r.serial })) }).tbsDer).toEqual(a);
    expect(prepareCrl({ ...base, crlNumber: 6n }).tbsDer).not.toEqual(a);
    expect(prepareCrl({ ...base, nextUpdate: new Date(NEXT_UPDATE.getTime() + 1000) }).tbsDer).not.toEqual(a);
    expect(prepareCrl({ ...base, revoked: revoked.slice(1) }).tbsDer).not.toEqual(a);
    expect(prepareCrl({ ...base, revoked: revoked.map((r) => ({ ...r, reason: 'affiliationChanged' as const })) }).tbsDer).not.toEqual(a);
  });

  it('an empty CRL has no revokedCertificates field; CRL numbers 0 and 20 octets', () => {
    const tbs = AsnConvert.parse(prepareCrl({ ...base, revoked: [], crlNumber: 0n }).tbsDer, TBSCertList);
    expect(tbs.revokedCertificates).toBeUndefined();
    expect(toHex(new Uint8Array(tbs.crlExtensions![1]!.extnValue.buffer))).toBe('020100');
    const big = AsnConvert.parse(prepareCrl({ ...base, crlNumber: (1n << 159n) - 1n }).tbsDer, TBSCertList);
    expect(toHex(new Uint8Array(big.crlExtensions![1]!.extnValue.buffer))).toBe(`02147f${'ff'.repeat(19)}`);
    const large = AsnConvert.parse(prepareCrl({ ...base, crlNumber: 128n }).tbsDer, TBSCertList);
    expect(toHex(new Uint8Array(large.crlExtensions![1]!.extnValue.buffer))).toBe('02020080');
  });

  it('GeneralizedTime from 2050', () => {
    const { name, keyIdentifier } = certificateIssuer(ca.rootDer);
    const issuer = { name, keyIdentifier, notBefore: ROOT_NOT_BEFORE, notAfter: new Date('2099-01-01T00:00:00Z') };
    const tbs = AsnConvert.parse(prepareCrl({ ...base, issuer, thisUpdate: new Date('2049-12-31T23:59:59Z'), nextUpdate: new Date('2050-01-01T00:00:00Z') }).tbsDer, TBSCertList);
    expect(tbs.thisUpdate.utcTime).toEqual(new Date('2049-12-31T23:59:59Z'));
    expect(tbs.nextUpdate!.generalTime).toEqual(new Date('2050-01-01T00:00:00Z'));
  });

  it('refuses bad numbers, times, entries, reasons and issuers with clear messages', () => {
    const bad = (p: Partial<CrlParams>) => problem(() => prepareCrl({ ...base, ...p }));
    expect(bad({ crlNumber: -1n })).toBe('CRL: crlNumber must be a bigint from 0 to 2^159 - 1 (20 octets, RFC 5280 section 5.2.3)');
    expect(bad({ crlNumber: 1n << 159n })).toMatch(/^CRL: crlNumber must be/);
    expect(bad({ crlNumber: 5 as unknown as bigint })).toMatch(/^CRL: crlNumber must be a bigint/);
    expect(bad({ nextUpdate: THIS_UPDATE })).toBe('CRL: nextUpdate must be later than thisUpdate');
    expect(bad({ thisUpdate: new Date('2025-12-31T00:00:00Z') })).toBe("CRL: thisUpdate must lie within the root's validity (2026-01-01T00:00:00.000Z to 2036-01-01T00:00:00.000Z)");
    expect(bad({ thisUpdate: new Date(Number.NaN) })).toBe('CRL thisUpdate: not a valid date');
    expect(bad({ revoked: [revoked[0]!, { serial: 1n << 64n, revocationDate: THIS_UPDATE }] })).toBe('CRL: a serial number is listed twice');
    expect(bad({ revoked: [{ serial: 5n, revocationDate: THIS_UPDATE }, { serial: Uint8Array.of(5), revocationDate: THIS_UPDATE }] })).toBe('CRL: a serial number is listed twice');
    expect(bad({ revoked: [{ serial: 5n, revocationDate: new Date(THIS_UPDATE.getTime() + 1000) }] })).toBe('CRL revoked[0]: revocationDate is after thisUpdate');
    expect(bad({ revoked: [{ serial: 5n, revocationDate: THIS_UPDATE }] })).toBe('accepted');
    expect(bad({ revoked: [{ serial: 0n, revocationDate: THIS_UPDATE }] })).toBe('CRL revoked[0] serial: must be from 1 to 2^159 - 1 (20 octets, RFC 5280 section 4.1.2.2)');
    expect(bad({ revoked: [{ serial: Uint8Array.of(0xff), revocationDate: THIS_UPDATE }] })).toBe('CRL revoked[0] serial: must be a positive integer in its shortest DER form');
    for (const reason of ['unspecified', 'certificateHold', 'removeFromCRL', 'cACompromise', 'aACompromise', 'toString', 'KeyCompromise']) {
      expect(bad({ revoked: [{ serial: 5n, revocationDate: THIS_UPDATE, reason: reason as CrlReason }] })).toBe(
        `CRL revoked[0]: reason "${reason}"; accepted: keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn (or none)`,
      );
    }
    expect(bad({ revoked: [null as unknown as CrlParams['revoked'][number]] })).toBe('CRL revoked[0]: expected {serial, revocationDate, reason?}');
    expect(bad({ revoked: 'none' as unknown as CrlParams['revoked'] })).toBe('CRL: revoked must be an array');
    expect(bad({ issuer: pemToDer(ca.tsaPem) })).toBe('root certificate: not self-issued (issuer differs from subject)');
  });

  it('assembleCrl refuses a signature over other bytes, and TBS bytes that are not a v2 TBSCertList', () => {
    const { tbsDer, digest } = prepareCrl(base);
    const good = ca.thresholdSign(digest, [0, 1]);
    expect(problem(() => assembleCrl(tbsDer, ca.thresholdSign(prepareCrl({ ...base, crlNumber: 6n }).digest, [0, 1]), ca.publicKey))).toBe("CRL: the signature does not verify under the issuer's RSA key");
    expect(problem(() => assembleCrl(tbsDer, new Uint8Array(0)))).toBe('CRL: no signature');
    expect(problem(() => assembleCrl(Uint8Array.of(0x30, 0x00), good))).toMatch(/^TBSCertList: malformed/);
    const tbsCert = prepareCertificate({ csr: parseCsr(buildCsr({ key: generateKeyPairSync('ed25519').privateKey })), serial: 1n, notBefore: THIS_UPDATE, notAfter: NEXT_UPDATE, issuer: ca.rootDer }).tbsDer;
    expect(problem(() => assembleCrl(tbsCert, good))).toMatch(/^TBSCertList: (malformed|must be v2)/);
    expect(assembleCrl(tbsDer, good)).toEqual(assembleCrl(tbsDer, good, ca.publicKey));
  });
});

describe.skipIf(!HAVE_OPENSSL)('CRLs checked by openssl', () => {
  let ossl: OpensslDir;
  beforeAll(async () => {
    ossl = await OpensslDir.create('crl');
    await ossl.write('root-ca.pem', ca.rootPem);
    for (const [serial, name] of [[1n, 'revoked'], [2n, 'kept']] as const) {
      const csr = parseCsr(buildCsr({ key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, subject: cn(`${name}.example`) }));
      const { tbsDer, digest } = prepareCertificate({ csr, serial, notBefore: new Date('2026-03-01T00:00:00Z'), notAfter: new Date('2027-03-01T00:00:00Z'), issuer: ca.rootDer });
      await ossl.write(`${name}.pem`, certificateToPem(assembleCertificate(tbsDer, ca.thresholdSign(digest, [1, 3]), ca.publicKey)));
    }
    await ossl.write('crl.pem', crlToPem(signCrl(base)));
    await ossl.write('empty.pem', crlToPem(signCrl({ ...base, revoked: [], crlNumber: 4n })));
  });
  afterAll(async () => {
    await ossl?.remove();
  });

  it('openssl crl -CAfile root-ca.pem verifies the CRL (and the empty one)', async () => {
    for (const file of ['crl.pem', 'empty.pem']) {
      const r = await ossl.run(['crl', '-CAfile', 'root-ca.pem', '-in', file, '-noout']);
      expect(r.code, r.stderr).toBe(0);
      expect((r.stdout + r.stderr).trim()).toBe('verify OK');
    }
  });

  it('openssl crl -text shows the fields', async () => {
    const text = await ossl.ok(['crl', '-in', 'crl.pem', '-noout', '-text']);
    const rootText = await ossl.ok(['x509', '-in', 'root-ca.pem', '-noout', '-text']);
    const rootSki = /X509v3 Subject Key Identifier: \n\s+([0-9A-F:]+)/.exec(rootText)![1]!;
    const issuer = /Subject: (.*)\n/.exec(rootText)![1]!;
    for (const line of [
      'Version 2 (0x1)',
      'Signature Algorithm: sha256WithRSAEncryption',
      `Issuer: ${issuer}`,
      'Last Update: Jun  1 00:00:00 2026 GMT',
      'Next Update: Jun  8 00:00:00 2026 GMT',
      `X509v3 Authority Key Identifier: \n                ${rootSki}`,
      'X509v3 CRL Number: \n                5',
      'Serial Number: 01\n        Revocation Date: Apr  1 12:30:45 2026 GMT\n        CRL entry extensions:\n            X509v3 CRL Reason Code: \n                Key Compromise',
      'Serial Number: 03\n        Revocation Date: May  3 10:00:00 2026 GMT\n        CRL entry extensions:\n            X509v3 CRL Reason Code: \n                Superseded',
      'Serial Number: 80\n        Revocation Date: May  2 00:00:00 2026 GMT\n        CRL entry extensions:\n            X509v3 CRL Reason Code: \n                Cessation Of Operation',
      'Serial Number: 010000000000000000\n        Revocation Date: May  1 00:00:00 2026 GMT\n',
    ]) {
      expect(text).toContain(line);
    }
    // Sorted by serial.
    expect([...text.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => m[1])).toEqual(['01', '03', '80', '010000000000000000']);
    expect(await ossl.ok(['crl', '-in', 'empty.pem', '-noout', '-text'])).toContain('No Revoked Certificates.');
  });

  it('openssl verify -crl_check: the listed certificate is revoked, the other one OK', async () => {
    const check = (cert: string, crl = 'crl.pem') => ossl.run(['verify', '-crl_check', '-CRLfile', crl, '-CAfile', 'root-ca.pem', '-attime', attime(CHECK_AT), cert]);
    const revokedResult = await check('revoked.pem');
    expect(revokedResult.code).not.toBe(0);
    expect(revokedResult.stdout + revokedResult.stderr).toContain('error 23 at 0 depth lookup: certificate revoked');
    expect((await check('kept.pem')).stdout.trim()).toBe('kept.pem: OK');
    expect((await check('revoked.pem', 'empty.pem')).stdout.trim()).toBe('revoked.pem: OK');
    // Without the check, the revoked certificate is a valid one: the CRL is what says otherwise.
    expect((await ossl.ok(['verify', '-CAfile', 'root-ca.pem', '-attime', attime(CHECK_AT), 'revoked.pem'])).trim()).toBe('revoked.pem: OK');
    // After nextUpdate the CRL has expired.
    const late = await ossl.run(['verify', '-crl_check', '-CRLfile', 'crl.pem', '-CAfile', 'root-ca.pem', '-attime', attime(new Date('2026-06-09T00:00:00Z')), 'kept.pem']);
    expect(late.stdout + late.stderr).toContain('CRL has expired');
  });

  it('one altered byte, in the signed part or the signature, and the CRL no longer verifies', async () => {
    const der = pemToDer(await ossl.readText('crl.pem'), 'X509 CRL');
    const tbsLength = AsnConvert.serialize(AsnConvert.parse(der, CertificateList).tbsCertList).byteLength;
    // The revocation date of serial 03 ("260503100000Z"): its minute digit, inside the TBS.
    const dateAt = Buffer.from(der).indexOf(Buffer.from('260503100000Z')) + 8;
    expect(dateAt).toBeGreaterThan(8);
    expect(dateAt).toBeLessThan(tbsLength);
    for (const [file, at] of [['sig.pem', der.length - 1], ['tbs.pem', dateAt]] as const) {
      const bad = der.slice();
      bad[at]! ^= 0x01;
      await ossl.write(file, crlToPem(bad));
      // OpenSSL 3.0's crl command exits 0 either way: what it prints is the verdict.
      const r = await ossl.run(['crl', '-CAfile', 'root-ca.pem', '-in', file, '-noout']);
      expect((r.stdout + r.stderr).trim().split('\n')[0], file).toBe('verify failure');
      const v = await ossl.run(['verify', '-crl_check', '-CRLfile', file, '-CAfile', 'root-ca.pem', '-attime', attime(CHECK_AT), 'kept.pem']);
      expect(v.code, file).not.toBe(0);
      expect(v.stdout + v.stderr, file).toContain('CRL signature failure');
    }
  });
});

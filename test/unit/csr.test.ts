/**
 * PKCS #10 requests (shared/crypto/csr.ts): requests that `openssl req` makes for every accepted key type
 * and hash are accepted with the fields the certificate will carry; everything else (bad signatures,
 * garbage, trailing bytes, BER, unaccepted keys, algorithms, subjects, attributes and extensions) is
 * refused with a CsrError whose reason and message say why. Requests OpenSSL will not make (version 1,
 * challengePassword, repeated extensions, compressed points, small-order keys) are built here with
 * @peculiar/asn1-csr and signed with node:crypto.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Attribute, AttributeValue, Name, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CsrError, MAX_CSR_BYTES, isHostName, isMailbox, parseCsr } from '../../shared/crypto/csr.ts';
import type { CheckedCsr, CsrRefusal } from '../../shared/crypto/csr.ts';
import { CryptoError } from '../../shared/crypto/errors.ts';
import { derToPem, pemToDer } from '../../shared/crypto/pem.ts';
import { buildCsr, cn, der, ext, extensionRequest, hex } from '../helpers/csr-build.ts';
import { HAVE_OPENSSL, OpensslDir } from '../helpers/rsa-ca.ts';

/** The refusal of parsing `input`: "reason: message", or 'accepted'. Anything but a CsrError fails the test. */
function refusal(input: Uint8Array | string): string {
  try {
    parseCsr(input);
  } catch (e) {
    if (!(e instanceof CsrError)) throw e;
    expect(e).toBeInstanceOf(CryptoError);
    return `${e.reason}: ${e.message}`;
  }
  return 'accepted';
}
const reasonOf = (input: Uint8Array | string): CsrRefusal | 'accepted' => refusal(input).split(':')[0] as CsrRefusal | 'accepted';

const ed = generateKeyPairSync('ed25519').privateKey;
const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;

describe('requests built with asn1-csr and node:crypto', () => {
  it('a minimal Ed25519 request is accepted, the key byte for byte, default key usage, no SAN or EKU', () => {
    const csr = parseCsr(buildCsr({ key: ed }));
    expect(csr).toMatchObject({ name: 'alice', keyAlgorithm: 'ed25519', keyBits: 255, signatureAlgorithm: 'Ed25519', subjectAltName: null, keyUsage: ['digitalSignature'], keyUsageRequested: false, extendedKeyUsage: [] });
    expect(Buffer.from(csr.publicKeyInfo)).toEqual(createPublicKey(ed).export({ type: 'spki', format: 'der' }));
    // PEM in and DER in give the same.
    expect(parseCsr(derToPem(csr.der, 'CERTIFICATE REQUEST'))).toEqual(csr);
  });

  it('a PrintableString commonName is read as the name; P-384 signs with SHA-384', () => {
    expect(parseCsr(buildCsr({ key: p256, subject: cn('host-1.example', true) })).name).toBe('host-1.example');
    expect(parseCsr(buildCsr({ key: p384, hash: 'sha384' }))).toMatchObject({ keyAlgorithm: 'ecdsa-p384', keyBits: 384, signatureAlgorithm: 'ecdsa-with-SHA384' });
    expect(refusal(buildCsr({ key: p384, hash: 'sha256', sigAlg: new AlgorithmIdentifier({ algorithm: '1.2.840.10045.4.3.2' }) }))).toBe(
      'unsupported-algorithm: CSR: a ecdsa-p384 key must sign with ecdsa-with-SHA384, not ecdsa-with-SHA256',
    );
  });

  it('refuses version 1, challengePassword, other attributes, and a repeated extension', () => {
    expect(refusal(buildCsr({ key: ed, version: 1 }))).toBe('bad-version: CSR: version must be 0 (v1), not 1');
    const challenge = new Attribute({ type: '1.2.840.113549.1.9.7', values: [der(new AttributeValue({ utf8String: 'secret' })).buffer as ArrayBuffer] });
    expect(refusal(buildCsr({ key: ed, attributes: [challenge] }))).toBe('unsupported-attribute: CSR: challengePassword is not accepted (the CA authenticates requests otherwise)');
    const unstructured = new Attribute({ type: '1.2.840.113549.1.9.2', values: [der(new AttributeValue({ utf8String: 'x' })).buffer as ArrayBuffer] });
    expect(refusal(buildCsr({ key: ed, attributes: [unstructured] }))).toBe('unsupported-attribute: CSR: attribute 1.2.840.113549.1.9.2 is not accepted; only extensionRequest (1.2.840.113549.1.9.14)');
    const ekuServer = hex('300a06082b06010505070301');
    expect(reasonOf(buildCsr({ key: ed, attributes: [extensionRequest([ext('2.5.29.37', ekuServer)])] }))).toBe('accepted');
    expect(refusal(buildCsr({ key: ed, attributes: [extensionRequest([ext('2.5.29.37', ekuServer), ext('2.5.29.37', ekuServer)])] }))).toBe('bad-extension: CSR: extension 2.5.29.37 twice');
    expect(refusal(buildCsr({ key: ed, attributes: [extensionRequest([])] }))).toBe('bad-extension: CSR: extensionRequest: no extensions');
    expect(refusal(buildCsr({ key: ed, attributes: [extensionRequest([ext('2.5.29.37', ekuServer)]), extensionRequest([ext('2.5.29.37', ekuServer)])] }))).toBe(
      'unsupported-attribute: CSR: at most one attribute (extensionRequest)',
    );
  });

  it('refuses non-DER inside a validly signed request (an explicit default, a keyUsage with trailing zero bits)', () => {
    // Extension { extnID, critical FALSE (the default: DER omits it), extnValue }, built by hand.
    const explicitFalse = hex('3011 0603551d25 010100 0407 3005 06032b0601');
    const attr = new Attribute({ type: '1.2.840.113549.1.9.14', values: [Uint8Array.from([0x30, explicitFalse.length, ...explicitFalse]).buffer as ArrayBuffer] });
    expect(refusal(buildCsr({ key: ed, attributes: [attr] }))).toBe('non-canonical: CSR: extensionRequest: not in DER (the distinguished encoding)');
    // keyUsage digitalSignature as BIT STRING 03 02 00 80 (0 unused bits): DER says 03 02 07 80.
    expect(refusal(buildCsr({ key: ed, attributes: [extensionRequest([ext('2.5.29.15', hex('03020080'), true)])] }))).toBe('non-canonical: CSR: keyUsage: not in DER (trailing zero bits)');
    expect(parseCsr(buildCsr({ key: ed, attributes: [extensionRequest([ext('2.5.29.15', hex('03020780'), true)])] }))).toMatchObject({ keyUsage: ['digitalSignature'], keyUsageRequested: true });
  });

  it('refuses a compressed EC point, a small-order Ed25519 key and a key on another curve', () => {
    const spki = new Uint8Array(createPublicKey(p256).export({ type: 'spki', format: 'der' }));
    const info = AsnConvert.parse(spki, SubjectPublicKeyInfo);
    const point = new Uint8Array(info.subjectPublicKey);
    const compressed = new Uint8Array([0x02 | (point[64]! & 1), ...point.subarray(1, 33)]);
    const compressedSpki = der(new SubjectPublicKeyInfo({ algorithm: info.algorithm, subjectPublicKey: compressed.buffer as ArrayBuffer }));
    expect(refusal(buildCsr({ key: p256, spki: compressedSpki }))).toBe('unsupported-key: CSR: EC key: must be an uncompressed P-256 point (04 || X || Y, 65 bytes)');
    // The Ed25519 point of order 1 (y = 1): anything "verifies" under a small-order key.
    const smallOrder = hex(`302a300506032b6570032100${'01'.padEnd(64, '0')}`);
    expect(refusal(buildCsr({ key: ed, spki: smallOrder }))).toBe('unsupported-key: CSR: Ed25519 key: of small order');
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey;
    expect(refusal(buildCsr({ key: k1 }))).toBe('unsupported-key: CSR: EC key on curve 1.3.132.0.10; accepted: P-256 (1.2.840.10045.3.1.7), P-384 (1.3.132.0.34)');
    // Another key in the request than the one that signed: the self-signature fails.
    const otherSpki = new Uint8Array(createPublicKey(generateKeyPairSync('ed25519').privateKey).export({ type: 'spki', format: 'der' }));
    expect(refusal(buildCsr({ key: ed, spki: otherSpki }))).toBe("bad-signature: CSR: the self-signature (Ed25519) does not verify with the request's public key");
  });

  it('refuses algorithm identifiers with the wrong parameters', () => {
    expect(refusal(buildCsr({ key: ed, sigAlg: new AlgorithmIdentifier({ algorithm: '1.3.101.112', parameters: null }) }))).toBe(
      'unsupported-algorithm: CSR: Ed25519: parameters must be absent (RFC 5758 section 3.2, RFC 8410 section 3)',
    );
    expect(refusal(buildCsr({ key: p256, sigAlg: new AlgorithmIdentifier({ algorithm: '1.2.840.10045.4.3.2', parameters: null }) }))).toMatch(/^unsupported-algorithm: CSR: ecdsa-with-SHA256: parameters must be absent/);
    expect(refusal(buildCsr({ key: p256, sigAlg: new AlgorithmIdentifier({ algorithm: '1.2.840.10045.4.1' }) }))).toMatch(/^unsupported-algorithm: CSR: signature algorithm 1\.2\.840\.10045\.4\.1; accepted: /);
  });

  it('subject and subjectAltName rules', () => {
    expect(refusal(buildCsr({ key: ed, subject: cn('x'.repeat(65)) }))).toBe('bad-subject: CSR: the commonName has 65 characters; at most 64 (RFC 5280 ub-common-name)');
    expect(reasonOf(buildCsr({ key: ed, subject: cn('x'.repeat(64)) }))).toBe('accepted');
    expect(refusal(buildCsr({ key: ed, subject: new Name([]) }))).toBe('bad-subject: CSR: the subject must be exactly one commonName (CN=<directory name>) and nothing else');
    const san = (tagged: string) => [extensionRequest([ext('2.5.29.17', hex(tagged))])];
    const dns = (s: string) => `30${(s.length + 2).toString(16).padStart(2, '0')}82${s.length.toString(16).padStart(2, '0')}${Buffer.from(s).toString('hex')}`;
    expect(parseCsr(buildCsr({ key: ed, attributes: san(dns('alice')) })).subjectAltName).toEqual({ type: 'dNSName', value: 'alice' });
    expect(refusal(buildCsr({ key: ed, attributes: san(dns('bob')) }))).toBe('unsupported-extension: CSR: subjectAltName: dNSName "bob" is not the subject\'s name "alice"');
    expect(refusal(buildCsr({ key: ed, subject: cn('a_b'), attributes: san(dns('a_b')) }))).toBe('unsupported-extension: CSR: subjectAltName: "a_b" is not a host name, so it cannot be a dNSName');
    // Two entries, and an IP address.
    expect(refusal(buildCsr({ key: ed, attributes: san(`300e820561 6c696365 820561 6c696365`) }))).toBe('unsupported-extension: CSR: subjectAltName: exactly one entry, the subject\'s name "alice"; got 2');
    expect(refusal(buildCsr({ key: ed, attributes: san('3006870401020304') }))).toBe("unsupported-extension: CSR: subjectAltName: only a dNSName or an rfc822Name (equal to the subject's name) is accepted");
  });

  it('host names and mailboxes', () => {
    for (const h of ['a', 'alice.example', 'x-1.y-2.z', `${'a'.repeat(63)}.b`]) expect(isHostName(h)).toBe(true);
    for (const h of ['', '-a', 'a-', 'a..b', 'a_b', 'a@b', `${'a'.repeat(64)}.b`, '.a', 'a.', 'A.b']) expect(isHostName(h)).toBe(false);
    for (const m of ['a@b', 'carol@example.org', 'a.b_c-d@x.y']) expect(isMailbox(m)).toBe(true);
    for (const m of ['@b', 'a@', 'a@@b', 'a@b@c', '.a@b', 'a.@b', 'a..b@c', 'a@b_c']) expect(isMailbox(m)).toBe(false);
  });
});

describe('garbage never crashes the parser', () => {
  const good = buildCsr({ key: ed, attributes: [extensionRequest([ext('2.5.29.17', hex('3007820561 6c696365'.replace(/ /g, '')))])] });

  it('empty, short, foreign, oversized, trailing and BER inputs are refused with the reason', () => {
    expect(refusal(new Uint8Array(0))).toBe('bad-encoding: CSR: expected DER bytes or a PEM string');
    expect(reasonOf(Uint8Array.of(0x30, 0x00))).toBe('bad-encoding');
    expect(reasonOf(Uint8Array.of(0x02, 0x01, 0x00))).toBe('bad-encoding');
    expect(refusal(new Uint8Array(MAX_CSR_BYTES + 1).fill(0x30))).toBe(`too-large: CSR: ${MAX_CSR_BYTES + 1} bytes; at most ${MAX_CSR_BYTES}`);
    expect(refusal(new Uint8Array([...good, 0x00]))).toMatch(/^bad-encoding: CSR: not one DER SEQUENCE and nothing after it \(/);
    expect(refusal(good.subarray(0, good.length - 1))).toMatch(/^bad-encoding: CSR: not one DER SEQUENCE and nothing after it/);
    // The outer length in two bytes where one does: BER, not DER.
    expect([good[0], good[1]]).toEqual([0x30, 0x81]);
    const ber = new Uint8Array([0x30, 0x82, 0x00, ...good.subarray(2)]);
    expect(refusal(ber)).toBe('non-canonical: CSR: not one DER SEQUENCE and nothing after it (DER: length not in its shortest form)');
    expect(refusal('not a PEM')).toMatch(/^bad-encoding: CSR: PEM: must start with "-----BEGIN CERTIFICATE REQUEST-----"/);
    expect(refusal(derToPem(good, 'CERTIFICATE'))).toMatch(/^bad-encoding: CSR: PEM: must start with/);
    expect(refusal(derToPem(good, 'CERTIFICATE REQUEST').replace(/\n/g, '\r\n'))).toMatch(/^bad-encoding: CSR: PEM/);
    expect(reasonOf(derToPem(good, 'CERTIFICATE REQUEST'))).toBe('accepted');
  });

  it('every one-byte change of a valid request is refused (with a CsrError)', () => {
    expect(reasonOf(good)).toBe('accepted');
    const reasons = new Set<string>();
    for (let i = 0; i < good.length; i++) {
      for (const mask of [0x01, 0x80]) {
        const bad = good.slice();
        bad[i]! ^= mask;
        const r = reasonOf(bad);
        expect(r, `byte ${i} ^ ${mask}`).not.toBe('accepted');
        reasons.add(r);
      }
    }
    expect([...reasons].sort()).toEqual(expect.arrayContaining(['bad-encoding', 'bad-signature']));
  });

  it('random bytes and random DER-looking prefixes: a CsrError or nothing, never another error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
        // Not even the catch-all for unexpected errors (parseCsr's last resort) is reached.
        expect(refusal(b)).not.toMatch(/^bad-encoding: CSR: malformed request/);
      }),
      { numRuns: 500, seed: 16 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: good.length - 1 }), fc.uint8Array({ minLength: 1, maxLength: 40 }), (at, junk) => {
        const b = new Uint8Array([...good.subarray(0, at), ...junk, ...good.subarray(at + junk.length)]);
        const r = refusal(b);
        expect(r).not.toMatch(/^bad-encoding: CSR: malformed request/);
        if (r === 'accepted') expect(b).toEqual(good);
      }),
      { numRuns: 500, seed: 17 },
    );
  });
});

describe.skipIf(!HAVE_OPENSSL)('requests made by openssl req', () => {
  let ossl: OpensslDir;
  const csrs: Record<string, string> = {};
  beforeAll(async () => {
    ossl = await OpensslDir.create('csr');
    const make = async (name: string, key: string[], subject: string, extra: string[] = []) => {
      csrs[name] = await ossl.request(name, key, subject, extra);
    };
    await Promise.all([
      make('rsa', ['rsa:2048'], '/CN=alice.example', ['-addext', 'subjectAltName=DNS:alice.example', '-addext', 'extendedKeyUsage=clientAuth,serverAuth']),
      make('rsa384', ['rsa:2048'], '/CN=rsa384', ['-sha384']),
      make('rsa512', ['rsa:3072'], '/CN=rsa512', ['-sha512', '-addext', 'keyUsage=critical,digitalSignature']),
      make('p256', ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], '/CN=bob', ['-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'keyUsage=digitalSignature,keyAgreement']),
      make('p384', ['ec', '-pkeyopt', 'ec_paramgen_curve:P-384'], '/CN=p384.example', ['-sha384']),
      make('ed25519', ['ed25519'], '/CN=carol@example.org', ['-addext', 'subjectAltName=email:carol@example.org', '-addext', 'extendedKeyUsage=emailProtection']),
      make('rsa1024', ['rsa:1024'], '/CN=small'),
      make('e3', ['rsa:2048', '-pkeyopt', 'rsa_keygen_pubexp:3'], '/CN=e3'),
      make('sha1', ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], '/CN=sha1', ['-sha1']),
      make('p384sha256', ['ec', '-pkeyopt', 'ec_paramgen_curve:P-384'], '/CN=p384'),
      make('p521', ['ec', '-pkeyopt', 'ec_paramgen_curve:P-521'], '/CN=p521'),
      make('ed448', ['ed448'], '/CN=ed448'),
      make('pssKey', ['rsa-pss', '-pkeyopt', 'rsa_keygen_bits:2048'], '/CN=pss'),
      make('pssSig', ['rsa:2048'], '/CN=pss', ['-sigopt', 'rsa_padding_mode:pss']),
      make('upper', ['ed25519'], '/CN=Alice'),
      make('twoAttrs', ['ed25519'], '/O=Example/CN=alice'),
      make('multi', ['ed25519'], '/CN=alice+O=Example', ['-multivalue-rdn']),
      make('otherDns', ['ed25519'], '/CN=alice.example', ['-addext', 'subjectAltName=DNS:alice.example,DNS:www.alice.example']),
      make('ip', ['ed25519'], '/CN=alice', ['-addext', 'subjectAltName=IP:192.0.2.1']),
      make('tsa', ['ed25519'], '/CN=alice', ['-addext', 'extendedKeyUsage=critical,timeStamping']),
      make('ocsp', ['ed25519'], '/CN=alice', ['-addext', 'extendedKeyUsage=OCSPSigning']),
      make('caTrue', ['ed25519'], '/CN=alice', ['-addext', 'basicConstraints=critical,CA:TRUE']),
      make('certSign', ['ed25519'], '/CN=alice', ['-addext', 'keyUsage=critical,keyCertSign']),
      make('edKeyEnc', ['ed25519'], '/CN=alice', ['-addext', 'keyUsage=keyEncipherment']),
      make('policy', ['ed25519'], '/CN=alice', ['-addext', 'certificatePolicies=1.2.3.4']),
    ]);
  });
  afterAll(async () => {
    await ossl?.remove();
  });

  it('accepts RSA (SHA-256/384/512), P-256, P-384 and Ed25519 requests with what they ask for', () => {
    const got = (name: string): Omit<CheckedCsr, 'der' | 'publicKeyInfo'> => {
      const { der: _d, publicKeyInfo: _p, ...rest } = parseCsr(csrs[name]!);
      return rest;
    };
    expect(got('rsa')).toEqual({
      name: 'alice.example',
      keyAlgorithm: 'rsa',
      keyBits: 2048,
      signatureAlgorithm: 'sha256WithRSAEncryption',
      subjectAltName: { type: 'dNSName', value: 'alice.example' },
      keyUsage: ['digitalSignature', 'keyEncipherment'],
      keyUsageRequested: false,
      extendedKeyUsage: ['serverAuth', 'clientAuth'],
    });
    expect(got('rsa384')).toMatchObject({ keyBits: 2048, signatureAlgorithm: 'sha384WithRSAEncryption' });
    expect(got('rsa512')).toMatchObject({ keyBits: 3072, signatureAlgorithm: 'sha512WithRSAEncryption', keyUsage: ['digitalSignature'], keyUsageRequested: true });
    expect(got('p256')).toEqual({
      name: 'bob',
      keyAlgorithm: 'ecdsa-p256',
      keyBits: 256,
      signatureAlgorithm: 'ecdsa-with-SHA256',
      subjectAltName: null,
      keyUsage: ['digitalSignature', 'keyAgreement'],
      keyUsageRequested: true,
      extendedKeyUsage: [],
    });
    expect(got('p384')).toMatchObject({ name: 'p384.example', keyAlgorithm: 'ecdsa-p384', signatureAlgorithm: 'ecdsa-with-SHA384' });
    expect(got('ed25519')).toMatchObject({ name: 'carol@example.org', subjectAltName: { type: 'rfc822Name', value: 'carol@example.org' }, extendedKeyUsage: ['emailProtection'] });
  });

  it("the SubjectPublicKeyInfo is OpenSSL's, byte for byte", async () => {
    for (const name of ['rsa', 'p256', 'p384', 'ed25519']) {
      const spki = createPublicKey(createPrivateKey(await ossl.readText(`${name}.key`))).export({ type: 'spki', format: 'der' });
      expect(Buffer.from(parseCsr(csrs[name]!).publicKeyInfo)).toEqual(spki);
      expect(parseCsr(pemToDer(csrs[name]!, 'CERTIFICATE REQUEST')).publicKeyInfo).toEqual(parseCsr(csrs[name]!).publicKeyInfo);
    }
  });

  it('refuses a request whose signature or signed content was altered', () => {
    for (const name of ['rsa', 'p256', 'p384', 'ed25519', 'rsa512']) {
      const d = pemToDer(csrs[name]!, 'CERTIFICATE REQUEST');
      const sig = d.slice();
      sig[sig.length - 3]! ^= 0x01;
      expect(reasonOf(sig), name).toBe('bad-signature');
      // A letter of the subject's name: the signed part changed.
      const at = Buffer.from(d).indexOf(Buffer.from(parseCsr(d).name));
      const body = d.slice();
      body[at]! ^= 0x02;
      expect(reasonOf(body), name).toMatch(/^bad-signature$/);
    }
    expect(refusal(pemToDer(csrs['rsa']!, 'CERTIFICATE REQUEST').map((b, i, a) => (i === a.length - 1 ? b ^ 0x40 : b)))).toBe(
      "bad-signature: CSR: the self-signature (sha256WithRSAEncryption) does not verify with the request's public key",
    );
  });

  it('refuses keys and algorithms outside the accepted set, saying which', () => {
    expect(refusal(csrs['rsa1024']!)).toBe('unsupported-key: CSR: RSA key of 1024 bits; accepted: 2048-8192');
    expect(refusal(csrs['e3']!)).toBe('unsupported-key: CSR: RSA public exponent must be odd, from 65537 to 2^256 - 1');
    expect(refusal(csrs['sha1']!)).toMatch(/^unsupported-algorithm: CSR: signature algorithm 1\.2\.840\.10045\.4\.1; accepted: sha256\/384\/512WithRSAEncryption/);
    expect(refusal(csrs['p384sha256']!)).toBe('unsupported-algorithm: CSR: a ecdsa-p384 key must sign with ecdsa-with-SHA384, not ecdsa-with-SHA256');
    expect(refusal(csrs['p521']!)).toBe('unsupported-key: CSR: EC key on curve 1.3.132.0.35; accepted: P-256 (1.2.840.10045.3.1.7), P-384 (1.3.132.0.34)');
    expect(refusal(csrs['ed448']!)).toBe('unsupported-key: CSR: key algorithm 1.3.101.113; accepted: rsaEncryption, id-ecPublicKey (P-256, P-384), Ed25519');
    expect(refusal(csrs['pssKey']!)).toBe('unsupported-key: CSR: RSASSA-PSS keys (id-RSASSA-PSS) are not accepted: use an rsaEncryption key');
    expect(refusal(csrs['pssSig']!)).toBe('unsupported-algorithm: CSR: RSASSA-PSS signatures are not accepted: sign the request with PKCS #1 v1.5 (sha256WithRSAEncryption)');
  });

  it('refuses subjects that are not one directory name', () => {
    expect(refusal(csrs['upper']!)).toBe('bad-subject: CSR: the commonName "Alice" is not a directory name (1-128 of a-z 0-9 . _ @ -, starting with a letter or digit)');
    expect(reasonOf(csrs['twoAttrs']!)).toBe('bad-subject');
    expect(reasonOf(csrs['multi']!)).toBe('bad-subject');
  });

  it('refuses extensions it does not honour rather than dropping them', () => {
    expect(refusal(csrs['otherDns']!)).toBe('unsupported-extension: CSR: subjectAltName: exactly one entry, the subject\'s name "alice.example"; got 2');
    expect(refusal(csrs['ip']!)).toBe("unsupported-extension: CSR: subjectAltName: only a dNSName or an rfc822Name (equal to the subject's name) is accepted");
    expect(refusal(csrs['tsa']!)).toBe('unsupported-extension: CSR: extendedKeyUsage: 1.3.6.1.5.5.7.3.8 is not accepted; accepted: serverAuth, clientAuth, emailProtection');
    expect(refusal(csrs['ocsp']!)).toBe('unsupported-extension: CSR: extendedKeyUsage: 1.3.6.1.5.5.7.3.9 is not accepted; accepted: serverAuth, clientAuth, emailProtection');
    expect(refusal(csrs['caTrue']!)).toBe('unsupported-extension: CSR: basicConstraints: the CA issues end-entity certificates only (cA FALSE, no pathLenConstraint)');
    expect(refusal(csrs['certSign']!)).toBe('unsupported-extension: CSR: keyUsage: a ed25519 key may have only digitalSignature');
    expect(refusal(csrs['edKeyEnc']!)).toBe('unsupported-extension: CSR: keyUsage: a ed25519 key may have only digitalSignature');
    expect(refusal(csrs['policy']!)).toBe('unsupported-extension: CSR: extension 2.5.29.32 is not accepted; accepted: subjectAltName, keyUsage, extendedKeyUsage, basicConstraints (cA FALSE)');
  });
});

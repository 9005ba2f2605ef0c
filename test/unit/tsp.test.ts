/**
 * RFC 3161 time stamps (shared/crypto/tsp*.ts) without OpenSSL: the policy OID, query parsing and its
 * failure answers, the TSTInfo and signed attributes byte by byte, determinism, threshold signatures equal
 * to the whole key's, the reply assembled and checked by our verifier, and failure replies. OpenSSL's view
 * of the same bytes is test/unit/tsp-openssl.test.ts.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { SignedData } from '@peculiar/asn1-cms';
import { id_sha1, id_sha256, id_sha384, id_sha512 } from '@peculiar/asn1-rsa';
import { MessageImprint, TimeStampReq, TimeStampResp } from '@peculiar/asn1-tsp';
import { AlgorithmIdentifier, Certificate, Extension, Extensions } from '@peculiar/asn1-x509';
import { bytesEqual, fromHex, toHex } from '../../shared/crypto/bytes.ts';
import { sha256 } from '../../shared/crypto/sha256.ts';
import { BigArcOidConverter, PKI_FAILURE_BITS, TspTstInfo, derSetOrder, isOidText } from '../../shared/crypto/tsp-asn1.ts';
import type { PkiFailureInfo } from '../../shared/crypto/tsp-asn1.ts';
import { TSA_POLICY_DOMAIN, tsaPolicyOid, tsaPolicyUuid } from '../../shared/crypto/tsp-policy.ts';
import { MAX_QUERY_BYTES, parseTimeStampQuery } from '../../shared/crypto/tsp-query.ts';
import type { TimeStampQuery } from '../../shared/crypto/tsp-query.ts';
import { TspError, assembleTimeStampReply, prepareTimeStampToken, timeStampFailureReply } from '../../shared/crypto/tsp.ts';
import type { TimeStampTokenInput } from '../../shared/crypto/tsp.ts';
import { verifyTimeStampReply } from '../../shared/crypto/tsp-verify.ts';
import { tspGroup } from '../helpers/tsp.ts';

const G = tspGroup();
const OTHER = tspGroup('tsp/other-group', 1024, 1);
const ab = (b: Uint8Array): ArrayBuffer => b.slice().buffer as ArrayBuffer;
const der = (o: unknown): Uint8Array => new Uint8Array(AsnConvert.serialize(o));
const ascii = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

interface QueryParts {
  version?: number;
  alg?: string;
  params?: null | undefined | ArrayBuffer;
  imprint?: Uint8Array;
  policy?: string;
  nonce?: Uint8Array;
  certReq?: boolean;
  extensions?: Extensions;
}

/** A TimeStampReq built with asn1-tsp (the same library, but each field chosen by the test). */
function query(parts: QueryParts = {}): Uint8Array {
  const req = new TimeStampReq({
    version: parts.version ?? 1,
    messageImprint: new MessageImprint({
      hashAlgorithm: new AlgorithmIdentifier({ algorithm: parts.alg ?? id_sha256, parameters: 'params' in parts ? parts.params : null }),
      hashedMessage: new OctetString(parts.imprint ?? sha256(new TextEncoder().encode('a document'))),
    }),
    certReq: parts.certReq ?? false,
  });
  if (parts.policy !== undefined) req.reqPolicy = parts.policy;
  if (parts.nonce !== undefined) req.nonce = ab(parts.nonce);
  if (parts.extensions !== undefined) req.extensions = parts.extensions;
  return der(req);
}

function accepted(bytes: Uint8Array, policy = G.policy): TimeStampQuery {
  const r = parseTimeStampQuery(bytes, policy);
  if (!r.ok) throw new Error(`refused: ${r.failInfo} ${r.text}`);
  return r.query;
}

function refusal(bytes: Uint8Array, policy = G.policy): [PkiFailureInfo, string] {
  const r = parseTimeStampQuery(bytes, policy);
  if (r.ok) throw new Error('accepted');
  return [r.failInfo, r.text];
}

const GEN_TIME = new Date('2026-05-03T12:34:56.780Z');
const input = (q: TimeStampQuery, extra: Partial<TimeStampTokenInput> = {}): TimeStampTokenInput => ({
  query: q,
  policy: G.policy,
  serial: 12345n,
  genTime: GEN_TIME,
  tsaCertificate: G.tsaDer,
  ...extra,
});

describe('the TSA policy OID', () => {
  it('is 2.25.<UUIDv8 from SHA-256(frame(domain, group id))>, recomputed here with node:crypto', () => {
    const gid = Uint8Array.from({ length: 32 }, (_, i) => i);
    const framed = Buffer.concat([Buffer.from([0, 0, 0, TSA_POLICY_DOMAIN.length]), Buffer.from(TSA_POLICY_DOMAIN), Buffer.from([0, 0, 0, 32]), gid]);
    const h = createHash('sha256').update(framed).digest().subarray(0, 16);
    h[6] = (h[6]! & 0x0f) | 0x80;
    h[8] = (h[8]! & 0x3f) | 0x80;
    expect(toHex(tsaPolicyUuid(gid))).toBe(h.toString('hex'));
    expect(tsaPolicyOid(gid)).toBe(`2.25.${BigInt(`0x${h.toString('hex')}`)}`);
    // Known answer (docs/formats.md): a change of derivation must show up here.
    expect(TSA_POLICY_DOMAIN).toBe('sintra-edge/v1/tsa/policy');
    expect(toHex(tsaPolicyUuid(gid))).toBe('f0d7ed0dadce82bf95df922f2f1df218');
    expect(tsaPolicyOid(gid)).toBe('2.25.320135870827797538428078328187279241752');
  });

  it('differs between groups, and is a valid OID the converter writes and reads back', () => {
    expect(G.policy).not.toBe(OTHER.policy);
    expect(G.policy).toMatch(/^2\.25\.[1-9][0-9]{35,38}$/);
    expect(isOidText(G.policy)).toBe(true);
    expect(() => tsaPolicyOid(new Uint8Array(31))).toThrow(/32 bytes/);
  });

  it("the OID converter reads arcs above 2^53 (asn1js alone prints them as {hex})", () => {
    const bytes = der(BigArcOidConverter.toASN(G.policy));
    const back = AsnConvert.parse(der(new TimeStampReq({ messageImprint: new MessageImprint({ hashAlgorithm: new AlgorithmIdentifier({ algorithm: id_sha256, parameters: null }), hashedMessage: new OctetString(new Uint8Array(32)) }), reqPolicy: G.policy })), TimeStampReq);
    expect(back.reqPolicy).toMatch(/\{/); // the library's own reading: not usable
    expect(bytes[0]).toBe(0x06);
    for (const oid of ['1.2.840.113549.1.9.16.1.4', '2.25.0', '2.25.340282366920938463463374607431768211455', '0.39.1', '2.999.18446744073709551616']) expect(isOidText(oid)).toBe(true);
    for (const oid of ['', '1', '3.1', '1.40', '1.2.03', '1..2', '1.2.', ' 1.2', 'a.b']) expect(isOidText(oid)).toBe(false);
  });
});

describe('parseTimeStampQuery', () => {
  it('accepts SHA-256, SHA-384 and SHA-512 imprints, with or without nonce, certReq and the group policy', () => {
    for (const [alg, name, len] of [[id_sha256, 'sha256', 32], [id_sha384, 'sha384', 48], [id_sha512, 'sha512', 64]] as const) {
      const imprint = Uint8Array.from({ length: len }, (_, i) => i + 1);
      const q = accepted(query({ alg, imprint, nonce: fromHex('00db18392e5fa4d045'), certReq: true }));
      expect(q).toEqual({ hashAlgorithm: name, hashParametersNull: true, hashedMessage: imprint, nonce: 0xdb18392e5fa4d045n, certReq: true, reqPolicy: undefined });
    }
    const plain = accepted(query({ params: undefined }));
    expect(plain).toMatchObject({ hashParametersNull: false, nonce: undefined, certReq: false });
    expect(accepted(query({ policy: G.policy })).reqPolicy).toBe(G.policy);
    expect(accepted(query({ nonce: fromHex('00') })).nonce).toBe(0n);
    expect(accepted(query({ nonce: Uint8Array.of(0x7f, ...new Uint8Array(63).fill(0xff)) })).nonce).toBe((1n << 511n) - 1n);
    expect(accepted(query({ nonce: Uint8Array.of(0x00, ...new Uint8Array(64).fill(0xff)) })).nonce).toBe((1n << 512n) - 1n);
  });

  it('refuses with the RFC 3161 section 2.4.2 failInfo and a text', () => {
    const good = query({ nonce: fromHex('0102030405060708'), certReq: true });
    const cases: [Uint8Array, PkiFailureInfo, RegExp][] = [
      [new Uint8Array(0), 'badDataFormat', /empty/],
      [new TextEncoder().encode('garbage'), 'badDataFormat', /not one DER SEQUENCE/],
      [good.subarray(0, good.length - 1), 'badDataFormat', /not one DER SEQUENCE/],
      [Uint8Array.of(...good, 0), 'badDataFormat', /not one DER SEQUENCE/],
      [fromHex('3003020101'), 'badDataFormat', /not a TimeStampReq/],
      [new Uint8Array(MAX_QUERY_BYTES + 1), 'badRequest', /longer than 4096/],
      [explicitFalseCertReq(), 'badDataFormat', /not in DER/],
      [query({ version: 2 }), 'badRequest', /version must be 1/],
      [query({ alg: id_sha1, imprint: new Uint8Array(20) }), 'badAlg', /SHA-1 is not accepted/],
      [query({ alg: '2.16.840.1.101.3.4.2.8' }), 'badAlg', /2\.16\.840\.1\.101\.3\.4\.2\.8 is not accepted/],
      [query({ params: ab(fromHex('0400')) }), 'badAlg', /parameters/],
      [query({ imprint: new Uint8Array(31) }), 'badDataFormat', /31 bytes; sha256 gives 32/],
      [query({ alg: id_sha512, imprint: new Uint8Array(32) }), 'badDataFormat', /32 bytes; sha512 gives 64/],
      [query({ policy: '1.2.3.4' }), 'unacceptedPolicy', /policy 1\.2\.3\.4 is not this TSA's/],
      [query({ policy: OTHER.policy }), 'unacceptedPolicy', /is not this TSA's/],
      [query({ extensions: new Extensions([new Extension({ extnID: '1.2.3.4', critical: false, extnValue: new OctetString(new Uint8Array(2)) })]) }), 'unacceptedExtension', /no extensions/],
      [query({ nonce: fromHex('ff') }), 'badRequest', /negative/],
      [query({ nonce: fromHex('0001') }), 'badDataFormat', /nonce not in DER/],
      [query({ nonce: Uint8Array.of(0x01, ...new Uint8Array(64)) }), 'badRequest', /nonce longer than 64 bytes/],
    ];
    for (const [bytes, failInfo, text] of cases) {
      const [f, t] = refusal(bytes);
      expect([f, t], t).toEqual([failInfo, expect.stringMatching(text)]);
    }
    expect(accepted(good).certReq).toBe(true); // the control: the untouched query passes
  });

  it('never throws: random bytes and every one-byte change of a good query give an answer', () => {
    const good = query({ nonce: fromHex('0102030405060708'), certReq: true, policy: G.policy });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const r = parseTimeStampQuery(bytes, G.policy);
        return typeof r.ok === 'boolean';
      }),
      { numRuns: 500 },
    );
    let refused = 0;
    for (let i = 0; i < good.length; i++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const b = good.slice();
        b[i]! ^= mask;
        const r = parseTimeStampQuery(b, G.policy);
        if (!r.ok) refused++;
        else expect(bytesEqual(b, good)).toBe(false);
      }
    }
    expect(refused).toBeGreaterThan(good.length); // most changes break something
  });

  it('a policy argument that is not an OID is the caller’s mistake (TspError)', () => {
    expect(() => parseTimeStampQuery(query(), 'policy')).toThrow(TspError);
  });
});

/** certReq written as an explicit BOOLEAN FALSE: BER allows it, DER forbids a DEFAULT value (X.690 11.5). */
function explicitFalseCertReq(): Uint8Array {
  const q = query();
  const body = Uint8Array.of(...q.subarray(2), 0x01, 0x01, 0x00);
  return Uint8Array.of(0x30, body.length, ...body);
}

/** DER-encoded GeneralizedTime text inside a TSTInfo. */
function genTimeText(tstInfo: Uint8Array): string {
  const m = /\x18([\x0f-\x13])(\d{14}(?:\.\d+)?Z)/.exec(ascii(tstInfo));
  if (!m) throw new Error('no GeneralizedTime');
  expect(m[1]!.charCodeAt(0)).toBe(m[2]!.length);
  return m[2]!;
}

describe('prepareTimeStampToken', () => {
  const q = accepted(query({ nonce: fromHex('00db18392e5fa4d045'), certReq: true }));

  it('is deterministic: the same inputs give the same bytes, any other input other bytes', () => {
    const a = prepareTimeStampToken(input(q));
    const b = prepareTimeStampToken(input(accepted(query({ nonce: fromHex('00db18392e5fa4d045'), certReq: true }))));
    expect(toHex(b.tstInfo)).toBe(toHex(a.tstInfo));
    expect(toHex(b.signedAttributes)).toBe(toHex(a.signedAttributes));
    expect(toHex(b.digest)).toBe(toHex(a.digest));
    for (const other of [input(q, { serial: 12346n }), input(q, { genTime: new Date(GEN_TIME.getTime() + 1) }), input(q, { policy: OTHER.policy }), input(q, { tsaCertificate: OTHER.tsaDer }), input(q, { accuracy: { seconds: 1 } })]) {
      expect(toHex(prepareTimeStampToken(other).digest)).not.toBe(toHex(a.digest));
    }
  });

  it('TSTInfo: version 1, policy, the imprint as sent, serial, genTime, nonce, tsa = the TSA subject', () => {
    const p = prepareTimeStampToken(input(q));
    const t = AsnConvert.parse(p.tstInfo, TspTstInfo);
    expect(toHex(der(t))).toBe(toHex(p.tstInfo));
    expect(t.version).toBe(1);
    expect(t.policy).toBe(G.policy);
    expect(t.messageImprint.hashAlgorithm).toMatchObject({ algorithm: id_sha256, parameters: null });
    expect(new Uint8Array(t.messageImprint.hashedMessage.buffer)).toEqual(q.hashedMessage);
    expect(toHex(new Uint8Array(t.serialNumber))).toBe('3039');
    expect(toHex(new Uint8Array(t.nonce!))).toBe('00db18392e5fa4d045');
    expect(t.genTime.toISOString()).toBe('2026-05-03T12:34:56.780Z');
    expect(t.accuracy).toBeUndefined();
    expect(t.ordering).toBe(false);
    expect(t.extensions).toBeUndefined();
    expect(ascii(p.tstInfo)).toContain('Sintra Edge group TSA');
    // The imprint's parameters are echoed as the query had them: absent stays absent.
    const noParams = prepareTimeStampToken(input(accepted(query({ params: undefined }))));
    expect(AsnConvert.parse(noParams.tstInfo, TspTstInfo).messageImprint.hashAlgorithm.parameters).toBeUndefined();
    expect(AsnConvert.parse(noParams.tstInfo, TspTstInfo).nonce).toBeUndefined();
  });

  it('genTime is GeneralizedTime in UTC with Z and no trailing zeros in the fraction (X.690 11.7)', () => {
    const at = (iso: string) => genTimeText(prepareTimeStampToken(input(q, { genTime: new Date(iso) })).tstInfo);
    expect(at('2026-05-03T12:34:56.000Z')).toBe('20260503123456Z');
    expect(at('2026-05-03T12:34:56.780Z')).toBe('20260503123456.78Z');
    expect(at('2026-05-03T12:34:56.500Z')).toBe('20260503123456.5Z');
    expect(at('2026-05-03T12:34:56.001Z')).toBe('20260503123456.001Z');
    expect(at('2050-12-31T23:59:59.999Z')).toBe('20501231235959.999Z');
  });

  it('accuracy and serial numbers are encoded as given; out-of-range arguments are refused', () => {
    const t = (extra: Partial<TimeStampTokenInput>) => AsnConvert.parse(prepareTimeStampToken(input(q, extra)).tstInfo, TspTstInfo);
    const fields = (a: object | undefined) => Object.entries(a ?? {}).filter(([, v]) => v !== undefined);
    expect(fields(t({ accuracy: { seconds: 2 } }).accuracy)).toEqual([['seconds', 2]]);
    expect(fields(t({ accuracy: { seconds: 1, millis: 500, micros: 7 } }).accuracy)).toEqual([['seconds', 1], ['millis', 500], ['micros', 7]]);
    // Parsed back, asn1-tsp presets seconds = 0; the bytes hold only millis: [0] IMPLICIT INTEGER 500.
    expect(toHex(prepareTimeStampToken(input(q, { accuracy: { millis: 500 } })).tstInfo)).toContain('300480020' + '1f4');
    expect(toHex(new Uint8Array(t({ serial: 0n }).serialNumber))).toBe('00');
    expect(toHex(new Uint8Array(t({ serial: 128n }).serialNumber))).toBe('0080');
    expect(toHex(new Uint8Array(t({ serial: (1n << 160n) - 1n }).serialNumber))).toBe(`00${'ff'.repeat(20)}`);
    const bad: Partial<TimeStampTokenInput>[] = [
      { serial: -1n },
      { serial: 1n << 160n },
      { serial: 5 as unknown as bigint },
      { genTime: new Date(Number.NaN) },
      { genTime: new Date(-1) },
      { genTime: new Date(Date.UTC(10000, 0, 1)) },
      { policy: '2.25.x' },
      { accuracy: {} },
      { accuracy: { seconds: 0 } },
      { accuracy: { millis: 1000 } },
      { accuracy: { micros: 0 } },
      { accuracy: { seconds: 1.5 } },
      { tsaCertificate: new Uint8Array(10) },
      { tsaCertificate: Uint8Array.of(...G.tsaDer, 0) },
      { query: { ...q, hashedMessage: new Uint8Array(31) } },
      { query: { ...q, nonce: -1n } },
    ];
    for (const b of bad) expect(() => prepareTimeStampToken(input(q, b)), JSON.stringify(Object.keys(b))).toThrow(TspError);
  });

  it('signed attributes: a DER SET (0x31) of contentType, messageDigest, signingCertificateV2, in DER order; digest = SHA-256 of it', () => {
    const p = prepareTimeStampToken(input(q));
    expect(p.signedAttributes[0]).toBe(0x31);
    expect(toHex(p.digest)).toBe(toHex(sha256(p.signedAttributes)));
    const h = toHex(p.signedAttributes);
    const contentType = '301a06092a864886f70d010903310d060b2a864886f70d0109100104';
    const messageDigest = `302f06092a864886f70d01090431220420${toHex(sha256(p.tstInfo))}`;
    const essStart = `060b2a864886f70d010910022f`; // id-aa-signingCertificateV2
    expect(h.indexOf(contentType)).toBeGreaterThan(0);
    expect(h.indexOf(messageDigest)).toBeGreaterThan(h.indexOf(contentType));
    expect(h.indexOf(essStart)).toBeGreaterThan(h.indexOf(messageDigest));
    // ESSCertIDv2: hashAlgorithm omitted (DEFAULT sha256), certHash = SHA-256 of the TSA certificate, issuerSerial.
    expect(h).toContain(`0420${toHex(sha256(G.tsaDer))}30`);
    expect(h).not.toContain('0609608648016503040201'); // no explicit sha256 anywhere in the attributes
    expect(h).not.toContain('06092a864886f70d010905'); // no signingTime
    expect(h).toContain(toHex(new Uint8Array(AsnConvert.parse(G.tsaDer, Certificate).tbsCertificate.serialNumber)));
  });

  it('derSetOrder sorts as X.690 section 11.6 says (shorter padded with zero octets)', () => {
    const sorted = derSetOrder([fromHex('3103'), fromHex('3001ff'), fromHex('30'), fromHex('3001')]).map(toHex);
    expect(sorted).toEqual(['30', '3001', '3001ff', '3103']);
  });
});

describe('threshold signatures and the assembled reply', () => {
  const q = accepted(query({ nonce: fromHex('0102030405060708'), certReq: true, policy: G.policy }));
  const prepared = prepareTimeStampToken(input(q));

  it('any 2 of the 4 replicas’ shares combine to the whole key’s signature', () => {
    const whole = G.wholeKeySign(prepared.digest);
    for (const signers of [[0, 1], [2, 3], [3, 1], [0, 2, 3]]) expect(toHex(G.thresholdSign(prepared.digest, signers))).toBe(toHex(whole));
  });

  it('the reply verifies (our verifier) and says what was put in', () => {
    const reply = assembleTimeStampReply(prepared, G.thresholdSign(prepared.digest, [1, 2]));
    const r = verifyTimeStampReply(reply, { tsaCertificate: G.tsaDer, query: q, policy: G.policy });
    expect(r).toMatchObject({ ok: true, token: { policy: G.policy, serial: 12345n, genTime: GEN_TIME, nonce: 0x0102030405060708n, hashAlgorithmOid: id_sha256 } });
    expect(r.ok && toHex(r.token.tstInfo)).toBe(toHex(prepared.tstInfo));
    // Same inputs, same reply bytes (the signature is deterministic too).
    expect(toHex(assembleTimeStampReply(prepareTimeStampToken(input(q)), G.wholeKeySign(prepared.digest)))).toBe(toHex(reply));
  });

  it('SignedData: v3, sha256, id-ct-TSTInfo, one SignerInfo v1 with the signed SET re-tagged [0] IMPLICIT, rsaEncryption', () => {
    const reply = assembleTimeStampReply(prepared, G.wholeKeySign(prepared.digest));
    const resp = AsnConvert.parse(reply, TimeStampResp);
    expect(resp.status.status).toBe(0);
    expect(resp.timeStampToken!.contentType).toBe('1.2.840.113549.1.7.2');
    const sd = AsnConvert.parse(resp.timeStampToken!.content, SignedData);
    expect(sd.version).toBe(3);
    expect(sd.digestAlgorithms.map((a) => [a.algorithm, a.parameters])).toEqual([[id_sha256, undefined]]);
    expect(sd.encapContentInfo.eContentType).toBe('1.2.840.113549.1.9.16.1.4');
    expect(toHex(new Uint8Array(sd.encapContentInfo.eContent!.single!.buffer))).toBe(toHex(prepared.tstInfo));
    expect(sd.certificates).toHaveLength(1);
    expect(sd.crls).toBeUndefined();
    const si = sd.signerInfos[0]!;
    expect(si.version).toBe(1);
    expect(si.signatureAlgorithm).toMatchObject({ algorithm: '1.2.840.113549.1.1.1', parameters: null });
    expect(si.unsignedAttrs).toBeUndefined();
    const implicit = `a0${toHex(prepared.signedAttributes).slice(2)}`;
    expect(toHex(reply)).toContain(implicit);
  });

  it('certificates exactly when certReq: the TSA certificate, plus extra ones, in DER order', () => {
    const certsOf = (reply: Uint8Array) => AsnConvert.parse(AsnConvert.parse(reply, TimeStampResp).timeStampToken!.content, SignedData).certificates;
    const noCert = prepareTimeStampToken(input(accepted(query())));
    expect(certsOf(assembleTimeStampReply(noCert, G.wholeKeySign(noCert.digest), { extraCertificates: [G.rootDer] }))).toBeUndefined();
    const withRoot = certsOf(assembleTimeStampReply(prepared, G.wholeKeySign(prepared.digest), { extraCertificates: [G.rootDer, G.tsaDer] }))!;
    const ders = withRoot.map((c) => der(c.certificate));
    expect(ders).toHaveLength(2); // the TSA certificate once
    expect(ders.map(toHex)).toEqual(derSetOrder([G.rootDer, G.tsaDer]).map(toHex));
  });

  it('refuses a signature that does not verify, and prepared bytes that do not belong together', () => {
    const sig = G.wholeKeySign(prepared.digest);
    const flipped = sig.slice();
    flipped[10]! ^= 1;
    expect(() => assembleTimeStampReply(prepared, flipped)).toThrow(/does not verify/);
    expect(() => assembleTimeStampReply(prepared, OTHER.wholeKeySign(prepared.digest))).toThrow(/does not verify/);
    const otherTst = prepareTimeStampToken(input(q, { serial: 1n })).tstInfo;
    expect(() => assembleTimeStampReply({ ...prepared, tstInfo: otherTst }, sig)).toThrow(/signed attributes are not those/);
    expect(() => assembleTimeStampReply({ ...prepared, tsaCertificate: OTHER.tsaDer }, sig)).toThrow(TspError);
    expect(() => assembleTimeStampReply(prepared, sig, { extraCertificates: [new Uint8Array(3)] })).toThrow(TspError);
    expect(() => assembleTimeStampReply(prepared, sig)).not.toThrow(); // the control
  });

  it('our verifier refuses every one-byte change of a reply (no certificates: every byte is structure, signed or signature)', () => {
    const nq = accepted(query({ nonce: fromHex('0102030405060708') }));
    const p = prepareTimeStampToken(input(nq));
    const reply = assembleTimeStampReply(p, G.wholeKeySign(p.digest));
    expect(verifyTimeStampReply(reply, { tsaCertificate: G.tsaDer, query: nq, policy: G.policy }).ok).toBe(true);
    // PKIStatus INTEGER 0 (after the outer header): 0 -> 1 is grantedWithMods, unsigned and still a grant.
    const statusByte = toHex(reply).indexOf('3003020100') / 2 + 4;
    expect(statusByte).toBe(8);
    const passed: number[] = [];
    for (let i = 0; i < reply.length; i++) {
      for (const mask of [0x01, 0xff]) {
        const b = reply.slice();
        b[i]! ^= mask;
        if (verifyTimeStampReply(b, { tsaCertificate: G.tsaDer, query: nq, policy: G.policy }).ok) passed.push(i * 1000 + mask);
      }
    }
    expect(reply[statusByte]).toBe(0);
    expect(passed).toEqual([statusByte * 1000 + 1]);
  });

  it('our verifier refuses another query, policy or TSA certificate, and reads failure replies', () => {
    const reply = assembleTimeStampReply(prepared, G.wholeKeySign(prepared.digest));
    const noNonce = accepted(query({ certReq: true }));
    expect(verifyTimeStampReply(reply, { tsaCertificate: G.tsaDer, query: noNonce })).toMatchObject({ ok: false, reason: expect.stringMatching(/nonce the query did not send/) });
    const otherImprint = accepted(query({ imprint: new Uint8Array(32), nonce: fromHex('0102030405060708') }));
    expect(verifyTimeStampReply(reply, { tsaCertificate: G.tsaDer, query: otherImprint })).toMatchObject({ ok: false, reason: expect.stringMatching(/imprint/) });
    expect(verifyTimeStampReply(reply, { tsaCertificate: G.tsaDer, policy: OTHER.policy })).toMatchObject({ ok: false, reason: expect.stringMatching(/policy/) });
    expect(verifyTimeStampReply(reply, { tsaCertificate: OTHER.tsaDer })).toMatchObject({ ok: false });
    expect(verifyTimeStampReply(new Uint8Array(0), { tsaCertificate: G.tsaDer }).ok).toBe(false);
    expect(verifyTimeStampReply(timeStampFailureReply('unacceptedPolicy', 'no'), { tsaCertificate: G.tsaDer })).toEqual({ ok: false, reason: 'TSA refused (status 2, unacceptedPolicy): no', failInfo: ['unacceptedPolicy'] });
    expect(() => verifyTimeStampReply(reply, { tsaCertificate: new Uint8Array(1) })).toThrow(TspError);
  });
});

describe('timeStampFailureReply', () => {
  it('status rejection, the text, and the RFC 3161 bit (not asn1-tsp’s off-by-one flags)', () => {
    const expected: Record<PkiFailureInfo, string> = {
      badAlg: '03020780',
      badRequest: '03020520',
      badDataFormat: '03020204',
      timeNotAvailable: '0303010002',
      unacceptedPolicy: '0303000001',
      unacceptedExtension: '030407000080',
      addInfoNotAvailable: '030406000040',
      systemFailure: '03050600000040',
    };
    for (const [name, bits] of Object.entries(expected) as [PkiFailureInfo, string][]) {
      const reply = timeStampFailureReply(name, 'why');
      // TimeStampResp { PKIStatusInfo { status 2, PKIFreeText { UTF8String "why" }, failInfo } }, no token.
      const info = `020102${'30050c03776879'}${bits}`;
      const inner = `30${(info.length / 2).toString(16).padStart(2, '0')}${info}`;
      expect(toHex(reply)).toBe(`30${(inner.length / 2).toString(16).padStart(2, '0')}${inner}`);
      expect(PKI_FAILURE_BITS[name]).toBeLessThan(26);
    }
    expect(() => timeStampFailureReply('nope' as PkiFailureInfo, 'x')).toThrow(TspError);
    expect(() => timeStampFailureReply('badAlg', '')).toThrow(TspError);
    expect(() => timeStampFailureReply('badAlg', 'x'.repeat(257))).toThrow(TspError);
  });
});

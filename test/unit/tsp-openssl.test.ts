/**
 * RFC 3161 interop with OpenSSL 3 (`openssl ts`): queries made by `openssl ts -query`, replies built by
 * shared/crypto/tsp.ts and signed by 2 of 4 replicas' threshold RSA shares, then
 * `openssl ts -verify -queryfile q.tsq -in r.tsr -CAfile root-ca.pem -untrusted tsa.pem` must say OK,
 * `openssl ts -reply -text` must show the serial, time, policy and nonce put in, a reply changed in one
 * byte (TSTInfo, signed attributes, signature) must fail, and refused queries must give failure replies
 * OpenSSL reads with the right failure text. Skipped, with a message, where OpenSSL 3 is missing.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { TimeStampReq } from '@peculiar/asn1-tsp';
import { Extension, Extensions } from '@peculiar/asn1-x509';
import { toHex } from '../../shared/crypto/bytes.ts';
import { sha256 } from '../../shared/crypto/sha256.ts';
import { PKI_FAILURE_BITS } from '../../shared/crypto/tsp-asn1.ts';
import type { PkiFailureInfo } from '../../shared/crypto/tsp-asn1.ts';
import { parseTimeStampQuery } from '../../shared/crypto/tsp-query.ts';
import { assembleTimeStampReply, prepareTimeStampToken, timeStampFailureReply } from '../../shared/crypto/tsp.ts';
import type { PreparedTimeStampToken } from '../../shared/crypto/tsp.ts';
import { verifyTimeStampReply } from '../../shared/crypto/tsp-verify.ts';
import { tspGroup } from '../helpers/tsp.ts';

const HAVE_OPENSSL = (() => {
  try {
    return /^OpenSSL 3\./.test(execFileSync('openssl', ['version'], { encoding: 'utf8' }));
  } catch {
    return false;
  }
})();
if (!HAVE_OPENSSL) process.stderr.write('openssl 3 not found: the OpenSSL checks of RFC 3161 tokens are SKIPPED (apt install openssl)\n');

function openssl(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('openssl', args, { cwd }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }));
  });
}

const G = tspGroup('tsp/openssl');
const GEN_TIME = new Date('2026-05-03T12:34:56.780Z');
/** OpenSSL's texts for the RFC 3161 failure bits (crypto/ts/ts_rsp_print.c). */
const OPENSSL_FAILURE_TEXT: Record<PkiFailureInfo, string> = {
  badAlg: 'unrecognized or unsupported algorithm identifier',
  badRequest: 'transaction not permitted or supported',
  badDataFormat: 'the data submitted has the wrong format',
  timeNotAvailable: "the TSA's time source is not available",
  unacceptedPolicy: 'the requested TSA policy is not supported by the TSA',
  unacceptedExtension: 'the requested extension is not supported by the TSA',
  addInfoNotAvailable: 'the additional information requested could not be understood or is not available',
  systemFailure: 'the request cannot be handled due to system failure',
};

let dir = '';
const file = (name: string) => path.join(dir, name);
const verifyArgs = (q: string, r: string) => ['ts', '-verify', '-queryfile', q, '-in', r, '-CAfile', 'root-ca.pem', '-untrusted', 'tsa.pem'];

/** Query file -> reply file, signed by the shares of `signers`; returns what was prepared. */
async function stamp(queryFile: string, replyFile: string, serial: bigint, signers: number[] = [0, 3]): Promise<PreparedTimeStampToken> {
  const parsed = parseTimeStampQuery(new Uint8Array(await readFile(file(queryFile))), G.policy);
  if (!parsed.ok) throw new Error(`refused: ${parsed.text}`);
  const prepared = prepareTimeStampToken({ query: parsed.query, policy: G.policy, serial, genTime: GEN_TIME, tsaCertificate: G.tsaDer, accuracy: { seconds: 1 } });
  const signature = G.thresholdSign(prepared.digest, signers);
  expect(toHex(signature)).toBe(toHex(G.wholeKeySign(prepared.digest)));
  await writeFile(file(replyFile), assembleTimeStampReply(prepared, signature));
  return prepared;
}

describe.skipIf(!HAVE_OPENSSL)('RFC 3161 tokens and OpenSSL 3', () => {
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sintra-tsp-'));
    await writeFile(file('root-ca.pem'), G.rootPem);
    await writeFile(file('tsa.pem'), G.tsaPem);
    await writeFile(file('data.txt'), 'a document to stamp\n');
    await writeFile(file('other.txt'), 'another document\n');
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('openssl ts -verify accepts replies to sha256 / sha384 / sha512 queries, with and without nonce, certReq and policy', async () => {
    const variants: [string, string[]][] = [
      ['q1', ['-sha256', '-cert']],
      ['q2', ['-sha256', '-no_nonce']],
      ['q3', ['-sha512', '-cert']],
      ['q4', ['-sha384']],
      ['q5', ['-sha256', '-cert', '-tspolicy', G.policy]],
    ];
    let serial = 100n;
    for (const [name, args] of variants) {
      expect((await openssl(['ts', '-query', '-data', 'data.txt', ...args, '-out', `${name}.tsq`], dir)).code).toBe(0);
      await stamp(`${name}.tsq`, `${name}.tsr`, serial++);
      const ok = await openssl(verifyArgs(`${name}.tsq`, `${name}.tsr`), dir);
      expect(ok, `${name} ${args.join(' ')}: ${ok.stderr}`).toMatchObject({ code: 0, stdout: 'Verification: OK\n' });
      // Also against the data itself, not only the query.
      const digestOpt = args.find((a) => /^-sha/.test(a))!;
      const byData = await openssl(['ts', '-verify', '-data', 'data.txt', '-in', `${name}.tsr`, '-CAfile', 'root-ca.pem', '-untrusted', 'tsa.pem'], dir);
      expect(byData.code, `${name} ${digestOpt}`).toBe(0);
    }
    // The negative control: a query for another document does not match the reply.
    expect((await openssl(['ts', '-query', '-data', 'other.txt', '-sha256', '-cert', '-out', 'other.tsq'], dir)).code).toBe(0);
    expect((await openssl(verifyArgs('other.tsq', 'q1.tsr'), dir)).code).not.toBe(0);
    // Without the untrusted TSA certificate, a reply to a query without -cert has no signer certificate.
    expect((await openssl(['ts', '-verify', '-queryfile', 'q2.tsq', '-in', 'q2.tsr', '-CAfile', 'root-ca.pem'], dir)).code).not.toBe(0);
  });

  it('a 2048-bit group key (the dealer\'s default size): 2 shares, openssl ts -verify OK', async () => {
    const big = tspGroup('tsp/openssl-2048', 2048);
    const sub = await mkdtemp(path.join(dir, 'k2048-'));
    await writeFile(path.join(sub, 'root-ca.pem'), big.rootPem);
    await writeFile(path.join(sub, 'tsa.pem'), big.tsaPem);
    await writeFile(path.join(sub, 'data.txt'), 'a document to stamp\n');
    expect((await openssl(['ts', '-query', '-data', 'data.txt', '-sha256', '-cert', '-out', 'q.tsq'], sub)).code).toBe(0);
    const parsed = parseTimeStampQuery(new Uint8Array(await readFile(path.join(sub, 'q.tsq'))), big.policy);
    if (!parsed.ok) throw new Error(parsed.text);
    const prepared = prepareTimeStampToken({ query: parsed.query, policy: big.policy, serial: 7n, genTime: GEN_TIME, tsaCertificate: big.tsaDer });
    const signature = big.thresholdSign(prepared.digest, [2, 1]);
    expect(signature).toHaveLength(256);
    expect(toHex(signature)).toBe(toHex(big.wholeKeySign(prepared.digest)));
    await writeFile(path.join(sub, 'r.tsr'), assembleTimeStampReply(prepared, signature));
    expect(await openssl(verifyArgs('q.tsq', 'r.tsr'), sub)).toMatchObject({ code: 0, stdout: 'Verification: OK\n' });
  }, 120_000);

  it('openssl ts -reply -text shows the serial, genTime, policy, nonce and TSA name put in', async () => {
    expect((await openssl(['ts', '-query', '-data', 'data.txt', '-sha256', '-cert', '-out', 'text.tsq'], dir)).code).toBe(0);
    const q = parseTimeStampQuery(new Uint8Array(await readFile(file('text.tsq'))), G.policy);
    await stamp('text.tsq', 'text.tsr', 0xabcdefn);
    const r = await openssl(['ts', '-reply', '-in', 'text.tsr', '-text'], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Status: Granted.');
    expect(r.stdout).toContain('Serial number: 0xABCDEF\n');
    expect(r.stdout).toContain('Time stamp: May  3 12:34:56.78 2026 GMT\n');
    expect(r.stdout).toContain(`Policy OID: ${G.policy}\n`);
    expect(r.stdout).toContain('Hash Algorithm: sha256\n');
    expect(r.stdout).toContain('Accuracy: 0x01 seconds, unspecified millis, unspecified micros\n');
    expect(r.stdout).toContain('Ordering: no\n');
    if (!q.ok || q.query.nonce === undefined) throw new Error('openssl sent no nonce');
    const nonceHex = q.query.nonce.toString(16).toUpperCase();
    expect(r.stdout).toContain(`Nonce: 0x${nonceHex.length % 2 ? '0' : ''}${nonceHex}\n`); // BN_bn2hex: whole bytes
    expect(r.stdout).toContain(`TSA: DirName:/CN=${toHex(G.group.groupId).slice(0, 16)} Sintra Edge group TSA/serialNumber=${toHex(G.group.groupId)}\n`);
  });

  it('a reply changed in one byte fails openssl ts -verify: in the TSTInfo, the signed attributes and the signature', async () => {
    expect((await openssl(['ts', '-query', '-data', 'data.txt', '-sha256', '-cert', '-out', 'alt.tsq'], dir)).code).toBe(0);
    const prepared = await stamp('alt.tsq', 'alt.tsr', 4242n);
    const reply = new Uint8Array(await readFile(file('alt.tsr')));
    expect((await openssl(verifyArgs('alt.tsq', 'alt.tsr'), dir)).code).toBe(0); // the control
    const hex = toHex(reply);
    const at = (needle: Uint8Array) => {
      const i = hex.indexOf(toHex(needle));
      expect(i % 2).toBe(0);
      return i / 2;
    };
    const tst = at(prepared.tstInfo);
    const parsedQuery = parseTimeStampQuery(new Uint8Array(await readFile(file('alt.tsq'))), G.policy);
    if (!parsedQuery.ok) throw new Error('refused');
    const imprint = parsedQuery.query.hashedMessage;
    const attrsHex = `a0${toHex(prepared.signedAttributes).slice(2)}`;
    const attrs = hex.indexOf(attrsHex) / 2;
    const signature = G.wholeKeySign(prepared.digest);
    const sig = at(signature);
    expect(tst > 0 && attrs > tst && sig > attrs).toBe(true);
    expect(toHex(reply.subarray(attrs + 21, attrs + 32))).toBe('2a864886f70d0109100104'); // id-ct-TSTInfo in contentType
    const positions: [string, number][] = [
      ['TSTInfo: serial number', tst + toHex(prepared.tstInfo).indexOf('02021092') / 2 + 3], // INTEGER 4242
      ['TSTInfo: genTime seconds', tst + toHex(prepared.tstInfo).indexOf(toHex(new TextEncoder().encode('20260503123456.78Z'))) / 2 + 13],
      ['TSTInfo: policy', tst + 12],
      ['TSTInfo: imprint', at(imprint) + 7],
      ['TSTInfo: last byte', tst + prepared.tstInfo.length - 1],
      ['signed attributes: messageDigest', attrs + toHex(prepared.signedAttributes).indexOf('0420') / 2 + 10],
      ['signed attributes: ESSCertIDv2 certHash', at(sha256(G.tsaDer)) + 5],
      ['signed attributes: ESSCertIDv2 issuerSerial', attrs + prepared.signedAttributes.length - 5],
      ['signed attributes: contentType id-ct-TSTInfo', attrs + 30],
      ['signature: first byte', sig],
      ['signature: middle', sig + 64],
      ['signature: last byte', sig + signature.length - 1],
    ];
    for (const [what, i] of positions) {
      expect(i, what).toBeGreaterThan(0);
      const b = reply.slice();
      b[i]! ^= 0x01;
      await writeFile(file('bad.tsr'), b);
      const r = await openssl(verifyArgs('alt.tsq', 'bad.tsr'), dir);
      expect(r.code, `${what} (byte ${i}) verified: ${r.stdout}`).not.toBe(0);
      expect(verifyTimeStampReply(b, { tsaCertificate: G.tsaDer }).ok, what).toBe(false);
    }
  });

  it('refused queries get failure replies that openssl ts -reply reads, with the right failure text', async () => {
    expect((await openssl(['ts', '-query', '-data', 'data.txt', '-sha256', '-cert', '-out', 'good.tsq'], dir)).code).toBe(0);
    expect((await openssl(['ts', '-query', '-data', 'data.txt', '-sha1', '-out', 'sha1.tsq'], dir)).code).toBe(0);
    expect((await openssl(['ts', '-query', '-data', 'data.txt', '-sha256', '-tspolicy', '1.2.3.4', '-out', 'policy.tsq'], dir)).code).toBe(0);
    const good = new Uint8Array(await readFile(file('good.tsq')));
    const goodHex = toHex(good);
    const sha256Oid = '0609608648016503040201';
    const unknownHash = Buffer.from(goodHex.replace(sha256Oid, '0609608648016503040208'), 'hex'); // 2.16.840.1.101.3.4.2.8, SHA3-256
    const shortImprint = (() => {
      const req = AsnConvert.parse(good, TimeStampReq);
      req.messageImprint.hashedMessage = new OctetString(new Uint8Array(31));
      return new Uint8Array(AsnConvert.serialize(req));
    })();
    const withExtension = (() => {
      const req = AsnConvert.parse(good, TimeStampReq);
      req.extensions = new Extensions([new Extension({ extnID: '1.3.6.1.4.1.99999.1', critical: false, extnValue: new OctetString(new Uint8Array([5, 0])) })]);
      return new Uint8Array(AsnConvert.serialize(req));
    })();
    const cases: [string, Uint8Array, PkiFailureInfo][] = [
      ['garbage', new TextEncoder().encode('this is not a query'), 'badDataFormat'],
      ['truncated', good.subarray(0, good.length - 3), 'badDataFormat'],
      ['trailing byte', Uint8Array.of(...good, 0), 'badDataFormat'],
      ['SHA-1', new Uint8Array(await readFile(file('sha1.tsq'))), 'badAlg'],
      ['unknown hash OID', new Uint8Array(unknownHash), 'badAlg'],
      ['31-byte SHA-256 imprint', shortImprint, 'badDataFormat'],
      ['another policy', new Uint8Array(await readFile(file('policy.tsq'))), 'unacceptedPolicy'],
      ['an extension', withExtension, 'unacceptedExtension'],
    ];
    for (const [what, bytes, failInfo] of cases) {
      const r = parseTimeStampQuery(bytes, G.policy);
      expect(r.ok ? 'accepted' : r.failInfo, what).toBe(failInfo);
      if (r.ok) continue;
      await writeFile(file('fail.tsr'), timeStampFailureReply(r.failInfo, r.text));
      const text = await openssl(['ts', '-reply', '-in', 'fail.tsr', '-text'], dir);
      expect(text.code, what).toBe(0);
      expect(text.stdout, what).toContain('Status: Rejected.\n');
      expect(text.stdout, what).toContain(`Status description: ${r.text}\n`);
      expect(text.stdout, what).toContain(`Failure info: ${OPENSSL_FAILURE_TEXT[failInfo]}\n`);
      expect(text.stdout, what).toContain('TST info:\nNot included.');
    }
    // Every failure bit, as OpenSSL names it: the bit numbers are RFC 3161's.
    for (const name of Object.keys(PKI_FAILURE_BITS) as PkiFailureInfo[]) {
      await writeFile(file('bit.tsr'), timeStampFailureReply(name, `bit ${name}`));
      const text = await openssl(['ts', '-reply', '-in', 'bit.tsr', '-text'], dir);
      expect(text.stdout, name).toContain(`Failure info: ${OPENSSL_FAILURE_TEXT[name]}\n`);
    }
  });
});

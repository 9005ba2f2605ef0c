/**
 * The threshold RSA part of a deal (issue 16): group.json keys.rsa and the replicas' shares, parsed strictly;
 * the root CA and TSA certificates (shared/crypto/x509.ts) checked by our own checker and by two independent
 * ones, OpenSSL 3 (`openssl x509`, `openssl verify -purpose timestampsign`, `openssl ts -verify` of an
 * RFC 3161 token, `openssl dgst -verify`) and node:crypto's X509Certificate; a signature combined from k
 * replicas' shares verifies under the certificate's key. Keys come from the fixed safe primes of test/fixtures/threshold-rsa-primes.json.
 */
import { execFile, execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deal } from '../../shared/config/deal.ts';
import type { DealOutput, RsaDealOptions } from '../../shared/config/deal.ts';
import { ConfigError, parseGroup, parseReplicaSecrets, verifyReplicaSecrets } from '../../shared/config/group.ts';
import type { GroupFile, SecretsFile } from '../../shared/config/group.ts';
import { bigintToBytes, fromHex, toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { CryptoError } from '../../shared/crypto/errors.ts';
import { bitLength, modInverse } from '../../shared/crypto/modular.ts';
import { derToPem, pemToDer } from '../../shared/crypto/pem.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { rsaVerify } from '../../shared/crypto/rsa.ts';
import { sha256 } from '../../shared/crypto/sha256.ts';
import { ThresholdRsaError, combineShares, dealThresholdRsa, signShare } from '../../shared/crypto/threshold-rsa.ts';
import type { DealerSign } from '../../shared/crypto/threshold-rsa.ts';
import { X509Error, certificateSerial, checkGroupCertificates, issueGroupCertificates } from '../../shared/crypto/x509.ts';
import { parseStructureFile, thresholdStructure } from '../../shared/quorum/structure-file.ts';

type Mutable<T> = { -readonly [K in keyof T]: Mutable<T[K]> };
const clone = <T>(x: T): Mutable<T> => JSON.parse(JSON.stringify(x));

interface PrimePair {
  p: string;
  q: string;
}
const FIXTURE = JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../fixtures/threshold-rsa-primes.json'), 'utf8')) as { modulus1024: PrimePair[]; modulus2048: PrimePair };
const primes = (pair: PrimePair) => ({ p: BigInt(`0x${pair.p}`), q: BigInt(`0x${pair.q}`) });
const SMALL = primes(FIXTURE.modulus1024[0]!);
const OTHER = primes(FIXTURE.modulus1024[1]!);
const BIG = primes(FIXTURE.modulus2048);

const NOT_BEFORE = new Date('2026-01-01T00:00:00Z');
const NOT_AFTER = new Date('2036-01-01T00:00:00Z');
const rsaOptions = (pq: { p: bigint; q: bigint }, extra: Partial<RsaDealOptions> = {}): RsaDealOptions => ({ ...pq, notBefore: NOT_BEFORE, notAfter: NOT_AFTER, ...extra });

function problem(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError || e instanceof CryptoError) return e.message;
    throw e;
  }
  return 'accepted';
}

const HAVE_OPENSSL = (() => {
  try {
    return /^OpenSSL 3\./.test(execFileSync('openssl', ['version'], { encoding: 'utf8' }));
  } catch {
    return false;
  }
})();
if (!HAVE_OPENSSL) process.stderr.write('openssl 3 not found: the OpenSSL checks of the group certificates are SKIPPED (apt install openssl)\n');

function openssl(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('openssl', args, { cwd }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }));
  });
}

const out: DealOutput = deal(thresholdStructure(4, 1), seededRandom('group-rsa/t41'), { testOnly: true, rsa: rsaOptions(SMALL) });
const group = parseGroup(clone(out.group));
const secrets = out.secrets.map((s) => parseReplicaSecrets(clone(s), group));
const rsaFile = out.group.keys.rsa!;

describe('deal with a threshold RSA key (n = 4, t = 1, 1024-bit test key)', () => {
  it('writes keys.rsa and one share per replica, and leaves the other keys as they are without RSA', () => {
    expect(Object.keys(rsaFile)).toEqual(['players', 'threshold', 'n', 'e', 'v', 'verificationKeys', 'rootCertificate', 'tsaCertificate']);
    expect(rsaFile).toMatchObject({ players: 4, threshold: 2, e: 65537 });
    expect(rsaFile.n).toBe(toHex(bigintToBytes(SMALL.p * SMALL.q, 128)));
    for (const x of [rsaFile.v, ...rsaFile.verificationKeys]) expect(x).toMatch(/^[0-9a-f]{256}$/);
    expect(rsaFile.rootCertificate).toMatch(/^-----BEGIN CERTIFICATE-----\n(?:[A-Za-z0-9+/=]{1,64}\n)+-----END CERTIFICATE-----\n$/);
    for (const s of out.secrets) expect(JSON.parse(s.SINTRA_KEY_SHARES).rsa).toMatch(/^[0-9a-f]{256}$/);

    const plain = deal(thresholdStructure(4, 1), seededRandom('group-rsa/t41'), { testOnly: true });
    const { rsa: _rsa, ...otherKeys } = out.group.keys;
    expect(plain.group.keys).toEqual(otherKeys);
    expect(plain.group.groupId).toBe(out.group.groupId);
    expect(deal(thresholdStructure(4, 1), seededRandom('group-rsa/t41'), { testOnly: true, rsa: rsaOptions(SMALL) })).toEqual(out); // deterministic
  });

  it('parses into the public key and shares; every share matches its verification key', () => {
    expect(group.rsa!.publicKey).toMatchObject({ n: SMALL.p * SMALL.q, e: 65537n, players: 4, threshold: 2 });
    expect(group.rsa!.rootCertificate).toBe(rsaFile.rootCertificate);
    for (const s of secrets) {
      expect(s.rsa!.signer).toBe(s.index);
      verifyReplicaSecrets(group, s);
    }
  });

  it('any 2 shares combine to a signature that node:crypto verifies with the TSA certificate key', () => {
    const message = utf8ToBytes('a time-stamp token, some day');
    const digest = sha256(message);
    const pk = group.rsa!.publicKey;
    const rng = seededRandom('group-rsa/sign');
    const cert = new X509Certificate(rsaFile.tsaCertificate);
    for (const pair of [[0, 1], [1, 3], [2, 0]]) {
      const shares = pair.map((i) => signShare(pk, secrets[i]!.rsa!, digest, rng));
      const { signature, faulty } = combineShares(pk, digest, shares);
      expect(faulty).toEqual([]);
      expect(rsaVerify(pk, message, signature)).toBe(true);
      expect(nodeVerify('sha256', message, cert.publicKey, signature)).toBe(true);
    }
  });

  it('the certificates pass our checker, and node:crypto reads them as root CA and TSA of one key', () => {
    const info = checkGroupCertificates(group.rsa!.publicKey, group.groupId, pemToDer(rsaFile.rootCertificate), pemToDer(rsaFile.tsaCertificate));
    expect(info).toMatchObject({ label: out.group.groupId.slice(0, 16), notBefore: NOT_BEFORE, notAfter: NOT_AFTER });
    expect(info.rootSerial).toMatch(/^[4-7][0-9a-f]{31}$/);
    const root = new X509Certificate(rsaFile.rootCertificate);
    const tsa = new X509Certificate(rsaFile.tsaCertificate);
    expect(root.ca).toBe(true);
    expect(tsa.ca).toBe(false);
    expect(root.subject).toBe(`CN=${out.group.groupId.slice(0, 16)} Sintra Edge group root\nserialNumber=${out.group.groupId}`);
    expect(tsa.subject).toBe(`CN=${out.group.groupId.slice(0, 16)} Sintra Edge group TSA\nserialNumber=${out.group.groupId}`);
    expect(tsa.issuer).toBe(root.subject);
    expect(tsa.checkIssued(root)).toBe(true);
    expect(root.verify(root.publicKey) && tsa.verify(root.publicKey)).toBe(true);
    expect(tsa.keyUsage).toEqual(['1.3.6.1.5.5.7.3.8']); // node's keyUsage is the extended key usage
    expect(root.validFrom).toBe('Jan  1 00:00:00 2026 GMT');
    expect(root.validTo).toBe('Jan  1 00:00:00 2036 GMT');
    const jwk = createPublicKey(rsaFile.rootCertificate).export({ format: 'jwk' });
    expect(BigInt(`0x${Buffer.from(jwk.n!, 'base64url').toString('hex')}`)).toBe(SMALL.p * SMALL.q);
  });

  it('a name of your own, another validity, and dates after 2049 (GeneralizedTime)', () => {
    const o = deal(thresholdStructure(4, 1), seededRandom('group-rsa/label'), {
      testOnly: true,
      rsa: rsaOptions(SMALL, { label: 'Example Notary', notBefore: new Date('2045-06-01T12:30:15.750Z'), notAfter: new Date('2075-06-01T12:30:15Z') }),
    });
    const root = new X509Certificate(o.group.keys.rsa!.rootCertificate);
    expect(root.subject.split('\n')[0]).toBe('CN=Example Notary Sintra Edge group root');
    expect(root.validFrom).toBe('Jun  1 12:30:15 2045 GMT');
    expect(root.validTo).toBe('Jun  1 12:30:15 2075 GMT');
    const g = parseGroup(o.group);
    expect(checkGroupCertificates(g.rsa!.publicKey, g.groupId, pemToDer(g.rsa!.rootCertificate), pemToDer(g.rsa!.tsaCertificate)).label).toBe('Example Notary');
    expect(problem(() => deal(thresholdStructure(4, 1), seededRandom('x'), { testOnly: true, rsa: rsaOptions(SMALL, { label: ' padded' }) }))).toMatch(/^certificate name: 1-32 characters/);
    expect(problem(() => deal(thresholdStructure(4, 1), seededRandom('x'), { testOnly: true, rsa: rsaOptions(SMALL, { notAfter: NOT_BEFORE }) }))).toBe('group certificates: notAfter must be later than notBefore');
  });

  it('a real-size key: 2048 bits, not test-only', () => {
    const o = deal(thresholdStructure(4, 1), seededRandom('group-rsa/2048'), { testOnly: false, rsa: rsaOptions(BIG) });
    const g = parseGroup(o.group);
    expect(bitLength(g.rsa!.publicKey.n)).toBe(2048);
    const s = o.secrets.map((x) => parseReplicaSecrets(x, g));
    verifyReplicaSecrets(g, s[3]!);
    const digest = sha256(utf8ToBytes('2048'));
    const { signature } = combineShares(g.rsa!.publicKey, digest, [signShare(g.rsa!.publicKey, s[3]!.rsa!, digest, seededRandom('a')), signShare(g.rsa!.publicKey, s[1]!.rsa!, digest, seededRandom('b'))]);
    expect(nodeVerify('sha256', utf8ToBytes('2048'), new X509Certificate(g.rsa!.tsaCertificate).publicKey, signature)).toBe(true);
    // A 1024-bit key only in test-only groups, by the dealer (threshold-rsa.ts) and by the parser.
    expect(problem(() => deal(thresholdStructure(4, 1), seededRandom('x'), { testOnly: false, rsa: rsaOptions(SMALL) }))).toMatch(/^threshold RSA dealing: the modulus has 1024 bits; accepted: 2048-8192/);
    expect(problem(() => parseGroup({ ...clone(out.group), testOnly: false }))).toBe('keys.rsa.n: the modulus has 1024 bits; accepted: 2048-8192 (from 1024 in test-only groups)');
  });

  it("the dealer's whole-key signer is dead once the dealing returns", () => {
    let kept: DealerSign | undefined;
    dealThresholdRsa({ ...SMALL, group: { players: 4, threshold: 2 }, testOnly: true }, seededRandom('dead'), (sign) => {
      kept = sign;
      expect(sign(sha256(utf8ToBytes('x')))).toHaveLength(128);
    });
    expect(problem(() => kept!(sha256(utf8ToBytes('x'))))).toBe("threshold RSA: the dealer's whole key is gone; it signs only inside the dealing's callback");
  });
});

describe('general adversary structures have no threshold RSA key', () => {
  // Four replicas, the corruptible sets listed: a general structure (CNF sharing), small enough to deal fast.
  const general = () => parseStructureFile({ replicas: ['a', 'b', 'c', 'd'].map((id) => ({ id, attributes: {} })), adversary: { sets: [['a'], ['b'], ['c'], ['d']] } });

  it('the dealer refuses with ThresholdRsaError before dealing anything', () => {
    let error: unknown;
    try {
      deal(general(), seededRandom('general'), { testOnly: true, rsa: rsaOptions(SMALL) });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ThresholdRsaError);
    expect((error as Error).message).toBe("threshold RSA supports threshold structures only (k of n); this group's structure is general");
  });

  it('the parser refuses keys.rsa in a general group', () => {
    const g = clone(deal(general(), seededRandom('general'), { testOnly: true }).group);
    expect(g.structure.type).toBe('general');
    (g.keys as Mutable<GroupFile['keys']>).rsa = clone(rsaFile);
    expect(problem(() => parseGroup(g))).toBe("keys.rsa: threshold RSA supports threshold structures only (k of n); this group's structure is general");
  });
});

describe('parseGroup and parseReplicaSecrets refuse malformed RSA fields', () => {
  const bad = (edit: (r: Mutable<GroupFile['keys']['rsa'] & object>, g: Mutable<GroupFile>) => void): string => {
    const g = clone(out.group);
    edit(g.keys.rsa!, g);
    return problem(() => parseGroup(g));
  };
  const n = SMALL.p * SMALL.q;
  const hex128 = (x: bigint) => toHex(bigintToBytes(x, 128));

  it('a group without keys.rsa is a group without RSA (backwards compatible)', () => {
    const g = clone(out.group);
    delete (g.keys as { rsa?: unknown }).rsa;
    expect(parseGroup(g).rsa).toBeUndefined();
  });

  it('names the field and the problem', () => {
    expect(bad((r) => delete (r as { v?: string }).v)).toBe('keys.rsa.v: missing');
    expect(bad((r) => Object.assign(r, { d: '01' }))).toBe('keys.rsa: unknown field "d"');
    expect(bad((r) => (r.players = 5))).toBe('keys.rsa.players: expected 4 (the number of replicas)');
    expect(bad((r) => (r.threshold = 3))).toBe('keys.rsa.threshold: expected 2 (t + 1)');
    expect(bad((r) => (r.n = `00${r.n}`))).toBe('keys.rsa.n: expected the modulus in its shortest form (no leading zero byte)');
    expect(bad((r) => (r.n = r.n.toUpperCase()))).toBe('keys.rsa.n: expected lower-case hex with an even number of digits');
    expect(bad((r) => (r.n = r.n.slice(2)))).toBe('keys.rsa.n: the modulus has 1016 bits; accepted: 1024-8192');
    expect(bad((r) => (r.n = hex128(n + 1n)))).toBe('keys.rsa.n: the modulus is even');
    expect(bad((r) => (r.e = 65539.5))).toBe('keys.rsa.e: expected an integer (a prime greater than the number of replicas)');
    expect(bad((r) => (r.e = 65535))).toBe('keys.rsa: threshold RSA public key: e must be a prime greater than the number of players (4) and below n');
    expect(bad((r) => (r.e = 3))).toBe('keys.rsa: threshold RSA public key: e must be a prime greater than the number of players (4) and below n');
    expect(bad((r) => (r.v = r.v.slice(2)))).toBe('keys.rsa.v: expected 128 bytes, got 127');
    expect(bad((r) => (r.v = hex128(n)))).toBe('keys.rsa.v: must be in 1..n-1');
    expect(bad((r) => (r.v = hex128(1n)))).toBe('keys.rsa: threshold RSA public key: v must be in 2..n-2');
    expect(bad((r) => r.verificationKeys.pop())).toBe('keys.rsa.verificationKeys: expected 4 verification keys (one per replica), got 3');
    expect(bad((r) => (r.verificationKeys[2] = hex128(0n)))).toBe('keys.rsa.verificationKeys[2]: must be in 1..n-1');
    expect(bad((r) => (r.verificationKeys[1] = 7 as unknown as string))).toBe('keys.rsa.verificationKeys[1]: expected a string');
  });

  it('refuses certificates that are not PEM of one DER sequence (the full check is checkGroupCertificates)', () => {
    expect(bad((r) => (r.rootCertificate = r.rootCertificate.replace(/\n/g, '\r\n')))).toMatch(/^keys\.rsa\.rootCertificate: PEM: must start with/);
    expect(bad((r) => (r.tsaCertificate = r.tsaCertificate.replace('-----BEGIN CERTIFICATE-----', '-----BEGIN PUBLIC KEY-----')))).toMatch(/^keys\.rsa\.tsaCertificate: PEM: must start with "-----BEGIN CERTIFICATE-----"/);
    expect(bad((r) => (r.tsaCertificate = r.tsaCertificate.trimEnd()))).toMatch(/^keys\.rsa\.tsaCertificate: PEM: must end with/);
    expect(bad((r) => (r.rootCertificate = derToPem(pemToDer(r.rootCertificate).subarray(0, 300))))).toMatch(/^keys\.rsa\.rootCertificate: DER: the SEQUENCE holds \d+ bytes, but 296 follow its header$/);
    expect(bad((r) => (r.rootCertificate = derToPem(utf8ToBytes('not a certificate'))))).toBe('keys.rsa.rootCertificate: DER: expected a SEQUENCE (tag 0x30)');
    const b64 = (r: { rootCertificate: string }) => r.rootCertificate.split('\n')[1]!;
    expect(bad((r) => (r.rootCertificate = r.rootCertificate.replace(b64(r), `${b64(r).slice(0, 60)}\n${b64(r).slice(60)}`)))).toMatch(/in lines of 64 characters/);
  });

  it('shares: required iff the group has RSA, exactly K bytes, below n; a wrong share fails verifyReplicaSecrets', () => {
    const badShare = (edit: (shares: Record<string, unknown>) => void, g = group, s: SecretsFile = out.secrets[1]!): string => {
      const shares = JSON.parse(s.SINTRA_KEY_SHARES) as Record<string, unknown>;
      edit(shares);
      return problem(() => verifyReplicaSecrets(g, parseReplicaSecrets({ ...s, SINTRA_KEY_SHARES: JSON.stringify(shares) }, g)));
    };
    expect(badShare(() => {})).toBe('accepted');
    expect(badShare((v) => delete v['rsa'])).toBe('SINTRA_KEY_SHARES.rsa: missing');
    expect(badShare((v) => (v['rsa'] = (v['rsa'] as string).slice(2)))).toBe('SINTRA_KEY_SHARES.rsa: expected 128 bytes, got 127');
    expect(badShare((v) => (v['rsa'] = hex128(n)))).toBe('SINTRA_KEY_SHARES.rsa: must be in 0..n-1');
    expect(badShare((v) => (v['rsa'] = JSON.parse(out.secrets[2]!.SINTRA_KEY_SHARES).rsa))).toBe('SINTRA_KEY_SHARES.rsa: does not match keys.rsa.verificationKeys[1]');
    const plainGroup = clone(out.group);
    delete (plainGroup.keys as { rsa?: unknown }).rsa;
    expect(badShare(() => {}, parseGroup(plainGroup))).toBe('SINTRA_KEY_SHARES.rsa: the group has no RSA key (group.json has no keys.rsa)');
  });
});

describe('checkGroupCertificates refuses what the dealer would not have issued', () => {
  const pk = group.rsa!.publicKey;
  const root = pemToDer(rsaFile.rootCertificate);
  const tsa = pemToDer(rsaFile.tsaCertificate);
  const check = (r: Uint8Array, t: Uint8Array, key = pk, id = group.groupId) => problem(() => checkGroupCertificates(key, id, r, t));
  const other = dealThresholdRsa({ ...OTHER, group: { players: 4, threshold: 2 }, testOnly: true }, seededRandom('other'));
  const issue = (label: string, sign?: DealerSign, key = pk) => {
    let certs: { root: Uint8Array; tsa: Uint8Array } | undefined;
    dealThresholdRsa({ ...SMALL, group: { players: 4, threshold: 2 }, testOnly: true }, seededRandom('reissue'), (whole) => {
      const rng = seededRandom('serials');
      certs = issueGroupCertificates({ publicKey: key, groupId: group.groupId, label, notBefore: NOT_BEFORE, notAfter: NOT_AFTER, rootSerial: certificateSerial(rng), tsaSerial: certificateSerial(rng) }, sign ?? whole);
    });
    return certs!;
  };

  it('accepts the dealt pair', () => {
    expect(check(root, tsa)).toBe('accepted');
  });

  it('refuses swapped, foreign, tampered and non-DER certificates', () => {
    expect(check(tsa, root)).toBe('root certificate: the common name must end with "Sintra Edge group root"');
    expect(check(root, tsa, other.publicKey)).toBe("root certificate: certifies another public key than the group's RSA key (n, e)");
    expect(check(root, tsa, pk, sha256(utf8ToBytes('another group')))).toMatch(/^root certificate: is not for this group \(subject serialNumber "[0-9a-f]{64}", expected the group id\)$/);
    const flipped = root.slice();
    flipped[flipped.length - 1]! ^= 1;
    expect(check(flipped, tsa)).toBe("root certificate: the signature does not verify under the group's RSA key");
    // Another label on the TSA certificate only: valid signatures, but not the root's name.
    expect(check(root, issue('someone else').tsa)).toBe("TSA certificate: does not follow the group TSA profile (docs/formats.md section 4: issued by the root, with the root's validity and name)");
    expect(check(root, new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]))).toMatch(/^TSA certificate: not an X.509 certificate/);
    // A length in more bytes than it needs: BER, not DER.
    expect([root[0], root[1]]).toEqual([0x30, 0x82]);
    const ber = new Uint8Array([0x30, 0x83, 0x00, root[2]!, root[3]!, ...root.subarray(4)]);
    expect(check(ber, tsa)).toMatch(/^root certificate: (not in DER|not an X\.509)/);
  });

  it('issueGroupCertificates refuses a signer that does not sign with the group key', () => {
    const sign = (d: Uint8Array) => bigintToBytes(12345n, 128).map((b, i) => b ^ d[i % 32]!);
    expect(problem(() => issue('x', sign))).toBe("root certificate: the signature does not verify under the group's RSA key");
  });
});

describe.skipIf(!HAVE_OPENSSL)('OpenSSL 3 accepts the certificates and the threshold signature', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sintra-rsa-openssl-'));
    await writeFile(path.join(dir, 'root-ca.pem'), rsaFile.rootCertificate);
    await writeFile(path.join(dir, 'tsa.pem'), rsaFile.tsaCertificate);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('openssl x509 -text shows the profile', async () => {
    const root = await openssl(['x509', '-in', 'root-ca.pem', '-noout', '-text'], dir);
    expect(root.code).toBe(0);
    expect(root.stdout).toMatch(/Version: 3 \(0x2\)/);
    expect(root.stdout).toMatch(/Signature Algorithm: sha256WithRSAEncryption/);
    expect(root.stdout).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:TRUE, pathlen:0\n/);
    expect(root.stdout).toMatch(/X509v3 Key Usage: critical\n\s+Certificate Sign, CRL Sign\n/);
    expect(root.stdout).toMatch(/X509v3 Subject Key Identifier: \n\s+([0-9A-F]{2}:){19}[0-9A-F]{2}\n/);
    expect(root.stdout).toContain(`Subject: CN = ${out.group.groupId.slice(0, 16)} Sintra Edge group root, serialNumber = ${out.group.groupId}`);
    const tsa = await openssl(['x509', '-in', 'tsa.pem', '-noout', '-text'], dir);
    expect(tsa.stdout).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:FALSE\n/);
    expect(tsa.stdout).toMatch(/X509v3 Key Usage: critical\n\s+Digital Signature\n/);
    expect(tsa.stdout).toMatch(/X509v3 Extended Key Usage: critical\n\s+Time Stamping\n/);
    expect(tsa.stdout).toMatch(/X509v3 Authority Key Identifier: \n\s+([0-9A-F]{2}:){19}[0-9A-F]{2}\n/);
    expect(tsa.stdout).toContain(`Issuer: CN = ${out.group.groupId.slice(0, 16)} Sintra Edge group root`);
  });

  it('openssl verify: the root verifies itself; the TSA certificate verifies for timestampsign (also -x509_strict)', async () => {
    for (const args of [
      ['verify', '-CAfile', 'root-ca.pem', 'root-ca.pem'],
      ['verify', '-x509_strict', '-check_ss_sig', '-CAfile', 'root-ca.pem', 'root-ca.pem'],
      ['verify', '-CAfile', 'root-ca.pem', '-purpose', 'timestampsign', 'tsa.pem'],
      ['verify', '-x509_strict', '-CAfile', 'root-ca.pem', '-purpose', 'timestampsign', '-attime', String(Date.UTC(2030, 0, 1) / 1000), 'tsa.pem'],
    ]) {
      const r = await openssl(args, dir);
      expect(r, args.join(' ')).toMatchObject({ code: 0, stdout: `${args.at(-1)}: OK\n` });
    }
    // Negative controls: the TSA key is no CA, and outside the validity nothing verifies.
    const asCa = await openssl(['verify', '-CAfile', 'tsa.pem', 'root-ca.pem'], dir);
    expect(asCa.code).not.toBe(0);
    const expired = await openssl(['verify', '-CAfile', 'root-ca.pem', '-purpose', 'timestampsign', '-attime', String(Date.UTC(2037, 0, 1) / 1000), 'tsa.pem'], dir);
    expect(expired.code).not.toBe(0);
    expect(expired.stdout + expired.stderr).toMatch(/certificate has expired/);
    // The root is no TSA certificate (no timeStamping extended key usage).
    const rootAsTsa = await openssl(['verify', '-CAfile', 'root-ca.pem', '-purpose', 'timestampsign', 'root-ca.pem'], dir);
    expect(rootAsTsa.code).not.toBe(0);
  });

  it('openssl ts -verify accepts an RFC 3161 token signed with the group key under tsa.pem, chained to root-ca.pem', async () => {
    // OpenSSL makes the token with the whole key, rebuilt here from the fixture's primes (a test key): what
    // is checked is that RFC 3161 verifiers take this TSA certificate, whose key is also the root's.
    const { p, q } = SMALL;
    const n = p * q;
    const e = 65537n;
    const d = modInverse(e, ((p - 1n) * (q - 1n)) / 2n);
    const b64u = (x: bigint) => Buffer.from(bigintToBytes(x, Math.ceil(bitLength(x) / 8))).toString('base64url');
    const jwk = { kty: 'RSA', n: b64u(n), e: b64u(e), d: b64u(d), p: b64u(p), q: b64u(q), dp: b64u(d % (p - 1n)), dq: b64u(d % (q - 1n)), qi: b64u(modInverse(q, p)) };
    await writeFile(path.join(dir, 'whole-key.pem'), createPrivateKey({ key: jwk, format: 'jwk' }).export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(path.join(dir, 'serial'), '01\n');
    await writeFile(path.join(dir, 'data.txt'), 'a document to stamp\n');
    const config = ['[ tsa ]', 'default_tsa = g', '[ g ]', 'serial = ./serial', 'signer_cert = ./tsa.pem', 'signer_key = ./whole-key.pem', 'signer_digest = sha256', 'default_policy = 1.3.6.1.4.1.99999.1', 'digests = sha256', 'ess_cert_id_alg = sha256', 'certs = ./tsa.pem'];
    await writeFile(path.join(dir, 'tsa.cnf'), `${config.join('\n')}\n`);
    expect((await openssl(['ts', '-query', '-data', 'data.txt', '-sha256', '-cert', '-out', 'request.tsq'], dir)).code).toBe(0);
    expect((await openssl(['ts', '-reply', '-config', 'tsa.cnf', '-queryfile', 'request.tsq', '-out', 'reply.tsr'], dir)).code).toBe(0);
    const verified = await openssl(['ts', '-verify', '-data', 'data.txt', '-in', 'reply.tsr', '-CAfile', 'root-ca.pem'], dir);
    expect(verified).toMatchObject({ code: 0, stdout: 'Verification: OK\n' });
    await writeFile(path.join(dir, 'data.txt'), 'another document\n');
    expect((await openssl(['ts', '-verify', '-data', 'data.txt', '-in', 'reply.tsr', '-CAfile', 'root-ca.pem'], dir)).code).not.toBe(0);
  });

  it('openssl dgst -verify accepts a signature combined from 2 shares, with the key from tsa.pem', async () => {
    const message = utf8ToBytes('hash me: a TSTInfo some day');
    const digest = sha256(message);
    const pk = group.rsa!.publicKey;
    const { signature } = combineShares(pk, digest, [signShare(pk, secrets[3]!.rsa!, digest, seededRandom('s3')), signShare(pk, secrets[0]!.rsa!, digest, seededRandom('s0'))]);
    await writeFile(path.join(dir, 'msg'), message);
    await writeFile(path.join(dir, 'sig'), signature);
    const pub = await openssl(['x509', '-pubkey', '-noout', '-in', 'tsa.pem'], dir);
    await writeFile(path.join(dir, 'tsa-pub.pem'), pub.stdout);
    const ok = await openssl(['dgst', '-sha256', '-verify', 'tsa-pub.pem', '-signature', 'sig', 'msg'], dir);
    expect(ok).toMatchObject({ code: 0, stdout: 'Verified OK\n' });
    await writeFile(path.join(dir, 'msg'), utf8ToBytes('hash me: a TSTInfo some other day'));
    const bad = await openssl(['dgst', '-sha256', '-verify', 'tsa-pub.pem', '-signature', 'sig', 'msg'], dir);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe('Verification failure\n');
    expect(await readFile(path.join(dir, 'tsa-pub.pem'), 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
  });
});

describe('PEM', () => {
  it('round trip, one spelling', () => {
    const der = fromHex('3003020101');
    expect(derToPem(der)).toBe('-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n');
    expect(pemToDer(derToPem(der))).toEqual(der);
    expect(problem(() => pemToDer('-----BEGIN CERTIFICATE-----\nMAMCAQF=\n-----END CERTIFICATE-----\n'))).toBe('PEM: not canonical padded base64');
    expect(X509Error.name).toBe('X509Error');
  });
});

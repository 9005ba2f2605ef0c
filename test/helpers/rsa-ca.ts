/**
 * A group with a threshold RSA key and its root CA certificate (dealt from the fixed safe primes of
 * test/fixtures/threshold-rsa-primes.json), two independent signers for a TBS digest (k shares combined,
 * and the whole key computed from p and q), and OpenSSL 3 in a scratch folder: what the X.509 issuance
 * and CRL tests (test/unit/csr.test.ts, x509-issue.test.ts, crl.test.ts) share.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { deal } from '../../shared/config/deal.ts';
import { parseGroup, parseReplicaSecrets } from '../../shared/config/group.ts';
import type { Group, ReplicaSecrets } from '../../shared/config/group.ts';
import { gcd, modInverse, modPow } from '../../shared/crypto/modular.ts';
import { pemToDer } from '../../shared/crypto/pem.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { i2osp, modulusBytes, pkcs1v15Representative } from '../../shared/crypto/rsa.ts';
import { combineShares, signShare } from '../../shared/crypto/threshold-rsa.ts';
import type { ThresholdRsaPublicKey } from '../../shared/crypto/threshold-rsa.ts';
import { thresholdStructure } from '../../shared/quorum/structure-file.ts';

interface PrimePair {
  p: string;
  q: string;
}
const FIXTURE = JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../fixtures/threshold-rsa-primes.json'), 'utf8')) as { modulus1024: PrimePair[]; modulus2048: PrimePair };
const primes = (pair: PrimePair) => ({ p: BigInt(`0x${pair.p}`), q: BigInt(`0x${pair.q}`) });
export const SMALL_PRIMES = primes(FIXTURE.modulus1024[0]!);
export const BIG_PRIMES = primes(FIXTURE.modulus2048);

/** The root's validity in every group here. */
export const ROOT_NOT_BEFORE = new Date('2026-01-01T00:00:00Z');
export const ROOT_NOT_AFTER = new Date('2036-01-01T00:00:00Z');

export interface RsaCaGroup {
  readonly group: Group;
  readonly secrets: readonly ReplicaSecrets[];
  readonly publicKey: ThresholdRsaPublicKey;
  readonly rootPem: string;
  readonly rootDer: Uint8Array;
  readonly tsaPem: string;
  /** The whole-key signature (RSASSA-PKCS1-v1_5) of a SHA-256 digest, from p and q: an independent signer. */
  readonly wholeKeySign: (digest: Uint8Array) => Uint8Array;
  /** Shares of the replicas `signers` (k of them, or more), combined. */
  readonly thresholdSign: (digest: Uint8Array, signers: readonly number[], seed?: string) => Uint8Array;
}

/** n = 4, t = 1 (k = 2 shares sign), testOnly; 1024-bit key unless `big`. */
export function rsaCaGroup(seed: string, big = false): RsaCaGroup {
  const pq = big ? BIG_PRIMES : SMALL_PRIMES;
  const out = deal(thresholdStructure(4, 1), seededRandom(seed), { testOnly: !big, rsa: { ...pq, notBefore: ROOT_NOT_BEFORE, notAfter: ROOT_NOT_AFTER } });
  const group = parseGroup(JSON.parse(JSON.stringify(out.group)));
  const secrets = out.secrets.map((s) => parseReplicaSecrets(JSON.parse(JSON.stringify(s)), group));
  const publicKey = group.rsa!.publicKey;
  const { p, q } = pq;
  const lambda = ((p - 1n) * (q - 1n)) / gcd(p - 1n, q - 1n);
  const d = modInverse(publicKey.e, lambda);
  const k = modulusBytes(publicKey.n);
  return {
    group,
    secrets,
    publicKey,
    rootPem: group.rsa!.rootCertificate,
    rootDer: pemToDer(group.rsa!.rootCertificate),
    tsaPem: group.rsa!.tsaCertificate,
    wholeKeySign: (digest) => i2osp(modPow(pkcs1v15Representative(publicKey.n, digest), d, publicKey.n), k),
    thresholdSign: (digest, signers, rngSeed = 'rsa-ca/shares') => {
      const rng = seededRandom(rngSeed);
      const shares = signers.map((i) => signShare(publicKey, secrets[i]!.rsa!, digest, rng));
      const { signature, faulty } = combineShares(publicKey, digest, shares);
      if (faulty.length > 0) throw new Error(`faulty shares from ${faulty.join(', ')}`);
      return signature;
    },
  };
}

export const HAVE_OPENSSL = (() => {
  try {
    return /^OpenSSL 3\./.test(execFileSync('openssl', ['version'], { encoding: 'utf8' }));
  } catch {
    return false;
  }
})();

export interface OpensslResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A scratch folder and `openssl` run in it. */
export class OpensslDir {
  private constructor(readonly dir: string) {}

  static async create(prefix: string): Promise<OpensslDir> {
    return new OpensslDir(await mkdtemp(path.join(tmpdir(), `sintra-${prefix}-`)));
  }

  run(args: readonly string[]): Promise<OpensslResult> {
    return new Promise((resolve) => {
      execFile('openssl', [...args], { cwd: this.dir, encoding: 'utf8' }, (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
      );
    });
  }

  /** Runs openssl and throws with its stderr unless it exits 0. */
  async ok(args: readonly string[]): Promise<string> {
    const r = await this.run(args);
    if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  }

  write(file: string, data: string | Uint8Array): Promise<void> {
    return writeFile(path.join(this.dir, file), data);
  }

  read(file: string): Promise<Buffer> {
    return readFile(path.join(this.dir, file));
  }

  readText(file: string): Promise<string> {
    return readFile(path.join(this.dir, file), 'utf8');
  }

  /**
   * `openssl req -new` with a fresh key: `key` is the -newkey argument plus -pkeyopt pairs (e.g.
   * ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256']); returns the PEM request (and leaves <name>.key).
   */
  async request(name: string, key: readonly string[], subject: string, extra: readonly string[] = []): Promise<string> {
    await this.ok(['req', '-new', '-newkey', ...key, '-nodes', '-keyout', `${name}.key`, '-subj', subject, ...extra, '-out', `${name}.csr`]);
    return this.readText(`${name}.csr`);
  }

  remove(): Promise<void> {
    return rm(this.dir, { recursive: true, force: true });
  }
}

/** Seconds since 1970 for `openssl verify -attime`. */
export const attime = (d: Date): string => String(Math.floor(d.getTime() / 1000));

/**
 * A dealt group with a threshold RSA key for the RFC 3161 tests (test/unit/tsp*.test.ts): the fixed safe
 * primes of test/fixtures/threshold-rsa-primes.json, the real dealer (shared/config/deal.ts) for the key
 * shares and the root CA / TSA certificates, and two ways to sign a digest: k replicas' shares combined
 * (what the replicas will do), and the whole key rebuilt from the primes (a reference signer: PKCS #1
 * v1.5 is deterministic, so both must give the same bytes).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { deal } from '../../shared/config/deal.ts';
import { parseGroup, parseReplicaSecrets } from '../../shared/config/group.ts';
import type { Group, ReplicaSecrets } from '../../shared/config/group.ts';
import { modInverse, modPow } from '../../shared/crypto/modular.ts';
import { pemToDer } from '../../shared/crypto/pem.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { i2osp, modulusBytes, pkcs1v15Representative } from '../../shared/crypto/rsa.ts';
import { combineShares, signShare } from '../../shared/crypto/threshold-rsa.ts';
import { tsaPolicyOid } from '../../shared/crypto/tsp-policy.ts';
import { thresholdStructure } from '../../shared/quorum/structure-file.ts';

interface PrimePair {
  p: string;
  q: string;
}
const FIXTURE = JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../fixtures/threshold-rsa-primes.json'), 'utf8')) as { modulus1024: PrimePair[]; modulus2048: PrimePair };

export type KeySize = 1024 | 2048;

export interface TspGroup {
  readonly group: Group;
  readonly secrets: ReplicaSecrets[];
  readonly policy: string;
  readonly rootPem: string;
  readonly tsaPem: string;
  readonly rootDer: Uint8Array;
  readonly tsaDer: Uint8Array;
  /** The whole-key RSASSA-PKCS1-v1_5 signature of a SHA-256 digest (d from the fixture's primes). */
  wholeKeySign(digest: Uint8Array): Uint8Array;
  /** The signature combined from the shares of `signers` (replica indices), each share checked. */
  thresholdSign(digest: Uint8Array, signers: readonly number[]): Uint8Array;
}

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

/** n = 4, t = 1 (k = 2 shares), certificates valid 2026-2036; `seed` picks the group id and serials. */
export function tspGroup(seed = 'tsp/group', bits: KeySize = 1024, which = 0): TspGroup {
  const pair = bits === 1024 ? FIXTURE.modulus1024[which]! : FIXTURE.modulus2048;
  const p = BigInt(`0x${pair.p}`);
  const q = BigInt(`0x${pair.q}`);
  const out = deal(thresholdStructure(4, 1), seededRandom(seed), {
    testOnly: true,
    rsa: { p, q, notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2036-01-01T00:00:00Z') },
  });
  const group = parseGroup(clone(out.group));
  const secrets = out.secrets.map((s) => parseReplicaSecrets(clone(s), group));
  const rsa = group.rsa!;
  const n = p * q;
  // λ(n) = lcm(p - 1, q - 1) = 2p'q' for safe primes: (p - 1)(q - 1) / 2.
  const d = modInverse(rsa.publicKey.e, ((p - 1n) * (q - 1n)) / 2n);
  let counter = 0;
  return {
    group,
    secrets,
    policy: tsaPolicyOid(group.groupId),
    rootPem: rsa.rootCertificate,
    tsaPem: rsa.tsaCertificate,
    rootDer: pemToDer(rsa.rootCertificate),
    tsaDer: pemToDer(rsa.tsaCertificate),
    wholeKeySign: (digest) => i2osp(modPow(pkcs1v15Representative(n, digest), d, n), modulusBytes(n)),
    thresholdSign: (digest, signers) => {
      const shares = signers.map((i) => signShare(rsa.publicKey, secrets[i]!.rsa!, digest, seededRandom(`tsp/share/${counter++}/${i}`)));
      const { signature, faulty } = combineShares(rsa.publicKey, digest, shares);
      if (faulty.length > 0) throw new Error(`faulty shares from ${faulty.join(', ')}`);
      return signature;
    },
  };
}

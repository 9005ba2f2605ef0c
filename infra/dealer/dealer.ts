/**
 * `sintra deal`: read the structure, deal with real (or, for tests, seeded) randomness, check that the
 * output parses as the replicas will parse it, and write it atomically (output.ts). With `rsa`, also a
 * threshold RSA key from safe primes (rsa.ts) and its root CA and TSA certificates, written as root-ca.pem
 * and tsa.pem beside group.json (which carries the same PEM texts).
 */
import type { SignerPolicy } from '../../shared/app/signer-policy.ts';
import { readFile } from 'node:fs/promises';
import { fromHex, toHex } from '../../shared/crypto/bytes.ts';
import { pemToDer } from '../../shared/crypto/pem.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { rsaVerify } from '../../shared/crypto/rsa.ts';
import { sha256 } from '../../shared/crypto/sha256.ts';
import { checkKeyShare, combineShares, signShare } from '../../shared/crypto/threshold-rsa.ts';
import { checkGroupCertificates } from '../../shared/crypto/x509.ts';
import type { GroupCertificateInfo } from '../../shared/crypto/x509.ts';
import type { RandomBytes } from '../../shared/crypto/random.ts';
import { deal } from '../../shared/config/deal.ts';
import type { BeaconDealOptions, DealOutput } from '../../shared/config/deal.ts';
import { parseGroup, parseReplicaSecrets } from '../../shared/config/group.ts';
import type { Group, ReplicaSecrets } from '../../shared/config/group.ts';
import { StructureError } from '../../shared/quorum/quorum-system.ts';
import { parseReplicas, parseStructureFile, thresholdStructure } from '../../shared/quorum/structure-file.ts';
import type { ParsedStructure } from '../../shared/quorum/structure-file.ts';
import { DealerError, checkOutputDir, writeOutputDir } from './output.ts';
import type { OutputFile } from './output.ts';
import { generateSafePrimes } from './rsa.ts';
import type { SafePrimes } from './rsa.ts';

export { DealerError };

export const GROUP_FILE = 'group.json';
/** The group's root CA certificate (PEM), a copy of group.json keys.rsa.rootCertificate. */
export const ROOT_CA_FILE = 'root-ca.pem';
/** The group's TSA certificate (PEM), a copy of group.json keys.rsa.tsaCertificate. */
export const TSA_FILE = 'tsa.pem';
export const secretsFileName = (id: string): string => `${id}.secrets.json`;

export const TEST_KEYS_WARNING =
  'WARNING: TEST KEYS ONLY. --seed derives every key from the seed: anyone who knows it can sign and decrypt as the group. ' +
  'group.json is marked "testOnly": true. Never deploy these keys.';

/** The operating system's CSPRNG (getRandomValues fills at most 65536 bytes per call). */
export const systemRandom: RandomBytes = (length) => {
  const out = new Uint8Array(length);
  for (let off = 0; off < length; off += 65536) globalThis.crypto.getRandomValues(out.subarray(off, Math.min(length, off + 65536)));
  return out;
};

/** `--seed HEX` -> deterministic randomness (tests only). */
export function seedRandom(hex: string): RandomBytes {
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex)) throw new DealerError(`--seed must be a non-empty even number of hex digits`);
  return seededRandom(fromHex(hex.toLowerCase()));
}

export function structureFromThreshold(n: number, t: number): ParsedStructure {
  if (n <= 3 * t) throw new DealerError(`not Q3: need n > 3t, got n = ${n}, t = ${t} (n = ${n} tolerates at most t = ${Math.floor((n - 1) / 3)})`);
  try {
    return thresholdStructure(n, t);
  } catch (e) {
    if (e instanceof StructureError) throw new DealerError(e.message);
    throw e;
  }
}

/** Q3 witnesses come as index sets {0,1}; show replica ids instead. */
function withIds(message: string, raw: unknown): string {
  if (!message.startsWith('not Q3')) return message;
  let ids: string[];
  try {
    ids = parseReplicas((raw as { replicas?: unknown }).replicas).map((r) => r.id);
  } catch {
    return message;
  }
  return message.replace(/\{([0-9,]+)\}/g, (all, list: string) => {
    const named = list.split(',').map((i) => ids[Number(i)]);
    return named.every((x) => x !== undefined) ? `{${named.join(', ')}}` : all;
  });
}

export async function loadStructure(file: string): Promise<ParsedStructure> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new DealerError(`cannot read structure file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new DealerError(`${file}: invalid JSON: ${(e as Error).message}`);
  }
  try {
    return parseStructureFile(raw);
  } catch (e) {
    if (e instanceof StructureError) throw new DealerError(`${file}: ${withIds(e.message, raw)}`);
    throw e;
  }
}

export interface DealToDirRsa {
  /** The modulus size when the primes are generated here. */
  readonly bits: number;
  /** Given primes (`--rsa-primes`); generated with node:crypto when absent. */
  readonly primes?: SafePrimes;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly label?: string;
}

export interface DealToDirOptions {
  readonly out: string;
  readonly rng: RandomBytes;
  readonly testOnly: boolean;
  readonly onProgress?: (message: string) => void;
  readonly rsa?: DealToDirRsa;
  /** Also a randomness beacon key (docs/beacon.md). */
  readonly beacon?: BeaconDealOptions;
  /** The signing service's initial policy (docs/signer.md), written as group.json `signer`. */
  readonly signerPolicy?: SignerPolicy;
  /** The signing service's own threshold RSA key (keys.signerRsa): given primes, or generated of `bits`. */
  readonly signerRsa?: { readonly bits: number; readonly primes?: SafePrimes };
}

export interface DealResult extends DealOutput {
  readonly groupPath: string;
  readonly secretsPaths: readonly string[];
  readonly rsa?: {
    readonly rootCertificatePath: string;
    readonly tsaCertificatePath: string;
    readonly certificates: GroupCertificateInfo;
    /** Time spent generating the safe primes (absent when they were given). */
    readonly primesMs?: number;
  };
}

/** What the dealer checks of its RSA output before writing it: certificates, every share, one signature. */
function checkRsaOutput(group: Group, secrets: readonly ReplicaSecrets[], rng: RandomBytes, progress: (message: string) => void): GroupCertificateInfo {
  const rsa = group.rsa!;
  const pk = rsa.publicKey;
  const info = checkGroupCertificates(pk, group.groupId, pemToDer(rsa.rootCertificate), pemToDer(rsa.tsaCertificate));
  progress(`threshold RSA key: checking ${secrets.length} shares against their verification keys and a signature from ${pk.threshold} of them`);
  for (const s of secrets) {
    if (s.rsa === undefined || !checkKeyShare(pk, s.rsa)) throw new DealerError(`threshold RSA key: the share of ${s.id} does not match its verification key`);
  }
  const message = new TextEncoder().encode(`sintra-edge dealer self-test ${toHex(group.groupId)}`);
  const digest = sha256(message);
  const shares = secrets.slice(0, pk.threshold).map((s) => signShare(pk, s.rsa!, digest, rng));
  const { signature } = combineShares(pk, digest, shares, { checkAll: true });
  if (!rsaVerify(pk, message, signature)) throw new DealerError('threshold RSA key: the self-test signature does not verify');
  return info;
}

export async function dealToDir(parsed: ParsedStructure, opts: DealToDirOptions): Promise<DealResult> {
  const progress = opts.onProgress ?? (() => {});
  await checkOutputDir(opts.out); // fail before the slow part; writeOutputDir checks again
  let primes: SafePrimes | undefined;
  let primesMs: number | undefined;
  if (opts.rsa !== undefined) {
    if (opts.rsa.primes !== undefined) primes = opts.rsa.primes;
    else ({ ms: primesMs, ...primes } = await generateSafePrimes(opts.rsa.bits, progress));
  }
  const signerPrimes = opts.signerRsa === undefined ? undefined : (opts.signerRsa.primes ?? (await generateSafePrimes(opts.signerRsa.bits, progress)));
  progress(`dealing for ${parsed.replicas.length} replicas`);
  const out = deal(parsed, opts.rng, {
    ...(signerPrimes === undefined ? {} : { signerRsa: { p: signerPrimes.p, q: signerPrimes.q } }),
    testOnly: opts.testOnly,
    onProgress: progress,
    ...(opts.beacon === undefined ? {} : { beacon: opts.beacon }),
    ...(opts.signerPolicy === undefined ? {} : { signerPolicy: opts.signerPolicy }),
    ...(opts.rsa === undefined || primes === undefined
      ? {}
      : { rsa: { ...primes, notBefore: opts.rsa.notBefore, notAfter: opts.rsa.notAfter, ...(opts.rsa.label === undefined ? {} : { label: opts.rsa.label }) } }),
  });
  progress('checking the output parses');
  const group = parseGroup(out.group);
  const secrets = out.secrets.map((s) => parseReplicaSecrets(s, group));
  const certificates = group.rsa === undefined ? undefined : checkRsaOutput(group, secrets, opts.rng, progress);
  const files: OutputFile[] = [
    { name: GROUP_FILE, content: `${JSON.stringify(out.group, null, 2)}\n`, mode: 0o644 },
    ...out.secrets.map((s) => ({ name: secretsFileName(s.SINTRA_REPLICA_ID), content: `${JSON.stringify(s, null, 2)}\n`, mode: 0o600 })),
    ...(group.rsa === undefined
      ? []
      : [
          { name: ROOT_CA_FILE, content: group.rsa.rootCertificate, mode: 0o644 },
          { name: TSA_FILE, content: group.rsa.tsaCertificate, mode: 0o644 },
        ]),
  ];
  progress(`writing ${files.length} files`);
  const paths = await writeOutputDir(opts.out, files);
  const n = out.secrets.length;
  const result: DealResult = { ...out, groupPath: paths[0]!, secretsPaths: paths.slice(1, 1 + n) };
  if (certificates === undefined) return result;
  return {
    ...result,
    rsa: { rootCertificatePath: paths[1 + n]!, tsaCertificatePath: paths[2 + n]!, certificates, ...(primesMs === undefined ? {} : { primesMs }) },
  };
}

/** `sintra deal` and `sintra deal verify`: option handling and output. Only public data is ever printed. */
import { readFile } from 'node:fs/promises';
import { SignerPolicyError, parseSignerPolicy } from '../../shared/app/signer-policy.ts';
import type { SignerPolicy } from '../../shared/app/signer-policy.ts';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, toHex } from '../../shared/crypto/bytes.ts';
import { bitLength } from '../../shared/crypto/modular.ts';
import { pemToDer } from '../../shared/crypto/pem.ts';
import { ThresholdRsaError, thresholdRsaParameters } from '../../shared/crypto/threshold-rsa.ts';
import { X509Error, checkCertificateLabel } from '../../shared/crypto/x509.ts';
import { BEACON_MAX_GENESIS, BEACON_MAX_PERIOD, parseGroup } from '../../shared/config/group.ts';
import type { GroupFile, RsaKeyFile } from '../../shared/config/group.ts';
import type { BeaconDealOptions } from '../../shared/config/deal.ts';
import type { StructureDescription } from '../../shared/quorum/quorum-system.ts';
import type { AdversarySpec } from '../../shared/quorum/structure-file.ts';
import { DealerError, ROOT_CA_FILE, TEST_KEYS_WARNING, TSA_FILE, dealToDir, loadStructure, seedRandom, structureFromThreshold, systemRandom } from '../dealer/dealer.ts';
import type { DealToDirRsa } from '../dealer/dealer.ts';
import { DEFAULT_CERT_YEARS, DEFAULT_RSA_BITS, certificateValidity, checkModulusBits, loadSafePrimes } from '../dealer/rsa.ts';
import { verifyDealDir } from '../dealer/verify.ts';
import type { VerifyReport } from '../dealer/verify.ts';

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

export interface DealOptions {
  n?: number;
  t?: number;
  structure?: string;
  out?: string;
  seed?: string;
  json?: boolean;
  rsa?: boolean;
  rsaBits?: number;
  rsaPrimes?: string;
  certYears?: number;
  certStart?: string;
  certName?: string;
  beacon?: boolean;
  beaconPeriod?: number;
  beaconGenesis?: string;
  beaconId?: string;
  /** The signing service's initial policy (docs/signer.md): written as group.json `signer`. */
  signerPolicy?: string;
  /** Also the signing service's own threshold RSA key (keys.signerRsa). */
  signerRsa?: boolean;
  signerRsaPrimes?: string;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** First 8 bytes of SHA-256 of the encoded key (the same as keyFingerprint in threshold-bls.ts). */
export function fingerprint(hex: string): string {
  return toHex(sha256(fromHex(hex)).subarray(0, 8));
}

export function describeStructure(s: StructureDescription): string {
  if (s.type === 'threshold') return `threshold: t = ${s.t} of n = ${s.n} (quorums of ${s.n - s.t}, kernels of ${s.t + 1})`;
  const largest = Math.max(...s.maximalCorruptible.map((c) => c.length));
  return `general: ${s.maximalCorruptible.length} maximal corruptible sets of up to ${largest} of ${s.n} replicas (Q3)`;
}

export function describeAdversary(a: AdversarySpec): string {
  if ('threshold' in a) return `any ${a.threshold} replica${a.threshold === 1 ? '' : 's'}`;
  if ('sets' in a) return `${a.sets.length} listed sets`;
  const parts = Object.entries(a.attributes).map(([name, k]) => `${k} ${name}${k === 1 ? '' : 's'}`);
  const plus = a.plus ? ` plus any ${a.plus} more` : '';
  return `all replicas sharing ${parts.join(' and ')}${plus}`;
}

/** SHA-256 of a certificate's DER as `openssl x509 -noout -fingerprint -sha256` prints it (AB:CD:...). */
export function certificateFingerprint(pem: string): string {
  return toHex(sha256(pemToDer(pem))).toUpperCase().match(/../g)!.join(':');
}

function rsaSummary(r: RsaKeyFile) {
  return {
    bits: bitLength(BigInt(`0x${r.n}`)),
    e: r.e,
    players: r.players,
    threshold: r.threshold,
    rootCertificateSha256: certificateFingerprint(r.rootCertificate),
    tsaCertificateSha256: certificateFingerprint(r.tsaCertificate),
  };
}

function publicSummary(group: GroupFile) {
  const k = group.keys;
  return {
    groupId: group.groupId,
    testOnly: group.testOnly,
    n: group.replicas.length,
    structure: describeStructure(group.structure),
    adversary: group.adversary,
    keys: {
      kernel: { groupKey: k.kernel.groupKey, fingerprint: fingerprint(k.kernel.groupKey), rows: k.kernel.rowKeys.length },
      quorum: { groupKey: k.quorum.groupKey, fingerprint: fingerprint(k.quorum.groupKey), rows: k.quorum.rowKeys.length },
      encryption: { publicKey: k.encryption.publicKey, fingerprint: fingerprint(k.encryption.publicKey), rows: k.encryption.rowKeys.length },
      ...(k.rsa === undefined ? {} : { rsa: rsaSummary(k.rsa) }),
      ...(k.beacon === undefined
        ? {}
        : {
            beacon: {
              groupKey: k.beacon.groupKey,
              fingerprint: fingerprint(k.beacon.groupKey),
              rows: k.beacon.rowKeys.length,
              chainHash: toHex(parseGroup(group).beacon!.chainHash),
              period: k.beacon.period,
              genesisTime: k.beacon.genesisTime,
              beaconId: k.beacon.beaconId,
            },
          }),
    },
  };
}

const BEACON_OPTIONS = [
  ['beaconPeriod', '--beacon-period'],
  ['beaconGenesis', '--beacon-genesis'],
  ['beaconId', '--beacon-id'],
] as const;

/** The beacon part of `sintra deal` (docs/beacon.md), checked before any work. */
function beaconOptions(opts: DealOptions): BeaconDealOptions | undefined {
  if (!opts.beacon) {
    const stray = BEACON_OPTIONS.filter(([k]) => opts[k] !== undefined).map(([, flag]) => flag);
    if (stray.length > 0) throw new UsageError(`${stray.join(', ')} ${stray.length === 1 ? 'goes' : 'go'} with --beacon`);
    return undefined;
  }
  const period = opts.beaconPeriod ?? 3;
  if (!Number.isSafeInteger(period) || period < 1 || period > BEACON_MAX_PERIOD) throw new UsageError(`--beacon-period must be an integer in 1..${BEACON_MAX_PERIOD}`);
  let genesisTime = Math.floor(Date.now() / 1000);
  const g = opts.beaconGenesis;
  if (g !== undefined) {
    if (/^[0-9]{1,12}$/.test(g)) genesisTime = Number(g);
    else {
      const m = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}Z)?$/.test(g) ? new Date(g.length === 10 ? `${g}T00:00:00Z` : g) : null;
      if (m === null || Number.isNaN(m.getTime()) || m.toISOString().slice(0, 10) !== g.slice(0, 10)) {
        throw new UsageError(`--beacon-genesis must be Unix seconds or a UTC date (2026-01-01) or time (2026-01-01T12:00:00Z), got ${JSON.stringify(g)}`);
      }
      genesisTime = m.getTime() / 1000;
    }
    if (genesisTime > BEACON_MAX_GENESIS) throw new UsageError('--beacon-genesis must be before the year 10000');
  }
  if (opts.beaconId !== undefined && !/^[a-z0-9][a-z0-9_-]{0,63}$/.test(opts.beaconId)) {
    throw new UsageError('--beacon-id must be 1-64 of a-z, 0-9, _ and -, starting with a letter or digit');
  }
  return { period, genesisTime, ...(opts.beaconId === undefined ? {} : { beaconId: opts.beaconId }) };
}

const RSA_OPTIONS = [
  ['rsaBits', '--rsa-bits'],
  ['rsaPrimes', '--rsa-primes'],
  ['certYears', '--cert-years'],
  ['certStart', '--cert-start'],
  ['certName', '--cert-name'],
] as const;

/** `--cert-start`: an ISO 8601 UTC time (2026-01-01T00:00:00Z) or date (2026-01-01). */
function parseCertStart(text: string): Date {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})Z)?$/.exec(text);
  const d = m ? new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4] ?? '00'}:${m[5] ?? '00'}:${m[6] ?? '00'}Z`) : null;
  if (d === null || Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== text.slice(0, 10)) {
    throw new UsageError(`--cert-start must be a UTC date (2026-01-01) or time (2026-01-01T12:00:00Z), got ${JSON.stringify(text)}`);
  }
  return d;
}

/** The RSA part of `sintra deal`, checked before any work: usage, the structure, the primes file. */
async function rsaOptions(opts: DealOptions, structure: GroupFile['structure'], testOnly: boolean): Promise<DealToDirRsa | undefined> {
  if (!opts.rsa) {
    // --rsa-bits also sizes the signing service's key (--signer-rsa).
    const stray = RSA_OPTIONS.filter(([k]) => opts[k] !== undefined && !(k === 'rsaBits' && opts.signerRsa)).map(([, flag]) => flag);
    if (stray.length > 0) throw new UsageError(`${stray.join(', ')} ${stray.length === 1 ? 'goes' : 'go'} with --rsa`);
    return undefined;
  }
  try {
    thresholdRsaParameters(structure);
  } catch (e) {
    if (e instanceof ThresholdRsaError) throw new DealerError(`--rsa: ${e.message}; deal this structure without --rsa`);
    throw e;
  }
  let label: string | undefined;
  if (opts.certName !== undefined) {
    try {
      label = checkCertificateLabel(opts.certName);
    } catch (e) {
      if (e instanceof X509Error) throw new UsageError(`--cert-name: ${e.message}`);
      throw e;
    }
  }
  const years = opts.certYears ?? DEFAULT_CERT_YEARS;
  const { notBefore, notAfter } = certificateValidity(opts.certStart === undefined ? new Date() : parseCertStart(opts.certStart), years);
  if (notAfter.getUTCFullYear() > 9999) throw new UsageError('--cert-start and --cert-years: the certificates must expire by the year 9999');
  const primes = opts.rsaPrimes === undefined ? undefined : await loadSafePrimes(opts.rsaPrimes);
  const bits = primes === undefined ? (opts.rsaBits ?? DEFAULT_RSA_BITS) : bitLength(primes.p * primes.q);
  if (opts.rsaBits !== undefined && opts.rsaBits !== bits) throw new UsageError(`--rsa-bits ${opts.rsaBits} does not match the ${bits}-bit modulus of --rsa-primes`);
  checkModulusBits(bits, testOnly);
  return { bits, ...(primes === undefined ? {} : { primes }), notBefore, notAfter, ...(label === undefined ? {} : { label }) };
}

/** --signer-policy FILE, checked strictly before any work (the path of a problem in the message). */
async function loadSignerPolicy(path: string): Promise<SignerPolicy> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new DealerError(`--signer-policy ${path}: ${e instanceof SyntaxError ? 'not JSON' : e instanceof Error ? e.message : String(e)}`);
  }
  try {
    return parseSignerPolicy(raw);
  } catch (e) {
    if (e instanceof SignerPolicyError) throw new DealerError(`--signer-policy ${path}: ${e.message}`);
    throw e;
  }
}

export async function dealCommand(opts: DealOptions, io: Io): Promise<number> {
  const threshold = opts.n !== undefined || opts.t !== undefined;
  if (threshold && opts.structure !== undefined) throw new UsageError('give either --n N --t T or --structure FILE, not both');
  if (!threshold && opts.structure === undefined) throw new UsageError('give --n N --t T or --structure FILE');
  if (threshold && (opts.n === undefined || opts.t === undefined)) throw new UsageError('--n and --t go together');
  if (opts.out === undefined) throw new UsageError("required option '--out <dir>' not specified");
  const rng = opts.seed === undefined ? systemRandom : seedRandom(opts.seed);
  const parsed = threshold ? structureFromThreshold(opts.n!, opts.t!) : await loadStructure(opts.structure!);
  const rsa = await rsaOptions(opts, parsed.structure, opts.seed !== undefined);
  const beacon = beaconOptions(opts);
  const signerPolicy = opts.signerPolicy === undefined ? undefined : await loadSignerPolicy(opts.signerPolicy);
  if (opts.signerRsa && signerPolicy === undefined) throw new UsageError('--signer-rsa goes with --signer-policy');
  if (!opts.signerRsa && opts.signerRsaPrimes !== undefined) throw new UsageError('--signer-rsa-primes goes with --signer-rsa');
  if (opts.signerRsa) {
    try {
      thresholdRsaParameters(parsed.structure);
    } catch (e) {
      if (e instanceof ThresholdRsaError) throw new DealerError(`--signer-rsa: ${e.message}`);
      throw e;
    }
  }
  const signerRsaPrimes = opts.signerRsaPrimes === undefined ? undefined : await loadSafePrimes(opts.signerRsaPrimes);
  if (signerRsaPrimes === undefined && opts.signerRsa) checkModulusBits(opts.rsaBits ?? DEFAULT_RSA_BITS, opts.seed !== undefined);
  if (opts.seed !== undefined) io.err(`${TEST_KEYS_WARNING}\n`);
  if (rsa !== undefined && rsa.notAfter.getTime() <= Date.now()) io.err(`warning: the certificates expire at ${rsa.notAfter.toISOString()}, which has passed (--cert-start, --cert-years)\n`);
  if (rsa?.primes !== undefined) io.err(`note: ${opts.rsaPrimes} holds the group's whole RSA private key (its primes); destroy it once the deal is done\n`);
  else if (rsa !== undefined && opts.seed !== undefined) io.err('note: the RSA primes come from node:crypto, not from --seed: the RSA key and certificates differ from run to run (--rsa-primes FILE fixes them)\n');
  const started = Date.now();
  const result = await dealToDir(parsed, {
    out: opts.out,
    rng,
    testOnly: opts.seed !== undefined,
    onProgress: (m) => io.err(`deal: ${m}\n`),
    ...(rsa === undefined ? {} : { rsa }),
    ...(beacon === undefined ? {} : { beacon }),
    ...(signerPolicy === undefined ? {} : { signerPolicy }),
    ...(opts.signerRsa ? { signerRsa: { bits: opts.rsaBits ?? DEFAULT_RSA_BITS, ...(signerRsaPrimes === undefined ? {} : { primes: signerRsaPrimes }) } } : {}),
  });
  const g = result.group;
  const summary = publicSummary(g);
  const replicas = g.replicas.map((r, i) => ({ ...r, secretsFile: result.secretsPaths[i]! }));
  const r = result.rsa;
  if (opts.json) {
    const files = {
      group: result.groupPath,
      secrets: result.secretsPaths,
      ...(r === undefined ? {} : { rootCertificate: r.rootCertificatePath, tsaCertificate: r.tsaCertificatePath }),
    };
    const certificates =
      r === undefined
        ? {}
        : {
            certificates: {
              notBefore: r.certificates.notBefore.toISOString(),
              notAfter: r.certificates.notAfter.toISOString(),
              rootSerial: r.certificates.rootSerial,
              tsaSerial: r.certificates.tsaSerial,
              ...(r.primesMs === undefined ? {} : { primesMs: r.primesMs }),
            },
          };
    io.out(`${JSON.stringify({ ...summary, ...certificates, replicas, files, ms: Date.now() - started }, null, 2)}\n`);
    return 0;
  }
  const rsaKey = summary.keys.rsa;
  const lines = [
    `dealt group ${g.groupId}${g.testOnly ? '  (TEST KEYS ONLY)' : ''}`,
    `  replicas:       ${g.replicas.length} (${g.replicas.map((r) => r.id).join(', ')})`,
    `  structure:      ${summary.structure}`,
    `  adversary:      ${describeAdversary(g.adversary)}`,
    `  kernel key:     ${summary.keys.kernel.fingerprint} (${summary.keys.kernel.rows} rows)`,
    `  quorum key:     ${summary.keys.quorum.fingerprint} (${summary.keys.quorum.rows} rows)`,
    `  encryption key: ${summary.keys.encryption.fingerprint} (${summary.keys.encryption.rows} rows)`,
    ...(rsaKey === undefined || r === undefined
      ? []
      : [
          `  RSA key:        ${rsaKey.bits} bits, e = ${rsaKey.e}; any ${rsaKey.threshold} of ${rsaKey.players} replicas sign${r.primesMs === undefined ? '' : ` (safe primes: ${(r.primesMs / 1000).toFixed(1)} s)`}`,
          `  certificates:   root CA and TSA, valid ${r.certificates.notBefore.toISOString().replace('.000', '')} to ${r.certificates.notAfter.toISOString().replace('.000', '')}`,
          `  root CA SHA-256 fingerprint: ${rsaKey.rootCertificateSha256}`,
        ]),
    ...(summary.keys.beacon === undefined
      ? []
      : [
          `  beacon key:     ${summary.keys.beacon.fingerprint} (${summary.keys.beacon.rows} rows); drand chain ${summary.keys.beacon.chainHash}`,
          `  beacon rounds:  every ${summary.keys.beacon.period} s from ${new Date(summary.keys.beacon.genesisTime * 1000).toISOString().replace('.000', '')} (round 1), beacon id ${summary.keys.beacon.beaconId}`,
        ]),
    ...(signerPolicy === undefined
      ? []
      : [
          `  signer policy:  version ${signerPolicy.version}; ${Object.keys(signerPolicy.admins.keys).length} administrator(s), ${signerPolicy.admins.threshold} to change it; ${Object.keys(signerPolicy.clients).length} client(s); purposes ${Object.keys(signerPolicy.purposes).join(', ') || '(none)'}`,
        ]),
    `  took:           ${((Date.now() - started) / 1000).toFixed(1)} s`,
    `wrote:`,
    `  ${result.groupPath}  (public)`,
    ...(r === undefined ? [] : [`  ${r.rootCertificatePath}  (public: the group's root CA certificate)`, `  ${r.tsaCertificatePath}  (public: the group's TSA certificate)`]),
    ...result.secretsPaths.map((p) => `  ${p}  (secret, mode 0600, for \`wrangler secret bulk\`)`),
  ];
  io.out(`${lines.join('\n')}\n`);
  return 0;
}

export interface VerifyCommandOptions {
  json?: boolean;
  allowMissing?: boolean;
}

function verifyJson(r: VerifyReport) {
  const { group: _group, ...rest } = r;
  return rest;
}

export async function verifyCommand(dir: string, opts: VerifyCommandOptions, io: Io): Promise<number> {
  const report = await verifyDealDir(dir, { allowMissing: opts.allowMissing ?? false, onProgress: (m) => io.err(`verify: ${m}\n`) });
  for (const w of report.warnings) io.err(`warning: ${w}\n`);
  for (const r of report.replicas) for (const w of r.warnings) io.err(`warning: ${w}\n`);
  if (opts.json) {
    io.out(`${JSON.stringify(verifyJson(report), null, 2)}\n`);
    return report.ok ? 0 : 1;
  }
  const g = report.group.file;
  const lines = [
    `group ${report.groupId}${report.testOnly ? '  (TEST KEYS ONLY)' : ''}`,
    `  structure: ${describeStructure(g.structure)}`,
    `  keys:      ${report.keysConsistent ? 'OK (row keys consistent with kernel, quorum and encryption keys)' : `FAIL ${report.keysError}`}`,
    ...(report.rsa === undefined
      ? []
      : [
          report.rsa.ok
            ? `  RSA:       OK (${report.rsa.bits}-bit key; root CA and TSA certificates valid ${report.rsa.certificates!.notBefore.replace('.000', '')} to ${report.rsa.certificates!.notAfter.replace('.000', '')}, ${ROOT_CA_FILE} and ${TSA_FILE} match group.json)`
            : `  RSA:       FAIL ${report.rsa.error}`,
        ]),
    ...report.replicas.map((r) => {
      if (r.status === 'ok') return `OK    ${r.id} (index ${r.index}; rows: kernel ${r.rows!.kernel}, quorum ${r.rows!.quorum}, encryption ${r.rows!.encryption}${r.rsa ? '; RSA share' : ''})`;
      if (r.status === 'missing' && opts.allowMissing) return `SKIP  ${r.id}: ${r.error}`;
      return `FAIL  ${r.id}: ${r.error}`;
    }),
    report.ok ? 'all checks passed' : 'verification FAILED',
  ];
  io.out(`${lines.join('\n')}\n`);
  return report.ok ? 0 : 1;
}

export { DealerError };

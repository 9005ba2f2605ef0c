/** `sintra deal` and `sintra deal verify`: option handling and output. Only public data is ever printed. */
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, toHex } from '../../shared/crypto/bytes.ts';
import type { GroupFile } from '../../shared/config/group.ts';
import type { StructureDescription } from '../../shared/quorum/quorum-system.ts';
import type { AdversarySpec } from '../../shared/quorum/structure-file.ts';
import { DealerError, TEST_KEYS_WARNING, dealToDir, loadStructure, seedRandom, structureFromThreshold, systemRandom } from '../dealer/dealer.ts';
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
    },
  };
}

export async function dealCommand(opts: DealOptions, io: Io): Promise<number> {
  const threshold = opts.n !== undefined || opts.t !== undefined;
  if (threshold && opts.structure !== undefined) throw new UsageError('give either --n N --t T or --structure FILE, not both');
  if (!threshold && opts.structure === undefined) throw new UsageError('give --n N --t T or --structure FILE');
  if (threshold && (opts.n === undefined || opts.t === undefined)) throw new UsageError('--n and --t go together');
  if (opts.out === undefined) throw new UsageError("required option '--out <dir>' not specified");
  const rng = opts.seed === undefined ? systemRandom : seedRandom(opts.seed);
  const parsed = threshold ? structureFromThreshold(opts.n!, opts.t!) : await loadStructure(opts.structure!);
  if (opts.seed !== undefined) io.err(`${TEST_KEYS_WARNING}\n`);
  const started = Date.now();
  const result = await dealToDir(parsed, {
    out: opts.out,
    rng,
    testOnly: opts.seed !== undefined,
    onProgress: (m) => io.err(`deal: ${m}\n`),
  });
  const g = result.group;
  const summary = publicSummary(g);
  const replicas = g.replicas.map((r, i) => ({ ...r, secretsFile: result.secretsPaths[i]! }));
  if (opts.json) {
    io.out(`${JSON.stringify({ ...summary, replicas, files: { group: result.groupPath, secrets: result.secretsPaths } }, null, 2)}\n`);
    return 0;
  }
  const lines = [
    `dealt group ${g.groupId}${g.testOnly ? '  (TEST KEYS ONLY)' : ''}`,
    `  replicas:       ${g.replicas.length} (${g.replicas.map((r) => r.id).join(', ')})`,
    `  structure:      ${summary.structure}`,
    `  adversary:      ${describeAdversary(g.adversary)}`,
    `  kernel key:     ${summary.keys.kernel.fingerprint} (${summary.keys.kernel.rows} rows)`,
    `  quorum key:     ${summary.keys.quorum.fingerprint} (${summary.keys.quorum.rows} rows)`,
    `  encryption key: ${summary.keys.encryption.fingerprint} (${summary.keys.encryption.rows} rows)`,
    `  took:           ${((Date.now() - started) / 1000).toFixed(1)} s`,
    `wrote:`,
    `  ${result.groupPath}  (public)`,
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
    ...report.replicas.map((r) => {
      if (r.status === 'ok') return `OK    ${r.id} (index ${r.index}; rows: kernel ${r.rows!.kernel}, quorum ${r.rows!.quorum}, encryption ${r.rows!.encryption})`;
      if (r.status === 'missing' && opts.allowMissing) return `SKIP  ${r.id}: ${r.error}`;
      return `FAIL  ${r.id}: ${r.error}`;
    }),
    report.ok ? 'all checks passed' : 'verification FAILED',
  ];
  io.out(`${lines.join('\n')}\n`);
  return report.ok ? 0 : 1;
}

export { DealerError };

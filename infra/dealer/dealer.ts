/**
 * `sintra deal`: read the structure, deal with real (or, for tests, seeded) randomness, check that the
 * output parses as the replicas will parse it, and write it atomically (output.ts).
 */
import { readFile } from 'node:fs/promises';
import { fromHex } from '../../shared/crypto/bytes.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import type { RandomBytes } from '../../shared/crypto/random.ts';
import { deal } from '../../shared/config/deal.ts';
import type { DealOutput } from '../../shared/config/deal.ts';
import { parseGroup, parseReplicaSecrets } from '../../shared/config/group.ts';
import { StructureError } from '../../shared/quorum/quorum-system.ts';
import { parseReplicas, parseStructureFile, thresholdStructure } from '../../shared/quorum/structure-file.ts';
import type { ParsedStructure } from '../../shared/quorum/structure-file.ts';
import { DealerError, checkOutputDir, writeOutputDir } from './output.ts';
import type { OutputFile } from './output.ts';

export { DealerError };

export const GROUP_FILE = 'group.json';
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

export interface DealToDirOptions {
  readonly out: string;
  readonly rng: RandomBytes;
  readonly testOnly: boolean;
  readonly onProgress?: (message: string) => void;
}

export interface DealResult extends DealOutput {
  readonly groupPath: string;
  readonly secretsPaths: readonly string[];
}

export async function dealToDir(parsed: ParsedStructure, opts: DealToDirOptions): Promise<DealResult> {
  const progress = opts.onProgress ?? (() => {});
  await checkOutputDir(opts.out); // fail before the slow part; writeOutputDir checks again
  progress(`dealing for ${parsed.replicas.length} replicas`);
  const out = deal(parsed, opts.rng, { testOnly: opts.testOnly, onProgress: progress });
  progress('checking the output parses');
  const group = parseGroup(out.group);
  out.secrets.forEach((s) => parseReplicaSecrets(s, group));
  const files: OutputFile[] = [
    { name: GROUP_FILE, content: `${JSON.stringify(out.group, null, 2)}\n`, mode: 0o644 },
    ...out.secrets.map((s) => ({ name: secretsFileName(s.SINTRA_REPLICA_ID), content: `${JSON.stringify(s, null, 2)}\n`, mode: 0o600 })),
  ];
  progress(`writing ${files.length} files`);
  const [groupPath, ...secretsPaths] = await writeOutputDir(opts.out, files);
  return { ...out, groupPath: groupPath!, secretsPaths };
}

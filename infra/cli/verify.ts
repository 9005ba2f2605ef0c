/**
 * `sintra verify RECEIPT.json --group group.json`: offline verification of a receipt (docs/design.md section 10)
 * with the public group.json alone: the receipt is for this group, the checkpoint's group signature verifies
 * with the kernel group key, and the RFC 6962 inclusion proof leads from the entry to the checkpoint root.
 *
 * Exit code 0 only for a valid receipt (stdout says what was verified); 1 for an invalid or unreadable
 * receipt or group file (one line `error: ...` on stderr naming the reason; with --json the verdict is also
 * printed as JSON on stdout); 2 for usage errors. `sintra submit --wait` uses the same checks.
 */
import { readFile } from 'node:fs/promises';
import { parseGroup } from '../../shared/config/group.ts';
import type { Group } from '../../shared/config/group.ts';
import { checkReceipt } from '../../shared/log/receipt-check.ts';
import type { ReceiptSummary } from '../../shared/log/receipt-check.ts';
import { UsageError } from './deal.ts';
import type { Io } from './deal.ts';

// The checks live in shared/ (the package's verify export has them too, for browsers and Workers).
export { checkReceipt, printableText } from '../../shared/log/receipt-check.ts';
export type { ReceiptCheck, ReceiptSummary } from '../../shared/log/receipt-check.ts';

export interface VerifyReceiptOptions {
  group?: string;
  json?: boolean;
}

/** Reads and strictly parses a group.json; errors name the file. */
export async function loadGroupFile(path: string): Promise<Group> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read group file ${path}: ${fsReason(e)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`group file ${path} is not JSON`);
  }
  try {
    return parseGroup(json);
  } catch (e) {
    throw new Error(`group file ${path} is not a valid group.json: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export function fsReason(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'is a directory';
  if (code === 'EACCES') return 'permission denied';
  return e instanceof Error ? e.message : String(e);
}

export function describeEntry(e: ReceiptSummary['entry']): string {
  if (e.text !== null) {
    const shown = e.text.length > 200 ? `${JSON.stringify(e.text.slice(0, 200))}...` : JSON.stringify(e.text);
    return `${shown} (${e.bytes} bytes of text)`;
  }
  const hex = e.hex.length > 64 ? `${e.hex.slice(0, 64)}...` : e.hex;
  return `${e.bytes} bytes, binary: ${hex}`;
}

export function summaryLines(s: ReceiptSummary): string[] {
  return [
    `valid receipt${s.testOnly ? '  (group with TEST KEYS ONLY)' : ''}`,
    `  group:      ${s.groupId}`,
    `  entry:      ${describeEntry(s.entry)}`,
    `  request id: ${s.requestId}`,
    `  index:      ${s.index} (position in the log, from 0)`,
    `  checkpoint: size ${s.checkpoint.size}, epoch ${s.checkpoint.epoch}, root ${s.checkpoint.root}`,
    `  signature:  verified with the group's kernel key (fingerprint ${s.kernelKeyFingerprint})`,
    `  inclusion:  RFC 6962 proof of ${s.proofHashes} hash${s.proofHashes === 1 ? '' : 'es'} leads to the checkpoint root`,
  ];
}

/**
 * What the offline verifiers (`sintra verify`, `sintra stamp --verify`, `sintra ca verify`) share: a failure
 * prints {"valid": false, "reason"} with --json and one line on stderr, exit code 1; `load` reads group.json
 * and the saved JSON document (called `what` in messages) and reports its failures that way, returning the
 * exit code instead of the contents.
 */
export function offlineCheck(io: Io, json: boolean | undefined) {
  const fail = (reason: string): number => {
    if (json) io.out(`${JSON.stringify({ valid: false, reason })}\n`);
    io.err(`error: ${reason.replace(/\s*\n\s*/g, ' ')}\n`);
    return 1;
  };
  const load = async (groupPath: string, file: string, what: string): Promise<{ group: Group; json: unknown } | number> => {
    let group: Group;
    try {
      group = await loadGroupFile(groupPath);
    } catch (e) {
      return fail(e instanceof Error ? e.message : String(e));
    }
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      return fail(`cannot read ${what} ${file}: ${fsReason(e)}`);
    }
    try {
      return { group, json: JSON.parse(text) as unknown };
    } catch {
      return fail(`${what} ${file} is not JSON`);
    }
  };
  return { fail, load };
}

export async function verifyReceiptCommand(file: string, opts: VerifyReceiptOptions, io: Io): Promise<number> {
  if (!opts.group) throw new UsageError("required option '--group <file>' not specified");
  const { fail, load } = offlineCheck(io, opts.json);
  const loaded = await load(opts.group, file, 'receipt');
  if (typeof loaded === 'number') return loaded;
  const { group, json } = loaded;
  const check = checkReceipt(json, group);
  if (!check.ok) return fail(`invalid receipt ${file}: ${check.reason}`);
  if (opts.json) io.out(`${JSON.stringify(check.summary, null, 2)}\n`);
  else io.out(`${summaryLines(check.summary).join('\n')}\n`);
  return 0;
}

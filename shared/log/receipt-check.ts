/**
 * A receipt checked against a pinned group, with what it proves: the offline verification that `sintra
 * verify` prints (infra/cli/verify.ts) and that the package's verify export offers (shared/entry/verify.ts:
 * browsers, Workers, Node). Runtime-free: no I/O, no node: modules. The checks are docs/formats.md
 * section 8.
 */
import { bytesEqual, toHex } from '../crypto/bytes.ts';
import { sha256 } from '../crypto/sha256.ts';
import { keyFingerprint } from '../crypto/threshold-bls.ts';
import type { Group } from '../config/group.ts';
import { receiptFromJson, receiptToJson, verifyReceipt } from './checkpoint.ts';
import type { Receipt, ReceiptJson } from './checkpoint.ts';

/** What a valid receipt proves, for people (lines) and scripts (JSON). */
export interface ReceiptSummary {
  readonly valid: true;
  readonly groupId: string;
  readonly testOnly: boolean;
  /** SHA-256 of the entry: the request id the replicas use. */
  readonly requestId: string;
  readonly index: number;
  readonly entry: { readonly bytes: number; readonly text: string | null; readonly hex: string };
  readonly checkpoint: { readonly size: number; readonly epoch: number; readonly root: string };
  readonly proofHashes: number;
  readonly kernelKeyFingerprint: string;
}

export type ReceiptCheck = { readonly ok: true; readonly receipt: Receipt; readonly json: ReceiptJson; readonly summary: ReceiptSummary } | { readonly ok: false; readonly reason: string };

const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** The entry as text if it is UTF-8 without control characters (other than tab and newlines), else null. */
export function printableText(bytes: Uint8Array): string | null {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes); // the defaults, spelled out for workers-types
  } catch {
    return null;
  }
  return CONTROL.test(text) ? null : text;
}

/**
 * Parses a receipt's JSON (as served by GET /v1/receipts/:id or saved by `sintra submit --out`) and verifies
 * it against the pinned `group` (parseGroup of group.json): never throws. The receipt's own groupId must be
 * the pinned group's; the signature is checked with the pinned kernel key.
 */
export function checkReceipt(json: unknown, group: Group): ReceiptCheck {
  let parsed: ReturnType<typeof receiptFromJson>;
  try {
    parsed = receiptFromJson(json);
  } catch (e) {
    return { ok: false, reason: `not a receipt: ${e instanceof Error ? e.message : String(e)}` };
  }
  const { groupId, receipt } = parsed;
  if (!bytesEqual(groupId, group.groupId)) {
    return { ok: false, reason: `the receipt is for group ${toHex(groupId)}, not for this group ${toHex(group.groupId)}` };
  }
  const verdict = verifyReceipt(group.kernel.groupKey, group.groupId, receipt);
  if (!verdict.ok) return { ok: false, reason: verdict.reason };
  const text = printableText(receipt.entry);
  const summary: ReceiptSummary = {
    valid: true,
    groupId: toHex(group.groupId),
    testOnly: group.testOnly,
    requestId: toHex(sha256(receipt.entry)),
    index: receipt.index,
    entry: { bytes: receipt.entry.length, text, hex: toHex(receipt.entry) },
    checkpoint: { size: receipt.checkpoint.size, epoch: receipt.checkpoint.epoch, root: toHex(receipt.checkpoint.root) },
    proofHashes: receipt.proof.length,
    kernelKeyFingerprint: keyFingerprint(group.kernel.groupKey),
  };
  return { ok: true, receipt, json: receiptToJson(group.groupId, receipt), summary };
}

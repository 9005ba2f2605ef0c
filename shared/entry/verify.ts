/**
 * The package's verify export (import from sintra-edge/verify; docs/api.md, "Using the package"): the
 * offline verifiers. Each checks a saved document against a pinned group.json alone, with no network and
 * no clock: receipts, notary stamps, CA directory statements, checkpoints and C2SP checkpoint notes,
 * exported tile archives. Runtime-free (no I/O, no node: modules): the same code runs in Node, browsers
 * and Workers.
 *
 *   const group = parseGroup(JSON.parse(groupJsonText));
 *   const check = checkReceipt(JSON.parse(receiptText), group);   // never throws
 *   if (check.ok) console.log(check.summary.index, check.summary.entry.text);
 */
export { ConfigError, parseGroup } from '../config/group.ts';
export type { Group, GroupFile } from '../config/group.ts';
export { checkReceipt, printableText } from '../log/receipt-check.ts';
export type { ReceiptCheck, ReceiptSummary } from '../log/receipt-check.ts';
export { ReceiptFormatError, checkpointFromJson, checkpointToJson, receiptFromJson, receiptToJson, verifyCheckpoint, verifyExtension, verifyReceipt } from '../log/checkpoint.ts';
export type { Checkpoint, CheckpointJson, Receipt, ReceiptJson, ReceiptVerdict, SignedCheckpoint } from '../log/checkpoint.ts';
export { verifyCheckpointNote } from '../log/checkpoint-note.ts';
export type { NoteVerdict } from '../log/checkpoint-note.ts';
export { documentDigest, verifyDocumentStamp, verifyStampReceipt } from '../client/sdk.ts';
export type { StampVerdict } from '../client/sdk.ts';
export { verifyDirectoryStatement } from '../app/ca.ts';
export type { CertificateRecord, DirectoryStatementJson, DirectoryVerdict } from '../app/ca.ts';
export { verifyTileArchive } from '../client/tile-archive.ts';
export { verifyPolicyStatement, verifySignatureDocument } from '../client/signer.ts';
export type { PolicyStatementJson, PolicyVerdict, SignatureDocument, SignatureVerdict } from '../client/signer.ts';
export type { ArchiveVerdict } from '../client/tile-archive.ts';

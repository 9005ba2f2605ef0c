/**
 * Signed checkpoints and receipts (docs/design.md section 10). After every delivered epoch each replica's log
 * has the same size and root; the group threshold-signs (size, root, epoch, state digest) with the kernel
 * key under purpose 'checkpoint' and tag `ckpt/<epoch>`, so a checkpoint is one BLS signature that anyone
 * verifies with the single group key. A receipt is an entry, its inclusion proof and a signed checkpoint
 * that covers it: checkable offline with group.json alone.
 *
 * The state digest is the replicated application's digest of its state after the epoch (for the plain
 * ordering service it is the log root itself), so two honest replicas can never sign different states.
 *
 * Payload version 2 (docs/formats.md section 6) adds the epoch's agreed time (shared/protocols/agreed-time.ts)
 * and the time chain, a hash chain over the (epoch, time) of every epoch that appended entries: a replica
 * that takes the log by state transfer checks the times of the epochs it executes against it (engine.ts
 * transferTo) before any of them runs. Version 1 checkpoints (no time) still verify, for receipts kept
 * from groups of earlier releases; replicas sign version 2 only.
 */
import { bytesEqual, frame, fromHex, toHex } from '../crypto/bytes.ts';
import { sha256 } from '../crypto/sha256.ts';
import { domain } from '../crypto/domain.ts';
import { verifySignature } from '../crypto/threshold-bls.ts';
import type { G2Point } from '../crypto/curve.ts';
import { leafHash, verifyConsistency, verifyInclusion } from './merkle.ts';
import { checkpointTag } from '../protocols/instance-tag.ts';

export interface Checkpoint {
  /** Number of log entries covered. */
  readonly size: number;
  /** RFC 6962 root of the first `size` entries. */
  readonly root: Uint8Array;
  /** The atomic-broadcast epoch whose delivery produced this log head. */
  readonly epoch: number;
  readonly stateDigest: Uint8Array;
  /**
   * The epoch's agreed time, ms since 1970-01-01T00:00:00Z (UTC, leap seconds not counted), and the time
   * chain after it (timeChainNext). Both present (payload version 2) or both absent (version 1).
   */
  readonly time?: number;
  readonly timeChain?: Uint8Array;
}

export interface SignedCheckpoint extends Checkpoint {
  /** Combined kernel-key BLS signature (48-byte compressed G1). */
  readonly signature: Uint8Array;
}

export const CHECKPOINT_PAYLOAD_VERSION = 'sintra-edge/checkpoint@2';
export const CHECKPOINT_PAYLOAD_VERSION_1 = 'sintra-edge/checkpoint@1';
const TIME_CHAIN_DOMAIN = 'sintra-edge/time-chain@1';
/** The time chain before any epoch appended an entry. */
export const EMPTY_TIME_CHAIN: Uint8Array = new Uint8Array(32);

/** The tag a checkpoint is signed under, `ckpt/<epoch>` (built by the one tag codec). */
export { checkpointTag };

function u64(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`not a non-negative safe integer: ${n}`);
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n));
  return b;
}

/** The bytes the group signs for a checkpoint (the tag and group id are bound by the signing domain). */
export function checkpointPayload(c: Checkpoint): Uint8Array {
  if (c.time === undefined || c.timeChain === undefined) return frame(CHECKPOINT_PAYLOAD_VERSION_1, u64(c.size), c.root, u64(c.epoch), c.stateDigest);
  return frame(CHECKPOINT_PAYLOAD_VERSION, u64(c.size), c.root, u64(c.epoch), c.stateDigest, u64(c.time), c.timeChain);
}

/**
 * The time chain after an epoch that appended entries: SHA-256 of frame('sintra-edge/time-chain@1',
 * previous chain, u64 epoch, u64 time) (frame: bytes.ts, each part length-prefixed).
 */
export function timeChainNext(chain: Uint8Array, epoch: number, time: number): Uint8Array {
  return sha256(frame(TIME_CHAIN_DOMAIN, chain, u64(epoch), u64(time)));
}

export function verifyCheckpoint(groupKey: G2Point, groupId: Uint8Array, c: SignedCheckpoint): boolean {
  if (!isCheckpointShape(c)) return false;
  return verifySignature(groupKey, domain(groupId, 'checkpoint'), checkpointTag(c.epoch), checkpointPayload(c), c.signature);
}

export function isCheckpointShape(c: SignedCheckpoint): boolean {
  return (
    Number.isSafeInteger(c.size) &&
    c.size >= 0 &&
    Number.isSafeInteger(c.epoch) &&
    c.epoch >= 0 &&
    c.root instanceof Uint8Array &&
    c.root.length === 32 &&
    c.stateDigest instanceof Uint8Array &&
    c.stateDigest.length === 32 &&
    c.signature instanceof Uint8Array &&
    ((c.time === undefined && c.timeChain === undefined) ||
      (typeof c.time === 'number' && Number.isSafeInteger(c.time) && c.time >= 0 && c.timeChain instanceof Uint8Array && c.timeChain.length === 32))
  );
}

/** JSON form (hex fields) used by the HTTP API and receipts. */
export interface CheckpointJson {
  readonly size: number;
  readonly root: string;
  readonly epoch: number;
  readonly stateDigest: string;
  /** Version 2: the agreed time (ms since 1970, UTC) and the time chain (hex). */
  readonly time?: number;
  readonly timeChain?: string;
  readonly signature: string;
}

export function checkpointToJson(c: SignedCheckpoint): CheckpointJson {
  return {
    size: c.size,
    root: toHex(c.root),
    epoch: c.epoch,
    stateDigest: toHex(c.stateDigest),
    ...(c.time !== undefined && c.timeChain !== undefined ? { time: c.time, timeChain: toHex(c.timeChain) } : {}),
    signature: toHex(c.signature),
  };
}

export class ReceiptFormatError extends Error {
  override readonly name = 'ReceiptFormatError';
}

function field<T>(o: Record<string, unknown>, k: string, ok: (v: unknown) => v is T, what: string): T {
  const v = o[k];
  if (!ok(v)) throw new ReceiptFormatError(`${k}: expected ${what}`);
  return v;
}
const isNat = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isStr = (v: unknown): v is string => typeof v === 'string';
function hexField(o: Record<string, unknown>, k: string, len?: number): Uint8Array {
  const s = field(o, k, isStr, 'a hex string');
  try {
    return fromHex(s, len);
  } catch {
    throw new ReceiptFormatError(`${k}: expected ${len ? `${len} bytes of ` : ''}hex`);
  }
}

export function checkpointFromJson(j: unknown): SignedCheckpoint {
  if (typeof j !== 'object' || j === null) throw new ReceiptFormatError('checkpoint: expected an object');
  const o = j as Record<string, unknown>;
  const timed = o['time'] !== undefined || o['timeChain'] !== undefined;
  return {
    size: field(o, 'size', isNat, 'a non-negative integer'),
    root: hexField(o, 'root', 32),
    epoch: field(o, 'epoch', isNat, 'a non-negative integer'),
    stateDigest: hexField(o, 'stateDigest', 32),
    // Both or neither (version 2 or 1): one without the other is malformed, not a version-1 checkpoint.
    ...(timed ? { time: field(o, 'time', isNat, 'a non-negative integer (ms since 1970)'), timeChain: hexField(o, 'timeChain', 32) } : {}),
    signature: hexField(o, 'signature', 48),
  };
}

/** An entry of the log with the proof that a signed checkpoint covers it. */
export interface Receipt {
  readonly entry: Uint8Array;
  readonly index: number;
  readonly proof: readonly Uint8Array[];
  readonly checkpoint: SignedCheckpoint;
}

export interface ReceiptJson {
  readonly format: 'sintra-edge/receipt@1';
  readonly groupId: string;
  readonly entry: string;
  readonly index: number;
  readonly proof: readonly string[];
  readonly checkpoint: CheckpointJson;
}

export function receiptToJson(groupId: Uint8Array, r: Receipt): ReceiptJson {
  return {
    format: 'sintra-edge/receipt@1',
    groupId: toHex(groupId),
    entry: toHex(r.entry),
    index: r.index,
    proof: r.proof.map(toHex),
    checkpoint: checkpointToJson(r.checkpoint),
  };
}

export function receiptFromJson(j: unknown): { groupId: Uint8Array; receipt: Receipt } {
  if (typeof j !== 'object' || j === null) throw new ReceiptFormatError('receipt: expected an object');
  const o = j as Record<string, unknown>;
  if (o['format'] !== 'sintra-edge/receipt@1') throw new ReceiptFormatError('format: expected "sintra-edge/receipt@1"');
  const proof = o['proof'];
  if (!Array.isArray(proof) || proof.length > 64) throw new ReceiptFormatError('proof: expected an array of at most 64 hashes');
  return {
    groupId: hexField(o, 'groupId', 32),
    receipt: {
      entry: hexField(o, 'entry'),
      index: field(o, 'index', isNat, 'a non-negative integer'),
      proof: proof.map((p, i) => {
        if (typeof p !== 'string') throw new ReceiptFormatError(`proof[${i}]: expected hex`);
        try {
          return fromHex(p, 32);
        } catch {
          throw new ReceiptFormatError(`proof[${i}]: expected 32 bytes of hex`);
        }
      }),
      checkpoint: checkpointFromJson(o['checkpoint']),
    },
  };
}

export type ReceiptVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** Offline verification: the group signature on the checkpoint, then the entry's inclusion in it. */
export function verifyReceipt(groupKey: G2Point, groupId: Uint8Array, r: Receipt): ReceiptVerdict {
  if (!isNat(r.index) || r.index >= r.checkpoint.size) return { ok: false, reason: `index ${r.index} is outside the checkpoint (size ${r.checkpoint.size})` };
  if (!verifyCheckpoint(groupKey, groupId, r.checkpoint)) return { ok: false, reason: 'the checkpoint signature does not verify with the group key' };
  if (!verifyInclusion(leafHash(r.entry), r.index, r.checkpoint.size, r.proof, r.checkpoint.root)) {
    return { ok: false, reason: 'the inclusion proof does not lead to the checkpoint root' };
  }
  return { ok: true };
}

/** Two signed checkpoints of one log: the later one extends the earlier one (append-only). */
export function verifyExtension(earlier: Checkpoint, later: Checkpoint, proof: readonly Uint8Array[]): boolean {
  // Equal sizes need equal roots and an EMPTY proof (RFC 9162 section 2.1.4.2): verifyConsistency says so.
  return verifyConsistency(earlier.size, later.size, proof, earlier.root, later.root);
}

/**
 * Rejoining after lost state (docs/design.md section 7b). A replica whose storage went back in time, or was
 * lost, may have said things in epochs its storage no longer knows of; if it took part in those epochs
 * again it could say them differently (equivocate), which is what made two group-signed histories possible
 * (issue 13, bug 3). So it stays passive (sends nothing, takes no peer messages) until the group's signed
 * checkpoints have passed every epoch it may have spoken in, takes the state by state transfer, and only
 * then takes part again, from the epoch after that checkpoint.
 *
 * The bound. An honest replica handles (and so may send messages for) epochs up to its current epoch plus
 * the atomic-broadcast window W, and never goes back. Say the lost replica i last sent for epoch e: then
 * its current epoch was at least e - W, so it had finished epoch e - W - 1, by agreeing on it with a
 * quorum Q1 of replicas that sent messages for it (or by a transfer of a signed checkpoint for it, which an
 * honest replica finished the same way). Each honest member of Q1 sent them while its own epoch was at
 * least e - 2W - 1, and epochs only grow. After i found out, it asks its peers for their current epochs
 * (reports, MAC'd on their link to i, with a fresh nonce so that no old report counts). Once the reporters
 * and i form a quorum Q2, Q1 and Q2 meet in a set that is not corruptible; i and the corrupted replicas
 * together are corruptible (i counts as faulty while it rejoins), so an honest reporter is in Q1, and the
 * largest epoch reported is at least e - 2W - 1. Hence every epoch i may have spoken in is at most
 *
 *   passive bound P = (largest reported epoch) + 2W + 1,
 *
 * and i takes part again only from a signed checkpoint of an epoch >= P on. A corrupted reporter can only
 * raise P: it must show a signed checkpoint no more than REPORT_CHECKPOINT_LAG epochs behind the epoch it
 * reports, so it cannot raise P beyond what the group has signed by more than a constant.
 *
 * Report MAC input (HMAC-SHA256 under the reporter's link key to i, keys.ts; frame is the u32-length-
 * prefixed concatenation of crypto/bytes.ts, so it never collides with a link frame, whose first byte is 1):
 *
 *   frame("sintra-edge/rejoin-report/v1", u16 reporter, u16 to, nonce (16 bytes), u64 epoch)
 */
import { bytesEqual, frame, fromHex, toHex, u16be } from '../crypto/bytes.ts';
import { checkpointFromJson, checkpointToJson } from '../log/checkpoint.ts';
import type { CheckpointJson, SignedCheckpoint } from '../log/checkpoint.ts';
import type { LinkChannel } from '../link/keys.ts';

export const REJOIN_REPORT_INFO = 'sintra-edge/rejoin-report/v1';
export const REJOIN_NONCE_BYTES = 16;
/**
 * A report counts only if the epoch it names is at most this many epochs past the reporter's latest signed
 * checkpoint (an honest replica's checkpoints trail its epoch by one or two; one that lags more answers
 * again later). This caps how far a corrupted reporter can push the passive bound.
 */
export const REPORT_CHECKPOINT_LAG = 16;
/**
 * After a rejoin, outbox ids for each peer start this far above the stored next id: the lost storage may
 * have used ids up to some point past it, and a peer takes an id once (a new message under an old id would
 * be acknowledged and never applied). Ids are below 2^53, so a replica can rejoin 8,192 times.
 */
export const REJOIN_ID_GAP = 2 ** 40;

export interface RejoinReportJson {
  readonly replica: number;
  readonly to: number;
  readonly nonce: string;
  /** The reporter's current atomic-broadcast epoch. */
  readonly epoch: number;
  /** The reporter's latest signed checkpoint (null before the first). */
  readonly checkpoint: CheckpointJson | null;
  readonly mac: string;
}

export interface RejoinReport {
  readonly replica: number;
  readonly to: number;
  readonly nonce: Uint8Array;
  readonly epoch: number;
  readonly checkpoint: SignedCheckpoint | null;
  readonly mac: Uint8Array;
}

function u64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n));
  return b;
}

export function rejoinReportMacInput(replica: number, to: number, nonce: Uint8Array, epoch: number): Uint8Array {
  return frame(REJOIN_REPORT_INFO, u16be(replica), u16be(to), nonce, u64(epoch));
}

/** A report by `channel.sender` for `channel.receiver` (the rejoining replica), MAC'd on that link. */
export function makeRejoinReport(channel: LinkChannel, nonce: Uint8Array, epoch: number, checkpoint: SignedCheckpoint | null): RejoinReportJson {
  const mac = channel.mac(rejoinReportMacInput(channel.sender, channel.receiver, nonce, epoch));
  return { replica: channel.sender, to: channel.receiver, nonce: toHex(nonce), epoch, checkpoint: checkpoint ? checkpointToJson(checkpoint) : null, mac: toHex(mac) };
}

const isNat = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * The report's checkpoint: the receipt format's fields, with a signature of any length up to 256 bytes (the
 * group signature verifies it; the whole-replica simulator's test crypto signs with shorter ones).
 */
function checkpointOfReport(j: unknown): SignedCheckpoint {
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new Error('checkpoint: expected an object or null');
  const sig = (j as Record<string, unknown>)['signature'];
  if (typeof sig !== 'string' || sig.length > 512) throw new Error('checkpoint signature: expected hex of at most 256 bytes');
  const signature = fromHex(sig);
  return { ...checkpointFromJson({ ...(j as Record<string, unknown>), signature: '00'.repeat(48) }), signature };
}

/** Strict parse of a report's JSON (shape only: the MAC and checkpoint signature are the caller's). */
export function parseRejoinReport(json: unknown): RejoinReport | string {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return 'expected an object';
  const o = json as Record<string, unknown>;
  if (!isNat(o['replica']) || !isNat(o['to']) || !isNat(o['epoch'])) return 'replica, to and epoch must be non-negative integers';
  if (typeof o['nonce'] !== 'string' || typeof o['mac'] !== 'string') return 'nonce and mac must be hex strings';
  let nonce: Uint8Array;
  let mac: Uint8Array;
  let checkpoint: SignedCheckpoint | null = null;
  try {
    nonce = fromHex(o['nonce'], REJOIN_NONCE_BYTES);
    mac = fromHex(o['mac'], 32);
    if (o['checkpoint'] !== null) checkpoint = checkpointOfReport(o['checkpoint']);
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  return { replica: o['replica'], to: o['to'], nonce, epoch: o['epoch'], checkpoint, mac };
}

/** Whether a report's MAC is the reporter's on its link to us (`channel`: reporter -> us). */
export function rejoinReportAuthentic(channel: LinkChannel, r: RejoinReport): boolean {
  return r.replica === channel.sender && r.to === channel.receiver && bytesEqual(channel.mac(rejoinReportMacInput(r.replica, r.to, r.nonce, r.epoch)), r.mac);
}

/** The last epoch a replica that rejoins may have spoken in, from the epochs of a quorum's reports. */
export function passiveBound(reportedEpochs: Iterable<number>, epochWindow: number): number {
  let max = 0;
  for (const e of reportedEpochs) max = Math.max(max, e);
  return max + 2 * epochWindow + 1;
}

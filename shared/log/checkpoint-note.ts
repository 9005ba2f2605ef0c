/**
 * A signed checkpoint as a C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint), which is a C2SP signed
 * note (https://c2sp.org/signed-note), so that tile clients, mirrors and witnesses can read it:
 *
 *   sintra-edge/<group id, 64 hex digits>      origin
 *   <size>                                     decimal, no leading zeroes
 *   <root, base64>
 *   epoch <epoch>                              extension lines
 *   state <state digest, base64>
 *   time <agreed time>                         decimal ms since 1970 (checkpoint payload version 2 only)
 *   times <time chain, base64>                 (version 2 only)
 *
 *   — sintra-edge/<group id> <base64(key ID || 48-byte BLS signature)>
 *
 * The signature is the group's threshold BLS signature of the checkpoint (checkpoint.ts), made once by the
 * group and carried unchanged. Its signature type is 0xff followed by the identifier
 * `sintra-edge/bls12-381-checkpoint@1` (signed-note reserves 0xff for types it assigns no byte to), defined
 * as: the note text must be exactly the canonical text above for some (group id, size, root, epoch, state
 * digest), and the signature must verify as that checkpoint's (verifyCheckpoint, BLS12-381 under the group
 * key). Since the text is canonical, the signature binds every byte of it. The key ID is signed-note's
 * recommendation: SHA-256(key name || 0x0A || 0xff || identifier || 96-byte compressed group key)[:4].
 */
import { bytesEqual, fromBase64, toBase64, toHex, utf8ToBytes } from '../crypto/bytes.ts';
import { encodeG2 } from '../crypto/curve.ts';
import type { G2Point } from '../crypto/curve.ts';
import { sha256 } from '../crypto/sha256.ts';
import type { SignedCheckpoint } from './checkpoint.ts';
import { verifyCheckpoint } from './checkpoint.ts';

export const NOTE_SIGNATURE_TYPE = 'sintra-edge/bls12-381-checkpoint@1';

/** The origin line and key name of a group's checkpoints. */
export function checkpointOrigin(groupId: Uint8Array): string {
  return `sintra-edge/${toHex(groupId)}`;
}

/** The 4-byte key ID of the group key in signature lines (see the module comment). */
export function noteKeyId(groupId: Uint8Array, groupKey: G2Point): Uint8Array {
  return sha256(new Uint8Array([...utf8ToBytes(checkpointOrigin(groupId)), 0x0a, 0xff, ...utf8ToBytes(NOTE_SIGNATURE_TYPE), ...encodeG2(groupKey)])).subarray(0, 4);
}

function noteText(groupId: Uint8Array, c: Omit<SignedCheckpoint, 'signature'>): string {
  const time = c.time !== undefined && c.timeChain !== undefined ? `time ${c.time}\ntimes ${toBase64(c.timeChain)}\n` : '';
  return `${checkpointOrigin(groupId)}\n${c.size}\n${toBase64(c.root)}\nepoch ${c.epoch}\nstate ${toBase64(c.stateDigest)}\n${time}`;
}

/** The signed note of a checkpoint. */
export function checkpointNote(groupId: Uint8Array, groupKey: G2Point, c: SignedCheckpoint): string {
  const sig = new Uint8Array([...noteKeyId(groupId, groupKey), ...c.signature]);
  return `${noteText(groupId, c)}\n\u2014 ${checkpointOrigin(groupId)} ${toBase64(sig)}\n`;
}

export type NoteVerdict = { readonly ok: true; readonly checkpoint: SignedCheckpoint } | { readonly ok: false; readonly reason: string };

/**
 * Verifies a checkpoint note with the group's id and key: the text must be the canonical one and a
 * signature line by the group's key name and key ID must verify. Other signature lines (witnesses) are
 * ignored, as signed-note requires.
 */
export function verifyCheckpointNote(groupId: Uint8Array, groupKey: G2Point, note: string): NoteVerdict {
  const split = note.lastIndexOf('\n\n');
  if (split < 0 || !note.endsWith('\n')) return { ok: false, reason: 'not a signed note (no blank line before the signatures, or no final newline)' };
  const text = note.slice(0, split + 1);
  const lines = text.slice(0, -1).split('\n');
  if (lines.length !== 5 && lines.length !== 7) return { ok: false, reason: `a checkpoint of this group has 7 text lines (5 before agreed time), this has ${lines.length}` };
  const [origin, sizeLine, rootLine, epochLine, stateLine, timeLine, chainLine] = lines as [string, string, string, string, string, string?, string?];
  if (origin !== checkpointOrigin(groupId)) return { ok: false, reason: `origin ${JSON.stringify(origin.slice(0, 100))} is not this group's (${checkpointOrigin(groupId)})` };
  const size = /^(0|[1-9][0-9]*)$/.test(sizeLine) ? Number(sizeLine) : NaN;
  const epoch = /^epoch (0|[1-9][0-9]*)$/.test(epochLine) ? Number(epochLine.slice(6)) : NaN;
  const root = fromBase64(rootLine);
  const stateDigest = stateLine.startsWith('state ') ? fromBase64(stateLine.slice(6)) : null;
  if (!Number.isSafeInteger(size) || !Number.isSafeInteger(epoch) || root?.length !== 32 || stateDigest?.length !== 32) {
    return { ok: false, reason: 'the text is not a canonical checkpoint (size, base64 root, epoch and state lines)' };
  }
  let timed: { time: number; timeChain: Uint8Array } | null = null;
  if (timeLine !== undefined) {
    const time = /^time (0|[1-9][0-9]*)$/.test(timeLine) ? Number(timeLine.slice(5)) : NaN;
    const timeChain = chainLine?.startsWith('times ') ? fromBase64(chainLine.slice(6)) : null;
    if (!Number.isSafeInteger(time) || timeChain?.length !== 32) return { ok: false, reason: 'the text is not a canonical checkpoint (time and times lines)' };
    timed = { time, timeChain };
  }
  const keyId = noteKeyId(groupId, groupKey);
  for (const line of note.slice(split + 2, -1).split('\n')) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m) return { ok: false, reason: `not a signature line: ${JSON.stringify(line.slice(0, 100))}` };
    const sig = fromBase64(m[2]!);
    if (m[1] !== origin || !sig || sig.length < 4 || !bytesEqual(sig.subarray(0, 4), keyId)) continue; // another key: ignored
    const checkpoint: SignedCheckpoint = { size, root, epoch, stateDigest, ...timed, signature: sig.subarray(4) };
    if (noteText(groupId, checkpoint) !== text) return { ok: false, reason: 'the text is not in canonical form' };
    return verifyCheckpoint(groupKey, groupId, checkpoint) ? { ok: true, checkpoint } : { ok: false, reason: "the group's signature does not verify" };
  }
  return { ok: false, reason: "no signature by the group's key" };
}

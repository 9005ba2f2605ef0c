/**
 * Is the log only growing? Two group-signed checkpoints of one group must be consistent: the smaller one's
 * tree a prefix of the larger one's (RFC 6962 consistency proof, RFC 9162 section 2.1.4). Proofs are not
 * signed, so they are asked of replicas and checked here: a replica whose proof does not verify is a liar
 * (recorded, the next one asked), and when a kernel of replicas (a set the adversary cannot wholly corrupt,
 * so one of them honest, which would have served a valid proof) all served failing proofs, or the two
 * checkpoints have one size and two roots, the pair is a fork: proof that the group signed two histories,
 * which only more than the tolerated corrupt replicas can do. Runtime-free: the caller fetches.
 */
import { bytesEqual, fromHex } from '../crypto/bytes.ts';
import type { Group } from '../config/group.ts';
import { verifyCheckpoint, verifyExtension } from '../log/checkpoint.ts';
import type { SignedCheckpoint } from '../log/checkpoint.ts';

/** A replica's consistency proof between two sizes, or why it gave none (unreachable, its log too short...). */
export type ProofAnswer = { readonly proof: readonly Uint8Array[] } | { readonly unavailable: string };

export type ConsistencyVerdict =
  /** The larger checkpoint extends the smaller one (`provedBy`: who served the proof; null when none was needed). */
  | { readonly kind: 'consistent'; readonly older: SignedCheckpoint; readonly newer: SignedCheckpoint; readonly provedBy: string | null; readonly liars: readonly Liar[] }
  /** Two valid group signatures on histories that do not extend each other. */
  | { readonly kind: 'fork'; readonly older: SignedCheckpoint; readonly newer: SignedCheckpoint; readonly why: string; readonly liars: readonly Liar[] }
  /** A checkpoint's signature does not verify (whoever served it lied). */
  | { readonly kind: 'bad-signature'; readonly which: 'first' | 'second' }
  /** Not enough replicas answered to tell. */
  | { readonly kind: 'undecided'; readonly older: SignedCheckpoint; readonly newer: SignedCheckpoint; readonly why: string; readonly liars: readonly Liar[] };

/**
 * A replica's answer to GET /v1/log/consistency as a ProofAnswer: a 200 body's `proof` (hex hashes), a
 * malformed one as a proof that will not verify (so its sender counts as a liar), any other status as none.
 */
export function proofAnswer(status: number, json: unknown, why: string): ProofAnswer {
  if (status !== 200) return { unavailable: why };
  const proof = (json as { proof?: unknown } | null)?.proof;
  if (!Array.isArray(proof) || !proof.every((h) => typeof h === 'string' && /^[0-9a-f]{64}$/.test(h))) return { proof: [new Uint8Array(0)] };
  return { proof: proof.map((h: string) => fromHex(h, 32)) };
}

export interface Liar {
  readonly url: string;
  readonly reason: string;
}

/**
 * Checks that `a` and `b` (in any order) are consistent, asking `replicas` in order for the proof.
 * `index`: the replica each URL is (from /v1/info), for the kernel rule.
 */
export async function checkConsistency(
  group: Group,
  a: SignedCheckpoint,
  b: SignedCheckpoint,
  replicas: readonly { readonly url: string; readonly index: number }[],
  fetchProof: (url: string, first: number, second: number) => Promise<ProofAnswer>,
): Promise<ConsistencyVerdict> {
  if (!verifyCheckpoint(group.kernel.groupKey, group.groupId, a)) return { kind: 'bad-signature', which: 'first' };
  if (!verifyCheckpoint(group.kernel.groupKey, group.groupId, b)) return { kind: 'bad-signature', which: 'second' };
  const [older, newer] = a.size < b.size || (a.size === b.size && a.epoch <= b.epoch) ? [a, b] : [b, a];
  if (older.size === newer.size) {
    return bytesEqual(older.root, newer.root)
      ? { kind: 'consistent', older, newer, provedBy: null, liars: [] }
      : { kind: 'fork', older, newer, why: `two signed roots for size ${older.size}`, liars: [] };
  }
  const liars: Liar[] = [];
  const refuted = new Set<number>();
  for (const r of replicas) {
    let answer: ProofAnswer;
    try {
      answer = await fetchProof(r.url, older.size, newer.size);
    } catch (e) {
      answer = { unavailable: e instanceof Error ? e.message : String(e) };
    }
    if ('unavailable' in answer) continue;
    if (verifyExtension(older, newer, answer.proof)) return { kind: 'consistent', older, newer, provedBy: r.url, liars };
    liars.push({ url: r.url, reason: `served a consistency proof from ${older.size} to ${newer.size} that does not verify` });
    refuted.add(r.index);
  }
  if (group.quorumSystem.isKernel(refuted)) {
    return { kind: 'fork', older, newer, why: `replicas ${[...refuted].sort((x, y) => x - y).join(', ')} (a kernel: one of them is honest) gave no valid consistency proof`, liars };
  }
  return { kind: 'undecided', older, newer, why: 'no replica served a valid consistency proof, and those that failed are not a kernel', liars };
}

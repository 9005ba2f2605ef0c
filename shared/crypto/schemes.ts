/**
 * The two access structures every group needs, derived from its quorum system:
 *  - kernel: any set that is not corruptible (t + 1) combines coin shares, decryption shares and group
 *    signatures, so no corruptible coalition can, and any quorum of honest replicas can;
 *  - quorum: any set whose complement is corruptible (n - t) combines consistent-broadcast signatures, so
 *    two such signatures always share an honest signer (Q3).
 */
import type { QuorumSystem, StructureDescription } from '../quorum/quorum-system.ts';
import { cnfScheme, dnfScheme, shamirScheme } from './lsss.ts';
import type { SharingScheme } from './lsss.ts';

export function kernelScheme(s: StructureDescription): SharingScheme {
  if (s.type === 'threshold') return shamirScheme(s.n, s.t + 1);
  return cnfScheme(s.n, s.maximalCorruptible);
}

export function quorumScheme(s: StructureDescription): SharingScheme {
  if (s.type === 'threshold') return shamirScheme(s.n, s.n - s.t);
  const all = Array.from({ length: s.n }, (_, i) => i);
  return dnfScheme(
    s.n,
    s.maximalCorruptible.map((a) => all.filter((i) => !a.includes(i))),
  );
}

export function schemesFor(q: QuorumSystem): { kernel: SharingScheme; quorum: SharingScheme } {
  return { kernel: kernelScheme(q.description), quorum: quorumScheme(q.description) };
}

/**
 * A simulated group: one ProtocolContext per replica over a structure, with real threshold crypto
 * (deterministically dealt, cached per structure: see dealer.ts for why one dealing serves every seed) or
 * the fast insecure stand-in for large soaks.
 */
import { kernelScheme, quorumScheme } from '../../shared/crypto/schemes.ts';
import type { SharingScheme } from '../../shared/crypto/lsss.ts';
import type { ProtocolContext } from '../../shared/protocols/context.ts';
import { insecureTestCrypto, realCrypto } from '../../shared/protocols/crypto-suite.ts';
import { quorumSystemFrom } from '../../shared/quorum/quorum-system.ts';
import type { QuorumSystem, StructureDescription } from '../../shared/quorum/quorum-system.ts';
import { DEFAULT_KEY_SEED, dealGroup, simGroupId, structureKey } from './dealer.ts';

export type CryptoMode = 'real' | 'insecure';

export interface ClusterOptions {
  readonly structure: StructureDescription;
  readonly crypto: CryptoMode;
  /**
   * The simulation seed. Keys do not depend on it (one cached dealing per structure and `keySeed`): the
   * seeds explore schedules and faults, not keys, and dealing per seed would dominate the run time.
   */
  readonly seed?: number;
  /** Seed of the (cached) real-crypto dealing. */
  readonly keySeed?: string;
  /** Largest broadcast value; small by default so oversized garbage is cheap to produce. */
  readonly maxValueBytes?: number;
}

export interface Cluster {
  readonly structure: StructureDescription;
  readonly quorum: QuorumSystem;
  readonly n: number;
  readonly crypto: CryptoMode;
  readonly contexts: readonly ProtocolContext[];
}

export const SIM_MAX_VALUE_BYTES = 4096;

const quorumCache = new Map<string, { quorum: QuorumSystem; kernel: SharingScheme; quorumScheme: SharingScheme }>();

function systemFor(structure: StructureDescription) {
  const k = structureKey(structure);
  let q = quorumCache.get(k);
  if (!q) {
    q = { quorum: quorumSystemFrom(structure), kernel: kernelScheme(structure), quorumScheme: quorumScheme(structure) };
    quorumCache.set(k, q);
  }
  return q;
}

export function makeCluster(o: ClusterOptions): Cluster {
  const { quorum, kernel, quorumScheme: qs } = systemFor(o.structure);
  const maxValueBytes = o.maxValueBytes ?? SIM_MAX_VALUE_BYTES;
  const n = quorum.n;
  let contexts: ProtocolContext[];
  if (o.crypto === 'real') {
    const g = dealGroup(quorum.description, o.keySeed ?? DEFAULT_KEY_SEED);
    contexts = Array.from({ length: n }, (_, me) => ({
      me,
      n,
      quorum,
      maxValueBytes,
      crypto: realCrypto({ groupId: g.groupId, kernel: g.kernel.pk, quorum: g.quorum.pk, kernelShare: g.kernel.shares[me]!, quorumShare: g.quorum.shares[me]! }),
    }));
  } else {
    const groupId = simGroupId(quorum.description);
    contexts = Array.from({ length: n }, (_, me) => ({ me, n, quorum, maxValueBytes, crypto: insecureTestCrypto(groupId, me, kernel, qs) }));
  }
  return { structure: quorum.description, quorum, n, crypto: o.crypto, contexts };
}

/** `{type: 'threshold', n, t}` with the largest t that n allows (n > 3t) unless t is given. */
export function thresholdStructure(n: number, t: number = Math.floor((n - 1) / 3)): StructureDescription {
  return { type: 'threshold', n, t };
}

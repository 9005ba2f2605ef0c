/**
 * A simulated group: one ProtocolContext per replica over a structure, with real threshold crypto
 * (deterministically dealt, cached per structure: see dealer.ts for why one dealing serves every seed) or
 * the fast insecure stand-in for large soaks.
 */
import { kernelScheme, quorumScheme } from '../../shared/crypto/schemes.ts';
import type { SharingScheme } from '../../shared/crypto/lsss.ts';
import type { ProtocolContext } from '../../shared/protocols/context.ts';
import { insecureTestCrypto, insecureTestDecryptor, insecureTestEncrypt, realCrypto, realDecryptor } from '../../shared/protocols/crypto-suite.ts';
import type { ThresholdDecryptor } from '../../shared/protocols/crypto-suite.ts';
import { encodeCiphertext, encrypt } from '../../shared/crypto/tdh2.ts';
import type { RandomBytes } from '../../shared/crypto/random.ts';
import { quorumSystemFrom } from '../../shared/quorum/quorum-system.ts';
import type { QuorumSystem, StructureDescription } from '../../shared/quorum/quorum-system.ts';
import { DEFAULT_KEY_SEED, dealGroup, simGroupId, structureKey } from './dealer.ts';

/** 'real': BLS12-381, TDH2 and Ed25519 echo keys, as `sintra deal` makes; 'real-bls': consistent broadcast
 *  with the quorum key's threshold BLS certificates instead (groups dealt before echo keys); 'insecure':
 *  the fast hash-based test suite. */
export type CryptoMode = 'real' | 'real-bls' | 'insecure';

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
  /** Each replica's threshold decryptor (secure causal atomic broadcast). */
  readonly decryptors: readonly ThresholdDecryptor[];
  /** A client's encryption of `plaintext` to the group key under `label` (randomness from `rng`). */
  encrypt(label: Uint8Array, plaintext: Uint8Array, rng: RandomBytes, undecryptable?: boolean): Uint8Array;
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
  let decryptors: ThresholdDecryptor[];
  let encryptFn: Cluster['encrypt'];
  if (o.crypto === 'real' || o.crypto === 'real-bls') {
    const withEcho = o.crypto === 'real';
    const g = dealGroup(quorum.description, o.keySeed ?? DEFAULT_KEY_SEED);
    contexts = Array.from({ length: n }, (_, me) => ({
      me,
      n,
      quorum,
      maxValueBytes,
      crypto: realCrypto({
        groupId: g.groupId,
        kernel: g.kernel.pk,
        quorum: g.quorum.pk,
        kernelShare: g.kernel.shares[me]!,
        quorumShare: g.quorum.shares[me]!,
        ...(withEcho ? { echo: { publicKeys: g.echo.publicKeys, seed: g.echo.seeds[me]! } } : {}),
      }),
    }));
    decryptors = Array.from({ length: n }, (_, me) => realDecryptor(g.groupId, g.encryption.pk, g.encryption.shares[me]!));
    encryptFn = (label, plaintext, rng, undecryptable) => {
      if (!undecryptable) return encodeCiphertext(encrypt(g.encryption.pk, g.groupId, label, plaintext, rng));
      // Valid but undecryptable: encrypted under another public key (here a row key) with our group id.
      // The validity proof involves only u, ubar, c and the label, so it verifies; the combined r*h is
      // not the key c was made under, and every honest combiner finds that out.
      return encodeCiphertext(encrypt({ ...g.encryption.pk, publicKey: g.encryption.pk.rowKeys[0]! }, g.groupId, label, plaintext, rng));
    };
  } else {
    const groupId = simGroupId(quorum.description);
    contexts = Array.from({ length: n }, (_, me) => ({ me, n, quorum, maxValueBytes, crypto: insecureTestCrypto(groupId, me, kernel, qs) }));
    decryptors = Array.from({ length: n }, (_, me) => insecureTestDecryptor(groupId, me, kernel));
    encryptFn = (label, plaintext, _rng, undecryptable) => insecureTestEncrypt(groupId, label, plaintext, undecryptable);
  }
  return { structure: quorum.description, quorum, n, crypto: o.crypto, contexts, decryptors, encrypt: encryptFn };
}

/** `{type: 'threshold', n, t}` with the largest t that n allows (n > 3t) unless t is given. */
export function thresholdStructure(n: number, t: number = Math.floor((n - 1) / 3)): StructureDescription {
  return { type: 'threshold', n, t };
}

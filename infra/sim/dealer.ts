/**
 * Deterministic dealing of the two group keys (kernel and quorum) for simulations with real crypto.
 * Same construction as `sintra deal` with `--seed` (Shamir/CNF/DNF shares of a random scalar and the
 * public verification keys), without link keys or files. TEST KEYS ONLY.
 *
 * Dealing is slow (one G2 multiplication per share row: about half a second for the 16-replica grid), so
 * dealings are cached per structure with a fixed seed and reused by every simulation seed. That is fine:
 * the simulation seeds explore network schedules, corruptions and Byzantine behaviour; the protocols'
 * correctness does not depend on which particular keys were dealt (honest shares verify and combine for
 * any dealing), and the coin values the keys determine are still unpredictable to the protocols.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { frame } from '../../shared/crypto/bytes.ts';
import { ed25519PublicKey } from '../../shared/crypto/ed25519.ts';
import { randomScalar } from '../../shared/crypto/field.ts';
import type { SharingScheme } from '../../shared/crypto/lsss.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { kernelScheme, quorumScheme } from '../../shared/crypto/schemes.ts';
import { publicKeyFromShares } from '../../shared/crypto/threshold-bls.ts';
import type { KeyShare, ThresholdPublicKey } from '../../shared/crypto/threshold-bls.ts';
import { tdh2PublicKeyFromShares } from '../../shared/crypto/tdh2.ts';
import type { Tdh2PublicKey } from '../../shared/crypto/tdh2.ts';
import type { StructureDescription } from '../../shared/quorum/quorum-system.ts';

export interface DealtKey {
  readonly pk: ThresholdPublicKey;
  readonly shares: readonly KeyShare[];
}

export interface DealtEncryptionKey {
  readonly pk: Tdh2PublicKey;
  readonly shares: readonly KeyShare[];
}

export interface DealtGroup {
  readonly groupId: Uint8Array;
  readonly kernel: DealtKey;
  readonly quorum: DealtKey;
  /** TDH2 key shared like the kernel key (a kernel of decryption shares decrypts). */
  readonly encryption: DealtEncryptionKey;
  /** Ed25519 echo keys, one per replica (consistent-broadcast certificates: signature-set.ts). */
  readonly echo: { readonly seeds: readonly Uint8Array[]; readonly publicKeys: readonly Uint8Array[] };
}

export function structureKey(s: StructureDescription): string {
  return s.type === 'threshold' ? `threshold:${s.n}:${s.t}` : `general:${s.n}:${JSON.stringify(s.maximalCorruptible)}`;
}

/** The group id the simulator uses for a structure (bound into every signature, coin and label). */
export function simGroupId(s: StructureDescription): Uint8Array {
  return sha256(frame('sintra-edge/sim/group', structureKey(s)));
}

/** A seeded secret shared over `scheme`, each replica's rows, and the public key `publicKey` derives. */
function dealShared<PK>(scheme: SharingScheme, seed: string, publicKey: (scheme: SharingScheme, secret: bigint, rows: bigint[]) => PK): { pk: PK; shares: KeyShare[] } {
  const rng = seededRandom(seed);
  const secret = randomScalar(rng);
  const rows = scheme.share(secret, rng);
  const shares = Array.from({ length: scheme.n }, (_, replica) => ({ replica, values: scheme.rowsOf(replica).map((r) => rows[r]!) }));
  return { pk: publicKey(scheme, secret, rows), shares };
}

export function dealKey(scheme: SharingScheme, seed: string): DealtKey {
  return dealShared(scheme, seed, publicKeyFromShares);
}

export const DEFAULT_KEY_SEED = 'sintra-edge/sim/keys/v1';

export function dealEncryptionKey(scheme: SharingScheme, seed: string): DealtEncryptionKey {
  return dealShared(scheme, seed, tdh2PublicKeyFromShares);
}

function dealEchoKeys(n: number, seed: string): DealtGroup['echo'] {
  const seeds = Array.from({ length: n }, (_, i) => sha256(frame(seed, String(i))));
  return { seeds, publicKeys: seeds.map(ed25519PublicKey) };
}

const cache = new Map<string, DealtGroup>();

/** Deals (or returns the cached dealing of) the kernel and quorum keys for a structure. */
export function dealGroup(structure: StructureDescription, keySeed: string = DEFAULT_KEY_SEED): DealtGroup {
  const k = `${keySeed}\u0000${structureKey(structure)}`;
  let g = cache.get(k);
  if (!g) {
    g = {
      groupId: simGroupId(structure),
      kernel: dealKey(kernelScheme(structure), `${keySeed}/kernel/${structureKey(structure)}`),
      quorum: dealKey(quorumScheme(structure), `${keySeed}/quorum/${structureKey(structure)}`),
      encryption: dealEncryptionKey(kernelScheme(structure), `${keySeed}/encryption/${structureKey(structure)}`),
      echo: dealEchoKeys(structure.n, `${keySeed}/echo/${structureKey(structure)}`),
    };
    cache.set(k, g);
  }
  return g;
}

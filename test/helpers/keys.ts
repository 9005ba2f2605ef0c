/** Test-only dealing of a single threshold key over a scheme, from a seed. */
import { randomScalar } from '../../shared/crypto/field.ts';
import type { SharingScheme } from '../../shared/crypto/lsss.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { publicKeyFromShares } from '../../shared/crypto/threshold-bls.ts';
import type { KeyShare, ThresholdPublicKey } from '../../shared/crypto/threshold-bls.ts';

export interface TestKey {
  pk: ThresholdPublicKey;
  secret: bigint;
  shares: KeyShare[];
}

export function dealTestKey(scheme: SharingScheme, seed: string): TestKey {
  const rng = seededRandom(seed);
  const secret = randomScalar(rng);
  const rows = scheme.share(secret, rng);
  const shares = Array.from({ length: scheme.n }, (_, replica) => ({ replica, values: scheme.rowsOf(replica).map((r) => rows[r]!) }));
  return { pk: publicKeyFromShares(scheme, secret, rows), secret, shares };
}

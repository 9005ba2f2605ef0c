/**
 * Domain separation (docs/crypto.md, "Choices"): every hash-to-curve uses a DST naming its purpose, and every
 * signed, hashed or encrypted message binds the group id and the full instance tag, so a share from one
 * purpose, group or instance is never valid in another.
 */
import { fail } from './errors.ts';
import { frame } from './bytes.ts';

export type Purpose =
  | 'cbc' // consistent-broadcast signatures (quorum key)
  | 'coin' // threshold coin (kernel key)
  | 'checkpoint' // group signature on log checkpoints (kernel key)
  | 'statement' // group-signed application statements (kernel key)
  | 'tdh2'; // threshold encryption labels

export const PURPOSES: readonly Purpose[] = ['cbc', 'coin', 'checkpoint', 'statement', 'tdh2'];

export const GROUP_ID_BYTES = 32;

/** RFC 9380 domain separation tag for hashing to G1, one per purpose. */
export function dstFor(purpose: Purpose): string {
  if (!PURPOSES.includes(purpose)) fail('bad-encoding', `unknown purpose ${String(purpose)}`);
  return `SINTRA-EDGE-V1-${purpose.toUpperCase()}_BLS12381G1_XMD:SHA-256_SSWU_RO_`;
}

export interface Domain {
  readonly groupId: Uint8Array;
  readonly purpose: Purpose;
}

export function domain(groupId: Uint8Array, purpose: Purpose): Domain {
  if (!(groupId instanceof Uint8Array) || groupId.length !== GROUP_ID_BYTES) {
    fail('bad-length', `group id must be ${GROUP_ID_BYTES} bytes`);
  }
  dstFor(purpose);
  return { groupId, purpose };
}

/** The exact bytes that get signed / hashed for (domain, tag, payload). */
export function boundMessage(d: Domain, tag: string, payload: Uint8Array): Uint8Array {
  return frame('sintra-edge/v1', d.purpose, d.groupId, tag, payload);
}

/**
 * The applications every replica of a group runs (docs/design.md section 11). All replicas must run the same
 * list in the same order, since each application's digest goes into the signed state digest (state.ts):
 * a replica running another set would sign other heads and never complete a checkpoint. Runtimes
 * therefore take this list by default rather than each choosing its own.
 */
import { pemToDer } from '../crypto/pem.ts';
import { CertificateAuthority } from './ca.ts';
import { NotaryApp } from './notary.ts';
import { SignerApp } from './signer.ts';
import type { SignerPolicy } from './signer-policy.ts';
import type { G2Point } from '../crypto/curve.ts';
import type { ReplicatedApp } from './types.ts';

export type { AppPosition, ReplicatedApp } from './types.ts';
export { computeStateDigest, appDigests, STATE_DIGEST_VERSION } from './state.ts';
export type { AppDigest } from './state.ts';

/** Names of the standard applications, in digest order. */
export const STANDARD_APP_NAMES: readonly string[] = ['notary', 'ca'];
/** With a signer policy in the group: the standard applications then the signing service. */
export const SIGNER_APP_NAMES: readonly string[] = ['notary', 'ca', 'signer'];

/**
 * A fresh instance of every standard application (state rebuilt from the log by the engine): the notary,
 * then the certification authority, then the signing service if the group has a signer policy
 * (group.json `signer`; a group without one keeps the two and signs the same state digests as before).
 * The CA and the signer bind request signatures to the group id, so the list needs the group (a parsed
 * Group, or its 32-byte id).
 */
export function standardApps(
  group:
    | {
        readonly groupId: Uint8Array;
        readonly signer?: { readonly policy: SignerPolicy };
        readonly beacon?: { readonly key: { readonly groupKey: G2Point } };
        readonly signerRsa?: unknown;
        /** keys.rsa: the CA issues X.509 certificates under its root (x509 requests). */
        readonly rsa?: { readonly rootCertificate: string };
      }
    | Uint8Array,
): ReplicatedApp[] {
  const groupId = group instanceof Uint8Array ? group : group.groupId;
  const rootCertificate = group instanceof Uint8Array || group.rsa === undefined ? undefined : pemToDer(group.rsa.rootCertificate, 'CERTIFICATE');
  const apps: ReplicatedApp[] = [new NotaryApp(), new CertificateAuthority({ groupId, ...(rootCertificate ? { rootCertificate } : {}) })];
  if (!(group instanceof Uint8Array) && group.signer !== undefined) apps.push(new SignerApp({ groupId, policy: group.signer.policy, ...(group.beacon ? { beaconKey: group.beacon.key.groupKey } : {}), rsa: group.signerRsa !== undefined }));
  return apps;
}

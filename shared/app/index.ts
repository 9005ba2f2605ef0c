/**
 * The applications every replica of a group runs (docs/design.md section 11). All replicas must run the same
 * list in the same order, since each application's digest goes into the signed state digest (state.ts):
 * a replica running another set would sign other heads and never complete a checkpoint. Runtimes
 * therefore take this list by default rather than each choosing its own.
 */
import { CertificateAuthority } from './ca.ts';
import { NotaryApp } from './notary.ts';
import type { ReplicatedApp } from './types.ts';

export type { AppPosition, ReplicatedApp } from './types.ts';
export { computeStateDigest, appDigests, STATE_DIGEST_VERSION } from './state.ts';
export type { AppDigest } from './state.ts';

/** Names of the standard applications, in digest order. */
export const STANDARD_APP_NAMES: readonly string[] = ['notary', 'ca'];

/**
 * A fresh instance of every standard application (state rebuilt from the log by the engine): the notary,
 * then the certification authority. The CA binds every request signature to the group id, so the list
 * needs the group (a parsed Group, or its 32-byte id).
 */
export function standardApps(group: { readonly groupId: Uint8Array } | Uint8Array): ReplicatedApp[] {
  const groupId = group instanceof Uint8Array ? group : group.groupId;
  return [new NotaryApp(), new CertificateAuthority({ groupId })];
}

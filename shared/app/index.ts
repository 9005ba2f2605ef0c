/**
 * The applications every replica of a group runs (DESIGN.md section 5). All replicas must run the same
 * list in the same order, since each application's digest goes into the signed state digest (state.ts):
 * a replica running another set would sign other heads and never complete a checkpoint. Runtimes
 * therefore take this list by default rather than each choosing its own.
 */
import { NotaryApp } from './notary.ts';
import type { ReplicatedApp } from './types.ts';

export type { AppPosition, ReplicatedApp } from './types.ts';
export { computeStateDigest, appDigests, STATE_DIGEST_VERSION } from './state.ts';
export type { AppDigest } from './state.ts';

/** A fresh instance of every standard application (state rebuilt from the log by the engine). */
export function standardApps(): ReplicatedApp[] {
  return [new NotaryApp()];
}

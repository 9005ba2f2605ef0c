/**
 * The state digest bound into every signed checkpoint (docs/design.md sections 10-11; Cachin, "Distributing
 * trust on the Internet", DSN 2001, section 5: a replicated service answers with one group signature on
 * its state). Honest replicas sign only the head they computed themselves, so putting every application's
 * digest next to the log root makes it impossible for two honest replicas to sign different application
 * states for one epoch: a checkpoint commits to the log and to what the applications made of it.
 *
 * Without applications the digest stays the log root (the plain ordering service), so groups that run no
 * application keep signing exactly what they signed before.
 */
import { sha256 } from '../crypto/sha256.ts';
import { bytesEqual, frame, fromHex } from '../crypto/bytes.ts';
import type { G2Point } from '../crypto/curve.ts';
import { checkpointFromJson, verifyCheckpoint } from '../log/checkpoint.ts';
import type { SignedCheckpoint } from '../log/checkpoint.ts';
import type { AppState, ReplicatedApp } from './types.ts';

export const STATE_DIGEST_VERSION = 'sintra-edge/state@1';

export interface AppDigest {
  readonly name: string;
  readonly digest: Uint8Array;
}

/**
 * sha256(frame('sintra-edge/state@1', root, name_1, digest_1, ..., name_k, digest_k)) in the engine's app
 * order; the log root itself when there is no application. Verifiers of app statements recompute it from
 * (root, [(name, digest)]) and compare with the checkpoint's stateDigest.
 */
export function computeStateDigest(root: Uint8Array, apps: readonly AppDigest[]): Uint8Array {
  if (apps.length === 0) return root;
  const parts: (Uint8Array | string)[] = [STATE_DIGEST_VERSION, root];
  for (const a of apps) parts.push(a.name, a.digest);
  return sha256(frame(...parts));
}

/** The digests of `apps` over their states, in order (what computeStateDigest takes). */
export function appDigests(apps: readonly ReplicatedApp[], stateOf: (name: string) => AppState): AppDigest[] {
  return apps.map((a) => ({ name: a.name, digest: a.digest(stateOf(a.name)) }));
}

/** Two applications with one name would make statements ambiguous: refused when an engine is built. */
export function checkAppNames(apps: readonly ReplicatedApp[]): void {
  const seen = new Set<string>();
  for (const a of apps) {
    if (typeof a.name !== 'string' || !/^[a-z][a-z0-9-]{0,31}$/.test(a.name)) throw new Error(`application name ${JSON.stringify(a.name)} is not a short lower-case name`);
    if (seen.has(a.name)) throw new Error(`two applications are named ${a.name}`);
    seen.add(a.name);
  }
}

/**
 * The `apps` list of a statement (JSON [{name, digest}], 1-64 entries, unique names) as app digests, or why
 * it is not one. Statements of every application carry it; the verifier recomputes the state digest.
 */
export function appDigestsFromJson(appsIn: unknown): AppDigest[] | string {
  if (!Array.isArray(appsIn) || appsIn.length === 0 || appsIn.length > 64) return 'apps: expected a non-empty array';
  const apps: AppDigest[] = [];
  for (const [i, a] of appsIn.entries()) {
    if (typeof a !== 'object' || a === null || Object.keys(a).length !== 2) return `apps[${i}]: expected {name, digest}`;
    const { name, digest } = a as Record<string, unknown>;
    if (typeof name !== 'string' || name.length === 0 || typeof digest !== 'string') return `apps[${i}]: expected {name, digest}`;
    try {
      apps.push({ name, digest: fromHex(digest, 32) });
    } catch {
      return `apps[${i}].digest: expected 32 bytes of hex`;
    }
  }
  if (new Set(apps.map((a) => a.name)).size !== apps.length) return 'apps: an app is listed twice';
  return apps;
}

/**
 * What every application statement (the CA's directory statements, the signer's policy statements) checks
 * first: the group signed the checkpoint, and the listed app digests give its state digest. Returns the
 * checkpoint and the digest of application `app`, or why not (never throws).
 */
export function checkedAppDigest(
  group: { readonly groupId: Uint8Array; readonly kernel: { readonly groupKey: G2Point } },
  appsIn: unknown,
  checkpointIn: unknown,
  app: string,
): { readonly checkpoint: SignedCheckpoint; readonly digest: Uint8Array } | string {
  const apps = appDigestsFromJson(appsIn);
  if (typeof apps === 'string') return apps;
  let checkpoint: SignedCheckpoint;
  try {
    checkpoint = checkpointFromJson(checkpointIn);
  } catch (e) {
    return `checkpoint: ${e instanceof Error ? e.message : 'malformed'}`;
  }
  if (!verifyCheckpoint(group.kernel.groupKey, group.groupId, checkpoint)) return 'the checkpoint signature does not verify with the group key';
  if (!bytesEqual(computeStateDigest(checkpoint.root, apps), checkpoint.stateDigest)) return 'the app digests do not give the checkpoint state digest';
  const mine = apps.find((a) => a.name === app);
  if (!mine) return `apps: no "${app}" entry`;
  return { checkpoint, digest: mine.digest };
}

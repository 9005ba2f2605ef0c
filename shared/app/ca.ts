/**
 * Certification authority and directory as a replicated application: Cachin, "Distributing Trust on the
 * Internet" (DSN 2001), section 5 (a CA whose requests are ordered by atomic broadcast and answered with
 * threshold signatures), with a directory that answers lookups, including "this name is not registered",
 * from the signed state.
 *
 * State machine (deterministic; the only inputs are the ordered entries and their log positions):
 * - register(name, key, validFor, pop): a new name only; `pop` is the key's signature over
 *   (group id, 'register', name, key, validFor). Issues serial s = next serial, valid for log positions
 *   [index, index + validFor).
 * - renew(name, serial, validFor, sig): signed by the current key; issues a new serial for the same key.
 * - rotate(name, serial, newKey, validFor, sig, pop): signed by the current key and by the new key;
 *   issues a new serial for the new key.
 * - revoke(name, serial, sig): signed by the current key; the certificate stays in the directory with
 *   status 'revoked' and the name is never issued again (no duplicate names, ever).
 * Every signed operation names the serial of the current certificate, so a request cannot be replayed once
 * that certificate has changed. Serials are assigned 1, 2, 3, ... in log order. Validity is in log
 * positions (logical time), never a clock.
 *
 * Commitment: the records live in a sparse Merkle tree keyed by SHA-256(name) (shared/log/sparse-merkle.ts)
 * and the app digest is SHA-256(frame('sintra-edge/ca-state@1', tree root, u64(serials issued))). The
 * engine binds every app's digest into the signed checkpoint (computeStateDigest, shared/app/state.ts), so a directory
 * statement = signed checkpoint + app digests + the tree root and issued count + the sparse proof for the
 * name, checkable offline with group.json alone (verifyDirectoryStatement).
 *
 * Versions: the state after each epoch that changed it is retained (the last `retain` of them, default 8)
 * so that a replica answers from the state of its latest *signed* checkpoint even when its live state is
 * an epoch or two ahead.
 */
import { sha256 } from '../crypto/sha256.ts';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesEqual, frame, fromHex, toHex } from '../crypto/bytes.ts';
import { parseGroup } from '../config/group.ts';
import type { Group } from '../config/group.ts';
import { checkpointFromJson, checkpointToJson, verifyCheckpoint } from '../log/checkpoint.ts';
import type { CheckpointJson, SignedCheckpoint } from '../log/checkpoint.ts';
import { RetainedVersions, SparseMerkleTree, decodeSparseProof, encodeSparseProof, smtKey, verifySparseProof } from '../log/sparse-merkle.ts';
import {
  CA_APP_NAME,
  CA_ENTRY_PREFIX,
  CaRequestError,
  decodeCaRequest,
  decodeRecord,
  decodeUtf8,
  encodeRecord,
  encodeResponse,
  isValidName,
  recordFromJson,
  requestMessage,
  verifyEd25519,
} from './ca-codec.ts';
import type { CaErrorCode, CaOp, CaRequest, CaResponse, CertificateRecord } from './ca-codec.ts';
import { computeStateDigest } from './state.ts';
import type { AppDigest } from './state.ts';
import type { AppPosition, ReplicatedApp } from './types.ts';

export * from './ca-codec.ts';
export { computeStateDigest } from './state.ts';
export type { AppDigest } from './state.ts';

export const CA_STATE_VERSION = 'sintra-edge/ca-state@1';
export const CA_STATEMENT_FORMAT = 'sintra-edge/ca-statement@1';
export const DEFAULT_MAX_VALIDITY = 1_000_000;
export const DEFAULT_RETAINED_VERSIONS = 8;

function u64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n));
  return b;
}

/** The CA's app digest from its tree root and the number of serials issued. */
export function caDigest(root: Uint8Array, issued: number): Uint8Array {
  if (!(root instanceof Uint8Array) || root.length !== 32) throw new RangeError('root must be 32 bytes');
  if (!Number.isSafeInteger(issued) || issued < 0) throw new RangeError('issued must be a non-negative integer');
  return sha256(frame(CA_STATE_VERSION, root, u64(issued)));
}

interface CaState {
  readonly tree: SparseMerkleTree;
  /** Serials issued so far (the last serial issued; the next one is issued + 1). */
  readonly issued: number;
}

export interface CertificateAuthorityOptions {
  /** The group id (32 bytes): every request signature binds it. */
  readonly groupId: Uint8Array;
  /** Largest validFor accepted, in log positions (default 1,000,000). */
  readonly maxValidity?: number;
  /** How many past state versions (epochs that changed the state) to keep answerable (default 8). */
  readonly retain?: number;
}

/** A directory answer from one retained version: the record (or null) and the sparse proof. */
export interface DirectoryAnswer {
  readonly name: string;
  /** The epoch asked for (the state after all entries of epochs <= epoch). */
  readonly epoch: number;
  readonly record: CertificateRecord | null;
  /** Encoded sparse Merkle proof (shared/log/sparse-merkle.ts) for SHA-256(name). */
  readonly proof: Uint8Array;
  /** Tree root and issued count of that version, and the CA digest they give. */
  readonly root: Uint8Array;
  readonly issued: number;
  readonly digest: Uint8Array;
}

export class CertificateAuthority implements ReplicatedApp {
  readonly name = CA_APP_NAME;
  private readonly groupId: Uint8Array;
  private readonly maxValidity: number;
  private state: CaState = { tree: SparseMerkleTree.empty(), issued: 0 };
  private history: RetainedVersions<CaState>;
  private lastEpoch = -1;

  constructor(opts: CertificateAuthorityOptions) {
    if (!(opts.groupId instanceof Uint8Array) || opts.groupId.length !== 32) throw new RangeError('groupId must be 32 bytes');
    this.groupId = opts.groupId.slice();
    this.maxValidity = opts.maxValidity ?? DEFAULT_MAX_VALIDITY;
    if (!Number.isSafeInteger(this.maxValidity) || this.maxValidity < 1) throw new RangeError('maxValidity must be a positive integer');
    this.history = new RetainedVersions<CaState>(opts.retain ?? DEFAULT_RETAINED_VERSIONS);
    this.history.put(-1, this.state);
  }

  apply(entry: Uint8Array, at: AppPosition): Uint8Array | null {
    if (!isCaEntry(entry)) return null;
    // The engine always passes a valid position; anything else still gets a (deterministic) answer.
    const index = typeof at === 'object' && at !== null && Number.isSafeInteger(at.index) ? at.index : -1;
    let op: CaOp | null = null;
    let response: CaResponse;
    try {
      const req = decodeCaRequest(entry);
      op = req.op;
      const { next, certificate } = this.transition(this.state, req, at);
      this.commit(next, at.epoch);
      response = { app: 'ca', op, ok: true, index, certificate };
    } catch (e) {
      const code: CaErrorCode = e instanceof CaRequestError ? e.code : 'internal';
      const message = e instanceof CaRequestError ? e.message : 'internal error';
      if (e instanceof CaRequestError && e.op) op = e.op;
      response = { app: 'ca', op, ok: false, index, error: { code, message } };
    }
    if (index >= 0 && Number.isSafeInteger(at.epoch) && at.epoch > this.lastEpoch) this.lastEpoch = at.epoch;
    return encodeResponse(response);
  }

  digest(): Uint8Array {
    return caDigest(this.state.tree.root, this.state.issued);
  }

  /** Root of the live directory tree. */
  get root(): Uint8Array {
    return this.state.tree.root;
  }

  /** Serials issued so far. */
  get issued(): number {
    return this.state.issued;
  }

  /** Number of names in the directory (active and revoked). */
  get size(): number {
    return this.state.tree.size;
  }

  /** The live record of a name (null: not registered). */
  record(name: string): CertificateRecord | null {
    const v = this.state.tree.get(smtKey(name));
    return v ? decodeRecord(v) : null;
  }

  /** Epochs whose end state is retained (each answers for itself and later epochs up to the next one). */
  versions(): number[] {
    return this.history.versions();
  }

  /**
   * The directory answer for `name` from the state after all entries of epochs <= `epoch` (default: the
   * live state). The caller passes the epoch of a checkpoint the engine made, i.e. one whose entries have
   * all been applied. Null when that state is no longer retained.
   */
  lookup(name: string, epoch?: number): DirectoryAnswer | null {
    if (typeof name !== 'string') throw new TypeError('name must be a string');
    let st: CaState | undefined;
    if (epoch === undefined) st = this.state;
    else {
      if (!Number.isSafeInteger(epoch)) throw new RangeError('epoch must be a safe integer');
      st = this.history.at(epoch);
    }
    if (!st) return null;
    const key = smtKey(name);
    const value = st.tree.get(key);
    const root = st.tree.root;
    return {
      name,
      epoch: epoch ?? this.lastEpoch,
      record: value ? decodeRecord(value) : null,
      proof: encodeSparseProof(st.tree.prove(key)),
      root,
      issued: st.issued,
      digest: caDigest(root, st.issued),
    };
  }

  /**
   * The statement for `name` under a signed checkpoint, from the state of the checkpoint's epoch: what a
   * directory route serves. `apps` are the digests of every app that the engine bound into that checkpoint
   * (in its order). Null when that state is no longer retained; throws if the digests do not match the
   * checkpoint (see directoryStatement).
   */
  statement(name: string, checkpoint: SignedCheckpoint, apps: readonly AppDigest[]): DirectoryStatementJson | null {
    const answer = this.lookup(name, checkpoint.epoch);
    return answer ? directoryStatement(this.groupId, answer, checkpoint, apps) : null;
  }

  /**
   * The whole live state as canonical JSON (records in key order), for storage snapshots.
   * Restoring it with `CertificateAuthority.restore` gives the same digest; retained past versions are not
   * part of a snapshot.
   */
  exportState(): Uint8Array {
    const records = [...this.state.tree.entries()].map(([, v]) => JSON.parse(decodeUtf8(v)) as unknown);
    return new TextEncoder().encode(JSON.stringify({ format: 'sintra-edge/ca-snapshot@1', epoch: this.lastEpoch, issued: this.state.issued, records }));
  }

  static restore(snapshot: Uint8Array, opts: CertificateAuthorityOptions): CertificateAuthority {
    const o = JSON.parse(decodeUtf8(snapshot)) as Record<string, unknown>;
    if (o['format'] !== 'sintra-edge/ca-snapshot@1') throw new RangeError('not a CA snapshot');
    const issued = o['issued'];
    const epoch = o['epoch'];
    const records = o['records'];
    if (!Number.isSafeInteger(issued) || (issued as number) < 0 || !Number.isSafeInteger(epoch) || !Array.isArray(records)) throw new RangeError('malformed CA snapshot');
    let tree = SparseMerkleTree.empty();
    for (const r of records) {
      const rec = recordFromJson(r);
      if (rec.serial > (issued as number)) throw new RangeError('malformed CA snapshot: serial beyond issued');
      tree = tree.set(smtKey(rec.name), encodeRecord(rec));
    }
    if (tree.size !== records.length) throw new RangeError('malformed CA snapshot: duplicate names');
    const ca = new CertificateAuthority(opts);
    ca.state = { tree, issued: issued as number };
    ca.lastEpoch = epoch as number;
    // Only the snapshot's own state is known: earlier epochs are unanswerable, not empty.
    ca.history = new RetainedVersions<CaState>(opts.retain ?? DEFAULT_RETAINED_VERSIONS);
    ca.history.put(epoch as number, ca.state);
    return ca;
  }

  // -------------------------------------------------------------------------------------------------------

  private commit(next: CaState, epoch: number): void {
    this.state = next;
    // Epochs only grow in a log; a non-monotone position (a caller bug) must not break apply.
    const v = Number.isSafeInteger(epoch) ? Math.max(epoch, this.history.versions().at(-1) ?? -1) : (this.history.versions().at(-1) ?? -1);
    this.history.put(v, next);
  }

  private transition(st: CaState, req: CaRequest, at: AppPosition): { next: CaState; certificate: CertificateRecord } {
    const fail = (code: CaErrorCode, message: string): never => {
      throw new CaRequestError(code, message, req.op);
    };
    if (typeof at !== 'object' || at === null || !Number.isSafeInteger(at.index) || at.index < 0 || !Number.isSafeInteger(at.epoch)) {
      fail('internal', 'bad log position');
    }
    const key = smtKey(req.name);
    const currentBytes = st.tree.get(key);
    const current = currentBytes ? decodeRecord(currentBytes) : null;
    const msg = requestMessage(this.groupId, req);
    const validity = (validFor: number): { notBefore: number; notAfter: number } => {
      if (validFor > this.maxValidity) fail('bad-validity', `validFor must be at most ${this.maxValidity}`);
      const notAfter = at.index + validFor;
      if (!Number.isSafeInteger(notAfter)) fail('bad-validity', 'validity overflows');
      return { notBefore: at.index, notAfter };
    };
    const serial = st.issued + 1;
    let certificate: CertificateRecord;
    if (req.op === 'register') {
      if (current) fail('name-taken', `${req.name} is already registered`);
      if (!isUsableKey(req.key)) fail('bad-key', 'key is not a valid Ed25519 public key of prime order');
      const v = validity(req.validFor);
      if (!verifyEd25519(req.pop, msg, req.key)) fail('bad-signature', 'pop is not a signature of the register message by key');
      certificate = { v: 1, name: req.name, key: req.key, serial, ...v, status: 'active', revokedAt: null };
    } else {
      if (!current) return fail('not-found', `${req.name} is not registered`);
      if (current.status === 'revoked') fail('revoked', `${req.name} is revoked`);
      if (req.serial !== current.serial) fail('stale-serial', `the current serial of ${req.name} is ${current.serial}`);
      if (!verifyEd25519(req.sig, msg, current.key)) fail('bad-signature', `sig is not a signature of the ${req.op} message by the key of ${req.name}`);
      if (req.op === 'revoke') {
        certificate = { ...current, status: 'revoked', revokedAt: at.index };
        return { next: { tree: st.tree.set(key, encodeRecord(certificate)), issued: st.issued }, certificate };
      }
      if (req.op === 'renew') {
        certificate = { ...current, serial, ...validity(req.validFor) };
      } else {
        if (req.newKey === current.key) fail('same-key', 'newKey is the current key');
        if (!isUsableKey(req.newKey)) fail('bad-key', 'newKey is not a valid Ed25519 public key of prime order');
        const v = validity(req.validFor);
        if (!verifyEd25519(req.pop, msg, req.newKey)) fail('bad-signature', 'pop is not a signature of the rotate message by newKey');
        certificate = { ...current, key: req.newKey, serial, ...v };
      }
    }
    return { next: { tree: st.tree.set(key, encodeRecord(certificate)), issued: serial }, certificate };
  }
}

function isCaEntry(entry: Uint8Array): boolean {
  if (!(entry instanceof Uint8Array) || entry.length < CA_ENTRY_PREFIX.length) return false;
  for (let i = 0; i < CA_ENTRY_PREFIX.length; i++) if (entry[i] !== CA_ENTRY_PREFIX.charCodeAt(i)) return false;
  return true;
}

/** A point on the curve, canonically encoded, not of small order (whose "signatures" anyone can make). */
function isUsableKey(hex: string): boolean {
  try {
    const p = ed25519.Point.fromBytes(fromHex(hex, 32), false);
    return !p.isSmallOrder();
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Statements: a directory answer bound to a signed checkpoint, verifiable offline with group.json

export interface DirectoryStatementJson {
  readonly format: typeof CA_STATEMENT_FORMAT;
  readonly groupId: string;
  readonly name: string;
  readonly record: CertificateRecord | null;
  /** Encoded sparse proof, hex. */
  readonly proof: string;
  /** The CA state the proof is against: tree root (hex) and serials issued. */
  readonly ca: { readonly root: string; readonly issued: number };
  /** Every app's name and digest, in the engine's order (the CA among them). */
  readonly apps: readonly { readonly name: string; readonly digest: string }[];
  readonly checkpoint: CheckpointJson;
}

/**
 * Builds the statement for `answer` (from `lookup(name, checkpoint.epoch)`) under `checkpoint`, given the
 * digests of all apps that the engine bound into that checkpoint. Throws if they do not reproduce the
 * checkpoint's state digest or the CA digest is not the answer's: such a statement would not verify.
 */
export function directoryStatement(groupId: Uint8Array, answer: DirectoryAnswer, checkpoint: SignedCheckpoint, apps: readonly AppDigest[]): DirectoryStatementJson {
  const ca = apps.filter((a) => a.name === CA_APP_NAME);
  if (ca.length !== 1 || !bytesEqual(ca[0]!.digest, answer.digest)) throw new Error('the CA digest listed for the checkpoint is not the one of the answer');
  if (!bytesEqual(computeStateDigest(checkpoint.root, apps), checkpoint.stateDigest)) throw new Error('the app digests do not give the checkpoint state digest');
  return {
    format: CA_STATEMENT_FORMAT,
    groupId: toHex(groupId),
    name: answer.name,
    record: answer.record,
    proof: toHex(answer.proof),
    ca: { root: toHex(answer.root), issued: answer.issued },
    apps: apps.map((a) => ({ name: a.name, digest: toHex(a.digest) })),
    checkpoint: checkpointToJson(checkpoint),
  };
}

/** What a valid statement says. `status` is as of log position checkpoint.size - 1 (logical time). */
export type DirectoryVerdict =
  | {
      readonly ok: true;
      readonly name: string;
      readonly present: boolean;
      readonly record: CertificateRecord | null;
      /** absent: not registered; expired / not-yet-valid: active record outside its interval at that position. */
      readonly status: 'absent' | 'active' | 'revoked' | 'expired' | 'not-yet-valid';
      readonly epoch: number;
      readonly size: number;
      readonly checkpoint: SignedCheckpoint;
    }
  | { readonly ok: false; readonly reason: string };

const STATEMENT_FIELDS = ['format', 'groupId', 'name', 'record', 'proof', 'ca', 'apps', 'checkpoint'];

function isGroup(g: unknown): g is Group {
  return typeof g === 'object' && g !== null && (g as Group).groupId instanceof Uint8Array && typeof (g as Group).kernel === 'object';
}

/**
 * Offline verification of a directory statement (an object, or its JSON text) with the group alone (a
 * parsed Group, or group.json's parsed JSON): the checkpoint's group signature, the state digest recomputed from the log root and the
 * listed app digests, the CA digest recomputed from the tree root and issued count, and the sparse proof
 * of the name's record (membership) or of its absence (non-membership). Never throws.
 */
export function verifyDirectoryStatement(group: Group | unknown, statement: unknown): DirectoryVerdict {
  try {
    if (typeof statement === 'string') {
      try {
        statement = JSON.parse(statement);
      } catch {
        return { ok: false, reason: 'statement: not JSON' };
      }
    }
    return verifyStatement(group, statement);
  } catch (e) {
    return { ok: false, reason: e instanceof Error ? e.message : 'malformed statement' };
  }
}

function verifyStatement(groupIn: unknown, statement: unknown): DirectoryVerdict {
  const no = (reason: string): DirectoryVerdict => ({ ok: false, reason });
  let group: Group;
  try {
    group = isGroup(groupIn) ? groupIn : parseGroup(groupIn);
  } catch (e) {
    return no(`group: ${e instanceof Error ? e.message : 'invalid'}`);
  }
  if (typeof statement !== 'object' || statement === null || Array.isArray(statement)) return no('statement: expected an object');
  const s = statement as Record<string, unknown>;
  const keys = Object.keys(s);
  if (keys.length !== STATEMENT_FIELDS.length || !STATEMENT_FIELDS.every((f) => Object.hasOwn(s, f))) return no(`statement: expected exactly the fields ${STATEMENT_FIELDS.join(', ')}`);
  if (s['format'] !== CA_STATEMENT_FORMAT) return no(`format: expected ${JSON.stringify(CA_STATEMENT_FORMAT)}`);
  if (typeof s['groupId'] !== 'string' || s['groupId'] !== toHex(group.groupId)) return no('groupId: not this group');
  const name = s['name'];
  if (typeof name !== 'string') return no('name: expected a string');
  // The CA never registers any other name, so a statement about one (a look-alike of a registered name)
  // says nothing a client should act on.
  const shown = JSON.stringify(name.slice(0, 140));
  if (!isValidName(name)) return no(`name: ${shown} is not a name the CA can register (1-128 of a-z 0-9 . _ @ -, starting with a letter or digit)`);
  let record: CertificateRecord | null = null;
  if (s['record'] !== null) {
    try {
      record = recordFromJson(s['record']);
    } catch (e) {
      return no(e instanceof Error ? e.message : 'record: malformed');
    }
    if (record.name !== name) return no('record: its name is not the statement name');
  }
  let proof: Uint8Array;
  try {
    if (typeof s['proof'] !== 'string') return no('proof: expected hex');
    proof = fromHex(s['proof']);
    decodeSparseProof(proof);
  } catch (e) {
    return no(`proof: ${e instanceof Error ? e.message : 'malformed'}`);
  }
  const ca = s['ca'];
  if (typeof ca !== 'object' || ca === null || Array.isArray(ca)) return no('ca: expected {root, issued}');
  const c = ca as Record<string, unknown>;
  if (Object.keys(c).length !== 2 || typeof c['root'] !== 'string' || !Number.isSafeInteger(c['issued']) || (c['issued'] as number) < 0) return no('ca: expected {root, issued}');
  let root: Uint8Array;
  try {
    root = fromHex(c['root'], 32);
  } catch {
    return no('ca.root: expected 32 bytes of hex');
  }
  const issued = c['issued'] as number;
  const appsIn = s['apps'];
  if (!Array.isArray(appsIn) || appsIn.length === 0 || appsIn.length > 64) return no('apps: expected a non-empty array');
  const apps: AppDigest[] = [];
  for (const [i, a] of appsIn.entries()) {
    if (typeof a !== 'object' || a === null || Object.keys(a).length !== 2) return no(`apps[${i}]: expected {name, digest}`);
    const { name: an, digest: ad } = a as Record<string, unknown>;
    if (typeof an !== 'string' || an.length === 0 || typeof ad !== 'string') return no(`apps[${i}]: expected {name, digest}`);
    try {
      apps.push({ name: an, digest: fromHex(ad, 32) });
    } catch {
      return no(`apps[${i}].digest: expected 32 bytes of hex`);
    }
  }
  let checkpoint: SignedCheckpoint;
  try {
    checkpoint = checkpointFromJson(s['checkpoint']);
  } catch (e) {
    return no(`checkpoint: ${e instanceof Error ? e.message : 'malformed'}`);
  }
  // 1. The group signed this checkpoint.
  if (!verifyCheckpoint(group.kernel.groupKey, group.groupId, checkpoint)) return no('the checkpoint signature does not verify with the group key');
  // 2. The listed app digests (unique names) give its state digest.
  const names = new Set(apps.map((a) => a.name));
  if (names.size !== apps.length) return no('apps: an app is listed twice');
  if (!bytesEqual(computeStateDigest(checkpoint.root, apps), checkpoint.stateDigest)) return no('the app digests do not give the checkpoint state digest');
  // 3. The CA's digest is the one of this tree root and issued count.
  const caApp = apps.find((a) => a.name === CA_APP_NAME);
  if (!caApp) return no('apps: no "ca" entry');
  if (!bytesEqual(caApp.digest, caDigest(root, issued))) return no('the CA digest is not the one of ca.root and ca.issued');
  // 4. The record (or its absence) under that root.
  const value = record ? encodeRecord(record) : null;
  if (!verifySparseProof(root, smtKey(name), value, proof)) {
    return no(record ? 'the proof does not show this record under the CA root' : 'the proof does not show the name absent under the CA root');
  }
  if (record && record.serial > issued) return no('record: serial beyond the serials issued');
  const position = checkpoint.size - 1;
  const status = !record
    ? 'absent'
    : record.status === 'revoked'
      ? 'revoked'
      : position < record.notBefore
        ? 'not-yet-valid'
        : position >= record.notAfter
          ? 'expired'
          : 'active';
  return { ok: true, name, present: record !== null, record, status, epoch: checkpoint.epoch, size: checkpoint.size, checkpoint };
}

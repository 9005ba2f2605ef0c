/**
 * Certification authority and directory as a replicated application: Cachin, "Distributing Trust on the
 * Internet" (DSN 2001), section 5 (a CA whose requests are ordered by atomic broadcast and answered with
 * threshold signatures), with a directory that answers lookups, including "this name is not registered",
 * from the signed state.
 *
 * State machine (deterministic; the only inputs are the ordered entries, their log positions and their
 * epochs' agreed times, AppPosition):
 * - register(name, key, validFor, pop): a new name only; `pop` is the key's signature over
 *   (group id, 'register', name, key, validFor). Issues serial s = next serial, valid for agreed times
 *   [T, T + validFor seconds), T the agreed time of the request's epoch (record version 2).
 * - renew(name, serial, validFor, sig): signed by the current key; issues a new serial for the same key.
 * - rotate(name, serial, newKey, validFor, sig, pop): signed by the current key and by the new key;
 *   issues a new serial for the new key.
 * - revoke(name, serial, sig): signed by the current key; the certificate stays in the directory with
 *   status 'revoked' and the name is never issued again (no duplicate names, ever).
 * Every signed operation names the serial of the current certificate, so a request cannot be replayed once
 * that certificate has changed. Serials are assigned 1, 2, 3, ... in log order. Validity is in agreed
 * wall-clock time (shared/protocols/agreed-time.ts), which every replica has from the protocol, never its
 * own clock; a statement's status is as of its checkpoint's signed time.
 *
 * Commitment: the records live in a sparse Merkle tree keyed by SHA-256(name) (shared/log/sparse-merkle.ts
 * defines the hashes and proofs) and the app digest is SHA-256(frame('sintra-edge/ca-state@1', tree root,
 * u64(serials issued))). The engine binds every app's digest into the signed checkpoint (computeStateDigest,
 * shared/app/state.ts), so a directory statement = signed checkpoint + app digests + the tree root and
 * issued count + the sparse proof for the name, checkable offline with group.json alone
 * (verifyDirectoryStatement).
 *
 * State in the replica's storage (shared/app/types.ts AppState; this object holds none). The tree is the
 * stored sparse Merkle tree of shared/log/stored-sparse-merkle.ts (same roots and proofs as the in-memory
 * tree), each node under its own key; the version of a node is the epoch whose request wrote it:
 *   n/<smtStorageKey>            a tree node (80 hex: u64(version) ‖ hash), encodeSmtNode's bytes
 *   s/<epoch, 16 hex>/<i, hex>   chunk i (0, 1, ...) of the storage keys of nodes of versions older than
 *                                `epoch` that the requests of `epoch` replaced: 40 bytes each,
 *                                u64(version) ‖ hash, appended in order; none empty; a new chunk is
 *                                started when the last one holds `staleChunkKeys` (default 1024) keys
 *   head                         canonical JSON, exactly (no whitespace, this field order):
 *     {"v":1,"root":R,"issued":I,"epoch":E,"versions":[[e,R,i],...],"stale":[[e,c],...]}
 *     R: null (the empty tree) or a root's smtStorageKey (80 lower-case hex); I: serials issued; E: epoch
 *     of the last accepted request (-1: none); versions: the retained versions, epochs strictly
 *     increasing, each [epoch, root, issued] (before the first one is recorded: [[-1,null,0]], the empty
 *     state); stale: the epochs that have s/ chunks, strictly increasing, each [epoch, chunk count].
 *     An absent head is {"v":1,"root":null,"issued":0,"epoch":-1,"versions":[[-1,null,0]],"stale":[]}.
 * Decoding is strict (re-encoding must give the same bytes); a malformed head, chunk, node or record is
 * corrupt storage and throws CaStorageError (SmtStorageError, SmtNodeMissing for the tree), never an
 * error response.
 *
 * Execution: one accepted request is one smtUpdate at version = its epoch, after all its reads (head, the
 * name's path, the epoch's open stale chunk), so a run cut short by AppStateMissing (the executor loads
 * the key and runs the entry again from scratch) has written nothing that counts. A request at an epoch
 * before the CA's last change or not after its latest retained version (an engine bug) is refused as
 * 'internal'.
 *
 * Versions and pruning (the Jellyfish Merkle tree's rule, Gao et al., "Jellyfish Merkle Tree", Diem 2021,
 * section 3, cited in stored-sparse-merkle.ts: the version is in the node key and replaced nodes are
 * indexed by the version that replaced them). endEpoch(e) records version e = (e, root, issued) when the
 * state differs from the latest retained version, keeps the last `retain` (default 8) versions, and then
 * deletes every stale chunk of an epoch s <= the oldest retained epoch, with the nodes it lists. Why that
 * is safe: a node of version v made stale by a request of epoch s was in the live tree from epoch v until
 * then (a node, once replaced, is never referenced again: a node rewritten later is a new key of a newer
 * version), so the versions that reference it are exactly those with v <= epoch < s; once every retained
 * epoch is >= s, none does. A replaced node of the request's own epoch (written earlier in the same epoch)
 * is in no recorded version (those are all of earlier epochs), so it is deleted at once. Storage: the live
 * tree plus the nodes the retained versions still reference, plus the s/ chunks listing the latter.
 *
 * Reads (record, lookup, statement, digest) only read: they may throw AppStateMissing, and the caller
 * loads the key and asks again. lookup(name, epoch) answers from the state after all entries of epochs
 * <= epoch: the live state when the last change is at or before `epoch`, else the retained version with the
 * largest epoch <= `epoch`, or null when that state is no longer retained. So a replica answers from the
 * state of its latest *signed* checkpoint even when its live state is an epoch or two ahead.
 */
import { sha256 } from '../crypto/sha256.ts';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesEqual, frame, fromBase64, fromHex, toHex } from '../crypto/bytes.ts';
import { parseGroup } from '../config/group.ts';
import type { Group } from '../config/group.ts';
import { checkpointToJson } from '../log/checkpoint.ts';
import type { CheckpointJson, SignedCheckpoint } from '../log/checkpoint.ts';
import { decodeSparseProof, encodeSparseProof, smtKey, verifySparseProof } from '../log/sparse-merkle.ts';
import { SmtNodeMissing, SmtStorageError, smtGet, smtProve, smtRootHash, smtStorageKey, smtUpdate } from '../log/stored-sparse-merkle.ts';
import type { SmtNodeRef, SmtNodeSource } from '../log/stored-sparse-merkle.ts';
import {
  CA_APP_NAME,
  CA_RECORD_VERSION,
  isCaEntry,
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
import type { CaErrorCode, CaOp, CaRequest, CaResponse, CertificateRecord, X509Request } from './ca-codec.ts';
import { certificateIssuer } from '../crypto/x509-issue.ts';
import { parseCsr } from '../crypto/csr.ts';
import type { CheckedCsr } from '../crypto/csr.ts';
import { CryptoError } from '../crypto/errors.ts';
import { checkedAppDigest, computeStateDigest } from './state.ts';
import type { AppDigest } from './state.ts';
import { AppStateMissing } from './types.ts';
import type { AppPosition, AppState, ReplicatedApp } from './types.ts';

export * from './ca-codec.ts';
export { computeStateDigest } from './state.ts';
export type { AppDigest } from './state.ts';

export const CA_STATE_VERSION = 'sintra-edge/ca-state@1';
export const CA_STATEMENT_FORMAT = 'sintra-edge/ca-statement@1';
/** Largest validFor accepted by default: ten years of 365 days, in seconds. */
export const DEFAULT_MAX_VALIDITY = 315_360_000;
export const DEFAULT_RETAINED_VERSIONS = 8;
/** The CA's state keys (see the module comment). */
export const CA_HEAD_KEY = 'head';
export const CA_NODE_PREFIX = 'n/';
export const CA_STALE_PREFIX = 's/';
/** Stale node keys per s/ chunk (40 bytes each), by default. */
export const CA_STALE_CHUNK_KEYS = 1024;
const STALE_KEY_BYTES = 40;

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

/** The CA's stored state is not what this module writes (corrupt storage): thrown, never an answer. */
export class CaStorageError extends Error {
  override readonly name = 'CaStorageError';
}

export interface CertificateAuthorityOptions {
  /** The group id (32 bytes): every request signature binds it. */
  readonly groupId: Uint8Array;
  /** Largest validFor accepted, in seconds (default ten years). */
  readonly maxValidity?: number;
  /** How many past state versions (epochs that changed the state) to keep answerable (default 8). */
  readonly retain?: number;
  /** Storage layout only (no effect on answers or digests): stale node keys per s/ chunk (default 1024). */
  readonly staleChunkKeys?: number;
  /** DER of the group's root CA certificate (keys.rsa): x509 requests are refused without it. */
  readonly rootCertificate?: Uint8Array;
}

/** A directory answer from one version: the record (or null) and the sparse proof. */
export interface DirectoryAnswer {
  readonly name: string;
  /** The epoch asked for (the state after all entries of epochs <= epoch); for the live state, the epoch of its last change (-1: none). */
  readonly epoch: number;
  readonly record: CertificateRecord | null;
  /** Encoded sparse Merkle proof (shared/log/sparse-merkle.ts) for SHA-256(name). */
  readonly proof: Uint8Array;
  /** Tree root and issued count of that version, and the CA digest they give. */
  readonly root: Uint8Array;
  readonly issued: number;
  readonly digest: Uint8Array;
}

// ---------------------------------------------------------------------------------------------------------
// Stored state: head, stale chunks, node source

interface Version {
  readonly epoch: number;
  readonly root: SmtNodeRef | null;
  readonly issued: number;
}

interface Head {
  readonly root: SmtNodeRef | null;
  readonly issued: number;
  /** Epoch of the last accepted request (-1: none). */
  readonly epoch: number;
  /** Retained versions, epochs strictly increasing, never empty. */
  readonly versions: readonly Version[];
  /** Epochs with s/ chunks and their chunk counts, epochs strictly increasing. */
  readonly stale: readonly (readonly [number, number])[];
}

const EMPTY_HEAD: Head = { root: null, issued: 0, epoch: -1, versions: [{ epoch: -1, root: null, issued: 0 }], stale: [] };
const REF = /^[0-9a-f]{80}$/;

function refToJson(r: SmtNodeRef | null): string | null {
  return r === null ? null : smtStorageKey(r);
}

function refFromJson(j: unknown): SmtNodeRef | null {
  if (j === null) return null;
  if (typeof j !== 'string' || !REF.test(j)) throw new CaStorageError('CA head: a root is not a node key');
  const version = versionOfKey(j);
  if (!Number.isSafeInteger(version)) throw new CaStorageError('CA head: root version out of range');
  return { version, hash: fromHex(j.slice(16), 32) };
}

/** The version in a node's storage key (u64 in its first 16 hex digits). */
function versionOfKey(storageKey: string): number {
  return parseInt(storageKey.slice(0, 16), 16);
}

function encodeHead(h: Head): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({
      v: 1,
      root: refToJson(h.root),
      issued: h.issued,
      epoch: h.epoch,
      versions: h.versions.map((v) => [v.epoch, refToJson(v.root), v.issued]),
      stale: h.stale.map(([e, c]) => [e, c]),
    }),
  );
}

function decodeHead(b: Uint8Array): Head {
  const bad = (what: string): never => {
    throw new CaStorageError(`CA head: ${what}`);
  };
  let o: unknown;
  try {
    o = JSON.parse(decodeUtf8(b));
  } catch {
    return bad('not JSON');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return bad('not an object');
  const j = o as Record<string, unknown>;
  const int = (x: unknown, min: number): number => (Number.isSafeInteger(x) && (x as number) >= min ? (x as number) : bad('not a valid integer'));
  if (j['v'] !== 1) bad('unknown version');
  const versionsIn = j['versions'];
  const staleIn = j['stale'];
  if (!Array.isArray(versionsIn) || versionsIn.length === 0 || !Array.isArray(staleIn)) return bad('versions or stale malformed');
  const versions = versionsIn.map((v: unknown): Version => {
    if (!Array.isArray(v) || v.length !== 3) return bad('a version is malformed');
    return { epoch: int(v[0], -1), root: refFromJson(v[1]), issued: int(v[2], 0) };
  });
  const stale = staleIn.map((s: unknown): readonly [number, number] => {
    if (!Array.isArray(s) || s.length !== 2) return bad('a stale entry is malformed');
    return [int(s[0], 0), int(s[1], 1)];
  });
  for (let i = 1; i < versions.length; i++) if (versions[i]!.epoch <= versions[i - 1]!.epoch) bad('versions out of order');
  for (let i = 1; i < stale.length; i++) if (stale[i]![0] <= stale[i - 1]![0]) bad('stale epochs out of order');
  const h: Head = { root: refFromJson(j['root']), issued: int(j['issued'], 0), epoch: int(j['epoch'], -1), versions, stale };
  if (!bytesEqual(encodeHead(h), b)) bad('not canonical');
  return h;
}

function readHead(state: AppState): Head {
  const b = state.get(CA_HEAD_KEY);
  return b === undefined ? EMPTY_HEAD : decodeHead(b);
}

function epochHex(epoch: number): string {
  return epoch.toString(16).padStart(16, '0');
}

function staleChunkKey(epoch: number, chunk: number): string {
  return `${CA_STALE_PREFIX}${epochHex(epoch)}/${chunk.toString(16)}`;
}

/** The node keys a stale chunk lists. */
function decodeStaleChunk(key: string, b: Uint8Array | undefined): string[] {
  if (b === undefined || b.length === 0 || b.length % STALE_KEY_BYTES !== 0) {
    throw new CaStorageError(`CA stale chunk ${key}: ${b === undefined ? 'absent' : `${b.length} bytes`}`);
  }
  const out: string[] = [];
  for (let i = 0; i < b.length; i += STALE_KEY_BYTES) out.push(toHex(b.subarray(i, i + STALE_KEY_BYTES)));
  return out;
}

/** The tree's nodes in the state: a node not loaded throws AppStateMissing through the tree code. */
function nodeSource(state: AppState): SmtNodeSource {
  return { get: (storageKey) => state.get(CA_NODE_PREFIX + storageKey) };
}

function decodeStoredRecord(b: Uint8Array): CertificateRecord {
  try {
    return decodeRecord(b);
  } catch (e) {
    throw new CaStorageError(`CA record: ${e instanceof Error ? e.message : 'malformed'}`);
  }
}

const STORAGE_FAULTS = new Set(['AppStateMissing', 'SmtNodeMissing', 'SmtStorageError', 'CaStorageError']);

/** Not an answer to the request: a key to load (AppStateMissing) or corrupt storage. Passed through. */
function isStorageFault(e: unknown): boolean {
  return e instanceof AppStateMissing || e instanceof SmtNodeMissing || e instanceof SmtStorageError || e instanceof CaStorageError || (e instanceof Error && STORAGE_FAULTS.has(e.name));
}

/** What an accepted request changes, computed from reads only. */
interface Plan {
  readonly head: Head;
  readonly key: Uint8Array;
  readonly certificate: CertificateRecord;
  readonly issued: number;
  /** The epoch's open stale chunk: its index and bytes (null: the epoch has no chunk yet). */
  readonly chunk: { readonly index: number; readonly bytes: Uint8Array } | null;
}

export class CertificateAuthority implements ReplicatedApp {
  readonly name = CA_APP_NAME;
  private readonly groupId: Uint8Array;
  private readonly maxValidity: number;
  private readonly retain: number;
  private readonly chunkBytes: number;
  /** The root's validity (ms since 1970), when the group has an RSA key: X.509 certificates lie within it. */
  private readonly rootValidity: { readonly notBefore: number; readonly notAfter: number } | null;

  constructor(opts: CertificateAuthorityOptions) {
    if (!(opts.groupId instanceof Uint8Array) || opts.groupId.length !== 32) throw new RangeError('groupId must be 32 bytes');
    this.groupId = opts.groupId.slice();
    const root = opts.rootCertificate === undefined ? null : certificateIssuer(opts.rootCertificate);
    this.rootValidity = root === null ? null : { notBefore: root.notBefore.getTime(), notAfter: root.notAfter.getTime() };
    this.maxValidity = opts.maxValidity ?? DEFAULT_MAX_VALIDITY;
    if (!Number.isSafeInteger(this.maxValidity) || this.maxValidity < 1) throw new RangeError('maxValidity must be a positive integer');
    this.retain = opts.retain ?? DEFAULT_RETAINED_VERSIONS;
    if (!Number.isSafeInteger(this.retain) || this.retain < 1) throw new RangeError('retain must be a positive integer');
    const chunkKeys = opts.staleChunkKeys ?? CA_STALE_CHUNK_KEYS;
    if (!Number.isSafeInteger(chunkKeys) || chunkKeys < 1 || chunkKeys > 1 << 16) throw new RangeError('staleChunkKeys must be an integer from 1 to 65536');
    this.chunkBytes = chunkKeys * STALE_KEY_BYTES;
  }

  reads(entry: Uint8Array): readonly string[] {
    return isCaEntry(entry) ? [CA_HEAD_KEY] : [];
  }

  apply(entry: Uint8Array, at: AppPosition, state: AppState): Uint8Array | null {
    if (!isCaEntry(entry)) return null;
    // The engine always passes a valid position; anything else still gets a (deterministic) answer.
    const index = typeof at === 'object' && at !== null && Number.isSafeInteger(at.index) ? at.index : -1;
    let op: CaOp | null = null;
    let plan: Plan;
    try {
      const req = decodeCaRequest(entry);
      op = req.op;
      // An X.509 request changes no state: its answer fixes the certificate (x509.ts in workers/core signs it).
      if (req.op === 'x509') return encodeResponse(this.x509(req, at, state));
      plan = this.plan(req, at, state);
    } catch (e) {
      if (isStorageFault(e)) throw e;
      const code: CaErrorCode = e instanceof CaRequestError ? e.code : 'internal';
      const message = e instanceof CaRequestError ? e.message : 'internal error';
      if (e instanceof CaRequestError && e.op) op = e.op;
      return encodeResponse({ app: 'ca', op, ok: false, index, error: { code, message } });
    }
    // Outside the try: a failure here is the storage's, never an error response.
    this.commit(state, plan, at.epoch);
    return encodeResponse({ app: 'ca', op: op as Exclude<CaOp, 'x509'>, ok: true, index, certificate: plan.certificate });
  }

  /**
   * An X.509 certificate for a registered name (docs/ca.md, "X.509 certificates"): the CSR's subject is
   * CN=name, its key is the name's current Ed25519 key (so its valid self-signature is the holder's
   * authorization), and the name's record is active at the request's agreed time. The answer fixes what
   * the certificate says beyond the CSR: serial = log position + 1, valid from the agreed time of the
   * request's epoch to the end of the record's validity (at most the root's), in whole seconds.
   */
  private x509(req: X509Request, at: AppPosition, state: AppState): CaResponse {
    const fail = (code: CaErrorCode, message: string): never => {
      throw new CaRequestError(code, message, 'x509');
    };
    if (typeof at !== 'object' || at === null || !Number.isSafeInteger(at.index) || at.index < 0 || !Number.isSafeInteger(at.time) || at.time < 0) fail('internal', 'bad log position');
    if (this.rootValidity === null) return fail('no-rsa-key', 'this group has no threshold RSA key (sintra deal --rsa), so no root CA to issue X.509 certificates');
    const head = readHead(state);
    const bytes = smtGet(nodeSource(state), head.root, smtKey(req.name));
    const current = bytes ? decodeStoredRecord(bytes) : null;
    if (!current) return fail('not-found', `${req.name} is not registered`);
    if (current.status === 'revoked') fail('revoked', `${req.name} is revoked`);
    if (current.v !== 2 || at.time < current.notBefore || at.time >= current.notAfter) fail('expired', `the certificate of ${req.name} (serial ${current.serial}) is not valid at ${new Date(at.time).toISOString()}`);
    const der = fromBase64(req.csr);
    if (der === null) return fail('bad-csr', 'csr is not canonical standard base64');
    let csr: CheckedCsr;
    try {
      csr = parseCsr(der);
    } catch (e) {
      if (e instanceof CryptoError) return fail('bad-csr', e.message);
      throw e;
    }
    if (csr.name !== req.name) fail('bad-csr', `the CSR's subject is CN=${csr.name}, not ${req.name}`);
    if (csr.keyAlgorithm !== 'ed25519' || toHex(csr.publicKeyInfo.subarray(csr.publicKeyInfo.length - 32)) !== current.key) {
      fail('bad-csr', `the CSR's key is not ${req.name}'s current Ed25519 key (serial ${current.serial})`);
    }
    const second = (ms: number) => Math.floor(ms / 1000) * 1000;
    const notBefore = second(at.time);
    const notAfter = second(Math.min(current.notAfter, this.rootValidity.notAfter));
    if (notBefore < this.rootValidity.notBefore || notAfter <= notBefore) fail('expired', `no whole second of ${req.name}'s validity is within the root certificate's`);
    return { app: 'ca', op: 'x509', ok: true, index: at.index, x509: { name: req.name, serial: at.index + 1, notBefore, notAfter } };
  }

  /**
   * Records version `epoch` if the state changed since the latest retained version, keeps the last
   * `retain` versions, and deletes the stale nodes no retained version references (module comment).
   */
  endEpoch(epoch: number, state: AppState): void {
    if (!Number.isSafeInteger(epoch)) throw new RangeError('epoch must be a safe integer');
    const h = readHead(state);
    const versions = [...h.versions];
    let changed = false;
    const last = versions[versions.length - 1]!;
    if (epoch > last.epoch && h.epoch <= epoch && (h.issued !== last.issued || !bytesEqual(smtRootHash(h.root), smtRootHash(last.root)))) {
      versions.push({ epoch, root: h.root, issued: h.issued });
      changed = true;
    }
    if (versions.length > this.retain) {
      versions.splice(0, versions.length - this.retain);
      changed = true;
    }
    const oldest = versions[0]!.epoch;
    let stale = h.stale;
    const prunable = stale.filter(([e]) => e <= oldest);
    if (prunable.length > 0) {
      // All reads first, then the deletions.
      const chunks: [string, string[]][] = [];
      for (const [e, count] of prunable) {
        for (let i = 0; i < count; i++) {
          const k = staleChunkKey(e, i);
          chunks.push([k, decodeStaleChunk(k, state.get(k))]);
        }
      }
      for (const [k, nodes] of chunks) {
        for (const n of nodes) state.delete(CA_NODE_PREFIX + n);
        state.delete(k);
      }
      stale = stale.filter(([e]) => e > oldest);
      changed = true;
    }
    if (changed) state.put(CA_HEAD_KEY, encodeHead({ ...h, versions, stale }));
  }

  digest(state: AppState): Uint8Array {
    const h = readHead(state);
    return caDigest(smtRootHash(h.root), h.issued);
  }

  /** Root of the live directory tree. */
  root(state: AppState): Uint8Array {
    return smtRootHash(readHead(state).root);
  }

  /** Serials issued so far. */
  issued(state: AppState): number {
    return readHead(state).issued;
  }

  /** Epochs whose end state is retained (each answers for itself and later epochs up to the next one). */
  versions(state: AppState): number[] {
    return readHead(state).versions.map((v) => v.epoch);
  }

  /** The live record of a name (null: not registered). */
  record(state: AppState, name: string): CertificateRecord | null {
    if (typeof name !== 'string') throw new TypeError('name must be a string');
    const v = smtGet(nodeSource(state), readHead(state).root, smtKey(name));
    return v ? decodeStoredRecord(v) : null;
  }

  /**
   * The directory answer for `name` from the state after all entries of epochs <= `epoch` (default: the
   * live state). The caller passes the epoch of a checkpoint the engine made, i.e. one whose entries have
   * all been applied. Null when that state is no longer retained.
   */
  lookup(state: AppState, name: string, epoch?: number): DirectoryAnswer | null {
    if (typeof name !== 'string') throw new TypeError('name must be a string');
    if (epoch !== undefined && !Number.isSafeInteger(epoch)) throw new RangeError('epoch must be a safe integer');
    const h = readHead(state);
    const v = versionAt(h, epoch);
    if (!v) return null;
    const src = nodeSource(state);
    const key = smtKey(name);
    const value = smtGet(src, v.root, key);
    const root = smtRootHash(v.root);
    return {
      name,
      epoch: epoch ?? h.epoch,
      record: value ? decodeStoredRecord(value) : null,
      proof: encodeSparseProof(smtProve(src, v.root, key)),
      root,
      issued: v.issued,
      digest: caDigest(root, v.issued),
    };
  }

  /**
   * The statement for `name` under a signed checkpoint, from the state of the checkpoint's epoch: what a
   * directory route serves. `apps` are the digests of every app that the engine bound into that checkpoint
   * (in its order). Null when that state is no longer retained; throws if the digests do not match the
   * checkpoint (see directoryStatement), and AppStateMissing for a key to load first.
   */
  statement(state: AppState, name: string, checkpoint: SignedCheckpoint, apps: readonly AppDigest[]): DirectoryStatementJson | null {
    const answer = this.lookup(state, name, checkpoint.epoch);
    return answer ? directoryStatement(this.groupId, answer, checkpoint, apps) : null;
  }

  // -------------------------------------------------------------------------------------------------------

  /** Every read and check of a request, no writes: the accepted change, or a CaRequestError. */
  private plan(req: Exclude<CaRequest, X509Request>, at: AppPosition, state: AppState): Plan {
    const fail = (code: CaErrorCode, message: string): never => {
      throw new CaRequestError(code, message, req.op);
    };
    if (typeof at !== 'object' || at === null || !Number.isSafeInteger(at.index) || at.index < 0 || !Number.isSafeInteger(at.epoch) || !Number.isSafeInteger(at.time) || at.time < 0) {
      fail('internal', 'bad log position');
    }
    const head = readHead(state);
    // Epochs only grow in a log, and a recorded version is final: anything else is a caller bug.
    if (at.epoch < head.epoch || at.epoch <= head.versions[head.versions.length - 1]!.epoch) fail('internal', 'bad log position: epoch before the CA state');
    const key = smtKey(req.name);
    const currentBytes = smtGet(nodeSource(state), head.root, key);
    const current = currentBytes ? decodeStoredRecord(currentBytes) : null;
    // The epoch's open stale chunk is read now, so that a load of it does not repeat the signature checks.
    const open = head.stale[head.stale.length - 1];
    let chunk: Plan['chunk'] = null;
    if (open && open[0] === at.epoch) {
      const k = staleChunkKey(at.epoch, open[1] - 1);
      const bytes = state.get(k);
      decodeStaleChunk(k, bytes);
      chunk = { index: open[1] - 1, bytes: bytes! };
    }
    const { certificate, issued } = this.transition(current, head.issued, req, at);
    return { head, key, certificate, issued, chunk };
  }

  /** Writes an accepted change: one tree update at version `epoch`, its nodes, stale keys and head. */
  private commit(state: AppState, plan: Plan, epoch: number): void {
    const { head, chunk } = plan;
    const upd = smtUpdate(nodeSource(state), head.root, epoch, [[plan.key, encodeRecord(plan.certificate)]]);
    for (const [k, v] of upd.put) state.put(CA_NODE_PREFIX + k, v);
    const older: string[] = [];
    for (const k of upd.stale) {
      // Written earlier in this epoch: no recorded version has it.
      if (versionOfKey(k) === epoch) state.delete(CA_NODE_PREFIX + k);
      else older.push(k);
    }
    let stale = head.stale;
    if (older.length > 0) {
      let index = chunk ? chunk.index : 0;
      let bytes = chunk ? chunk.bytes : new Uint8Array(0);
      let i = 0;
      while (i < older.length) {
        if (bytes.length >= this.chunkBytes) {
          index++;
          bytes = new Uint8Array(0);
        }
        const n = Math.min(older.length - i, (this.chunkBytes - bytes.length) / STALE_KEY_BYTES);
        const next = new Uint8Array(bytes.length + n * STALE_KEY_BYTES);
        next.set(bytes);
        for (let j = 0; j < n; j++) next.set(fromHex(older[i + j]!, STALE_KEY_BYTES), bytes.length + j * STALE_KEY_BYTES);
        bytes = next;
        i += n;
        state.put(staleChunkKey(epoch, index), bytes);
      }
      stale = chunk ? [...stale.slice(0, -1), [epoch, index + 1]] : [...stale, [epoch, index + 1]];
    }
    state.put(CA_HEAD_KEY, encodeHead({ ...head, root: upd.root, issued: plan.issued, epoch, stale }));
  }

  private transition(current: CertificateRecord | null, issued: number, req: Exclude<CaRequest, X509Request>, at: AppPosition): { certificate: CertificateRecord; issued: number } {
    const fail = (code: CaErrorCode, message: string): never => {
      throw new CaRequestError(code, message, req.op);
    };
    const msg = requestMessage(this.groupId, req);
    // From the agreed time of the request's epoch, for validFor seconds; `index` names the issuing request.
    const validity = (validFor: number): { index: number; notBefore: number; notAfter: number } => {
      if (validFor > this.maxValidity) fail('bad-validity', `validFor must be at most ${this.maxValidity} seconds`);
      const notAfter = at.time + validFor * 1000;
      if (!Number.isSafeInteger(notAfter)) fail('bad-validity', 'validity overflows');
      return { index: at.index, notBefore: at.time, notAfter };
    };
    const serial = issued + 1;
    let certificate: CertificateRecord;
    if (req.op === 'register') {
      if (current) fail('name-taken', `${req.name} is already registered`);
      if (!isUsableKey(req.key)) fail('bad-key', 'key is not a valid Ed25519 public key of prime order');
      const v = validity(req.validFor);
      if (!verifyEd25519(req.pop, msg, req.key)) fail('bad-signature', 'pop is not a signature of the register message by key');
      certificate = { v: CA_RECORD_VERSION, name: req.name, key: req.key, serial, ...v, status: 'active', revokedAt: null };
    } else {
      if (!current) return fail('not-found', `${req.name} is not registered`);
      if (current.status === 'revoked') fail('revoked', `${req.name} is revoked`);
      if (req.serial !== current.serial) fail('stale-serial', `the current serial of ${req.name} is ${current.serial}`);
      if (!verifyEd25519(req.sig, msg, current.key)) fail('bad-signature', `sig is not a signature of the ${req.op} message by the key of ${req.name}`);
      if (req.op === 'revoke') return { certificate: { ...current, status: 'revoked', revokedAt: at.index }, issued };
      if (req.op === 'renew') {
        certificate = { ...current, v: CA_RECORD_VERSION, serial, ...validity(req.validFor) };
      } else {
        if (req.newKey === current.key) fail('same-key', 'newKey is the current key');
        if (!isUsableKey(req.newKey)) fail('bad-key', 'newKey is not a valid Ed25519 public key of prime order');
        const v = validity(req.validFor);
        if (!verifyEd25519(req.pop, msg, req.newKey)) fail('bad-signature', 'pop is not a signature of the rotate message by newKey');
        certificate = { ...current, v: CA_RECORD_VERSION, key: req.newKey, serial, ...v };
      }
    }
    return { certificate, issued: serial };
  }
}

/** The version that answers for the state after all entries of epochs <= `epoch` (undefined: live). */
function versionAt(h: Head, epoch: number | undefined): Version | null {
  if (epoch === undefined || epoch >= h.epoch) return { epoch: h.epoch, root: h.root, issued: h.issued };
  for (let i = h.versions.length - 1; i >= 0; i--) if (h.versions[i]!.epoch <= epoch) return h.versions[i]!;
  return null;
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
  // 1-2. The group signed the checkpoint, and the listed app digests give its state digest.
  const stated = checkedAppDigest(group, s['apps'], s['checkpoint'], CA_APP_NAME);
  if (typeof stated === 'string') return no(stated);
  const { checkpoint } = stated;
  // 3. The CA's digest is the one of this tree root and issued count.
  if (!bytesEqual(stated.digest, caDigest(root, issued))) return no('the CA digest is not the one of ca.root and ca.issued');
  // 4. The record (or its absence) under that root.
  const value = record ? encodeRecord(record) : null;
  if (!verifySparseProof(root, smtKey(name), value, proof)) {
    return no(record ? 'the proof does not show this record under the CA root' : 'the proof does not show the name absent under the CA root');
  }
  if (record && record.serial > issued) return no('record: serial beyond the serials issued');
  // Version 2 validity is in agreed time: the checkpoint's signed time is "now" for the statement.
  // Version 1 (earlier releases) counted log positions: the checkpoint's last position.
  const now = record?.v === 1 ? checkpoint.size - 1 : checkpoint.time;
  if (record && now === undefined) return no('a version-2 record needs a checkpoint with agreed time (payload version 2)');
  const status = !record
    ? 'absent'
    : record.status === 'revoked'
      ? 'revoked'
      : now! < record.notBefore
        ? 'not-yet-valid'
        : now! >= record.notAfter
          ? 'expired'
          : 'active';
  return { ok: true, name, present: record !== null, record, status, epoch: checkpoint.epoch, size: checkpoint.size, checkpoint };
}

/**
 * Notary and time-stamping (docs/design.md section 11; Cachin, "Distributing trust on the Internet", DSN 2001,
 * section 5, "notary service"): clients register the SHA-256 digest of a document; its logical time is the
 * position of the registering entry in the total order, and the receipt of that log entry (entry +
 * inclusion proof + group-signed checkpoint) proves the digest was known no later than that position.
 *
 * Entry format (exact bytes, UTF-8, no whitespace, this key order):
 *
 *   {"app":"notary","op":"stamp","digest":"<64 lower-case hex>"}
 *   {"app":"notary","op":"stamp","digest":"<64 lower-case hex>","nonce":"<2..128 lower-case hex>"}
 *
 * An entry is for the notary iff its bytes start with `{"app":"notary",`; any such entry that is not
 * exactly one of the two forms gets an error response and changes nothing. One canonical encoding per
 * (digest, nonce) matters twice: the request id (SHA-256 of the entry) is what replicas de-duplicate by,
 * and a verifier re-derives the entry from the digest it holds instead of trusting a parser's leniency.
 * The optional nonce (up to 64 bytes) lets a client make its entry unique (for instance to tell its own
 * registration from someone else's of the same public document); it is recorded, not interpreted.
 *
 * State (in the replica's storage, shared/app/types.ts AppState), exact bytes:
 *   d/<digest hex>  -> the digest's first registration: u64(index) ‖ u64(epoch) ‖ nonce bytes (0 to 64)
 *   head            -> the chain (32 bytes); absent before the first stamp
 * The stamp at a log index is the log entry itself (with `first` true iff the registration of its digest
 * is at that index), so nothing per index is kept. The state digest is a hash chain over the stamp entries
 * in log order: it commits to the whole state and costs O(1) per entry.
 */
import { sha256 } from '../crypto/sha256.ts';
import { frame, fromHex, toHex, utf8ToBytes } from '../crypto/bytes.ts';
import type { AppPosition, AppState, ReplicatedApp } from './types.ts';

export const NOTARY_APP = 'notary';
const ENTRY_PREFIX = '{"app":"notary",';
const PREFIX_BYTES = utf8ToBytes(ENTRY_PREFIX);
const DIGEST_HEX = /^[0-9a-f]{64}$/;
const NONCE_HEX = /^(?:[0-9a-f]{2}){1,64}$/;
const CHAIN_VERSION = 'sintra-edge/notary@1';

export interface StampRequest {
  /** Hex SHA-256 of the document. */
  readonly digest: string;
  readonly nonce?: string;
}

export interface Registration {
  readonly digest: string;
  readonly index: number;
  readonly epoch: number;
  readonly nonce?: string;
}

export class StampFormatError extends Error {
  override readonly name = 'StampFormatError';
}

/** The canonical entry for a stamp request (throws StampFormatError for a bad digest or nonce). */
export function encodeStampEntry(req: StampRequest): Uint8Array {
  if (typeof req.digest !== 'string' || !DIGEST_HEX.test(req.digest)) throw new StampFormatError('digest: expected 64 lower-case hex digits (SHA-256)');
  if (req.nonce !== undefined && (typeof req.nonce !== 'string' || !NONCE_HEX.test(req.nonce))) {
    throw new StampFormatError('nonce: expected 1 to 64 bytes of lower-case hex');
  }
  const nonce = req.nonce !== undefined ? `,"nonce":"${req.nonce}"` : '';
  return utf8ToBytes(`${ENTRY_PREFIX}"op":"stamp","digest":"${req.digest}"${nonce}}`);
}

function startsWithPrefix(entry: Uint8Array): boolean {
  if (entry.length < PREFIX_BYTES.length) return false;
  for (let i = 0; i < PREFIX_BYTES.length; i++) if (entry[i] !== PREFIX_BYTES[i]) return false;
  return true;
}

/** One decoder for every parse (decode() without `stream` keeps no state between calls). */
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export type ParsedStamp = { readonly ok: true; readonly request: StampRequest } | { readonly ok: false; readonly error: string };

/**
 * null: not a notary entry. Otherwise the request, or why the entry is refused. Never throws: a Byzantine
 * client's or proposer's entry only earns an error response.
 */
export function parseStampEntry(entry: Uint8Array): ParsedStamp | null {
  if (!startsWithPrefix(entry)) return null;
  let text: string;
  let o: unknown;
  try {
    text = STRICT_UTF8.decode(entry);
    o = JSON.parse(text);
  } catch {
    return { ok: false, error: 'malformed: not UTF-8 JSON' };
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return { ok: false, error: 'malformed: not a JSON object' };
  const r = o as Record<string, unknown>;
  if (r['op'] !== 'stamp') return { ok: false, error: 'unknown op (only "stamp")' };
  const keys = Object.keys(r);
  if (keys.some((k) => k !== 'app' && k !== 'op' && k !== 'digest' && k !== 'nonce')) return { ok: false, error: 'unknown field' };
  const req: StampRequest = { digest: r['digest'] as string, ...(r['nonce'] !== undefined ? { nonce: r['nonce'] as string } : {}) };
  let canonical: Uint8Array;
  try {
    canonical = encodeStampEntry(req);
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
  if (canonical.length !== entry.length || !canonical.every((b, i) => b === entry[i])) return { ok: false, error: 'not in canonical form' };
  return { ok: true, request: req };
}

/** Canonical JSON response bytes (fixed key order). */
function response(o: Record<string, string | number | boolean>): Uint8Array {
  return utf8ToBytes(JSON.stringify(o));
}

function u64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n));
  return b;
}

export interface StampAtIndex {
  readonly digest: string;
  readonly nonce?: string;
  /** Whether this entry is the digest's first registration (else it repeats an earlier one). */
  readonly first: boolean;
}

const HEAD = 'head';
const INITIAL_CHAIN = sha256(frame(CHAIN_VERSION));

function registrationKey(digest: string): string {
  return `d/${digest}`;
}

function encodeRegistration(index: number, epoch: number, nonce: string | undefined): Uint8Array {
  const n = nonce !== undefined ? fromHex(nonce) : new Uint8Array(0);
  const out = new Uint8Array(16 + n.length);
  out.set(u64(index), 0);
  out.set(u64(epoch), 8);
  out.set(n, 16);
  return out;
}

function decodeRegistration(digest: string, b: Uint8Array): Registration {
  if (b.length < 16 || b.length > 16 + 64) throw new RangeError(`stored registration of ${digest} has ${b.length} bytes`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const index = Number(v.getBigUint64(0));
  const epoch = Number(v.getBigUint64(8));
  return { digest, index, epoch, ...(b.length > 16 ? { nonce: toHex(b.subarray(16)) } : {}) };
}

export class NotaryApp implements ReplicatedApp {
  readonly name = NOTARY_APP;
  /** Entries parsed by reads() (the execution stage's prefetch), so that apply() does not parse them again. */
  private readonly parsed = new WeakMap<Uint8Array, ParsedStamp | null>();

  private parse(entry: Uint8Array): ParsedStamp | null {
    if (this.parsed.has(entry)) return this.parsed.get(entry)!;
    const p = parseStampEntry(entry);
    this.parsed.set(entry, p);
    return p;
  }

  reads(entry: Uint8Array): readonly string[] {
    const p = this.parse(entry);
    return p?.ok ? [registrationKey(p.request.digest), HEAD] : [];
  }

  apply(entry: Uint8Array, at: AppPosition, state: AppState): Uint8Array | null {
    const p = this.parse(entry);
    if (p === null) return null;
    if (!p.ok) return response({ app: NOTARY_APP, ok: false, error: p.error });
    const { digest, nonce } = p.request;
    const earlier = this.lookup(state, digest);
    const chain = this.digest(state);
    const first = earlier === undefined;
    const reg: Registration = earlier ?? { digest, index: at.index, epoch: at.epoch, ...(nonce !== undefined ? { nonce } : {}) };
    if (first) state.put(registrationKey(digest), encodeRegistration(at.index, at.epoch, nonce));
    state.put(HEAD, sha256(frame(CHAIN_VERSION, chain, u64(at.index), u64(at.epoch), fromHex(digest), nonce !== undefined ? fromHex(nonce) : new Uint8Array(0), first ? '1' : '0')));
    return response({ app: NOTARY_APP, ok: true, digest, index: reg.index, epoch: reg.epoch, first });
  }

  digest(state: AppState): Uint8Array {
    return state.get(HEAD) ?? INITIAL_CHAIN;
  }

  /** The first registration of a digest (hex), if any. */
  lookup(state: AppState, digest: string): Registration | undefined {
    const b = state.get(registrationKey(digest));
    return b ? decodeRegistration(digest, b) : undefined;
  }

  /** The stamp that log entry `entry` at index `index` is, if it is one (`first`: it registered its digest). */
  atIndex(state: AppState, index: number, entry: Uint8Array): StampAtIndex | undefined {
    const p = parseStampEntry(entry);
    if (!p?.ok) return undefined;
    const reg = this.lookup(state, p.request.digest);
    if (!reg) return undefined;
    return { digest: p.request.digest, ...(p.request.nonce !== undefined ? { nonce: p.request.nonce } : {}), first: reg.index === index };
  }
}

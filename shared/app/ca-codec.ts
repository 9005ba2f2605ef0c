/**
 * Canonical encodings of the certification authority (shared/app/ca.ts): requests (log entries),
 * certificate records (the values committed in the directory's sparse Merkle tree), responses, and the
 * messages the Ed25519 keys sign; plus builders that sign requests for clients.
 *
 * Every encoding is JSON with a fixed field order and no whitespace (`JSON.stringify` of an object built in
 * that order), names and hex restricted to ASCII, integers safe and non-negative. A decoder accepts a
 * document only if re-encoding what it parsed gives back exactly the same bytes, so every request and
 * record has one encoding (a request cannot be re-encoded into a second log entry with another id).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { frame, fromHex, toHex } from '../crypto/bytes.ts';

export const CA_APP_NAME = 'ca';
export const CA_REQUEST_VERSION = 1;
/** Records the CA writes: version 2 (validity in agreed wall-clock time). Version 1 (log positions) still parses. */
export const CA_RECORD_VERSION = 2;
/** Every CA request entry starts with these bytes; other entries are not for the CA. */
export const CA_ENTRY_PREFIX = '{"app":"ca",';
export const MAX_CA_REQUEST_BYTES = 2048;
export const MAX_NAME_LENGTH = 128;
export const ED25519_KEY_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;
/** Domain tag of every message a CA request signs. */
export const CA_SIGNING_TAG = 'sintra-edge/ca-request@1';

/** Lower-case ASCII letters, digits and . _ @ -, starting with a letter or digit, 1..128 characters. */
const NAME = /^[a-z0-9][a-z0-9._@-]{0,127}$/;
const HEX64 = /^[0-9a-f]{64}$/;
const HEX128 = /^[0-9a-f]{128}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const NONCE_HEX = /^(?:[0-9a-f]{2}){1,32}$/;

/** Strict UTF-8 decoding (throws on invalid bytes; a byte-order mark is kept, so JSON.parse refuses it). */
export function decodeUtf8(bytes: Uint8Array): string {
  return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
}

/** Whether a log entry is the CA's: it starts with CA_ENTRY_PREFIX (then decodeCaRequest says whether it is well formed). */
export function isCaEntry(entry: Uint8Array): boolean {
  if (!(entry instanceof Uint8Array) || entry.length < CA_ENTRY_PREFIX.length) return false;
  for (let i = 0; i < CA_ENTRY_PREFIX.length; i++) if (entry[i] !== CA_ENTRY_PREFIX.charCodeAt(i)) return false;
  return true;
}

export function isValidName(name: unknown): name is string {
  return typeof name === 'string' && NAME.test(name);
}

export type CaOp = 'register' | 'renew' | 'revoke' | 'rotate' | 'x509';
export const CA_OPS: readonly CaOp[] = ['register', 'renew', 'revoke', 'rotate', 'x509'];

export interface RegisterRequest {
  readonly op: 'register';
  readonly name: string;
  /** Ed25519 public key, hex. */
  readonly key: string;
  /** Requested validity in seconds of agreed time (from the request's epoch). */
  readonly validFor: number;
  /** Proof of possession: signature by `key` over registerMessage. */
  readonly pop: string;
}

export interface RenewRequest {
  readonly op: 'renew';
  readonly name: string;
  /** Serial of the name's current certificate (binds the request to that state: no replays). */
  readonly serial: number;
  readonly validFor: number;
  /** Signature by the current key over renewMessage. */
  readonly sig: string;
}

export interface RevokeRequest {
  readonly op: 'revoke';
  readonly name: string;
  readonly serial: number;
  readonly sig: string;
}

export interface RotateRequest {
  readonly op: 'rotate';
  readonly name: string;
  readonly serial: number;
  readonly newKey: string;
  readonly validFor: number;
  /** Signature by the current (old) key over rotateMessage. */
  readonly sig: string;
  /** Proof of possession of the new key: its signature over the same message. */
  readonly pop: string;
}

/**
 * An X.509 certificate for a registered name (docs/ca.md, "X.509 certificates"): `csr` is a PKCS #10
 * request (DER, standard base64) whose subject is CN=name and whose key is the name's current Ed25519
 * directory key; its self-signature is the authorization, so no other signature is needed. `nonce` (1-32
 * bytes hex) makes a new request for the same CSR a new log entry (a new certificate).
 */
export interface X509Request {
  readonly op: 'x509';
  readonly name: string;
  readonly csr: string;
  readonly nonce: string;
}

export type CaRequest = RegisterRequest | RenewRequest | RevokeRequest | RotateRequest | X509Request;

const REQUEST_FIELDS: Record<CaOp, readonly string[]> = {
  register: ['app', 'v', 'op', 'name', 'key', 'validFor', 'pop'],
  renew: ['app', 'v', 'op', 'name', 'serial', 'validFor', 'sig'],
  revoke: ['app', 'v', 'op', 'name', 'serial', 'sig'],
  rotate: ['app', 'v', 'op', 'name', 'serial', 'newKey', 'validFor', 'sig', 'pop'],
  x509: ['app', 'v', 'op', 'name', 'csr', 'nonce'],
};

/**
 * The canonical entry bytes of a request. Throws CaRequestError if the request is malformed (the CA would
 * only answer it with that error), so clients fail before submitting.
 */
export function encodeCaRequest(r: CaRequest): Uint8Array {
  const bytes = new TextEncoder().encode(canonicalRequestText(r));
  decodeCaRequest(bytes);
  return bytes;
}

function canonicalRequestText(r: CaRequest): string {
  const o: Record<string, unknown> = { app: CA_APP_NAME, v: CA_REQUEST_VERSION };
  for (const f of REQUEST_FIELDS[r.op].slice(2)) o[f] = (r as unknown as Record<string, unknown>)[f];
  return JSON.stringify(o);
}

export type CaErrorCode =
  | 'too-large'
  | 'bad-encoding'
  | 'non-canonical'
  | 'unsupported-version'
  | 'unknown-op'
  | 'bad-request'
  | 'bad-name'
  | 'bad-key'
  | 'bad-validity'
  | 'bad-signature'
  | 'name-taken'
  | 'not-found'
  | 'revoked'
  | 'stale-serial'
  | 'same-key'
  | 'bad-csr'
  | 'expired'
  | 'no-rsa-key'
  | 'internal';

export class CaRequestError extends Error {
  override readonly name = 'CaRequestError';
  constructor(
    readonly code: CaErrorCode,
    message: string,
    /** The operation, once known. */
    readonly op: CaOp | null = null,
  ) {
    super(message);
  }
}

const isNat = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * Strict decoding of a CA entry (one that starts with CA_ENTRY_PREFIX). Checks the encoding, the field
 * set and order, and the syntax of every field (not signatures, not state). Throws CaRequestError.
 */
export function decodeCaRequest(entry: Uint8Array): CaRequest {
  if (entry.length > MAX_CA_REQUEST_BYTES) throw new CaRequestError('too-large', `a CA request is at most ${MAX_CA_REQUEST_BYTES} bytes`);
  let text: string;
  let doc: unknown;
  try {
    text = decodeUtf8(entry);
    doc = JSON.parse(text);
  } catch {
    throw new CaRequestError('bad-encoding', 'a CA request must be UTF-8 JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new CaRequestError('bad-encoding', 'a CA request must be a JSON object');
  const o = doc as Record<string, unknown>;
  if (o['app'] !== CA_APP_NAME) throw new CaRequestError('bad-request', 'app must be "ca"');
  if (o['v'] !== CA_REQUEST_VERSION) throw new CaRequestError('unsupported-version', `v must be ${CA_REQUEST_VERSION}`);
  const op = o['op'];
  if (typeof op !== 'string' || !(CA_OPS as readonly string[]).includes(op)) throw new CaRequestError('unknown-op', `op must be one of ${CA_OPS.join(', ')}`);
  const cop = op as CaOp;
  const fields = REQUEST_FIELDS[cop];
  const keys = Object.keys(o);
  if (keys.length !== fields.length || keys.some((k, i) => k !== fields[i])) {
    throw new CaRequestError('bad-request', `a ${cop} request has exactly the fields ${fields.join(', ')}, in this order`, cop);
  }
  const fail = (code: CaErrorCode, msg: string): never => {
    throw new CaRequestError(code, msg, cop);
  };
  if (!isValidName(o['name'])) fail('bad-name', `name must match ${NAME.source}`);
  for (const f of ['key', 'newKey'] as const) {
    if (fields.includes(f) && (typeof o[f] !== 'string' || !HEX64.test(o[f] as string))) fail('bad-key', `${f} must be a 32-byte Ed25519 public key in lower-case hex`);
  }
  for (const f of ['pop', 'sig'] as const) {
    if (fields.includes(f) && (typeof o[f] !== 'string' || !HEX128.test(o[f] as string))) fail('bad-signature', `${f} must be a 64-byte Ed25519 signature in lower-case hex`);
  }
  if (fields.includes('serial') && !(isNat(o['serial']) && o['serial'] >= 1)) fail('bad-request', 'serial must be a positive integer');
  if (fields.includes('validFor') && !(isNat(o['validFor']) && o['validFor'] >= 1)) fail('bad-validity', 'validFor must be a positive integer (seconds)');
  if (fields.includes('csr') && (typeof o['csr'] !== 'string' || !BASE64.test(o['csr']) || o['csr'].length === 0)) fail('bad-csr', 'csr must be a PKCS #10 request in standard base64 (with padding)');
  if (fields.includes('nonce') && (typeof o['nonce'] !== 'string' || !NONCE_HEX.test(o['nonce']))) fail('bad-request', 'nonce must be 1 to 32 bytes of lower-case hex');
  const r = o as unknown as CaRequest;
  if (canonicalRequestText(r) !== text) fail('non-canonical', 'the request is not in canonical form (field order, no whitespace, plain integers)');
  return r;
}

// ---------------------------------------------------------------------------------------------------------
// Signed messages

function u64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n));
  return b;
}

export function registerMessage(groupId: Uint8Array, name: string, key: Uint8Array, validFor: number): Uint8Array {
  return frame(CA_SIGNING_TAG, groupId, 'register', name, key, u64(validFor));
}

export function renewMessage(groupId: Uint8Array, name: string, serial: number, validFor: number): Uint8Array {
  return frame(CA_SIGNING_TAG, groupId, 'renew', name, u64(serial), u64(validFor));
}

export function revokeMessage(groupId: Uint8Array, name: string, serial: number): Uint8Array {
  return frame(CA_SIGNING_TAG, groupId, 'revoke', name, u64(serial));
}

/** Signed by the old key (sig) and by the new key (pop). */
export function rotateMessage(groupId: Uint8Array, name: string, serial: number, newKey: Uint8Array, validFor: number): Uint8Array {
  return frame(CA_SIGNING_TAG, groupId, 'rotate', name, u64(serial), newKey, u64(validFor));
}

/** The message a request's signatures cover. */
/** The message a request's Ed25519 signatures sign (an x509 request is authorized by its CSR's own signature). */
export function requestMessage(groupId: Uint8Array, r: Exclude<CaRequest, X509Request>): Uint8Array {
  switch (r.op) {
    case 'register':
      return registerMessage(groupId, r.name, fromHex(r.key, 32), r.validFor);
    case 'renew':
      return renewMessage(groupId, r.name, r.serial, r.validFor);
    case 'revoke':
      return revokeMessage(groupId, r.name, r.serial);
    case 'rotate':
      return rotateMessage(groupId, r.name, r.serial, fromHex(r.newKey, 32), r.validFor);
  }
}

/** Strict RFC 8032 verification (not ZIP-215), never throws. */
export function verifyEd25519(signatureHex: string, message: Uint8Array, publicKeyHex: string): boolean {
  try {
    return ed25519.verify(fromHex(signatureHex, 64), message, fromHex(publicKeyHex, 32), { zip215: false });
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Client-side builders (Ed25519 secret keys are 32 bytes; signing is deterministic)

function sign(secretKey: Uint8Array, msg: Uint8Array): string {
  return toHex(ed25519.sign(msg, secretKey));
}

export function ed25519PublicKey(secretKey: Uint8Array): Uint8Array {
  return ed25519.getPublicKey(secretKey);
}

export function registerRequest(groupId: Uint8Array, name: string, secretKey: Uint8Array, validFor: number): RegisterRequest {
  const key = ed25519PublicKey(secretKey);
  return { op: 'register', name, key: toHex(key), validFor, pop: sign(secretKey, registerMessage(groupId, name, key, validFor)) };
}

export function renewRequest(groupId: Uint8Array, name: string, serial: number, secretKey: Uint8Array, validFor: number): RenewRequest {
  return { op: 'renew', name, serial, validFor, sig: sign(secretKey, renewMessage(groupId, name, serial, validFor)) };
}

export function revokeRequest(groupId: Uint8Array, name: string, serial: number, secretKey: Uint8Array): RevokeRequest {
  return { op: 'revoke', name, serial, sig: sign(secretKey, revokeMessage(groupId, name, serial)) };
}

export function rotateRequest(groupId: Uint8Array, name: string, serial: number, oldSecretKey: Uint8Array, newSecretKey: Uint8Array, validFor: number): RotateRequest {
  const newKey = ed25519PublicKey(newSecretKey);
  const msg = rotateMessage(groupId, name, serial, newKey, validFor);
  return { op: 'rotate', name, serial, newKey: toHex(newKey), validFor, sig: sign(oldSecretKey, msg), pop: sign(newSecretKey, msg) };
}

// ---------------------------------------------------------------------------------------------------------
// Certificate records (the directory's committed values)

export type CertificateStatus = 'active' | 'revoked';

/**
 * A certificate as the directory commits it: `name` holds `key` under serial `serial`, issued by the
 * request at log position `index`, for agreed times notBefore <= T < notAfter (ms since 1970: the agreed
 * time of the issuing request's epoch, plus validFor seconds; docs/protocols.md "Agreed time");
 * `revokedAt` is the log position of the revocation. Older serials of the same name are superseded (by
 * renew or rotate). Version 1 (groups of earlier releases) has no `index`, and notBefore/notAfter are log
 * positions (notBefore the issuing request's).
 */
export interface CertificateRecord {
  readonly v: 1 | 2;
  readonly name: string;
  readonly key: string;
  readonly serial: number;
  /** Version 2: the log position of the request that issued this serial. */
  readonly index?: number;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly status: CertificateStatus;
  readonly revokedAt: number | null;
}

const RECORD_FIELDS_V1 = ['v', 'name', 'key', 'serial', 'notBefore', 'notAfter', 'status', 'revokedAt'] as const;
const RECORD_FIELDS = ['v', 'name', 'key', 'serial', 'index', 'notBefore', 'notAfter', 'status', 'revokedAt'] as const;

/** The log position of the request that issued the record's serial (version 1: its notBefore). */
export function issuedAt(r: CertificateRecord): number {
  return r.v === 1 ? r.notBefore : r.index!;
}

function canonicalRecord(r: CertificateRecord): CertificateRecord {
  return {
    v: r.v,
    name: r.name,
    key: r.key,
    serial: r.serial,
    ...(r.v === 1 ? {} : { index: r.index! }),
    notBefore: r.notBefore,
    notAfter: r.notAfter,
    status: r.status,
    revokedAt: r.revokedAt,
  };
}

export function encodeRecord(r: CertificateRecord): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(canonicalRecord(r)));
}

/** Strict shape check of a record given as JSON (a statement's `record`). Throws CaRequestError('bad-request'). */
export function recordFromJson(j: unknown): CertificateRecord {
  const bad = (m: string): never => {
    throw new CaRequestError('bad-request', `record: ${m}`);
  };
  if (typeof j !== 'object' || j === null || Array.isArray(j)) bad('expected an object');
  const o = j as Record<string, unknown>;
  const keys = Object.keys(o);
  if (o['v'] !== 1 && o['v'] !== 2) bad('v must be 2 (or 1, a record of an earlier release)');
  const fields: readonly string[] = o['v'] === 1 ? RECORD_FIELDS_V1 : RECORD_FIELDS;
  if (keys.length !== fields.length || !fields.every((f) => Object.hasOwn(o, f))) bad(`expected exactly the fields ${fields.join(', ')}`);
  if (o['v'] === 2 && !isNat(o['index'])) bad('index must be a log position');
  if (!isValidName(o['name'])) bad('bad name');
  if (typeof o['key'] !== 'string' || !HEX64.test(o['key'])) bad('key must be 32 bytes of lower-case hex');
  if (!isNat(o['serial']) || o['serial'] < 1) bad('serial must be a positive integer');
  if (!isNat(o['notBefore']) || !isNat(o['notAfter']) || o['notAfter'] <= o['notBefore']) bad('need notBefore < notAfter, non-negative integers');
  if (o['status'] !== 'active' && o['status'] !== 'revoked') bad('status must be "active" or "revoked"');
  if (o['status'] === 'active' ? o['revokedAt'] !== null : !isNat(o['revokedAt'])) bad('revokedAt must be null when active, a log position when revoked');
  return canonicalRecord(o as unknown as CertificateRecord);
}

export function decodeRecord(bytes: Uint8Array): CertificateRecord {
  const text = decodeUtf8(bytes);
  const r = recordFromJson(JSON.parse(text));
  if (JSON.stringify(r) !== text) throw new CaRequestError('bad-request', 'record: not canonical');
  return r;
}

// ---------------------------------------------------------------------------------------------------------
// Responses

/** What an accepted x509 request fixes: the certificate's serial and validity (ms since 1970). */
export interface X509Issue {
  readonly name: string;
  /** The X.509 serialNumber: the request's log position + 1. */
  readonly serial: number;
  readonly notBefore: number;
  readonly notAfter: number;
}

export type CaResponse =
  | { readonly app: 'ca'; readonly op: Exclude<CaOp, 'x509'>; readonly ok: true; readonly index: number; readonly certificate: CertificateRecord }
  | { readonly app: 'ca'; readonly op: 'x509'; readonly ok: true; readonly index: number; readonly x509: X509Issue }
  | { readonly app: 'ca'; readonly op: CaOp | null; readonly ok: false; readonly index: number; readonly error: { readonly code: CaErrorCode; readonly message: string } };

export function encodeResponse(r: CaResponse): Uint8Array {
  const o = !r.ok
    ? { app: r.app, op: r.op, ok: false, index: r.index, error: { code: r.error.code, message: r.error.message } }
    : 'x509' in r
      ? { app: r.app, op: r.op, ok: true, index: r.index, x509: { name: r.x509.name, serial: r.x509.serial, notBefore: r.x509.notBefore, notAfter: r.x509.notAfter } }
      : { app: r.app, op: r.op, ok: true, index: r.index, certificate: canonicalRecord(r.certificate) };
  return new TextEncoder().encode(JSON.stringify(o));
}

export function decodeResponse(bytes: Uint8Array): CaResponse {
  return JSON.parse(decodeUtf8(bytes)) as CaResponse;
}

/**
 * Strict binary wire codec for protocol messages (shared/protocols/messages.ts).
 *
 * Runtime-free: Uint8Array only, no node: imports, no Buffer, no TextEncoder/TextDecoder needed.
 * The bytes come from peers that may be Byzantine, so decoding accepts exactly one encoding per message
 * (every field has a fixed width or an exact length prefix, and nothing may follow the last field):
 * for every accepted input, `encodeMessage(decodeMessage(b))` is `b` again. Every rejection, on either
 * side, is a thrown `CodecError` with a `code`; no other exception escapes on any input.
 *
 * Message layout (integers big-endian):
 *
 *   u8   version, = CODEC_VERSION (1)
 *   u8   tag length L, 1..200
 *   L    tag bytes, each in [a-z0-9/-] (ASCII, so the tag is valid UTF-8 and one byte per char)
 *   u8   body type code (BODY_TYPE_CODES below)
 *   ...  the fields of that body type, in schema order; field kinds:
 *          u32     4 bytes (rounds)
 *          bit     1 byte, 0 or 1
 *          bits    1 byte, 1, 2 or 3 (aba-conf value set, see bitsOf in messages.ts)
 *          bytes   u32 length n (n <= maxValueBytes), then n bytes
 *          digest  exactly 32 bytes, no length prefix
 *          list    u16 count c (c <= maxListItems), then c times `bytes`
 *
 * Batch layout (one HTTP transport payload):
 *
 *   u32  count c (c <= maxBatchMessages)
 *   c x  { u32 length n (n <= maxMessageBytes), then n bytes of one message as above }
 *
 * A batch is all-or-nothing: one bad message rejects the whole payload (it came from one authenticated
 * sender, who is then faulty).
 *
 * Byte fields of decoded messages are COPIES by default (`slice`), independent of later mutation of the
 * input and not keeping a whole batch buffer alive (nor dragging it into a structured clone when a
 * protocol persists a 32-byte digest). Callers that consume a message at once and never store it may pass
 * `{ views: true }` to get zero-copy `subarray` views aliasing the input instead. (In V8 a typed array over
 * 64 bytes costs roughly 0.5 us to allocate, so copies are most of the decode time for large fields; prefer
 * encodeBatch over many encodeMessage calls on a hot path, it allocates once.)
 *
 * Adding a body type: add it to `Body` in messages.ts, then one line to SCHEMA with a NEW code (never
 * reuse or renumber a code); the compiler rejects a missing type, a missing or extra field, or a field
 * kind that does not match the field's TypeScript type.
 */
import type { Bit, Body, BodyType, Message } from '../protocols/messages.ts';

export const CODEC_VERSION = 1;
export const MAX_TAG_LENGTH = 200;
export const DIGEST_LENGTH = 32;

export type CodecErrorCode =
  | 'truncated' // input ends inside a field
  | 'trailing-bytes' // bytes left after the last field (of a message or of a batch)
  | 'unknown-type' // body type code (or, when encoding, body `t`) not in the table
  | 'too-large' // a length or count beyond CodecLimits or the format's field width
  | 'bad-value' // non-canonical or out-of-range field value (bit 2, values 0, digest of 31 bytes, ...)
  | 'bad-tag' // tag empty, longer than 200, or with a byte outside [a-z0-9/-]
  | 'bad-version'; // first byte is not CODEC_VERSION

export class CodecError extends Error {
  override readonly name = 'CodecError';
  constructor(
    readonly code: CodecErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function isCodecError(e: unknown): e is CodecError {
  return e instanceof CodecError;
}

function fail(code: CodecErrorCode, message: string): never {
  throw new CodecError(code, message);
}

export interface CodecLimits {
  /** Largest encoded message (and largest per-message length in a batch). */
  readonly maxMessageBytes: number;
  /** Largest single byte-string field (a value, share, signature, list item). */
  readonly maxValueBytes: number;
  /** Most items in one list field (format maximum 65535). */
  readonly maxListItems: number;
  /** Most messages in one batch. */
  readonly maxBatchMessages: number;
  /** Largest encoded batch. */
  readonly maxBatchBytes: number;
}

export const DEFAULT_LIMITS: CodecLimits = Object.freeze({
  maxMessageBytes: 16 * 1024 * 1024,
  maxValueBytes: 8 * 1024 * 1024,
  maxListItems: 4096,
  maxBatchMessages: 10_000,
  maxBatchBytes: 64 * 1024 * 1024,
});

export interface DecodeOptions extends Partial<CodecLimits> {
  /** Return byte fields as views into the input instead of copies (see the module comment). */
  readonly views?: boolean;
}

// ---------------------------------------------------------------------------------------------------------
// Schema

interface KindTypes {
  u32: number;
  bit: Bit;
  bits: 1 | 2 | 3;
  bytes: Uint8Array;
  digest: Uint8Array;
  list: readonly Uint8Array[];
}
type Kind = keyof KindTypes;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** The kinds whose decoded type is exactly T. */
type KindFor<T> = { [K in Kind]: Same<KindTypes[K], T> extends true ? K : never }[Kind];

type BodyOf<K extends BodyType> = Extract<Body, { readonly t: K }>;
type FieldName<B> = Exclude<keyof B, 't'> & string;
type FieldSpec<B> = { [F in FieldName<B>]: readonly [F, KindFor<B[F]>] }[FieldName<B>];
interface BodySpec<K extends BodyType> {
  readonly code: number;
  readonly fields: readonly FieldSpec<BodyOf<K>>[];
}

/**
 * Body type codes: fixed forever. Never reuse or renumber a code; a retired type keeps its code reserved.
 * Code 0 is never assigned. Grouped by protocol with room to grow:
 *
 *   0x10 rbc-send   0x11 rbc-echo   0x12 rbc-ready
 *   0x20 cbc-send   0x21 cbc-echo   0x22 cbc-final   0x23 cbc-want   0x24 cbc-have   0x25 cbc-proof
 *   0x30 aba-bval   0x31 aba-aux    0x32 aba-conf    0x33 aba-coin   0x35 aba-term
 *   (0x34: retired, the round-less aba-term of storage formats <= 3)
 *   0x40 ab-requests
 *   0x51 dec-shares   (0x50: retired, the one-part dec-shares of storage formats <= 3)
 *   0x60 ckpt-share
 */
const SCHEMA = {
  'rbc-send': { code: 0x10, fields: [['value', 'bytes']] },
  'rbc-echo': { code: 0x11, fields: [['value', 'bytes']] },
  'rbc-ready': { code: 0x12, fields: [['digest', 'digest']] },
  'cbc-send': { code: 0x20, fields: [['value', 'bytes']] },
  'cbc-echo': { code: 0x21, fields: [['share', 'bytes']] },
  'cbc-final': { code: 0x22, fields: [['value', 'bytes'], ['signature', 'bytes']] },
  'cbc-want': { code: 0x23, fields: [] },
  'cbc-have': { code: 0x24, fields: [] },
  'cbc-proof': { code: 0x25, fields: [['signature', 'bytes']] },
  'aba-bval': { code: 0x30, fields: [['round', 'u32'], ['value', 'bit']] },
  'aba-aux': { code: 0x31, fields: [['round', 'u32'], ['value', 'bit']] },
  'aba-conf': { code: 0x32, fields: [['round', 'u32'], ['values', 'bits']] },
  'aba-coin': { code: 0x33, fields: [['round', 'u32'], ['share', 'bytes']] },
  'aba-term': { code: 0x35, fields: [['value', 'bit'], ['round', 'u32']] },
  'ab-requests': { code: 0x40, fields: [['requests', 'list']] },
  'dec-shares': { code: 0x51, fields: [['first', 'u32'], ['shares', 'list']] },
  'ckpt-share': { code: 0x60, fields: [['share', 'bytes']] },
} as const satisfies { readonly [K in BodyType]: BodySpec<K> };

// Compile-time check that every field of every body type is listed (extra or mistyped ones fail above).
type Listed<K extends BodyType> = (typeof SCHEMA)[K]['fields'][number][0];
type Unlisted = { [K in BodyType]: Exclude<FieldName<BodyOf<K>>, Listed<K>> }[BodyType];
type AssertNever<T extends never> = T;
export type SchemaIsComplete = AssertNever<Unlisted>;

/** Body type -> wire code (the table above), for documentation and tests. */
export const BODY_TYPE_CODES: { readonly [K in BodyType]: number } = Object.freeze(
  Object.fromEntries(Object.entries(SCHEMA).map(([t, s]) => [t, s.code])) as { [K in BodyType]: number },
);

interface RuntimeSpec {
  readonly t: BodyType;
  readonly code: number;
  readonly names: readonly string[];
  readonly kinds: readonly Kind[];
}

const BY_TYPE = new Map<string, RuntimeSpec>();
const BY_CODE: (RuntimeSpec | undefined)[] = new Array<RuntimeSpec | undefined>(256).fill(undefined);
for (const [t, s] of Object.entries(SCHEMA) as [BodyType, { code: number; fields: readonly (readonly [string, Kind])[] }][]) {
  const names = s.fields.map((f) => f[0]);
  if (!Number.isInteger(s.code) || s.code < 1 || s.code > 255 || BY_CODE[s.code] !== undefined) {
    throw new Error(`message codec: bad or duplicate body type code ${s.code} for ${t}`);
  }
  if (new Set(names).size !== names.length || names.includes('t')) {
    throw new Error(`message codec: duplicate field in schema of ${t}`);
  }
  const spec: RuntimeSpec = { t, code: s.code, names, kinds: s.fields.map((f) => f[1]) };
  BY_CODE[s.code] = spec;
  BY_TYPE.set(t, spec);
}

/** TAG_BYTE[b] = 1 iff byte b may occur in a tag: [a-z0-9/-]. */
const TAG_BYTE = new Uint8Array(256);
for (let c = 0x61; c <= 0x7a; c++) TAG_BYTE[c] = 1;
for (let c = 0x30; c <= 0x39; c++) TAG_BYTE[c] = 1;
TAG_BYTE[0x2f] = 1; // '/'
TAG_BYTE[0x2d] = 1; // '-'

// ---------------------------------------------------------------------------------------------------------
// Encoding

/** Missing (or explicitly undefined) limits take their defaults; no allocation in the common cases. */
function limitsOf(l: Partial<CodecLimits> | undefined): CodecLimits {
  if (
    l === undefined ||
    (l.maxMessageBytes === undefined &&
      l.maxValueBytes === undefined &&
      l.maxListItems === undefined &&
      l.maxBatchMessages === undefined &&
      l.maxBatchBytes === undefined)
  ) {
    return DEFAULT_LIMITS;
  }
  const d = DEFAULT_LIMITS;
  return {
    maxMessageBytes: l.maxMessageBytes ?? d.maxMessageBytes,
    maxValueBytes: l.maxValueBytes ?? d.maxValueBytes,
    maxListItems: l.maxListItems ?? d.maxListItems,
    maxBatchMessages: l.maxBatchMessages ?? d.maxBatchMessages,
    maxBatchBytes: l.maxBatchBytes ?? d.maxBatchBytes,
  };
}

function isBytes(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array;
}

function checkTag(tag: unknown): string {
  if (typeof tag !== 'string') fail('bad-tag', 'tag is not a string');
  if (tag.length < 1 || tag.length > MAX_TAG_LENGTH) fail('bad-tag', `tag length ${tag.length} not in 1..${MAX_TAG_LENGTH}`);
  for (let i = 0; i < tag.length; i++) {
    const c = tag.charCodeAt(i);
    if (c > 0xff || TAG_BYTE[c] !== 1) fail('bad-tag', `tag character at ${i} not in [a-z0-9/-]`);
  }
  return tag;
}

function bytesSize(v: unknown, what: string, l: CodecLimits): number {
  if (!isBytes(v)) fail('bad-value', `${what} is not a Uint8Array`);
  if (v.length > l.maxValueBytes) fail('too-large', `${what}: ${v.length} bytes > maxValueBytes ${l.maxValueBytes}`);
  return 4 + v.length;
}

/** Validates m and returns its encoded size. */
function measure(m: Message, l: CodecLimits): number {
  if (typeof m !== 'object' || m === null) fail('bad-value', 'message is not an object');
  const tag = checkTag(m.tag);
  const body = m.body as unknown as Record<string, unknown> | null;
  if (typeof body !== 'object' || body === null) fail('bad-value', 'body is not an object');
  const spec = BY_TYPE.get(body.t as string);
  if (spec === undefined) fail('unknown-type', `unknown body type ${typeof body.t === 'string' ? body.t.slice(0, 40) : typeof body.t}`);
  let size = 3 + tag.length;
  for (let i = 0; i < spec.kinds.length; i++) {
    const name = spec.names[i]!;
    const v = body[name];
    switch (spec.kinds[i]!) {
      case 'u32':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) fail('bad-value', `${name} is not a u32`);
        size += 4;
        break;
      case 'bit':
        if (v !== 0 && v !== 1) fail('bad-value', `${name} is not a bit`);
        size += 1;
        break;
      case 'bits':
        if (v !== 1 && v !== 2 && v !== 3) fail('bad-value', `${name} is not 1, 2 or 3`);
        size += 1;
        break;
      case 'bytes':
        size += bytesSize(v, name, l);
        break;
      case 'digest':
        if (!isBytes(v) || v.length !== DIGEST_LENGTH) fail('bad-value', `${name} is not ${DIGEST_LENGTH} bytes`);
        size += DIGEST_LENGTH;
        break;
      case 'list': {
        if (!Array.isArray(v)) fail('bad-value', `${name} is not an array`);
        if (v.length > l.maxListItems || v.length > 0xffff) fail('too-large', `${name}: ${v.length} items > maxListItems`);
        size += 2;
        for (let j = 0; j < v.length; j++) size += bytesSize(v[j], `${name}[${j}]`, l);
        break;
      }
    }
  }
  if (size > l.maxMessageBytes) fail('too-large', `message of ${size} bytes > maxMessageBytes ${l.maxMessageBytes}`);
  return size;
}

function putU32(out: Uint8Array, p: number, v: number): number {
  out[p] = v >>> 24;
  out[p + 1] = v >>> 16;
  out[p + 2] = v >>> 8;
  out[p + 3] = v;
  return p + 4;
}

function putBytes(out: Uint8Array, p: number, v: Uint8Array): number {
  p = putU32(out, p, v.length);
  out.set(v, p);
  return p + v.length;
}

/** Writes an already measured (validated) message at p; returns the end position. */
function write(m: Message, out: Uint8Array, p: number): number {
  const tag = m.tag;
  const body = m.body as unknown as Record<string, unknown>;
  const spec = BY_TYPE.get(body.t as string)!;
  out[p++] = CODEC_VERSION;
  out[p++] = tag.length;
  for (let i = 0; i < tag.length; i++) out[p++] = tag.charCodeAt(i);
  out[p++] = spec.code;
  for (let i = 0; i < spec.kinds.length; i++) {
    const v = body[spec.names[i]!];
    switch (spec.kinds[i]!) {
      case 'u32':
        p = putU32(out, p, v as number);
        break;
      case 'bit':
      case 'bits':
        out[p++] = v as number;
        break;
      case 'bytes':
        p = putBytes(out, p, v as Uint8Array);
        break;
      case 'digest':
        out.set(v as Uint8Array, p);
        p += DIGEST_LENGTH;
        break;
      case 'list': {
        const list = v as readonly Uint8Array[];
        out[p++] = list.length >>> 8;
        out[p++] = list.length;
        for (const item of list) p = putBytes(out, p, item);
        break;
      }
    }
  }
  return p;
}

/** Encoded size of m in bytes (validating it exactly as encodeMessage does). */
export function encodedMessageSize(m: Message, limits?: Partial<CodecLimits>): number {
  return measure(m, limitsOf(limits));
}

/** Encodes one message; throws CodecError if m is not a valid message or exceeds the limits. */
export function encodeMessage(m: Message, limits?: Partial<CodecLimits>): Uint8Array {
  const out = new Uint8Array(measure(m, limitsOf(limits)));
  write(m, out, 0);
  return out;
}

/** Encodes many messages as one batch payload: u32 count, then u32 length + message for each. */
export function encodeBatch(ms: readonly Message[], limits?: Partial<CodecLimits>): Uint8Array {
  const l = limitsOf(limits);
  if (!Array.isArray(ms)) fail('bad-value', 'batch is not an array');
  if (ms.length > l.maxBatchMessages) fail('too-large', `batch of ${ms.length} messages > maxBatchMessages ${l.maxBatchMessages}`);
  const sizes = new Array<number>(ms.length);
  let total = 4;
  for (let i = 0; i < ms.length; i++) {
    sizes[i] = measure(ms[i]!, l);
    total += 4 + sizes[i]!;
    if (total > l.maxBatchBytes) fail('too-large', `batch larger than maxBatchBytes ${l.maxBatchBytes}`);
  }
  const out = new Uint8Array(total);
  let p = putU32(out, 0, ms.length);
  for (let i = 0; i < ms.length; i++) {
    p = putU32(out, p, sizes[i]!);
    p = write(ms[i]!, out, p);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Decoding

interface Reader {
  readonly b: Uint8Array;
  p: number;
  readonly end: number;
  readonly l: CodecLimits;
  readonly views: boolean;
}

function need(r: Reader, n: number, what: string): void {
  if (r.end - r.p < n) fail('truncated', `input ends inside ${what}`);
}

function u32(r: Reader, what: string): number {
  need(r, 4, what);
  const b = r.b;
  const p = r.p;
  r.p = p + 4;
  return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
}

function take(r: Reader, n: number): Uint8Array {
  const p = r.p;
  r.p = p + n;
  return r.views ? r.b.subarray(p, p + n) : r.b.slice(p, p + n);
}

function bytesField(r: Reader, what: string): Uint8Array {
  const n = u32(r, what);
  if (n > r.l.maxValueBytes) fail('too-large', `${what}: ${n} bytes > maxValueBytes ${r.l.maxValueBytes}`);
  need(r, n, what);
  return take(r, n);
}

/** Reads one message occupying exactly r.p .. r.end. */
function readMessage(r: Reader): Message {
  const b = r.b;
  need(r, 1, 'version');
  const version = b[r.p++]!;
  if (version !== CODEC_VERSION) fail('bad-version', `unknown codec version ${version}`);
  need(r, 1, 'tag length');
  const tagLength = b[r.p++]!;
  if (tagLength < 1 || tagLength > MAX_TAG_LENGTH) fail('bad-tag', `tag length ${tagLength} not in 1..${MAX_TAG_LENGTH}`);
  need(r, tagLength, 'tag');
  let tag = '';
  for (let i = r.p, e = r.p + tagLength; i < e; i++) {
    const c = b[i]!;
    if (TAG_BYTE[c] !== 1) fail('bad-tag', `tag byte ${c} at ${i - r.p} not in [a-z0-9/-]`);
    tag += String.fromCharCode(c);
  }
  r.p += tagLength;
  need(r, 1, 'body type');
  const code = b[r.p++]!;
  const spec = BY_CODE[code];
  if (spec === undefined) fail('unknown-type', `unknown body type code ${code}`);
  const body: Record<string, unknown> = { t: spec.t };
  for (let i = 0; i < spec.kinds.length; i++) {
    const name = spec.names[i]!;
    switch (spec.kinds[i]!) {
      case 'u32':
        body[name] = u32(r, name);
        break;
      case 'bit': {
        need(r, 1, name);
        const v = b[r.p++]!;
        if (v > 1) fail('bad-value', `${name} = ${v} is not a bit`);
        body[name] = v;
        break;
      }
      case 'bits': {
        need(r, 1, name);
        const v = b[r.p++]!;
        if (v < 1 || v > 3) fail('bad-value', `${name} = ${v} is not 1, 2 or 3`);
        body[name] = v;
        break;
      }
      case 'bytes':
        body[name] = bytesField(r, name);
        break;
      case 'digest':
        need(r, DIGEST_LENGTH, name);
        body[name] = take(r, DIGEST_LENGTH);
        break;
      case 'list': {
        need(r, 2, name);
        const n = (b[r.p]! << 8) | b[r.p + 1]!;
        r.p += 2;
        if (n > r.l.maxListItems) fail('too-large', `${name}: ${n} items > maxListItems ${r.l.maxListItems}`);
        // Each item needs at least its 4-byte length: reject an impossible count before allocating.
        need(r, 4 * n, name);
        const list = new Array<Uint8Array>(n);
        for (let j = 0; j < n; j++) list[j] = bytesField(r, name);
        body[name] = list;
        break;
      }
    }
  }
  if (r.p !== r.end) fail('trailing-bytes', `${r.end - r.p} bytes after the message`);
  return { tag, body: body as unknown as Body };
}

function checkInput(bytes: unknown): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array)) fail('bad-value', 'input is not a Uint8Array');
}

/**
 * Decodes exactly one message (the whole input). Throws CodecError on anything but a canonical encoding
 * within the limits. Byte fields are copies unless `views: true`.
 */
/** The tag of an encoded message without decoding the rest, or null if the header is malformed. */
export function peekTag(bytes: Uint8Array): string | null {
  if (bytes.length < 2 || bytes[0] !== CODEC_VERSION) return null;
  const len = bytes[1]!;
  if (len < 1 || len > MAX_TAG_LENGTH || bytes.length < 2 + len) return null;
  let tag = '';
  for (let i = 2; i < 2 + len; i++) tag += String.fromCharCode(bytes[i]!);
  return tag;
}

export function decodeMessage(bytes: Uint8Array, options?: DecodeOptions): Message {
  checkInput(bytes);
  const l = limitsOf(options);
  if (bytes.length > l.maxMessageBytes) fail('too-large', `message of ${bytes.length} bytes > maxMessageBytes ${l.maxMessageBytes}`);
  return readMessage({ b: bytes, p: 0, end: bytes.length, l, views: options?.views === true });
}

/** Decodes a batch written by encodeBatch; all or nothing. */
export function decodeBatch(bytes: Uint8Array, options?: DecodeOptions): Message[] {
  checkInput(bytes);
  const l = limitsOf(options);
  if (bytes.length > l.maxBatchBytes) fail('too-large', `batch of ${bytes.length} bytes > maxBatchBytes ${l.maxBatchBytes}`);
  const views = options?.views === true;
  const outer: Reader = { b: bytes, p: 0, end: bytes.length, l, views };
  const count = u32(outer, 'batch count');
  if (count > l.maxBatchMessages) fail('too-large', `batch of ${count} messages > maxBatchMessages ${l.maxBatchMessages}`);
  // Each message needs at least its 4-byte length: reject an impossible count before allocating.
  need(outer, 4 * count, 'batch');
  const out = new Array<Message>(count);
  for (let i = 0; i < count; i++) {
    const n = u32(outer, 'message length');
    if (n > l.maxMessageBytes) fail('too-large', `message of ${n} bytes > maxMessageBytes ${l.maxMessageBytes}`);
    need(outer, n, 'message');
    out[i] = readMessage({ b: bytes, p: outer.p, end: outer.p + n, l, views });
    outer.p += n;
  }
  if (outer.p !== outer.end) fail('trailing-bytes', `${outer.end - outer.p} bytes after the batch`);
  return out;
}

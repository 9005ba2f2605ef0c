/**
 * Client SDK (docs/design.md section 12; Cachin, "Distributing trust on the Internet", DSN 2001, sections 4-5:
 * a client trusts the group, never one replica). Runtime-free: fetch, sleep and randomness are injected, so
 * it runs unchanged in Node, browsers and Workers, and shared/ stays free of I/O and clocks.
 *
 * - The group is pinned (a parsed group.json): a replica serving another group is refused before it gets
 *   anything, and every answer is verified offline against the pinned group key; no answer is trusted for
 *   coming from a replica.
 * - Requests go to a kernel of the structure (a set the adversary cannot wholly corrupt, t + 1 for a
 *   threshold group), so at least one honest replica has them and atomic broadcast orders them; replicas
 *   that fail are replaced by others until the set that accepted is a kernel (`submit` may also send to
 *   every replica given: `to: 'all'`). Without a pinned group (`group: null`) a client can only submit,
 *   to every URL, and check nothing.
 * - Receipts are polled from the replicas that accepted first, then from the others; a replica serving a
 *   receipt that does not verify (forged signature, wrong proof, another entry, another digest) is
 *   recorded as lying and not asked again, and the next replica is used.
 * - The log only grows: the client remembers the newest checkpoint it verified (or one it is given) and
 *   checks every other checkpoint it sees against it by a consistency proof (consistency.ts); a replica
 *   serving a proof that does not verify is a liar, and two signed checkpoints that cannot be consistent
 *   end the call with a ForkError carrying both (evidence that more replicas are corrupt than tolerated).
 *
 * Errors: SintraClientError; `submit` and `waitForReceipt` throw its subclass SubmitError, whose `code`
 * says why (bad input, wrong group, not accepted, skipped, unverified, timeout, aborted), or ForkError.
 *
 * Time: the timeout uses an injected clock if one is given, else counts the time slept between polls; the
 * injected fetch is expected to bound each exchange (the CLI passes AbortSignal.timeout). `submit` takes an
 * AbortSignal too, which ends its waits and is passed on to fetch.
 */
import { sha256 } from '../crypto/sha256.ts';
import { bytesEqual, toBase64, toHex, utf8ToBytes } from '../crypto/bytes.ts';
import type { RandomBytes } from '../crypto/random.ts';
import type { Group } from '../config/group.ts';
import { checkpointFromJson, receiptFromJson, receiptToJson, verifyCheckpoint, verifyReceipt } from '../log/checkpoint.ts';
import type { Receipt, ReceiptJson, SignedCheckpoint } from '../log/checkpoint.ts';
import { checkConsistency, proofAnswer } from './consistency.ts';
import type { ProofAnswer } from './consistency.ts';
import { encodeStampEntry, parseStampEntry } from '../app/notary.ts';
import { encodeCaRequest, isValidName, issuedAt, registerRequest, renewRequest, revokeRequest, rotateRequest, verifyDirectoryStatement } from '../app/ca.ts';
import type { CaErrorCode, CaRequest, CaResponse, CertificateRecord, DirectoryStatementJson, DirectoryVerdict } from '../app/ca.ts';
import { encryptRequest } from './encrypt.ts';

/**
 * The part of the Fetch API the SDK uses (globalThis.fetch fits). `signal` is the caller's (submit's
 * `signal` option), when it gave one; the fetch should also bound each exchange itself.
 */
export type FetchLike = (
  url: string,
  init?: { method?: string; headers?: Record<string, string>; body?: string | Uint8Array; signal?: AbortSignal },
) => Promise<{ readonly status: number; text(): Promise<string> }>;

export interface SintraClientOptions {
  /**
   * The pinned group (parseGroup of group.json). `null` only for a client that submits without checking
   * anything: `submit(request, {wait: false})`, sent to every URL (no kernel is known); everything that
   * verifies, encrypts or picks a kernel needs the group and throws a SubmitError 'no-group' without it.
   */
  readonly group: Group | null;
  /** Base URLs of replicas (any order; more than a kernel lets the client route around failures). */
  readonly urls: readonly string[];
  readonly fetch: FetchLike;
  readonly sleep: (ms: number) => Promise<void>;
  /** Randomness for encrypted requests (crypto.getRandomValues in real clients). */
  readonly randomBytes?: RandomBytes;
  /** Progress lines (waits, replicas skipped). */
  readonly log?: (line: string) => void;
  /** Called before each sleep between polls (a CLI prints a dot). */
  readonly onPoll?: () => void;
  /** Total time to wait for a receipt (default 120 s): by `now` if given, else counted in slept milliseconds. */
  readonly timeoutMs?: number;
  /** A clock (ms) for the timeout; without it only the time slept between polls counts. */
  readonly now?: () => number;
  /** How long a replica may take to answer before others are asked too (default 3 s). */
  readonly patienceMs?: number;
  /** First poll interval; grows by half up to 1.5 s (default 250 ms). */
  readonly pollMs?: number;
  /** A checkpoint verified before (saved): every checkpoint seen from now on must be consistent with it. */
  readonly checkpoint?: SignedCheckpoint;
  /** Called whenever the newest verified checkpoint moves forward (save it to keep the check across runs). */
  readonly onCheckpoint?: (checkpoint: SignedCheckpoint) => void;
}

export class SintraClientError extends Error {
  override readonly name: string = 'SintraClientError';
}

/**
 * Two group-signed checkpoints that are not consistent: the group signed two histories, which more than the
 * tolerated number of corrupt replicas can do. `older`/`newer` are the evidence (checkpointToJson them).
 */
export class ForkError extends SintraClientError {
  override readonly name = 'ForkError';
  constructor(
    readonly older: SignedCheckpoint,
    readonly newer: SignedCheckpoint,
    why: string,
  ) {
    super(`the group signed two histories: checkpoints of size ${older.size} (epoch ${older.epoch}) and ${newer.size} (epoch ${newer.epoch}) are not consistent (${why}); more replicas are corrupt than the group tolerates`);
  }
}

/** The CA ordered the request and refused it (its answer, confirmed by a verified directory statement). */
export class CaRefusedError extends SintraClientError {
  override readonly name = 'CaRefusedError';
  constructor(
    readonly code: CaErrorCode | string,
    message: string,
    /** Log index of the refused request (null: refused by the replicas before ordering). */
    readonly index: number | null,
  ) {
    super(message);
  }
}

/** A directory statement that verified against the pinned group. */
export interface CaLookupResult {
  readonly name: string;
  readonly verdict: Extract<DirectoryVerdict, { ok: true }>;
  readonly statement: DirectoryStatementJson;
  /** The replica whose statement verified. */
  readonly from: string;
  readonly liars: readonly { readonly url: string; readonly reason: string }[];
}

export interface CaRequestResult extends CaLookupResult {
  /** Hex SHA-256 of the canonical entry (GET /v1/ca/requests/{id}). */
  readonly id: string;
  /** Log position of the request: its logical time. */
  readonly index: number;
  /** The CA's answer as ordered (its certificate is the record the statement shows, or an earlier serial of it). */
  readonly response: Extract<CaResponse, { ok: true }>;
  /** Receipt of the request's log entry (verified: the request is at `index`). */
  readonly receipt: ReceiptJson;
  readonly acceptedBy: readonly string[];
}

/**
 * Why `submit` or `waitForReceipt` failed, for programs (the message says it for people):
 * - `bad-input`: the request or an option is not what the method takes (nothing was sent);
 * - `no-group`: the client has no pinned group (`group: null`) and the call needs one (wait, encrypt,
 *   a kernel); `no-randomness`: encrypting needs `randomBytes` in the client options;
 * - `wrong-group`: a replica serves another group than the pinned one (nothing was submitted);
 * - `not-accepted`: no replica accepted the request (each one's reason is in the message);
 * - `skipped`: the ciphertext was ordered but does not decrypt with the group key (no log position);
 * - `unverified`: every replica served receipts that do not verify (each became a liar);
 * - `timeout`: no verified receipt within `timeoutMs`; `aborted`: the caller's signal fired.
 * A ForkError (two signed histories) may also end a call: it is evidence, not a code.
 */
export type SubmitErrorCode = 'bad-input' | 'no-group' | 'no-randomness' | 'wrong-group' | 'not-accepted' | 'skipped' | 'unverified' | 'timeout' | 'aborted';

export class SubmitError extends SintraClientError {
  override readonly name = 'SubmitError';
  constructor(
    readonly code: SubmitErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** What a replica says of a request (GET /v1/requests/:id): `decrypting` and `skipped` only for ciphertexts. */
export type RequestStatus = 'pending' | 'decrypting' | 'ordered' | 'certified' | 'skipped';

/** One replica's answer to a submission: accepted (with what it said), or why not. */
export type ReplicaSubmission =
  | { readonly url: string; readonly ok: true; readonly status: RequestStatus; readonly index?: number; readonly replica?: string }
  | { readonly url: string; readonly ok: false; readonly error: string };

export interface SubmitOptions {
  /** Encrypt to the group's TDH2 key (secure causal atomic broadcast): no replica sees the request before its position is fixed. */
  readonly encrypt?: boolean;
  /** With `encrypt`: the label bound to the ciphertext (default "sintra-sdk"); use the client's name. */
  readonly label?: string;
  /** Wait for the certified receipt and verify it (default true); false returns once replicas accepted it. */
  readonly wait?: boolean;
  /**
   * `kernel` (default): a kernel of the structure, the first replicas in URL order, replacing any that fail
   * or stay silent; `all`: every replica given (more copies, more load). Without a group: always all.
   */
  readonly to?: 'kernel' | 'all';
  /** Stops the call (SubmitError 'aborted'); passed on to fetch. */
  readonly signal?: AbortSignal;
}

export interface WaitOptions {
  readonly signal?: AbortSignal;
}

/** A request the replicas accepted (not yet known to be certified). */
export interface SubmittedRequest {
  /** The id replicas answer to: SHA-256 of the request, or of its ciphertext when encrypted. */
  readonly id: string;
  /** SHA-256 of the request itself: the log entry's id (equal to `id` unless encrypted). */
  readonly entryId: string;
  readonly encrypted: boolean;
  /** The furthest status an accepting replica reported, and its log index if it has one. */
  readonly status: RequestStatus;
  readonly index?: number;
  /** Every replica asked, in the client's URL order (those not needed for a kernel are not listed). */
  readonly replicas: readonly ReplicaSubmission[];
  readonly acceptedBy: readonly string[];
}

/** A certified request: its receipt, verified against the pinned group. */
export interface RequestReceipt {
  readonly id: string;
  readonly entryId: string;
  /** Log position. */
  readonly index: number;
  /** The receipt (verified: group signature on the checkpoint, inclusion proof, exactly this entry). */
  readonly receipt: ReceiptJson;
  /** The checkpoint that covers it. */
  readonly checkpoint: { readonly size: number; readonly epoch: number; readonly root: string };
  /** The replica whose receipt verified. */
  readonly from: string;
  /** Replicas caught serving receipts that do not verify (recorded, then not asked again). */
  readonly liars: readonly { readonly url: string; readonly reason: string }[];
}

/** A request ordered and certified (`submit` with `wait`, the default). */
export interface SubmitResult extends Omit<SubmittedRequest, 'status' | 'index'>, RequestReceipt {
  readonly status: 'certified';
}

export type StampVerdict =
  | {
      readonly ok: true;
      readonly digest: string;
      readonly nonce?: string;
      /** Log index of the registering entry: the logical time, "no later than". */
      readonly index: number;
      /** The signed checkpoint that covers it. */
      /** `time`: the checkpoint's signed agreed time (ms since 1970), absent for a version-1 checkpoint. */
      readonly checkpoint: { readonly size: number; readonly epoch: number; readonly root: string; readonly stateDigest: string; readonly time?: number };
      readonly entryId: string;
    }
  | { readonly ok: false; readonly reason: string };

/**
 * Offline check of a stamp receipt against the pinned group: it is a valid receipt of this group (group
 * signature on the checkpoint, inclusion proof) AND its entry is a canonical notary stamp entry of
 * `digest` (when given). Never throws.
 */
export function verifyStampReceipt(group: Group, json: unknown, digest?: string): StampVerdict {
  let parsed: ReturnType<typeof receiptFromJson>;
  try {
    parsed = receiptFromJson(json);
  } catch (e) {
    return { ok: false, reason: `not a receipt: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (!bytesEqual(parsed.groupId, group.groupId)) return { ok: false, reason: `the receipt is for group ${toHex(parsed.groupId)}, not the pinned group ${toHex(group.groupId)}` };
  const r = parsed.receipt;
  const v = verifyReceipt(group.kernel.groupKey, group.groupId, r);
  if (!v.ok) return v;
  const stamp = parseStampEntry(r.entry);
  if (stamp === null) return { ok: false, reason: 'the receipt is valid but its entry is not a notary stamp' };
  if (!stamp.ok) return { ok: false, reason: `the receipt's entry is a refused notary entry (${stamp.error})` };
  if (digest !== undefined && stamp.request.digest !== digest) return { ok: false, reason: `the receipt registers digest ${stamp.request.digest}, not ${digest}` };
  const c = r.checkpoint;
  return {
    ok: true,
    digest: stamp.request.digest,
    ...(stamp.request.nonce !== undefined ? { nonce: stamp.request.nonce } : {}),
    index: r.index,
    checkpoint: { size: c.size, epoch: c.epoch, root: toHex(c.root), stateDigest: toHex(c.stateDigest), ...(c.time !== undefined ? { time: c.time } : {}) },
    entryId: toHex(sha256(r.entry)),
  };
}

export interface StampOptions {
  readonly nonce?: string;
  /** Encrypt the stamp entry to the group key (secure causal atomic broadcast). */
  readonly encrypt?: boolean;
  /** Label bound to the ciphertext (default "sintra-sdk"). */
  readonly label?: string;
}

export interface StampResult {
  readonly digest: string;
  /** The verified first registration this replica served (index = logical time). */
  readonly verdict: Extract<StampVerdict, { ok: true }>;
  readonly receipt: ReceiptJson;
  /** The replica whose receipt verified. */
  readonly from: string;
  /** Replicas that accepted the request. */
  readonly acceptedBy: readonly string[];
  /** Replicas that served something that does not verify (recorded, then ignored). */
  readonly liars: readonly { readonly url: string; readonly reason: string }[];
}

interface Answer {
  readonly status: number;
  readonly json: unknown;
}

interface ReplicaInfo {
  readonly url: string;
  readonly index: number;
}

/** A replica's base URL and, with a pinned group, its index (null: not checked, no group). */
interface Target {
  readonly url: string;
  readonly index: number | null;
}

interface Checked {
  readonly ok: ReplicaInfo[];
  readonly failed: { url: string; reason: string }[];
  /** The first URL that serves another group: the whole call stops (nothing is sent). */
  readonly wrong: { readonly url: string; readonly groupId: string } | null;
}

/** What to POST: JSON, or raw bytes (application/octet-stream). */
type Payload = { readonly body: unknown } | { readonly bytes: Uint8Array };

/** One replica's answer while waiting for a receipt. */
type Poll =
  | { readonly kind: 'error'; readonly reason: string }
  | { readonly kind: 'status' }
  | { readonly kind: 'skipped' }
  | { readonly kind: 'liar'; readonly reason: string }
  | { readonly kind: 'receipt'; readonly receipt: Receipt };

const HEX64 = /^[0-9a-f]{64}$/;

const STATUS_RANK: Readonly<Record<RequestStatus, number>> = { pending: 1, decrypting: 2, ordered: 3, certified: 4, skipped: 5 };

const isStatus = (s: unknown): s is RequestStatus => typeof s === 'string' && Object.hasOwn(STATUS_RANK, s);

const SUBMIT_OPTIONS = ['encrypt', 'label', 'wait', 'to', 'signal'];

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function isBytes(a: unknown): a is Uint8Array {
  return a instanceof Uint8Array || (ArrayBuffer.isView(a) && a.constructor.name === 'Uint8Array');
}

function isSignal(s: unknown): s is AbortSignal {
  const x = s as { aborted?: unknown; addEventListener?: unknown; removeEventListener?: unknown } | null;
  return typeof x === 'object' && x !== null && typeof x.aborted === 'boolean' && typeof x.addEventListener === 'function' && typeof x.removeEventListener === 'function';
}

/** What a value is, for error messages. */
function kindOf(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  if (typeof x === 'object') return `an object (${(x as object).constructor?.name ?? 'no prototype'})`;
  return typeof x;
}

const badInput = (message: string) => new SubmitError('bad-input', message);

/** The request's bytes (a string is taken as UTF-8), checked: never empty. */
function requestBytes(request: unknown): Uint8Array {
  if (typeof request === 'string') {
    if (request === '') throw badInput('the request is empty; replicas refuse empty requests');
    if (LONE_SURROGATE.test(request)) throw badInput('the request text is not well-formed Unicode (it has a lone surrogate)');
    return utf8ToBytes(request);
  }
  if (!isBytes(request)) throw badInput(`the request must be a Uint8Array or a string, not ${kindOf(request)}`);
  if (request.length === 0) throw badInput('the request is empty; replicas refuse empty requests');
  return request.slice();
}

/** `submit`'s options, checked: unknown keys are refused (a mistyped `encrypt` must not send the plaintext). */
function checkSubmitOptions(o: unknown): SubmitOptions {
  if (o === undefined) return {};
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw badInput(`options must be an object, not ${kindOf(o)}`);
  for (const k of Object.keys(o)) if (!SUBMIT_OPTIONS.includes(k)) throw badInput(`unknown option ${JSON.stringify(k)} (submit takes ${SUBMIT_OPTIONS.join(', ')})`);
  const x = o as Record<string, unknown>;
  for (const k of ['encrypt', 'wait']) if (x[k] !== undefined && typeof x[k] !== 'boolean') throw badInput(`option ${k} must be a boolean, not ${kindOf(x[k])}`);
  if (x['label'] !== undefined) {
    if (typeof x['label'] !== 'string') throw badInput(`option label must be a string, not ${kindOf(x['label'])}`);
    if (x['encrypt'] !== true) throw badInput('option label goes with encrypt: true');
  }
  if (x['to'] !== undefined && x['to'] !== 'kernel' && x['to'] !== 'all') throw badInput(`option to must be "kernel" or "all", not ${JSON.stringify(x['to']) ?? kindOf(x['to'])}`);
  if (x['signal'] !== undefined && !isSignal(x['signal'])) throw badInput(`option signal must be an AbortSignal, not ${kindOf(x['signal'])}`);
  return o as SubmitOptions;
}

function abortedError(signal: AbortSignal): SubmitError {
  const r: unknown = signal.reason;
  return new SubmitError('aborted', `aborted${r instanceof Error && r.message ? ` (${r.message})` : typeof r === 'string' ? ` (${r})` : ''}`);
}

/** `p`, or a SubmitError 'aborted' as soon as `signal` fires. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(abortedError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortedError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function wrongGroup(w: { url: string; groupId: string }, group: Group, tail: string): string {
  return `${w.url} serves group ${w.groupId.slice(0, 16)}..., not the pinned group ${toHex(group.groupId).slice(0, 16)}...; ${tail}`;
}

/**
 * The warning for a set of replicas (by index) that is not a kernel of `group`: they could all be
 * Byzantine and drop a request. Null when they are a kernel.
 */
export function notKernelWarning(group: Group, indices: readonly number[]): string | null {
  const reached = [...new Set(indices)];
  if (group.quorumSystem.isKernel(reached)) return null;
  const names = reached.map((i) => group.replicas[i]?.id ?? String(i));
  const structure = 'threshold' in group.adversary ? ` (t + 1 = ${group.adversary.threshold + 1} replicas of this threshold group)` : '';
  return `warning: the replicas reached (${names.length ? names.join(', ') : 'none'}) are not a kernel of the group${structure}: if they are all Byzantine they can drop the request`;
}

function errorText(a: Answer): string {
  const e = (a.json as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return e && typeof e.code === 'string' ? `HTTP ${a.status} ${e.code}${typeof e.message === 'string' ? `: ${e.message}` : ''}` : `HTTP ${a.status}`;
}

export class SintraClient {
  private readonly urls: readonly string[];
  private readonly liars = new Map<string, string>();
  private newest: SignedCheckpoint | null;
  private infos: Promise<Checked> | null = null;

  constructor(private readonly o: SintraClientOptions) {
    this.urls = [...new Set(o.urls.map((u) => u.replace(/\/+$/, '')))];
    if (this.urls.length === 0) throw new SintraClientError('give at least one replica URL');
    if (o.checkpoint && !o.group) throw new SintraClientError('a given checkpoint needs the pinned group to check it');
    if (o.checkpoint && !verifyCheckpoint(this.group.kernel.groupKey, this.group.groupId, o.checkpoint)) throw new SintraClientError("the given checkpoint's signature does not verify with the pinned group");
    this.newest = o.checkpoint ?? null;
  }

  /** The pinned group; a client without one (group: null) can only submit without waiting or encrypting. */
  private get group(): Group {
    if (!this.o.group) throw new SubmitError('no-group', 'this client has no pinned group (group: null): it can only submit without waiting, encrypting or choosing a kernel');
    return this.o.group;
  }

  /** The newest checkpoint this client verified (or was given), with every other one it saw consistent with it. */
  get newestCheckpoint(): SignedCheckpoint | null {
    return this.newest;
  }

  /** A replica's consistency proof between two sizes (GET /v1/log/consistency). */
  private async fetchProof(url: string, first: number, second: number): Promise<ProofAnswer> {
    const a = await this.call(`${url}/v1/log/consistency?first=${first}&second=${second}`);
    return proofAnswer(a.status, a.json, errorText(a));
  }

  /**
   * Checks a verified checkpoint (served by `from`) against the newest one seen: consistent, it may become
   * the newest; a fork throws ForkError; replicas serving bad proofs become liars. Undecided (too few
   * answers) is logged and changes nothing.
   */
  async observeCheckpoint(checkpoint: SignedCheckpoint, from?: string): Promise<void> {
    const newest = this.newest;
    if (!newest) {
      this.newest = checkpoint;
      this.o.onCheckpoint?.(checkpoint);
      return;
    }
    if (newest.size === checkpoint.size && bytesEqual(newest.root, checkpoint.root) && checkpoint.epoch <= newest.epoch) return;
    const { ok } = await this.replicas();
    const ordered = [...ok].sort((x, y) => (x.url === from ? -1 : y.url === from ? 1 : 0)).filter((r) => !this.liars.has(r.url));
    const v = await checkConsistency(this.group, newest, checkpoint, ordered, (url, a, b) => this.fetchProof(url, a, b));
    if (v.kind === 'bad-signature') throw new SintraClientError(`a checkpoint from ${from ?? 'a replica'} does not verify with the pinned group`);
    for (const l of v.liars) {
      if (!this.liars.has(l.url)) this.log(`warning: ${l.url} ${l.reason}; not asking it again`);
      this.liars.set(l.url, l.reason);
    }
    if (v.kind === 'fork') throw new ForkError(v.older, v.newer, v.why);
    if (v.kind === 'undecided') return this.log(`warning: could not check that checkpoint ${checkpoint.size} is consistent with ${newest.size}: ${v.why}`);
    if (v.newer !== newest) {
      this.newest = v.newer;
      this.o.onCheckpoint?.(v.newer);
    }
  }

  private log(line: string): void {
    this.o.log?.(line);
  }

  /** One exchange: a GET, or a POST of `payload`; throws for answers that are not JSON. */
  private async call(url: string, payload?: Payload, signal?: AbortSignal): Promise<Answer> {
    const init = !payload
      ? { method: 'GET' }
      : 'bytes' in payload
        ? { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: payload.bytes }
        : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload.body) };
    const res = await this.o.fetch(url, signal ? { ...init, signal } : init);
    const text = await res.text();
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      const body = text.replace(/\s+/g, ' ').replace(/[\u0000-\u001f\u007f]/g, '').trim();
      throw new SintraClientError(`HTTP ${res.status}${body ? `: ${body.length > 100 ? `${body.slice(0, 100)}...` : body}` : ''} (not a Sintra Edge replica?)`);
    }
    return { status: res.status, json };
  }

  private async attempt<T>(f: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; reason: string }> {
    try {
      return { ok: true, value: await f() };
    } catch (e) {
      return { ok: false, reason: e instanceof Error ? e.message : String(e) };
    }
  }

  /**
   * Which replica each URL is, checked against the pinned group (GET /v1/info). A URL serving another group
   * is an error for the whole call: the caller configured something wrong, and nothing is sent anywhere.
   */
  async replicas(): Promise<{ ok: ReplicaInfo[]; failed: { url: string; reason: string }[] }> {
    const c = await this.checked();
    if (c.wrong) throw new SintraClientError(wrongGroup(c.wrong, this.group, 'nothing was sent'));
    return { ok: c.ok, failed: c.failed };
  }

  /** GET /v1/info of every URL once (memoized), against the pinned group. */
  private checked(): Promise<Checked> {
    const group = this.group;
    this.infos ??= (async () => {
      const want = toHex(group.groupId);
      const key = group.file.keys.kernel.groupKey;
      const patience = this.o.patienceMs ?? 3000;
      // A replica that does not answer within `patience` is left out; the others are not held up by it.
      const answers = await Promise.all(
        this.urls.map((u) =>
          Promise.race([
            this.attempt(() => this.call(`${u}/v1/info`)),
            this.o.sleep(patience).then(() => ({ ok: false as const, reason: `no answer within ${patience} ms` })),
          ]),
        ),
      );
      const ok: ReplicaInfo[] = [];
      const failed: { url: string; reason: string }[] = [];
      let wrong: Checked['wrong'] = null;
      answers.forEach((a, i) => {
        const url = this.urls[i]!;
        if (!a.ok) return void failed.push({ url, reason: a.reason });
        if (a.value.status !== 200) return void failed.push({ url, reason: errorText(a.value) });
        const j = a.value.json as { groupId?: unknown; replica?: { index?: unknown }; group?: { keys?: { kernel?: { groupKey?: unknown } } } } | null;
        if (j?.groupId !== want || j?.group?.keys?.kernel?.groupKey !== key) {
          wrong ??= { url, groupId: String(j?.groupId) };
          return;
        }
        const index = j.replica?.index;
        if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= group.replicas.length) return void failed.push({ url, reason: 'no replica index in /v1/info' });
        ok.push({ url, index });
      });
      return { ok, failed, wrong };
    })();
    return this.infos;
  }

  /**
   * POSTs `payload` to `path`. `kernel`: the first targets (in order) whose indices form a kernel, replacing
   * any that refuse, fail or stay silent longer than patienceMs by the next ones; `all`: every target at once,
   * waiting for each answer (the injected fetch bounds an exchange). `check` refuses an answer the caller
   * cannot use (it returns why). Logs each acceptance.
   */
  private async post(
    path: string,
    payload: Payload,
    targets: readonly Target[],
    mode: 'kernel' | 'all',
    check: (a: Answer) => string | null,
    signal?: AbortSignal,
  ): Promise<{ accepted: { url: string; index: number | null; answer: Answer }[]; errors: { url: string; reason: string }[] }> {
    const patience = this.o.patienceMs ?? 3000;
    const accepted: { url: string; index: number | null; answer: Answer }[] = [];
    const errors: { url: string; reason: string }[] = [];
    /** Submissions under way; `slow` ones (no answer within `patience`) no longer count towards the kernel. */
    const inFlight = new Map<string, { readonly r: Target; slow: boolean; readonly done: Promise<void> }>();
    const launch = (r: Target) => {
      const done = this.attempt(() => this.call(`${r.url}${path}`, payload, signal)).then((a) => {
        inFlight.delete(r.url);
        if (!a.ok) return void errors.push({ url: r.url, reason: a.reason });
        if (a.value.status !== 200 && a.value.status !== 202) return void errors.push({ url: r.url, reason: errorText(a.value) });
        const refused = check(a.value);
        if (refused !== null) return void errors.push({ url: r.url, reason: refused });
        accepted.push({ ...r, answer: a.value });
        const j = a.value.json as { status?: unknown; index?: unknown; replica?: unknown } | null;
        const name = typeof j?.replica === 'string' ? j.replica : r.index !== null ? (this.o.group?.replicas[r.index]?.id ?? `replica ${r.index}`) : 'replica';
        const status = typeof j?.status === 'string' ? j.status : a.value.status === 202 ? 'pending' : 'known';
        this.log(`submitted to ${name} at ${r.url}: ${status}${typeof j?.index === 'number' ? ` at index ${j.index}` : ''}`);
      });
      inFlight.set(r.url, { r, slow: false, done });
    };
    if (mode === 'all') {
      for (const r of targets) launch(r);
      await untilAborted(Promise.all([...inFlight.values()].map((f) => f.done)), signal);
      return { accepted, errors };
    }
    const qs = this.group.quorumSystem;
    const indices = (xs: Iterable<{ readonly index: number | null }>) => [...xs].flatMap((x) => (x.index === null ? [] : [x.index]));
    let next = 0;
    for (;;) {
      const hoped = () => [...indices(accepted), ...indices([...inFlight.values()].filter((f) => !f.slow).map((f) => f.r))];
      // Just enough more replicas that a kernel accepts if every one not known to be slow does.
      while (next < targets.length && !qs.isKernel(hoped())) launch(targets[next++]!);
      if (qs.isKernel(indices(accepted)) || inFlight.size === 0) break;
      const waiting = [...inFlight.values()];
      const timedOut = await untilAborted(Promise.race([Promise.race(waiting.map((f) => f.done)).then(() => false), this.o.sleep(patience).then(() => true)]), signal);
      if (timedOut) {
        for (const f of waiting) {
          if (!f.slow) this.log(`${f.r.url} has not answered within ${patience} ms; asking another replica too`);
          f.slow = true;
        }
        // Nobody left to ask: the slow ones are all there is (the injected fetch bounds each exchange).
        if (next >= targets.length) await untilAborted(Promise.race(waiting.map((f) => f.done)), signal);
      }
    }
    return { accepted, errors };
  }

  /**
   * Submits `body` to `path` on a kernel: the first replicas (in the given order) whose indices form a
   * kernel, replacing any that refuse or fail by the next ones. Returns the URLs that accepted and their
   * answers (200 answers may already carry the result).
   */
  private async submitToKernel(path: string, body: unknown): Promise<{ url: string; answer: Answer }[]> {
    const { ok, failed } = await this.replicas();
    for (const f of failed) this.log(`warning: ${f.url}: ${f.reason}`);
    if (ok.length === 0) throw new SintraClientError(`no replica answered (${failed.map((f) => `${f.url}: ${f.reason}`).join('; ')})`);
    const { accepted, errors } = await this.post(path, { body }, ok, 'kernel', () => null);
    for (const e of errors) this.log(`warning: ${e.url}: ${e.reason}`);
    if (accepted.length === 0) throw new SintraClientError(`no replica accepted the request (${errors.map((e) => `${e.url}: ${e.reason}`).join('; ')})`);
    if (!this.group.quorumSystem.isKernel(accepted.flatMap((a) => (a.index === null ? [] : [a.index])))) {
      this.log(`warning: only ${accepted.length} replicas accepted, not a kernel of the structure: an honest replica may not have it`);
    }
    return accepted;
  }

  /**
   * Submits `request` (bytes, or a string sent as text: its UTF-8 bytes are the entry) and, by default, waits
   * until a signed checkpoint covers it and returns its receipt, verified against the pinned group (the
   * group's signature, the inclusion proof, and that the entry is exactly `request`).
   *
   * - Every URL's /v1/info must serve the pinned group before anything is sent (SubmitError 'wrong-group');
   *   a warning is logged when those that answer are not a kernel of the structure (they could all be
   *   Byzantine and drop the request).
   * - `to: 'kernel'` (default) sends to a kernel, replacing replicas that refuse or stay silent; `all` to
   *   every replica. An answer with another request id or an unknown status counts as a refusal.
   * - `encrypt`: a TDH2 ciphertext to the group key (secure causal atomic broadcast); `id` is then the
   *   ciphertext's, `entryId` the request's, and the receipt proves the decrypted request.
   * - `wait: false` returns once replicas accepted it (what each said in `replicas`); see waitForReceipt.
   *   It is the only use of a client without a group, which sends to every URL and checks nothing.
   *
   * Throws SubmitError (its `code` says why) or ForkError.
   */
  submit(request: Uint8Array | string, opts?: SubmitOptions & { readonly wait?: true }): Promise<SubmitResult>;
  submit(request: Uint8Array | string, opts: SubmitOptions & { readonly wait: false }): Promise<SubmittedRequest>;
  submit(request: Uint8Array | string, opts?: SubmitOptions): Promise<SubmittedRequest | SubmitResult>;
  async submit(request: Uint8Array | string, options?: SubmitOptions): Promise<SubmittedRequest | SubmitResult> {
    const opts = checkSubmitOptions(options);
    const bytes = requestBytes(request);
    const { encrypt = false, wait = true, signal } = opts;
    if (signal?.aborted) throw abortedError(signal);
    const group = this.o.group;
    if (!group && (encrypt || wait || opts.to === 'kernel')) {
      throw new SubmitError('no-group', `${encrypt ? 'encrypting' : wait ? 'waiting for a verified receipt' : 'submitting to a kernel'} needs the pinned group (this client has group: null); give wait: false to only submit`);
    }
    const entryId = toHex(sha256(bytes));
    let id = entryId;
    let payload: Payload = typeof request === 'string' ? { body: { text: request } } : { bytes };
    if (encrypt) {
      if (!this.o.randomBytes) throw new SubmitError('no-randomness', 'encrypting needs randomBytes in the client options');
      const enc = encryptRequest(group!, bytes, opts.label ?? 'sintra-sdk', this.o.randomBytes);
      id = enc.ciphertextId;
      payload = { body: { ciphertext: toBase64(enc.ciphertext) } };
      this.log(`encrypted to group ${toHex(group!.groupId).slice(0, 16)}... (${enc.ciphertext.length} bytes); ciphertext id ${id}, plaintext id ${entryId}`);
    }

    // Where to send it: with a group, the replicas that serve it (all of them must); without, every URL.
    const said = new Map<string, ReplicaSubmission>();
    let targets: Target[] = this.urls.map((url) => ({ url, index: null }));
    let warned = false;
    if (group) {
      const c = await untilAborted(this.checked(), signal);
      if (c.wrong) throw new SubmitError('wrong-group', wrongGroup(c.wrong, group, 'nothing was submitted'));
      for (const f of c.failed) said.set(f.url, { url: f.url, ok: false, error: `cannot check its group: ${f.reason}` });
      targets = c.ok;
      const w = notKernelWarning(group, c.ok.map((r) => r.index));
      if (w) this.log(w);
      warned = w !== null;
    }
    const mode = group ? (opts.to ?? 'kernel') : 'all';
    const what = encrypt ? 'ciphertext' : 'request';
    const check = (a: Answer): string | null => {
      const j = a.json as { id?: unknown; status?: unknown } | null;
      if (j?.id !== id) return `answered request id ${String(j?.id)}, expected ${id} (SHA-256 of the ${what})`;
      if (!isStatus(j.status)) return `answered an unknown status ${JSON.stringify(j.status) ?? 'undefined'}`;
      return null;
    };
    const { accepted, errors } = targets.length > 0 ? await this.post('/v1/requests', payload, targets, mode, check, signal) : { accepted: [], errors: [] };
    for (const e of errors) said.set(e.url, { url: e.url, ok: false, error: e.reason });
    for (const a of accepted) {
      const j = a.answer.json as { status: RequestStatus; index?: unknown; replica?: unknown };
      said.set(a.url, {
        url: a.url,
        ok: true,
        status: j.status,
        ...(typeof j.index === 'number' ? { index: j.index } : {}),
        ...(typeof j.replica === 'string' ? { replica: j.replica } : {}),
      });
    }
    const replicas = this.urls.flatMap((u) => said.get(u) ?? []);
    const refused = replicas.flatMap((r) => (r.ok ? [] : [`${r.url}: ${r.error}`]));
    for (const r of refused) this.log(`warning: ${r}`);
    if (accepted.length === 0) throw new SubmitError('not-accepted', refused.length === 1 ? refused[0]! : `no replica accepted the request (${refused.join('; ')})`);
    if (mode === 'all' && accepted.length < this.urls.length) {
      this.log(`warning: only ${accepted.length} of ${this.urls.length} replicas accepted the request; an honest one must have it to be sure it is ordered`);
    } else if (group && !warned && !group.quorumSystem.isKernel(accepted.flatMap((a) => (a.index === null ? [] : [a.index])))) {
      this.log(`warning: only ${accepted.length} replicas accepted, not a kernel of the structure: an honest replica may not have it`);
    }
    const best = replicas.reduce<Extract<ReplicaSubmission, { ok: true }> | null>((b, r) => (r.ok && (!b || STATUS_RANK[r.status] > STATUS_RANK[b.status]) ? r : b), null)!;
    const submitted: SubmittedRequest = {
      id,
      entryId,
      encrypted: encrypt,
      status: best.status,
      ...(best.index !== undefined ? { index: best.index } : {}),
      replicas,
      acceptedBy: accepted.map((a) => a.url),
    };
    if (!wait) return submitted;
    const got = await this.waitForReceipt(submitted, signal ? { signal } : {});
    return { ...submitted, ...got, status: 'certified' };
  }

  /**
   * Waits until a replica serves a certified receipt of the request (`id`: what the replicas answer to;
   * `entryId`: SHA-256 of the entry the receipt must hold) that verifies against the pinned group, polling
   * every replica at once (`acceptedBy` first) and logging the furthest status any reports. A replica whose
   * receipt does not verify, or holds another entry, becomes a liar and is not asked again. A ciphertext
   * that replicas report `skipped` (it does not decrypt with the group key) ends the wait once a kernel of
   * them says so, or every replica asked does. Throws SubmitError ('unverified', 'skipped', 'timeout',
   * 'aborted', ...) or ForkError.
   */
  async waitForReceipt(
    request: { readonly id: string; readonly entryId: string; readonly status?: RequestStatus; readonly acceptedBy?: readonly string[] },
    opts: WaitOptions = {},
  ): Promise<RequestReceipt> {
    if (typeof request !== 'object' || request === null) throw badInput(`the request must be an object {id, entryId}, not ${kindOf(request)}`);
    const { id, entryId } = request;
    if (typeof id !== 'string' || !HEX64.test(id)) throw badInput('id: expected 64 lower-case hex digits (SHA-256)');
    if (typeof entryId !== 'string' || !HEX64.test(entryId)) throw badInput('entryId: expected 64 lower-case hex digits (SHA-256)');
    const first = request.acceptedBy ?? [];
    if (!Array.isArray(first) || !first.every((u) => typeof u === 'string')) throw badInput('acceptedBy: expected an array of URLs');
    if (typeof opts !== 'object' || opts === null) throw badInput(`options must be an object, not ${kindOf(opts)}`);
    for (const k of Object.keys(opts)) if (k !== 'signal') throw badInput(`unknown option ${JSON.stringify(k)} (waitForReceipt takes signal)`);
    const signal = opts.signal;
    if (signal !== undefined && !isSignal(signal)) throw badInput(`option signal must be an AbortSignal, not ${kindOf(signal)}`);
    if (signal?.aborted) throw abortedError(signal);
    const group = this.group;
    const c = await untilAborted(this.checked(), signal);
    if (c.wrong) throw new SubmitError('wrong-group', wrongGroup(c.wrong, group, 'check the replica URLs'));
    const indexOf = new Map(c.ok.map((r) => [r.url, r.index]));

    const timeout = this.o.timeoutMs ?? 120_000;
    const patience = this.o.patienceMs ?? 3000;
    const t0 = this.o.now?.();
    let slept = 0;
    const waited = () => (t0 !== undefined ? this.o.now!() - t0 : slept);
    let interval = this.o.pollMs ?? 250;
    let shown: RequestStatus | null = request.status === 'pending' ? 'pending' : null;
    const progress = (url: string, status: RequestStatus, index: unknown, epoch: unknown) => {
      if (status === 'skipped' || (shown !== null && STATUS_RANK[status] <= STATUS_RANK[shown])) return;
      shown = status;
      const where = typeof index === 'number' ? ` at index ${index}${typeof epoch === 'number' ? ` (epoch ${epoch})` : ''}` : '';
      this.log(`${status}${where} (${url})`);
    };
    const lastError = new Map<string, string>();
    for (;;) {
      // Those that accepted it first; only this client's URLs are ever asked.
      const urls = this.order(first.map((u) => u.replace(/\/+$/, '')).filter((u) => this.urls.includes(u)));
      if (urls.length === 0) throw new SubmitError('unverified', `no replica served a receipt that verifies for request ${id} (${this.liarList().map((l) => `${l.url}: ${l.reason}`).join('; ')})`);
      const skippedBy: string[] = [];
      const found = await untilAborted(
        new Promise<{ url: string; receipt: Receipt } | null>((resolve) => {
          let left = urls.length;
          let done = false;
          for (const url of urls) {
            // A replica that does not answer within `patience` counts as not having it, for this round.
            void Promise.race([
              this.attempt(() => this.pollReceipt(url, id, entryId, (s, index, epoch) => !done && progress(url, s, index, epoch), signal)),
              this.o.sleep(patience).then(() => ({ ok: false as const, reason: `no answer within ${patience} ms` })),
            ]).then((a) => {
              if (!done) {
                const p: Poll = a.ok ? a.value : { kind: 'error', reason: `${url}: ${a.reason}` };
                if (p.kind === 'error') lastError.set(url, p.reason);
                else lastError.delete(url);
                if (p.kind === 'skipped') skippedBy.push(url);
                if (p.kind === 'liar') {
                  if (!this.liars.has(url)) this.log(`warning: ${url} served ${p.reason}; not asking it again`);
                  this.liars.set(url, p.reason);
                }
                if (p.kind === 'receipt') {
                  done = true;
                  resolve({ url, receipt: p.receipt });
                }
              }
              if (--left === 0 && !done) resolve(null);
            });
          }
        }),
        signal,
      );
      if (found) {
        const r = found.receipt;
        await this.observeCheckpoint(r.checkpoint, found.url);
        return {
          id,
          entryId,
          index: r.index,
          receipt: receiptToJson(group.groupId, r),
          checkpoint: { size: r.checkpoint.size, epoch: r.checkpoint.epoch, root: toHex(r.checkpoint.root) },
          from: found.url,
          liars: this.liarList(),
        };
      }
      if (skippedBy.length > 0 && (skippedBy.length === urls.length || group.quorumSystem.isKernel(skippedBy.flatMap((u) => indexOf.get(u) ?? [])))) {
        throw new SubmitError('skipped', `${skippedBy.join(', ')}: the ciphertext was ordered but does not decrypt with the group key, so it has no log position (encrypted to another group?)`);
      }
      if (waited() >= timeout) {
        const errors = [...lastError.values()];
        const state = shown !== null ? `still ${shown}` : 'not known to any replica';
        const why = shown === null && errors.length > 0 ? ` (last error: ${errors[errors.length - 1]})` : '';
        throw new SubmitError('timeout', `timed out after ${Math.round(waited() / 1000)} s: request ${id} is ${state}${why}`);
      }
      this.o.onPoll?.();
      const pause = Math.max(0, Math.min(interval, timeout - waited()));
      await untilAborted(this.o.sleep(pause), signal);
      slept += pause;
      interval = Math.min(1500, Math.round(interval * 1.5));
    }
  }

  /** One replica's status of request `id` and, once it says certified, its receipt, checked. */
  private async pollReceipt(url: string, id: string, entryId: string, onStatus: (s: RequestStatus, index: unknown, epoch: unknown) => void, signal?: AbortSignal): Promise<Poll> {
    const a = await this.call(`${url}/v1/requests/${id}`, undefined, signal);
    if (a.status !== 200) return { kind: 'error', reason: `${url}/v1/requests/${id}: ${errorText(a)}` };
    const s = a.json as { status?: unknown; index?: unknown; epoch?: unknown } | null;
    if (!isStatus(s?.status)) return { kind: 'error', reason: `${url}: unknown status ${JSON.stringify(s?.status) ?? 'undefined'}` };
    if (s.status === 'skipped') return { kind: 'skipped' };
    onStatus(s.status, s.index, s.epoch);
    if (s.status !== 'certified') return { kind: 'status' };
    const r = await this.call(`${url}/v1/receipts/${id}`, undefined, signal);
    if (r.status === 409 && (r.json as { error?: { code?: unknown } } | null)?.error?.code === 'skipped') return { kind: 'skipped' };
    if (r.status !== 200) return { kind: 'error', reason: `${url}/v1/receipts/${id}: ${errorText(r)}` };
    let parsed: ReturnType<typeof receiptFromJson>;
    try {
      parsed = receiptFromJson(r.json);
    } catch (e) {
      return { kind: 'liar', reason: `a malformed receipt (${e instanceof Error ? e.message : String(e)})` };
    }
    if (!bytesEqual(parsed.groupId, this.group.groupId)) return { kind: 'liar', reason: `a receipt of another group (${toHex(parsed.groupId).slice(0, 16)}...)` };
    const v = verifyReceipt(this.group.kernel.groupKey, this.group.groupId, parsed.receipt);
    if (!v.ok) return { kind: 'liar', reason: `a receipt that does not verify (${v.reason})` };
    const got = toHex(sha256(parsed.receipt.entry));
    if (got !== entryId) return { kind: 'liar', reason: `a receipt of another entry (id ${got.slice(0, 16)}...)` };
    return { kind: 'receipt', receipt: parsed.receipt };
  }

  /** Registers `digest` (hex SHA-256), waits until certified and returns the verified registration. */
  async stamp(digest: string, opts: StampOptions = {}): Promise<StampResult> {
    if (!HEX64.test(digest)) throw new SintraClientError('digest: expected 64 lower-case hex digits (SHA-256)');
    const entry = encodeStampEntry({ digest, ...(opts.nonce !== undefined ? { nonce: opts.nonce } : {}) });
    let body: unknown = { digest, ...(opts.nonce !== undefined ? { nonce: opts.nonce } : {}) };
    if (opts.encrypt) {
      if (!this.o.randomBytes) throw new SintraClientError('encrypting needs randomBytes in the client options');
      const enc = encryptRequest(this.group, entry, opts.label ?? 'sintra-sdk', this.o.randomBytes);
      body = { ciphertext: toBase64(enc.ciphertext) };
      this.log(`encrypted the stamp entry to the group key (${enc.ciphertext.length} bytes, ciphertext id ${enc.ciphertextId.slice(0, 16)}...)`);
    }
    const accepted = await this.submitToKernel('/v1/notary/stamp', body);
    const found = await this.waitForStamp(digest, accepted.map((a) => a.url));
    await this.observeCheckpoint(receiptFromJson(found.receipt).receipt.checkpoint, found.from);
    return { ...found, acceptedBy: accepted.map((a) => a.url) };
  }

  /** The verified registration of `digest` from the first replica that serves one that verifies. */
  async lookup(digest: string, opts: { wait?: boolean } = {}): Promise<Omit<StampResult, 'acceptedBy'> | null> {
    if (!HEX64.test(digest)) throw new SintraClientError('digest: expected 64 lower-case hex digits (SHA-256)');
    const found = await (opts.wait ? this.waitForStamp(digest, []) : this.pollOnce(digest, []).then((r) => (r.found ? r.found : null)));
    if (found) await this.observeCheckpoint(receiptFromJson(found.receipt).receipt.checkpoint, found.from);
    return found;
  }

  /** Replicas caught serving receipts that do not verify, with the reason (never asked again). */
  liarList(): { url: string; reason: string }[] {
    return [...this.liars].map(([url, reason]) => ({ url, reason }));
  }

  private order(first: readonly string[]): string[] {
    return [...new Set([...first, ...this.urls])].filter((u) => !this.liars.has(u));
  }

  /**
   * One round over the replicas, all asked at once: the first receipt that verifies wins, so a slow replica
   * delays nobody; `state` is the furthest any replica got (for progress lines).
   */
  private pollOnce(digest: string, first: readonly string[]): Promise<{ found?: Omit<StampResult, 'acceptedBy'>; state: string }> {
    const urls = this.order(first);
    let state = 'unknown';
    return new Promise((resolve) => {
      let left = urls.length;
      let done = false;
      const settle = () => {
        if (--left === 0 && !done) resolve({ state });
      };
      if (left === 0) return resolve({ state });
      for (const url of urls) {
        // A replica that does not answer within `patience` counts as not having it, for this round.
        void Promise.race([
          this.attempt(() => this.call(`${url}/v1/notary/stamps/${digest}`)),
          this.o.sleep(this.o.patienceMs ?? 3000).then(() => ({ ok: false as const, reason: 'slow' })),
        ]).then((a) => {
          if (done || !a.ok || a.value.status !== 200) return settle();
          const j = a.value.json as { status?: unknown; receipt?: unknown; index?: unknown } | null;
          if (j?.status !== 'certified' || !j.receipt) {
            if (j?.status === 'ordered') state = `ordered at index ${String(j.index)}`;
            return settle();
          }
          const v = verifyStampReceipt(this.group, j.receipt, digest);
          if (!v.ok) {
            if (!this.liars.has(url)) this.log(`warning: ${url} served a stamp receipt that does not verify (${v.reason}); not asking it again`);
            this.liars.set(url, v.reason);
            return settle();
          }
          done = true;
          const receipt = receiptToJson(this.group.groupId, receiptFromJson(j.receipt).receipt);
          resolve({ found: { digest, verdict: v, receipt, from: url, liars: [...this.liars].map(([u, reason]) => ({ url: u, reason })) }, state: 'certified' });
          settle();
        });
      }
    });
  }

  private async waitForStamp(digest: string, first: readonly string[]): Promise<Omit<StampResult, 'acceptedBy'>> {
    const timeout = this.o.timeoutMs ?? 120_000;
    const t0 = this.o.now?.();
    let slept = 0;
    const waited = () => (t0 !== undefined ? this.o.now!() - t0 : slept);
    let interval = this.o.pollMs ?? 250;
    let shown = '';
    for (;;) {
      const r = await this.pollOnce(digest, first);
      if (r.found) return r.found;
      if (r.state !== shown) {
        this.log(`waiting: ${r.state === 'unknown' ? 'not ordered yet' : r.state}`);
        shown = r.state;
      }
      if (this.order(first).length === 0) throw new SintraClientError(`every replica served a receipt that does not verify (${[...this.liars.values()].join('; ')})`);
      if (waited() >= timeout) throw new SintraClientError(`timed out after ${Math.round(waited() / 1000)} s waiting for a certified stamp of ${digest} (${shown === 'unknown' ? 'no replica has ordered it' : shown})`);
      this.o.onPoll?.();
      await this.o.sleep(interval);
      slept += interval;
      interval = Math.min(1500, Math.round(interval * 1.5));
    }
  }

  // ---- certification authority and directory (shared/app/ca.ts, docs/ca.md)

  /** Registers `name` for the Ed25519 key of `secretKey` (32 bytes); see caSubmit. */
  caRegister(name: string, secretKey: Uint8Array, validFor: number): Promise<CaRequestResult> {
    return this.caSubmit(registerRequest(this.group.groupId, name, secretKey, validFor));
  }

  /** Renews the current certificate of `name` (serial: the current one; default: looked up and verified). */
  async caRenew(name: string, secretKey: Uint8Array, validFor: number, serial?: number): Promise<CaRequestResult> {
    return this.caSubmit(renewRequest(this.group.groupId, name, serial ?? (await this.currentSerial(name)), secretKey, validFor));
  }

  async caRevoke(name: string, secretKey: Uint8Array, serial?: number): Promise<CaRequestResult> {
    return this.caSubmit(revokeRequest(this.group.groupId, name, serial ?? (await this.currentSerial(name)), secretKey));
  }

  async caRotate(name: string, oldSecretKey: Uint8Array, newSecretKey: Uint8Array, validFor: number, serial?: number): Promise<CaRequestResult> {
    return this.caSubmit(rotateRequest(this.group.groupId, name, serial ?? (await this.currentSerial(name)), oldSecretKey, newSecretKey, validFor));
  }

  /** The serial a signed operation must name: from a verified statement, never from one replica's word. */
  private async currentSerial(name: string): Promise<number> {
    // The freshest statement of a round: a lagging replica's older one would name a superseded serial.
    const r = await this.caLookup(name, { wait: true, freshest: true });
    if (!r.verdict.record) throw new CaRefusedError('not-found', `not-found: ${name} is not registered (statement at checkpoint size ${r.verdict.size})`, null);
    if (r.verdict.record.status === 'revoked') throw new CaRefusedError('revoked', `revoked: ${name} is revoked (at log index ${String(r.verdict.record.revokedAt)})`, null);
    return r.verdict.record.serial;
  }

  /**
   * Submits a signed CA request to a kernel, waits until its log entry is certified (verified receipt:
   * the request is at `index`), takes the CA's answer, and returns only once a verified directory
   * statement from a checkpoint after `index` shows the answer's record (or a later serial of the name).
   * A refusal by the CA is a CaRefusedError; a replica whose answer the statement contradicts is recorded
   * as lying and another one asked.
   */
  async caSubmit(request: CaRequest): Promise<CaRequestResult> {
    let entry: Uint8Array;
    try {
      entry = encodeCaRequest(request);
    } catch (e) {
      throw new SintraClientError(`CA request: ${e instanceof Error ? e.message : String(e)}`);
    }
    const id = toHex(sha256(entry));
    let accepted: { url: string; answer: Answer }[];
    try {
      accepted = await this.submitToKernel('/v1/ca/requests', { request });
    } catch (e) {
      // A refusal no later state can cure (name-taken, revoked, ...) comes from every replica alike.
      const m = e instanceof Error ? /HTTP (400|409) ([a-z-]+): ([^;]*)/.exec(e.message) : null;
      if (m) {
        // The last one listed is followed by the closing parenthesis of the list.
        const last = m.index + m[0].length === (e as Error).message.length;
        throw new CaRefusedError(m[2]!, `${m[2]}: ${last ? m[3]!.replace(/\)$/, '') : m[3]}`, null);
      }
      throw e;
    }
    const first = accepted.map((a) => a.url);
    const got = await this.waitRounds<{ url: string; index: number; response: CaResponse; receipt: ReceiptJson }>(`CA request ${id.slice(0, 16)}...`, first, async (url) => {
      const a = await this.call(`${url}/v1/ca/requests/${id}`);
      if (a.status !== 200) return null;
      const j = a.json as { status?: unknown; index?: unknown; response?: unknown; receipt?: unknown } | null;
      if (j?.status !== 'certified' || !j.receipt) return { state: j?.status === 'ordered' ? `ordered at index ${String(j.index)}` : 'pending' };
      let parsed: ReturnType<typeof receiptFromJson>;
      try {
        parsed = receiptFromJson(j.receipt);
      } catch (e) {
        return { liar: `malformed receipt: ${e instanceof Error ? e.message : String(e)}` };
      }
      const v = verifyReceipt(this.group.kernel.groupKey, this.group.groupId, parsed.receipt);
      if (!v.ok) return { liar: `CA request receipt: ${v.reason}` };
      if (!bytesEqual(parsed.receipt.entry, entry)) return { liar: 'the receipt is not of this CA request' };
      const resp = j.response as CaResponse | null;
      if (typeof resp !== 'object' || resp === null || resp.app !== 'ca' || resp.index !== parsed.receipt.index) return { liar: 'no CA response for the ordered request' };
      return { value: { url, index: parsed.receipt.index, response: resp, receipt: receiptToJson(this.group.groupId, parsed.receipt) } };
    });
    const { index, response } = got;
    if (!response.ok) {
      // Confirmed against the signed state where the state can show it; the code itself is the CA's.
      const st = await this.caLookup(request.name, { wait: true, minSize: index + 1 });
      const shown = st.verdict.record;
      if (request.op === 'register' && shown?.key === request.key && issuedAt(shown) === index) {
        this.liars.set(got.url, 'claimed a refusal the signed state contradicts');
        throw new SintraClientError(`${got.url} claimed the register at ${index} was refused, but the signed state shows it issued; retry`);
      }
      throw new CaRefusedError(response.error.code, `${response.error.code}: ${response.error.message}`, index);
    }
    if (!('certificate' in response)) throw new SintraClientError(`${got.url} answered a ${request.op} request with an x509 answer`);
    const cert = response.certificate;
    const st = await this.caLookup(request.name, { wait: true, minSize: index + 1 });
    const rec = st.verdict.record;
    if (!rec || rec.serial < cert.serial || (rec.serial === cert.serial && !sameRecord(rec, cert) && !revokedLater(rec, cert))) {
      this.liars.set(got.url, 'served a CA response the signed state contradicts');
      throw new SintraClientError(`the CA response from ${got.url} (serial ${cert.serial}) is contradicted by the signed directory (${rec ? `serial ${rec.serial}, ${rec.status}` : 'absent'})`);
    }
    await this.observeCheckpoint(receiptFromJson(got.receipt).receipt.checkpoint, got.url);
    return { ...st, id, index, response, receipt: got.receipt, acceptedBy: first };
  }

  /**
   * A verified directory statement for `name` from the first replica that serves one (checked with
   * verifyDirectoryStatement against the pinned group; forged ones are recorded and skipped). `minSize`:
   * only statements whose checkpoint covers that many log entries count (fresh enough to show a request at
   * index minSize - 1). Without `wait`, one round over the replicas; else until the timeout.
   * A verified statement may still be an older checkpoint's: what it proves is the state as of its size.
   * `freshest`: wait for every replica of the round (up to patienceMs) and take the largest checkpoint.
   */
  async caLookup(name: string, opts: { wait?: boolean; minSize?: number; freshest?: boolean } = {}): Promise<CaLookupResult> {
    if (!isValidName(name)) throw new SintraClientError('name: 1 to 128 characters of a-z 0-9 . _ @ -, starting with a letter or digit');
    const minSize = opts.minSize ?? 0;
    const got = await this.waitRounds<{ url: string; verdict: Extract<DirectoryVerdict, { ok: true }>; statement: DirectoryStatementJson }>(
      `a directory statement for ${name}`,
      [],
      async (url) => {
        const a = await this.call(`${url}/v1/ca/names/${name}`);
        if (a.status === 409 || a.status === 503) return { state: errorText(a) };
        if (a.status !== 200) return null;
        const v = verifyDirectoryStatement(this.group, a.json);
        if (!v.ok) return { liar: `directory statement: ${v.reason}` };
        if (v.name !== name) return { liar: `the statement is for ${v.name}, not ${name}` };
        if (v.size < minSize) return { state: `checkpoint size ${v.size} < ${minSize}` };
        return { value: { url, verdict: v, statement: a.json as DirectoryStatementJson } };
      },
      !opts.wait,
      opts.freshest ? (a, b) => a.verdict.size > b.verdict.size : undefined,
    );
    await this.observeCheckpoint(checkpointFromJson(got.statement.checkpoint), got.url);
    return { name, verdict: got.verdict, statement: got.statement, from: got.url, liars: this.liarList() };
  }

  /**
   * Rounds over the replicas (all asked at once, `first` first): the first `value` wins, or with `better`
   * the best value of the whole round; `liar` records the replica and skips it from then on; `state` is
   * progress. One round only when `once`.
   */
  private async waitRounds<T>(
    what: string,
    first: readonly string[],
    ask: (url: string) => Promise<{ value: T } | { liar: string } | { state: string } | null>,
    once = false,
    better?: (a: T, b: T) => boolean,
  ): Promise<T> {
    const timeout = this.o.timeoutMs ?? 120_000;
    const t0 = this.o.now?.();
    let slept = 0;
    const waited = () => (t0 !== undefined ? this.o.now!() - t0 : slept);
    let interval = this.o.pollMs ?? 250;
    let shown = '';
    for (;;) {
      const urls = this.order(first);
      if (urls.length === 0) throw new SintraClientError(`every replica served answers that do not verify (${[...this.liars.values()].join('; ')})`);
      let state = 'no answer';
      const found = await new Promise<T | null>((resolve) => {
        let left = urls.length;
        let done = false;
        let best: { value: T } | null = null;
        for (const url of urls) {
          void Promise.race([this.attempt(() => ask(url)), this.o.sleep(this.o.patienceMs ?? 3000).then(() => ({ ok: false as const, reason: 'slow' }))]).then((a) => {
            if (!done && a.ok && a.value) {
              const r = a.value;
              if ('value' in r) {
                if (better) {
                  if (!best || better(r.value, best.value)) best = { value: r.value };
                } else {
                  done = true;
                  resolve(r.value);
                }
              } else if ('liar' in r) {
                if (!this.liars.has(url)) this.log(`warning: ${url} served ${r.liar}; not asking it again`);
                this.liars.set(url, r.liar);
              } else state = r.state;
            }
            if (--left === 0 && !done) resolve(best ? best.value : null);
          });
        }
      });
      if (found !== null) return found;
      if (state !== shown) {
        this.log(`waiting for ${what}: ${state}`);
        shown = state;
      }
      if (once || waited() >= timeout) {
        throw new SintraClientError(`${once ? 'no replica served' : `timed out after ${Math.round(waited() / 1000)} s waiting for`} ${what} that verifies (${state}${this.liars.size ? `; lying: ${[...this.liars.keys()].join(', ')}` : ''})`);
      }
      this.o.onPoll?.();
      await this.o.sleep(interval);
      slept += interval;
      interval = Math.min(1500, Math.round(interval * 1.5));
    }
  }
}

/** `later` is `cert` revoked after it was issued (the same request bytes submitted again get the old answer). */
function revokedLater(later: CertificateRecord, cert: CertificateRecord): boolean {
  return later.status === 'revoked' && cert.status === 'active' && later.revokedAt !== null && later.revokedAt >= issuedAt(cert) && sameRecord({ ...later, status: 'active', revokedAt: null }, cert);
}

function sameRecord(a: CertificateRecord, b: CertificateRecord): boolean {
  return (
    a.v === b.v &&
    a.name === b.name &&
    a.key === b.key &&
    a.serial === b.serial &&
    a.index === b.index &&
    a.notBefore === b.notBefore &&
    a.notAfter === b.notAfter &&
    a.status === b.status &&
    a.revokedAt === b.revokedAt
  );
}

/** SHA-256 of a document as the notary takes it (hex). */
export function documentDigest(document: Uint8Array): string {
  return toHex(sha256(document));
}

/** Whether a saved stamp receipt registers exactly this document. */
export function verifyDocumentStamp(group: Group, receiptJson: unknown, document: Uint8Array): StampVerdict {
  return verifyStampReceipt(group, receiptJson, documentDigest(document));
}

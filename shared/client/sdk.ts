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
 *   that fail are replaced by others until the set that accepted is a kernel.
 * - Receipts are polled from the replicas that accepted first, then from the others; a replica serving a
 *   receipt that does not verify (forged signature, wrong proof, another entry, another digest) is
 *   recorded as lying and not asked again, and the next replica is used.
 * - The log only grows: the client remembers the newest checkpoint it verified (or one it is given) and
 *   checks every other checkpoint it sees against it by a consistency proof (consistency.ts); a replica
 *   serving a proof that does not verify is a liar, and two signed checkpoints that cannot be consistent
 *   end the call with a ForkError carrying both (evidence that more replicas are corrupt than tolerated).
 *
 * Time: the timeout uses an injected clock if one is given, else counts the time slept between polls; the
 * injected fetch is expected to bound each exchange (the CLI passes AbortSignal.timeout).
 */
import { sha256 } from '../crypto/sha256.ts';
import { bytesEqual, toBase64, toHex } from '../crypto/bytes.ts';
import type { RandomBytes } from '../crypto/random.ts';
import type { Group } from '../config/group.ts';
import { checkpointFromJson, receiptFromJson, receiptToJson, verifyCheckpoint, verifyReceipt } from '../log/checkpoint.ts';
import type { ReceiptJson, SignedCheckpoint } from '../log/checkpoint.ts';
import { checkConsistency, proofAnswer } from './consistency.ts';
import type { ProofAnswer } from './consistency.ts';
import { encodeStampEntry, parseStampEntry } from '../app/notary.ts';
import { encodeCaRequest, isValidName, registerRequest, renewRequest, revokeRequest, rotateRequest, verifyDirectoryStatement } from '../app/ca.ts';
import type { CaErrorCode, CaRequest, CaResponse, CertificateRecord, DirectoryStatementJson, DirectoryVerdict } from '../app/ca.ts';
import { encryptRequest } from './encrypt.ts';

/** The part of the Fetch API the SDK uses (globalThis.fetch fits). */
export type FetchLike = (
  url: string,
  init?: { method?: string; headers?: Record<string, string>; body?: string },
) => Promise<{ readonly status: number; text(): Promise<string> }>;

export interface SintraClientOptions {
  /** The pinned group (parseGroup of group.json). */
  readonly group: Group;
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

/** A request ordered and certified: its verified receipt. */
export interface SubmitResult {
  /** The id replicas answer to: SHA-256 of the request, or of its ciphertext when encrypted. */
  readonly id: string;
  /** SHA-256 of the request itself: the log entry's id (equal to `id` unless encrypted). */
  readonly entryId: string;
  /** Log position. */
  readonly index: number;
  /** The receipt (verified against the pinned group: signature, inclusion proof, this entry). */
  readonly receipt: ReceiptJson;
  readonly from: string;
  readonly acceptedBy: readonly string[];
  readonly liars: readonly { readonly url: string; readonly reason: string }[];
}

export type StampVerdict =
  | {
      readonly ok: true;
      readonly digest: string;
      readonly nonce?: string;
      /** Log index of the registering entry: the logical time, "no later than". */
      readonly index: number;
      /** The signed checkpoint that covers it. */
      readonly checkpoint: { readonly size: number; readonly epoch: number; readonly root: string; readonly stateDigest: string };
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
    checkpoint: { size: c.size, epoch: c.epoch, root: toHex(c.root), stateDigest: toHex(c.stateDigest) },
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

const HEX64 = /^[0-9a-f]{64}$/;



function errorText(a: Answer): string {
  const e = (a.json as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return e && typeof e.code === 'string' ? `HTTP ${a.status} ${e.code}${typeof e.message === 'string' ? `: ${e.message}` : ''}` : `HTTP ${a.status}`;
}

export class SintraClient {
  private readonly urls: readonly string[];
  private readonly liars = new Map<string, string>();
  private newest: SignedCheckpoint | null;
  private infos: Promise<{ ok: ReplicaInfo[]; failed: { url: string; reason: string }[] }> | null = null;

  constructor(private readonly o: SintraClientOptions) {
    this.urls = [...new Set(o.urls.map((u) => u.replace(/\/+$/, '')))];
    if (this.urls.length === 0) throw new SintraClientError('give at least one replica URL');
    if (o.checkpoint && !verifyCheckpoint(o.group.kernel.groupKey, o.group.groupId, o.checkpoint)) throw new SintraClientError("the given checkpoint's signature does not verify with the pinned group");
    this.newest = o.checkpoint ?? null;
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
    const v = await checkConsistency(this.o.group, newest, checkpoint, ordered, (url, a, b) => this.fetchProof(url, a, b));
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

  private async call(url: string, init?: { method?: string; body?: unknown }): Promise<Answer> {
    const res = await this.o.fetch(url, init?.body !== undefined ? { method: init.method ?? 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(init.body) } : { method: 'GET' });
    const text = await res.text();
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      throw new SintraClientError(`HTTP ${res.status}: not JSON (not a Sintra Edge replica?)`);
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
  replicas(): Promise<{ ok: ReplicaInfo[]; failed: { url: string; reason: string }[] }> {
    this.infos ??= (async () => {
      const want = toHex(this.o.group.groupId);
      const key = this.o.group.file.keys.kernel.groupKey;
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
      answers.forEach((a, i) => {
        const url = this.urls[i]!;
        if (!a.ok) return void failed.push({ url, reason: a.reason });
        if (a.value.status !== 200) return void failed.push({ url, reason: errorText(a.value) });
        const j = a.value.json as { groupId?: unknown; replica?: { index?: unknown }; group?: { keys?: { kernel?: { groupKey?: unknown } } } } | null;
        if (j?.groupId !== want || j?.group?.keys?.kernel?.groupKey !== key) {
          throw new SintraClientError(`${url} serves group ${String(j?.groupId).slice(0, 16)}..., not the pinned group ${want.slice(0, 16)}...; nothing was sent`);
        }
        const index = j.replica?.index;
        if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= this.o.group.replicas.length) return void failed.push({ url, reason: 'no replica index in /v1/info' });
        ok.push({ url, index });
      });
      return { ok, failed };
    })();
    return this.infos;
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
    const qs = this.o.group.quorumSystem;
    const patience = this.o.patienceMs ?? 3000;
    const accepted: { url: string; index: number; answer: Answer }[] = [];
    const errors: string[] = [];
    /** Submissions under way; `slow` ones (no answer within `patience`) no longer count towards the kernel. */
    const inFlight = new Map<string, { readonly r: ReplicaInfo; slow: boolean; readonly done: Promise<void> }>();
    const launch = (r: ReplicaInfo) => {
      const done = this.attempt(() => this.call(`${r.url}${path}`, { body })).then((a) => {
        inFlight.delete(r.url);
        if (!a.ok) return void errors.push(`${r.url}: ${a.reason}`);
        if (a.value.status !== 200 && a.value.status !== 202) return void errors.push(`${r.url}: ${errorText(a.value)}`);
        accepted.push({ ...r, answer: a.value });
        this.log(`submitted to ${r.url} (replica ${this.o.group.replicas[r.index]?.id ?? r.index}): ${a.value.status === 202 ? 'pending' : 'known'}`);
      });
      inFlight.set(r.url, { r, slow: false, done });
    };
    let next = 0;
    for (;;) {
      const hoped = () => [...accepted.map((a) => a.index), ...[...inFlight.values()].filter((f) => !f.slow).map((f) => f.r.index)];
      // Just enough more replicas that a kernel accepts if every one not known to be slow does.
      while (next < ok.length && !qs.isKernel(hoped())) launch(ok[next++]!);
      if (qs.isKernel(accepted.map((a) => a.index)) || inFlight.size === 0) break;
      const waiting = [...inFlight.values()];
      const timedOut = await Promise.race([Promise.race(waiting.map((f) => f.done)).then(() => false), this.o.sleep(patience).then(() => true)]);
      if (timedOut) {
        for (const f of waiting) {
          if (!f.slow) this.log(`${f.r.url} has not answered within ${patience} ms; asking another replica too`);
          f.slow = true;
        }
        // Nobody left to ask: the slow ones are all there is (the injected fetch bounds each exchange).
        if (next >= ok.length) await Promise.race(waiting.map((f) => f.done));
      }
    }
    for (const e of errors) this.log(`warning: ${e}`);
    if (accepted.length === 0) throw new SintraClientError(`no replica accepted the request (${errors.join('; ')})`);
    if (!qs.isKernel(accepted.map((a) => a.index))) {
      this.log(`warning: only ${accepted.length} replicas accepted, not a kernel of the structure: an honest replica may not have it`);
    }
    return [...accepted];
  }

  /**
   * Orders `request` (any bytes; `encrypt`: as a TDH2 ciphertext to the group key, so no replica sees it
   * before its position is fixed) through a kernel of replicas, waits until a signed checkpoint covers it and
   * returns its receipt, verified against the pinned group: the group's signature, the inclusion proof, and
   * that the entry is exactly `request`. Replicas serving receipts that do not verify become liars.
   */
  async submit(request: Uint8Array, opts: { encrypt?: boolean; label?: string } = {}): Promise<SubmitResult> {
    if (!(request instanceof Uint8Array) || request.length === 0) throw new SintraClientError('the request is empty; replicas refuse empty requests');
    const entryId = toHex(sha256(request));
    let id = entryId;
    let body: unknown = { data: toBase64(request) };
    if (opts.encrypt) {
      if (!this.o.randomBytes) throw new SintraClientError('encrypting needs randomBytes in the client options');
      const enc = encryptRequest(this.o.group, request, opts.label ?? 'sintra-sdk', this.o.randomBytes);
      id = enc.ciphertextId;
      body = { ciphertext: toBase64(enc.ciphertext) };
      this.log(`encrypted the request to the group key (${enc.ciphertext.length} bytes, ciphertext id ${id.slice(0, 16)}..., plaintext id ${entryId.slice(0, 16)}...)`);
    }
    const accepted = await this.submitToKernel('/v1/requests', body);
    const got = await this.waitRounds<{ url: string; receipt: ReceiptJson; index: number; checkpoint: SignedCheckpoint }>(`request ${id.slice(0, 16)}...`, accepted.map((a) => a.url), async (url) => {
      const a = await this.call(`${url}/v1/receipts/${id}`);
      const code = (a.json as { error?: { code?: unknown } } | null)?.error?.code;
      if (a.status === 409 && code === 'skipped') throw new SintraClientError(`${url}: the ciphertext was ordered but does not decrypt with the group key, so it has no log position`);
      if (a.status === 409 || a.status === 503) return { state: errorText(a) };
      if (a.status !== 200) return null;
      let parsed: ReturnType<typeof receiptFromJson>;
      try {
        parsed = receiptFromJson(a.json);
      } catch (e) {
        return { liar: `a malformed receipt: ${e instanceof Error ? e.message : String(e)}` };
      }
      if (!bytesEqual(parsed.groupId, this.o.group.groupId)) return { liar: 'a receipt of another group' };
      const v = verifyReceipt(this.o.group.kernel.groupKey, this.o.group.groupId, parsed.receipt);
      if (!v.ok) return { liar: `a receipt that does not verify (${v.reason})` };
      if (!bytesEqual(parsed.receipt.entry, request)) return { liar: `a receipt of another entry (id ${toHex(sha256(parsed.receipt.entry)).slice(0, 16)}...)` };
      return { value: { url, receipt: receiptToJson(this.o.group.groupId, parsed.receipt), index: parsed.receipt.index, checkpoint: parsed.receipt.checkpoint } };
    });
    await this.observeCheckpoint(got.checkpoint, got.url);
    return { id, entryId, index: got.index, receipt: got.receipt, from: got.url, acceptedBy: accepted.map((a) => a.url), liars: this.liarList() };
  }

  /** Registers `digest` (hex SHA-256), waits until certified and returns the verified registration. */
  async stamp(digest: string, opts: StampOptions = {}): Promise<StampResult> {
    if (!HEX64.test(digest)) throw new SintraClientError('digest: expected 64 lower-case hex digits (SHA-256)');
    const entry = encodeStampEntry({ digest, ...(opts.nonce !== undefined ? { nonce: opts.nonce } : {}) });
    let body: unknown = { digest, ...(opts.nonce !== undefined ? { nonce: opts.nonce } : {}) };
    if (opts.encrypt) {
      if (!this.o.randomBytes) throw new SintraClientError('encrypting needs randomBytes in the client options');
      const enc = encryptRequest(this.o.group, entry, opts.label ?? 'sintra-sdk', this.o.randomBytes);
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
          const v = verifyStampReceipt(this.o.group, j.receipt, digest);
          if (!v.ok) {
            if (!this.liars.has(url)) this.log(`warning: ${url} served a stamp receipt that does not verify (${v.reason}); not asking it again`);
            this.liars.set(url, v.reason);
            return settle();
          }
          done = true;
          const receipt = receiptToJson(this.o.group.groupId, receiptFromJson(j.receipt).receipt);
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
    return this.caSubmit(registerRequest(this.o.group.groupId, name, secretKey, validFor));
  }

  /** Renews the current certificate of `name` (serial: the current one; default: looked up and verified). */
  async caRenew(name: string, secretKey: Uint8Array, validFor: number, serial?: number): Promise<CaRequestResult> {
    return this.caSubmit(renewRequest(this.o.group.groupId, name, serial ?? (await this.currentSerial(name)), secretKey, validFor));
  }

  async caRevoke(name: string, secretKey: Uint8Array, serial?: number): Promise<CaRequestResult> {
    return this.caSubmit(revokeRequest(this.o.group.groupId, name, serial ?? (await this.currentSerial(name)), secretKey));
  }

  async caRotate(name: string, oldSecretKey: Uint8Array, newSecretKey: Uint8Array, validFor: number, serial?: number): Promise<CaRequestResult> {
    return this.caSubmit(rotateRequest(this.o.group.groupId, name, serial ?? (await this.currentSerial(name)), oldSecretKey, newSecretKey, validFor));
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
      const v = verifyReceipt(this.o.group.kernel.groupKey, this.o.group.groupId, parsed.receipt);
      if (!v.ok) return { liar: `CA request receipt: ${v.reason}` };
      if (!bytesEqual(parsed.receipt.entry, entry)) return { liar: 'the receipt is not of this CA request' };
      const resp = j.response as CaResponse | null;
      if (typeof resp !== 'object' || resp === null || resp.app !== 'ca' || resp.index !== parsed.receipt.index) return { liar: 'no CA response for the ordered request' };
      return { value: { url, index: parsed.receipt.index, response: resp, receipt: receiptToJson(this.o.group.groupId, parsed.receipt) } };
    });
    const { index, response } = got;
    if (!response.ok) {
      // Confirmed against the signed state where the state can show it; the code itself is the CA's.
      const st = await this.caLookup(request.name, { wait: true, minSize: index + 1 });
      const shown = st.verdict.record;
      if (request.op === 'register' && shown?.key === request.key && shown.notBefore === index) {
        this.liars.set(got.url, 'claimed a refusal the signed state contradicts');
        throw new SintraClientError(`${got.url} claimed the register at ${index} was refused, but the signed state shows it issued; retry`);
      }
      throw new CaRefusedError(response.error.code, `${response.error.code}: ${response.error.message}`, index);
    }
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
        const v = verifyDirectoryStatement(this.o.group, a.json);
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
  return later.status === 'revoked' && cert.status === 'active' && later.revokedAt !== null && later.revokedAt >= cert.notBefore && sameRecord({ ...later, status: 'active', revokedAt: null }, cert);
}

function sameRecord(a: CertificateRecord, b: CertificateRecord): boolean {
  return a.name === b.name && a.key === b.key && a.serial === b.serial && a.notBefore === b.notBefore && a.notAfter === b.notAfter && a.status === b.status && a.revokedAt === b.revokedAt;
}

/** SHA-256 of a document as the notary takes it (hex). */
export function documentDigest(document: Uint8Array): string {
  return toHex(sha256(document));
}

/** Whether a saved stamp receipt registers exactly this document. */
export function verifyDocumentStamp(group: Group, receiptJson: unknown, document: Uint8Array): StampVerdict {
  return verifyStampReceipt(group, receiptJson, documentDigest(document));
}

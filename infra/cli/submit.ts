/**
 * `sintra submit --url URL [--url URL ...] PAYLOAD`: a client for a person at a terminal (docs/api.md).
 *
 * Sends the request (PAYLOAD as text, or --file FILE as raw bytes) to every given replica: the replicas
 * de-duplicate by request id (SHA-256 of the bytes), and a client reaches a kernel of the structure (t + 1
 * replicas for a threshold group) so that an honest replica has it. Prints the request id. With --wait (or
 * --out) it polls GET /v1/requests/:id on the replicas until one reports `certified`, fetches the receipt and
 * verifies it locally (checkReceipt, as `sintra verify`) before printing or saving it; a replica serving a
 * receipt that does not verify is skipped. With --wait, --out or --encrypt the group comes from --group FILE
 * (pinned: replicas serving another group are refused before anything is sent) or, only with the explicit
 * --trust-served-group, from GET /v1/info (all replicas that answer must serve the same group; a warning
 * says what that trusts): infra/cli/trust.ts. Fewer replicas than a kernel get a warning.
 *
 * With --encrypt the request is encrypted to the group's key first (secure causal atomic broadcast,
 * shared/client/encrypt.ts): replicas see only a ciphertext until its position is fixed. The id printed is
 * then the ciphertext's (what replicas answer to before decryption); the receipt proves the plaintext,
 * whose id is checked against the local SHA-256.
 *
 * stdout: the id (then, with --wait, the result and the receipt unless --out saves it), or one JSON object
 * with --json. Progress goes to stderr. Exit code 1 on failure (one line `error: ...`), 2 on usage errors.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { checkOutOption, writeOutFile } from './out-file.ts';
import { checkTrustUsage, servedTrustWarning, warnUnlessKernel } from './trust.ts';
import { sha256 } from '@noble/hashes/sha2.js';
import { InvalidArgumentError } from 'commander';
import { toHex } from '../../shared/crypto/bytes.ts';
import { encryptRequest } from '../../shared/client/encrypt.ts';
import { parseGroup } from '../../shared/config/group.ts';
import type { Group } from '../../shared/config/group.ts';
import type { ReceiptJson } from '../../shared/log/checkpoint.ts';
import { UsageError } from './deal.ts';
import type { Io } from './deal.ts';
import { checkReceipt, fsReason, loadGroupFile } from './verify.ts';
import type { ReceiptSummary } from './verify.ts';

export interface SubmitOptions {
  url?: string[];
  file?: string;
  wait?: boolean;
  out?: string;
  /** Overwrite an existing --out file. */
  force?: boolean;
  json?: boolean;
  /** Seconds for the whole command (default 120). */
  timeout?: number;
  group?: string;
  /** Take the group the replicas serve instead of a pinned one (says so on stderr). */
  trustServedGroup?: boolean;
  /** Encrypt to the group key (secure causal atomic broadcast). */
  encrypt?: boolean;
  /** The ciphertext's label (default "sintra-cli"). */
  label?: string;
}

export const DEFAULT_TIMEOUT_SECONDS = 120;
/** No single HTTP exchange waits longer than this. */
const HTTP_TIMEOUT_MS = 15_000;

/** Commander argument parser for --timeout. */
export function seconds(value: string): number {
  if (!/^[0-9]{1,6}$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('--timeout must be a whole number of seconds >= 1');
  return Number(value);
}

/** Commander collector for the repeatable --url. */
export function collectUrl(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** A replica's base URL without a trailing slash; http(s) only. */
export function baseUrl(s: string): string {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new UsageError(`--url ${JSON.stringify(s)} is not a URL (e.g. http://127.0.0.1:8787)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`--url ${s}: only http and https URLs`);
  if (u.search || u.hash) throw new UsageError(`--url ${s}: give the replica's base URL, without a query or fragment`);
  return u.toString().replace(/\/+$/, '');
}

// ---------------------------------------------------------------------------------------------------------
// HTTP

interface HttpAnswer {
  readonly status: number;
  readonly json: unknown;
}

/** A failed exchange, as one line: `URL: reason`. */
export class HttpFailure extends Error {
  override readonly name = 'HttpFailure';
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`${url}: ${reason}`);
  }
}

function errorCode(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  if (typeof c === 'string') return c;
  const inner = (e as { errors?: unknown[] } | null)?.errors;
  return Array.isArray(inner) && inner.length > 0 ? errorCode(inner[0]) : undefined;
}

/** Why fetch threw, in a few words. */
export function networkReason(e: unknown, timeoutMs: number): { reason: string; retry: boolean } {
  const name = (e as { name?: unknown } | null)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return { reason: `no answer within ${Math.round(timeoutMs / 100) / 10} s`, retry: false };
  const cause = (e as { cause?: unknown } | null)?.cause ?? e;
  const code = errorCode(cause);
  switch (code) {
    case 'ECONNREFUSED':
      return { reason: 'connection refused', retry: false };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { reason: 'host not found', retry: false };
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return { reason: 'host unreachable', retry: false };
    case 'ECONNRESET':
      return { reason: 'connection reset', retry: true };
    case 'UND_ERR_SOCKET':
      return { reason: 'connection closed', retry: true };
  }
  const msg = cause instanceof Error ? cause.message : e instanceof Error ? e.message : String(e);
  return { reason: code ? `${msg} (${code})` : msg, retry: true };
}

/** `HTTP 400 bad-request: message` from the API's error body, or the status and the start of the body. */
export function httpErrorText(status: number, json: unknown, text: string): string {
  const err = (json as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (err && typeof err.code === 'string') return `HTTP ${status} ${err.code}${typeof err.message === 'string' ? `: ${err.message}` : ''}`;
  const body = text.replace(/\s+/g, ' ').trim();
  return `HTTP ${status}${body ? `: ${body.length > 100 ? `${body.slice(0, 100)}...` : body}` : ''} (not a Sintra Edge replica?)`;
}

/**
 * One exchange with a replica; resolves for every HTTP answer with a JSON body, throws HttpFailure for
 * network failures and non-JSON answers. A socket reused after the server closed it is retried once
 * (requests are idempotent: replicas de-duplicate by id).
 */
async function http(url: string, init: RequestInit, timeoutMs: number): Promise<HttpAnswer> {
  for (let attempt = 0; ; attempt++) {
    let res: Response;
    try {
      res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    } catch (e) {
      const { reason, retry } = networkReason(e, timeoutMs);
      if (retry && attempt === 0) continue;
      throw new HttpFailure(url, reason);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (e) {
      throw new HttpFailure(url, networkReason(e, timeoutMs).reason);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new HttpFailure(url, httpErrorText(res.status, null, text));
    }
    return { status: res.status, json };
  }
}

type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string; readonly reason: string };

async function attempt<T>(f: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await f() };
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    return { ok: false, error, reason: e instanceof HttpFailure ? e.reason : error };
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------------
// The command

interface Accepted {
  readonly url: string;
  readonly ok: true;
  readonly status: string;
  readonly index?: number;
  readonly replica?: string;
}
interface Refused {
  readonly url: string;
  readonly ok: false;
  readonly error: string;
}
type SubmitResult = Accepted | Refused;

const STATUS_RANK: Record<string, number> = { pending: 1, decrypting: 2, ordered: 3, certified: 4, skipped: 5 };

interface InfoGroup {
  readonly url: string;
  readonly groupId: string;
  readonly kernelKey: string;
  readonly file: unknown;
}

async function fetchInfo(url: string, timeoutMs: number): Promise<InfoGroup> {
  const r = await http(`${url}/v1/info`, {}, timeoutMs);
  if (r.status !== 200) throw new HttpFailure(`${url}/v1/info`, httpErrorText(r.status, r.json, ''));
  const group = (r.json as { group?: { groupId?: unknown; keys?: { kernel?: { groupKey?: unknown } } } } | null)?.group;
  const groupId = group?.groupId;
  const kernelKey = group?.keys?.kernel?.groupKey;
  if (typeof groupId !== 'string' || typeof kernelKey !== 'string') throw new HttpFailure(`${url}/v1/info`, 'the answer has no group (not a Sintra Edge replica?)');
  return { url, groupId, kernelKey, file: group };
}

/** The group the replicas serve (GET /v1/info); they must all agree. */
export async function groupServedBy(urls: readonly string[], budget: () => number, log: (line: string) => void, purpose: string): Promise<Group> {
  const infos = await Promise.all(urls.map((u) => attempt(() => fetchInfo(u, budget()))));
  const ok = infos.flatMap((i) => (i.ok ? [i.value] : []));
  if (ok.length === 0) throw new Error(`cannot fetch the group from any replica (${infos.map((i) => (i.ok ? '' : i.error)).join('; ')})`);
  const ids = new Set(ok.map((i) => `${i.groupId}/${i.kernelKey}`));
  if (ids.size > 1) throw new Error(`the replicas serve different groups (${ok.map((i) => `${i.url}: ${i.groupId.slice(0, 16)}...`).join(', ')}); pin the right one with --group group.json`);
  let group: Group;
  try {
    group = parseGroup(ok[0]!.file);
  } catch (e) {
    throw new Error(`${ok[0]!.url}/v1/info serves an invalid group: ${e instanceof Error ? e.message : String(e)}`);
  }
  log(`${purpose} group ${toHex(group.groupId).slice(0, 16)}... as served by ${ok.length === 1 ? 'the replica' : `${ok.length} replicas`}`);
  log(servedTrustWarning(group.groupId, ok.map((i) => i.url)));
  return group;
}

export async function submitCommand(payload: string | undefined, opts: SubmitOptions, io: Io): Promise<number> {
  // ---- usage
  const urls = [...new Set((opts.url ?? []).map(baseUrl))];
  if (urls.length === 0) throw new UsageError('give at least one --url URL (a kernel of the replicas: t + 1 of them for a threshold group)');
  if (payload !== undefined && opts.file !== undefined) throw new UsageError('give the request as PAYLOAD text or as --file FILE, not both');
  if (payload === undefined && opts.file === undefined) throw new UsageError('give the request as PAYLOAD text or as --file FILE');
  if (payload === '') throw new UsageError('the request is empty');
  if (opts.label !== undefined && !opts.encrypt) throw new UsageError('--label goes with --encrypt');
  checkTrustUsage(opts, Boolean(opts.encrypt || opts.wait || opts.out), opts.encrypt ? '--encrypt' : '--wait');
  // Before anything is submitted: a refusal afterwards would spend the request and leave no receipt file.
  await checkOutOption(opts);
  const wait = Boolean(opts.wait || opts.out);
  const started = Date.now();
  const deadline = started + (opts.timeout ?? DEFAULT_TIMEOUT_SECONDS) * 1000;
  const budget = () => Math.max(500, Math.min(HTTP_TIMEOUT_MS, deadline - Date.now()));
  const log = (line: string) => io.err(`${line}\n`);

  // ---- the request and the pinned group
  let bytes: Uint8Array;
  let body: RequestInit;
  if (opts.file !== undefined) {
    try {
      bytes = new Uint8Array(await readFile(opts.file));
    } catch (e) {
      throw new Error(`cannot read ${opts.file}: ${fsReason(e)}`);
    }
    if (bytes.length === 0) throw new Error(`${opts.file} is empty; replicas refuse empty requests`);
    body = { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bytes };
  } else {
    bytes = new TextEncoder().encode(payload!);
    body = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: payload }) };
  }
  let id = toHex(sha256(bytes));
  /** The id of the log entry (differs from `id` for an encrypted request). */
  const entryId = id;
  const pinned = opts.group !== undefined ? await loadGroupFile(opts.group) : null;
  let served: Group | null = null;
  if (opts.encrypt) {
    const group = pinned ?? (served = await groupServedBy(urls, budget, log, 'encrypting to'));
    const enc = encryptRequest(group, bytes, opts.label ?? 'sintra-cli', (n) => new Uint8Array(randomBytes(n)));
    id = enc.ciphertextId;
    body = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ciphertext: Buffer.from(enc.ciphertext).toString('base64') }) };
    log(`encrypted to group ${toHex(group.groupId).slice(0, 16)}... (${enc.ciphertext.length} bytes); ciphertext id ${id}, plaintext id ${entryId}`);
  }

  const known = pinned ?? served;
  if (known) await warnUnlessKernel(known, urls, log, budget());

  // ---- with a pinned group, every replica must serve it before it gets the request
  let targets = urls;
  const results: SubmitResult[] = [];
  if (pinned) {
    const infos = await Promise.all(urls.map((u) => attempt(() => fetchInfo(u, budget()))));
    const want = toHex(pinned.groupId);
    targets = [];
    infos.forEach((info, i) => {
      const url = urls[i]!;
      if (!info.ok) {
        results.push({ url, ok: false, error: `cannot check its group: ${info.reason}` });
        return;
      }
      if (info.value.groupId !== want || info.value.kernelKey !== pinned.file.keys.kernel.groupKey) {
        throw new Error(`${url} serves group ${info.value.groupId.slice(0, 16)}..., not the pinned group ${want.slice(0, 16)}... (${opts.group}); nothing was submitted`);
      }
      targets.push(url);
    });
  }

  // ---- submit to every replica
  const posted = await Promise.all(
    targets.map((url) =>
      attempt(async () => {
        const r = await http(`${url}/v1/requests`, body, budget());
        if (r.status !== 200 && r.status !== 202) throw new HttpFailure(url, httpErrorText(r.status, r.json, ''));
        const a = r.json as { id?: unknown; status?: unknown; index?: unknown; replica?: unknown };
        if (a.id !== id) throw new HttpFailure(url, `answered request id ${String(a.id)}, expected ${id} (SHA-256 of the ${opts.encrypt ? 'ciphertext' : 'request'})`);
        if (typeof a.status !== 'string' || !STATUS_RANK[a.status]) throw new HttpFailure(url, `answered an unknown status ${JSON.stringify(a.status)}`);
        return a;
      }),
    ),
  );
  posted.forEach((p, i) => {
    const url = targets[i]!;
    if (!p.ok) {
      results.push({ url, ok: false, error: p.reason });
      return;
    }
    const a = p.value;
    results.push({
      url,
      ok: true,
      status: a.status as string,
      ...(typeof a.index === 'number' ? { index: a.index } : {}),
      ...(typeof a.replica === 'string' ? { replica: a.replica } : {}),
    });
  });
  results.sort((a, b) => urls.indexOf(a.url) - urls.indexOf(b.url));
  const accepted = results.filter((r): r is Accepted => r.ok);
  if (accepted.length === 0) {
    const why = results.map((r) => (r.ok ? '' : `${r.url}: ${r.error}`)).join('; ');
    throw new Error(results.length === 1 ? why : `no replica accepted the request (${why})`);
  }
  for (const r of results) {
    if (r.ok) log(`submitted to ${r.replica ?? 'replica'} at ${r.url}: ${r.status}${r.index !== undefined ? ` at index ${r.index}` : ''}`);
    else log(`warning: ${r.url}: ${r.error}`);
  }
  if (accepted.length < urls.length) log(`warning: only ${accepted.length} of ${urls.length} replicas accepted the request; an honest one must have it to be sure it is ordered`);
  const best = accepted.reduce((a, b) => (STATUS_RANK[b.status]! > STATUS_RANK[a.status]! ? b : a));

  if (!wait) {
    if (opts.json) {
      io.out(`${JSON.stringify({ id, ...(opts.encrypt ? { plaintextId: entryId } : {}), status: best.status, ...(best.index !== undefined ? { index: best.index } : {}), replicas: results })}\n`);
    }
    else io.out(`${id}\n`);
    return 0;
  }
  if (!opts.json) io.out(`${id}\n`);

  // ---- the group to verify the receipt with
  const group: Group = pinned ?? served ?? (await groupServedBy(urls, budget, log, 'verifying with'));

  // ---- poll until a replica serves a receipt that verifies
  const bad = new Set<string>();
  const lastError = new Map<string, string>();
  let shown = best.status === 'pending' ? 'pending' : '';
  let dots = false;
  const endDots = () => {
    if (dots) io.err('\n');
    dots = false;
  };
  let interval = 250; // growing to 1 s
  let done: { url: string; json: ReceiptJson; summary: ReceiptSummary } | null = null;
  try {
    while (!done) {
      const polls = await Promise.all(urls.map((u) => attempt(() => http(`${u}/v1/requests/${id}`, {}, budget()))));
      let top: { url: string; status: string; index?: number; epoch?: number } | null = null;
      const certified: string[] = [];
      polls.forEach((p, i) => {
        const url = urls[i]!;
        if (!p.ok) return void lastError.set(url, p.error);
        if (p.value.status !== 200) return void lastError.set(url, `${url}/v1/requests/${id}: ${httpErrorText(p.value.status, p.value.json, '')}`);
        const s = p.value.json as { status?: unknown; index?: unknown; epoch?: unknown };
        if (typeof s.status !== 'string' || !STATUS_RANK[s.status]) return void lastError.set(url, `${url}: unknown status ${JSON.stringify(s.status)}`);
        lastError.delete(url);
        if (s.status === 'skipped') throw new Error(`${url}: the ciphertext was ordered but does not decrypt with the group key, so it has no log position (encrypted to another group?)`);
        if (s.status === 'certified' && !bad.has(url)) certified.push(url);
        if (!top || STATUS_RANK[s.status]! > STATUS_RANK[top.status]!) {
          top = { url, status: s.status, ...(typeof s.index === 'number' ? { index: s.index } : {}), ...(typeof s.epoch === 'number' ? { epoch: s.epoch } : {}) };
        }
      });
      const t = top as { url: string; status: string; index?: number; epoch?: number } | null;
      if (t && t.status !== shown && STATUS_RANK[t.status]! > (STATUS_RANK[shown] ?? 0)) {
        endDots();
        const where = t.index !== undefined ? ` at index ${t.index}${t.epoch !== undefined ? ` (epoch ${t.epoch})` : ''}` : '';
        log(`${t.status}${where} (${t.url})`);
        shown = t.status;
      }
      for (const url of certified) {
        const r = await attempt(() => http(`${url}/v1/receipts/${id}`, {}, budget()));
        if (!r.ok) {
          lastError.set(url, r.error);
          continue;
        }
        if (r.value.status !== 200) {
          lastError.set(url, `${url}/v1/receipts/${id}: ${httpErrorText(r.value.status, r.value.json, '')}`);
          continue;
        }
        const check = checkReceipt(r.value.json, group);
        if (check.ok && check.summary.requestId !== entryId) {
          endDots();
          log(`warning: ${url} served a receipt for another entry (id ${check.summary.requestId}); ignoring this replica`);
          bad.add(url);
          continue;
        }
        if (!check.ok) {
          endDots();
          log(`warning: ${url} served a receipt that does not verify (${check.reason}); ignoring this replica`);
          bad.add(url);
          continue;
        }
        done = { url, json: check.json, summary: check.summary };
        break;
      }
      if (done) break;
      if (bad.size === urls.length) throw new Error(`no replica served a receipt that verifies for request ${id}`);
      if (Date.now() >= deadline) {
        const errors = [...lastError.values()];
        const state = shown ? `still ${shown}` : 'not known to any replica';
        const why = !shown && errors.length ? ` (last error: ${errors[errors.length - 1]})` : '';
        throw new Error(`timed out after ${Math.round((Date.now() - started) / 1000)} s: request ${id} is ${state}${why}`);
      }
      io.err('.');
      dots = true;
      await sleep(Math.max(0, Math.min(interval, deadline - Date.now())));
      interval = Math.min(1000, Math.round(interval * 1.5));
    }
  } finally {
    endDots();
  }

  // ---- output
  const { summary } = done;
  const receiptText = `${JSON.stringify(done.json, null, 2)}\n`;
  if (opts.out !== undefined) await writeOutFile(opts.out, receiptText, opts.force);
  const line = `certified at index ${summary.index} (checkpoint size ${summary.checkpoint.size}, epoch ${summary.checkpoint.epoch}); receipt from ${done.url} verified with group ${summary.groupId.slice(0, 16)}...`;
  if (opts.json) {
    io.out(`${JSON.stringify({ id, ...(opts.encrypt ? { plaintextId: entryId } : {}), status: 'certified', index: summary.index, checkpoint: summary.checkpoint, replicas: results, receiptFrom: done.url, ...(opts.out !== undefined ? { out: opts.out } : {}), receipt: done.json })}\n`);
  } else if (opts.out !== undefined) {
    io.out(`${line}\nreceipt saved to ${opts.out}\n`);
  } else {
    io.out(`${line}\n${receiptText}`);
  }
  log(`took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return 0;
}

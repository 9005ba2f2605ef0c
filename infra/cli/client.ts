/**
 * What the networked commands (submit, stamp, ca, monitor) share around the client SDK
 * (shared/client/sdk.ts): their common options (--url/--cluster, --timeout), Node's fetch with a bound on
 * each exchange and failures said in a few words, the SDK client with progress on stderr, and the group the
 * replicas serve for --trust-served-group.
 */
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError } from 'commander';
import { toHex } from '../../shared/crypto/bytes.ts';
import { SintraClient } from '../../shared/client/sdk.ts';
import type { FetchLike } from '../../shared/client/sdk.ts';
import { parseGroup } from '../../shared/config/group.ts';
import type { Group } from '../../shared/config/group.ts';
import { UsageError } from './deal.ts';
import type { Io } from './deal.ts';
import { servedTrustWarning } from './trust.ts';

export const DEFAULT_TIMEOUT_SECONDS = 120;
/** No single HTTP exchange waits longer than this. */
export const HTTP_TIMEOUT_MS = 15_000;

/** Commander argument parser for --timeout. */
export function seconds(value: string): number {
  if (!/^[0-9]{1,6}$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('--timeout must be a whole number of seconds >= 1');
  return Number(value);
}

/** Commander collector for the repeatable --url / --cluster. */
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

function errorCode(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  if (typeof c === 'string') return c;
  const inner = (e as { errors?: unknown[] } | null)?.errors;
  return Array.isArray(inner) && inner.length > 0 ? errorCode(inner[0]) : undefined;
}

/** Why fetch threw, in a few words, and whether trying once more may help (a reused socket the server closed). */
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

/**
 * Node's fetch for the SDK: each exchange bounded by HTTP_TIMEOUT_MS (and the caller's signal), a failure
 * thrown as an Error saying why in a few words ("connection refused"), and one retry when a reused socket
 * turns out closed (requests are idempotent: replicas de-duplicate by id). Resolves with the Response.
 */
export const nodeFetch: FetchLike = async (url, init) => {
  for (let attempt = 0; ; attempt++) {
    const timeout = AbortSignal.timeout(HTTP_TIMEOUT_MS);
    const signal = init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    try {
      return await fetch(url, { ...init, signal });
    } catch (e) {
      if (init?.signal?.aborted) throw e;
      const { reason, retry } = networkReason(e, HTTP_TIMEOUT_MS);
      if (!(retry && attempt === 0)) throw new Error(reason, { cause: e });
    }
  }
};

/**
 * The SDK client of the CLI commands: nodeFetch, progress dots on stderr for polls, log lines that end the
 * dots, the command's --timeout. The SDK races replies against sleeps (patience); `done` clears the timers
 * that lost their race, so they do not keep the process alive, and ends the dots.
 */
export function cliClient(group: Group | null, urls: readonly string[], timeoutSeconds: number | undefined, io: Io): { client: SintraClient; done: () => void } {
  let dots = false;
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const client = new SintraClient({
    group,
    urls,
    fetch: nodeFetch,
    sleep: (ms) =>
      new Promise((r) => {
        const t = setTimeout(() => {
          timers.delete(t);
          r();
        }, ms);
        timers.add(t);
      }),
    onPoll: () => {
      io.err('.');
      dots = true;
    },
    randomBytes: (n) => new Uint8Array(randomBytes(n)),
    log: (line) => {
      if (dots) io.err('\n');
      dots = false;
      io.err(`${line}\n`);
    },
    timeoutMs: (timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000,
    now: () => Date.now(),
  });
  return {
    client,
    done: () => {
      if (dots) io.err('\n');
      dots = false;
      for (const t of timers) clearTimeout(t);
    },
  };
}

/** `HTTP 400 bad-request: message` from the API's error body, or the status and the start of the body. */
function httpErrorText(status: number, json: unknown, text: string): string {
  const err = (json as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (err && typeof err.code === 'string') return `HTTP ${status} ${err.code}${typeof err.message === 'string' ? `: ${err.message}` : ''}`;
  const body = text.replace(/\s+/g, ' ').trim();
  return `HTTP ${status}${body ? `: ${body.length > 100 ? `${body.slice(0, 100)}...` : body}` : ''} (not a Sintra Edge replica?)`;
}

/** One replica's /v1/info group, or why not (one line, naming the URL). */
async function infoGroup(url: string): Promise<{ url: string; groupId: string; kernelKey: string; file: unknown } | { error: string }> {
  const where = `${url}/v1/info`;
  try {
    const res = await nodeFetch(where);
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return { error: `${where}: ${httpErrorText(res.status, null, text)}` };
    }
    if (res.status !== 200) return { error: `${where}: ${httpErrorText(res.status, json, '')}` };
    const group = (json as { group?: { groupId?: unknown; keys?: { kernel?: { groupKey?: unknown } } } } | null)?.group;
    const groupId = group?.groupId;
    const kernelKey = group?.keys?.kernel?.groupKey;
    if (typeof groupId !== 'string' || typeof kernelKey !== 'string') return { error: `${where}: the answer has no group (not a Sintra Edge replica?)` };
    return { url, groupId, kernelKey, file: group };
  } catch (e) {
    return { error: `${where}: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/**
 * The group the replicas serve (GET /v1/info), for --trust-served-group: every replica that answers must
 * serve the same one. Logs `<purpose> group ... as served by ...` and the warning of what that trusts.
 */
export async function groupServedBy(urls: readonly string[], log: (line: string) => void, purpose: string): Promise<Group> {
  const infos = await Promise.all(urls.map(infoGroup));
  const ok = infos.flatMap((i) => ('error' in i ? [] : [i]));
  if (ok.length === 0) throw new Error(`cannot fetch the group from any replica (${infos.map((i) => ('error' in i ? i.error : '')).join('; ')})`);
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

/** The group all given replicas serve, when none is pinned (stamp, ca). */
export function servedGroup(urls: readonly string[], log: (s: string) => void): Promise<Group> {
  return groupServedBy(urls, log, 'using');
}

/**
 * Fetching a state transfer from a peer (docs/design.md section 7a): its latest signed checkpoint, and the
 * log entries from this replica's size up to a checkpoint, over the peer's public log routes
 * (GET /v1/log/checkpoint, /v1/log/entries). Nothing here is trusted: the core checks the group signature
 * and that the entries extend this replica's log to the signed root (HostCore.transfer), so a lying peer
 * only wastes a fetch. Large gaps go in chunks (ChunkLimits: 8 MiB or 50,000 entries), each to the earliest signed
 * checkpoint covering it, so a replica far behind never holds more than one chunk.
 */
import { fromBase64 } from '../../shared/crypto/bytes.ts';
import { checkpointFromJson } from '../../shared/log/checkpoint.ts';
import type { SignedCheckpoint } from '../../shared/log/checkpoint.ts';
import type { StoredEntry } from '../../shared/replica/storage.ts';

/** A JSON GET to a peer's public route: HTTP status and body. */
export type PeerGet = (path: string) => Promise<{ readonly status: number; readonly body: unknown }>;

/**
 * A chunk stops growing at `bytes` of entries or `entries` entries (it ends at a checkpoint, so it may run up
 * to one epoch over); pages of `page` entries (GET /v1/log/entries answers at most 1000).
 */
export interface ChunkLimits {
  readonly bytes: number;
  readonly entries: number;
  readonly page: number;
}

export const DEFAULT_CHUNK_LIMITS: ChunkLimits = { bytes: 8 * 1024 * 1024, entries: 50_000, page: 1000 };

export class TransferFetchError extends Error {
  override readonly name = 'TransferFetchError';
}

/** The peer's latest signed checkpoint, or (covering) its earliest one whose size exceeds that index; null: none. */
export async function fetchCheckpoint(get: PeerGet, covering?: number): Promise<SignedCheckpoint | null> {
  const r = await get(covering === undefined ? '/v1/log/checkpoint' : `/v1/log/checkpoint?covering=${covering}`);
  if (r.status === 404) return null;
  if (r.status !== 200) throw new TransferFetchError(`checkpoint: HTTP ${r.status}`);
  try {
    return checkpointFromJson(r.body);
  } catch (e) {
    throw new TransferFetchError(`checkpoint: ${e instanceof Error ? e.message : String(e)}`);
  }
}

async function fetchPage(get: PeerGet, start: number, end: number): Promise<StoredEntry[]> {
  const r = await get(`/v1/log/entries?start=${start}&end=${end}`);
  if (r.status !== 200) throw new TransferFetchError(`entries ${start}..${end}: HTTP ${r.status}`);
  const list = (r.body as { entries?: unknown } | null)?.entries;
  if (!Array.isArray(list)) throw new TransferFetchError(`entries ${start}..${end}: no entries list`);
  return list.map((x: unknown, k) => {
    const o = x as { index?: unknown; id?: unknown; epoch?: unknown; time?: unknown; data?: unknown } | null;
    const entry = typeof o?.data === 'string' ? fromBase64(o.data) : null;
    if (o?.index !== start + k || typeof o.id !== 'string' || !Number.isSafeInteger(o.epoch) || !Number.isSafeInteger(o.time) || !entry) {
      throw new TransferFetchError(`entries ${start}..${end}: entry ${start + k} malformed`);
    }
    return { index: start + k, id: o.id, epoch: o.epoch as number, time: o.time as number, entry };
  });
}

/**
 * One chunk from `start` toward `latest`: the entries up to a signed checkpoint and that checkpoint
 * (`latest` itself when the rest fits one chunk).
 */
export async function fetchTransferChunk(
  get: PeerGet,
  start: number,
  latest: SignedCheckpoint,
  limits: ChunkLimits = DEFAULT_CHUNK_LIMITS,
): Promise<{ checkpoint: SignedCheckpoint; records: StoredEntry[] }> {
  const PAGE = limits.page;
  const records: StoredEntry[] = [];
  let bytes = 0;
  const fill = async (end: number) => {
    while (start + records.length < end) {
      const from = start + records.length;
      const page = await fetchPage(get, from, Math.min(end, from + PAGE));
      if (page.length === 0) throw new TransferFetchError(`entries from ${from}: the peer has none`);
      for (const e of page) bytes += e.entry.length;
      records.push(...page);
    }
  };
  while (start + records.length < latest.size && bytes < limits.bytes && records.length < limits.entries) {
    await fill(Math.min(latest.size, start + records.length + PAGE));
  }
  let checkpoint = latest;
  if (start + records.length < latest.size) {
    const c = await fetchCheckpoint(get, start + records.length - 1);
    if (!c || c.size < start + records.length || c.size > latest.size) throw new TransferFetchError(`no usable checkpoint covering entry ${start + records.length - 1}`);
    checkpoint = c;
    await fill(c.size);
  }
  return { checkpoint, records: records.slice(0, checkpoint.size - start) };
}

/**
 * A log monitor (the role CT monitors play for certificate logs): it follows every replica's latest signed
 * checkpoint, checks each signature against the pinned group and each new checkpoint's consistency with the
 * newest one verified (SintraClient.observeCheckpoint), fetches every new entry and checks that the entries
 * give the signed root (RFC 6962, with the tree's right edge kept here: merkle-nodes.ts). It stops at the
 * first evidence of misbehaviour: a replica serving a checkpoint that does not verify, a consistency proof
 * that does not verify, or entries that do not give the signed root (a liar), or two signed checkpoints
 * that cannot both be true (a fork: more corrupt replicas than tolerated). Runtime-free: fetch and sleep
 * are injected (the CLI's `sintra monitor` passes Node's).
 */
import { checkpointFromJson, checkpointToJson, verifyCheckpoint } from '../log/checkpoint.ts';
import type { CheckpointJson, SignedCheckpoint } from '../log/checkpoint.ts';
import { leafHash } from '../log/merkle.ts';
import { MerkleFrontier } from '../log/merkle-nodes.ts';
import { bytesEqual, fromBase64, toHex } from '../crypto/bytes.ts';
import { ForkError, SintraClient, SintraClientError } from './sdk.ts';
import type { SintraClientOptions } from './sdk.ts';
import type { Group } from '../config/group.ts';

export type MonitorEvent =
  | { readonly type: 'checkpoint'; readonly url: string; readonly size: number; readonly epoch: number; readonly root: string }
  | { readonly type: 'entries'; readonly url: string; readonly from: number; readonly to: number; readonly root: string }
  | { readonly type: 'unreachable'; readonly url: string; readonly reason: string }
  | { readonly type: 'liar'; readonly url: string; readonly reason: string; readonly checkpoint?: CheckpointJson }
  | { readonly type: 'fork'; readonly why: string; readonly older: CheckpointJson; readonly newer: CheckpointJson };

export interface MonitorOptions extends Pick<SintraClientOptions, 'urls' | 'fetch' | 'sleep' | 'patienceMs'> {
  /** The pinned group (parseGroup of group.json). */
  readonly group: Group;
  /** Between rounds (default 10 s). */
  readonly intervalMs?: number;
  /** Rounds to run (default: until evidence is found). */
  readonly rounds?: number;
  /** Entries per /v1/log/entries page (default 1000, the replicas' limit). */
  readonly pageSize?: number;
  readonly onEvent: (e: MonitorEvent) => void;
}

export interface MonitorResult {
  /** false: evidence was found (the last event says what). */
  readonly ok: boolean;
  /** Entries fetched and verified against a signed root. */
  readonly verifiedSize: number;
  readonly newest: SignedCheckpoint | null;
}

async function getJson(o: MonitorOptions, url: string): Promise<{ status: number; json: unknown }> {
  const res = await o.fetch(url, { method: 'GET' });
  const text = await res.text();
  try {
    return { status: res.status, json: JSON.parse(text) as unknown };
  } catch {
    return { status: res.status, json: null };
  }
}

export async function runMonitor(o: MonitorOptions): Promise<MonitorResult> {
  const client = new SintraClient({ group: o.group, urls: o.urls, fetch: o.fetch, sleep: o.sleep, ...(o.patienceMs !== undefined ? { patienceMs: o.patienceMs } : {}) });
  const urls = [...new Set(o.urls.map((u) => u.replace(/\/+$/, '')))];
  const liar = (url: string, reason: string, cp?: SignedCheckpoint): MonitorResult => {
    o.onEvent({ type: 'liar', url, reason, ...(cp ? { checkpoint: checkpointToJson(cp) } : {}) });
    return { ok: false, verifiedSize: frontier.size, newest: client.newestCheckpoint };
  };
  let frontier = new MerkleFrontier();
  const reported = new Map<string, number>();
  for (let round = 0; o.rounds === undefined || round < o.rounds; round++) {
    if (round > 0) await o.sleep(o.intervalMs ?? 10_000);
    for (const url of urls) {
      let a: { status: number; json: unknown };
      try {
        a = await getJson(o, `${url}/v1/log/checkpoint`);
      } catch (e) {
        o.onEvent({ type: 'unreachable', url, reason: e instanceof Error ? e.message : String(e) });
        continue;
      }
      if (a.status === 404) continue; // nothing certified yet
      if (a.status !== 200) {
        o.onEvent({ type: 'unreachable', url, reason: `HTTP ${a.status}` });
        continue;
      }
      let cp: SignedCheckpoint;
      try {
        cp = checkpointFromJson(a.json);
      } catch (e) {
        return liar(url, `served a malformed checkpoint: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (!verifyCheckpoint(o.group.kernel.groupKey, o.group.groupId, cp)) return liar(url, "served a checkpoint whose signature does not verify with the group's key", cp);
      try {
        await client.observeCheckpoint(cp, url);
      } catch (e) {
        if (e instanceof ForkError) {
          o.onEvent({ type: 'fork', why: e.message, older: checkpointToJson(e.older), newer: checkpointToJson(e.newer) });
          return { ok: false, verifiedSize: frontier.size, newest: client.newestCheckpoint };
        }
        if (e instanceof SintraClientError) return liar(url, e.message, cp);
        throw e;
      }
      const bad = client.liarList()[0];
      if (bad) return liar(bad.url, bad.reason);
      if ((reported.get(url) ?? -1) < cp.size) {
        reported.set(url, cp.size);
        o.onEvent({ type: 'checkpoint', url, size: cp.size, epoch: cp.epoch, root: toHex(cp.root) });
      }
    }
    // New entries, up to the newest verified checkpoint, from any replica; each replica's pages must give
    // that checkpoint's root, or it lied about them.
    const target = client.newestCheckpoint;
    if (!target || target.size <= frontier.size) continue;
    let done = false;
    for (const url of urls) {
      const next = MerkleFrontier.fromJSON(frontier.toJSON());
      const from = next.size;
      let failure: string | null = null;
      while (next.size < target.size && failure === null) {
        const end = Math.min(target.size, next.size + (o.pageSize ?? 1000));
        let a: { status: number; json: unknown };
        try {
          a = await getJson(o, `${url}/v1/log/entries?start=${next.size}&end=${end}`);
        } catch (e) {
          failure = `unreachable: ${e instanceof Error ? e.message : String(e)}`;
          break;
        }
        const entries = (a.json as { entries?: unknown } | null)?.entries;
        if (a.status !== 200 || !Array.isArray(entries) || entries.length === 0) {
          failure = `unreachable: HTTP ${a.status} for entries ${next.size}..${end - 1}`;
          break;
        }
        for (const e of entries as { index?: unknown; data?: unknown }[]) {
          const data = typeof e?.data === 'string' ? fromBase64(e.data) : null;
          if (e?.index !== next.size || !data) {
            failure = `served a malformed entry at ${next.size}`;
            break;
          }
          next.append(leafHash(data));
          if (next.size === target.size) break;
        }
      }
      if (failure?.startsWith('unreachable')) {
        o.onEvent({ type: 'unreachable', url, reason: failure.slice('unreachable: '.length) });
        continue;
      }
      if (failure) return liar(url, failure, target);
      if (!bytesEqual(next.root(), target.root)) return liar(url, `served entries ${from}..${target.size - 1} that do not give the signed root of size ${target.size}`, target);
      frontier = next;
      o.onEvent({ type: 'entries', url, from, to: target.size, root: toHex(target.root) });
      done = true;
      break;
    }
    if (!done) o.onEvent({ type: 'unreachable', url: urls.join(' '), reason: `no replica served entries ${frontier.size}..${target.size - 1}` });
  }
  return { ok: true, verifiedSize: frontier.size, newest: client.newestCheckpoint };
}

/**
 * n in-memory replica hosts (workers/core/host.ts) of a seeded test group, wired to each other directly
 * (each POST is the receiver's receiveFrame), on one fake clock: `settle` flushes until no outbox holds
 * anything, `app(i)` is replica i's HTTP app, `restart(i)` rebuilds replica i from its store.
 */
import { replicaApp } from '../../workers/core/app.ts';
import type { AppOptions } from '../../workers/core/app.ts';
import { ReplicaHost } from '../../workers/core/host.ts';
import type { HostOptions, PeerTransport } from '../../workers/core/host.ts';
import { MemoryStore } from '../../workers/core/store.ts';
import { testGroup } from './group.ts';
import type { TestGroup } from './group.ts';

export interface HostClusterOptions {
  readonly n?: number;
  /** HostOptions.compactAfter of every host. */
  readonly compactAfter?: number;
  /** More host options for every host. */
  readonly host?: HostOptions;
  /** And for host i alone (after `host`). */
  readonly hostFor?: (i: number) => HostOptions;
  /** The fake clock's start, ms since 1970 (default 1,000,000). */
  readonly clockStart?: number;
  /** The group (default testGroup(n)); e.g. one dealt without echo keys. */
  readonly group?: TestGroup;
  /** How a frame reaches replica `to` (default: its host's receiveFrame, directly); e.g. through its HTTP app. */
  readonly post?: (to: number, frame: Uint8Array) => Promise<{ status: number; body: unknown }>;
}

export function hostCluster(o: HostClusterOptions = {}) {
  const n = o.n ?? 4;
  const { group, secrets } = o.group ?? testGroup(n);
  const stores = Array.from({ length: n }, () => new MemoryStore());
  let clock = o.clockStart ?? 1_000_000;
  const hosts: ReplicaHost[] = [];
  /** Replicas cut off: nothing reaches them and nothing of theirs goes out (connection refused). */
  const down = new Set<number>();
  const make = (i: number) => {
    const transport: PeerTransport = {
      post: async (to, frame) => {
        if (down.has(to) || down.has(i)) throw new Error('connection refused');
        if (o.post) return o.post(to, frame);
        const r = await hosts[to]!.receiveFrame(frame);
        return { status: r.status, body: JSON.parse(JSON.stringify(r.body)) };
      },
      get: async (to, path) => {
        if (down.has(to) || down.has(i)) throw new Error('connection refused');
        const res = await app(to).request(path);
        return { status: res.status, body: (await res.json()) as unknown };
      },
    };
    return new ReplicaHost(group, secrets[i]!, stores[i]!, transport, () => clock, {
      bootstrap: true,
      retryMinMs: 10,
      retryMaxMs: 100,
      deferRetryMs: 10,
      ...(o.compactAfter ? { compactAfter: o.compactAfter } : {}),
      ...o.host,
      ...o.hostFor?.(i),
    });
  };
  for (let i = 0; i < n; i++) hosts.push(make(i));
  /** Flushes until no replica that is up holds anything for another that is up. */
  const settle = async () => {
    for (let round = 0; round < 2000; round++) {
      for (const [i, h] of hosts.entries()) if (!down.has(i)) await h.flush();
      if (!hosts.some((h, i) => !down.has(i) && h.outboxSizes().some((x, j) => x > 0 && !down.has(j)))) return;
      clock += 50;
    }
    throw new Error('did not settle');
  };
  const app = (i: number, extra: Partial<Omit<AppOptions, 'now' | 'afterChange'>> = {}) => replicaApp(hosts[i]!, { now: () => clock, afterChange: () => undefined, ...extra });
  return {
    group,
    secrets,
    hosts,
    stores,
    settle,
    app,
    down,
    restart: (i: number) => void (hosts[i] = make(i)),
    advance: (ms: number) => void (clock += ms),
  };
}

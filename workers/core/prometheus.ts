/**
 * `GET /metrics` in the Prometheus text exposition format (version 0.0.4): the numbers of /v1/metrics as
 * gauges and counters with a `peer` label where they are per link, plus the latency of this replica's
 * HTTP routes as a histogram by route and status class. Names are prefixed `sintra_`; counters end in
 * `_total` and count since the replica's process or isolate started (or since load, for the host's).
 */
import type { HostCoreMetrics, ReplicaMode } from '../../shared/replica/host-core.ts';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Upper bounds (seconds) of the latency histogram's buckets. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

interface Histogram {
  readonly counts: number[];
  sum: number;
  count: number;
}

/** HTTP latency by (route pattern, status class); bounded: routes are the app's own patterns. */
export class RouteLatencies {
  private readonly byKey = new Map<string, Histogram>();

  observe(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${route} ${Math.floor(status / 100)}xx`;
    let h = this.byKey.get(key);
    if (!h) {
      if (this.byKey.size >= 512) return;
      this.byKey.set(key, (h = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 }));
    }
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) h.counts[i]!++;
    h.sum += seconds;
    h.count++;
  }

  lines(): string[] {
    const name = 'sintra_http_request_duration_seconds';
    const out = [`# HELP ${name} Time to answer an HTTP request, by route and status class.`, `# TYPE ${name} histogram`];
    for (const [key, h] of [...this.byKey].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const [method, route, status] = key.split(' ') as [string, string, string];
      const labels = `method="${method}",route="${escapeLabel(route)}",status="${status}"`;
      BUCKETS.forEach((le, i) => out.push(`${name}_bucket{${labels},le="${le}"} ${h.counts[i]}`));
      out.push(`${name}_bucket{${labels},le="+Inf"} ${h.count}`, `${name}_sum{${labels}} ${num(h.sum)}`, `${name}_count{${labels}} ${h.count}`);
    }
    return out;
  }
}

const MODES: readonly ReplicaMode[] = ['active', 'not-bootstrapped', 'lost-state'];

/** The exposition text for one replica's metrics. */
export function prometheusText(m: HostCoreMetrics, latencies?: RouteLatencies, extra: { readonly checkpointAgeMs?: number | null; readonly beaconProduced?: number } = {}): string {
  const out: string[] = [];
  const metric = (name: string, type: 'gauge' | 'counter', help: string, samples: readonly (readonly [string, number])[]) => {
    out.push(`# HELP sintra_${name} ${help}`, `# TYPE sintra_${name} ${type}`);
    for (const [labels, v] of samples) out.push(`sintra_${name}${labels ? `{${labels}}` : ''} ${num(v)}`);
  };
  const e = m.engine;
  const replica = `replica="${escapeLabel(m.replica)}"`;
  const one = (v: number): (readonly [string, number])[] => [[replica, v]];
  const perPeer = <T>(rows: readonly T[], peer: (r: T, i: number) => number, v: (r: T) => number) => rows.map((r, i) => [`${replica},peer="${peer(r, i)}"`, v(r)] as const);

  metric('replica_info', 'gauge', 'Always 1; labels name the replica and its index.', [[`${replica},index="${m.index}"`, 1]]);
  metric('mode', 'gauge', 'Replica mode: 1 for the current one (active, not-bootstrapped, lost-state).', MODES.map((mode) => [`${replica},mode="${mode}"`, m.mode === mode ? 1 : 0] as const));
  metric('epoch', 'gauge', 'Current atomic-broadcast epoch.', one(e.epoch));
  metric('log_size', 'gauge', 'Entries in the ordered log.', one(e.logSize));
  metric('pending_requests', 'gauge', 'Requests waiting to be ordered at this replica.', one(e.pending));
  metric('checkpoint_size', 'gauge', 'Log size covered by the latest group-signed checkpoint (0: none yet).', one(e.checkpoint?.size ?? 0));
  metric('checkpoint_epoch', 'gauge', 'Epoch of the latest group-signed checkpoint (-1: none yet).', one(e.checkpoint?.epoch ?? -1));
  if (extra.checkpointAgeMs !== undefined && extra.checkpointAgeMs !== null) {
    metric('checkpoint_age_seconds', 'gauge', 'Seconds since this replica got its latest group-signed checkpoint (since its load, if that is later).', one(extra.checkpointAgeMs / 1000));
  }
  if (extra.beaconProduced !== undefined) {
    metric('beacon_produced_round', 'gauge', 'Newest randomness beacon round this replica combined and stored since it started (0: none).', one(extra.beaconProduced));
  }
  metric('uncertified_entries', 'gauge', 'Log entries no signed checkpoint covers yet.', one(e.logSize - (e.checkpoint?.size ?? 0)));
  metric('memory_estimated_bytes', 'gauge', "The engine's estimate of the state it retains.", one(e.memory.estimatedBytes));
  metric('memory_budget_bytes', 'gauge', 'Estimate at which submissions are refused (memory-full).', one(e.memory.budgetBytes));
  metric('aba_max_round', 'gauge', 'Highest binary-agreement round reached.', one(e.maxAbaRound));
  metric('engine_events_total', 'counter', 'Events the engine handled.', one(e.events));
  metric(
    'peer_faults_total',
    'counter',
    'Faults recorded against a peer (invalid or equivocating protocol messages).',
    Object.entries(e.faultsByPeer).map(([p, v]) => [`${replica},peer="${p}"`, v] as const),
  );
  metric('outbox_messages', 'gauge', 'Messages queued for a peer, not yet acknowledged.', perPeer(m.outbox, (_r, i) => i, (v) => v));
  metric('link_failures_total', 'counter', 'Failed sends to a peer since load.', perPeer(m.links, (l) => l.peer, (l) => l.failures));
  metric('link_sent_frames_total', 'counter', 'Frames sent to a peer since load.', perPeer(m.links, (l) => l.peer, (l) => l.sentFrames));
  metric('link_acked_messages_total', 'counter', 'Messages a peer acknowledged since load.', perPeer(m.links, (l) => l.peer, (l) => l.ackedMessages));
  metric('link_dropped_total', 'counter', 'Messages from a peer dropped (refused frames, oversized).', perPeer(m.links, (l) => l.peer, (l) => l.dropped));
  metric('link_unchanged_total', 'counter', 'Messages from a peer acknowledged without journaling (they changed nothing).', perPeer(m.links, (l) => l.peer, (l) => l.unchanged));
  metric('link_fault_budget', 'gauge', 'Faults a peer may still cause before its frames wait (429).', perPeer(m.links, (l) => l.peer, (l) => l.faultBudget));
  metric('link_unchanged_budget', 'gauge', 'Messages that change nothing a peer may still send before its frames wait (429).', perPeer(m.links, (l) => l.peer, (l) => l.unchangedBudget));
  metric('link_throttled_total', 'counter', "Frames from a peer refused because its fault budget was spent.", perPeer(m.links, (l) => l.peer, (l) => l.throttled));
  metric('replayed_events', 'gauge', 'Journal events replayed at the last load.', one(m.replayedEvents));
  metric('journal_events', 'gauge', 'Journal events since the last snapshot.', one(m.journalEvents));
  metric('compactions_total', 'counter', 'Snapshots written (journal compactions) since load.', one(m.compactions));
  metric('rejoins_total', 'counter', 'Times this replica rejoined after lost state (active again from a signed checkpoint past its passive bound) since load.', one(m.rejoins));
  metric('rejoin_passive_until', 'gauge', 'While rejoining after lost state: the epoch from whose signed checkpoint on it takes part again (-1: not rejoining, or bound not known yet).', one(m.rejoin?.passiveUntil ?? -1));
  metric('outbox_trimmed_total', 'counter', 'Outbox messages dropped since load: of epochs a signed checkpoint covers, for peers that far behind (they take a state transfer).', one(m.trimmedMessages));
  if (latencies) out.push(...latencies.lines());
  return `${out.join('\n')}\n`;
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

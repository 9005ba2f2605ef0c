/**
 * What GET /v1/health reports beyond "loaded": a replica a load balancer should not send work to.
 *
 * - not active (mode not-bootstrapped or lost-state: it signs nothing);
 * - fewer than a quorum of the structure reachable, counting itself: a peer is unreachable while its
 *   latest send failed (link failures > 0; a peer never tried yet counts as reachable);
 * - stalled: work waits (pending requests, or log entries no checkpoint covers) and the latest signed
 *   checkpoint has not grown for `stallMs` (default 60 s). Progress is observed when health is asked,
 *   so a stall shows once health has been polled across that window.
 */
import { ConfigError } from '../../shared/config/group.ts';
import type { QuorumSystem } from '../../shared/quorum/quorum-system.ts';
import type { HostCoreMetrics } from '../../shared/replica/host-core.ts';

export const DEFAULT_HEALTH_STALL_MS = 60_000;

/**
 * SINTRA_HEALTH_STALL_SECONDS (every adapter): how long work may wait without a new checkpoint before
 * health answers 503 `stalled` (default 60). Shorter suits a load balancer that should move clients fast;
 * longer, a group under heavy load whose epochs take long.
 */
export function healthStallOption(value: unknown): { healthStallMs?: number } {
  if (value === undefined || value === '') return {};
  const s = typeof value === 'string' ? Number(value) : NaN;
  if (!Number.isFinite(s) || s < 1 || s > 86_400) throw new ConfigError('SINTRA_HEALTH_STALL_SECONDS', `expected a number of seconds from 1 to 86400, got ${JSON.stringify(value)}`);
  return { healthStallMs: Math.round(s * 1000) };
}

export type HealthVerdict = { readonly ok: true } | { readonly ok: false; readonly code: 'not-bootstrapped' | 'lost-state' | 'peers-unreachable' | 'stalled'; readonly message: string };

export class HealthCheck {
  private lastSize = -1;
  private since = 0;

  constructor(
    private readonly quorum: QuorumSystem,
    private readonly me: number,
    private readonly names: readonly string[],
    private readonly stallMs = DEFAULT_HEALTH_STALL_MS,
  ) {}

  check(m: HostCoreMetrics, now: number): HealthVerdict {
    if (m.mode !== 'active') {
      return { ok: false, code: m.mode, message: m.mode === 'lost-state' ? "this replica's peers showed that its storage lost what it had written; it signs nothing while it rejoins" : 'this replica has empty storage and was not started as a new group; it starts nothing' };
    }
    const reachable = [this.me, ...m.links.filter((l) => l.peer !== this.me && l.failures === 0).map((l) => l.peer)];
    if (!this.quorum.isQuorum(reachable)) {
      const down = m.links.filter((l) => l.peer !== this.me && l.failures > 0).map((l) => `${this.names[l.peer] ?? l.peer} (${(l.lastError ?? 'failing').slice(0, 80)})`);
      return { ok: false, code: 'peers-unreachable', message: `fewer than a quorum of replicas reachable; failing: ${down.join(', ')}` };
    }
    const size = m.engine.checkpoint?.size ?? 0;
    if (size !== this.lastSize) {
      this.lastSize = size;
      this.since = now;
    }
    const waiting = m.engine.pending > 0 || m.engine.logSize > size;
    if (!waiting) this.since = now;
    else if (now - this.since >= this.stallMs) {
      return { ok: false, code: 'stalled', message: `work waits (${m.engine.pending} pending, ${m.engine.logSize - size} entries uncertified) and no new checkpoint for ${Math.round((now - this.since) / 1000)} s` };
    }
    return { ok: true };
  }
}

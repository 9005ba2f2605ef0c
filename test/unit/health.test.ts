/**
 * GET /v1/health reflects progress, not only "loaded" (workers/core/health.ts): 200 while a quorum is
 * reachable and checkpoints keep up; 503 peers-unreachable when sends to too many peers fail; 503 stalled
 * when work waits and no checkpoint comes for the stall window; healthy again once progress resumes.
 */
import { describe, expect, it } from 'vitest';
import { replicaApp } from '../../workers/core/app.ts';
import { ReplicaHost } from '../../workers/core/host.ts';
import type { PeerTransport } from '../../workers/core/host.ts';
import { MemoryStore } from '../../workers/core/store.ts';
import { testGroup } from '../helpers/group.ts';
import { hostCluster } from '../helpers/host-cluster.ts';

const { group, secrets } = testGroup(4);

/** Replica 0 alone, its peers behind `transport`; a clock the test moves. */
function lonely(transport: PeerTransport) {
  let clock = 1_000_000;
  const host = new ReplicaHost(group, secrets[0]!, new MemoryStore(), transport, () => clock, { bootstrap: true, retryMinMs: 10, retryMaxMs: 100 });
  const app = replicaApp(host, { now: () => clock, afterChange: () => undefined, healthStallMs: 30_000 });
  return { host, app, advance: (ms: number) => void (clock += ms) };
}

const submit = (app: ReturnType<typeof replicaApp>, text: string) =>
  app.request('/v1/requests', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
const health = async (app: ReturnType<typeof replicaApp>) => {
  const r = await app.request('/v1/health');
  return { status: r.status, json: (await r.json()) as { ok: boolean; error?: { code: string; message: string } } };
};

describe('GET /v1/health', () => {
  it('200 in a group that certifies', async () => {
    const c = hostCluster();
    expect((await submit(c.app(0), 'fine')).status).toBe(202);
    await c.settle();
    expect(await health(c.app(2))).toMatchObject({ status: 200, json: { ok: true } });
  });

  it('503 peers-unreachable when sends to all peers fail, naming them', async () => {
    const l = lonely({ post: async () => Promise.reject(new Error('connect ECONNREFUSED')) });
    expect((await health(l.app)).status).toBe(200); // nothing tried yet
    expect((await submit(l.app, 'nobody hears')).status).toBe(202);
    await l.host.flush();
    const h = await health(l.app);
    expect(h.status).toBe(503);
    expect(h.json.ok).toBe(false);
    expect(h.json.error!.code).toBe('peers-unreachable');
    expect(h.json.error!.message).toContain(group.replicas[1]!.id);
  });

  it('503 stalled when work waits and no checkpoint comes; healthy while the window lasts', async () => {
    // Peers that answer but take nothing: reachable, no progress.
    const l = lonely({ post: async () => ({ status: 200, body: { accepted: [], deferred: [] } }) });
    expect((await submit(l.app, 'waits forever')).status).toBe(202);
    await l.host.flush();
    expect((await health(l.app)).status).toBe(200);
    l.advance(29_000);
    expect((await health(l.app)).status).toBe(200);
    l.advance(2_000);
    const h = await health(l.app);
    expect(h.status).toBe(503);
    expect(h.json.error).toMatchObject({ code: 'stalled' });
    expect(h.json.error!.message).toMatch(/1 pending/);
  });
});

/**
 * Rejoining after lost state (shared/replica/rejoin.ts; issue 13, bug 3) through the adapter and the HTTP
 * routes: a replica whose storage goes back to an older copy finds out from its peers' link state, stops
 * speaking, asks its peers for reports (GET /v1/peer/rejoin-report), stays passive until the group signs a
 * checkpoint past the last epoch it may have spoken in, takes the state by transfer and then orders and
 * certifies with the others again.
 */
import { describe, expect, it } from 'vitest';
import { fromHex, toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { sha256 } from '../../shared/crypto/sha256.ts';
import { MemoryStore } from '../../workers/core/store.ts';
import { replicaApp } from '../../workers/core/app.ts';
import { hostCluster } from '../helpers/host-cluster.ts';
import { spokenEpochs } from '../../infra/sim/replica/checks.ts';

const EPOCH_WINDOW = 2;

describe('rejoin after lost state (HTTP)', () => {
  it.each([
    ['went back to an older copy', 'older'],
    ['was lost (empty, with bootstrap left on)', 'empty'],
  ] as const)('a replica whose storage %s finds out, stays passive past its bound, transfers and takes part again', async (_, kind) => {
    const c = hostCluster({
      host: { transferAfterEpochs: 2, transferStallMs: 200, probeIntervalMs: 100, engine: { ab: { epochWindow: EPOCH_WINDOW, keepEpochs: 1, serveEpochs: 2 } } },
    });
    // What replica 3 sends, by epoch, before and after it rejoins (the transport is wrapped, not changed).
    const spoke = { before: -1, after: [] as number[], rejoined: false };
    const watch = () => {
      const t = (c.hosts[3] as unknown as { transport: { post: (to: number, f: Uint8Array) => Promise<unknown>; watched?: boolean } }).transport;
      if (t.watched) return;
      const post = t.post.bind(t);
      t.post = (to, f) => {
        for (const { epoch: e } of spokenEpochs(f, 4)) {
          if (spoke.rejoined) spoke.after.push(e);
          else spoke.before = Math.max(spoke.before, e);
        }
        return post(to, f);
      };
      t.watched = true;
    };
    watch();
    const submit = async (text: string, to = 0) => {
      const res = await c.app(to).request('/v1/requests', { method: 'POST', body: utf8ToBytes(text), headers: { 'content-type': 'application/octet-stream' } });
      expect(res.status).toBeLessThan(300);
    };
    /** Flushes everyone for a while (settle() would wait for outboxes a lost replica never empties). */
    const run = async (rounds: number) => {
      for (let k = 0; k < rounds; k++) {
        for (const h of c.hosts) await h.flush();
        c.advance(50);
      }
    };
    for (let k = 0; k < 3; k++) {
      await submit(`early ${k}`);
      await c.settle();
    }
    // Replica 3's storage as it is now: what it goes back to.
    const older = c.stores[3]!.storage.clone();
    for (let k = 0; k < 4; k++) {
      await submit(`later ${k}`);
      await c.settle();
    }
    expect(c.hosts.map((h) => h.logSize)).toEqual([7, 7, 7, 7]);

    // Restart replica 3 on the older copy (a Redis restarted from an old snapshot).
    const store = new MemoryStore();
    if (kind === 'older') (store as unknown as { storage: unknown }).storage = older;
    c.stores[3] = store;
    c.restart(3);
    watch();
    await c.hosts[3]!.init();
    expect(c.hosts[3]!.logSize).toBeLessThan(7);
    // Traffic shows it: its peers acknowledge frames of it that its storage does not know of.
    await submit('the next one', 1);
    await run(20);
    const m = c.hosts[3]!.metrics();
    expect(m.mode).toBe('lost-state');
    expect(Object.keys(m.lostStateEvidence).length).toBeGreaterThanOrEqual(2);
    // It asked its peers; a quorum's reports fixed the bound.
    expect(m.rejoin?.passiveUntil).not.toBeNull();
    const bound = m.rejoin!.passiveUntil!;
    expect(bound).toBeGreaterThan(spoke.before);
    // Passive: clients and peers get 503 lost-state, with the bound in the message.
    const refused = await c.app(3).request('/v1/requests', { method: 'POST', body: utf8ToBytes('to the lost one'), headers: { 'content-type': 'application/octet-stream' } });
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toContain(`epoch ${bound}`);

    // The group goes on until it signs a checkpoint of the bound's epoch; replica 3 then rejoins.
    for (let k = 0; k < bound + 4 && c.hosts[3]!.metrics().mode !== 'active'; k++) {
      await submit(`meanwhile ${k}`, k % 3);
      await run(6);
    }
    spoke.rejoined = true;
    expect(c.hosts[3]!.metrics().mode).toBe('active');
    expect(c.hosts[3]!.metrics().rejoins).toBe(1);

    // It orders and certifies with the others again.
    for (let k = 0; k < 3; k++) {
      await submit(`after ${k}`, 3);
      await run(8);
    }
    await c.settle();
    const sizes = c.hosts.map((h) => h.logSize);
    expect(new Set(sizes).size).toBe(1);
    const last = await c.app(3).request(`/v1/requests/${toHex(sha256(utf8ToBytes('after 2')))}`);
    expect(last.status).toBe(200);
    expect(((await last.json()) as { status: string }).status).toBe('certified');
    const roots = await Promise.all(c.hosts.map(async (_, i) => ((await (await c.app(i).request('/v1/log/checkpoint')).json()) as { root: string }).root));
    expect(new Set(roots).size).toBe(1);
    // Never again in an epoch it may have spoken in before.
    expect(spoke.after.length).toBeGreaterThan(0);
    expect(Math.min(...spoke.after)).toBeGreaterThan(bound);
  }, 180_000);

  it('POST /v1/peer: the frame that shows a replica it lost state wakes its adapter (its rejoin starts with a flush)', async () => {
    const c = hostCluster();
    await c.app(0).request('/v1/requests', { method: 'POST', body: utf8ToBytes('one'), headers: { 'content-type': 'application/octet-stream' } });
    await c.settle();
    // Replica 3 loses everything; its peers' next frames show it (seq far past an empty window).
    c.stores[3] = new MemoryStore();
    c.restart(3);
    for (const j of [0, 1, 2]) await c.app(j).request('/v1/requests', { method: 'POST', body: utf8ToBytes(`two ${j}`), headers: { 'content-type': 'application/octet-stream' } });
    let woken = 0;
    const app3 = replicaApp(c.hosts[3]!, { now: () => 0, afterChange: () => void woken++ });
    const answers: number[] = [];
    for (const j of [0, 1, 2]) {
      const core = (c.hosts[j] as unknown as { core: { outgoingFrame(peer: number, now: number): { bytes: Uint8Array } | null } }).core;
      const f = core.outgoingFrame(3, 10 ** 12);
      if (!f) continue;
      const res = await app3.request('/v1/peer', { method: 'POST', body: f.bytes, headers: { 'content-type': 'application/octet-stream' } });
      answers.push(res.status);
    }
    expect(c.hosts[3]!.metrics().mode).toBe('lost-state');
    expect(answers.every((s) => s === 503)).toBe(true);
    // Before the fix only a 200 woke it: a replica that found out then waited forever (seen in the drill).
    expect(woken).toBeGreaterThan(0);
  });

  it('GET /v1/peer/rejoin-report: a MAC-bound report for a replica, clear 400s for bad input', async () => {
    const c = hostCluster();
    const nonce = '00112233445566778899aabbccddeeff';
    const ok = await c.app(0).request(`/v1/peer/rejoin-report?to=2&nonce=${nonce}`);
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { replica: number; to: number; nonce: string; epoch: number; checkpoint: unknown; mac: string };
    expect(body).toMatchObject({ replica: 0, to: 2, nonce, epoch: 0, checkpoint: null });
    expect(fromHex(body.mac).length).toBe(32);
    for (const [q, code] of [
      [`to=x&nonce=${nonce}`, 'bad-replica'],
      [`nonce=${nonce}`, 'bad-replica'],
      [`to=0&nonce=${nonce}`, 'bad-replica'],
      [`to=9&nonce=${nonce}`, 'bad-replica'],
      ['to=1&nonce=00', 'bad-nonce'],
      ['to=1', 'bad-nonce'],
    ] as const) {
      const res = await c.app(0).request(`/v1/peer/rejoin-report?${q}`);
      expect(res.status, q).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code, q).toBe(code);
    }
  });
});

/**
 * ReplicaHost (workers/core) over in-memory stores and an in-memory transport that calls the peers'
 * receiveFrame directly: persist-before-send, acknowledgements, retransmission after a peer was down,
 * restart from storage in the middle of the run, a failed storage write, and hostile frames.
 */
import { describe, expect, it } from 'vitest';
import { toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { verifyReceipt } from '../../shared/log/checkpoint.ts';
import { requestId } from '../../shared/replica/engine.ts';
import { ReplicaHost } from '../../workers/core/host.ts';
import type { PeerTransport } from '../../workers/core/host.ts';
import { MemoryStore } from '../../workers/core/store.ts';
import { testGroup } from '../helpers/group.ts';

class Cluster {
  readonly stores: MemoryStore[];
  hosts: ReplicaHost[];
  readonly down = new Set<number>();
  clock = 1_000_000;
  constructor(
    readonly n = 4,
    readonly compactAfter?: number,
  ) {
    this.stores = Array.from({ length: n }, () => new MemoryStore());
    this.hosts = Array.from({ length: n }, (_, i) => this.makeHost(i));
  }
  makeHost(i: number): ReplicaHost {
    const { group, secrets } = testGroup(this.n);
    const transport: PeerTransport = {
      post: async (to, frame) => {
        if (this.down.has(to)) throw new Error('connection refused');
        const r = await this.hosts[to]!.receiveFrame(frame);
        return { status: r.status, body: JSON.parse(JSON.stringify(r.body)) };
      },
    };
    return new ReplicaHost(group, secrets[i]!, this.stores[i]!, transport, () => this.clock, {
      bootstrap: true,
      retryMinMs: 10,
      retryMaxMs: 100,
      deferRetryMs: 10,
      ...(this.compactAfter ? { compactAfter: this.compactAfter } : {}),
    });
  }
  restart(i: number): void {
    this.hosts[i] = this.makeHost(i);
  }
  /** Flushes every live host until nothing more is sent (advancing the clock past retries). */
  async settle(maxRounds = 2000): Promise<void> {
    for (let round = 0; round < maxRounds; round++) {
      for (let i = 0; i < this.n; i++) if (!this.down.has(i)) await this.hosts[i]!.flush();
      const pending = this.hosts.some((h, i) => !this.down.has(i) && h.outboxSizes().some((x, j) => x > 0 && !this.down.has(j)));
      if (!pending) return;
      this.clock += 50;
    }
    throw new Error('cluster did not settle');
  }
}

describe('ReplicaHost (n = 4, in-memory stores and transport)', () => {
  it('orders, certifies and serves receipts; a peer that was down catches up; restarts resume', async () => {
    const c = new Cluster(4);
    const { group } = testGroup(4);
    c.down.add(3);
    for (let i = 0; i < 6; i++) {
      const r = await c.hosts[i % 3]!.submit(utf8ToBytes(`tx ${i}`));
      expect(r.ok).toBe(true);
    }
    await c.settle();
    for (const i of [0, 1, 2]) expect(c.hosts[i]!.logSize).toBe(6);
    // Messages for replica 3 waited in the outboxes; it comes back and catches up.
    expect(c.hosts[0]!.outboxSizes()[3]).toBeGreaterThan(0);
    c.down.delete(3);
    c.restart(3);
    await c.settle();
    expect(c.hosts[3]!.logSize).toBe(6);
    expect(new Set(c.hosts.map((h) => toHex(h.latestCheckpoint()!.root))).size).toBe(1);
    expect(c.hosts.every((h) => h.outboxSizes().every((x) => x === 0))).toBe(true);

    // A receipt from any replica verifies offline with the group key.
    const id = requestId(utf8ToBytes('tx 4'));
    const receipt = await c.hosts[3]!.receipt(id);
    expect(receipt).not.toBeNull();
    expect(verifyReceipt(group.kernel.groupKey, group.groupId, receipt!)).toEqual({ ok: true });

    // Restart everyone from storage and keep going.
    for (let i = 0; i < 4; i++) c.restart(i);
    const again = await c.hosts[1]!.submit(utf8ToBytes('tx 4'));
    expect(again).toMatchObject({ ok: true, status: 'ordered', index: receipt!.index });
    await c.hosts[2]!.submit(utf8ToBytes('after restart'));
    await c.settle();
    expect(c.hosts.map((h) => h.logSize)).toEqual([7, 7, 7, 7]);
    expect(new Set(c.hosts.map((h) => toHex(h.latestCheckpoint()!.root))).size).toBe(1);
    expect(await c.hosts[0]!.status(requestId(utf8ToBytes('after restart')))).toMatchObject({ status: 'certified', index: 6 });
  }, 180_000);

  it('a failed storage write changes nothing, sends nothing, and the host recovers from storage', async () => {
    const c = new Cluster(4);
    c.stores[0]!.failNext = true;
    await expect(c.hosts[0]!.submit(utf8ToBytes('lost'))).rejects.toThrow(/storage unavailable/);
    expect(c.stores[0]!.journal.length).toBe(0);
    expect(c.hosts[0]!.outboxSizes().every((x) => x === 0)).toBe(true);
    const r = await c.hosts[0]!.submit(utf8ToBytes('kept'));
    expect(r.ok).toBe(true);
    await c.settle();
    expect(c.hosts.map((h) => h.logSize)).toEqual([1, 1, 1, 1]);
  }, 120_000);

  it('rejects hostile frames with stable codes and without changing state', async () => {
    const c = new Cluster(4);
    const h = c.hosts[1]!;
    const before = c.stores[1]!.journal.length;
    expect((await h.receiveFrame(new Uint8Array(10))).body).toMatchObject({ error: { code: expect.stringMatching(/^link-(malformed|version)$/) } });
    // A frame sealed for replica 2 replayed at replica 1.
    let captured: Uint8Array | null = null;
    const sniff = new ReplicaHost(testGroup(4).group, testGroup(4).secrets[0]!, new MemoryStore(), {
      post: async (to, frame) => {
        if (to === 2) captured ??= frame;
        return { status: 500, body: {} };
      },
    }, () => 0, { bootstrap: true });
    await sniff.submit(utf8ToBytes('x'));
    await sniff.flush();
    expect(captured).not.toBeNull();
    const r = await h.receiveFrame(captured!);
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ error: { code: 'link-wrong-receiver' } });
    const tampered = captured!.slice();
    tampered[tampered.length - 1]! ^= 1;
    expect((await c.hosts[1]!.receiveFrame(tampered)).body).toMatchObject({ error: { code: expect.stringMatching(/^link-(bad-mac|wrong-receiver)$/) } });
    expect(c.stores[1]!.journal.length).toBe(before);
  }, 60_000);

  it('compacts the journal into snapshots, and restarts from a snapshot plus the journal after it', async () => {
    const c = new Cluster(4, 30);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 3; i++) await c.hosts[(round + i) % 4]!.submit(utf8ToBytes(`compact ${round}/${i}`));
      await c.settle();
    }
    expect(c.hosts.map((h) => h.logSize)).toEqual([9, 9, 9, 9]);
    for (const s of c.stores) {
      expect(s.snapshot).not.toBeNull();
      // Without compaction each replica journals a few hundred events for these 9 requests.
      expect(s.journal.length).toBeLessThan(120);
    }
    for (let i = 0; i < 4; i++) c.restart(i);
    await c.hosts[2]!.submit(utf8ToBytes('after compaction'));
    await c.settle();
    expect(c.hosts.map((h) => h.logSize)).toEqual([10, 10, 10, 10]);
    expect(new Set(c.hosts.map((h) => toHex(h.latestCheckpoint()!.root))).size).toBe(1);
    expect(c.hosts[0]!.metrics().replayedEvents).toBeLessThan(120);
    const receipt = await c.hosts[3]!.receipt(requestId(utf8ToBytes('compact 0/0')));
    const { group } = testGroup(4);
    expect(verifyReceipt(group.kernel.groupKey, group.groupId, receipt!)).toEqual({ ok: true });
  }, 240_000);
});

/**
 * The replica engine with real keys: four engines on an in-memory network order requests into identical
 * logs, certify checkpoints that verify with the single group key, serve receipts that verify offline,
 * and a replica rebuilt from its journal is in exactly the state it was in.
 */
import { describe, expect, it } from 'vitest';
import { toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { verifyCheckpoint, verifyReceipt } from '../../shared/log/checkpoint.ts';
import type { Message } from '../../shared/protocols/messages.ts';
import { ReplicaEngine, requestId } from '../../shared/replica/engine.ts';
import type { EngineEvent, EngineStep } from '../../shared/replica/engine.ts';
import { contextFromConfig } from '../../shared/replica/from-config.ts';
import { decodeEvent, encodeEvent } from '../../shared/replica/journal.ts';
import { Rng } from '../../infra/sim/rng.ts';
import { testGroup } from '../helpers/group.ts';
import { MemoryStorage, receiptFrom, recordStep } from '../helpers/history.ts';

interface Net {
  engines: ReplicaEngine[];
  stores: MemoryStorage[];
  journals: Uint8Array[][];
  queue: { from: number; to: number; msg: Message }[];
}

function makeNet(n = 4): Net {
  const { group, secrets } = testGroup(n);
  return { engines: secrets.map((s) => new ReplicaEngine(contextFromConfig(group, s))), stores: secrets.map(() => new MemoryStorage()), journals: secrets.map(() => []), queue: [] };
}

function apply(net: Net, at: number, ev: EngineEvent): EngineStep {
  const step = net.engines[at]!.handle(ev);
  if (!step.deferred) net.journals[at]!.push(encodeEvent(ev));
  recordStep(net.stores[at]!, step);
  for (const o of step.outgoing) net.queue.push({ from: at, to: o.to, msg: o.msg });
  return step;
}

/** Delivers in a seeded random order until nothing is in flight; deferred messages go back in. */
function run(net: Net, rng: Rng, maxSteps = 200_000): void {
  for (let i = 0; net.queue.length > 0; i++) {
    if (i > maxSteps) throw new Error('no quiescence');
    const k = rng.int(net.queue.length);
    const m = net.queue.splice(k, 1)[0]!;
    const s = apply(net, m.to, { kind: 'peer', from: m.from, msg: m.msg });
    if (s.deferred) net.queue.push(m);
  }
}

describe('ReplicaEngine (n = 4, real keys)', () => {
  const { group } = testGroup(4);
  const net = makeNet(4);
  const rng = new Rng(7);
  const requests = Array.from({ length: 12 }, (_, i) => utf8ToBytes(`request ${i}`));

  it('orders requests submitted to different replicas into one log on every replica', () => {
    requests.forEach((r, i) => apply(net, i % 4, { kind: 'submit', request: r }));
    apply(net, 1, { kind: 'submit', request: requests[0]! }); // duplicate: ordered once
    run(net, rng);
    const sizes = net.engines.map((e) => e.log.size);
    expect(sizes).toEqual([12, 12, 12, 12]);
    const roots = new Set(net.engines.map((e) => toHex(e.log.root())));
    expect(roots.size).toBe(1);
    for (const r of requests) expect(net.stores.every((s) => s.indexOfId(requestId(r)) !== undefined)).toBe(true);
  }, 120_000);

  it('certifies checkpoints that verify with the group key, and gives receipts that verify offline', () => {
    const e = net.engines[2]!;
    const c = e.latestCheckpoint!;
    expect(c).not.toBeNull();
    expect(c.size).toBe(12);
    expect(verifyCheckpoint(group.kernel.groupKey, group.groupId, c)).toBe(true);
    expect(verifyCheckpoint(group.kernel.groupKey, group.groupId, { ...c, size: 11 })).toBe(false);
    const idx = net.stores[2]!.indexOfId(requestId(requests[5]!))!;
    const receipt = receiptFrom(net.stores[2]!, idx)!;
    expect(receipt.entry).toEqual(requests[5]!);
    expect(verifyReceipt(group.kernel.groupKey, group.groupId, receipt)).toEqual({ ok: true });
    expect(verifyReceipt(group.kernel.groupKey, group.groupId, { ...receipt, entry: utf8ToBytes('forged') }).ok).toBe(false);
    // Every replica certified the same heads.
    const heads = new Set(net.engines.map((x) => `${x.latestCheckpoint!.size}:${toHex(x.latestCheckpoint!.root)}`));
    expect(heads.size).toBe(1);
  });

  it('a replica rebuilt from its journal has the same log, checkpoints and next messages', () => {
    const at = 3;
    const fresh = new ReplicaEngine(contextFromConfig(testGroup(4).group, testGroup(4).secrets[at]!));
    for (const b of net.journals[at]!) expect(fresh.handle(decodeEvent(b)).deferred).toBe(false);
    const old = net.engines[at]!;
    expect(toHex(fresh.log.root())).toBe(toHex(old.log.root()));
    expect(fresh.metrics()).toEqual(old.metrics());
    expect(fresh.latestCheckpoint).toEqual(old.latestCheckpoint);
    const next: EngineEvent = { kind: 'submit', request: utf8ToBytes('after restart') };
    const a = old.handle(next);
    const b = fresh.handle(next);
    expect(b.outgoing.map((o) => [o.to, toHex(encodeEvent({ kind: 'peer', from: 0, msg: o.msg }))])).toEqual(
      a.outgoing.map((o) => [o.to, toHex(encodeEvent({ kind: 'peer', from: 0, msg: o.msg }))]),
    );
  }, 120_000);

  it('records a fault for a message of no protocol and for a message claiming to come from itself', () => {
    const e = net.engines[0]!;
    expect(e.receive(1, { tag: 'nope/1', body: { t: 'cbc-want' } }).faults[0]!.kind).toBe('malformed');
    expect(e.receive(0, { tag: 'ab', body: { t: 'cbc-want' } }).faults[0]!.kind).toBe('unexpected');
  });
});

describe('ReplicaEngine snapshots (compaction)', () => {
  it('an engine restored from a snapshot taken at any point behaves exactly like the original', () => {
    const { group, secrets } = testGroup(4);
    const net = makeNet(4);
    const rng = new Rng(11);
    let shadow: ReplicaEngine | null = null;
    let compared = 0;
    let restores = 0;
    const at = 1;
    const originalHandle = net.engines[at]!.handle.bind(net.engines[at]!);
    const enc = (s: EngineStep) => JSON.stringify([s.deferred, s.outgoing.map((o) => [o.to, toHex(encodeEvent({ kind: 'peer', from: 0, msg: o.msg }))]), s.appended.map((a) => a.id), s.nodes.map((x) => `${x.level}/${x.index}/${toHex(x.hash)}`), s.checkpoints.map((c) => toHex(c.signature)), s.faults]);
    net.engines[at]!.handle = (ev: EngineEvent) => {
      const step = originalHandle(ev);
      if (shadow) {
        expect(enc(shadow.handle(ev))).toBe(enc(step));
        compared++;
      }
      // Take a new snapshot every 20 events and continue in lockstep with the restored copy.
      if (!step.deferred && net.engines[at]!.metrics().events % 20 === 0) {
        shadow = ReplicaEngine.restore(contextFromConfig(group, secrets[at]!), {}, net.engines[at]!.snapshot());
        expect(shadow.metrics()).toEqual(net.engines[at]!.metrics());
        restores++;
      }
      return step;
    };
    for (let i = 0; i < 9; i++) apply(net, i % 4, { kind: 'submit', request: utf8ToBytes(`snapshot test ${i}`) });
    run(net, rng);
    expect(restores).toBeGreaterThan(3);
    expect(compared).toBeGreaterThan(100);
    expect(net.engines.map((e) => e.log.size)).toEqual([9, 9, 9, 9]);
    expect(toHex(shadow!.log.root())).toBe(toHex(net.engines[at]!.log.root()));
  }, 180_000);
});

describe('ReplicaEngine snapshot parts', () => {
  it('a part, once made, never changes; given the stored keys only new parts are encoded; main + parts restore the engine', () => {
    const { group, secrets } = testGroup(4);
    const net = makeNet(4);
    const rng = new Rng(23);
    const at = 2;
    const seen = new Map<string, string>();
    let stored = new Set<string>();
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 4; i++) apply(net, i, { kind: 'submit', request: utf8ToBytes(`parts ${round}/${i}`) });
      run(net, rng);
      const e = net.engines[at]!;
      const full = e.snapshotState();
      for (const [k, v] of full.parts) {
        const before = seen.get(k);
        if (before !== undefined) expect(toHex(v), k).toBe(before);
        seen.set(k, toHex(v));
      }
      const inc = e.snapshotState(stored);
      expect([...inc.parts.keys()].sort()).toEqual([...full.keys].filter((k) => !stored.has(k)).sort());
      stored = new Set(full.keys);
      const restored = ReplicaEngine.restore(contextFromConfig(group, secrets[at]!), {}, full.main, undefined, full.parts);
      expect(restored.metrics()).toEqual(e.metrics());
      expect(toHex(restored.snapshotState().main)).toBe(toHex(full.main));
    }
    expect([...seen.keys()].some((k) => k.startsWith('ab-finished/'))).toBe(true);
    expect([...seen.keys()].some((k) => k.startsWith('recent/'))).toBe(true);
    // A missing part is lost storage: refused, not guessed.
    const full = net.engines[at]!.snapshotState();
    const missing = new Map(full.parts);
    missing.delete([...missing.keys()][0]!);
    expect(() => ReplicaEngine.restore(contextFromConfig(group, secrets[at]!), {}, full.main, undefined, missing)).toThrow(/is missing from storage/);
  }, 180_000);
});

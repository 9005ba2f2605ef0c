/**
 * Agreed time (shared/protocols/agreed-time.ts): the rule itself under threshold and general structures
 * with corrupt readings chosen by an adversary, and four real engines whose checkpoints sign it, with one
 * replica's clock hours off, honest clocks going back, and state transfers whose entries carry times.
 */
import { describe, expect, it } from 'vitest';
import { agreedTime } from '../../shared/protocols/agreed-time.ts';
import { decodeProposal, encodeBatch, proposesRequests } from '../../shared/protocols/batch.ts';
import { generalQuorumSystem, thresholdQuorumSystem } from '../../shared/quorum/quorum-system.ts';
import type { QuorumSystem } from '../../shared/quorum/quorum-system.ts';
import { ReplicaEngine } from '../../shared/replica/engine.ts';
import type { EngineStep, LogRecord } from '../../shared/replica/engine.ts';
import { contextFromConfig } from '../../shared/replica/from-config.ts';
import { decodeEvent, encodeEvent } from '../../shared/replica/journal.ts';
import type { SignedCheckpoint } from '../../shared/log/checkpoint.ts';
import { checkpointFromJson, checkpointToJson, verifyCheckpoint } from '../../shared/log/checkpoint.ts';
import { checkpointNote, verifyCheckpointNote } from '../../shared/log/checkpoint-note.ts';
import type { Message } from '../../shared/protocols/messages.ts';
import { utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { Rng } from '../../infra/sim/rng.ts';
import { testGroup } from '../helpers/group.ts';
import { hostCluster } from '../helpers/host-cluster.ts';
import { clockOffsetOption } from '../../workers/core/host.ts';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 5, 1);

describe('the agreed-time rule', () => {
  const q4 = thresholdQuorumSystem(4, 1);

  it('is the (t + 1)-th largest reading under a threshold structure, never below the previous time', () => {
    expect(agreedTime(q4, new Map([[0, 100], [1, 200], [2, 300]]), 0)).toBe(200);
    expect(agreedTime(q4, new Map([[0, 100], [1, 200], [2, 300], [3, 400]]), 0)).toBe(300);
    // Equal readings count together: two readings >= 300 are a kernel.
    expect(agreedTime(q4, new Map([[0, 300], [1, 300], [2, 100]]), 0)).toBe(300);
    // A corrupt replica's huge reading moves nothing past the second largest.
    expect(agreedTime(q4, new Map([[0, 100], [1, 200], [3, Number.MAX_SAFE_INTEGER]]), 0)).toBe(200);
    // Monotonic: a later epoch whose readings are earlier keeps the previous time.
    expect(agreedTime(q4, new Map([[0, 100], [1, 200], [2, 300]]), 250)).toBe(250);
    expect(agreedTime(thresholdQuorumSystem(7, 2), new Map([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]]), 0)).toBe(3);
  });

  /** Whatever the corrupt readings, the time lies between two honest readings of the epoch. */
  const property = (q: QuorumSystem, n: number, corruptible: readonly (readonly number[])[], seed: number) => {
    const rng = new Rng(seed);
    for (let run = 0; run < 400; run++) {
      const bad = new Set(rng.pick(corruptible));
      // The epoch's proposers: a quorum (everyone but some corruptible set).
      const left = new Set(rng.pick(corruptible));
      const proposers = Array.from({ length: n }, (_, i) => i).filter((i) => !left.has(i));
      if (!q.isQuorum(proposers)) throw new Error('not a quorum');
      const readings = new Map<number, number>();
      const honest: number[] = [];
      for (const j of proposers) {
        const extreme = [0, Number.MAX_SAFE_INTEGER, T0 - 10 * HOUR, T0 + 10 * HOUR][rng.int(4)]!;
        const r = bad.has(j) ? (rng.chance(0.5) ? extreme : T0 + rng.int(5000)) : T0 + rng.int(5000);
        readings.set(j, r);
        if (!bad.has(j)) honest.push(r);
      }
      const v = agreedTime(q, readings, 0);
      expect(v).toBeGreaterThanOrEqual(Math.min(...honest));
      expect(v).toBeLessThanOrEqual(Math.max(...honest));
    }
  };

  it('lies between two honest readings whatever a corruptible set reads (threshold, n = 4, 7, 10)', () => {
    for (const [n, t] of [[4, 1], [7, 2], [10, 3]] as const) {
      const sets: number[][] = [];
      const rng = new Rng(n);
      for (let k = 0; k < 20; k++) sets.push(rng.sample(Array.from({ length: n }, (_, i) => i), t));
      property(thresholdQuorumSystem(n, t), n, sets, n);
    }
  });

  it('lies between two honest readings under a general Q3 structure (any one of four providers, or two lone replicas)', () => {
    // Ten replicas: four providers of two, and two on their own; the adversary may hold one provider's
    // replicas, or the two lone ones (no three such sets cover all ten).
    const sets = [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]];
    property(generalQuorumSystem(10, sets), 10, sets, 10);
  });
});

describe('the proposal format', () => {
  it('carries the clock before the requests; a clock past 2^53 - 1 or a short header is refused', () => {
    const b = encodeBatch([utf8ToBytes('a'), utf8ToBytes('bc')], T0);
    expect(decodeProposal(b, 10, 10)).toEqual({ clock: T0, requests: [utf8ToBytes('a'), utf8ToBytes('bc')] });
    expect(proposesRequests(b)).toBe(true);
    expect(proposesRequests(encodeBatch([], T0))).toBe(false);
    const huge = b.slice();
    huge.fill(0xff, 0, 8);
    expect(decodeProposal(huge, 10, 10)).toBeNull();
    expect(decodeProposal(b.subarray(0, 9), 10, 10)).toBeNull();
    expect(() => encodeBatch([], -1)).toThrow(RangeError);
    expect(() => encodeBatch([], 2 ** 53)).toThrow(RangeError);
  });

  it('the clock event is journaled as 0x05 and a u64', () => {
    const e = encodeEvent({ kind: 'clock', ms: T0 });
    expect(e.length).toBe(9);
    expect(e[0]).toBe(5);
    expect(decodeEvent(e)).toEqual({ kind: 'clock', ms: T0 });
    const bad = e.slice();
    bad.fill(0xff, 1);
    expect(() => decodeEvent(bad)).toThrow(/past 2\^53/);
  });
});

/** Four engines without applications, a FIFO network with drops for isolated replicas. */
function cluster() {
  const { group, secrets } = testGroup(4);
  const engines = secrets.map((s) => new ReplicaEngine(contextFromConfig(group, s), { apps: () => [] }));
  const records: LogRecord[][] = engines.map(() => []);
  const checkpoints: SignedCheckpoint[][] = engines.map(() => []);
  const queue: { from: number; to: number; msg: Message }[] = [];
  const isolated = new Set<number>();
  const take = (at: number, s: EngineStep) => {
    expect(s.faults).toEqual([]);
    for (const o of s.outgoing) if (!isolated.has(at) && !isolated.has(o.to)) queue.push({ from: at, to: o.to, msg: o.msg });
    for (const a of s.appended) records[at]!.push({ id: a.id, epoch: a.epoch, time: a.time, entry: a.entry });
    checkpoints[at]!.push(...s.checkpoints);
  };
  const run = () => {
    for (let k = 0; queue.length > 0; k++) {
      const m = queue.shift()!;
      take(m.to, engines[m.to]!.handle({ kind: 'peer', from: m.from, msg: m.msg }));
    }
  };
  const clocks = (ms: readonly number[]) => ms.forEach((t, i) => engines[i]!.handle({ kind: 'clock', ms: t }));
  const submit = (i: number, text: string) => take(i, engines[i]!.handle({ kind: 'submit', request: utf8ToBytes(text) }));
  return { group, engines, records, checkpoints, isolated, run, clocks, submit };
}

describe('agreed time in the engine', () => {
  it('every replica signs the same time, between honest clocks, with one replica six hours ahead or behind; never going back', () => {
    for (const skew of [6 * HOUR, -6 * HOUR]) {
      const c = cluster();
      const times: number[] = [];
      for (let e = 0; e < 6; e++) {
        // Honest clocks go back in epoch 3 (an NTP step): the time does not.
        const base = T0 + (e === 3 ? -60_000 : e * 1000);
        c.clocks([base, base + 40, base + 90, base + skew]);
        c.submit(e % 4, `request ${e}`);
        c.run();
        const cps = c.checkpoints.map((list) => list[list.length - 1]!);
        expect(new Set(cps.map((x) => x.epoch)).size).toBe(1);
        expect(new Set(cps.map((x) => x.time)).size).toBe(1);
        const t = cps[0]!.time!;
        for (const x of cps) expect(verifyCheckpoint(c.group.kernel.groupKey, c.group.groupId, x)).toBe(true);
        if (e !== 3) {
          expect(t).toBeGreaterThanOrEqual(base);
          expect(t).toBeLessThanOrEqual(base + 90);
        }
        times.push(t);
      }
      expect(times[3]).toBe(times[2]);
      expect([...times].sort((a, b) => a - b)).toEqual(times);
      // The entries carry their epoch's time; the JSON and note forms carry the signed time.
      expect(c.records[0]!.map((r) => r.time)).toEqual(times);
      const last = c.checkpoints[0]![c.checkpoints[0]!.length - 1]!;
      expect(checkpointFromJson(JSON.parse(JSON.stringify(checkpointToJson(last))))).toEqual(last);
      const note = verifyCheckpointNote(c.group.groupId, c.group.kernel.groupKey, checkpointNote(c.group.groupId, c.group.kernel.groupKey, last));
      expect(note.ok && note.checkpoint.time).toBe(last.time);
    }
  });

  it('a replica that takes the log by transfer checks the entries\' times against the signed time chain', () => {
    const c = cluster();
    c.isolated.add(3);
    for (let e = 0; e < 4; e++) {
      c.clocks([T0 + e * 1000, T0 + e * 1000 + 5, T0 + e * 1000 + 9, T0]);
      c.submit(e % 3, `request ${e}`);
      c.run();
    }
    const cp = c.checkpoints[0]![c.checkpoints[0]!.length - 1]!;
    const good = c.records[0]!;
    expect(new Set(good.map((r) => r.time)).size).toBe(4);
    const me = c.engines[3]!;
    // Times moved by a millisecond for a whole epoch: one per epoch, in order, under the checkpoint's;
    // only the chain tells.
    const shifted = good.map((r) => (r.epoch === 1 ? { ...r, time: r.time + 1 } : r));
    const r1 = me.transferTo(cp, shifted);
    expect(r1).toEqual({ ok: false, reason: expect.stringContaining('do not give the signed time chain') });
    const back = good.map((r) => (r.epoch === 2 ? { ...r, time: good[0]!.time - 1 } : r));
    expect(me.transferTo(cp, back)).toEqual({ ok: false, reason: expect.stringContaining("is not its epoch's") });
    expect(me.log.size).toBe(0);
    const ok = me.transferTo(cp, good);
    expect(ok.ok).toBe(true);
    // It continues from the checkpoint's time: its next epoch's time is not below it.
    c.isolated.delete(3);
    c.clocks([T0 + 9000, T0 + 9005, T0 + 9009, T0 + 9001]);
    c.submit(3, 'after the transfer');
    c.run();
    const next = c.checkpoints[3]![c.checkpoints[3]!.length - 1]!;
    expect(next.epoch).toBe(cp.epoch + 1);
    expect(next.time).toBe(T0 + 9005);
    expect(c.checkpoints[0]![c.checkpoints[0]!.length - 1]).toEqual(next);
  });
});

describe('the clock offset of a replica host (SINTRA_CLOCK_OFFSET_MS)', () => {
  it('is parsed strictly', () => {
    expect(clockOffsetOption(undefined)).toEqual({});
    expect(clockOffsetOption('0')).toEqual({});
    expect(clockOffsetOption('-21600000')).toEqual({ clockOffsetMs: -21_600_000 });
    for (const bad of ['1.5', '1e3', ' 5', '--1', '01', String(2e12), 'x']) expect(() => clockOffsetOption(bad), bad).toThrow(/SINTRA_CLOCK_OFFSET_MS/);
  });

  it('shifts what a replica proposes: one replica ten hours ahead moves nothing, two of four (more than t) move the time', async () => {
    const run = async (ahead: readonly number[]) => {
      const c = hostCluster({ hostFor: (i) => (ahead.includes(i) ? { clockOffsetMs: 10 * HOUR } : {}) });
      for (let k = 0; k < 4; k++) await c.app(k).request('/v1/requests', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `t ${k}` }) });
      await c.settle();
      const r = await c.app(0).request('/v1/log/checkpoint');
      return checkpointFromJson(await r.json()).time!;
    };
    // The cluster's clock starts at 1,000,000 ms and moves 50 ms per settling round.
    const one = await run([3]);
    expect(one).toBeGreaterThanOrEqual(1_000_000);
    expect(one).toBeLessThan(1_000_000 + HOUR);
    const two = await run([2, 3]);
    expect(two).toBeGreaterThanOrEqual(1_000_000 + 10 * HOUR);
  });
});

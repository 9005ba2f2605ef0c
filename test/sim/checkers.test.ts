/**
 * The simulator's own checks catch what they claim to: a broken quorum rule (agreement), a protocol that
 * is not deterministic across a restart (equivocation after restart), one that throws on hostile input,
 * one that blames honest replicas; and the checker helpers on hand-made outputs.
 */
import { describe, expect, it } from 'vitest';
import { agreement, integrity, outputCount, simulate, thresholdStructure, totalOrder, totality, validity } from '../../infra/sim/index.ts';
import type { RunResult, Scenario } from '../../infra/sim/index.ts';
import { rbcScenario } from '../../infra/sim/scenarios/rbc.ts';
import type { ProtocolContext } from '../../shared/protocols/context.ts';
import type { Message } from '../../shared/protocols/messages.ts';
import { ReliableBroadcast } from '../../shared/protocols/rbc.ts';
import { Step } from '../../shared/protocols/step.ts';
import type { Protocol } from '../../shared/protocols/step.ts';
import { thresholdQuorumSystem } from '../../shared/quorum/index.ts';

/** The RBC scenario with the protocol swapped for a (broken) variant. */
function withProtocol(
  n: number,
  make: (ctx: ProtocolContext, sender: number) => Protocol<Uint8Array, Uint8Array>,
  sender = 'byzantine',
): Scenario<Uint8Array, Uint8Array> {
  const base = rbcScenario({ structure: thresholdStructure(n), params: { sender } });
  return {
    ...base,
    plan(setup) {
      const p = base.plan(setup);
      const sender = p.inputs[0]!.replica;
      return { ...p, create: (ctx) => make(ctx, sender) };
    },
  };
}

function runs(s: Scenario<Uint8Array, Uint8Array>, seeds: number, byzantine: string, extra: object = {}): RunResult[] {
  return Array.from({ length: seeds }, (_, seed) => simulate(s, { seed, byzantine, ...extra }));
}

describe('simulator catches broken protocols', () => {
  it('agreement: RBC with a quorum of 2 out of 4 (too small) splits under generic equivocation', () => {
    const s = withProtocol(4, (ctx, sender) => {
      const q = thresholdQuorumSystem(4, 1);
      const weak = { ...q, isQuorum: (set: Iterable<number>) => new Set(set).size >= 2 };
      return new ReliableBroadcast({ ...ctx, quorum: weak }, 'rbc', sender);
    });
    const bad = runs(s, 100, 'equivocate').filter((r) => r.safetyViolations.some((v) => v.startsWith('agreement:')));
    expect(bad.length).toBeGreaterThan(0);
  });

  it('equivocation after restart: a protocol whose messages depend on hidden state', () => {
    let generation = 0;
    class Flaky implements Protocol<Uint8Array, Uint8Array> {
      readonly tag = 'rbc';
      readonly terminated = false;
      private readonly gen = ++generation;
      private done = false;
      constructor(private readonly ctx: ProtocolContext) {}
      handleInput(v: Uint8Array) {
        return new Step<Uint8Array>().broadcast({ tag: this.tag, body: { t: 'rbc-send', value: v } });
      }
      handleMessage(_from: number, msg: Message) {
        const step = new Step<Uint8Array>();
        if (msg.body.t === 'rbc-send' && !this.done) {
          this.done = true;
          step.broadcast({ tag: this.tag, body: { t: 'rbc-echo', value: Uint8Array.of(this.gen & 0xff, this.ctx.me) } });
        }
        return step;
      }
    }
    const s = withProtocol(4, (ctx) => new Flaky(ctx));
    const all = runs(s, 30, 'crash-restart', { network: { pCrash: 0.9 } });
    expect(all.some((r) => r.safetyViolations.some((v) => v.startsWith('equivocation after restart')))).toBe(true);
    // The real RBC is deterministic: no such violation.
    const good = runs(rbcScenario({ structure: thresholdStructure(4) }), 30, 'crash-restart', { network: { pCrash: 0.9 } });
    expect(good.flatMap((r) => r.safetyViolations)).toEqual([]);
    expect(good.reduce((a, r) => a + r.crashes, 0)).toBeGreaterThan(10);
  });

  it('exceptions on hostile input are violations', () => {
    const s = withProtocol(4, (ctx, sender) => {
      const inner = new ReliableBroadcast(ctx, 'rbc', sender);
      return {
        tag: 'rbc',
        get terminated() {
          return inner.terminated;
        },
        handleInput: (v) => inner.handleInput(v),
        handleMessage(from, msg) {
          if (!msg.body.t.startsWith('rbc-')) throw new Error(`cannot decode ${msg.body.t}`);
          return inner.handleMessage(from, msg);
        },
      };
    });
    const all = runs(s, 30, 'garbage');
    expect(all.some((r) => r.safetyViolations.some((v) => v.includes('threw on') && v.includes('cannot decode')))).toBe(true);
  });

  it('an honest replica blamed for more than a duplicate is a violation', () => {
    const s = withProtocol(4, (ctx, sender) => {
      const inner = new ReliableBroadcast(ctx, 'rbc', sender);
      return {
        tag: 'rbc',
        get terminated() {
          return inner.terminated;
        },
        handleInput: (v) => inner.handleInput(v),
        handleMessage(from, msg) {
          const step = inner.handleMessage(from, msg);
          if (msg.body.t === 'rbc-ready') step.fault(from, 'rbc', 'invalid-proof', 'made up');
          return step;
        },
      };
    }, 'honest');
    const all = runs(s, 10, 'silent');
    expect(all.every((r) => r.safetyViolations.some((v) => v.includes('blamed by') && v.includes('invalid-proof')))).toBe(true);
  });
});

describe('checker helpers', () => {
  const rs = (...outs: string[][]) => outs.map((outputs, replica) => ({ replica, outputs }));

  it('agreement', () => {
    expect(agreement(rs(['a'], ['a'], []))).toEqual([]);
    expect(agreement(rs(['a'], ['b']))).toHaveLength(1);
  });

  it('total order (prefix consistency)', () => {
    expect(totalOrder(rs(['a', 'b', 'c'], ['a', 'b'], []))).toEqual([]);
    expect(totalOrder(rs(['a', 'b', 'c'], ['a', 'c']))).toHaveLength(1);
  });

  it('validity, integrity, counts, totality', () => {
    expect(validity(rs(['a'], ['b']), (o) => o === 'a', 'is a')).toHaveLength(1);
    expect(integrity(rs(['a', 'a']))).toHaveLength(1);
    expect(integrity(rs(['a', 'b']), { maxPerReplica: 1 })).toHaveLength(1);
    expect(integrity(rs(['a'], ['x']), { allowed: new Set(['"a"']) })).toHaveLength(1);
    expect(outputCount(rs(['a'], []), 1)).toContain('1 (0/1)');
    expect(outputCount(rs(['a'], ['b']), 1)).toBeNull();
    expect(totality(rs([], []))).toBeNull();
    expect(totality(rs(['a'], []))).toContain('never');
  });
});

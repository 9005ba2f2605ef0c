/**
 * The whole-replica simulator (infra/sim/replica): complete replicas (engine, host core, storage) under a
 * seeded adversary that owns the network, crashes replicas at every persistence point, fails writes and
 * corrupts replicas (fuzzer, twins, scripted attacks, the protocol behaviours). 300+ seeds here (n = 4 and
 * 7, the 16-replica grid); the soak (`npm run test:soak`, test/sim/replica-*.soak.test.ts) runs 100,000.
 * Every run must be clean; the negative controls (more corruption than the structure tolerates) must not.
 */
import { describe, expect, it } from 'vitest';
import { formatReplicaSummary, runReplicaSimulation, simulateReplicas } from '../../infra/sim/replica/index.ts';
import type { ReplicaSimulationSummary } from '../../infra/sim/replica/index.ts';
import { thresholdStructure } from '../../shared/quorum/structure-file.ts';
import { grid } from '../helpers/structures.ts';

function expectClean(s: ReplicaSimulationSummary): void {
  const report = s.safety_violations + s.liveness_failures > 0 ? formatReplicaSummary(s) : '';
  expect(report).toBe('');
  expect(s.runs).toBeGreaterThan(0);
}

describe('whole-replica simulation', () => {
  it('n = 4, every behaviour in rotation: 150 seeds clean, with crashes and failed writes', () => {
    const s = runReplicaSimulation({ n: 4, seeds: 150, seedStart: 1, byzantine: 'all' });
    expectClean(s);
    expect(s.crashes).toBeGreaterThan(50);
    expect(s.storage_failures).toBeGreaterThan(20);
  });

  it('n = 4, fuzzed Byzantine replica: 60 seeds clean, and the fuzzer is blamed', () => {
    const s = runReplicaSimulation({ n: 4, seeds: 60, seedStart: 5000, byzantine: 'fuzz', details: true });
    expectClean(s);
    for (const r of s.details!) for (const c of r.corrupted) expect(r.faultsByPeer[c] ?? 0).toBeGreaterThan(0);
  });

  it('n = 4, twins (one slot\'s keys run twice with separate storage): 30 seeds clean', () => {
    expectClean(runReplicaSimulation({ n: 4, seeds: 30, seedStart: 7000, byzantine: 'twins' }));
  });

  it('n = 4, the binary-agreement split attack: regression seeds of bug 1, and 20 more', () => {
    // With the binary agreement that stopped relaying once decided, these seeds stalled the group for good
    // (outboxes empty, epochs stuck; seen with the old aba.ts on this simulator, commit b1346ff): 9 of seeds
    // 200..349. A simulator change that moves its random draws moves them: find them again that way.
    // State transfer draws from its own stream and is off here, so these seeds keep their schedules.
    for (const seed of [205, 211, 220, 226, 239]) expectClean(runReplicaSimulation({ n: 4, seeds: 1, seedStart: seed, byzantine: 'aba-split', params: { requests: 60, transfers: false } }));
    expectClean(runReplicaSimulation({ n: 4, seeds: 20, seedStart: 9000, byzantine: 'aba-split', params: { requests: 30 } }));
  });

  it('bug 6: a burst of 8 KiB requests near the byte caps (forwarded requests once made a message no frame could carry)', () => {
    // With forwarding capped by count only, this seed made a 4.27 MB ab-requests message and every replica
    // that made one threw on it (before the host's check: blocked its link for good).
    expectClean(runReplicaSimulation({ n: 4, seeds: 1, seedStart: 2, byzantine: 'none', params: { requests: 3000, requestBytes: 8192, maxBatch: 1024, burstMs: 100 } }));
  });

  it('n = 4, replay: the seed where consistent broadcast\'s missing totality stalled the common subset', () => {
    // Found by the soak: the Byzantine proposer's FINAL reached some honest replicas only, its agreement
    // decided 1 at one of them, and another had no input for it; stalled for good before votes for 1 from a
    // kernel made the common subset fetch the proposal (acs.ts onVoteForOne).
    expectClean(runReplicaSimulation({ n: 4, seeds: 1, seedStart: 1018397, byzantine: 'replay', params: { transfers: false } }));
  });

  it('n = 7, replay: the seed that certified everything just after the last liveness check', () => {
    // Found by the rollback soak: the run went quiet right after its last 50 ms check, so it ended at the
    // time limit with every request certified and was reported as a liveness failure (a simulator bug).
    expectClean(runReplicaSimulation({ n: 7, seeds: 1, seedStart: 6000473, byzantine: 'none', params: { transfers: false } }));
  });

  it('n = 7, every behaviour in rotation: 40 seeds clean', () => {
    expectClean(runReplicaSimulation({ n: 7, seeds: 40, seedStart: 1, byzantine: 'all' }));
  });

  it('16-replica grid, 7 corrupted (one location + one OS): 3 seeds clean', () => {
    const s = runReplicaSimulation({ structure: grid(), seeds: 3, seedStart: 1, byzantine: 'all', details: true });
    expectClean(s);
    expect(s.details!.every((r) => r.corrupted.length === 7)).toBe(true);
  });

  it('storage that goes back in time (one replica, within what the structure tolerates): found out, rejoins, and the others stay safe and live', () => {
    const s = runReplicaSimulation({ n: 7, seeds: 40, seedStart: 40000, byzantine: 'none' });
    expectClean(s);
    expect(s.rollbacks).toBeGreaterThan(3);
    expect(s.rollbacks_detected).toBeGreaterThan(0);
    // Every replica that found out rejoined (the run is not done before), and then was live like the others.
    expect(s.rejoined).toBe(s.rollbacks_detected);
  });

  it('rejoin after lost state: never speaks again in an epoch it spoke in (the seed where a passive bound of 0 did; 30 more under load)', () => {
    // Seed 5000453: the rolled-back replica had spoken in epoch 1 before the group's checkpoint it first
    // took; with the bound forced to 0 it rejoined there and spoke in epoch 1 again.
    const regression = runReplicaSimulation({ n: 4, seeds: 1, seedStart: 5000453, byzantine: 'none', params: { requests: 100, burstMs: 3000 } });
    expectClean(regression);
    expect(regression.rejoined).toBe(1);
    const s = runReplicaSimulation({ n: 4, seeds: 30, seedStart: 5000440, byzantine: 'none', params: { requests: 100, burstMs: 3000 } });
    expectClean(s);
    expect(s.rejoined).toBeGreaterThan(0);
    expect(s.rejoined).toBe(s.rollbacks_detected);
  });

  it('state transfer: a replica away for 12 s while the others order finds the outboxes trimmed and comes back by transfer (30 seeds clean)', () => {
    const s = runReplicaSimulation({ n: 4, seeds: 30, seedStart: 11000, byzantine: 'none', gstMs: 15_000, params: { requests: 60, outageMs: 12_000 } });
    expectClean(s);
    expect(s.transfers).toBeGreaterThan(5);
  });

  it('state transfer with a fuzzed replica (n = 7, one corrupted): its tampered bundles are refused (20 seeds clean)', () => {
    const s = runReplicaSimulation({ n: 7, seeds: 20, seedStart: 12000, byzantine: 'fuzz', faulty: 1, gstMs: 15_000, params: { requests: 60, outageMs: 12_000 } });
    expectClean(s);
    expect(s.transfers).toBeGreaterThan(0);
    expect(s.transfers_refused).toBeGreaterThan(0);
  });

  it('same seed, same run', () => {
    const a = simulateReplicas({ seed: 42, structure: thresholdStructure(4, 1), byzantine: 'fuzz' });
    const b = simulateReplicas({ seed: 42, structure: thresholdStructure(4, 1), byzantine: 'fuzz' });
    expect(b.traceHash).toBe(a.traceHash);
    expect(b.events).toBe(a.events);
    expect(simulateReplicas({ seed: 43, structure: thresholdStructure(4, 1), byzantine: 'fuzz' }).traceHash).not.toBe(a.traceHash);
  });
});

describe('whole-replica simulation: negative controls (more corrupted than the structure allows)', () => {
  it('every replica\'s storage goes back together (one Redis for all, restored from an older snapshot): a second signed history', () => {
    const s = runReplicaSimulation({ n: 4, seeds: 30, seedStart: 1, byzantine: 'none', params: { sharedRollback: true, requests: 30, crashes: false }, details: true });
    expect(s.details!.some((r) => r.safetyViolations.some((v) => v.startsWith('two signed checkpoints for size')))).toBe(true);
  });

  it('n = 4 with two twins: some seeds violate safety, and the failures say how to replay them', () => {
    const s = runReplicaSimulation({ n: 4, seeds: 20, seedStart: 1, byzantine: 'twins', corrupt: [0, 1] });
    expect(s.safety_violations).toBeGreaterThan(0);
    expect(s.first_failure_replay).toMatch(/^npx sintra simulate --replica --n 4 --seeds 1 --seed-start \d+ --byzantine twins --corrupt 0,1$/);
  });
});

/**
 * The engine keeps, for each recent epoch, the app digest list that went into its checkpoint's state
 * digest (ReplicaEngine.appDigestsAt), so a replica can build a CA directory statement for a signed
 * checkpoint after its live state moved on; the snapshot carries the list. Also the CA responses kept by
 * log index (keepResponsesOf, in the CA's state) and the standard app list (notary, then ca); and that
 * the certifier gets an epoch only once it is executed.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { standardApps } from '../../shared/app/index.ts';
import { CertificateAuthority, decodeResponse, encodeCaRequest, registerRequest, revokeRequest, verifyDirectoryStatement } from '../../shared/app/ca.ts';
import { encodeStampEntry } from '../../shared/app/notary.ts';
import { computeStateDigest } from '../../shared/app/state.ts';
import { toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import type { SignedCheckpoint } from '../../shared/log/checkpoint.ts';
import type { Message } from '../../shared/protocols/messages.ts';
import { ReplicaEngine, requestId } from '../../shared/replica/engine.ts';
import type { EngineOptions, LogRecord } from '../../shared/replica/engine.ts';
import { contextFromConfig } from '../../shared/replica/from-config.ts';
import { Rng } from '../../infra/sim/rng.ts';
import { testGroup } from '../helpers/group.ts';
import { executeAwaiting, MemoryStorage, recordStep } from '../helpers/history.ts';
import { MapAppState } from '../../shared/app/types.ts';
import { responseKey } from '../../shared/replica/execution.ts';

const { group, secrets } = testGroup(4);
const ALICE = new Uint8Array(32).fill(7);
const stamp = (s: string) => encodeStampEntry({ digest: toHex(sha256(utf8ToBytes(s))) });

function harness(options: EngineOptions) {
  const engines = secrets.map((s) => new ReplicaEngine(contextFromConfig(group, s), options));
  const stored: LogRecord[][] = engines.map(() => []);
  const signed: SignedCheckpoint[][] = engines.map(() => []);
  const stores = engines.map(() => new MemoryStorage());
  const queue: { from: number; to: number; msg: Message }[] = [];
  const rng = new Rng(5);
  const push = (at: number, step: ReturnType<ReplicaEngine['handle']>) => {
    for (const o of step.outgoing) queue.push({ from: at, to: o.to, msg: o.msg });
    for (const a of step.appended) stored[at]!.push({ id: a.id, epoch: a.epoch, time: a.time, entry: a.entry });
    signed[at]!.push(...step.checkpoints);
    if (step.deferred) return;
    recordStep(stores[at]!, step);
    for (const s of executeAwaiting(engines[at]!, stores[at]!, options.keepResponsesOf)) push(at, s);
  };
  /** Submits `entries` (spread over the replicas) and runs the network until quiet: one or more epochs. */
  const round = (entries: Uint8Array[]) => {
    entries.forEach((e, i) => push(i % 4, engines[i % 4]!.handle({ kind: 'submit', request: e })));
    while (queue.length > 0) {
      const m = queue.splice(rng.int(queue.length), 1)[0]!;
      const s = engines[m.to]!.handle({ kind: 'peer', from: m.from, msg: m.msg });
      if (s.deferred) queue.push(m);
      else push(m.to, s);
    }
  };
  return { engines, stored, signed, stores, round };
}

describe('ReplicaEngine.appDigestsAt', () => {
  const opts: EngineOptions = { apps: () => standardApps(group), keepResponsesOf: ['ca'] };
  const h = harness(opts);
  const register = encodeCaRequest(registerRequest(group.groupId, 'alice', ALICE, 1000));

  it('gives, for every signed checkpoint, the digests its state digest was made of, after the state moved on', () => {
    h.round([register, stamp('one')]);
    const early = h.signed.map((s) => s[s.length - 1]!);
    h.round([stamp('two')]);
    h.round([encodeCaRequest(revokeRequest(group.groupId, 'alice', 1, ALICE)), stamp('three')]);
    for (const [i, e] of h.engines.entries()) {
      expect(e.apps.map((a) => a.name)).toEqual(['notary', 'ca']);
      expect(h.signed[i]!.length).toBeGreaterThanOrEqual(3);
      for (const cp of h.signed[i]!) {
        const d = e.appDigestsAt(cp.epoch)!;
        expect(d.map((x) => x.name)).toEqual(['notary', 'ca']);
        expect(toHex(computeStateDigest(cp.root, d))).toBe(toHex(cp.stateDigest));
      }
      // The early checkpoint still yields a statement that verifies, showing alice active there.
      const ca = e.app<CertificateAuthority>('ca')!;
      const state = new MapAppState(h.stores[i]!.appState.get('ca'));
      const st = ca.statement(state, 'alice', early[i]!, e.appDigestsAt(early[i]!.epoch)!)!;
      expect(verifyDirectoryStatement(group, st)).toMatchObject({ ok: true, status: 'active' });
      const latest = e.latestCheckpoint!;
      expect(verifyDirectoryStatement(group, ca.statement(state, 'alice', latest, e.appDigestsAt(latest.epoch)!)!)).toMatchObject({ ok: true, status: 'revoked' });
      expect(verifyDirectoryStatement(group, ca.statement(state, 'bob', latest, e.appDigestsAt(latest.epoch)!)!)).toMatchObject({ ok: true, status: 'absent', present: false });
      // Not delivered here yet, or not an epoch at all.
      expect(e.appDigestsAt(latest.epoch + 1000)).toBeNull();
      expect(e.appDigestsAt(Number.NaN)).toBeNull();
      // The CA's answer to the ordered request is kept in its state; the notary's is not (not asked for).
      const store = h.stores[i]!;
      const idx = store.indexOfId(requestId(register))!;
      expect(decodeResponse(store.appState.get('ca')!.get(responseKey(idx))!)).toMatchObject({ ok: true, op: 'register', index: idx, certificate: { name: 'alice', serial: 1 } });
      expect(store.appState.get('notary')!.get(responseKey(store.indexOfId(requestId(stamp('one')))!))).toBeUndefined();
    }
  }, 120_000);

  it('restore() takes the digests from the snapshot, reading nothing of the log', () => {
    for (const i of [0, 2]) {
      const e = h.engines[i]!;
      const restored = ReplicaEngine.restore(contextFromConfig(group, secrets[i]!), opts, e.snapshot());
      for (const cp of h.signed[i]!) {
        expect(restored.appDigestsAt(cp.epoch)!.map((d) => toHex(d.digest))).toEqual(e.appDigestsAt(cp.epoch)!.map((d) => toHex(d.digest)));
      }
      expect(restored.latestCheckpoint).toEqual(e.latestCheckpoint);
      expect(restored.awaitingExecution).toEqual(e.awaitingExecution);
    }
  });

  it('an epoch waits for its execution before the certifier gets it, and the snapshot keeps it waiting', () => {
    const w = harness({ apps: () => standardApps(group) });
    const e = w.engines[0]!;
    const step = e.handle({ kind: 'submit', request: stamp('waiting') });
    // Run the network without executing anything at replica 0: its epoch waits, and it sends no checkpoint share.
    const queue: { from: number; to: number; msg: Message }[] = [];
    const rng = new Rng(9);
    let shares = 0;
    const send = (from: number, st: ReturnType<ReplicaEngine['handle']>) => {
      for (const o of st.outgoing) queue.push({ from, to: o.to, msg: o.msg });
      if (from === 0) shares += st.outgoing.filter((o) => o.msg.tag.startsWith('ckpt')).length;
    };
    send(0, step);
    while (queue.length > 0) {
      const m = queue.splice(rng.int(queue.length), 1)[0]!;
      const s = w.engines[m.to]!.handle({ kind: 'peer', from: m.from, msg: m.msg });
      if (s.deferred) {
        queue.push(m);
        continue;
      }
      send(m.to, s);
      recordStep(w.stores[m.to]!, s);
      if (m.to !== 0) for (const x of executeAwaiting(w.engines[m.to]!, w.stores[m.to]!)) send(m.to, x);
    }
    expect(e.lastDeliveredEpoch).toBe(0);
    expect(e.awaitingExecution.map((j) => j.epoch)).toEqual([0]);
    expect(shares).toBe(0);
    const restored = ReplicaEngine.restore(contextFromConfig(group, secrets[0]!), { apps: () => standardApps(group) }, e.snapshot());
    expect(restored.awaitingExecution).toEqual(e.awaitingExecution);
    const [done] = executeAwaiting(restored, w.stores[0]!);
    expect(done!.outgoing.some((o) => o.msg.tag === 'ckpt/0')).toBe(true);
    expect(restored.awaitingExecution).toEqual([]);
    expect(() => restored.handle({ kind: 'executed', epoch: 0, digests: restored.appDigestsAt(0)! })).toThrow(/executed epoch 0, and the next awaiting is none/);
  }, 120_000);

  it('keeps only the last `digestEpochs` epochs', () => {
    const small = harness({ apps: () => standardApps(group), digestEpochs: 2 });
    for (const s of ['a', 'b', 'c', 'd']) small.round([stamp(s)]);
    const cps = small.signed[1]!;
    const e = small.engines[1]!;
    expect(cps.length).toBeGreaterThanOrEqual(4);
    expect(e.appDigestsAt(cps[0]!.epoch)).toBeNull();
    const last = cps[cps.length - 1]!;
    expect(toHex(computeStateDigest(last.root, e.appDigestsAt(last.epoch)!))).toBe(toHex(last.stateDigest));
  }, 120_000);

  it('an engine without applications keeps none', () => {
    const plain = new ReplicaEngine(contextFromConfig(group, secrets[0]!));
    expect(plain.appDigestsAt(0)).toBeNull();
  });
});

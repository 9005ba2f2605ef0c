/**
 * What a host stores of an engine's steps (log entries, Merkle nodes, checkpoints), for tests that drive
 * bare engines: the engine keeps no history, so their queries about the past read this MemoryStorage.
 */
import type { Receipt } from '../../shared/log/checkpoint.ts';
import { inclusionProofFrom, readerOf } from '../../shared/log/merkle-nodes.ts';
import type { EngineStep, ReplicaEngine } from '../../shared/replica/engine.ts';
import { Execution } from '../../shared/replica/execution.ts';
import type { HostCore } from '../../shared/replica/host-core.ts';
import type { AppKey } from '../../shared/replica/execution.ts';
import { emptyBatch, MemoryStorage } from '../../shared/replica/storage.ts';

export function recordStep(storage: MemoryStorage, step: EngineStep): void {
  if (step.deferred || step.unchanged) return;
  const b = emptyBatch();
  b.log.push(...step.appended);
  b.nodes.push(...step.nodes);
  b.checkpoints.push(...step.checkpoints);
  storage.commit(b);
}

/** The receipt of the entry at `index` under the earliest stored checkpoint covering it. */
export function receiptFrom(storage: MemoryStorage, index: number): Receipt | null {
  const checkpoint = storage.checkpointCovering(index);
  const entry = storage.log[index];
  if (!checkpoint || !entry) return null;
  return { entry: entry.entry, index, proof: inclusionProofFrom(readerOf(storage.nodes), index, checkpoint.size), checkpoint };
}

export { MemoryStorage };

/**
 * The execution stage for bare engines (what HostCore.execute and an adapter do, with MemoryStorage's
 * synchronous reads): executes every epoch awaiting execution against the applications' state in
 * `storage`, commits its state changes there, and returns the engine's steps (checkpoint shares to send,
 * checkpoints certified). Call it after recordStep of each step that may have delivered.
 */
export function executeAwaiting(engine: ReplicaEngine, storage: MemoryStorage, keepResponsesOf: readonly string[] = []): EngineStep[] {
  const steps: EngineStep[] = [];
  for (let job = engine.awaitingExecution[0]; job; job = engine.awaitingExecution[0]) {
    const x = new Execution(engine.apps, job.epoch, job.time, storage.entries(job.first, job.size), keepResponsesOf);
    const load = (keys: readonly AppKey[]) => x.supply(storage.readAppKeys(keys));
    load(x.prefetch());
    let r = x.run();
    while ('missing' in r) {
      load([r.missing]);
      r = x.run();
    }
    const step = engine.handle({ kind: 'executed', epoch: r.done.epoch, digests: r.done.digests });
    const b = emptyBatch();
    b.app.push(...r.done.writes);
    storage.commit(b);
    recordStep(storage, step);
    steps.push(step);
  }
  return steps;
}

/**
 * What an adapter does after each written commit (workers/core/host.ts executeAwaiting), with
 * MemoryStorage's synchronous reads: runs HostCore.execute until no epoch awaits, writing each commit.
 */
export function executeCore(core: HostCore, storage: MemoryStorage): void {
  let input: Parameters<HostCore['execute']>[0] = {};
  for (let r = core.execute(input); r !== null; r = core.execute(input)) {
    if ('commit' in r) {
      storage.commit(r.commit.batch);
      r.commit.apply();
      input = {};
    } else if (r.need === 'entries') {
      input = { entries: storage.entries(r.start, r.end) };
    } else {
      input = { values: storage.readAppKeys(r.keys) };
    }
  }
}

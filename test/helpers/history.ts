/**
 * What a host stores of an engine's steps (log entries, Merkle nodes, checkpoints), for tests that drive
 * bare engines: the engine keeps no history, so their queries about the past read this MemoryStorage.
 */
import type { Receipt } from '../../shared/log/checkpoint.ts';
import { inclusionProofFrom, readerOf } from '../../shared/log/merkle-nodes.ts';
import type { EngineStep } from '../../shared/replica/engine.ts';
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

/**
 * What must hold after every whole-replica run (simulation.ts), from the honest replicas' storage and
 * cores: safety (logs are prefixes of one another; at most one signed checkpoint root per size, and it is
 * the root of the agreed log; durable log equals the in-memory one; faults charged to corrupted replicas
 * only; engine memory estimates under the budget) and liveness (every request an honest replica accepted
 * is logged and certified at every honest replica by the end).
 */
import { bytesEqual, toHex } from '../../../shared/crypto/bytes.ts';
import { checkpointPayload, checkpointTag } from '../../../shared/log/checkpoint.ts';
import { leafHash } from '../../../shared/log/merkle.ts';
import { MerkleLog } from '../../../shared/log/merkle-log.ts';
import { readerOf, rootFrom } from '../../../shared/log/merkle-nodes.ts';
import type { Fault } from '../../../shared/protocols/step.ts';
import type { QuorumSystem } from '../../../shared/quorum/quorum-system.ts';
import { DEFAULT_MEMORY_BUDGET_BYTES } from '../../../shared/replica/engine.ts';
import type { StoredEntry } from '../../../shared/replica/storage.ts';
import type { SimGroup } from './group.ts';
import type { HonestNode } from './nodes.ts';
import type { SimRequest } from './simulation.ts';
import { decodeFrame } from '../../../shared/link/frame.ts';
import { computeStateDigest } from '../../../shared/app/state.ts';
import { parseInstanceTag } from '../../../shared/protocols/instance-tag.ts';
import { decodeTransport } from '../../../shared/replica/transport.ts';

export interface RunFacts {
  readonly n: number;
  readonly quorum: QuorumSystem;
  readonly sim: SimGroup;
  readonly honest: readonly HonestNode[];
  readonly requests: readonly SimRequest[];
  readonly faults: readonly { readonly reporter: number; readonly fault: Fault; readonly at: number }[];
  readonly corrupted: readonly number[];
  readonly ended: 'done' | 'time-limit';
  readonly gstMs: number;
  readonly now: number;
  readonly memoryBudget?: number;
  /** Every honest replica rolled back together (the negative control): liveness is still checked for all. */
  readonly sharedRollback?: boolean;
  /** Replicas that found out they lost state rejoin (state transfers on): liveness is owed to them too. */
  readonly rejoin?: boolean;
}

/**
 * The epochs a link frame's messages speak in: every message whose tag names an epoch, except cbc-final
 * and cbc-proof, which only relay a certified value (the same whoever sends it). What a replica that rejoined after lost
 * state must never say again for an epoch it spoke in before (shared/replica/rejoin.ts).
 */
export function spokenEpochs(frame: Uint8Array, n: number): { readonly epoch: number; readonly what: string }[] {
  const d = decodeFrame(frame);
  if (!d.ok) return [];
  const out: { epoch: number; what: string }[] = [];
  for (const { msg } of decodeTransport(d.frame.payload).items) {
    const id = parseInstanceTag(msg.tag, n);
    if (id !== null && 'epoch' in id && msg.body.t !== 'cbc-final' && msg.body.t !== 'cbc-proof') out.push({ epoch: id.epoch, what: `${msg.body.t} for ${msg.tag}` });
  }
  return out;
}

export function checkRun(x: RunFacts): { safety: string[]; liveness: string | null } {
  const safety: string[] = [];
  // A replica whose storage went back is faulty: its own log may diverge (it is checked below only with the
  // group's signatures it holds, which need a kernel and so an honest replica's share), until it rejoins:
  // from then on its whole log is the signed one (the transfer checked the root) and it must stay so.
  const logs = x.honest.filter((h) => !h.rolledBack || h.rejoined).map((h) => ({ replica: h.index, log: h.storage.log }));
  // Durable logs: no holes, and every two agree wherever both have an entry.
  for (const { replica, log } of logs) {
    for (let i = 0; i < log.length; i++) {
      if (!log[i]) {
        safety.push(`replica ${replica}: stored log has a hole at ${i} (size ${log.length})`);
        break;
      }
    }
  }
  const longest = logs.reduce((a, b) => (b.log.length > a.log.length ? b : a), logs[0] ?? { replica: -1, log: [] as StoredEntry[] });
  for (const { replica, log } of logs) {
    for (let i = 0; i < log.length; i++) {
      const a = log[i];
      const b = longest.log[i];
      if (a && b && (a.id !== b.id || !bytesEqual(a.entry, b.entry))) {
        safety.push(`logs diverge at index ${i}: replica ${replica} has ${a.id.slice(0, 16)}, replica ${longest.replica} has ${b.id.slice(0, 16)}`);
        break;
      }
    }
  }
  // The in-memory log of a loaded core is exactly the durable one.
  for (const h of x.honest) {
    if (h.core && h.core.engine.log.size !== h.storage.log.length) {
      safety.push(`replica ${h.index}: engine log size ${h.core.engine.log.size} but ${h.storage.log.length} entries stored`);
    }
  }
  // Signed checkpoints: valid signatures, one root per size, the root of the agreed log at that size.
  const merkle = new MerkleLog();
  const rootAt: string[] = [toHex(merkle.root())];
  for (const e of longest.log) {
    if (!e) break;
    merkle.append(leafHash(e.entry));
    rootAt.push(toHex(merkle.root()));
  }
  // Stored Merkle nodes (what receipts and consistency proofs are made of) give the agreed roots.
  for (const h of x.honest) {
    const size = h.storage.log.length;
    if (size === 0 || size >= rootAt.length) continue;
    try {
      const root = toHex(rootFrom(readerOf(h.storage.nodes), size));
      if (root !== rootAt[size]) safety.push(`replica ${h.index}: its stored Merkle nodes give another root for size ${size} than the agreed log`);
    } catch (e) {
      safety.push(`replica ${h.index}: stored Merkle nodes for size ${size}: ${(e as Error).message}`);
    }
  }
  const kernel = x.sim.context(0).crypto.kernel;
  const rootOfSize = new Map<number, { root: string; replica: number }>();
  for (const h of x.honest) {
    for (const c of h.storage.checkpoints) {
      if (!kernel.verify('checkpoint', checkpointTag(c.epoch), checkpointPayload(c), c.signature)) {
        safety.push(`replica ${h.index} stored a checkpoint (epoch ${c.epoch}, size ${c.size}) whose signature does not verify`);
        continue;
      }
      const root = toHex(c.root);
      const seen = rootOfSize.get(c.size);
      if (seen && seen.root !== root) safety.push(`two signed checkpoints for size ${c.size}: root ${seen.root.slice(0, 16)} (replica ${seen.replica}) and ${root.slice(0, 16)} (replica ${h.index})`);
      else if (!seen) rootOfSize.set(c.size, { root, replica: h.index });
      if (c.size < rootAt.length && rootAt[c.size] !== root) safety.push(`replica ${h.index}: signed checkpoint for size ${c.size} (epoch ${c.epoch}) is not the root of the agreed log`);
    }
  }
  // Execution: the applications' digests an honest replica computed for an epoch give the state digest the
  // group signed for it (a replica whose execution diverged would otherwise go unnoticed while t others sign).
  for (const h of x.honest) {
    if (!h.core || h.rolledBack) continue;
    for (const c of h.storage.checkpoints) {
      const digests = h.core.engine.appDigestsAt(c.epoch);
      if (digests && toHex(computeStateDigest(c.root, digests)) !== toHex(c.stateDigest)) {
        safety.push(`replica ${h.index}: its applications' digests for epoch ${c.epoch} do not give the signed state digest`);
      }
    }
  }
  // Faults: an honest replica never accuses another honest one (a rolled-back replica is faulty).
  const corrupted = new Set([...x.corrupted, ...x.honest.filter((h) => h.rolledBack).map((h) => h.index)]);
  const accused = new Set<string>();
  for (const { reporter, fault, at } of x.faults) {
    // Twins are corrupted replicas made of honest code: they may blame anyone.
    if (corrupted.has(fault.peer) || corrupted.has(reporter)) continue;
    const key = `${reporter}/${fault.peer}/${fault.kind}`;
    if (accused.has(key)) continue;
    accused.add(key);
    safety.push(`honest replica ${fault.peer} blamed by ${reporter} for ${fault.kind} at ${fault.tag}: ${fault.detail} (${at} ms)`);
  }
  const budget = x.memoryBudget ?? DEFAULT_MEMORY_BUDGET_BYTES;
  for (const h of x.honest) {
    if (h.maxRetainedBytes > budget) safety.push(`replica ${h.index}: engine memory estimate reached ${h.maxRetainedBytes} bytes, over the budget ${budget}`);
  }
  return { safety, liveness: x.ended === 'done' ? null : livenessReport(x) };
}

function livenessReport(x: RunFacts): string {
  const foundOut = (h: HonestNode) => h.rejoined || h.core?.mode === 'lost-state' || !!h.storage.meta.get('lost-state');
  const live = x.honest.filter((h) => !h.rolledBack || x.sharedRollback || (x.rejoin && foundOut(h) && !h.rejoinRefused));
  const honestIdx = new Set(live.map((h) => h.index));
  const required = x.requests.filter((r) => [...r.acceptedBy].some((i) => honestIdx.has(i)));
  const parts: string[] = [];
  for (const h of live) {
    const core = h.core;
    if (!h.up || !core) {
      parts.push(`replica ${h.index} down`);
      continue;
    }
    const missing = required.filter((r) => !h.certified(r.id) && !(r.encrypted && h.certified(r.plainId))).length;
    const m = core.metrics();
    const errors = m.links.filter((l) => l.lastError).map((l) => `${l.peer}: ${l.lastError!.slice(0, 80)}`);
    parts.push(
      `replica ${h.index}${m.mode !== 'active' ? ` (${m.mode}${m.rejoin ? `, passive until ${m.rejoin.passiveUntil}` : ''})` : ''}: ${missing}/${required.length} not certified, epoch ${m.engine.epoch}, log ${m.engine.logSize}, pending ${m.engine.pending}, outbox [${m.outbox.join(',')}]` +
        (errors.length > 0 ? `, link errors {${errors.join('; ')}}` : ''),
    );
  }
  return `liveness: not every accepted request certified everywhere ${x.now - x.gstMs} ms after GST: ${parts.join(' | ')}`;
}

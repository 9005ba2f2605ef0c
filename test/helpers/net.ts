/**
 * A tiny deterministic network for protocol unit tests with hand-made schedules (the seeded adversarial
 * simulator lives in infra/sim). Messages sit in a pool; `deliver` picks by a predicate or pseudo-randomly.
 */
import { thresholdQuorumSystem } from '../../shared/quorum/index.ts';
import type { QuorumSystem } from '../../shared/quorum/index.ts';
import { kernelScheme, quorumScheme } from '../../shared/crypto/schemes.ts';
import { insecureTestCrypto, realCrypto } from '../../shared/protocols/crypto-suite.ts';
import type { ProtocolContext } from '../../shared/protocols/context.ts';
import type { Message } from '../../shared/protocols/messages.ts';
import type { Fault, Protocol, Step } from '../../shared/protocols/step.ts';
import { dealTestKey } from './keys.ts';
import { frame } from '../../shared/crypto/bytes.ts';
import { ed25519PublicKey } from '../../shared/crypto/ed25519.ts';
import { sha256 } from '../../shared/crypto/sha256.ts';

export interface InFlight {
  readonly from: number;
  readonly to: number;
  readonly msg: Message;
}

/** 'real': threshold BLS and Ed25519 echo keys (as dealt now); 'real-bls': threshold BLS echoes too. */
export function contexts(q: QuorumSystem, crypto: 'real' | 'real-bls' | 'insecure' = 'insecure'): ProtocolContext[] {
  const groupId = new Uint8Array(32).fill(9);
  const ks = kernelScheme(q.description);
  const qs = quorumScheme(q.description);
  const K = crypto !== 'insecure' ? dealTestKey(ks, 'net-kernel') : null;
  const Q = crypto !== 'insecure' ? dealTestKey(qs, 'net-quorum') : null;
  const seeds = Array.from({ length: q.n }, (_, i) => sha256(frame('net-echo', String(i))));
  const publicKeys = seeds.map(ed25519PublicKey);
  return Array.from({ length: q.n }, (_, me) => ({
    me,
    n: q.n,
    quorum: q,
    maxValueBytes: 1 << 20,
    crypto:
      K && Q
        ? realCrypto({
            groupId,
            kernel: K.pk,
            quorum: Q.pk,
            kernelShare: K.shares[me]!,
            quorumShare: Q.shares[me]!,
            ...(crypto === 'real' ? { echo: { publicKeys, seed: seeds[me]! } } : {}),
          })
        : insecureTestCrypto(groupId, me, ks, qs),
  }));
}

export const threshold = (n: number, t: number) => contexts(thresholdQuorumSystem(n, t));

export class TestNet<I, O> {
  readonly pool: InFlight[] = [];
  readonly outputs: O[][];
  readonly faults: Fault[] = [];
  private seed: number;

  constructor(
    readonly nodes: (Protocol<I, O> | null)[],
    seed = 1,
  ) {
    this.outputs = nodes.map(() => []);
    this.seed = seed;
  }

  private rand(k: number): number {
    this.seed = (Math.imul(this.seed, 1103515245) + 12345) >>> 0;
    return this.seed % k;
  }

  /** Queue a step's messages as sent by `from`. Messages from null (Byzantine, hand-driven) nodes too. */
  absorb(from: number, step: Step<O>): void {
    for (const m of step.messages) {
      if (m.to === 'all') for (let i = 0; i < this.nodes.length; i++) this.pool.push({ from, to: i, msg: m.msg });
      else this.pool.push({ from, to: m.to, msg: m.msg });
    }
    this.outputs[from]!.push(...step.outputs);
    this.faults.push(...step.faults);
  }

  inject(from: number, to: number | 'all', msg: Message): void {
    if (to === 'all') for (let i = 0; i < this.nodes.length; i++) this.pool.push({ from, to: i, msg });
    else this.pool.push({ from, to, msg });
  }

  input(i: number, x: I): void {
    this.absorb(i, this.nodes[i]!.handleInput(x));
  }

  /** Delivers pool messages (matching `only`, if given) in pseudo-random order until none is left. */
  run(only?: (m: InFlight) => boolean, maxSteps = 1_000_000): number {
    let steps = 0;
    for (;;) {
      const candidates = only ? this.pool.filter(only) : this.pool;
      if (candidates.length === 0 || steps >= maxSteps) return steps;
      const m = candidates[this.rand(candidates.length)]!;
      this.pool.splice(this.pool.indexOf(m), 1);
      steps++;
      const node = this.nodes[m.to];
      if (!node) continue;
      const s = node.handleMessage(m.from, m.msg);
      if (s.deferred) this.pool.push(m);
      this.absorb(m.to, s);
    }
  }
}

/**
 * Validated multi-valued agreement (`ValidatedAgreement`, shared/protocols/acs.ts: CBC proposals, n parallel
 * ABAs, the lowest-index proposal of the agreed subset) under the simulator. One instance, tag 'mvba/<k>' (k seeded,
 * so the coin flips differ between seeds).
 * External validity predicate: a value is valid iff it is 1..64 bytes long and its first byte is even.
 * Every honest replica proposes a seeded random valid value at step 0 or a little later; Byzantine replicas
 * get inputs too (their inner instance proposes through their behaviour), invalid ones in about half the
 * runs.
 * Checks: integrity (at most one decision per replica), agreement (one (proposer, value) among all honest
 * decisions), external validity (the decided value satisfies the predicate and its proof verifies for
 * `mvba/cbc/<proposer>`), honest-proposer validity (if the decided proposer is honest, the value is its
 * input); liveness: every honest replica decides.
 * Metrics: `rounds` (highest ABA round any honest replica's sub-ABAs reached), `quality` (1 if the decided
 * proposal is an honest replica's), `proposer` (the decided one), `decidedAt` (step of the last honest
 * decision; the run itself goes on to quiescence).
 *
 * Params: `byzantineProposals: 'auto' | 'valid' | 'invalid'` (the Byzantine replicas' inputs; auto: invalid
 * in about half the runs).
 * Extra behaviour 'mvba-split' (protocol-aware): the corrupted replicas running it collude on consistent
 * broadcast. Each one's own proposal goes out as SEND(A) to the honest replicas of side 0 and SEND(B) to
 * side 1 (B a valid variant of A, or in some runs an invalid one; A itself is invalid in some runs), and it
 * combines each side's echo shares with the signature shares of all colluders (the adversary holds their
 * keys) into a proof per side. Within the structure one side never reaches a quorum (consistency); beyond
 * it both sides deliver different values, ABA_j decides 1, and honest replicas decide different values
 * (the negative control). The attack needs the colluders' key shares, so it lives in an instance wrapper
 * (`CbcSplitSender`, also used by the ab scenario) that `create` hands to these replicas; the behaviour
 * itself passes messages through.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesEqual } from '../../../shared/crypto/bytes.ts';
import { verifyCbcProof } from '../../../shared/protocols/cbc.ts';
import type { CbcOutput } from '../../../shared/protocols/cbc.ts';
import type { ProtocolContext } from '../../../shared/protocols/context.ts';
import type { Message } from '../../../shared/protocols/messages.ts';
import { childTag, formatSubsetTag, parseSubsetTag } from '../../../shared/protocols/instance-tag.ts';
import { ValidatedAgreement } from '../../../shared/protocols/acs.ts';
import { Step } from '../../../shared/protocols/step.ts';
import type { Protocol } from '../../../shared/protocols/step.ts';
import type { BehaviourFactory } from '../byzantine.ts';
import { agreement, firstFailure, honestOutputs, integrity, outputCount, validity } from '../checkers.ts';
import { hex } from '../encode.ts';
import type { RunSetup, Scenario, ScenarioOptions } from '../types.ts';

export const MVBA_TAG = 'mvba';

export type MvbaOutput = CbcOutput & { proposer: number };

/** The external validity predicate of the scenario: 1..64 bytes, first byte even. */
export const mvbaValid = (v: Uint8Array): boolean => v.length >= 1 && v.length <= 64 && (v[0]! & 1) === 0;

/** A behaviour that leaves the inner instance's messages alone (the attack is in the instance wrapper). */
export const passThrough =
  (name: string): BehaviourFactory =>
  () => ({ name, transform: (o) => [o] });

export interface CbcSplitOptions {
  readonly me: number;
  readonly n: number;
  /** The corrupted replicas running the attack (they sign whatever a colluder needs). */
  readonly colluders: readonly number[];
  /** Any replica's context (the adversary uses the colluders' key shares only). */
  readonly ctxOf: (replica: number) => ProtocolContext;
  readonly side: readonly (0 | 1)[];
  /** The value side 1 gets instead of `value` (side 0 gets `value` itself). */
  readonly variant: (value: Uint8Array, tag: string) => Uint8Array;
  /** The proposer of a consistent-broadcast tag of the inner instance, else null (its tag parser). */
  readonly cbcProposer: (tag: string) => number | null;
}

interface SplitState {
  readonly values: readonly [Uint8Array, Uint8Array];
  readonly digests: readonly [Uint8Array, Uint8Array];
  readonly shares: readonly [Map<number, Uint8Array>, Map<number, Uint8Array>];
  readonly finals: [Uint8Array | null, Uint8Array | null];
  readonly wants: Set<number>;
}

/**
 * A colluding replica's instance: an honest inner instance whose own consistent broadcasts (every tag
 * the inner instance's parser reads as a consistent broadcast of `me`) are replaced by an equivocation. The inner SEND(v) becomes SEND(v) to side 0 and
 * SEND(variant(v)) to side 1; echo shares are sorted by the value they sign, topped up with every
 * colluder's share, and combined into one proof per side as soon as that is qualified; FINAL(v) goes to
 * side 0 and to the colluders (so their inner instances deliver v), FINAL(variant) to side 1; `cbc-want`
 * is answered per side.
 */
export class CbcSplitSender<I, O> implements Protocol<I, O> {
  private readonly splits = new Map<string, SplitState>();

  constructor(
    readonly inner: Protocol<I, O>,
    private readonly o: CbcSplitOptions,
  ) {}

  /** Whether a tag is one of our own consistent broadcasts (the ones we equivocate in). */
  private isOwnCbc(tag: string): boolean {
    return this.o.cbcProposer(tag) === this.o.me;
  }

  get tag(): string {
    return this.inner.tag;
  }

  get terminated(): boolean {
    return this.inner.terminated;
  }

  handleInput(x: I): Step<O> {
    return this.rewrite(this.inner.handleInput(x));
  }

  handleMessage(from: number, msg: Message): Step<O> {
    if (typeof msg.tag === 'string' && this.isOwnCbc(msg.tag)) {
      const st = this.splits.get(msg.tag);
      const b = msg.body;
      if (st && b.t === 'cbc-echo') return this.onEcho(st, from, msg.tag, b.share);
      if (st && b.t === 'cbc-want') return this.onWant(st, from, msg.tag);
    }
    return this.rewrite(this.inner.handleMessage(from, msg));
  }

  private isColluder(j: number): boolean {
    return this.o.colluders.includes(j);
  }

  private rewrite(s: Step<O>): Step<O> {
    const out = new Step<O>();
    out.outputs.push(...s.outputs);
    out.faults.push(...s.faults);
    out.deferred = s.deferred;
    for (const m of s.messages) {
      const b = m.msg.body;
      if (!this.isOwnCbc(m.msg.tag)) out.messages.push(m);
      else if (b.t === 'cbc-send' && !this.splits.has(m.msg.tag)) this.start(out, m.msg.tag, b.value);
      else if (b.t !== 'cbc-send' && b.t !== 'cbc-echo' && b.t !== 'cbc-final' && b.t !== 'cbc-proof') out.messages.push(m);
    }
    return out;
  }

  private start(out: Step<O>, tag: string, a: Uint8Array): void {
    const values = [a, this.o.variant(a, tag)] as const;
    const digests = [sha256(values[0]), sha256(values[1])] as const;
    const st: SplitState = { values, digests, shares: [new Map(), new Map()], finals: [null, null], wants: new Set() };
    this.splits.set(tag, st);
    for (const c of this.o.colluders) {
      const q = this.o.ctxOf(c).crypto.quorum;
      for (const s of [0, 1] as const) st.shares[s].set(c, q.sign('cbc', tag, digests[s]));
    }
    for (let j = 0; j < this.o.n; j++) {
      if (this.isColluder(j)) continue;
      out.send(j, { tag, body: { t: 'cbc-send', value: values[this.o.side[j]!] } });
    }
    for (const s of [0, 1] as const) this.tryCombine(out, st, tag, s);
  }

  private onEcho(st: SplitState, from: number, tag: string, share: Uint8Array): Step<O> {
    const out = new Step<O>();
    const q = this.o.ctxOf(this.o.me).crypto.quorum;
    for (const s of [0, 1] as const) {
      if (st.finals[s] || st.shares[s].has(from) || !(share instanceof Uint8Array)) continue;
      if (q.verifyShare('cbc', tag, st.digests[s], from, share)) {
        st.shares[s].set(from, share);
        this.tryCombine(out, st, tag, s);
      }
    }
    return out;
  }

  private onWant(st: SplitState, from: number, tag: string): Step<O> {
    const out = new Step<O>();
    if (this.isColluder(from)) return out;
    st.wants.add(from);
    const s = this.o.side[from]!;
    const sig = st.finals[s];
    if (sig) out.send(from, { tag, body: { t: 'cbc-final', value: st.values[s], signature: sig } });
    return out;
  }

  private tryCombine(out: Step<O>, st: SplitState, tag: string, s: 0 | 1): void {
    const q = this.o.ctxOf(this.o.me).crypto.quorum;
    if (st.finals[s] || !q.scheme.isQualified(st.shares[s].keys())) return;
    const sig = q.combine('cbc', tag, st.digests[s], st.shares[s]).signature;
    st.finals[s] = sig;
    const body = { t: 'cbc-final' as const, value: st.values[s], signature: sig };
    for (let j = 0; j < this.o.n; j++) {
      const mine = this.isColluder(j) ? s === 0 : this.o.side[j] === s;
      if (mine) out.send(j, { tag, body });
    }
  }
}

/** The colluders of a run: the corrupted replicas whose behaviour is `name`. */
export function colludersOf(setup: RunSetup, name: string): number[] {
  return setup.byzantine.filter((i) => setup.behaviourOf[i] === name);
}

export function mvbaScenario(o: ScenarioOptions): Scenario<Uint8Array, MvbaOutput> {
  const proposals = (o.params?.['byzantineProposals'] as string | undefined) ?? 'auto';
  return {
    protocol: 'mvba',
    structure: o.structure,
    behaviours: { 'mvba-split': passThrough('mvba-split') },
    plan(setup) {
      const { rng, n } = setup;
      // A seeded instance number in the tag: the threshold coin of ABA round r is a function of its tag
      // (keys are dealt once per structure), so a fixed tag would replay the same coin flips in every seed.
      const tag = childTag(MVBA_TAG, rng.int(1 << 20));
      const corrupted = new Set(setup.byzantine);
      const byzantineInvalid = proposals === 'invalid' || (proposals === 'auto' && rng.chance(0.5));
      const validValue = () => {
        const v = rng.bytes(1 + rng.int(64));
        v[0]! &= 0xfe;
        return v;
      };
      const values = Array.from({ length: n }, (_, i) => {
        const v = validValue();
        if (corrupted.has(i) && byzantineInvalid) v[0]! |= 1;
        return v;
      });
      const inputs = Array.from({ length: n }, (_, replica) => ({ replica, atStep: rng.chance(0.5) ? 0 : rng.int(4 * n), value: values[replica]! }));
      const colluders = colludersOf(setup, 'mvba-split');
      // Side 1's value: a valid variant (first byte kept), or in some runs an invalid one.
      const invalidVariant = rng.chance(0.25);
      const variant = (v: Uint8Array) => {
        const b = v.length > 0 ? v.slice() : Uint8Array.of(0);
        if (invalidVariant) b[0]! ^= 1;
        else b[b.length - 1]! ^= 2;
        return b;
      };
      const ctxOf: ProtocolContext[] = [];
      const key = (d: MvbaOutput) => `${d.proposer}:${hex(d.value)}`;
      const decided = (view: { outputs: readonly (readonly MvbaOutput[])[] }) => setup.honest.map((i) => view.outputs[i]![0]).find((d) => d !== undefined);
      return {
        describe: `tag ${tag}, ${byzantineInvalid ? 'invalid' : 'valid'} Byzantine proposals${colluders.length > 0 ? `, ${invalidVariant ? 'invalid' : 'valid'} split variant` : ''}`,
        create(ctx) {
          ctxOf[ctx.me] = ctx;
          const inner = new ValidatedAgreement(ctx, tag, mvbaValid);
          if (!colluders.includes(ctx.me)) return inner;
          const cbcProposer = (t: string) => {
            const id = parseSubsetTag(t, tag, n);
            return id !== null && id.kind === 'cbc' ? id.proposer : null;
          };
          return new CbcSplitSender(inner, { me: ctx.me, n, colluders, ctxOf: (i) => ctxOf[i]!, side: setup.side, variant, cbcProposer });
        },
        inputs,
        check(view) {
          const rs = honestOutputs(view);
          const ctx = ctxOf[setup.honest[0] ?? 0]!;
          const proofOk = (d: MvbaOutput) =>
            Number.isInteger(d.proposer) &&
            d.proposer >= 0 &&
            d.proposer < n &&
            verifyCbcProof(ctx.crypto, formatSubsetTag(tag, { kind: 'cbc', proposer: d.proposer }), d.value, d.signature);
          const safety = [
            ...integrity(rs, { key, maxPerReplica: 1 }),
            ...agreement(rs, key, 'decided'),
            ...validity(rs, (d) => mvbaValid(d.value), 'the decided value satisfies the external validity predicate'),
            ...validity(rs, proofOk, 'the decided value carries a valid consistent-broadcast proof'),
            ...validity(rs, (d) => corrupted.has(d.proposer) || (values[d.proposer] !== undefined && bytesEqual(d.value, values[d.proposer]!)), `an honest proposer's decided value is its input`),
          ];
          return { safety, liveness: firstFailure(outputCount(rs, 1, 'decision')) };
        },
        metrics(view) {
          let rounds = 0;
          for (const i of setup.honest) rounds = Math.max(rounds, (view.instances[i] as ValidatedAgreement | null)?.maxAbaRound ?? 0);
          const d = decided(view);
          const decidedAt = Math.max(0, ...setup.honest.map((i) => view.outputSteps[i]![0] ?? 0));
          return { rounds, quality: d && !corrupted.has(d.proposer) ? 1 : 0, proposer: d?.proposer ?? -1, decidedAt };
        },
      };
    },
  };
}

/**
 * Agreement on a common subset of consistently broadcast proposals, and validated multi-valued
 * agreement built on it.
 *
 * Construction: Ben-Or, Kelmer, Rabin, "Asynchronous secure computations with optimal resilience",
 * PODC 1994, as used by HoneyBadgerBFT (Miller et al., CCS 2016, section 4.4), with consistent broadcast
 * (CKPS 2001 section 2.3, cbc.ts) in place of reliable broadcast, as in BEAT and Dumbo.
 *   Every replica consistently broadcasts its proposal; honest replicas echo only externally valid ones.
 *   For each replica j a binary agreement ABA_j decides whether j's proposal is in the subset: input 1 on
 *   delivering j's proposal; input 0 to every ABA not yet started once the ABAs decided 1 form a quorum.
 *   The output is the proposals of all j whose ABA decided 1; a decision 1 means an honest replica input
 *   1 and so holds the proposal and its proof, which a replica that lacks it fetches with cbc-want.
 * Properties: agreement (same subset, same proposals: CBC consistency), validity (every output proposal
 * carries a quorum-signed proof, so an honest replica found it valid), and the subset's proposers form a
 * quorum, so they include an honest replica (Q3).
 *
 * Why not the CKPS 2001 MVBA (section 4): its candidate loop runs binary agreements one after another and
 * needs an extra round trip so that the coin-chosen candidate was delivered widely enough; here all n
 * agreements run in parallel (latency of one), and atomic broadcast gets a quorum of batches per epoch
 * instead of one vector. The price is n binary agreements per epoch (measured in docs/benchmarks.md).
 */
import { invariant } from '../invariant/index.ts';
import type { ProtocolContext } from './context.ts';
import { ConsistentBroadcast } from './cbc.ts';
import type { CbcOutput, Validator } from './cbc.ts';
import { BinaryAgreement } from './aba.ts';
import { proposesRequests } from './batch.ts';
import type { Bit, Message } from './messages.ts';
import { formatSubsetTag, isCanonicalTag, parseSubsetTag } from './instance-tag.ts';
import { Step } from './step.ts';
import type { Protocol } from './step.ts';

export type SubsetOutput = ReadonlyMap<number, CbcOutput>;

export class CommonSubset implements Protocol<Uint8Array, SubsetOutput> {
  readonly cbc: ConsistentBroadcast[];
  readonly aba: BinaryAgreement[];
  private readonly decisions = new Map<number, Bit>();
  private result: SubsetOutput | null = null;
  private zeroesGiven = false;
  private readonly wanted = new Set<number>();
  /** Per agreement j: who voted 1 in it (see onVoteForOne). */
  private readonly oneVoters = new Map<number, Set<number>>();
  /**
   * Whether we gave our proposal. Until then no agreement gets an input from us: an epoch nobody honest
   * asked for costs us echoes at most, not binary agreements (a Byzantine peer cannot make an idle group
   * run epochs; issue 13, bug 4). Every honest replica gives its proposal once any does (ab.ts).
   */
  private proposed = false;

  constructor(
    private readonly ctx: ProtocolContext,
    readonly tag: string,
    validate: Validator = () => true,
  ) {
    invariant(isCanonicalTag(tag), () => `common subset tag ${tag} is not canonical`);
    this.cbc = Array.from({ length: ctx.n }, (_, j) => new ConsistentBroadcast(ctx, formatSubsetTag(tag, { kind: 'cbc', proposer: j }), j, validate));
    this.aba = Array.from({ length: ctx.n }, (_, j) => new BinaryAgreement(ctx, formatSubsetTag(tag, { kind: 'aba', proposer: j })));
  }

  get terminated(): boolean {
    return this.result !== null;
  }

  get output(): SubsetOutput | null {
    return this.result;
  }

  /** Highest binary-agreement round any ABA reached (for metrics). */
  get maxAbaRound(): number {
    return Math.max(...this.aba.map((a) => a.maxRound));
  }

  handleInput(proposal: Uint8Array): Step<SubsetOutput> {
    const step = new Step<SubsetOutput>();
    if (this.proposed) return step;
    this.proposed = true;
    this.route(step, this.ctx.me, 'cbc', this.cbc[this.ctx.me]!.handleInput(proposal));
    // Proposals delivered before ours: their agreements get our 1 now.
    for (let j = 0; j < this.ctx.n; j++) if (this.cbc[j]!.delivered) this.voteFor(step, j);
    this.check(step);
    return step;
  }

  /** A delivered proposal of j that is not empty, if any (evidence that an honest replica wants the epoch). */
  deliveredProposal(): number | null {
    for (let j = 0; j < this.ctx.n; j++) {
      const d = this.cbc[j]!.delivered;
      if (d && proposesRequests(d.value)) return j;
    }
    return null;
  }

  handleMessage(from: number, msg: Message): Step<SubsetOutput> {
    const step = new Step<SubsetOutput>();
    // Only the canonical tag of one of our instances: an alias would reach an instance under a name its
    // signatures are not bound to (instance-tag.ts).
    const id = parseSubsetTag(msg.tag, this.tag, this.ctx.n);
    if (id === null) return step.fault(from, msg.tag, 'malformed', 'tag outside this common subset');
    const j = id.proposer;
    const child = id.kind === 'cbc' ? this.cbc[j]!.handleMessage(from, msg) : this.aba[j]!.handleMessage(from, msg);
    if (child.unchanged) return step.ignore();
    this.route(step, j, id.kind, child);
    // A deferred message must change nothing (it comes again), and a refused one is no evidence.
    if (id.kind === 'aba' && !child.deferred && child.faults.length === 0 && votesForOne(msg)) this.onVoteForOne(step, j, from);
    this.check(step);
    return step;
  }

  /**
   * Votes for 1 in j's agreement from a kernel of replicas (so from an honest one, which voted 1 only
   * holding j's proposal and its proof): if we lack the proposal, ask those voters for it (cbc-want), so we
   * deliver it and vote too. Consistent broadcast has no totality: a Byzantine proposer may give its FINAL
   * to some honest replicas only. Then j's agreement can decide 1 at one honest replica while another,
   * which neither delivered j's proposal nor saw a quorum of agreements decide 1, gives it no input, and
   * its round messages were what the others still needed: the whole-replica soak found the group stalled
   * so (seed 1018397 at n = 4, replay). A kernel, not the first vote: normally j's own FINAL arrives first
   * (three hops against four), and fetching on every early vote would move each batch several times.
   */
  private onVoteForOne(step: Step<SubsetOutput>, j: number, from: number): void {
    if (this.cbc[j]!.delivered || this.wanted.has(j)) return;
    let voters = this.oneVoters.get(j);
    if (!voters) this.oneVoters.set(j, (voters = new Set()));
    voters.add(from);
    if (!this.ctx.quorum.isKernel(voters)) return;
    this.wanted.add(j);
    this.route(step, j, 'cbc', this.cbc[j]!.wantFrom(voters));
  }

  /** Asks every replica for j's proposal (once), once j's agreement decided 1 and we lack it. */
  private fetchProposal(step: Step<SubsetOutput>, j: number): void {
    if (this.cbc[j]!.delivered || this.wanted.has(j)) return;
    this.wanted.add(j);
    this.route(step, j, 'cbc', this.cbc[j]!.want());
  }

  /** Input 1 to j's agreement once j's proposal is delivered and we proposed. */
  private voteFor(step: Step<SubsetOutput>, j: number): void {
    const aba = this.aba[j]!;
    if (this.proposed && !aba.hasInput && aba.decision === null) this.route(step, j, 'aba', aba.handleInput(1));
  }

  private route(step: Step<SubsetOutput>, j: number, kind: 'cbc' | 'aba', child: Step<unknown>): void {
    if (kind === 'cbc') {
      step.absorb(child as Step<CbcOutput>, () => this.voteFor(step, j));
    } else {
      step.absorb(child as Step<Bit>, (b) => {
        this.decisions.set(j, b);
        if (b === 1) this.fetchProposal(step, j);
      });
    }
  }

  private check(step: Step<SubsetOutput>): void {
    if (this.result) return;
    const ones = [...this.decisions].filter(([, b]) => b === 1).map(([j]) => j);
    if (this.proposed && !this.zeroesGiven && this.ctx.quorum.isQuorum(ones)) {
      this.zeroesGiven = true;
      for (let j = 0; j < this.ctx.n; j++) {
        const aba = this.aba[j]!;
        if (!aba.hasInput && aba.decision === null) this.route(step, j, 'aba', aba.handleInput(0));
      }
      return this.check(step);
    }
    if (this.decisions.size < this.ctx.n) return;
    const out = new Map<number, CbcOutput>();
    for (const j of ones) {
      const d = this.cbc[j]!.delivered;
      if (!d) return;
      out.set(j, d);
    }
    this.result = out;
    step.output(out);
  }
}

/**
 * Validated multi-valued Byzantine agreement (external validity, CKPS 2001 definition 4): the common
 * subset above, deciding the proposal of the lowest-numbered replica in the subset. Every honest replica
 * decides the same value, and it satisfies the validity predicate.
 */
export class ValidatedAgreement implements Protocol<Uint8Array, CbcOutput & { proposer: number }> {
  private readonly acs: CommonSubset;
  private done = false;

  constructor(ctx: ProtocolContext, readonly tag: string, validate: Validator) {
    this.acs = new CommonSubset(ctx, tag, validate);
  }

  get terminated(): boolean {
    return this.done;
  }

  get maxAbaRound(): number {
    return this.acs.maxAbaRound;
  }

  handleInput(v: Uint8Array): Step<CbcOutput & { proposer: number }> {
    return this.lift(this.acs.handleInput(v));
  }

  handleMessage(from: number, msg: Message): Step<CbcOutput & { proposer: number }> {
    return this.lift(this.acs.handleMessage(from, msg));
  }

  private lift(s: Step<SubsetOutput>): Step<CbcOutput & { proposer: number }> {
    const step = new Step<CbcOutput & { proposer: number }>();
    step.absorb(s, (subset) => {
      const proposer = Math.min(...subset.keys());
      this.done = true;
      step.output({ ...subset.get(proposer)!, proposer });
    });
    return step;
  }
}

/** Whether an agreement message is a vote for 1 (BVAL, AUX or TERM of 1, or CONF with 1 in it). */
function votesForOne(msg: Message): boolean {
  const b = msg.body;
  return ((b.t === 'aba-bval' || b.t === 'aba-aux' || b.t === 'aba-term') && b.value === 1) || (b.t === 'aba-conf' && (b.values & 2) !== 0);
}

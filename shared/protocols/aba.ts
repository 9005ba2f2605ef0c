/**
 * Randomized binary Byzantine agreement with a threshold coin.
 *
 * Protocol: Mostefaoui, Moumen, Raynal, "Signature-free asynchronous binary Byzantine consensus with
 * t < n/3, O(n^2) messages, and O(1) expected time", J. ACM 62(4), 2015 (PODC 2014), with
 *  - the CONF phase that closes the liveness attack on the original protocol found by MacBrough (2018), as
 *    in HoneyBadgerBFT (initc3/HoneyBadgerBFT-Python, binaryagreement.py, wait_for_conf_values): no honest
 *    replica releases its coin share for round r before a quorum of CONF(r, S) messages with S inside its
 *    own bin_values has arrived, and the values it then uses with the coin are the union of those S (not
 *    its own AUX-derived values), so they are fixed by CONFs sent before the coin could be known;
 *  - a threshold coin (Cachin-Kursawe-Shoup 2000; coin.ts) as the common coin in every round: its value
 *    is unpredictable until an honest replica releases a share, which defeats an adversary that schedules
 *    messages after seeing the coin (a local or predictable coin does not);
 *  - fixed coins in two of every three rounds (as in hbbft, binary_agreement/mod.rs): rounds r = 0 mod 3
 *    use coin 1, r = 1 mod 3 coin 0, and only r = 2 mod 3 the threshold coin. In the common case (every
 *    honest replica starts with the same value, as in atomic broadcast's subset agreement when batches
 *    arrive in time) the agreement decides in round 0 or 1 without any coin share, signature combination
 *    or pairing: the coin was 57% of an epoch's crypto at n = 4 (docs/benchmarks.md). Agreement and
 *    validity hold whatever the coin; an adversary who knows the fixed coins can at most keep the
 *    estimates split through those rounds, and every third round's coin stays unpredictable, so
 *    termination keeps probability 1 (the expected number of rounds under attack about triples);
 *  - decided is not terminated (the fix of a stall the whole-replica review found; docs/protocols.md):
 *    a replica that decides b in round r sends TERM(b, r) and keeps relaying BVAL for rounds <= r, since
 *    MMR's BV-broadcast needs every honest replica to relay (a deaf decided replica left a laggard short of
 *    a third BVAL(0) forever at n = 4); it frees its state only on TERM from a quorum. TERM(b, r) stands
 *    for BVAL(b), AUX(b) and CONF({b}) in rounds > r only, where that is exactly what an honest replica
 *    sends: once an honest replica decides b in round r0, every honest replica leaves r0 with estimate b,
 *    not-b can never again reach a kernel of BVALs, and every honest replica decides by round r0 + 3 (a
 *    fixed coin equal to b comes within three rounds). The one threshold-coin round in (r, r + 3] needs
 *    the decided replica's share too: it releases it when a peer's share for that round arrives. TERM(b)
 *    from a kernel outputs b at once (a kernel holds an honest replica that decided b); such a replica
 *    sends TERM(b, r) too, r the least round such that TERMs bound to rounds <= r come from a kernel (so
 *    r is at least the first round an honest replica decided in), and runs its rounds up to r (with b as
 *    its input if it had none), since the others may need its messages there;
 *  - general adversary structures (Cachin DSN 2001; Hirt-Maurer): "t + 1" is a kernel and "n - t" a quorum.
 * Per round r with estimate est:
 *   BVAL(r, est) to all; relay BVAL(r, v) once v comes from a kernel; v joins bin_values on a quorum.
 *   On the first value in bin_values: AUX(r, v). Once AUX from a quorum carry values in bin_values, send
 *   CONF(r, those values). Once CONF from a quorum carry subsets of bin_values, let vals be the union of
 *   the sets in those CONFs and release the coin share; with the coin s: vals = {b} -> est = b, and decide
 *   if b = s; vals = {0,1} -> est = s.
 * Why vals come from the CONFs (a fix; the first version used its own AUX-derived values, as hbbft does):
 * a replica's AUX-derived values can still be shaped after the coin is out. With n = 4, the simulator's
 * coin-aware adversary (infra/sim/scenarios/aba.ts) lets two replicas see AUX(0) and AUX(1) and send
 * CONF({0,1}) (they release their shares, so the coin s is known), then feeds the third, still waiting,
 * bin_values {not s} first and only AUX(not s): it ends with {not s} and est = not s while the others take
 * est = s, in every round, so nobody ever decides (test/sim/aba.sim.test.ts, seed 3 at n = 4: 27 rounds
 * until GST). With vals from a quorum of CONFs, any two such quorums share an honest replica whose CONF
 * was sent before the coin could be known, so the only value that can be anyone's singleton is fixed
 * before the coin (MMR's argument again), and agreement is as before: a singleton {b} at one replica and
 * {not b} at another would need an honest CONF inside both.
 * Agreement and validity hold whatever the coin; termination needs the coin to be unpredictable.
 * BVAL for past rounds is still relayed (MMR's BV-broadcast must keep running for laggards); messages for
 * rounds beyond a bounded window are deferred (not stored), so a peer cannot make us allocate state.
 */
import { CryptoError } from '../crypto/errors.ts';
import { invariant } from '../invariant/index.ts';
import type { ProtocolContext } from './context.ts';
import { isBit, isBytes, isRound } from './context.ts';
import type { Bit, Message } from './messages.ts';
import { bitsOf, setOfBits } from './messages.ts';
import { coinName } from './instance-tag.ts';
import { Step } from './step.ts';
import type { Protocol } from './step.ts';

const EMPTY = new Uint8Array(0);
export const ABA_ROUND_WINDOW = 16;

/** The coin of round r when it is fixed (see the header), or null when the threshold coin decides. */
export function fixedCoin(r: number): Bit | null {
  const k = r % 3;
  return k === 0 ? 1 : k === 1 ? 0 : null;
}

class RoundState {
  readonly bval: [Set<number>, Set<number>] = [new Set(), new Set()];
  readonly bvalSent: [boolean, boolean] = [false, false];
  readonly binValues = new Set<Bit>();
  readonly aux = new Map<number, Bit>();
  auxSent = false;
  /** The value of the AUX this replica sent (introspection only). */
  auxValue: Bit | null = null;
  readonly conf = new Map<number, Set<Bit>>();
  confSent = false;
  /** Fixed when the coin share goes out: the union of the CONF sets (within bin_values) from a quorum. */
  vals: Set<Bit> | null = null;
  coinReleased = false;
  readonly coinShares = new Map<number, Uint8Array>();
  readonly badCoin = new Set<number>();
  coin: Bit | null = null;
}

export interface RoundInfo {
  /** Who sent BVAL(0) and BVAL(1) (TERM included). */
  readonly bvalFrom: readonly [readonly number[], readonly number[]];
  readonly binValues: readonly Bit[];
  readonly auxSent: boolean;
  /** The value of this replica's own AUX, once sent. */
  readonly auxValue: Bit | null;
  readonly confSent: boolean;
  readonly vals: readonly Bit[] | null;
  readonly coinReleased: boolean;
  readonly coin: Bit | null;
}

/** How far past its decision round a decided replica still releases coin shares (see the header). */
const COIN_AFTER_DECISION = 3;

export class BinaryAgreement implements Protocol<Bit, Bit> {
  private round = 0;
  private est: Bit | null = null;
  /** The value output (own decision, or TERM from a kernel). */
  private output: Bit | null = null;
  /**
   * The round our TERM is bound to: we sent TERM(b, termRound), which stands for us in every later round,
   * so we run rounds up to it only. Set when we decide by the round rules (that round), or when we output
   * on a kernel of TERMs (the round of kernelRound below).
   */
  private termRound: number | null = null;
  private done = false;
  private readonly rounds = new Map<number, RoundState>();
  /** TERM(value, round) per sender. */
  private readonly term = new Map<number, { readonly value: Bit; readonly round: number }>();
  private readonly termSenders: [Set<number>, Set<number>] = [new Set(), new Set()];
  /** Threshold-coin rounds after our decision for which we released a share on a peer's demand. */
  private readonly lateCoins = new Set<number>();
  private highestRound = 0;

  constructor(
    private readonly ctx: ProtocolContext,
    readonly tag: string,
  ) {}

  /** Freed: decided, and TERM from a quorum (every honest replica gets a kernel of TERMs without us). */
  get terminated(): boolean {
    return this.done;
  }

  /** The value output, once output (by deciding, or on TERM from a kernel). */
  get decision(): Bit | null {
    return this.output;
  }

  get hasInput(): boolean {
    return this.est !== null;
  }

  get currentRound(): number {
    return this.round;
  }

  /** The round our TERM is bound to (null before we sent it). */
  get decisionRound(): number | null {
    return this.termRound;
  }

  /** The current round's estimate (null before the input; read-only, for simulator adversaries and tests). */
  get estimate(): Bit | null {
    return this.est;
  }

  /** Highest round reached, counted from 0 (for metrics; read-only). */
  get maxRound(): number {
    return this.highestRound;
  }

  /**
   * Read-only view of round r's state, for simulator adversaries and tests (null if the round was never
   * touched, was pruned, or the instance terminated): BVAL senders, bin_values, whether AUX/CONF/the coin
   * share went out, the values fixed with the coin share, and the coin once combined.
   */
  roundInfo(r: number): RoundInfo | null {
    const st = this.rounds.get(r);
    if (!st) return null;
    return {
      bvalFrom: [[...st.bval[0]].sort((a, b) => a - b), [...st.bval[1]].sort((a, b) => a - b)],
      binValues: [...st.binValues].sort(),
      auxSent: st.auxSent,
      auxValue: st.auxValue,
      confSent: st.confSent,
      vals: st.vals ? [...st.vals].sort() : null,
      coinReleased: st.coinReleased,
      coin: st.coin,
    };
  }

  /** The name round r's threshold coin is signed under (instance-tag.ts). */
  coinName(r: number): string {
    return coinName(this.tag, r);
  }

  handleInput(value: Bit): Step<Bit> {
    const step = new Step<Bit>();
    if (this.est !== null || this.done || !isBit(value)) return step;
    this.est = value;
    this.startRound(step);
    return step;
  }

  handleMessage(from: number, msg: Message): Step<Bit> {
    const step = new Step<Bit>();
    if (this.done) return step.ignore();
    const b = msg.body;
    if (b.t === 'aba-term') return this.onTerm(from, b.value, b.round, step);
    if (b.t !== 'aba-bval' && b.t !== 'aba-aux' && b.t !== 'aba-conf' && b.t !== 'aba-coin') {
      return step.fault(from, this.tag, 'unexpected', `message ${b.t} in binary agreement`);
    }
    if (!isRound(b.round)) return step.fault(from, this.tag, 'malformed', 'round');
    if (this.termRound !== null && b.round > this.termRound) {
      // Our TERM speaks for us in these rounds; only a threshold coin may still need our share.
      if (b.t !== 'aba-coin' || !this.lateCoinShare(b.round, step)) step.ignore();
      return step;
    }
    if (b.round > this.round + ABA_ROUND_WINDOW) {
      // Deferred (the sender retries) while we may still need it; once we output, nobody needs us there.
      if (this.output === null) step.deferred = true;
      else step.ignore();
      return step;
    }
    if (b.round + ABA_ROUND_WINDOW < this.round) return step.ignore(); // long finished here; nobody can need it
    const st = this.state(b.round, step);
    const covered = this.termCovers(from, b.round);
    switch (b.t) {
      case 'aba-bval':
        if (!isBit(b.value)) return step.fault(from, this.tag, 'malformed', 'BVAL value');
        if (st.bval[b.value].has(from)) {
          if (covered) break;
          return step.fault(from, this.tag, 'duplicate', `second BVAL(${b.round}, ${b.value})`);
        }
        this.onBval(b.round, st, from, b.value, step);
        break;
      case 'aba-aux': {
        if (!isBit(b.value)) return step.fault(from, this.tag, 'malformed', 'AUX value');
        const prev = st.aux.get(from);
        if (prev !== undefined) {
          if (covered) break;
          return step.fault(from, this.tag, prev === b.value ? 'duplicate' : 'equivocation', `second AUX(${b.round})`);
        }
        st.aux.set(from, b.value);
        break;
      }
      case 'aba-conf': {
        if (b.values !== 1 && b.values !== 2 && b.values !== 3) return step.fault(from, this.tag, 'malformed', 'CONF values');
        if (st.conf.has(from)) {
          if (covered) break;
          return step.fault(from, this.tag, 'duplicate', `second CONF(${b.round})`);
        }
        st.conf.set(from, setOfBits(b.values));
        break;
      }
      case 'aba-coin': {
        if (!isBytes(b.share)) return step.fault(from, this.tag, 'malformed', 'COIN share');
        if (fixedCoin(b.round) !== null) return step.fault(from, this.tag, 'unexpected', `COIN(${b.round}) for a round with a fixed coin`);
        if (st.coinShares.has(from) || st.badCoin.has(from)) return step.fault(from, this.tag, 'duplicate', `second COIN(${b.round})`);
        if (st.coin !== null) break;
        st.coinShares.set(from, b.share);
        break;
      }
    }
    this.progress(step);
    return step;
  }

  private onTerm(from: number, value: unknown, round: unknown, step: Step<Bit>): Step<Bit> {
    if (!isBit(value) || !isRound(round)) return step.fault(from, this.tag, 'malformed', 'TERM');
    const prev = this.term.get(from);
    if (prev !== undefined) {
      const same = prev.value === value && prev.round === round;
      return step.fault(from, this.tag, same ? 'duplicate' : 'equivocation', 'second TERM');
    }
    this.term.set(from, { value, round });
    this.termSenders[value].add(from);
    for (const [r, st] of this.rounds) if (r > round) this.applyTerm(r, st, from, value, step);
    if (this.output === null && this.ctx.quorum.isKernel(this.termSenders[value])) {
      // A kernel holds an honest replica that decided `value`: output now. Send our own TERM too, bound to
      // kernelRound, so that the others get a kernel of TERMs even when few decided by the round rules
      // (found by the whole-replica simulator, seed 39 replay at n = 7). Keep running the rounds up to it;
      // without an input yet, take `value` as ours (an honest replica's decided value is a valid input):
      // the others may need our round messages, and an agreement whose output is known gets no input from
      // its caller (found by the simulator too, seed 120 assorted: a replica that output on TERMs never took
      // part in round 0, and another honest replica waited there for a quorum forever).
      this.output = value;
      step.output(value);
      if (this.termRound === null) this.sendTerm(value, this.kernelRound(value), step);
      if (this.est === null) {
        this.est = value;
        this.startRound(step);
        this.maybeTerminate();
        return step;
      }
    }
    this.progress(step);
    this.maybeTerminate();
    return step;
  }

  /**
   * The least round r such that the senders of TERM(value, <= r) form a kernel. That kernel holds an honest
   * replica whose TERM is bound to a round >= r0, the first round an honest replica decided in (by
   * induction: a round-rule decision is in a round >= r0, and an honest kernelRound is such a round), so
   * r >= r0, and from r0 on every honest replica sends value only: TERM(value, r) is honest (the header).
   */
  private kernelRound(value: Bit): number {
    const sorted = [...this.term].filter(([, t]) => t.value === value).sort((a, b) => a[1].round - b[1].round);
    const prefix: number[] = [];
    for (const [p, t] of sorted) {
      prefix.push(p);
      if (this.ctx.quorum.isKernel(prefix)) return t.round;
    }
    invariant(false, () => `${this.tag}: no kernel of TERM(${value})`);
  }

  /** TERM(b, r) to all: we stand for BVAL(b)/AUX(b)/CONF({b}) in every round > r, and run no round past r. */
  private sendTerm(b: Bit, r: number, step: Step<Bit>): void {
    this.termRound = r;
    for (const k of this.rounds.keys()) if (k > r) this.rounds.delete(k);
    step.broadcast({ tag: this.tag, body: { t: 'aba-term', value: b, round: r } });
  }

  /** Whether p's TERM stands for its messages of round r (so a real one after it is no duplicate). */
  private termCovers(p: number, r: number): boolean {
    const t = this.term.get(p);
    return t !== undefined && r > t.round;
  }

  private state(r: number, step: Step<Bit>): RoundState {
    let st = this.rounds.get(r);
    if (!st) {
      st = new RoundState();
      this.rounds.set(r, st);
      for (const [p, t] of this.term) if (r > t.round) this.applyTerm(r, st, p, t.value, step);
    }
    return st;
  }

  /** TERM(v, r_p) from p stands for BVAL(v), AUX(v) and CONF({v}) from p in round r > r_p. */
  private applyTerm(r: number, st: RoundState, p: number, v: Bit, step: Step<Bit>): void {
    if (!st.bval[v].has(p)) this.onBval(r, st, p, v, step);
    if (!st.aux.has(p)) st.aux.set(p, v);
    if (!st.conf.has(p)) st.conf.set(p, new Set([v]));
  }

  private onBval(r: number, st: RoundState, from: number, v: Bit, step: Step<Bit>): void {
    st.bval[v].add(from);
    if (!st.bvalSent[v] && this.ctx.quorum.isKernel(st.bval[v])) {
      st.bvalSent[v] = true;
      step.broadcast({ tag: this.tag, body: { t: 'aba-bval', round: r, value: v } });
    }
    if (!st.binValues.has(v) && this.ctx.quorum.isQuorum(st.bval[v])) st.binValues.add(v);
  }

  private startRound(step: Step<Bit>): void {
    const st = this.state(this.round, step);
    const v = this.est!;
    if (!st.bvalSent[v]) {
      st.bvalSent[v] = true;
      step.broadcast({ tag: this.tag, body: { t: 'aba-bval', round: this.round, value: v } });
    }
    this.progress(step);
  }

  /** Runs the current round's rules until nothing changes. */
  private progress(step: Step<Bit>): void {
    while (this.est !== null && (this.termRound === null || this.round <= this.termRound)) {
      const r = this.round;
      const st = this.state(r, step);
      if (!st.auxSent) {
        if (st.binValues.size === 0) return;
        st.auxSent = true;
        const v: Bit = st.binValues.has(this.est) ? this.est : ([...st.binValues][0] as Bit);
        st.auxValue = v;
        step.broadcast({ tag: this.tag, body: { t: 'aba-aux', round: r, value: v } });
      }
      if (!st.confSent) {
        const senders: number[] = [];
        const vals = new Set<Bit>();
        for (const [p, v] of st.aux) {
          if (st.binValues.has(v)) {
            senders.push(p);
            vals.add(v);
          }
        }
        if (!this.ctx.quorum.isQuorum(senders)) return;
        st.confSent = true;
        step.broadcast({ tag: this.tag, body: { t: 'aba-conf', round: r, values: bitsOf(vals) } });
      }
      if (!st.coinReleased) {
        const senders: number[] = [];
        const vals = new Set<Bit>();
        for (const [p, vs] of st.conf) {
          if ([...vs].every((v) => st.binValues.has(v))) {
            senders.push(p);
            for (const v of vs) vals.add(v);
          }
        }
        if (!this.ctx.quorum.isQuorum(senders)) return;
        // The fix (see the header): vals from the CONF quorum, not from our own AUX quorum.
        st.vals = vals;
        this.releaseCoin(r, st, step);
      }
      if (st.coin === null && !this.combineCoin(r, st, step)) return;
      const s = st.coin!;
      const vals = st.vals!;
      if (vals.size === 1) {
        const b = [...vals][0] as Bit;
        this.est = b;
        if (b === s) this.decide(b, r, step);
      } else {
        this.est = s;
      }
      // Our TERM stands for us in every later round.
      if (this.termRound !== null && r >= this.termRound) return;
      this.round = r + 1;
      this.highestRound = Math.max(this.highestRound, this.round);
      this.pruneOldRounds();
      const next = this.state(this.round, step);
      if (!next.bvalSent[this.est]) {
        next.bvalSent[this.est] = true;
        step.broadcast({ tag: this.tag, body: { t: 'aba-bval', round: this.round, value: this.est } });
      }
    }
  }

  /** Marks round r's coin released: a fixed coin is known at once, a threshold coin needs our share out. */
  private releaseCoin(r: number, st: RoundState, step: Step<Bit>): void {
    st.coinReleased = true;
    const fixed = fixedCoin(r);
    if (fixed !== null) st.coin = fixed;
    else step.broadcast({ tag: this.tag, body: { t: 'aba-coin', round: r, share: this.ctx.crypto.kernel.sign('coin', this.coinName(r), EMPTY) } });
  }

  /**
   * A peer's coin share for a round after our decision: our share of that round's threshold coin, once, if
   * a replica still undecided can be there (rounds up to decidedIn + 3, see the header). After the decision
   * round the coin no longer steers anything (every honest estimate is the decided value), so releasing it
   * early gives nothing away; a Byzantine peer can make us sign at most one such share per agreement.
   */
  private lateCoinShare(r: number, step: Step<Bit>): boolean {
    if (fixedCoin(r) !== null || r > this.termRound! + COIN_AFTER_DECISION || this.lateCoins.has(r)) return false;
    this.lateCoins.add(r);
    step.broadcast({ tag: this.tag, body: { t: 'aba-coin', round: r, share: this.ctx.crypto.kernel.sign('coin', this.coinName(r), EMPTY) } });
    return true;
  }

  private combineCoin(r: number, st: RoundState, step: Step<Bit>): boolean {
    const signer = this.ctx.crypto.kernel;
    if (!signer.scheme.isQualified(st.coinShares.keys())) return false;
    const name = this.coinName(r);
    try {
      const c = signer.combine('coin', name, EMPTY, st.coinShares);
      for (const f of c.faulty) {
        st.coinShares.delete(f);
        st.badCoin.add(f);
        step.fault(f, this.tag, 'invalid-share', `coin share for round ${r}`);
      }
      st.coin = (this.ctx.crypto.coinValue(c.signature)[0]! & 1) as Bit;
      return true;
    } catch (e) {
      if (!(e instanceof CryptoError)) throw e;
      for (const [p, share] of [...st.coinShares]) {
        if (!signer.verifyShare('coin', name, EMPTY, p, share)) {
          st.coinShares.delete(p);
          st.badCoin.add(p);
          step.fault(p, this.tag, 'invalid-share', `coin share for round ${r}`);
        }
      }
      return false;
    }
  }

  /** Rounds far behind the current one cannot matter to any honest replica still running (window). */
  private pruneOldRounds(): void {
    for (const r of this.rounds.keys()) if (r + ABA_ROUND_WINDOW < this.round) this.rounds.delete(r);
  }

  /**
   * Decided b in round r by the round rules: output b unless a kernel's TERMs did, and TERM(b, r) unless we
   * sent our TERM then (bound to a later round: we keep running rounds up to it).
   */
  private decide(b: Bit, r: number, step: Step<Bit>): void {
    if (this.output === null) {
      this.output = b;
      step.output(b);
    }
    // Else agreement is broken: more replicas are corrupted than the structure allows. Stop, do not diverge.
    invariant(this.output === b, () => `${this.tag}: decided ${b} in round ${r}, but TERMs from a kernel said ${this.output}`);
    if (this.termRound === null) this.sendTerm(b, r, step);
    this.maybeTerminate();
  }

  private maybeTerminate(): void {
    if (this.termRound === null || this.done) return;
    if (!this.ctx.quorum.isQuorum(this.term.keys())) return;
    this.done = true;
    this.rounds.clear();
  }
}

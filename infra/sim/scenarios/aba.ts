/**
 * Randomized binary agreement (shared/protocols/aba.ts: MMR with the CONF phase and a threshold coin) under
 * the simulator. One instance, tag 'aba/K' (K seeded, so every run flips a fresh coin sequence). Every
 * replica gets a seeded random input bit at step 0 or a little later (Byzantine replicas too, for their
 * inner honest instances); in some seeds all honest replicas get the same bit (param `inputs: 'auto' |
 * 'unanimous' | 'mixed'`, default auto: 30% unanimous).
 * Checks: integrity (at most one decision per replica), agreement (one value among all honest decisions),
 * validity (every decision is some honest replica's input; with unanimous honest input, that input);
 * liveness: every honest replica decides. Metrics: `rounds`, the most rounds any honest replica ran (its
 * highest round reached, counted from 1: a decision in the first round is 1), `decidedBeforeGst` (honest
 * replicas that decided while the adversary still ruled the network) and, under attack, `held`.
 *
 * Coin-aware scheduling attack (param `attack=coin-aware`, or the behaviour 'aba-coin-aware', whose
 * corrupted replicas send BVAL and AUX for both values and CONF({0}), CONF({1}) and CONF({0,1}) to
 * everyone, so the scheduler can pick the variant it needs): the attack MacBrough (2018) found on MMR,
 * played by `hold` before GST with full view of the honest replicas' round state (BinaryAgreement's
 * read-only `roundInfo`, `estimate`). Per round r it picks laggards (honest replicas, as many as leave
 * the others plus the corrupted ones a quorum) and leaders (the other honest ones, with alternating
 * preferred values):
 *  - while the coin of round r is unknown, nothing of round r reaches a laggard; each leader gets its
 *    preferred value into bin_values first (so the leaders' AUX carry both values) and counts AUX only once
 *    it has both values (so its values are {0,1}); the leaders send CONF and release their coin shares;
 *  - the coin is known as soon as an honest replica has released its share (with the corrupted replicas'
 *    shares the adversary can combine it; the scenario combines it with every key, an adversary at least
 *    that strong); from then on each laggard gets v = not-coin into bin_values first, so its AUX says v,
 *    and only AUX(v) and the corrupted replicas' CONF({v}), so that it ends the round with est = v while
 *    the leaders take est = coin: the estimates stay split and nobody decides.
 * Against the protocol's first version (values for the coin taken from the replica's own AUX quorum) this
 * kept every honest replica undecided until GST in about half the seeds (n = 4: 107 of 200 runs, up to
 * 27 rounds; n = 7: 69 of 100); vals from the CONF quorum (the fix in aba.ts) make the laggards' steering
 * useless. Corrupted replicas' AUX and CONF that would not count at the receiver (outside its bin_values)
 * are held so that the variant that counts arrives first. Laggards are frozen for as long as it takes if
 * every corrupted replica plays along ('aba-coin-aware', or none corrupted), else a held message goes
 * through once `patience` steps old (param; default 16 n^2 then, else unbounded).
 */
import type { RoundInfo } from '../../../shared/protocols/aba.ts';
import { BinaryAgreement, fixedCoin } from '../../../shared/protocols/aba.ts';
import type { ProtocolContext } from '../../../shared/protocols/context.ts';
import { isRound } from '../../../shared/protocols/context.ts';
import { childTag, coinName } from '../../../shared/protocols/instance-tag.ts';
import type { Bit, Message } from '../../../shared/protocols/messages.ts';
import type { Outgoing } from '../../../shared/protocols/step.ts';
import type { BehaviourFactory } from '../byzantine.ts';
import { agreement, honestOutputs, integrity, outputCount, validity } from '../checkers.ts';
import type { InFlight, RunView, Scenario, ScenarioOptions } from '../types.ts';

export const ABA_TAG = 'aba';

const EMPTY = new Uint8Array(0);

/** Corrupted replicas of the coin-aware attack: BVAL and AUX for both values, CONF({0}), CONF({1}) and CONF({0,1}), to all. */
export const abaCoinAware: BehaviourFactory = () => ({
  name: 'aba-coin-aware',
  transform(o: Outgoing): Outgoing[] {
    const b = o.msg.body;
    const m = (body: Message['body']): Outgoing => ({ to: 'all', msg: { tag: o.msg.tag, body } });
    switch (b.t) {
      case 'aba-bval':
      case 'aba-aux':
        return [m({ ...b, value: 0 }), m({ ...b, value: 1 })];
      case 'aba-conf':
        return [m({ ...b, values: 1 }), m({ ...b, values: 2 }), m({ ...b, values: 3 })];
      default:
        return [o];
    }
  },
});

export function abaScenario(o: ScenarioOptions): Scenario<Bit, Bit> {
  const inputMode = (o.params?.['inputs'] as string | undefined) ?? 'auto';
  const attackParam = (o.params?.['attack'] as string | undefined) ?? 'none';
  const patienceParam = o.params?.['patience'] as number | undefined;
  if (attackParam !== 'none' && attackParam !== 'coin-aware') throw new Error(`aba: unknown attack "${attackParam}" (none, coin-aware)`);
  return {
    protocol: 'aba',
    structure: o.structure,
    behaviours: { 'aba-coin-aware': abaCoinAware },
    plan(setup) {
      const { rng, n } = setup;
      const ctxs: ProtocolContext[] = [];
      // A fresh instance tag per run: the coin of round r is a function of (keys, tag, r), and the keys are
      // dealt once per structure, so with one fixed tag every seed would flip the same coin sequence.
      const tag = childTag(ABA_TAG, rng.int(1_000_000));
      const unanimous = inputMode === 'unanimous' || (inputMode === 'auto' && rng.chance(0.3));
      const common = rng.int(2) as Bit;
      const inputOf = Array.from({ length: n }, (_, i) => (unanimous && !setup.byzantine.includes(i) ? common : (rng.int(2) as Bit)));
      const inputs = inputOf.map((value, replica) => ({ replica, atStep: rng.chance(0.5) ? 0 : rng.int(4 * n), value }));
      const honestInputs = new Set(setup.honest.map((i) => inputOf[i]!));
      const attack = attackParam === 'coin-aware' || setup.byzantine.some((i) => setup.behaviourOf[i] === 'aba-coin-aware');
      // With corrupted replicas that play along (all 'aba-coin-aware', or none corrupted) the laggards can be
      // frozen for as long as it takes; others may withhold what the leaders need, so then a bounded delay.
      const cooperative = setup.byzantine.every((i) => setup.behaviourOf[i] === 'aba-coin-aware');
      const patience = patienceParam ?? (cooperative ? Infinity : 16 * n * n);
      const byz = new Set(setup.byzantine);

      // The coin-aware adversary: coins it knows, per round.
      const coins = new Map<number, Bit>();
      let held = 0;
      const knownCoin = (r: number, view: RunView<Bit, Bit>): Bit | null => {
        // Fixed coins (two rounds of three) are public from the start.
        const fixed = fixedCoin(r);
        if (fixed !== null) return fixed;
        const c = coins.get(r);
        if (c !== undefined) return c;
        const released = setup.honest.some((i) => (view.instances[i] as BinaryAgreement | null)?.roundInfo(r)?.coinReleased === true);
        if (!released) return null;
        const k = ctxs[setup.honest[0]!]!.crypto;
        const name = coinName(tag, r);
        const shares = new Map(ctxs.map((x, i) => [i, x.crypto.kernel.sign('coin', name, EMPTY)] as const));
        const coin = (k.coinValue(k.kernel.combine('coin', name, EMPTY, shares).signature)[0]! & 1) as Bit;
        coins.set(r, coin);
        return coin;
      };
      // Per round: the laggards (honest replicas kept frozen until the coin is known; as many as leave the
      // others with the corrupted replicas a quorum) and each leader's preferred first value (alternating,
      // so the leaders' AUX carry both values).
      const roles = new Map<number, { laggards: Set<number>; pref: Map<number, Bit> }>();
      const rolesOf = (r: number) => {
        let x = roles.get(r);
        if (x) return x;
        const h = setup.honest;
        const order = h.map((_, k) => h[(k + r) % h.length]!);
        const laggards = new Set<number>();
        const all = Array.from({ length: n }, (_, i) => i);
        for (const i of order) if (setup.quorum.isQuorum(all.filter((j) => j !== i && !laggards.has(j)))) laggards.add(i);
        const pref = new Map<number, Bit>();
        order.filter((i) => !laggards.has(i)).forEach((i, k) => pref.set(i, (k % 2) as Bit));
        roles.set(r, (x = { laggards, pref }));
        return x;
      };
      const single = (v: Bit) => (v === 0 ? 1 : 2);
      const subset = (values: number, bin: readonly Bit[]) => [0, 1].every((x) => !(values & (1 << x)) || bin.includes(x as Bit));
      const instance = (view: RunView<Bit, Bit>, i: number) => view.instances[i] as BinaryAgreement | null;
      /** Can a laggard still end round r with values {v}: v in someone's bin_values, and a quorum of AUX(v) possible? */
      const viable = (v: Bit, r: number, view: RunView<Bit, Bit>): boolean => {
        let supported = false;
        const auxV: number[] = [...setup.byzantine];
        for (const i of setup.honest) {
          const info = instance(view, i)?.roundInfo(r);
          if (info?.binValues.includes(v)) supported = true;
          if (!info || info.auxValue === null || info.auxValue === v) auxV.push(i);
        }
        return supported && setup.quorum.isQuorum(auxV);
      };
      /**
       * Would delivering this BVAL(not p) put not p into bin_values before p? (Hold only that one: earlier
       * BVAL(not p) still make the receiver relay not p, which the others need; holding all of them would
       * make replicas with different preferences wait for each other's relays forever.)
       */
      const completes = (m: InFlight, info: RoundInfo | null, p: Bit): boolean => {
        if (info?.binValues.includes(p)) return false;
        const from = info?.bvalFrom[1 - p] ?? [];
        return setup.quorum.isQuorum([...from, m.from]);
      };
      const steer = (m: InFlight, view: RunView<Bit, Bit>): boolean => {
        const b = m.msg.body;
        if (m.msg.tag !== tag || view.step - m.sentAt > patience) return false;
        if (b.t !== 'aba-bval' && b.t !== 'aba-aux' && b.t !== 'aba-conf') return false;
        if (!isRound(b.round)) return false;
        const inst = instance(view, m.to);
        if (!inst || inst.decision !== null) return false;
        const info: RoundInfo | null = inst.roundInfo(b.round);
        if (info?.coinReleased) return false; // nothing left to steer at this replica in this round
        // The corrupted replicas sent every variant; the first AUX and CONF per sender count, so let through
        // first those that count at the receiver (one outside its bin_values would only spoil the attack).
        const bin = info?.binValues ?? [];
        if (byz.has(m.from) && b.t !== 'aba-bval' && !(b.t === 'aba-aux' ? bin.includes(b.value) : subset(b.values, bin))) return true;
        if (byz.has(m.to)) return false; // (the corrupted replicas' inner instances: only that)
        const coin = knownCoin(b.round, view);
        const { laggards, pref } = rolesOf(b.round);
        if (laggards.has(m.to)) {
          // Frozen until the coin is known; then everything toward v = not-coin: bin_values {v} first, so its
          // AUX says v, then only AUX(v) until its values are fixed, and the corrupted replicas' CONF({v}).
          if (coin === null) return true;
          const v = (1 - coin) as Bit;
          if (b.t === 'aba-conf') return byz.has(m.from) && b.values !== single(v);
          if (info?.confSent || !viable(v, b.round, view)) return false;
          return b.t === 'aba-bval' ? b.value !== v && completes(m, info, v) : b.value !== v;
        }
        // A leader: its first bin value is its preferred one, and it counts AUX only once it has both values
        // (so its values are {0,1}); only while both values may still get a kernel of BVALs (else one of them
        // can never reach bin_values, and validity settles the round).
        const backers: [number[], number[]] = [[...setup.byzantine], [...setup.byzantine]];
        for (const i of setup.honest) {
          const x = instance(view, i);
          if (!x || x.decision !== null || x.currentRound > b.round) continue;
          const e = x.currentRound < b.round ? null : x.estimate; // still behind: its estimate may be either
          for (const v of [0, 1] as const) if (e === null || e === v) backers[v].push(i);
        }
        if (!setup.quorum.isKernel(backers[0]) || !setup.quorum.isKernel(backers[1])) return false;
        const p = pref.get(m.to)!;
        if (b.t === 'aba-bval') return b.value !== p && completes(m, info, p);
        return (info?.binValues.length ?? 0) < 2;
      };
      const hold = (m: InFlight, view: RunView<Bit, Bit>): boolean => {
        const h = steer(m, view);
        if (h) held++;
        return h;
      };

      return {
        describe:
          `inputs ${unanimous ? `unanimous ${common}` : `[${inputOf.map((v, i) => (byz.has(i) ? '-' : String(v))).join('')}]`}` +
          (attack ? `, coin-aware scheduling (patience ${patience})` : ''),
        create: (ctx) => {
          ctxs[ctx.me] = ctx;
          return new BinaryAgreement(ctx, tag);
        },
        inputs,
        // A leaf protocol: the engine routes exactly this tag to it.
        accepts: (t) => t === tag,
        hold: attack ? hold : undefined,
        check(view) {
          const rs = honestOutputs(view);
          const safety = [
            ...integrity(rs, { maxPerReplica: 1 }),
            ...agreement(rs, String, 'decided'),
            ...validity(rs, (v) => honestInputs.has(v), unanimous ? `decides the unanimous honest input ${common}` : 'decides some honest input'),
          ];
          return { safety, liveness: outputCount(rs, 1, 'decision') };
        },
        metrics(view) {
          let rounds = 0;
          let decidedBeforeGst = 0;
          for (const i of setup.honest) {
            const inst = view.instances[i] as BinaryAgreement | null;
            if (inst) rounds = Math.max(rounds, inst.maxRound + 1);
            if ((view.outputSteps[i]?.[0] ?? Infinity) < view.gstStep) decidedBeforeGst++;
          }
          return { rounds, decidedBeforeGst, ...(attack ? { held } : {}) };
        },
      };
    },
  };
}

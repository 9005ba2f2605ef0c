/**
 * Scripted attacks of the whole-replica simulator, as behaviours over a corrupted replica's honest engine.
 *
 * 'aba-split': the review's schedule for the binary-agreement stall (issue 13, bug 1), played in the
 * agreement on the corrupted replica's own batch in every epoch. Per epoch it picks two other replicas,
 * a "decider" d and a "loner" l: its batch's FINAL goes to d only (so d starts that agreement with 1 and
 * the others, after a quorum of other batches, with 0); BVAL(0) goes to l only and BVAL(1) to all;
 * AUX(1) to everyone but l; CONF({1}) to d only; nothing in later rounds, nor TERM. Then d can decide 1
 * in round 0 while l reaches {0, 1} and the third replica waits for one more BVAL(0) that only d can
 * relay. The network adversary's slow links supply the timing in some seeds.
 */
import type { Message } from '../../../shared/protocols/messages.ts';
import type { Outgoing } from '../../../shared/protocols/step.ts';
import { ENGINE_PREFIXES, parseAbTag } from '../../../shared/protocols/instance-tag.ts';
import type { BehaviourFactory } from '../byzantine.ts';

export const abaSplit: BehaviourFactory = ({ me, n, rng }) => {
  const roles = new Map<number, { d: number; l: number }>();
  /** The epoch's roles. */
  const rolesOf = (e: number) => {
    let r = roles.get(e);
    if (!r) {
      const others = Array.from({ length: n }, (_, j) => j).filter((j) => j !== me);
      const [d, l] = rng.sample(others, 2);
      roles.set(e, (r = { d: d!, l: l! }));
    }
    return r;
  };
  return {
    name: 'aba-split',
    transform(o: Outgoing): Outgoing[] {
      const b = o.msg.body;
      const id = parseAbTag(o.msg.tag, ENGINE_PREFIXES.ab, n);
      if (!id || id.kind === 'ab-requests' || id.proposer !== me) return [o];
      const { d, l } = rolesOf(id.epoch);
      const m = (body: Message['body']): Message => ({ tag: o.msg.tag, body });
      const to = (j: number) => o.to === 'all' || o.to === j;
      switch (b.t) {
        case 'cbc-final':
        case 'cbc-proof':
          return to(d) ? [{ to: d, msg: o.msg }] : [];
        case 'aba-bval':
          if (b.round > 0) return [];
          return to(l) ? [{ to: l, msg: m({ t: 'aba-bval', round: 0, value: 0 }) }, ...(o.to === 'all' ? [] : [{ to: o.to, msg: m({ t: 'aba-bval', round: 0, value: 1 }) }])] : [{ to: o.to, msg: m({ t: 'aba-bval', round: 0, value: 1 }) }];
        case 'aba-aux':
          if (b.round > 0 || o.to === l) return [];
          return [{ to: o.to, msg: m({ t: 'aba-aux', round: 0, value: 1 }) }];
        case 'aba-conf':
          return b.round === 0 && to(d) ? [{ to: d, msg: m({ t: 'aba-conf', round: 0, values: 2 }) }] : [];
        case 'aba-coin':
        case 'aba-term':
          return [];
        default:
          return [o];
      }
    },
  };
};

/**
 * Reliable broadcast (shared/protocols/rbc.ts) under the simulator. One instance, tag 'rbc'; the sender is
 * replica 0, or in some seeds a Byzantine replica. An honest sender broadcasts a seeded random value
 * (0..64 bytes, sometimes up to maxValueBytes), at step 0 or a little later.
 * Checks: integrity (at most one delivery, and with an honest sender nothing but its value), agreement
 * (one value among all honest deliveries), validity (honest sender: its value); liveness: with an honest
 * sender every honest replica delivers, and always totality (one honest delivery -> all honest deliver).
 *
 * Params: `sender: 'auto' | 'honest' | 'byzantine'` (default auto), `partition: true` (before GST, hold
 * messages between honest replicas on different sides of the adversary's split until the receiver has
 * delivered). Extra behaviour 'rbc-split': the corrupted replicas (one of them the sender) coordinate
 * SEND/ECHO/READY for value A to one side and B to the other: harmless within the structure, fatal
 * beyond it (the negative control).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesEqual } from '../../../shared/crypto/bytes.ts';
import type { Message } from '../../../shared/protocols/messages.ts';
import { ReliableBroadcast } from '../../../shared/protocols/rbc.ts';
import type { Outgoing } from '../../../shared/protocols/step.ts';
import { altBody } from '../byzantine.ts';
import type { BehaviourFactory } from '../byzantine.ts';
import { agreement, firstFailure, honestOutputs, integrity, outputCount, totality, validity } from '../checkers.ts';
import { hex } from '../encode.ts';
import type { Scenario, ScenarioOptions } from '../types.ts';

export const RBC_TAG = 'rbc';

/** Coordinated split: A (the original) to side 0, B (the alternative) to side 1; READY right with the ECHO. */
export const rbcSplit: BehaviourFactory = ({ n, adversary }) => ({
  name: 'rbc-split',
  transform(o: Outgoing): Outgoing[] {
    const b = o.msg.body;
    if (b.t === 'rbc-ready') return [];
    if (b.t !== 'rbc-send' && b.t !== 'rbc-echo') return [o];
    const a = b.value;
    const other = (altBody(b) as { value: Uint8Array }).value;
    const out: Outgoing[] = [];
    for (let j = 0; j < n; j++) {
      const v = adversary.corrupted.has(j) || adversary.side[j] === 0 ? a : other;
      const msg: Message = { tag: o.msg.tag, body: { ...b, value: v } };
      out.push({ to: j, msg });
      if (b.t === 'rbc-echo') out.push({ to: j, msg: { tag: o.msg.tag, body: { t: 'rbc-ready', digest: sha256(v) } } });
    }
    return out;
  },
});

export function rbcScenario(o: ScenarioOptions): Scenario<Uint8Array, Uint8Array> {
  const senderMode = (o.params?.['sender'] as string | undefined) ?? 'auto';
  const partition = o.params?.['partition'] === true;
  return {
    protocol: 'rbc',
    structure: o.structure,
    behaviours: { 'rbc-split': rbcSplit },
    plan(setup) {
      const { rng, byzantine, n } = setup;
      let sender = 0;
      if (byzantine.length > 0 && (senderMode === 'byzantine' || (senderMode === 'auto' && rng.chance(0.4)))) sender = rng.pick(byzantine);
      else if (senderMode === 'honest' && byzantine.includes(0)) sender = setup.honest[0]!;
      const senderHonest = !byzantine.includes(sender);
      const value = rng.bytes(rng.chance(0.05) ? rng.range(65, 4096) : rng.int(65));
      const atStep = rng.chance(0.5) ? 0 : rng.int(4 * n);
      const key = (v: Uint8Array) => hex(v);
      const corrupted = new Set(setup.corrupted);
      return {
        describe: `sender ${sender} (${setup.behaviourOf[sender]}), ${value.length}-byte value, input at step ${atStep}`,
        create: (ctx) => new ReliableBroadcast(ctx, RBC_TAG, sender),
        inputs: [{ replica: sender, atStep, value }],
        // A leaf protocol: the engine routes exactly this tag to it (ReliableBroadcast does not check msg.tag).
        accepts: (tag) => tag === RBC_TAG,
        hold: partition
          ? (m, view) =>
              !corrupted.has(m.from) && !corrupted.has(m.to) && setup.side[m.from] !== setup.side[m.to] && view.outputs[m.to]!.length === 0
          : undefined,
        check(view) {
          const rs = honestOutputs(view);
          const safety = [
            ...integrity(rs, { key, maxPerReplica: 1, allowed: senderHonest ? (v) => bytesEqual(v, value) : undefined }),
            ...agreement(rs, key, 'delivered'),
            ...(senderHonest ? validity(rs, (v) => bytesEqual(v, value), `delivers the honest sender's value`) : []),
          ];
          const liveness = firstFailure(senderHonest ? outputCount(rs, 1, 'delivery (honest sender)') : null, totality(rs, 'delivery'));
          return { safety, liveness };
        },
      };
    },
  };
}

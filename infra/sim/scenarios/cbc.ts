/**
 * Consistent broadcast (shared/protocols/cbc.ts) under the simulator. One instance, tag 'cbc'; the sender is
 * replica 0, or in some seeds a Byzantine replica. External validity: a value is valid iff it is non-empty
 * and its first byte is even. An honest sender broadcasts a seeded random valid value (1..64 bytes,
 * sometimes up to maxValueBytes), at step 0 or a little later; a Byzantine sender's inner instance gets a
 * value that is invalid in some seeds.
 * Checks: integrity (at most one delivery, and with an honest sender nothing but its value), consistency
 * (one value among all honest deliveries), validity (honest sender: its value), every delivered value
 * passes the predicate, and every honest delivery carries a proof that `verifyCbcProof` accepts; liveness:
 * with an honest sender every honest replica delivers. No totality with a Byzantine sender (CBC has none),
 * except through `cbc-want`: in some seeds (param `want`) every honest replica asks for the value at a
 * seeded step, and then one honest delivery must lead to all. Metric `delivered`: honest replicas that
 * delivered.
 *
 * Params: `sender: 'auto' | 'honest' | 'byzantine'` (default auto), `want: 'auto' | true | false` (default
 * auto: half the seeds). Extra behaviour 'cbc-split': a Byzantine sender sends SEND(A) to its accomplices
 * and side 0 and SEND(B) (another valid value) to side 1, signs B itself with every corrupted replica's key,
 * combines B's proof from those and side 1's echoes, and sends FINAL(B) to side 1 (with its FINAL(A) and
 * in answer to side 1's `cbc-want`s) and FINAL(A) only to the others: harmless within the structure (side 1
 * plus the corrupted replicas is no quorum), two proofs beyond it (the negative control).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesEqual } from '../../../shared/crypto/bytes.ts';
import { CryptoError } from '../../../shared/crypto/errors.ts';
import { ConsistentBroadcast, verifyCbcProof } from '../../../shared/protocols/cbc.ts';
import type { CbcOutput } from '../../../shared/protocols/cbc.ts';
import type { ProtocolContext } from '../../../shared/protocols/context.ts';
import type { Message } from '../../../shared/protocols/messages.ts';
import type { Outgoing, Protocol, Step } from '../../../shared/protocols/step.ts';
import type { BehaviourFactory } from '../byzantine.ts';
import { agreement, firstFailure, honestOutputs, integrity, outputCount, totality, validity } from '../checkers.ts';
import { hex } from '../encode.ts';
import type { Scenario, ScenarioOptions } from '../types.ts';

export const CBC_TAG = 'cbc';

/** The scenario's external validity predicate: non-empty, first byte even. */
export const cbcValid = (v: Uint8Array): boolean => v.length > 0 && (v[0]! & 1) === 0;

/** A replica's input: the sender's value, or null = "ask for the delivered value" (`want`). */
export type CbcInput = Uint8Array | null;

/** ConsistentBroadcast with `want()` reachable as an input (the simulator only feeds inputs and messages). */
class CbcNode implements Protocol<CbcInput, CbcOutput> {
  constructor(readonly inner: ConsistentBroadcast) {}
  get tag(): string {
    return this.inner.tag;
  }
  get terminated(): boolean {
    return this.inner.terminated;
  }
  handleInput(x: CbcInput): Step<CbcOutput> {
    return x === null ? this.inner.want() : this.inner.handleInput(x);
  }
  handleMessage(from: number, msg: Message): Step<CbcOutput> {
    return this.inner.handleMessage(from, msg);
  }
}

/** Another valid value: the last byte changed in bit 1 (keeps the first byte's parity, also for 1-byte values). */
const otherValue = (v: Uint8Array): Uint8Array => {
  if (v.length === 0) return Uint8Array.of(2);
  const c = v.slice();
  c[c.length - 1]! ^= 2;
  return c;
};

export function cbcScenario(o: ScenarioOptions): Scenario<CbcInput, CbcOutput> {
  const senderMode = (o.params?.['sender'] as string | undefined) ?? 'auto';
  const wantMode = o.params?.['want'] ?? 'auto';
  // The current run's contexts (runs of one scenario are sequential; plan() resets this). The 'cbc-split'
  // adversary uses the corrupted replicas' keys from here, the checks the public verification key.
  let ctxs: ProtocolContext[] = [];

  /** The split sender (see the header). Other corrupted replicas run honestly (they echo A to the sender). */
  const cbcSplit: BehaviourFactory = ({ me, n, adversary }) => {
    let a: Uint8Array | null = null;
    let b: Uint8Array | null = null;
    let proofB: Uint8Array | null = null;
    const sharesB = new Map<number, Uint8Array>();
    const toB = (j: number) => !adversary.corrupted.has(j) && adversary.side[j] === 1;
    const tryCombineB = () => {
      if (proofB || !b) return;
      const q = ctxs[me]!.crypto.quorum;
      if (!q.scheme.isQualified(sharesB.keys())) return;
      try {
        const c = q.combine('cbc', CBC_TAG, sha256(b), sharesB);
        proofB = c.faulty.length === 0 ? c.signature : null;
      } catch (e) {
        if (!(e instanceof CryptoError)) throw e;
      }
    };
    const finalB = (to: number): Outgoing => ({ to, msg: { tag: CBC_TAG, body: { t: 'cbc-final', value: b!, signature: proofB! } } });
    return {
      name: 'cbc-split',
      observe(from, msg) {
        if (msg.tag === CBC_TAG && msg.body.t === 'cbc-echo' && toB(from) && b && msg.body.share instanceof Uint8Array) {
          sharesB.set(from, msg.body.share);
          tryCombineB();
        }
      },
      transform(out) {
        const body = out.msg.body;
        if (out.msg.tag !== CBC_TAG) return [out];
        if (body.t === 'cbc-send') {
          a = body.value;
          b = otherValue(a);
          for (const c of adversary.corrupted) sharesB.set(c, ctxs[c]!.crypto.quorum.sign('cbc', CBC_TAG, sha256(b)));
          const res: Outgoing[] = [];
          for (let j = 0; j < n; j++) res.push({ to: j, msg: { tag: CBC_TAG, body: { t: 'cbc-send', value: toB(j) ? b : a } } });
          return res;
        }
        if (body.t === 'cbc-final' && a && bytesEqual(body.value, a)) {
          // FINAL(A) (the broadcast, or an answer to a `want`): A's side gets it, side 1 gets B's proof if
          // the adversary has one by now, else nothing.
          tryCombineB();
          const res: Outgoing[] = [];
          for (let j = 0; j < n; j++) {
            if (out.to !== 'all' && out.to !== j) continue;
            if (!toB(j)) res.push({ to: j, msg: out.msg });
            else if (proofB) res.push(finalB(j));
          }
          return res;
        }
        return [out];
      },
    };
  };

  return {
    protocol: 'cbc',
    structure: o.structure,
    behaviours: { 'cbc-split': cbcSplit },
    plan(setup) {
      const { rng, byzantine, n } = setup;
      ctxs = [];
      let sender = 0;
      if (byzantine.length > 0 && (senderMode === 'byzantine' || (senderMode === 'auto' && rng.chance(0.4)))) sender = rng.pick(byzantine);
      else if (senderMode === 'honest' && byzantine.includes(0)) sender = setup.honest[0]!;
      const senderHonest = !byzantine.includes(sender);
      const value = rng.bytes(rng.chance(0.05) ? rng.range(65, 4096) : 1 + rng.int(64));
      // Honest senders propose valid values; a Byzantine sender's inner instance sometimes an invalid one.
      if (senderHonest || rng.chance(0.7)) value[0]! &= 0xfe;
      else value[0]! |= 1;
      const atStep = rng.chance(0.5) ? 0 : rng.int(4 * n);
      const want = wantMode === 'auto' ? rng.chance(0.5) : wantMode === true;
      const wants = want ? setup.honest.map((replica) => ({ replica, atStep: rng.int(setup.gstStep + 8 * n * n), value: null })) : [];
      const key = (v: CbcOutput) => hex(v.value);
      return {
        describe:
          `sender ${sender} (${setup.behaviourOf[sender]}), ${value.length}-byte ${cbcValid(value) ? 'valid' : 'invalid'} value, ` +
          `input at step ${atStep}${want ? ', honest replicas ask (want)' : ''}`,
        create: (ctx) => {
          ctxs[ctx.me] = ctx;
          return new CbcNode(new ConsistentBroadcast(ctx, CBC_TAG, sender, cbcValid));
        },
        inputs: [{ replica: sender, atStep, value }, ...wants],
        // A leaf protocol: the engine routes exactly this tag to it (ConsistentBroadcast does not check msg.tag).
        accepts: (tag) => tag === CBC_TAG,
        check(view) {
          const rs = honestOutputs(view);
          const crypto = ctxs[setup.honest[0]!]!.crypto;
          const safety = [
            ...integrity(rs, { key, maxPerReplica: 1, allowed: senderHonest ? (v) => bytesEqual(v.value, value) : undefined }),
            ...agreement(rs, key, 'delivered'),
            ...(senderHonest ? validity(rs, (v) => bytesEqual(v.value, value), `delivers the honest sender's value`) : []),
            ...validity(rs, (v) => cbcValid(v.value), 'passes the external validity predicate'),
            ...validity(rs, (v) => verifyCbcProof(crypto, CBC_TAG, v.value, v.signature), 'carries a proof that verifies'),
          ];
          const liveness = firstFailure(
            senderHonest ? outputCount(rs, 1, 'delivery (honest sender)') : null,
            want ? totality(rs, 'delivery (every honest replica asked)') : null,
          );
          return { safety, liveness };
        },
        metrics: (view) => ({ delivered: setup.honest.filter((i) => view.outputs[i]!.length > 0).length }),
      };
    },
  };
}

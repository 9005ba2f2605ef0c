/**
 * Atomic broadcast (`AtomicBroadcast`, shared/protocols/ab.ts: CKPS 2001 epochs of consistently broadcast
 * batches agreed by the common subset, forwarding of stale requests) under the simulator. One instance per
 * replica, tag 'ab/<k>' (k seeded, so the coin flips differ between seeds). A seeded configuration per run
 * (small batches, short forwarding delay, small epoch window and garbage-collection horizon), so that every
 * mechanism is exercised.
 *
 * Clients: n..2n distinct requests of 1..64 random bytes, each submitted at a seeded step (before or after
 * GST) to one replica (which may be Byzantine), to a random set of replicas, or to all, each target a few
 * steps apart. Byzantine replicas get their requests too (their inner instance proposes them through their
 * behaviour). A request is *required* if it was submitted to at least one checked (honest or
 * crash-restart) replica (before the run ended: see `missing`).
 * Checks: total order (the honest replicas' delivered request sequences are prefixes of one another, and so
 * are their epoch deliveries: same epoch, same requests, same proposers), epochs delivered one by one from
 * 0, integrity (no request twice in one epoch's delivery, and without corrupted replicas none twice at all: a
 * corrupted proposer may order a delivered request again, which the replica's log drops; nothing delivered that no client submitted, unless
 * the run has Byzantine replicas: a Byzantine proposer or forwarder may inject requests of its own, like
 * any client, and the scenario cannot tell those from invented ones); liveness: every required request is
 * delivered by every honest replica within the step bound (the run stops early once they all are).
 * Metrics: `epochs` (most epochs any honest replica delivered), `rounds` (highest ABA round of any honest
 * replica), `delivered` (requests), `forwarded` (requests submitted to one replica only that were
 * delivered in an epoch whose subset excluded that replica: the forwarding path).
 *
 * Params: `requests: k` (instead of n..2n), `spread: s` (submissions at steps 0..s instead of 0..max(GST,
 * 60 n^2): a small spread packs the requests into few epochs, for the large grid), `maxBatch`,
 * `epochWindow`, `keepEpochs`, `forwardAfter` (fix that AbConfig field instead of a seeded one),
 * `forwarding: true` (an honest victim gets 1..3 requests that nobody else gets, and before GST the
 * adversary holds back all of the victim's consistent broadcasts, so its batches lose every epoch until it
 * forwards the stale requests; GST comes late in this mode, so several epochs run before it, and 2n more
 * requests keep the others busy).
 * Extra behaviour 'ab-split' (protocol-aware, as mvba-split): colluding corrupted replicas equivocate every
 * batch they consistently broadcast (side 0 gets the batch, side 1 the batch with its last request changed
 * or an invented one), with proofs made from the colluders' shares plus each side's echoes. Harmless
 * within the structure; beyond it both sides deliver different batches in the same epoch (the negative
 * control).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { AtomicBroadcast, DEFAULT_AB_CONFIG } from '../../../shared/protocols/ab.ts';
import type { AbConfig, AbDelivery } from '../../../shared/protocols/ab.ts';
import { decodeBatch, encodeBatch } from '../../../shared/protocols/batch.ts';
import type { ProtocolContext } from '../../../shared/protocols/context.ts';
import { childTag, parseAbTag } from '../../../shared/protocols/instance-tag.ts';
import { honestOutputs, integrity, totalOrder, uniqueWithinEpochs } from '../checkers.ts';
import type { ReplicaOutputs } from '../checkers.ts';
import { canonical, hex } from '../encode.ts';
import type { RunView, Scenario, ScenarioOptions, ScheduledInput } from '../types.ts';
import { CbcSplitSender, colludersOf, passThrough } from './mvba.ts';

export const AB_TAG = 'ab';

/**
 * Step bound after the latest possible GST, per n^2: room for several epochs of n parallel ABAs (n^3
 * messages each) even when Byzantine replays keep deferred messages circulating. Runs stop at `done`.
 */
const STEPS_PER_N2 = 3000;
/** Forwarding mode: GST late enough for several epochs to run while the victim's batches are held. */
const LATE_GST_PER_N2 = 400;

export function abScenario(o: ScenarioOptions): Scenario<Uint8Array, AbDelivery> {
  const forwarding = o.params?.['forwarding'] === true;
  const requestsParam = o.params?.['requests'] as number | undefined;
  const spreadParam = o.params?.['spread'] as number | undefined;
  const configParams: Partial<Record<keyof AbConfig, number>> = {};
  for (const k of ['maxBatch', 'epochWindow', 'keepEpochs', 'forwardAfter'] as const) {
    if (typeof o.params?.[k] === 'number') configParams[k] = o.params[k];
  }
  return {
    protocol: 'ab',
    structure: o.structure,
    behaviours: { 'ab-split': passThrough('ab-split') },
    defaults: (n) => {
      // An explicit maxSteps counts from step 0: room for the latest GST plus the post-GST bound.
      const gst = forwarding ? LATE_GST_PER_N2 * n * n : 20 * n * n;
      return { maxSteps: gst + STEPS_PER_N2 * n * n, ...(forwarding ? { gstStep: gst } : {}) };
    },
    plan(setup) {
      const { rng, n } = setup;
      // A seeded instance number in the tag, so the ABA coins (functions of their tags) differ between seeds.
      const tag = childTag(AB_TAG, rng.int(1 << 20));
      const seeded = {
        maxBatch: rng.pick([2, 3, 4, 16]),
        epochWindow: rng.pick([2, 4, 8]),
        keepEpochs: rng.pick([1, 2, 4]),
        forwardAfter: rng.pick([1, 2, 3]),
      };
      const config: AbConfig = { ...DEFAULT_AB_CONFIG, maxRequestBytes: 256, maxPending: 10_000, ...seeded, ...configParams };
      const checked = new Set(setup.honest);
      const victims = setup.honest.filter((i) => !setup.crashRestart.includes(i));
      const victim = forwarding && victims.length > 0 ? rng.pick(victims) : -1;
      const victimRequests = 1 + rng.int(3);

      // Requests: distinct, 1..64 bytes.
      // In forwarding mode, 2n more requests keep the other replicas busy (epochs run) until the late GST.
      const count = (requestsParam ?? n + rng.int(n + 1)) + (forwarding ? 2 * n : 0);
      const seen = new Set<string>();
      const requests: Uint8Array[] = [];
      while (requests.length < count) {
        const r = rng.bytes(1 + rng.int(64));
        if (!seen.has(hex(r))) {
          seen.add(hex(r));
          requests.push(r);
        }
      }
      const all = Array.from({ length: n }, (_, i) => i);
      const horizon = spreadParam ?? Math.max(setup.gstStep, 60 * n * n);
      const inputs: ScheduledInput<Uint8Array>[] = [];
      const targetsOf: number[][] = [];
      requests.forEach((value, k) => {
        let targets: number[];
        let at = rng.int(horizon + 1);
        if (victim >= 0 && k < victimRequests) {
          targets = [victim];
          at = rng.int(2 * n);
        } else {
          const others = victim >= 0 ? all.filter((i) => i !== victim) : all;
          const mode = rng.int(10);
          if (mode < 4) targets = [rng.pick(others)];
          else if (mode < 8) targets = rng.sample(others, 1 + rng.int(others.length));
          else targets = others;
        }
        targetsOf.push(targets);
        for (const replica of targets) inputs.push({ replica, atStep: at + rng.int(2 * n), value });
      });
      const required = requests.filter((_, k) => targetsOf[k]!.some((i) => checked.has(i))).map(hex);
      // When each required request reaches its first checked replica.
      const firstGiven = new Map<string, number>();
      for (const x of inputs) {
        const k = hex(x.value);
        if (checked.has(x.replica) && x.atStep < (firstGiven.get(k) ?? Infinity)) firstGiven.set(k, x.atStep);
      }
      const single = new Map<string, number>();
      requests.forEach((r, k) => targetsOf[k]!.length === 1 && single.set(hex(r), targetsOf[k]![0]!));

      const colluders = colludersOf(setup, 'ab-split');
      // Side 1's batch: the last request changed, or (empty batch, empty last request) an invented one.
      const variant = (v: Uint8Array, cbcTag: string) => {
        const batch: Uint8Array[] = (decodeBatch(v, config.maxBatch, config.maxRequestBytes) ?? []).map((r) => r.slice());
        const last = batch[batch.length - 1];
        if (last && last.length > 0) last[last.length - 1]! ^= 2;
        else batch.splice(batch.length - (last ? 1 : 0), 1, sha256(new TextEncoder().encode(cbcTag)).subarray(0, 8));
        return encodeBatch(batch);
      };
      const ctxOf: ProtocolContext[] = [];

      const flat = (rs: readonly ReplicaOutputs<AbDelivery>[]): ReplicaOutputs<Uint8Array>[] =>
        rs.map((r) => ({ replica: r.replica, outputs: r.outputs.flatMap((d) => d.requests) }));
      const deliveredSets = (view: RunView<Uint8Array, AbDelivery>) =>
        setup.honest.map((i) => new Set(view.outputs[i]!.flatMap((d) => d.requests.map(hex))));
      /**
       * Required requests not delivered, per honest replica. At the end only requests already submitted
       * count: the simulator may end a run as 'stalled' (after GST nothing but deferred messages in flight)
       * before later submissions are due, e.g. when a Byzantine replica's messages for far epochs circulate
       * while the group is idle; such unsubmitted requests cannot be required.
       */
      const missing = (view: RunView<Uint8Array, AbDelivery>, submittedOnly = false) => {
        const due = submittedOnly ? required.filter((r) => firstGiven.get(r)! < view.step) : required;
        return deliveredSets(view).map((s, k) => ({ replica: setup.honest[k]!, missing: due.filter((r) => !s.has(r)).length, of: due.length }));
      };

      return {
        describe:
          `tag ${tag}, ${count} requests (${required.length} required), maxBatch ${config.maxBatch}, forwardAfter ${config.forwardAfter}, ` +
          `window ${config.epochWindow}, keep ${config.keepEpochs}${victim >= 0 ? `, victim ${victim}` : ''}`,
        create(ctx) {
          ctxOf[ctx.me] = ctx;
          const inner = new AtomicBroadcast(ctx, tag, config);
          if (!colluders.includes(ctx.me)) return inner;
          const cbcProposer = (t: string) => {
            const id = parseAbTag(t, tag, n);
            return id !== null && id.kind === 'cbc' ? id.proposer : null;
          };
          return new CbcSplitSender(inner, { me: ctx.me, n, colluders, ctxOf: (i) => ctxOf[i]!, side: setup.side, variant, cbcProposer });
        },
        inputs,
        done: (view) => missing(view).every((m) => m.missing === 0),
        hold:
          victim >= 0
            ? (m) => {
                const id = parseAbTag(m.msg.tag, tag, n);
                return id !== null && id.kind === 'cbc' && id.proposer === victim;
              }
            : undefined,
        check(view) {
          const rs = honestOutputs(view);
          const safety = [
            ...totalOrder(rs, canonical, 'epoch deliveries'),
            ...totalOrder(flat(rs), hex, 'delivered requests'),
            // With corrupted proposers a request may come again in a later epoch (the log drops it).
            ...integrity(flat(rs), { key: hex, unique: setup.byzantine.length === 0, allowed: setup.byzantine.length > 0 ? undefined : seen }),
            ...uniqueWithinEpochs(rs, hex),
          ];
          for (const r of rs) {
            const k = r.outputs.findIndex((d, e) => d.epoch !== e);
            if (k >= 0) safety.push(`epochs: replica ${r.replica} delivered epoch ${r.outputs[k]!.epoch} as its delivery #${k}`);
          }
          const short_ = missing(view, true).filter((m) => m.missing > 0);
          const liveness =
            short_.length === 0
              ? null
              : `liveness: honest replicas missing required requests: ${short_.map((m) => `${m.replica} (${m.missing}/${m.of})`).join(', ')}`;
          return { safety, liveness };
        },
        metrics(view) {
          let rounds = 0;
          let epochs = 0;
          let delivered = 0;
          for (const i of setup.honest) {
            const inst = view.instances[i] as AtomicBroadcast | null;
            rounds = Math.max(rounds, inst?.maxAbaRound ?? 0);
            epochs = Math.max(epochs, view.outputs[i]!.length);
            delivered = Math.max(delivered, view.outputs[i]!.reduce((a, d) => a + d.requests.length, 0));
          }
          let forwarded = 0;
          const ref = setup.honest.map((i) => view.outputs[i]!).reduce((a, b) => (b.length > a.length ? b : a), []);
          for (const d of ref) {
            for (const r of d.requests) {
              const only = single.get(hex(r));
              if (only !== undefined && !d.proposers.includes(only)) forwarded++;
            }
          }
          return { rounds, epochs, delivered, forwarded, requests: count, required: required.length };
        },
      };
    },
  };
}

/**
 * An epoch's agreed time (docs/protocols.md, "Agreed time"): every proposal carries its proposer's clock
 * reading (batch.ts), the epoch's common subset fixes which proposals count, and every honest replica
 * computes the same time from them:
 *
 *   v = the largest reading such that the proposers whose readings are >= v form a kernel (a set no
 *       corruptible set contains: at least one honest replica), i.e. the (t + 1)-th largest reading under
 *       a threshold structure (the second largest of three or four at n = 4);
 *   time(e) = max(time(e - 1), v), and time(-1) = 0.
 *
 * Why it is safe whatever the corrupt replicas claim: the readings >= v come from a kernel, so some honest
 * replica read at least v (the time never leads every honest clock); the readings > v do not form a kernel,
 * so they lie within a corruptible set C, and the subset's proposers are a quorum Q, so Q \ C, all read
 * <= v, is a kernel under a Q3 structure (Q contains the complement of a corruptible set, and no three
 * corruptible sets cover all replicas): some honest replica read at most v. So v lies between two honest
 * readings of the epoch. The maximum with the previous epoch makes time monotonic; a past honest reading
 * bounds it, so it cannot run ahead of the honest clocks either.
 *
 * Why the largest such v (not the median): a request is registered "no later than" its epoch's time, and
 * the biggest time an honest reading still vouches for errs least on that side.
 */
import { invariant } from '../invariant/index.ts';
import type { QuorumSystem } from '../quorum/quorum-system.ts';

/** `readings`: proposer -> clock reading (ms) of the epoch's agreed proposals (a quorum of proposers). */
export function agreedTime(quorum: QuorumSystem, readings: ReadonlyMap<number, number>, previous: number): number {
  const sorted = [...readings].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  const above: number[] = [];
  let v = 0;
  for (let k = 0; k < sorted.length; k++) {
    above.push(sorted[k]![0]);
    // Readings equal to this one join first: the set of readings >= it is what must be a kernel.
    if (k + 1 < sorted.length && sorted[k + 1]![1] === sorted[k]![1]) continue;
    if (quorum.isKernel(above)) {
      v = sorted[k]![1];
      break;
    }
  }
  invariant(Number.isSafeInteger(v) && v >= 0, () => `agreed time ${v}`);
  return Math.max(previous, v);
}

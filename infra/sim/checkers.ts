/**
 * Property checkers for scenarios. Each takes the honest replicas' outputs and returns violation texts
 * (safety) or one failure text / null (liveness). `key` maps an output to its identity (default: the
 * canonical encoding: equal keys = equal outputs).
 */
import { canonical, short, TraceHash } from './encode.ts';
import type { RunView } from './types.ts';

export interface ReplicaOutputs<O> {
  readonly replica: number;
  readonly outputs: readonly O[];
}

export type Key<O> = (o: O) => string;

const defaultKey = <O>(o: O) => canonical(o);

/** 8 hex digits identifying a key (values that `short` abbreviates alike still show different prints). */
export function fingerprint(key: string): string {
  return new TraceHash().string(key).hex().slice(0, 8);
}

/** The checked (honest and crash-restart) replicas' outputs. */
export function honestOutputs<O>(view: RunView<unknown, O>): ReplicaOutputs<O>[] {
  return view.honest.map((replica) => ({ replica, outputs: view.outputs[replica] ?? [] }));
}

/** Single-valued agreement: every output of every honest replica is the same value. */
export function agreement<O>(rs: readonly ReplicaOutputs<O>[], key: Key<O> = defaultKey, what = 'output'): string[] {
  const first = new Map<string, number>();
  for (const r of rs) for (const o of r.outputs) if (!first.has(key(o))) first.set(key(o), r.replica);
  if (first.size <= 1) return [];
  const shown = [...rs].flatMap((r) => r.outputs.slice(0, 1).map((o) => `${r.replica}: ${short(o)} #${fingerprint(key(o))}`));
  return [`agreement: honest replicas ${what} ${first.size} different values (${shown.join('; ')})`];
}

/**
 * Total order: the honest output sequences are prefixes of one another (position k holds the same value
 * at every replica that has one).
 */
export function totalOrder<O>(rs: readonly ReplicaOutputs<O>[], key: Key<O> = defaultKey, what = 'sequence'): string[] {
  const out: string[] = [];
  const longest = rs.reduce<ReplicaOutputs<O> | null>((a, r) => (a === null || r.outputs.length > a.outputs.length ? r : a), null);
  if (!longest) return out;
  const ref = longest.outputs.map(key);
  for (const r of rs) {
    for (let k = 0; k < r.outputs.length; k++) {
      if (key(r.outputs[k]!) !== ref[k]) {
        out.push(
          `total order: ${what} of replica ${r.replica} differs from replica ${longest.replica} at position ${k}: ` +
            `${short(r.outputs[k])} vs ${short(longest.outputs[k])}`,
        );
        break;
      }
    }
  }
  return out;
}

/** Validity: every honest output satisfies `ok` (described by `what`, e.g. "is the honest sender's value"). */
export function validity<O>(rs: readonly ReplicaOutputs<O>[], ok: (o: O, replica: number) => boolean, what: string): string[] {
  const out: string[] = [];
  for (const r of rs) {
    const bad = r.outputs.find((o) => !ok(o, r.replica));
    if (bad !== undefined) out.push(`validity: replica ${r.replica} output ${short(bad)}, which violates "${what}"`);
  }
  return out;
}

export interface IntegrityOptions<O> {
  readonly key?: Key<O>;
  /** No output twice at one replica (default true). */
  readonly unique?: boolean;
  /** At most this many outputs per replica. */
  readonly maxPerReplica?: number;
  /** Nothing invented: every output's key is in this set (or passes this predicate). */
  readonly allowed?: ReadonlySet<string> | ((o: O) => boolean);
}

/** Integrity: no duplicate outputs, no more than allowed, nothing invented. */
export function integrity<O>(rs: readonly ReplicaOutputs<O>[], o: IntegrityOptions<O> = {}): string[] {
  const key = o.key ?? defaultKey;
  const out: string[] = [];
  for (const r of rs) {
    if (o.maxPerReplica !== undefined && r.outputs.length > o.maxPerReplica) {
      out.push(`integrity: replica ${r.replica} produced ${r.outputs.length} outputs, at most ${o.maxPerReplica} allowed`);
    }
    if (o.unique ?? true) {
      const seen = new Set<string>();
      for (const x of r.outputs) {
        const k = key(x);
        if (seen.has(k)) {
          out.push(`integrity: replica ${r.replica} output ${short(x)} twice`);
          break;
        }
        seen.add(k);
      }
    }
    if (o.allowed) {
      const allowed = o.allowed;
      const bad = r.outputs.find((x) => (typeof allowed === 'function' ? !allowed(x) : !allowed.has(key(x))));
      if (bad !== undefined) out.push(`integrity: replica ${r.replica} output ${short(bad)}, which nobody input`);
    }
  }
  return out;
}

/**
 * Integrity of an epoch-by-epoch broadcast: no request twice within one epoch's delivery. Across epochs a
 * request may come again when a Byzantine proposer orders it again (atomic broadcast de-duplicates within the
 * epoch; the replica's log drops the repeat, by a window that is a function of the log: ab.ts), so scenarios
 * with corrupted replicas check this and not whole-run uniqueness.
 */
export function uniqueWithinEpochs<D extends { readonly requests: readonly Uint8Array[] }>(rs: readonly ReplicaOutputs<D>[], key: Key<Uint8Array>): string[] {
  const out: string[] = [];
  for (const r of rs) {
    for (const [e, d] of r.outputs.entries()) {
      const seen = new Set<string>();
      const twice = d.requests.find((x) => {
        const k = key(x);
        if (seen.has(k)) return true;
        seen.add(k);
        return false;
      });
      if (twice !== undefined) {
        out.push(`integrity: replica ${r.replica} delivered ${short(twice)} twice in its delivery #${e}`);
        break;
      }
    }
  }
  return out;
}

/** Liveness: every honest replica produced at least `expected` outputs (a number or per replica). */
export function outputCount<O>(rs: readonly ReplicaOutputs<O>[], expected: number | ((replica: number) => number), what = 'outputs'): string | null {
  const short_: string[] = [];
  for (const r of rs) {
    const want = typeof expected === 'number' ? expected : expected(r.replica);
    if (r.outputs.length < want) short_.push(`${r.replica} (${r.outputs.length}/${want})`);
  }
  return short_.length === 0 ? null : `liveness: honest replicas without all their ${what}: ${short_.join(', ')}`;
}

/** Totality: if one honest replica produced an output, all did. */
export function totality<O>(rs: readonly ReplicaOutputs<O>[], what = 'output'): string | null {
  const some = rs.find((r) => r.outputs.length > 0);
  if (!some) return null;
  const missing = rs.filter((r) => r.outputs.length === 0).map((r) => r.replica);
  return missing.length === 0 ? null : `totality: replica ${some.replica} has a ${what}, replica(s) ${missing.join(', ')} never got one`;
}

/** The first non-null liveness failure. */
export function firstFailure(...xs: (string | null)[]): string | null {
  return xs.find((x) => x !== null) ?? null;
}

/**
 * The structure file given to `sintra deal --structure FILE`: replicas with attributes and the adversary,
 * as a threshold, explicit corruptible sets, or an attribute rule. Example (the paper's 4 x 4 grid):
 *   { "replicas": [{ "id": "zrh-linux", "attributes": { "location": "zrh", "os": "linux" } }, ...],
 *     "adversary": { "attributes": { "location": 1, "os": 1 } } }
 * means: all replicas at any one location plus all replicas running any one OS may be corrupted together.
 * `"plus": k` adds any k further replicas to every such set.
 */
import { StructureError, generalQuorumSystem, maskOf, maximalOnly, membersOf, thresholdQuorumSystem } from './quorum-system.ts';
import type { QuorumSystem, StructureDescription } from './quorum-system.ts';

export interface ReplicaSpec {
  readonly id: string;
  readonly attributes: Readonly<Record<string, string>>;
}

export type AdversarySpec =
  | { readonly threshold: number }
  | { readonly sets: readonly (readonly string[])[] }
  | { readonly attributes: Readonly<Record<string, number>>; readonly plus?: number };

export interface StructureFile {
  readonly replicas: readonly ReplicaSpec[];
  readonly adversary: AdversarySpec;
}

export interface ParsedStructure {
  readonly replicas: readonly ReplicaSpec[];
  readonly structure: StructureDescription;
  readonly quorum: QuorumSystem;
  /** Human description of the adversary, for group.json and `sintra deal` output. */
  readonly adversary: AdversarySpec;
}

const ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function combinations<T>(items: readonly T[], k: number): T[][] {
  const out: T[][] = [];
  const rec = (start: number, acc: T[]) => {
    if (acc.length === k) return void out.push(acc.slice());
    for (let i = start; i < items.length; i++) rec(i + 1, [...acc, items[i]!]);
  };
  rec(0, []);
  return out;
}

const LIMIT = 100_000;

export function parseReplicas(raw: unknown): ReplicaSpec[] {
  if (!Array.isArray(raw) || raw.length === 0) throw new StructureError('"replicas" must be a non-empty array');
  const seen = new Set<string>();
  return raw.map((r, i) => {
    if (!isObject(r)) throw new StructureError(`replicas[${i}] must be an object`);
    const id = r['id'];
    if (typeof id !== 'string' || !ID.test(id)) {
      throw new StructureError(`replicas[${i}].id must match ${ID.source} (lower-case letters, digits, '-'), got ${JSON.stringify(id)}`);
    }
    if (seen.has(id)) throw new StructureError(`duplicate replica id "${id}"`);
    seen.add(id);
    const attrs = r['attributes'] ?? {};
    if (!isObject(attrs)) throw new StructureError(`replicas[${i}].attributes must be an object of strings`);
    for (const [k, v] of Object.entries(attrs)) {
      if (typeof v !== 'string' || v.length === 0) throw new StructureError(`replicas[${i}].attributes.${k} must be a non-empty string`);
    }
    for (const k of Object.keys(r)) if (k !== 'id' && k !== 'attributes') throw new StructureError(`replicas[${i}]: unknown field "${k}"`);
    return { id, attributes: attrs as Record<string, string> };
  });
}

/** Maximal corruptible sets (as index lists) from an attribute rule. */
export function attributeRuleSets(replicas: readonly ReplicaSpec[], rule: Readonly<Record<string, number>>, plus: number): number[][] {
  const n = replicas.length;
  const names = Object.keys(rule);
  if (names.length === 0) throw new StructureError('adversary.attributes must name at least one attribute');
  // For each attribute: every way to pick `count` of its values -> mask of replicas having one of them.
  const perAttribute: bigint[][] = names.map((name) => {
    const count = rule[name];
    if (!Number.isInteger(count) || count! < 0) throw new StructureError(`adversary.attributes.${name} must be a non-negative integer`);
    const values = new Map<string, bigint>();
    replicas.forEach((r, i) => {
      const v = r.attributes[name];
      if (v === undefined) throw new StructureError(`unknown attribute "${name}": replica "${r.id}" has no such attribute`);
      values.set(v, (values.get(v) ?? 0n) | (1n << BigInt(i)));
    });
    const vals = [...values.values()];
    const k = Math.min(count!, vals.length);
    return combinations(vals, k).map((c) => c.reduce((a, b) => a | b, 0n));
  });
  let sets: bigint[] = [0n];
  for (const options of perAttribute) {
    const next: bigint[] = [];
    for (const s of sets) for (const o of options) next.push(s | o);
    if (next.length > LIMIT) throw new StructureError('attribute rule expands to too many corruptible sets');
    sets = maximalOnly(next);
  }
  if (plus > 0) {
    const extra: bigint[] = [];
    for (const s of sets) {
      const rest = membersOf(((1n << BigInt(n)) - 1n) & ~s, n);
      for (const c of combinations(rest, Math.min(plus, rest.length))) {
        extra.push(c.reduce((a, i) => a | (1n << BigInt(i)), s));
        if (extra.length > LIMIT) throw new StructureError('"plus" expands to too many corruptible sets');
      }
    }
    sets = maximalOnly(extra);
  }
  return sets.map((m) => membersOf(m, n));
}

export function parseStructureFile(raw: unknown): ParsedStructure {
  if (!isObject(raw)) throw new StructureError('structure file must be a JSON object with "replicas" and "adversary"');
  for (const k of Object.keys(raw)) if (k !== 'replicas' && k !== 'adversary') throw new StructureError(`unknown field "${k}" in structure file`);
  const replicas = parseReplicas(raw['replicas']);
  const n = replicas.length;
  const adv = raw['adversary'];
  if (!isObject(adv)) throw new StructureError('"adversary" must be an object: {"threshold": t}, {"sets": [[ids]]} or {"attributes": {name: count}}');
  const kinds = ['threshold', 'sets', 'attributes'].filter((k) => k in adv);
  if (kinds.length !== 1) throw new StructureError('"adversary" must have exactly one of "threshold", "sets", "attributes"');
  const index = new Map(replicas.map((r, i) => [r.id, i]));
  if ('threshold' in adv) {
    const t = adv['threshold'];
    if (typeof t !== 'number') throw new StructureError('adversary.threshold must be a number');
    const quorum = thresholdQuorumSystem(n, t);
    return { replicas, structure: quorum.description, quorum, adversary: { threshold: t } };
  }
  if ('sets' in adv) {
    const sets = adv['sets'];
    if (!Array.isArray(sets) || sets.length === 0) throw new StructureError('adversary.sets must be a non-empty array of arrays of replica ids');
    const idx = sets.map((s, j) => {
      if (!Array.isArray(s)) throw new StructureError(`adversary.sets[${j}] must be an array of replica ids`);
      return s.map((id) => {
        const i = index.get(id as string);
        if (i === undefined) throw new StructureError(`adversary.sets[${j}]: unknown replica id ${JSON.stringify(id)}`);
        return i;
      });
    });
    const quorum = generalQuorumSystem(n, idx);
    return { replicas, structure: quorum.description, quorum, adversary: { sets: sets as string[][] } };
  }
  const rule = adv['attributes'];
  if (!isObject(rule)) throw new StructureError('adversary.attributes must be an object {attribute: count}');
  const plus = adv['plus'] ?? 0;
  if (typeof plus !== 'number' || !Number.isInteger(plus) || plus < 0) throw new StructureError('adversary.plus must be a non-negative integer');
  for (const k of Object.keys(adv)) if (k !== 'attributes' && k !== 'plus') throw new StructureError(`adversary: unknown field "${k}"`);
  const sets = attributeRuleSets(replicas, rule as Record<string, number>, plus);
  const quorum = generalQuorumSystem(n, sets);
  return { replicas, structure: quorum.description, quorum, adversary: { attributes: rule as Record<string, number>, plus } };
}

/** The `--n N --t T` shorthand: replicas r1..rN, threshold adversary. */
export function thresholdStructure(n: number, t: number): ParsedStructure {
  const quorum = thresholdQuorumSystem(n, t);
  const replicas = Array.from({ length: n }, (_, i) => ({ id: `r${i + 1}`, attributes: {} }));
  return { replicas, structure: quorum.description, quorum, adversary: { threshold: t } };
}

export { maskOf };

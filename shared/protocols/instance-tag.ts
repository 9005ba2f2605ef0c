/**
 * Instance tags: the one canonical codec. Every protocol message carries the tag of the instance it
 * belongs to, and tags are signed: a consistent-broadcast proof signs (tag, H(v)), a threshold coin is
 * the signature on `<aba tag>/coin/<round>`, a checkpoint is signed under `ckpt/<epoch>`. So an instance
 * must have exactly one string. If two strings named one instance (`ab/01/cbc/3` and `ab/1/cbc/3`), a
 * peer could feed one instance under two names, and honest replicas whose parsers differed in what they
 * accept would disagree about which instance a message belongs to. Every tag is therefore built and
 * parsed here, and a parser accepts a string only if formatting its result gives back exactly that
 * string (`format(parse(t)) === t`); anything else is null, which the protocol records as a `malformed`
 * fault of the sender. No protocol parses a tag any other way.
 *
 * The canonical form:
 *   tag     = segment *("/" segment)               no empty segment, no leading or trailing "/"
 *   segment = number / name
 *   number  = "0" / %x31-39 *DIGIT                 decimal: no sign, no leading zero, at most MAX_TAG_NUMBER
 *   name    = 1*(a-z / DIGIT / "-"), not all digits
 * An all-digit segment is always a number, so `007` is canonical nowhere. The alphabet is the wire codec's
 * (shared/codec/message-codec.ts), which also caps a tag at 200 bytes.
 * Bounds: every number is at most MAX_TAG_NUMBER = Number.MAX_SAFE_INTEGER (2^53 - 1), so it is an exact
 * JavaScript number and String() gives its segment back; epochs need no lower bound than that (the epoch
 * counter is such a number). Where a segment is a replica index (a proposer) it must also be below n, and
 * a coin round at most MAX_ROUND (the rounds binary agreement accepts, context.ts isRound).
 *
 * The instance tree (`ab`, `dec` and `ckpt` in the replica engine; the simulator mounts atomic broadcast
 * and the decryption shares under other prefixes, e.g. `scab/ab` and `scab`):
 *   <ab>                          forwarded requests (ab-requests)
 *   <ab>/<epoch>                  the epoch's common subset (acs.ts; never on the wire itself)
 *   <ab>/<epoch>/cbc/<j>          proposer j's consistent broadcast in that epoch
 *   <ab>/<epoch>/aba/<j>          the binary agreement on j's batch
 *   <aba>/coin/<round>            the name a threshold coin is signed under (never a message tag)
 *   <dec>/<epoch>                 the decryption shares of an epoch (scab.ts)
 *   ckpt/<epoch>                  the checkpoint signature shares of an epoch (checkpoint.ts)
 * Protocols run under arbitrary prefixes (the simulator's `ab/<k>`, `mvba/<k>`), so each one parses
 * relative to its own tag, with one function: a common subset asks parseSubsetTag, atomic broadcast
 * parseAbTag, secure causal broadcast parseScabTag, the certifier parseCheckpointTag and the engine
 * parseInstanceTag. Each has a builder it inverts.
 */
import { invariant } from '../invariant/index.ts';

export const TAG_SEPARATOR = '/';
/** Largest number a tag segment may hold (an exact JavaScript integer). */
export const MAX_TAG_NUMBER = Number.MAX_SAFE_INTEGER;
/** Largest epoch (atomic broadcast, decryption shares, checkpoints). */
export const MAX_EPOCH = MAX_TAG_NUMBER;
/** Largest binary-agreement round in a coin name (as context.ts isRound). */
export const MAX_ROUND = 0xffffffff;

// ---- segments

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** a-z, 0-9, '-': what the wire codec allows in a tag, less the separator. */
function isSegmentChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || isDigit(c) || c === 0x2d;
}

/** The number a segment spells canonically, if it is at most `max` (<= MAX_TAG_NUMBER); else null. */
export function parseNumber(segment: string, max: number = MAX_TAG_NUMBER): number | null {
  if (segment.length === 0 || segment.length > 16) return null; // 16 digits hold MAX_TAG_NUMBER
  if (segment.length > 1 && segment.charCodeAt(0) === 0x30) return null; // leading zero
  for (let i = 0; i < segment.length; i++) if (!isDigit(segment.charCodeAt(i))) return null;
  // Exact: an integer above 2^53 - 1 converts to 2^53 or more, so it fails the bound.
  const x = Number(segment);
  return x <= max ? x : null;
}

/** A number's segment. The caller's own ids only: a bad one is a bug here, not a peer's fault. */
export function formatNumber(x: number, max: number = MAX_TAG_NUMBER): string {
  invariant(Number.isSafeInteger(x) && x >= 0 && x <= max, () => `tag number ${x} not in 0..${max}`);
  return String(x);
}

/** A non-numeric segment: 1..n of [a-z0-9-], not all digits. */
export function isName(segment: string): boolean {
  let digits = 0;
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charCodeAt(i);
    if (!isSegmentChar(c)) return false;
    if (isDigit(c)) digits++;
  }
  return segment.length > 0 && digits < segment.length;
}

function isSegment(segment: string): boolean {
  return isName(segment) || parseNumber(segment) !== null;
}

// ---- generic tags (any prefix)

/** Whether `tag` is in the canonical form above (any tree). */
export function isCanonicalTag(tag: string): boolean {
  return tag.split(TAG_SEPARATOR).every(isSegment);
}

/**
 * The segments of `tag` below `parent`, if `tag` is a canonical proper descendant of it (`parent/...`);
 * else null. `parent` must be canonical itself (a protocol's own tag).
 */
export function childSegments(tag: string, parent: string): readonly string[] | null {
  if (tag.length <= parent.length + 1 || !tag.startsWith(parent) || tag.charCodeAt(parent.length) !== 0x2f) return null;
  const rest = tag.slice(parent.length + 1).split(TAG_SEPARATOR);
  return rest.every(isSegment) ? rest : null;
}

/** Whether `tag` is `root` or a canonical descendant of it (routing a message to the instance at `root`). */
export function isWithin(tag: string, root: string): boolean {
  return tag === root || childSegments(tag, root) !== null;
}

/** `parent/s1/s2/...`: numbers are formatted canonically, names must be canonical. */
export function childTag(parent: string, ...segments: readonly (string | number)[]): string {
  invariant(segments.length > 0, 'a child tag needs a segment');
  const parts = segments.map((s) => (typeof s === 'number' ? formatNumber(s) : s));
  invariant(parts.every(isSegment), () => `not a canonical tag segment in ${JSON.stringify(segments)}`);
  return [parent, ...parts].join(TAG_SEPARATOR);
}

// ---- common subset (acs.ts): <subset>/cbc/<j>, <subset>/aba/<j>

export type SubsetChildKind = 'cbc' | 'aba';

export interface SubsetTagId {
  readonly kind: SubsetChildKind;
  /** The replica whose proposal the instance is about (0..n-1). */
  readonly proposer: number;
}

export function formatSubsetTag(subset: string, id: SubsetTagId): string {
  return childTag(subset, id.kind, id.proposer);
}

/** A common subset's message tag, relative to the subset's own tag; proposers are below n. */
export function parseSubsetTag(tag: string, subset: string, n: number): SubsetTagId | null {
  const rest = childSegments(tag, subset);
  return rest !== null && rest.length === 2 ? subsetChild(rest[0]!, rest[1]!, n) : null;
}

function subsetChild(kind: string, proposer: string, n: number): SubsetTagId | null {
  if (kind !== 'cbc' && kind !== 'aba') return null;
  const j = parseNumber(proposer, n - 1);
  return j === null ? null : { kind, proposer: j };
}

// ---- binary agreement (aba.ts): the coin of a round

/** The name a round's threshold coin is signed under (never a message tag). */
export function coinName(aba: string, round: number): string {
  return childTag(aba, 'coin', formatNumber(round, MAX_ROUND));
}

// ---- atomic broadcast (ab.ts): <ab>, <ab>/<epoch>/cbc/<j>, <ab>/<epoch>/aba/<j>

/** A consistent broadcast or binary agreement of one epoch. */
export interface AbEpochTagId {
  readonly kind: SubsetChildKind;
  readonly epoch: number;
  readonly proposer: number;
}

export type AbTagId = { readonly kind: 'ab-requests' } | AbEpochTagId;

/** The tag of an epoch's common subset. */
export function abEpochTag(ab: string, epoch: number): string {
  return childTag(ab, formatNumber(epoch, MAX_EPOCH));
}

export function formatAbTag(ab: string, id: AbTagId): string {
  if (id.kind === 'ab-requests') return ab;
  return formatSubsetTag(abEpochTag(ab, id.epoch), id);
}

/** An atomic broadcast's message tag, relative to its own tag. */
export function parseAbTag(tag: string, ab: string, n: number): AbTagId | null {
  if (tag === ab) return { kind: 'ab-requests' };
  const rest = childSegments(tag, ab);
  if (rest === null || rest.length !== 3) return null;
  const epoch = parseNumber(rest[0]!, MAX_EPOCH);
  const child = subsetChild(rest[1]!, rest[2]!, n);
  return epoch === null || child === null ? null : { kind: child.kind, epoch, proposer: child.proposer };
}

// ---- one number below a prefix: <dec>/<epoch>, ckpt/<epoch>

export function formatEpochTag(prefix: string, epoch: number): string {
  return childTag(prefix, formatNumber(epoch, MAX_EPOCH));
}

export function parseEpochTag(tag: string, prefix: string): number | null {
  const rest = childSegments(tag, prefix);
  return rest !== null && rest.length === 1 ? parseNumber(rest[0]!, MAX_EPOCH) : null;
}

export const CHECKPOINT_PREFIX = 'ckpt';

/** The tag a checkpoint of `epoch` is signed under (shared/log/checkpoint.ts verifies with it). */
export function checkpointTag(epoch: number): string {
  return formatEpochTag(CHECKPOINT_PREFIX, epoch);
}

export function parseCheckpointTag(tag: string): number | null {
  return parseEpochTag(tag, CHECKPOINT_PREFIX);
}

// ---- secure causal broadcast (scab.ts) and the engine's whole tree

export interface ScabPrefixes {
  /** The inner atomic broadcast's tag. */
  readonly ab: string;
  /** The prefix of the decryption-share tags. */
  readonly dec: string;
}

export interface InstancePrefixes extends ScabPrefixes {
  readonly ckpt: string;
}

/** The replica engine's prefixes (storage and the wire depend on them: never change them). */
export const ENGINE_PREFIXES: InstancePrefixes = { ab: 'ab', dec: 'dec', ckpt: CHECKPOINT_PREFIX };

export type ScabTagId = AbTagId | { readonly kind: 'dec'; readonly epoch: number };
export type InstanceId = ScabTagId | { readonly kind: 'ckpt'; readonly epoch: number };

/**
 * Refuses prefixes under which one string could parse as two instances. Sufficient and necessary for the
 * trees above: below every prefix the first segment is a number (or nothing, for `<ab>` itself), so two
 * prefixes never share a tag unless one is the other or lies below it through a number (`scab/ab` below
 * `scab` is fine; `ab/3` below `ab` is not). Each prefix must be canonical.
 */
export function checkPrefixes(prefixes: readonly string[]): void {
  for (const p of prefixes) invariant(isCanonicalTag(p), () => `instance prefix ${JSON.stringify(p)} is not a canonical tag`);
  for (const p of prefixes) {
    for (const q of prefixes) {
      if (p === q) continue;
      const below = childSegments(p, q);
      invariant(below === null || isName(below[0]!), () => `instance prefix ${p} lies in the tags of ${q}`);
    }
  }
  invariant(new Set(prefixes).size === prefixes.length, () => `instance prefixes repeat: ${prefixes.join(', ')}`);
}

export function formatScabTag(id: ScabTagId, p: ScabPrefixes): string {
  return id.kind === 'dec' ? formatEpochTag(p.dec, id.epoch) : formatAbTag(p.ab, id);
}

/** A secure causal broadcast's message tag: its atomic broadcast's, or decryption shares. */
export function parseScabTag(tag: string, p: ScabPrefixes, n: number): ScabTagId | null {
  const ab = parseAbTag(tag, p.ab, n);
  if (ab !== null) return ab;
  const epoch = parseEpochTag(tag, p.dec);
  return epoch === null ? null : { kind: 'dec', epoch };
}

export function formatInstanceTag(id: InstanceId, p: InstancePrefixes = ENGINE_PREFIXES): string {
  return id.kind === 'ckpt' ? formatEpochTag(p.ckpt, id.epoch) : formatScabTag(id, p);
}

/** The engine's routing: which instance a message tag names, or null (not canonical, or no instance). */
export function parseInstanceTag(tag: string, n: number, p: InstancePrefixes = ENGINE_PREFIXES): InstanceId | null {
  const scab = parseScabTag(tag, p, n);
  if (scab !== null) return scab;
  const epoch = parseEpochTag(tag, p.ckpt);
  return epoch === null ? null : { kind: 'ckpt', epoch };
}

/**
 * Byzantine behaviours. A corrupted replica runs an honest instance of the protocol (so it knows what an
 * honest replica would say at each point) and its behaviour rewrites that instance's outgoing messages:
 * nothing ('silent'), conflicting versions to different replicas ('equivocate'), random bodies ('garbage'),
 * old messages re-tagged into other instances and rounds ('replay'), wrong or foreign signature shares
 * ('bad-shares'), both binary values at once ('vote-both'), or a random one of those per message ('mixed').
 * 'crash-restart' is not here: such a replica is honest and the simulator crashes and restarts it.
 *
 * All corrupted replicas belong to one adversary: they share `AdversaryState` (e.g. one split of the
 * replicas into two sides, so equivocations of different corrupted replicas are coordinated).
 *
 * The behaviours work on message bodies generically (by field name and value type), so new protocols'
 * messages are covered without changes; GARBAGE_SCHEMA only adds well-shaped random bodies of known types.
 */
import type { Body, BodyType, Message } from '../../shared/protocols/messages.ts';
import type { Outgoing } from '../../shared/protocols/step.ts';
import { parseNumber } from '../../shared/protocols/instance-tag.ts';
import type { Rng } from './rng.ts';

export const BYZANTINE_KINDS = ['silent', 'crash-restart', 'equivocate', 'garbage', 'replay', 'bad-shares', 'vote-both', 'mixed'] as const;
export type ByzantineKind = (typeof BYZANTINE_KINDS)[number];

export interface AdversaryState {
  readonly n: number;
  readonly corrupted: ReadonlySet<number>;
  /** A fixed split of all replicas into two sides, shared by every corrupted replica. */
  readonly side: readonly (0 | 1)[];
  /** Scratch space shared by the corrupted replicas (scenario-specific attacks coordinate through it). */
  readonly notes: Map<string, unknown>;
}

export interface BehaviourEnv {
  readonly me: number;
  readonly n: number;
  readonly rng: Rng;
  readonly adversary: AdversaryState;
  readonly maxValueBytes: number;
}

export interface Behaviour {
  readonly name: string;
  /** Sees every message the corrupted replica receives (before its inner instance does). */
  observe?(from: number, msg: Message): void;
  /** What the corrupted replica sends instead of one message of its inner honest instance. */
  transform(out: Outgoing): Outgoing[];
}

export type BehaviourFactory = (env: BehaviourEnv) => Behaviour;

type Fields = Record<string, unknown>;

function fieldsOf(body: Body): Fields {
  return body as unknown as Fields;
}

function asBody(f: Fields): Body {
  return f as unknown as Body;
}

function bodyWith(body: Body, patch: Fields): Body {
  return asBody({ ...fieldsOf(body), ...patch });
}

const SHARE_FIELDS = new Set(['share', 'signature', 'shares']);
const POSITION_FIELDS = new Set(['round', 'epoch']);

/** Deterministic "other" version of a field (an involution where possible), so coordinated replicas agree on it. */
function altField(key: string, v: unknown): unknown {
  if (v instanceof Uint8Array) {
    if (v.length === 0) return Uint8Array.of(1);
    const c = v.slice();
    c[c.length - 1]! ^= 1;
    return c;
  }
  if (POSITION_FIELDS.has(key)) return v;
  if (key === 'values' && (v === 1 || v === 2 || v === 3)) return v === 1 ? 2 : 1;
  if (v === 0 || v === 1) return 1 - v;
  if (typeof v === 'number') return v + 1;
  if (Array.isArray(v)) return v.map((x) => altField('', x));
  return v;
}

/** The other version of a body: every content field changed, positions (round, epoch) kept. */
export function altBody(body: Body): Body {
  const out: Fields = { t: body.t };
  for (const [k, v] of Object.entries(fieldsOf(body))) if (k !== 't') out[k] = altField(k, v);
  return asBody(out);
}

/** A random value of a random JS type: what a codec-accepting but hostile peer might put in a field. */
export function randomField(rng: Rng, maxValueBytes: number): unknown {
  switch (rng.int(14)) {
    case 0:
      return rng.bytes(rng.int(65));
    case 1:
      return rng.bytes(32);
    case 2:
      return rng.bytes(maxValueBytes + 1 + rng.int(16));
    case 3:
      return new Uint8Array(0);
    case 4:
      return rng.int(4);
    case 5:
      return rng.next();
    case 6:
      return -1 - rng.int(10);
    case 7:
      return rng.pick([0.5, Number.NaN, Number.POSITIVE_INFINITY, -0, 2 ** 53, 2 ** 32]);
    case 8:
      return rng.pick(['', 'garbage', '0']);
    case 9:
      return null;
    case 10:
      return undefined;
    case 11:
      return Array.from({ length: rng.int(4) }, () => rng.bytes(rng.int(48)));
    case 12:
      return rng.pick([true, false, {}, { length: 3 }, [1, 2, 3]]);
    default:
      return [rng.bytes(rng.int(8)), 7, null];
  }
}

type FieldKind = 'bytes' | 'digest' | 'share' | 'bit' | 'round' | 'bits3' | 'bytesList';

/**
 * Shapes of known bodies, for well-shaped garbage. Partial on purpose: a body type added to messages.ts
 * still gets garbage by mutation of observed bodies; add it here to also get well-shaped random ones.
 */
export const GARBAGE_SCHEMA: Partial<Record<BodyType, Readonly<Record<string, FieldKind>>>> = {
  'rbc-send': { value: 'bytes' },
  'rbc-echo': { value: 'bytes' },
  'rbc-ready': { digest: 'digest' },
  'cbc-send': { value: 'bytes' },
  'cbc-echo': { share: 'share' },
  'cbc-final': { value: 'bytes', signature: 'share' },
  'cbc-want': {},
  'cbc-have': {},
  'cbc-proof': { signature: 'share' },
  'aba-bval': { round: 'round', value: 'bit' },
  'aba-aux': { round: 'round', value: 'bit' },
  'aba-conf': { round: 'round', values: 'bits3' },
  'aba-coin': { round: 'round', share: 'share' },
  'aba-term': { value: 'bit', round: 'round' },
  'ab-requests': { requests: 'bytesList' },
  'dec-shares': { first: 'round', shares: 'bytesList' },
};

function wellShaped(kind: FieldKind, rng: Rng, maxValueBytes: number): unknown {
  switch (kind) {
    case 'bytes':
      return rng.bytes(rng.chance(0.05) ? maxValueBytes : rng.int(80));
    case 'digest':
      return rng.bytes(32);
    case 'share':
      return rng.bytes(rng.pick([32, 48, 52, 96, 100, rng.int(200)]));
    case 'bit':
      return rng.int(2);
    case 'round':
      return rng.chance(0.8) ? rng.int(6) : rng.int(1000);
    case 'bits3':
      return 1 + rng.int(3);
    case 'bytesList':
      return Array.from({ length: rng.int(5) }, () => rng.bytes(rng.int(64)));
  }
}

/** A random body: a known type with well-shaped random fields, or one with random junk in some fields. */
export function randomBody(rng: Rng, maxValueBytes: number): Body {
  const types = Object.keys(GARBAGE_SCHEMA) as BodyType[];
  const t = rng.pick(types);
  const schema = GARBAGE_SCHEMA[t]!;
  const out: Fields = { t };
  const junk = rng.chance(0.4);
  for (const [k, kind] of Object.entries(schema)) {
    out[k] = junk && rng.chance(0.5) ? randomField(rng, maxValueBytes) : wellShaped(kind, rng, maxValueBytes);
  }
  if (junk && rng.chance(0.2)) out['extra'] = randomField(rng, maxValueBytes);
  return asBody(out);
}

/** The same body type with some fields replaced: random contents of the same type, or junk of another type. */
export function mutateBody(body: Body, rng: Rng, maxValueBytes: number): Body {
  const out: Fields = { ...fieldsOf(body) };
  const keys = Object.keys(out).filter((k) => k !== 't');
  if (keys.length === 0 || rng.chance(0.1)) {
    out[rng.chance(0.5) ? 'value' : 'round'] = randomField(rng, maxValueBytes);
    return asBody(out);
  }
  for (const k of keys) {
    if (!rng.chance(0.6)) continue;
    const v = out[k];
    if (rng.chance(0.4)) out[k] = randomField(rng, maxValueBytes);
    else if (v instanceof Uint8Array) {
      if (v.length > 0 && rng.chance(0.5)) {
        const c = v.slice();
        c[rng.int(c.length)]! ^= 1 << rng.int(8);
        out[k] = c;
      } else out[k] = rng.bytes(rng.int(2 * v.length + 8));
    } else if (typeof v === 'number') out[k] = rng.chance(0.5) ? rng.int(4) : v + rng.range(-2, 3);
    else if (Array.isArray(v)) out[k] = v.map((x) => (x instanceof Uint8Array && rng.chance(0.5) ? rng.bytes(x.length) : x));
    else out[k] = randomField(rng, maxValueBytes);
  }
  return asBody(out);
}

/**
 * Changes one '/'-separated numeric segment of a tag, or appends one. The result may name no instance,
 * or lie outside the canonical bounds: it is an attack, the honest parsers must refuse it.
 */
export function mutateTag(tag: string, rng: Rng): string {
  const parts = tag.split('/');
  const numeric = parts.map((p, i) => (parseNumber(p) !== null ? i : -1)).filter((i) => i >= 0);
  if (numeric.length === 0 || rng.chance(0.2)) return rng.chance(0.5) ? `${tag}/${rng.int(4)}` : parts.slice(0, -1).join('/') || `${tag}x`;
  const i = rng.pick(numeric);
  parts[i] = String(Math.max(0, Number(parts[i]) + rng.pick([-1, 1, 2, rng.int(8)])));
  return parts.join('/');
}

const all = (n: number) => Array.from({ length: n }, (_, i) => i);

function perDestination(n: number, msgFor: (j: number) => Message | null): Outgoing[] {
  const out: Outgoing[] = [];
  for (const j of all(n)) {
    const m = msgFor(j);
    if (m) out.push({ to: j, msg: m });
  }
  return out;
}

export const silent: BehaviourFactory = () => ({ name: 'silent', transform: () => [] });

export const honest: BehaviourFactory = () => ({ name: 'honest', transform: (o) => [o] });

export const equivocate: BehaviourFactory = ({ n, rng, adversary, maxValueBytes }) => ({
  name: 'equivocate',
  transform(o) {
    const alt: Message = { tag: o.msg.tag, body: altBody(o.msg.body) };
    if (o.to !== 'all') return [{ to: o.to, msg: rng.chance(0.5) ? alt : o.msg }];
    if (rng.chance(0.7)) {
      // Coordinated: one side gets the original, the other the alternative; corrupted replicas the original.
      return perDestination(n, (j) => (adversary.corrupted.has(j) || adversary.side[j] === 0 ? o.msg : alt));
    }
    return perDestination(n, (j) => {
      const r = rng.int(3);
      return r === 0 ? o.msg : r === 1 ? alt : { tag: o.msg.tag, body: mutateBody(o.msg.body, rng, maxValueBytes) };
    });
  },
});

export const garbage: BehaviourFactory = ({ n, rng, maxValueBytes }) => ({
  name: 'garbage',
  transform(o) {
    const out: Outgoing[] = [];
    if (rng.chance(0.3)) out.push(o);
    const k = 1 + rng.int(2);
    for (let i = 0; i < k; i++) {
      const body = rng.chance(0.5) ? mutateBody(o.msg.body, rng, maxValueBytes) : randomBody(rng, maxValueBytes);
      const tag = rng.chance(0.85) ? o.msg.tag : mutateTag(o.msg.tag, rng);
      out.push({ to: rng.chance(0.5) ? 'all' : rng.int(n), msg: { tag, body } });
    }
    return out;
  },
});

export const replay: BehaviourFactory = ({ n, rng }) => {
  const seen: Message[] = [];
  const tags: string[] = [];
  const remember = (m: Message) => {
    if (seen.length < 256) seen.push(m);
    else seen[rng.int(256)] = m;
    if (!tags.includes(m.tag) && tags.length < 64) tags.push(m.tag);
  };
  return {
    name: 'replay',
    observe: (_from, msg) => remember(msg),
    transform(o) {
      const out: Outgoing[] = [];
      if (rng.chance(0.6)) out.push(o);
      remember(o.msg);
      const k = 1 + rng.int(2);
      for (let i = 0; i < k; i++) {
        const m = rng.pick(seen);
        let tag = m.tag;
        let body = m.body;
        switch (rng.int(4)) {
          case 0:
            break; // as is: another replica's message claimed as our own, or our own again
          case 1:
            tag = rng.pick(tags);
            break;
          case 2:
            tag = mutateTag(m.tag, rng);
            break;
          default: {
            const f = fieldsOf(body);
            if (typeof f['round'] === 'number') body = bodyWith(body, { round: Math.max(0, f['round'] + rng.pick([-1, 1, 2, rng.int(6)])) });
            else tag = mutateTag(m.tag, rng);
          }
        }
        out.push({ to: rng.chance(0.5) ? 'all' : rng.int(n), msg: { tag, body } });
      }
      return out;
    },
  };
};

export const badShares: BehaviourFactory = ({ rng }) => {
  const foreign: Uint8Array[] = [];
  const collect = (v: unknown) => {
    if (v instanceof Uint8Array) {
      if (foreign.length < 128) foreign.push(v);
      else foreign[rng.int(128)] = v;
    } else if (Array.isArray(v)) for (const x of v) collect(x);
  };
  const bad = (v: Uint8Array): Uint8Array => {
    const r = rng.int(4);
    if (r === 0 && foreign.length > 0) return rng.pick(foreign);
    if (r === 1 && v.length > 0) {
      const c = v.slice();
      c[rng.int(c.length)]! ^= 1 << rng.int(8);
      return c;
    }
    return rng.bytes(r === 2 ? v.length : rng.int(2 * v.length + 1));
  };
  return {
    name: 'bad-shares',
    observe(_from, msg) {
      for (const [k, v] of Object.entries(fieldsOf(msg.body))) if (SHARE_FIELDS.has(k)) collect(v);
    },
    transform(o) {
      const f = fieldsOf(o.msg.body);
      const keys = Object.keys(f).filter((k) => SHARE_FIELDS.has(k));
      if (keys.length === 0) return [o];
      const patch: Fields = {};
      for (const k of keys) {
        const v = f[k];
        if (v instanceof Uint8Array) patch[k] = bad(v);
        else if (Array.isArray(v)) patch[k] = v.map((x) => (x instanceof Uint8Array && rng.chance(0.7) ? bad(x) : x));
      }
      const out: Outgoing[] = [{ to: o.to, msg: { tag: o.msg.tag, body: bodyWith(o.msg.body, patch) } }];
      if (rng.chance(0.2)) out.push(o); // and the good one too: now it is also an equivocation
      return out;
    },
  };
};

export const voteBoth: BehaviourFactory = ({ n, rng, adversary }) => ({
  name: 'vote-both',
  transform(o) {
    const b = o.msg.body;
    const m = (body: Body): Message => ({ tag: o.msg.tag, body });
    switch (b.t) {
      case 'aba-bval':
      case 'aba-aux':
      case 'aba-term': {
        const other = m(bodyWith(b, { value: 1 - b.value }));
        if (o.to === 'all' && rng.chance(0.3)) return perDestination(n, (j) => (adversary.side[j] === 0 ? o.msg : other));
        return rng.chance(0.5) ? [o, { to: o.to, msg: other }] : [{ to: o.to, msg: other }, o];
      }
      case 'aba-conf':
        return [{ to: o.to, msg: m(bodyWith(b, { values: 3 })) }];
      default:
        return [o];
    }
  },
});

export const mixed: BehaviourFactory = (env) => {
  const subs = [honest(env), silent(env), equivocate(env), garbage(env), replay(env), badShares(env), voteBoth(env)];
  return {
    name: 'mixed',
    observe(from, msg) {
      for (const s of subs) s.observe?.(from, msg);
    },
    transform: (o) => env.rng.pick(subs).transform(o),
  };
};

/** The generic behaviours by name (crash-restart is the simulator's business). */
export const BEHAVIOURS: Readonly<Record<string, BehaviourFactory>> = {
  silent,
  equivocate,
  garbage,
  replay,
  'bad-shares': badShares,
  'vote-both': voteBoth,
  mixed,
};

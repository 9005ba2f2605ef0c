/**
 * Canonical text of protocol values (messages, outputs) for equality and keys, a compact rendering for
 * reports, and a streaming 64-bit trace hash (two FNV-1a lanes) that is cheap enough to feed every
 * delivery of every run.
 */
import type { Message } from '../../shared/protocols/messages.ts';

export function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

/**
 * A stable string for any plain protocol value: bytes as hex, object keys sorted, Maps and Sets in their
 * (deterministic) iteration order. Two values with equal canonical strings are interchangeable on the wire.
 */
export function canonical(x: unknown): string {
  if (x instanceof Uint8Array) return `0x${hex(x)}`;
  if (x === undefined) return 'undefined';
  if (x === null) return 'null';
  switch (typeof x) {
    case 'number':
      return Object.is(x, -0) ? '-0' : String(x);
    case 'string':
      return JSON.stringify(x);
    case 'boolean':
    case 'bigint':
      return String(x);
    case 'object':
      break;
    default:
      return `<${typeof x}>`;
  }
  if (Array.isArray(x)) return `[${x.map(canonical).join(',')}]`;
  if (x instanceof Map) return `Map{${[...x].map(([k, v]) => `${canonical(k)}=>${canonical(v)}`).join(',')}}`;
  if (x instanceof Set) return `Set{${[...x].map(canonical).join(',')}}`;
  const o = x as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${k}:${canonical(o[k])}`)
    .join(',')}}`;
}

export function messageKey(m: Message): string {
  return `${m.tag}|${canonical(m.body)}`;
}

/** Like canonical, but byte strings are abbreviated (for violation messages). */
export function short(x: unknown, maxBytes = 8): string {
  if (x instanceof Uint8Array) return x.length <= maxBytes ? `0x${hex(x)}` : `0x${hex(x.subarray(0, maxBytes))}..(${x.length}B)`;
  if (Array.isArray(x)) return `[${x.map((v) => short(v, maxBytes)).join(',')}]`;
  if (x instanceof Map) return `Map{${[...x].map(([k, v]) => `${short(k, maxBytes)}=>${short(v, maxBytes)}`).join(',')}}`;
  if (x !== null && typeof x === 'object') {
    const o = x as Record<string, unknown>;
    return `{${Object.keys(o)
      .map((k) => `${k}:${short(o[k], maxBytes)}`)
      .join(',')}}`;
  }
  return canonical(x);
}

export function describeMessage(m: Message): string {
  return `${m.tag} ${short(m.body)}`;
}

/** Streaming 64-bit hash of a delivery trace. Not cryptographic; only compares runs. */
export class TraceHash {
  private h1 = 0x811c9dc5;
  private h2 = 0x9747b28c;

  private byte(b: number): this {
    this.h1 = Math.imul(this.h1 ^ b, 0x01000193);
    this.h2 = Math.imul(this.h2 ^ b, 0x5bd1e995) ^ (this.h2 >>> 15);
    return this;
  }

  int(x: number): this {
    const v = x | 0;
    this.byte(v & 0xff);
    this.byte((v >>> 8) & 0xff);
    this.byte((v >>> 16) & 0xff);
    this.byte(v >>> 24);
    return this;
  }

  string(s: string): this {
    this.int(s.length);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      this.byte(c & 0xff);
      if (c > 0xff) this.byte(c >>> 8);
    }
    return this;
  }

  bytes(b: Uint8Array): this {
    this.int(b.length);
    for (let i = 0; i < b.length; i++) this.byte(b[i]!);
    return this;
  }

  /** Any plain value, structurally (same cases as `canonical`). */
  value(x: unknown): this {
    if (x instanceof Uint8Array) return this.byte(1).bytes(x);
    if (x === undefined) return this.byte(2);
    if (x === null) return this.byte(3);
    if (typeof x === 'number') {
      this.byte(4);
      if (Number.isInteger(x) && Math.abs(x) < 2 ** 31) return this.int(x);
      return this.string(String(x));
    }
    if (typeof x === 'string') return this.byte(5).string(x);
    if (typeof x === 'boolean') return this.byte(x ? 6 : 7);
    if (typeof x === 'bigint') return this.byte(8).string(x.toString(16));
    if (Array.isArray(x)) {
      this.byte(9).int(x.length);
      for (const v of x) this.value(v);
      return this;
    }
    if (x instanceof Map) {
      this.byte(10).int(x.size);
      for (const [k, v] of x) this.value(k).value(v);
      return this;
    }
    if (x instanceof Set) {
      this.byte(11).int(x.size);
      for (const v of x) this.value(v);
      return this;
    }
    if (typeof x === 'object') {
      const o = x as Record<string, unknown>;
      const keys = Object.keys(o);
      this.byte(12).int(keys.length);
      for (const k of keys) this.string(k).value(o[k]);
      return this;
    }
    return this.byte(13);
  }

  message(m: Message): this {
    return this.string(m.tag).value(m.body);
  }

  hex(): string {
    return (this.h1 >>> 0).toString(16).padStart(8, '0') + (this.h2 >>> 0).toString(16).padStart(8, '0');
  }
}

/**
 * Encoding of protocol snapshots (engine.ts) as bytes: JSON with tagged forms for what JSON lacks, so a
 * snapshot survives any storage (SQLite BLOB, Redis string) and is readable when debugging.
 *   Uint8Array -> {"$b": base64}   Map -> {"$m": [[k, v], ...]}   Set -> {"$s": [...]}
 * Only plain data: numbers (finite), strings, booleans, null, arrays, plain objects, and the three above.
 * Decoding is strict: anything else is a StateCodecError (a corrupted snapshot must not half-restore).
 */

import { toBase64 } from '../crypto/bytes.ts';

export class StateCodecError extends Error {
  override readonly name = 'StateCodecError';
}

export type StateValue =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | readonly StateValue[]
  | ReadonlyMap<StateValue, StateValue>
  | ReadonlySet<StateValue>
  | { readonly [k: string]: StateValue };

function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function toJson(v: unknown): unknown {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new StateCodecError(`not a finite number: ${v}`);
    return v;
  }
  if (v instanceof Uint8Array) return { $b: toBase64(v) };
  if (Array.isArray(v)) return v.map(toJson);
  if (v instanceof Map) return { $m: [...v].map(([k, x]) => [toJson(k), toJson(x)]) };
  if (v instanceof Set) return { $s: [...v].map(toJson) };
  if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as object)) {
      if (k.startsWith('$')) throw new StateCodecError(`reserved key ${k}`);
      if (x !== undefined) out[k] = toJson(x);
    }
    return out;
  }
  throw new StateCodecError(`cannot encode a ${typeof v === 'object' ? (v as object).constructor?.name : typeof v}`);
}

function fromJson(v: unknown): StateValue {
  if (v === null || typeof v === 'boolean' || typeof v === 'string' || typeof v === 'number') return v;
  if (Array.isArray(v)) return v.map(fromJson);
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && keys[0] === '$b') {
      if (typeof o['$b'] !== 'string') throw new StateCodecError('$b must be base64');
      return fromBase64(o['$b']);
    }
    if (keys.length === 1 && keys[0] === '$m') {
      const entries = o['$m'];
      if (!Array.isArray(entries) || !entries.every((e) => Array.isArray(e) && e.length === 2)) throw new StateCodecError('$m must be [[k, v], ...]');
      return new Map(entries.map(([k, x]) => [fromJson(k), fromJson(x)]));
    }
    if (keys.length === 1 && keys[0] === '$s') {
      if (!Array.isArray(o['$s'])) throw new StateCodecError('$s must be an array');
      return new Set(o['$s'].map(fromJson));
    }
    const out: Record<string, StateValue> = {};
    for (const k of keys) {
      if (k.startsWith('$')) throw new StateCodecError(`unknown tagged form ${k}`);
      out[k] = fromJson(o[k]);
    }
    return out;
  }
  throw new StateCodecError(`unexpected ${typeof v}`);
}

export function encodeState(v: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(toJson(v)));
}

export function decodeState(b: Uint8Array): StateValue {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(b));
  } catch (e) {
    throw new StateCodecError(`snapshot is not UTF-8 JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  return fromJson(parsed);
}

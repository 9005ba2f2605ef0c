/** What every protocol instance knows about its world: who it is, the quorum system and the crypto. */
import { toHex } from '../crypto/bytes.ts';
import type { QuorumSystem } from '../quorum/quorum-system.ts';
import type { CryptoSuite } from './crypto-suite.ts';

export interface ProtocolContext {
  readonly me: number;
  readonly n: number;
  readonly quorum: QuorumSystem;
  readonly crypto: CryptoSuite;
  /** Largest value (bytes) any broadcast carries; bigger ones are faults. */
  readonly maxValueBytes: number;
}

/** Senders per key (e.g. per value digest): counts each replica once. */
export class Senders<K> {
  private readonly map = new Map<K, Set<number>>();
  add(key: K, from: number): Set<number> {
    let s = this.map.get(key);
    if (!s) this.map.set(key, (s = new Set()));
    s.add(from);
    return s;
  }
  get(key: K): ReadonlySet<number> {
    return this.map.get(key) ?? new Set();
  }
  keys(): IterableIterator<K> {
    return this.map.keys();
  }
}

export function isBytes(x: unknown, exactLength?: number): x is Uint8Array {
  return x instanceof Uint8Array && (exactLength === undefined || x.length === exactLength);
}

export function isRound(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 0xffffffff;
}

export function isBit(x: unknown): x is 0 | 1 {
  return x === 0 || x === 1;
}

export function hexKey(b: Uint8Array): string {
  return toHex(b);
}

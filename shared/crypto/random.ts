/**
 * Randomness enters shared/ only as an argument of this type, so every run can be replayed from a seed.
 * Adapters pass `crypto.getRandomValues`; tests and the simulator pass `seededRandom(seed)`.
 */
import { sha256 } from './sha256.ts';
import { concatBytes } from '@noble/hashes/utils.js';
import { u32be, utf8ToBytes } from './bytes.ts';

export type RandomBytes = (length: number) => Uint8Array;

/**
 * Deterministic byte stream: SHA-256(seed || counter) blocks. For tests, simulation and `deal --seed`
 * only: anyone who knows the seed knows every key derived from it.
 */
export function seededRandom(seed: Uint8Array | string): RandomBytes {
  const s = typeof seed === 'string' ? utf8ToBytes(seed) : seed.slice();
  let counter = 0;
  let buf = new Uint8Array(0);
  return (length: number) => {
    while (buf.length < length) {
      buf = concatBytes(buf, sha256(concatBytes(utf8ToBytes('sintra-edge/seeded-random'), s, u32be(counter++))));
    }
    const out = buf.slice(0, length);
    buf = buf.slice(length);
    return out;
  };
}

/**
 * Every protocol message: an instance tag (docs/protocols.md, "Canonical tags", e.g. `ab/17/cbc/3`; one
 * canonical string per instance, built and parsed only by instance-tag.ts) and a body.
 * Bodies are plain data so the wire codec (shared/codec) can encode them strictly; protocols still check
 * every field they use, because a peer may send anything the codec accepts.
 */

export type Bit = 0 | 1;

export type Body =
  // Bracha reliable broadcast
  | { readonly t: 'rbc-send'; readonly value: Uint8Array }
  | { readonly t: 'rbc-echo'; readonly value: Uint8Array }
  | { readonly t: 'rbc-ready'; readonly digest: Uint8Array }
  // consistent broadcast (echo broadcast with a threshold signature)
  | { readonly t: 'cbc-send'; readonly value: Uint8Array }
  | { readonly t: 'cbc-echo'; readonly share: Uint8Array }
  | { readonly t: 'cbc-final'; readonly value: Uint8Array; readonly signature: Uint8Array }
  /** FINAL without the value, from the sender to a replica whose echo is in the proof (it holds the value). */
  | { readonly t: 'cbc-proof'; readonly signature: Uint8Array }
  /** "I need this instance's delivered value": answered once per asker with cbc-final. */
  | { readonly t: 'cbc-want' }
  /** "I delivered this instance's value" (ask me with cbc-want if you lack it): see ab.ts, starting epochs. */
  | { readonly t: 'cbc-have' }
  // binary agreement
  | { readonly t: 'aba-bval'; readonly round: number; readonly value: Bit }
  | { readonly t: 'aba-aux'; readonly round: number; readonly value: Bit }
  | { readonly t: 'aba-conf'; readonly round: number; readonly values: 1 | 2 | 3 }
  | { readonly t: 'aba-coin'; readonly round: number; readonly share: Uint8Array }
  /** Decided `value` in round `round`: stands for BVAL/AUX/CONF({value}) in every later round (aba.ts). */
  | { readonly t: 'aba-term'; readonly value: Bit; readonly round: number }
  // atomic broadcast: a request pending too long is handed to every replica
  | { readonly t: 'ab-requests'; readonly requests: readonly Uint8Array[] }
  // secure causal atomic broadcast: decryption shares for the ciphertexts first, first + 1, ... of one
  // delivered epoch (an epoch's shares travel in parts, so every message fits a link frame)
  | { readonly t: 'dec-shares'; readonly first: number; readonly shares: readonly Uint8Array[] }
  // log checkpoints: a kernel-key signature share on (log size, root, epoch, state digest)
  | { readonly t: 'ckpt-share'; readonly share: Uint8Array };

export type BodyType = Body['t'];

export interface Message {
  readonly tag: string;
  readonly body: Body;
}

/** `{ t: 0 }` as `0 | 1 | 2 | 3` bit set: bit 0 = value 0 present, bit 1 = value 1 present. */
export function bitsOf(set: ReadonlySet<Bit>): 1 | 2 | 3 {
  return ((set.has(0) ? 1 : 0) | (set.has(1) ? 2 : 0)) as 1 | 2 | 3;
}

export function setOfBits(b: 1 | 2 | 3): Set<Bit> {
  const s = new Set<Bit>();
  if (b & 1) s.add(0);
  if (b & 2) s.add(1);
  return s;
}

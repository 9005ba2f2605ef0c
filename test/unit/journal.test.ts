/**
 * The journal's `executed` event (shared/replica/journal.ts): exact bytes, round trip, and refusal of cut or
 * padded records (a journal entry is storage, not a peer's input: a bad one is lost storage and must throw).
 */
import { describe, expect, it } from 'vitest';
import { toHex } from '../../shared/crypto/bytes.ts';
import { decodeEvent, encodeEvent, JournalError } from '../../shared/replica/journal.ts';

describe('journal: executed events', () => {
  const event = { kind: 'executed' as const, epoch: 258, digests: [{ name: 'notary', digest: new Uint8Array(32).fill(1) }, { name: 'ca', digest: new Uint8Array(32).fill(2) }] };

  it('is 0x04 | u64 epoch | u8 count | (u8 length | name | digest)*', () => {
    const b = encodeEvent(event);
    expect(toHex(b)).toBe('04' + '0000000000000102' + '02' + '06' + toHex(new TextEncoder().encode('notary')) + '01'.repeat(32) + '02' + toHex(new TextEncoder().encode('ca')) + '02'.repeat(32));
    expect(decodeEvent(b)).toEqual(event);
    expect(decodeEvent(encodeEvent({ kind: 'executed', epoch: 0, digests: [] }))).toEqual({ kind: 'executed', epoch: 0, digests: [] });
  });

  it('refuses a record cut short or with trailing bytes', () => {
    const b = encodeEvent(event);
    expect(() => decodeEvent(b.subarray(0, b.length - 1))).toThrow(JournalError);
    expect(() => decodeEvent(new Uint8Array([...b, 0]))).toThrow(JournalError);
    expect(() => decodeEvent(b.subarray(0, 9))).toThrow(JournalError);
  });
});

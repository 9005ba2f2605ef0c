/**
 * The execution stage's cache of application values (shared/replica/execution.ts AppValueCache): bounded by
 * its byte budget after every set, least recently used out first, a get counts as a use, and a value
 * overwritten or deleted (null) is accounted once.
 */
import { describe, expect, it } from 'vitest';
import { AppValueCache } from '../../shared/replica/execution.ts';

const key = (i: number) => `d/${i.toString(16).padStart(64, '0')}`;
const value = (i: number) => new Uint8Array(16).fill(i & 0xff);

describe('AppValueCache', () => {
  it('stays within its budget, keeps the most recent values and evicts the least recently used first', () => {
    const c = new AppValueCache(64 * 1024);
    let most = 0;
    for (let i = 0; i < 5000; i++) {
      c.set('notary', key(i), value(i));
      // Each item is estimated at its key, its value and a fixed overhead of a few hundred bytes.
      expect(c.size * (66 + 16 + 300)).toBeLessThanOrEqual(64 * 1024);
      most = Math.max(most, c.size);
    }
    expect(most).toBeGreaterThan(100);
    // The newest are all there with their values; the oldest are gone.
    for (let i = 5000 - 50; i < 5000; i++) expect(c.get('notary', key(i))).toEqual(value(i));
    for (let i = 0; i < 50; i++) expect(c.get('notary', key(i))).toBeUndefined();
    // Values of another application under the same key are separate.
    expect(c.get('ca', key(4999))).toBeUndefined();
  });

  it('a get counts as a use: a value read often survives a stream of new ones', () => {
    const c = new AppValueCache(32 * 1024);
    c.set('notary', 'head', value(7));
    for (let i = 0; i < 2000; i++) {
      c.set('notary', key(i), value(i));
      expect(c.get('notary', 'head')).toEqual(value(7));
    }
  });

  it('null (known deleted) is a cached answer, and overwriting a key does not count it twice', () => {
    const c = new AppValueCache(16 * 1024);
    c.set('notary', 'gone', null);
    expect(c.get('notary', 'gone')).toBeNull();
    expect(c.get('notary', 'never')).toBeUndefined();
    for (let i = 0; i < 10_000; i++) c.set('notary', 'same', value(i));
    expect(c.size).toBe(2);
    expect(c.get('notary', 'same')).toEqual(value(9999));
  });
});

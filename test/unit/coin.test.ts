import { describe, expect, it } from 'vitest';
import { toHex } from '../../shared/crypto/bytes.ts';
import { coinBit, coinShare, coinValueFromSignature, combineCoin, verifyCoin, verifyCoinShare } from '../../shared/crypto/coin.ts';
import { CryptoError } from '../../shared/crypto/errors.ts';
import { shamirScheme } from '../../shared/crypto/lsss.ts';
import { dealTestKey } from '../helpers/keys.ts';

const GROUP = new Uint8Array(32).fill(3);

describe('threshold coin', () => {
  const key = dealTestKey(shamirScheme(7, 3), 'coin-7-3');

  it('any qualified set of valid shares gives the same value', () => {
    const name = 'ab/4/mvba/aba/2/coin/5';
    const shares = key.shares.map((s) => coinShare(s, GROUP, name));
    for (const s of shares) expect(verifyCoinShare(key.pk, GROUP, name, s)).toBe(true);
    const a = combineCoin(key.pk, GROUP, name, shares.slice(0, 3));
    const b = combineCoin(key.pk, GROUP, name, [shares[6]!, shares[2]!, shares[4]!]);
    expect(toHex(a.value)).toBe(toHex(b.value));
    expect(verifyCoin(key.pk.groupKey, GROUP, name, a.signature)).toBe(true);
    expect(toHex(coinValueFromSignature(a.signature))).toBe(toHex(a.value));
  });

  it('fewer than a qualified set cannot compute it', () => {
    const name = 'coin/x';
    const shares = key.shares.slice(0, 2).map((s) => coinShare(s, GROUP, name));
    expect(() => combineCoin(key.pk, GROUP, name, shares)).toThrow(CryptoError);
  });

  it('shares for one coin are useless for another, and a bad share is named', () => {
    const shares = key.shares.map((s) => coinShare(s, GROUP, 'coin/1'));
    const other = coinShare(key.shares[0]!, GROUP, 'coin/2');
    expect(verifyCoinShare(key.pk, GROUP, 'coin/1', other)).toBe(false);
    const c = combineCoin(key.pk, GROUP, 'coin/1', [other, ...shares.slice(1, 4)]);
    expect(c.faulty).toEqual([0]);
    expect(toHex(c.value)).toBe(toHex(combineCoin(key.pk, GROUP, 'coin/1', shares.slice(3, 6)).value));
    expect(verifyCoin(key.pk.groupKey, new Uint8Array(32), 'coin/1', c.signature)).toBe(false);
  });

  it('bits are not constant across names', () => {
    const bits = new Set<number>();
    for (let i = 0; i < 12 && bits.size < 2; i++) {
      const name = `coin/bit/${i}`;
      bits.add(coinBit(combineCoin(key.pk, GROUP, name, key.shares.slice(0, 3).map((s) => coinShare(s, GROUP, name))).value));
    }
    expect([...bits].sort()).toEqual([0, 1]);
  });
});

import { createHash, createHmac } from 'node:crypto';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { afterEach, describe, expect, it } from 'vitest';
import { CryptoError } from '../../shared/crypto/errors.ts';
import { hmacSha256, installHmacSha256, installSha256, resetSha256, sha256, sha256Backend } from '../../shared/crypto/sha256.ts';
import { NATIVE_SHA256, useNativeSha256 } from '../../workers/core/native-sha256.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('sha256 backend slot', () => {
  afterEach(() => resetSha256());

  it('is noble by default and node:crypto once an adapter installs it, with identical outputs', () => {
    expect(sha256Backend()).toBe('noble');
    const inputs = [new Uint8Array(0), new Uint8Array(250).fill(7), Uint8Array.from({ length: 100_000 }, (_, i) => i & 0xff)];
    const before = inputs.map((x) => hex(sha256(x)));
    useNativeSha256();
    expect(sha256Backend()).toBe(NATIVE_SHA256);
    useNativeSha256(); // idempotent
    expect(inputs.map((x) => hex(sha256(x)))).toEqual(before);
    expect(before[0]).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('hands out plain Uint8Arrays (not Buffers) that own their 32 bytes', () => {
    useNativeSha256();
    const d = sha256(new TextEncoder().encode('abc'));
    expect(d.constructor).toBe(Uint8Array);
    expect(d.buffer.byteLength).toBe(32);
    expect(d).toEqual(nobleSha256(new TextEncoder().encode('abc')));
  });

  it('rewraps a Buffer that is a view into a larger pool', () => {
    installSha256('pooled', (data) => {
      const pool = Buffer.alloc(4096);
      createHash('sha256').update(data).digest().copy(pool, 100);
      return pool.subarray(100, 132);
    });
    const d = sha256(new Uint8Array(3));
    expect(d.constructor).toBe(Uint8Array);
    expect(d.buffer.byteLength).toBe(32);
    expect(hex(d)).toBe(hex(nobleSha256(new Uint8Array(3))));
  });

  it('refuses a backend that disagrees anywhere, throws or returns the wrong length, and keeps the old one', () => {
    const bad: [string, (d: Uint8Array) => Uint8Array, RegExp][] = [
      // Wrong only past one block: caught by the padding sweep, not by the short FIPS examples.
      ['wrong-long', (d) => (d.length > 64 ? new Uint8Array(32) : nobleSha256(d)), /disagrees .* on 65 bytes/],
      ['sha512-prefix', (d) => createHash('sha512').update(d).digest().subarray(0, 32), /disagrees .* on ""/],
      ['short', (d) => nobleSha256(d).subarray(0, 31), /disagrees/],
      ['throws', () => { throw new Error('no such digest'); }, /threw on "": no such digest/],
    ];
    for (const [name, f, message] of bad) {
      expect(() => installSha256(name, f)).toThrow(CryptoError);
      expect(() => installSha256(name, f)).toThrow(message);
      expect(sha256Backend()).toBe('noble');
    }
  });

  it('HMAC-SHA256: the native backend gives noble\'s results; a wrong one is refused', () => {
    const key = new Uint8Array(32).fill(9);
    const data = Uint8Array.from({ length: 5000 }, (_, i) => i & 0xff);
    const before = hex(hmacSha256(key, data));
    useNativeSha256();
    expect(hex(hmacSha256(key, data))).toBe(before);
    expect(hmacSha256(key, data).constructor).toBe(Uint8Array);
    // Ignores the key beyond 32 bytes: only the long-key RFC 4231 case catches it.
    const truncating = (k: Uint8Array, d: Uint8Array) => createHmac('sha256', k.subarray(0, 64)).update(d).digest();
    expect(() => installHmacSha256('truncating', truncating)).toThrow(/disagrees with RFC 4231 \/ noble on RFC 4231 case 6/);
    expect(() => installHmacSha256('plain-hash', (_k, d) => createHash('sha256').update(d).digest())).toThrow(CryptoError);
    expect(hex(hmacSha256(key, data))).toBe(before);
  });
});

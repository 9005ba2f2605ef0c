import { describe, expect, it } from 'vitest';
import { frame, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { ed25519PublicKey } from '../../shared/crypto/ed25519.ts';
import { CryptoError } from '../../shared/crypto/errors.ts';
import { quorumScheme } from '../../shared/crypto/schemes.ts';
import { sha256 } from '../../shared/crypto/sha256.ts';
import { ed25519Signatures } from '../../shared/protocols/crypto-suite.ts';
import type { ThresholdSigner } from '../../shared/protocols/crypto-suite.ts';
import { decodeSignatureSet, encodeSignatureSet, signatureSetSigner } from '../../shared/protocols/signature-set.ts';
import { grid } from '../helpers/structures.ts';
import type { StructureDescription } from '../../shared/quorum/quorum-system.ts';

const GROUP = new Uint8Array(32).fill(3);
const TAG = 'ab/5/cbc/2';
const DIGEST = sha256(utf8ToBytes('batch'));

function signers(structure: StructureDescription): ThresholdSigner[] {
  const n = structure.n;
  const seeds = Array.from({ length: n }, (_, i) => sha256(frame('signature-set test', String(i))));
  const publicKeys = seeds.map(ed25519PublicKey);
  const scheme = quorumScheme(structure);
  return seeds.map((seed) => signatureSetSigner(scheme, GROUP, ed25519Signatures({ publicKeys, seed })));
}

const shares = (s: ThresholdSigner[], who: number[], payload = DIGEST) => new Map(who.map((i) => [i, s[i]!.sign('cbc', TAG, payload)] as const));

describe('echo certificates: a quorum of Ed25519 signatures', () => {
  const t41 = signers({ type: 'threshold', n: 4, t: 1 });

  it('a quorum of valid echoes makes a certificate every replica accepts, for this tag and payload only', () => {
    const { signature, faulty } = t41[0]!.combine('cbc', TAG, DIGEST, shares(t41, [3, 0, 1]));
    expect(faulty).toEqual([]);
    expect(signature.length).toBe(3 * 66);
    expect(decodeSignatureSet(signature, 4, 64)!.signers).toEqual([0, 1, 3]);
    for (const v of t41) expect(v.verify('cbc', TAG, DIGEST, signature)).toBe(true);
    expect(t41[2]!.verify('cbc', 'ab/5/cbc/3', DIGEST, signature)).toBe(false);
    expect(t41[2]!.verify('cbc', TAG, sha256(DIGEST), signature)).toBe(false);
    expect(t41[2]!.verify('checkpoint', TAG, DIGEST, signature)).toBe(false);
  });

  it('fewer than a quorum, or bad echoes, make no certificate; the bad signers are named', () => {
    expect(() => t41[0]!.combine('cbc', TAG, DIGEST, shares(t41, [0, 1]))).toThrow(CryptoError);
    const s = shares(t41, [0, 1, 2, 3]);
    s.set(1, t41[1]!.sign('cbc', TAG, sha256(DIGEST))); // an echo of another value
    const c = t41[0]!.combine('cbc', TAG, DIGEST, s);
    expect(c.faulty).toEqual([1]);
    expect(decodeSignatureSet(c.signature, 4, 64)!.signers).toEqual([0, 2, 3]);
    s.set(2, new Uint8Array(10));
    expect(() => t41[0]!.combine('cbc', TAG, DIGEST, s)).toThrow(/valid echo signatures from \[0,3\] are not qualified/);
    expect(t41[0]!.verifyShare('cbc', TAG, DIGEST, 1, s.get(1)!)).toBe(false);
    expect(t41[0]!.verifyShare('cbc', TAG, DIGEST, 0, s.get(0)!)).toBe(true);
    expect(t41[0]!.verifyShare('cbc', TAG, DIGEST, 1, s.get(0)!)).toBe(false);
    expect(t41[0]!.verifyShare('cbc', TAG, DIGEST, 7, s.get(0)!)).toBe(false);
  });

  it('only the one encoding: every malformed certificate is refused', () => {
    const good = t41[0]!.combine('cbc', TAG, DIGEST, shares(t41, [0, 1, 2, 3])).signature;
    const entry = (i: number) => good.subarray(i * 66, (i + 1) * 66);
    const cat = (...parts: Uint8Array[]) => {
      const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
      let o = 0;
      for (const p of parts) (out.set(p, o), (o += p.length));
      return out;
    };
    const cases: [string, Uint8Array][] = [
      ['empty', new Uint8Array(0)],
      ['truncated', good.subarray(0, good.length - 1)],
      ['trailing byte', cat(good, Uint8Array.of(0))],
      ['unsorted', cat(entry(1), entry(0), entry(2))],
      ['a signer twice', cat(entry(0), entry(0), entry(1), entry(2))],
      ['two entries only', cat(entry(0), entry(1))],
      ['a signer index beyond n', cat(entry(0), entry(1), Uint8Array.of(0, 4), entry(2).subarray(2))],
      ['one flipped bit', (() => { const b = good.slice(); b[100]! ^= 1; return b; })()],
      ['an entry relabelled', cat(entry(0), entry(1), Uint8Array.of(0, 3), entry(2).subarray(2))],
    ];
    expect(t41[1]!.verify('cbc', TAG, DIGEST, good)).toBe(true);
    expect(t41[1]!.verify('cbc', TAG, DIGEST, cat(entry(0), entry(1), entry(3)))).toBe(true);
    for (const [what, bytes] of cases) expect([what, t41[1]!.verify('cbc', TAG, DIGEST, bytes)]).toEqual([what, false]);
    expect(() => encodeSignatureSet([[0, new Uint8Array(64)], [0, new Uint8Array(64)]], 64)).toThrow(/twice/);
  });

  it('general structures: the signers must be a quorum of the structure, not merely n - t of them', () => {
    const g = grid().structure; // 16 replicas, one location plus one OS may fail
    const s = signers(g);
    const scheme = quorumScheme(g);
    const all = Array.from({ length: 16 }, (_, i) => i);
    // Find a quorum, and a set of the same size that is not one.
    const quorum = all.filter((i) => i % 4 !== 0 && Math.floor(i / 4) !== 0);
    expect(scheme.isQualified(quorum)).toBe(true);
    const c = s[5]!.combine('cbc', TAG, DIGEST, shares(s, quorum));
    expect(s[9]!.verify('cbc', TAG, DIGEST, c.signature)).toBe(true);
    const dropped = quorum.filter((i) => i !== quorum[0]);
    expect(scheme.isQualified(dropped)).toBe(false);
    expect(() => s[5]!.combine('cbc', TAG, DIGEST, shares(s, dropped))).toThrow(CryptoError);
    const partial = encodeSignatureSet(dropped.map((i) => [i, s[i]!.sign('cbc', TAG, DIGEST)] as const), 64);
    expect(s[9]!.verify('cbc', TAG, DIGEST, partial)).toBe(false);
  });
});

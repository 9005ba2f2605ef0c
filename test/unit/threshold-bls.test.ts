import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { bls12_381 } from '@noble/curves/bls12-381.js';
import { toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { G1 } from '../../shared/crypto/curve.ts';
import { domain } from '../../shared/crypto/domain.ts';
import { CryptoError } from '../../shared/crypto/errors.ts';
import { shamirScheme } from '../../shared/crypto/lsss.ts';
import { kernelScheme, quorumScheme } from '../../shared/crypto/schemes.ts';
import {
  combineShares,
  decodeSignatureShare,
  encodeSignatureShare,
  hashToG1,
  signShare,
  verifyShare,
  verifySignature,
} from '../../shared/crypto/threshold-bls.ts';
import type { SignatureShare } from '../../shared/crypto/threshold-bls.ts';
import { dealTestKey } from '../helpers/keys.ts';
import { grid } from '../helpers/structures.ts';

const GROUP = new Uint8Array(32).fill(7);
const OTHER_GROUP = new Uint8Array(32).fill(8);
const D = domain(GROUP, 'checkpoint');
const MSG = utf8ToBytes('log size 10, root ...');
const TAG = 'ab/17/checkpoint';

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof CryptoError) return e.code;
    throw e;
  }
  return 'accepted';
}

describe('threshold BLS over Shamir (4, 2)', () => {
  const key = dealTestKey(shamirScheme(4, 2), 'tbls-4-2');
  const shares = key.shares.map((s) => signShare(s, D, TAG, MSG));

  it('signature shares verify against their row keys, and only for their message', () => {
    for (const s of shares) expect(verifyShare(key.pk, D, TAG, MSG, s)).toBe(true);
    expect(verifyShare(key.pk, D, 'ab/18/checkpoint', MSG, shares[0]!)).toBe(false);
    expect(verifyShare(key.pk, D, TAG, utf8ToBytes('other'), shares[0]!)).toBe(false);
    expect(verifyShare(key.pk, D, TAG, MSG, { signer: 1, points: shares[0]!.points })).toBe(false);
  });

  it('every qualified subset combines to the same signature, which verifies with the group key', () => {
    const first = combineShares(key.pk, D, TAG, MSG, [shares[0]!, shares[1]!]);
    expect(first.faulty).toEqual([]);
    expect(verifySignature(key.pk.groupKey, D, TAG, MSG, first.bytes)).toBe(true);
    fc.assert(
      fc.property(fc.subarray([0, 1, 2, 3], { minLength: 2 }), (set) => {
        const c = combineShares(key.pk, D, TAG, MSG, set.map((i) => shares[i]!));
        expect(toHex(c.bytes)).toBe(toHex(first.bytes));
      }),
      { numRuns: 8, seed: 1 },
    );
  });

  it('fewer than a qualified set cannot combine', () => {
    expect(codeOf(() => combineShares(key.pk, D, TAG, MSG, [shares[2]!]))).toBe('not-qualified');
    expect(codeOf(() => combineShares(key.pk, D, TAG, MSG, [shares[2]!, shares[2]!]))).toBe('not-qualified');
  });

  it('is robust: invalid shares are named and the right signature still comes out', () => {
    const good = combineShares(key.pk, D, TAG, MSG, shares.slice(0, 2)).bytes;
    const forged: SignatureShare = { signer: 0, points: [G1.BASE.multiply(99n)] };
    const wrongMsg = signShare(key.shares[1]!, D, TAG, utf8ToBytes('x'));
    const c = combineShares(key.pk, D, TAG, MSG, [forged, wrongMsg, shares[2]!, shares[3]!]);
    expect(c.faulty).toEqual([0, 1]);
    expect(toHex(c.bytes)).toBe(toHex(good));
    // a replayed share under another replica's name
    const replay = combineShares(key.pk, D, TAG, MSG, [{ signer: 0, points: shares[3]!.points }, shares[2]!, shares[1]!]);
    expect(replay.faulty).toEqual([0]);
    // too many bad ones
    expect(codeOf(() => combineShares(key.pk, D, TAG, MSG, [forged, wrongMsg, shares[3]!]))).toBe('not-qualified');
    // structurally wrong shares (out-of-range signer, wrong row count) are ignored or marked
    const c2 = combineShares(key.pk, D, TAG, MSG, [{ signer: 9, points: [] }, { signer: 2, points: [] }, shares[0]!, shares[1]!]);
    expect(c2.faulty).toEqual([2]);
  });

  it('a conflicting duplicate from one signer does not hide its valid share', () => {
    const forged: SignatureShare = { signer: 0, points: [G1.BASE.multiply(5n)] };
    const c = combineShares(key.pk, D, TAG, MSG, [forged, shares[0]!, shares[1]!]);
    expect(verifySignature(key.pk.groupKey, D, TAG, MSG, c.bytes)).toBe(true);
  });

  it('binds purpose, group id, tag and payload', () => {
    const sig = combineShares(key.pk, D, TAG, MSG, shares.slice(0, 2)).bytes;
    expect(verifySignature(key.pk.groupKey, domain(GROUP, 'coin'), TAG, MSG, sig)).toBe(false);
    expect(verifySignature(key.pk.groupKey, domain(OTHER_GROUP, 'checkpoint'), TAG, MSG, sig)).toBe(false);
    expect(verifySignature(key.pk.groupKey, D, TAG + '/x', MSG, sig)).toBe(false);
    expect(verifySignature(key.pk.groupKey, D, TAG, new Uint8Array([...MSG, 0]), sig)).toBe(false);
    expect(verifySignature(key.pk.groupKey, D, TAG, MSG, sig.slice(1))).toBe(false);
    expect(verifySignature(key.pk.groupKey, D, TAG, MSG, new Uint8Array(48).fill(0xc0, 0, 1))).toBe(false);
  });

  it('shares survive the wire codec, and decoding is strict', () => {
    const scheme = key.pk.scheme;
    const enc = encodeSignatureShare(shares[2]!);
    expect(enc).toHaveLength(4 + 48);
    const dec = decodeSignatureShare(scheme, enc);
    expect(dec.signer).toBe(2);
    expect(dec.points[0]!.equals(shares[2]!.points[0]!)).toBe(true);
    expect(codeOf(() => decodeSignatureShare(scheme, enc.slice(0, 51)))).toBe('bad-length');
    expect(codeOf(() => decodeSignatureShare(scheme, new Uint8Array([...enc, 0])))).toBe('bad-length');
    expect(codeOf(() => decodeSignatureShare(scheme, new Uint8Array([0, 9, ...enc.slice(2)])))).toBe('index-out-of-range');
    expect(codeOf(() => decodeSignatureShare(scheme, new Uint8Array([0, 2, 0, 2, ...enc.slice(4)])))).toBe('bad-encoding');
    const inf = enc.slice();
    inf.fill(0, 4);
    inf[4] = 0xc0;
    expect(codeOf(() => decodeSignatureShare(scheme, inf))).toBe('identity');
    expect(codeOf(() => decodeSignatureShare(scheme, new Uint8Array(2)))).toBe('bad-length');
  });

  it('equals the ordinary BLS signature under the shared secret, and noble verifies it', () => {
    const c = combineShares(key.pk, D, TAG, MSG, shares.slice(2, 4));
    const h = hashToG1(D, TAG, MSG);
    expect(c.signature.equals(h.multiply(key.secret))).toBe(true);
    expect(bls12_381.shortSignatures.verify(c.signature, h, key.pk.groupKey)).toBe(true);
  });

  it('is deterministic for a fixed seed (known answer)', () => {
    const again = dealTestKey(shamirScheme(4, 2), 'tbls-4-2');
    const c = combineShares(again.pk, D, TAG, MSG, again.shares.slice(1, 3).map((s) => signShare(s, D, TAG, MSG)));
    expect(toHex(c.bytes)).toMatchInlineSnapshot(`"ac0f60c920ffcaf59908c765211af48daa1c2868e1be44f25f5871d753091db501a774c420ca7ad1f8c0a7f6d133b959"`);
  });
});

describe('threshold BLS over general structures (4 x 4 grid)', () => {
  const q = grid().quorum;
  const id = (name: string) => grid().replicas.findIndex((r) => r.id === name);

  it('kernel key: three diagonal replicas sign, two cannot; bad shares are named', () => {
    const key = dealTestKey(kernelScheme(q.description), 'grid-kernel');
    const signers = [id('zrh-linux'), id('nyc-bsd'), id('sgp-windows')];
    const shares = signers.map((i) => signShare(key.shares[i]!, D, TAG, MSG));
    expect(shares[0]!.points).toHaveLength(9);
    expect(verifyShare(key.pk, D, TAG, MSG, shares[0]!)).toBe(true);
    const tampered: SignatureShare = { signer: shares[0]!.signer, points: shares[0]!.points.map((p, i) => (i === 4 ? p.double() : p)) };
    expect(verifyShare(key.pk, D, TAG, MSG, tampered)).toBe(false);
    const c = combineShares(key.pk, D, TAG, MSG, shares);
    expect(verifySignature(key.pk.groupKey, D, TAG, MSG, c.bytes)).toBe(true);
    expect(codeOf(() => combineShares(key.pk, D, TAG, MSG, shares.slice(0, 2)))).toBe('not-qualified');
    const extra = signShare(key.shares[id('fra-solaris')]!, D, TAG, MSG);
    const robust = combineShares(key.pk, D, TAG, MSG, [tampered, ...shares.slice(1), extra]);
    expect(robust.faulty).toEqual([signers[0]]);
    expect(toHex(robust.bytes)).toBe(toHex(c.bytes));
  });

  it('quorum key: the 9 replicas outside one location and one os sign; 8 of them cannot', () => {
    const key = dealTestKey(quorumScheme(q.description), 'grid-quorum');
    const honest = grid()
      .replicas.map((r, i) => ({ r, i }))
      .filter(({ r }) => r.attributes.location !== 'zrh' && r.attributes.os !== 'linux')
      .map(({ i }) => i);
    expect(honest).toHaveLength(9);
    const shares = honest.map((i) => signShare(key.shares[i]!, D, TAG, MSG));
    const c = combineShares(key.pk, D, TAG, MSG, shares);
    expect(verifySignature(key.pk.groupKey, D, TAG, MSG, c.bytes)).toBe(true);
    expect(codeOf(() => combineShares(key.pk, D, TAG, MSG, shares.slice(1)))).toBe('not-qualified');
  });
});

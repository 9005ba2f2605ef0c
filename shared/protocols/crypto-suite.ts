/**
 * What the protocols need from threshold cryptography, behind one interface so the same protocol code
 * runs with real BLS12-381 / TDH2 keys (`realCrypto`) or, for large simulation soaks only, with a fast
 * hash-based stand-in (`insecureTestCrypto`) that checks the same share/qualification rules but whose
 * "signatures" anyone could compute. Shares and signatures are opaque bytes here; the real suite decodes
 * them strictly and treats any decoding error as an invalid share.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesEqual, frame, u32be } from '../crypto/bytes.ts';
import { coinValueFromSignature } from '../crypto/coin.ts';
import { domain } from '../crypto/domain.ts';
import type { Purpose } from '../crypto/domain.ts';
import { CryptoError, fail } from '../crypto/errors.ts';
import type { SharingScheme } from '../crypto/lsss.ts';
import {
  combineSharesWithHash,
  decodeSignatureShare,
  encodeSignatureShare,
  hashToG1,
  signShare,
  verifyShareWithHash,
  verifySignature,
} from '../crypto/threshold-bls.ts';
import type { KeyShare, SignatureShare, ThresholdPublicKey } from '../crypto/threshold-bls.ts';

/** One threshold signing key as seen by one replica. */
export interface ThresholdSigner {
  readonly scheme: SharingScheme;
  /** This replica's share of the signature on (purpose, tag, payload). Deterministic. */
  sign(purpose: Purpose, tag: string, payload: Uint8Array): Uint8Array;
  verifyShare(purpose: Purpose, tag: string, payload: Uint8Array, signer: number, share: Uint8Array): boolean;
  /**
   * Robust combination of the given shares (by signer). Throws CryptoError('not-qualified') when the
   * valid ones do not form a qualified set; `faulty` names signers whose shares were invalid.
   */
  combine(purpose: Purpose, tag: string, payload: Uint8Array, shares: ReadonlyMap<number, Uint8Array>): { signature: Uint8Array; faulty: number[] };
  verify(purpose: Purpose, tag: string, payload: Uint8Array, signature: Uint8Array): boolean;
}

export interface CryptoSuite {
  readonly name: 'real' | 'insecure-test';
  /** Kernel key (t + 1): coin, checkpoints, statements. */
  readonly kernel: ThresholdSigner;
  /** Quorum key (n - t): consistent-broadcast signatures. */
  readonly quorum: ThresholdSigner;
  /** The coin value carried by a combined coin signature. */
  coinValue(signature: Uint8Array): Uint8Array;
}

function realSigner(groupId: Uint8Array, pk: ThresholdPublicKey, key: KeyShare): ThresholdSigner {
  const hashes = new Map<string, ReturnType<typeof hashToG1>>();
  // Hashing to the curve costs about 1 ms; protocols ask for the same message many times.
  const h = (purpose: Purpose, tag: string, payload: Uint8Array) => {
    const k = `${purpose}\u0000${tag}\u0000${cacheKey(payload)}`;
    let v = hashes.get(k);
    if (!v) {
      if (hashes.size > 4096) hashes.clear();
      v = hashToG1(domain(groupId, purpose), tag, payload);
      hashes.set(k, v);
    }
    return v;
  };
  const decode = (share: Uint8Array): SignatureShare | null => {
    try {
      return decodeSignatureShare(pk.scheme, share);
    } catch (e) {
      if (e instanceof CryptoError) return null;
      throw e;
    }
  };
  return {
    scheme: pk.scheme,
    sign: (purpose, tag, payload) => encodeSignatureShare(signShare(key, domain(groupId, purpose), tag, payload, h(purpose, tag, payload))),
    verifyShare(purpose, tag, payload, signer, share) {
      const s = decode(share);
      return s !== null && s.signer === signer && verifyShareWithHash(pk, h(purpose, tag, payload), s);
    },
    combine(purpose, tag, payload, shares) {
      const decoded: SignatureShare[] = [];
      const faulty = new Set<number>();
      for (const [signer, bytes] of shares) {
        const s = decode(bytes);
        if (!s || s.signer !== signer) faulty.add(signer);
        else decoded.push(s);
      }
      const c = combineSharesWithHash(pk, h(purpose, tag, payload), decoded);
      for (const f of c.faulty) faulty.add(f);
      return { signature: c.bytes, faulty: [...faulty].sort((a, b) => a - b) };
    },
    verify: (purpose, tag, payload, signature) => verifySignature(pk.groupKey, domain(groupId, purpose), tag, payload, signature),
  };
}

function cacheKey(b: Uint8Array): string {
  let s = '';
  for (const x of b.length > 64 ? sha256(b) : b) s += x.toString(16).padStart(2, '0');
  return s;
}

export interface RealCryptoKeys {
  readonly groupId: Uint8Array;
  readonly kernel: ThresholdPublicKey;
  readonly quorum: ThresholdPublicKey;
  readonly kernelShare: KeyShare;
  readonly quorumShare: KeyShare;
}

export function realCrypto(k: RealCryptoKeys): CryptoSuite {
  return {
    name: 'real',
    kernel: realSigner(k.groupId, k.kernel, k.kernelShare),
    quorum: realSigner(k.groupId, k.quorum, k.quorumShare),
    coinValue: coinValueFromSignature,
  };
}

/**
 * TEST ONLY. Shares are hashes of (key, signer, message); a combination exists iff a qualified set of
 * correct shares was presented. Same control flow and fault reporting as the real suite, 1000x faster,
 * and no secrecy at all.
 */
export function insecureTestCrypto(groupId: Uint8Array, me: number, kernel: SharingScheme, quorum: SharingScheme): CryptoSuite {
  const signer = (keyName: string, scheme: SharingScheme): ThresholdSigner => {
    const shareOf = (purpose: Purpose, tag: string, payload: Uint8Array, who: number) =>
      sha256(frame('insecure-test-share', keyName, groupId, u32be(who), purpose, tag, payload));
    const sigOf = (purpose: Purpose, tag: string, payload: Uint8Array) => sha256(frame('insecure-test-sig', keyName, groupId, purpose, tag, payload));
    return {
      scheme,
      sign: (purpose, tag, payload) => shareOf(purpose, tag, payload, me),
      verifyShare: (purpose, tag, payload, who, share) => who >= 0 && who < scheme.n && bytesEqual(share, shareOf(purpose, tag, payload, who)),
      combine(purpose, tag, payload, shares) {
        const good: number[] = [];
        const faulty: number[] = [];
        for (const [who, share] of shares) {
          if (who >= 0 && who < scheme.n && bytesEqual(share, shareOf(purpose, tag, payload, who))) good.push(who);
          else faulty.push(who);
        }
        if (!scheme.isQualified(good)) fail('not-qualified', `valid shares from [${good.join(',')}] are not qualified`);
        return { signature: sigOf(purpose, tag, payload), faulty: faulty.sort((a, b) => a - b) };
      },
      verify: (purpose, tag, payload, signature) => bytesEqual(signature, sigOf(purpose, tag, payload)),
    };
  };
  return { name: 'insecure-test', kernel: signer('kernel', kernel), quorum: signer('quorum', quorum), coinValue: (s) => sha256(frame('coin', s)) };
}

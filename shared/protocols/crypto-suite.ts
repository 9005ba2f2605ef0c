/**
 * What the protocols need from threshold cryptography, behind one interface so the same protocol code
 * runs with real BLS12-381 / TDH2 keys (`realCrypto`) or, for large simulation soaks only, with a fast
 * hash-based stand-in (`insecureTestCrypto`) that checks the same share/qualification rules but whose
 * "signatures" anyone could compute. Shares and signatures are opaque bytes here; the real suite decodes
 * them strictly and treats any decoding error as an invalid share. The `quorum` signer of a group with
 * echo keys is not a threshold key but a set of single replicas' Ed25519 signatures (signature-set.ts).
 */
import { sha256 } from '../crypto/sha256.ts';
import { bytesEqual, frame, toHex, u32be } from '../crypto/bytes.ts';
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
  verifySignatureWithHash,
} from '../crypto/threshold-bls.ts';
import type { KeyShare, SignatureShare, ThresholdPublicKey } from '../crypto/threshold-bls.ts';
import { combineDecryption, decodeCiphertext, decodeDecryptionShare, decryptionShare, encodeDecryptionShare, verifyCiphertext, verifyDecryptionShare } from '../crypto/tdh2.ts';
import type { Tdh2Ciphertext, Tdh2DecryptionShare, Tdh2PublicKey } from '../crypto/tdh2.ts';
import { ED25519_SIGNATURE_BYTES, ed25519Signer, ed25519Verifier } from '../crypto/ed25519.ts';
import { signatureSetSigner } from './signature-set.ts';
import type { ReplicaSignatures } from './signature-set.ts';

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

/** Threshold decryption (TDH2) as one replica sees it; ciphertexts are encoded bytes. */
export interface ThresholdDecryptor {
  readonly scheme: SharingScheme;
  /** Strict decoding plus the TDH2 validity proof; must be checked before any share is released. */
  isValid(ciphertext: Uint8Array): boolean;
  /** This replica's decryption share (with its proof). Only for valid ciphertexts. */
  share(ciphertext: Uint8Array): Uint8Array;
  verifyShare(ciphertext: Uint8Array, signer: number, share: Uint8Array): boolean;
  /**
   * Robust combination; throws CryptoError('not-qualified') if the valid shares are too few. `plaintext`
   * is null when the ciphertext is valid but undecryptable (its maker encrypted under another key): a
   * function of the ciphertext alone, so every honest replica reaches the same verdict.
   */
  combine(ciphertext: Uint8Array, shares: ReadonlyMap<number, Uint8Array>): { plaintext: Uint8Array | null; faulty: number[] };
}

export interface CryptoSuite {
  readonly name: 'real' | 'insecure-test';
  /** Kernel key (t + 1): coin, checkpoints, statements. */
  readonly kernel: ThresholdSigner;
  /** Consistent-broadcast certificates (quorum scheme): echo signature sets, or the quorum threshold key. */
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
    // The same message was usually hashed already (our own share of it): verify with the cached hash.
    verify: (purpose, tag, payload, signature) => verifySignatureWithHash(pk.groupKey, h(purpose, tag, payload), signature),
  };
}

function cacheKey(b: Uint8Array): string {
  return toHex(b.length > 64 ? sha256(b) : b);
}

/** Every replica's Ed25519 echo key (group.json keys.echo) and this replica's own seed. */
export interface EchoKeys {
  readonly publicKeys: readonly Uint8Array[];
  readonly seed: Uint8Array;
}

export interface RealCryptoKeys {
  readonly groupId: Uint8Array;
  readonly kernel: ThresholdPublicKey;
  readonly quorum: ThresholdPublicKey;
  readonly kernelShare: KeyShare;
  readonly quorumShare: KeyShare;
  /**
   * With echo keys, consistent-broadcast certificates are sets of a quorum's Ed25519 signatures
   * (signature-set.ts); without them (groups dealt before keys.echo existed), threshold BLS signatures of
   * the quorum key. A group keeps its kind for life: stored certificates are checked the same way later.
   */
  readonly echo?: EchoKeys;
}

/** Ed25519 signatures of single replicas, on the backend installed when the suite is made (ed25519.ts). */
export function ed25519Signatures(echo: EchoKeys): ReplicaSignatures {
  const sign = ed25519Signer(echo.seed);
  const verifiers = echo.publicKeys.map((pk) => ed25519Verifier(pk));
  return {
    signatureBytes: ED25519_SIGNATURE_BYTES,
    sign,
    verify: (signer, message, signature) => verifiers[signer]?.(message, signature) ?? false,
  };
}

export function realCrypto(k: RealCryptoKeys): CryptoSuite {
  return {
    name: 'real',
    kernel: realSigner(k.groupId, k.kernel, k.kernelShare),
    quorum: k.echo ? signatureSetSigner(k.quorum.scheme, k.groupId, ed25519Signatures(k.echo)) : realSigner(k.groupId, k.quorum, k.quorumShare),
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
  // Echo "signatures" anyone can compute, in the certificate format of the real echo keys, so that the
  // simulator's fuzzed certificates go through the same decoding and qualification checks.
  const echoOf = (who: number, message: Uint8Array) => sha256(frame('insecure-test-echo', groupId, u32be(who), message));
  const echoes: ReplicaSignatures = {
    signatureBytes: 32,
    sign: (message) => echoOf(me, message),
    verify: (who, message, signature) => bytesEqual(signature, echoOf(who, message)),
  };
  return { name: 'insecure-test', kernel: signer('kernel', kernel), quorum: signatureSetSigner(quorum, groupId, echoes), coinValue: (s) => sha256(frame('coin', s)) };
}

/**
 * The real TDH2 decryptor of one replica. Decoding and checking a ciphertext costs about 8 ms (two point
 * decompressions and the validity proof), and a protocol asks about the same ciphertext several times
 * (validity, own share, every peer's share, combination), so verdicts and decoded ciphertexts are cached
 * (bounded) by the SHA-256 of the bytes.
 */
export function realDecryptor(groupId: Uint8Array, pk: Tdh2PublicKey, key: KeyShare): ThresholdDecryptor {
  const cache = new Map<string, Tdh2Ciphertext | null>();
  const decoded = (ciphertext: Uint8Array): Tdh2Ciphertext | null => {
    const k = cacheKey(sha256(ciphertext));
    if (cache.has(k)) return cache.get(k)!;
    let ct: Tdh2Ciphertext | null = null;
    try {
      const d = decodeCiphertext(ciphertext);
      if (verifyCiphertext(pk, groupId, d)) ct = d;
    } catch (e) {
      if (!(e instanceof CryptoError)) throw e;
    }
    if (cache.size > 4096) cache.clear();
    cache.set(k, ct);
    return ct;
  };
  const decodeShare = (signer: number, share: Uint8Array): Tdh2DecryptionShare | null => {
    try {
      const s = decodeDecryptionShare(pk.scheme, share);
      return s.signer === signer ? s : null;
    } catch (e) {
      if (e instanceof CryptoError) return null;
      throw e;
    }
  };
  return {
    scheme: pk.scheme,
    isValid: (ciphertext) => decoded(ciphertext) !== null,
    share(ciphertext) {
      const ct = decoded(ciphertext);
      if (!ct) fail('invalid-ciphertext', 'no decryption share for an invalid ciphertext');
      return encodeDecryptionShare(decryptionShare(pk, key, groupId, ct));
    },
    verifyShare(ciphertext, signer, share) {
      const ct = decoded(ciphertext);
      const s = decodeShare(signer, share);
      return ct !== null && s !== null && verifyDecryptionShare(pk, groupId, ct, s);
    },
    combine(ciphertext, shares) {
      const ct = decoded(ciphertext);
      if (!ct) fail('invalid-ciphertext', 'cannot combine shares for an invalid ciphertext');
      const faulty = new Set<number>();
      const list: Tdh2DecryptionShare[] = [];
      for (const [signer, bytes] of shares) {
        const s = decodeShare(signer, bytes);
        if (s) list.push(s);
        else faulty.add(signer);
      }
      try {
        const r = combineDecryption(pk, groupId, ct, list);
        for (const f of r.faulty) faulty.add(f);
        return { plaintext: r.plaintext, faulty: [...faulty].sort((a, b) => a - b) };
      } catch (e) {
        if (e instanceof CryptoError && e.code === 'decryption-failed') return { plaintext: null, faulty: [...faulty].sort((a, b) => a - b) };
        throw e;
      }
    },
  };
}

const INSECURE_CT_MAGIC = 'sintra-edge/insecure-test-ciphertext';

/**
 * TEST ONLY: a "ciphertext" for insecureTestDecryptor. The plaintext travels in the clear; a hash makes
 * it checkable, so garbage is still invalid. `undecryptable` makes a valid ciphertext whose combination
 * fails, like a TDH2 ciphertext encrypted under the wrong key.
 */
export function insecureTestEncrypt(groupId: Uint8Array, label: Uint8Array, plaintext: Uint8Array, undecryptable = false): Uint8Array {
  const body = frame(INSECURE_CT_MAGIC, label, plaintext, undecryptable ? 'x' : '');
  const check = sha256(frame('insecure-test-ct-check', groupId, body));
  const out = new Uint8Array(body.length + 32);
  out.set(body);
  out.set(check, body.length);
  return out;
}

/** Parses frame(magic, label, plaintext, flag) + check; null if malformed or the check fails. */
function insecureParse(groupId: Uint8Array, ct: Uint8Array): { plaintext: Uint8Array; undecryptable: boolean } | null {
  if (!(ct instanceof Uint8Array) || ct.length < 32) return null;
  const body = ct.subarray(0, ct.length - 32);
  if (!bytesEqual(ct.subarray(ct.length - 32), sha256(frame('insecure-test-ct-check', groupId, body)))) return null;
  const parts: Uint8Array[] = [];
  let off = 0;
  while (off < body.length) {
    if (off + 4 > body.length) return null;
    const len = ((body[off]! << 24) >>> 0) + ((body[off + 1]! << 16) | (body[off + 2]! << 8) | body[off + 3]!);
    off += 4;
    if (off + len > body.length) return null;
    parts.push(body.subarray(off, off + len));
    off += len;
  }
  if (parts.length !== 4 || new TextDecoder().decode(parts[0]) !== INSECURE_CT_MAGIC) return null;
  return { plaintext: parts[2]!.slice(), undecryptable: parts[3]!.length > 0 };
}

/**
 * TEST ONLY. Same validity / share / qualification rules and fault reporting as realDecryptor, no
 * secrecy: the plaintext is in the ciphertext. The simulator's confidentiality checker therefore watches
 * when honest replicas release shares, not what an observer could read.
 */
export function insecureTestDecryptor(groupId: Uint8Array, me: number, scheme: SharingScheme): ThresholdDecryptor {
  const shareOf = (ct: Uint8Array, who: number) => sha256(frame('insecure-test-dec-share', groupId, u32be(who), sha256(ct)));
  const valid = (ct: Uint8Array) => insecureParse(groupId, ct) !== null;
  return {
    scheme,
    isValid: valid,
    share(ct) {
      if (!valid(ct)) fail('invalid-ciphertext', 'no decryption share for an invalid ciphertext');
      return shareOf(ct, me);
    },
    verifyShare: (ct, who, share) => valid(ct) && who >= 0 && who < scheme.n && share instanceof Uint8Array && bytesEqual(share, shareOf(ct, who)),
    combine(ct, shares) {
      const parsed = insecureParse(groupId, ct);
      if (!parsed) fail('invalid-ciphertext', 'cannot combine shares for an invalid ciphertext');
      const good: number[] = [];
      const faulty: number[] = [];
      for (const [who, share] of shares) {
        if (who >= 0 && who < scheme.n && bytesEqual(share, shareOf(ct, who))) good.push(who);
        else faulty.push(who);
      }
      if (!scheme.isQualified(good)) fail('not-qualified', `valid decryption shares from [${good.join(',')}] are not qualified`);
      return { plaintext: parsed.undecryptable ? null : parsed.plaintext, faulty: faulty.sort((a, b) => a - b) };
    },
  };
}

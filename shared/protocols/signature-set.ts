/**
 * A quorum's signatures as the certificate of consistent broadcast: Reiter's echo broadcast (ACM CCS
 * 1994) in its original form, which Cachin-Kursawe-Petzold-Shoup, "Secure and Efficient Asynchronous
 * Broadcast Protocols", CRYPTO 2001, section 2.3, compress into one threshold signature. Each echo is the
 * echoing replica's own signature on the bound message (purpose, group, tag, payload); a certificate is
 * a set of such signatures whose signers form a qualified set of the quorum scheme. Consistency is the
 * same argument as with a threshold signature: two certificates for one tag need two quorums of signers,
 * which share an honest replica, who echoes once.
 *
 * Why: a threshold BLS echo costs a pairing to verify and a combination per proof (about 660 ms of BLS
 * per epoch at n = 4, docs/benchmarks.md), an Ed25519 signature about 0.1 ms to verify natively. The
 * price is size: (n - t) x 66 bytes instead of 48 (198 B at n = 4, 726 B at n = 16).
 *
 * Certificate bytes (docs/formats.md, section 4c): k >= 1 entries, each
 * u16 signer (big-endian) || signature (`signatureBytes`), signers strictly increasing and below n, the
 * set qualified. Nothing else is accepted, so a certificate has exactly one encoding per signer set.
 */
import { readU16 } from '../crypto/bytes.ts';
import { boundMessage, domain } from '../crypto/domain.ts';
import type { Purpose } from '../crypto/domain.ts';
import { fail } from '../crypto/errors.ts';
import type { SharingScheme } from '../crypto/lsss.ts';
import type { ThresholdSigner } from './crypto-suite.ts';

/** The replicas' individual signatures, over already bound messages. */
export interface ReplicaSignatures {
  /** Length of every signature in bytes. */
  readonly signatureBytes: number;
  sign(message: Uint8Array): Uint8Array;
  /** Must return false (never throw) for any signer 0..n-1 and any signature of `signatureBytes`. */
  verify(signer: number, message: Uint8Array, signature: Uint8Array): boolean;
}

export interface DecodedCertificate {
  readonly signers: number[];
  readonly signatures: Uint8Array[];
}

/** Strict decoding (see the module comment); null when the bytes are not a well-formed certificate. */
export function decodeSignatureSet(bytes: Uint8Array, n: number, signatureBytes: number): DecodedCertificate | null {
  const entry = 2 + signatureBytes;
  if (bytes.length === 0 || bytes.length % entry !== 0 || bytes.length / entry > n) return null;
  const signers: number[] = [];
  const signatures: Uint8Array[] = [];
  for (let off = 0; off < bytes.length; off += entry) {
    const signer = readU16(bytes, off);
    if (signer >= n || (signers.length > 0 && signer <= signers[signers.length - 1]!)) return null;
    signers.push(signer);
    signatures.push(bytes.subarray(off + 2, off + entry));
  }
  return { signers, signatures };
}

export function encodeSignatureSet(entries: readonly (readonly [number, Uint8Array])[], signatureBytes: number): Uint8Array {
  const sorted = [...entries].sort((a, b) => a[0] - b[0]);
  const entry = 2 + signatureBytes;
  const out = new Uint8Array(sorted.length * entry);
  sorted.forEach(([signer, signature], i) => {
    if (signature.length !== signatureBytes) fail('bad-length', `a signature of ${signatureBytes} bytes expected, got ${signature.length}`);
    if (i > 0 && sorted[i - 1]![0] === signer) fail('bad-encoding', `signer ${signer} twice in one certificate`);
    out[i * entry] = signer >>> 8;
    out[i * entry + 1] = signer & 0xff;
    out.set(signature, i * entry + 2);
  });
  return out;
}

/**
 * The ThresholdSigner interface over a signature set: `sign` is this replica's own signature, `combine`
 * keeps the valid ones (naming the others) and makes the certificate once they are qualified, `verify`
 * checks a certificate completely (encoding, qualification, every signature).
 */
export function signatureSetSigner(scheme: SharingScheme, groupId: Uint8Array, sigs: ReplicaSignatures): ThresholdSigner {
  const bound = (purpose: Purpose, tag: string, payload: Uint8Array) => boundMessage(domain(groupId, purpose), tag, payload);
  const validShare = (message: Uint8Array, signer: number, share: Uint8Array) =>
    Number.isInteger(signer) && signer >= 0 && signer < scheme.n && share instanceof Uint8Array && share.length === sigs.signatureBytes && sigs.verify(signer, message, share);
  return {
    scheme,
    sign: (purpose, tag, payload) => sigs.sign(bound(purpose, tag, payload)),
    verifyShare: (purpose, tag, payload, signer, share) => validShare(bound(purpose, tag, payload), signer, share),
    combine(purpose, tag, payload, shares) {
      const message = bound(purpose, tag, payload);
      const good: [number, Uint8Array][] = [];
      const faulty: number[] = [];
      for (const [signer, share] of shares) {
        if (validShare(message, signer, share)) good.push([signer, share]);
        else faulty.push(signer);
      }
      if (!scheme.isQualified(good.map(([s]) => s))) fail('not-qualified', `valid echo signatures from [${good.map(([s]) => s).join(',')}] are not qualified`);
      return { signature: encodeSignatureSet(good, sigs.signatureBytes), faulty: faulty.sort((a, b) => a - b) };
    },
    verify(purpose, tag, payload, certificate) {
      if (!(certificate instanceof Uint8Array)) return false;
      const c = decodeSignatureSet(certificate, scheme.n, sigs.signatureBytes);
      if (c === null || !scheme.isQualified(c.signers)) return false;
      const message = bound(purpose, tag, payload);
      return c.signers.every((signer, i) => sigs.verify(signer, message, c.signatures[i]!));
    },
  };
}

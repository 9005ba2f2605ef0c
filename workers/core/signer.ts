/**
 * A replica's part in the signing service (shared/app/signer.ts; docs/signer.md). It releases its share
 * of the group's signature on a request's message only once its own replicated state records the request
 * as ordered and accepted by the policy (GET /v1/sign/shares/{id}); asked for the signature, it gathers
 * its own share and its peers' (share-gather.ts), each verified against the kernel's verification keys
 * (a bad one is that peer's recorded fault), combines a qualified set, verifies the result under the group
 * key and keeps it (in memory: any replica can make it again from shares at any time, since the release
 * rule depends only on the ordered state).
 *
 * Why corrupt replicas cannot get a signature outside the policy: a qualified set of shares needs an
 * honest replica's, and an honest replica releases one only for an entry its own execution accepted.
 */
import { fromHex, toHex } from '../../shared/crypto/bytes.ts';
import { CryptoError } from '../../shared/crypto/errors.ts';
import { combineGroupSignature, groupSignShare, signingPoint, verifyGroupSignShare } from '../../shared/crypto/group-sign.ts';
import type { G1Point } from '../../shared/crypto/curve.ts';
import { decodeSignatureShare, encodeSignatureShare } from '../../shared/crypto/threshold-bls.ts';
import type { KeyShare, SignatureShare } from '../../shared/crypto/threshold-bls.ts';
import { parseSignerEntry, signerPssSalt } from '../../shared/app/signer.ts';
import { RSA_PSS_SCHEME, isRsaScheme } from '../../shared/app/signer-policy.ts';
import type { RsaScheme } from '../../shared/app/signer-policy.ts';
import { sha256 } from '../../shared/crypto/sha256.ts';
import {
  combineShares as rsaCombineShares,
  decodeSignatureShare as decodeRsaSignatureShare,
  encodeSignatureShare as encodeRsaSignatureShare,
  signShare as rsaSignShare,
  verifyShare as rsaVerifyShare,
} from '../../shared/crypto/threshold-rsa.ts';
import type { RsaEncoding, ThresholdRsaKeyShare, ThresholdRsaSignatureShare } from '../../shared/crypto/threshold-rsa.ts';
import type { SignOutcome } from '../../shared/app/signer.ts';
import type { Group } from '../../shared/config/group.ts';
import { logLine } from './log.ts';
import { gatherShares } from './share-gather.ts';
import type { PeerGet } from './share-gather.ts';

/** What the service reads of the replica: the signer's recorded outcomes and the log's entries. */
export interface SignerLedger {
  /** The outcome of request `id` as executed here (undefined: not ordered, or not executed here yet). */
  outcome(id: string): Promise<SignOutcome | undefined>;
  /** The log entry at `index`, if this replica has it. */
  entry(index: number): Promise<Uint8Array | undefined>;
}

export interface SignServiceOptions {
  readonly group: Group;
  readonly me: number;
  readonly replicaId: string;
  /** This replica's kernel key share (ReplicaSecrets.kernel). */
  readonly share: KeyShare;
  /** This replica's share of the signing RSA key (ReplicaSecrets.signerRsa), when the group has one. */
  readonly rsaShare?: ThresholdRsaKeyShare;
  /** Randomness for the RSA shares' proofs (default crypto.getRandomValues). */
  readonly randomBytes?: (n: number) => Uint8Array;
  readonly ledger: SignerLedger;
  readonly get: PeerGet;
  readonly now: () => number;
  readonly log?: (line: string) => void;
  /** How long a request waits for a qualified set of shares (default 10 s). */
  readonly gatherTimeoutMs?: number;
}

/** The wire form of GET /v1/sign/shares/{id}. */
export interface SignShareJson {
  readonly id: string;
  readonly replica: number;
  /** encodeSignatureShare (threshold-bls.ts): u16 signer, u16 rows, 48-byte G1 points; hex. */
  readonly share: string;
}

/** An accepted request: what was signed, and how (BLS under the kernel key, or the signing RSA key). */
export interface SignedRequest {
  readonly id: string;
  readonly outcome: SignOutcome;
  readonly scheme: 'bls' | RsaScheme;
  readonly purpose: string;
  readonly client: string;
  readonly message: Uint8Array;
  readonly entry: Uint8Array;
}

export type SignLookup =
  | { readonly ok: true; readonly request: SignedRequest }
  | { readonly ok: false; readonly status: 403 | 404 | 503; readonly code: 'not-ordered' | 'refused' | 'not-a-sign-request' | 'storage-unavailable'; readonly message: string; readonly outcome?: SignOutcome };

export type SignatureAnswer =
  | { readonly ok: true; readonly request: SignedRequest; readonly signature: Uint8Array }
  | Extract<SignLookup, { ok: false }>
  | { readonly ok: false; readonly status: 503; readonly code: 'signature-unavailable'; readonly message: string };

export interface SignFault {
  readonly replica: number;
  readonly id: string;
  readonly reason: string;
  readonly at: number;
}

/** A peer's answer that is not a share of the request asked for (reason in the message). */
class ShareRefused extends Error {}

const KEPT_SIGNATURES = 4096;
const KEPT_SHARES = 256;
const FAULTS_KEPT = 256;
/** A peer that has not executed the request yet says "not ordered": ask it again this often. */
const RETRY_MS = 200;
const ID = /^[0-9a-f]{64}$/;

export class SignService {
  private readonly signatures = new Map<string, Uint8Array>();
  private readonly shares = new Map<string, SignatureShare>();
  private readonly rsaShares = new Map<string, ThresholdRsaSignatureShare>();
  private readonly points = new Map<string, G1Point>();
  private readonly inflight = new Map<string, Promise<SignatureAnswer>>();
  private readonly faultLog: SignFault[] = [];

  constructor(private readonly o: SignServiceOptions) {
    if (o.group.signer === undefined) throw new Error('SignService: the group has no signer policy');
    if (o.share.replica !== o.me) throw new Error("SignService: the key share is not this replica's");
  }

  faults(): readonly SignFault[] {
    return this.faultLog;
  }

  /** The accepted request `id` as this replica executed it, or why there is none to sign. */
  async lookup(id: string): Promise<SignLookup> {
    if (!ID.test(id)) return { ok: false, status: 404, code: 'not-ordered', message: 'a request id is 64 lower-case hex digits' };
    const outcome = await this.o.ledger.outcome(id);
    if (outcome === undefined) return { ok: false, status: 404, code: 'not-ordered', message: `request ${id} is not ordered and executed here (yet)` };
    if (outcome.op !== 'sign') return { ok: false, status: 404, code: 'not-a-sign-request', message: `request ${id} is a policy change, not a sign request` };
    if (!outcome.ok) return { ok: false, status: 403, code: 'refused', message: `request ${id} was refused by the policy: ${outcome.code}: ${outcome.message}`, outcome };
    const entry = await this.o.ledger.entry(outcome.index);
    const p = entry === undefined ? null : parseSignerEntry(entry);
    // The outcome was recorded by executing this very entry; anything else is lost or corrupt storage.
    if (entry === undefined || p === null || !p.ok || p.op !== 'sign') {
      return { ok: false, status: 503, code: 'storage-unavailable', message: `the log entry ${outcome.index} of request ${id} cannot be read here` };
    }
    if (isRsaScheme(outcome.scheme) && (this.o.group.signerRsa === undefined || this.o.rsaShare === undefined)) {
      return { ok: false, status: 503, code: 'storage-unavailable', message: `request ${id} is for an RSA purpose, and this replica has no signing RSA key share` };
    }
    const scheme = isRsaScheme(outcome.scheme) ? outcome.scheme : 'bls';
    return { ok: true, request: { id, outcome, scheme, purpose: p.request.purpose, client: p.request.client, message: p.request.message, entry } };
  }

  private pointOf(r: SignedRequest): G1Point {
    let h = this.points.get(r.id);
    if (!h) {
      h = signingPoint(this.o.group.groupId, r.purpose, r.message);
      this.remember(this.points, r.id, h, KEPT_SHARES);
    }
    return h;
  }

  private remember<T>(m: Map<string, T>, k: string, v: T, cap: number): void {
    if (m.size >= cap) m.delete(m.keys().next().value!);
    m.set(k, v);
  }

  private shareOf(r: SignedRequest): SignatureShare {
    let s = this.shares.get(r.id);
    if (!s) {
      s = groupSignShare(this.o.share, this.pointOf(r));
      this.remember(this.shares, r.id, s, KEPT_SHARES);
    }
    return s;
  }

  /** This replica's share for request `id`: only for a request its own state accepted. */
  async ownShare(id: string): Promise<{ readonly ok: true; readonly share: SignShareJson } | Extract<SignLookup, { ok: false }>> {
    const l = await this.lookup(id);
    if (!l.ok) return l;
    const share = l.request.scheme !== 'bls' ? encodeRsaSignatureShare(this.o.group.signerRsa!, this.rsaShareOf(l.request)) : encodeSignatureShare(this.shareOf(l.request));
    return { ok: true, share: { id, replica: this.o.me, share: toHex(share) } };
  }

  private rsaShareOf(r: SignedRequest): ThresholdRsaSignatureShare {
    let s = this.rsaShares.get(r.id);
    if (!s) {
      const random = this.o.randomBytes ?? ((n: number) => crypto.getRandomValues(new Uint8Array(n)));
      s = rsaSignShare(this.o.group.signerRsa!, this.o.rsaShare!, sha256(r.message), random, this.encodingOf(r));
      this.remember(this.rsaShares, r.id, s, KEPT_SHARES);
    }
    return s;
  }

  /** The group's signature for request `id`: kept, or made now from a qualified set of shares. */
  async signature(id: string): Promise<SignatureAnswer> {
    const l = await this.lookup(id);
    if (!l.ok) return l;
    const kept = this.signatures.get(id);
    if (kept) return { ok: true, request: l.request, signature: kept };
    let p = this.inflight.get(id);
    if (!p) {
      p = this.produce(l.request).finally(() => this.inflight.delete(id));
      this.inflight.set(id, p);
    }
    return p;
  }

  private fault(replica: number, id: string, reason: string): void {
    const f: SignFault = { replica, id, reason, at: this.o.now() };
    this.faultLog.push(f);
    if (this.faultLog.length > FAULTS_KEPT) this.faultLog.shift();
    this.o.log?.(logLine('warn', this.o.replicaId, 'sign-fault', `replica ${replica}: ${reason}`, { peer: replica, id }));
  }

  private shareFrom(peer: number, id: string, body: unknown): SignatureShare | string {
    try {
      const s = decodeSignatureShare(this.o.group.kernel.scheme, fromHex(this.shareHex(peer, id, body)));
      return s.signer === peer ? s : `share is signed as replica ${s.signer}`;
    } catch (e) {
      if (e instanceof ShareRefused) return e.message;
      if (e instanceof CryptoError) return `share: ${e.message}`;
      throw e;
    }
  }

  /** A peer's answer's share bytes (hex), or why they are not there. */
  private shareHex(peer: number, id: string, body: unknown): string {
    if (typeof body !== 'object' || body === null) throw new ShareRefused('answer is not a JSON object');
    const o = body as Record<string, unknown>;
    if (o['id'] !== id) throw new ShareRefused(`answer is for request ${String(o['id'])}`);
    if (o['replica'] !== peer) throw new ShareRefused(`answer names replica ${String(o['replica'])}`);
    const hex = o['share'];
    if (typeof hex !== 'string' || !/^(?:[0-9a-f]{2})+$/.test(hex)) throw new ShareRefused('share: expected lower-case hex');
    return hex;
  }

  /** PKCS #1 v1.5, or PSS with the salt every replica derives from the request id. */
  private encodingOf(r: SignedRequest): RsaEncoding {
    return r.scheme === RSA_PSS_SCHEME ? { pssSalt: signerPssSalt(r.id) } : {};
  }

  /** The RSA path of produce(): Shoup's shares with their proofs, combined to RSASSA-PKCS1-v1_5 or PSS. */
  private async produceRsa(r: SignedRequest): Promise<SignatureAnswer> {
    const pk = this.o.group.signerRsa!;
    const digest = sha256(r.message);
    const valid = new Map<number, ThresholdRsaSignatureShare>();
    const own = this.rsaShareOf(r);
    const encoding = this.encodingOf(r);
    if (rsaVerifyShare(pk, digest, own, encoding)) valid.set(this.o.me, own);
    else this.fault(this.o.me, r.id, 'own share does not verify against keys.signerRsa.verificationKeys (wrong SINTRA_KEY_SHARES.signerRsa?)');
    const qualified = (signers: Iterable<number>) => [...signers].length >= pk.threshold;
    const unreachable = await gatherShares<ThresholdRsaSignatureShare>({
      peers: this.o.group.replicas.map((x) => x.index).filter((i) => i !== this.o.me),
      get: this.o.get,
      path: `/v1/sign/shares/${r.id}`,
      qualified,
      valid,
      notYet: 'not-ordered',
      parse: (peer, body) => {
        try {
          const s = decodeRsaSignatureShare(pk, fromHex(this.shareHex(peer, r.id, body)));
          return s.signer === peer ? s : `share is signed as replica ${s.signer}`;
        } catch (e) {
          if (e instanceof ShareRefused || e instanceof CryptoError) return e instanceof ShareRefused ? e.message : `share: ${e.message}`;
          throw e;
        }
      },
      check: (s) => (rsaVerifyShare(pk, digest, s, encoding) ? null : `RSA share for request ${r.id} does not verify (its proof against keys.signerRsa.verificationKeys)`),
      fault: (peer, reason) => this.fault(peer, r.id, reason),
      now: this.o.now,
      deadline: this.o.now() + (this.o.gatherTimeoutMs ?? 10_000),
      retryMs: RETRY_MS,
    });
    if (!qualified(valid.keys())) return this.unavailable(r, valid.keys(), unreachable);
    const c = rsaCombineShares(pk, digest, [...valid.values()], { encoding });
    this.remember(this.signatures, r.id, c.signature, KEPT_SIGNATURES);
    return { ok: true, request: r, signature: c.signature };
  }

  private unavailable(r: SignedRequest, signers: Iterable<number>, unreachable: readonly string[]): SignatureAnswer {
    return {
      ok: false,
      status: 503,
      code: 'signature-unavailable',
      message: `request ${r.id}: valid shares from replicas [${[...signers].sort((a, b) => a - b).join(',')}] are not a qualified set${unreachable.length ? ` (no share from ${unreachable.join('; ')})` : ''}`,
    };
  }

  private async produce(r: SignedRequest): Promise<SignatureAnswer> {
    if (r.scheme !== 'bls') return this.produceRsa(r);
    const pk = this.o.group.kernel;
    const h = this.pointOf(r);
    const valid = new Map<number, SignatureShare>();
    const own = this.shareOf(r);
    if (verifyGroupSignShare(pk, h, own)) valid.set(this.o.me, own);
    else this.fault(this.o.me, r.id, 'own share does not verify against keys.kernel.rowKeys (wrong SINTRA_KEY_SHARES.kernel?)');
    const unreachable = await gatherShares<SignatureShare>({
      peers: this.o.group.replicas.map((x) => x.index).filter((i) => i !== this.o.me),
      get: this.o.get,
      path: `/v1/sign/shares/${r.id}`,
      qualified: (signers) => pk.scheme.isQualified(signers),
      valid,
      // The peer has not executed the request yet (it is behind): it will soon.
      notYet: 'not-ordered',
      parse: (peer, body) => this.shareFrom(peer, r.id, body),
      check: (s) => (verifyGroupSignShare(pk, h, s) ? null : `share for request ${r.id} does not verify against keys.kernel.rowKeys`),
      fault: (peer, reason) => this.fault(peer, r.id, reason),
      now: this.o.now,
      deadline: this.o.now() + (this.o.gatherTimeoutMs ?? 10_000),
      retryMs: RETRY_MS,
    });
    if (!pk.scheme.isQualified(valid.keys())) return this.unavailable(r, valid.keys(), unreachable);
    // Every share in `valid` verified, so this is the unique signature; the combination checks it once
    // more under the group key.
    const c = combineGroupSignature(pk, h, [...valid.values()]);
    this.remember(this.signatures, r.id, c.bytes, KEPT_SIGNATURES);
    return { ok: true, request: r, signature: c.bytes };
  }
}

/**
 * The adapters' one line: a SignService when the group has a signer policy, else undefined (the signing
 * routes then answer 404 no-signer). Without a peer GET it cannot gather shares.
 */
export function signServiceFor(
  group: Group,
  secrets: { readonly index: number; readonly id: string; readonly kernel: KeyShare; readonly signerRsa?: ThresholdRsaKeyShare },
  ledger: SignerLedger,
  get: PeerGet | undefined,
  now: () => number,
  log?: (line: string) => void,
): SignService | undefined {
  if (group.signer === undefined || get === undefined) return undefined;
  return new SignService({ group, me: secrets.index, replicaId: secrets.id, share: secrets.kernel, ...(secrets.signerRsa ? { rsaShare: secrets.signerRsa } : {}), ledger, get, now, ...(log ? { log } : {}) });
}

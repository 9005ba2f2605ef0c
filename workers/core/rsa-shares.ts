/**
 * Threshold RSA signatures on documents the replicas each derive from their own ordered state (an RFC 3161
 * token's signed attributes: tsa.ts; an X.509 TBSCertificate: x509.ts), by log position: this replica's
 * share of the signature on a digest (Shoup's share with its proof, threshold-rsa.ts), and the signature
 * made from a qualified set of shares gathered from the peers' share route (share-gather.ts), each checked
 * by its proof (a bad one is the sender's recorded fault). The caller decides what digest a position has
 * and whether to release a share at all; this module never signs a digest handed to it by a peer.
 */
import { fromHex, toHex } from '../../shared/crypto/bytes.ts';
import { CryptoError } from '../../shared/crypto/errors.ts';
import { combineShares, decodeSignatureShare, encodeSignatureShare, signShare, verifyShare } from '../../shared/crypto/threshold-rsa.ts';
import type { ThresholdRsaKeyShare, ThresholdRsaPublicKey, ThresholdRsaSignatureShare } from '../../shared/crypto/threshold-rsa.ts';
import { logLine } from './log.ts';
import { gatherShares } from './share-gather.ts';
import type { PeerGet } from './share-gather.ts';

export interface RsaSharesOptions {
  readonly publicKey: ThresholdRsaPublicKey;
  readonly me: number;
  readonly replicaId: string;
  /** This replica's key share. */
  readonly share: ThresholdRsaKeyShare;
  readonly peers: readonly number[];
  readonly get: PeerGet;
  /** The peers' share route for a position, e.g. `/v1/tsa/shares/${index}`. */
  readonly sharePath: (index: number) => string;
  /** What the signature is of, in fault messages ("the token", "the certificate"). */
  readonly what: string;
  /** The log line event of a bad share (tsa-fault, x509-fault). */
  readonly faultEvent: string;
  readonly now: () => number;
  readonly randomBytes?: (n: number) => Uint8Array;
  readonly log?: (line: string) => void;
  readonly gatherTimeoutMs?: number;
}

/** The wire form of a share route's answer. */
export interface RsaShareJson {
  readonly index: number;
  readonly replica: number;
  /** encodeSignatureShare (threshold-rsa.ts), hex. */
  readonly share: string;
}

export interface RsaShareFault {
  readonly replica: number;
  readonly index: number;
  readonly reason: string;
  readonly at: number;
}

const KEPT = 1024;
const FAULTS_KEPT = 256;
const RETRY_MS = 200;

export class RsaShares {
  private readonly shares = new Map<number, ThresholdRsaSignatureShare>();
  private readonly faultLog: RsaShareFault[] = [];

  constructor(private readonly o: RsaSharesOptions) {
    if (o.share.signer !== o.me) throw new Error("RsaShares: the RSA key share is not this replica's");
  }

  faults(): readonly RsaShareFault[] {
    return this.faultLog;
  }

  /** This replica's share of the signature on `digest`, the document of log position `index`. */
  own(index: number, digest: Uint8Array): ThresholdRsaSignatureShare {
    let s = this.shares.get(index);
    if (!s) {
      const random = this.o.randomBytes ?? ((n: number) => crypto.getRandomValues(new Uint8Array(n)));
      s = signShare(this.o.publicKey, this.o.share, digest, random);
      if (this.shares.size >= KEPT) this.shares.delete(this.shares.keys().next().value!);
      this.shares.set(index, s);
    }
    return s;
  }

  ownJson(index: number, digest: Uint8Array): RsaShareJson {
    return { index, replica: this.o.me, share: toHex(encodeSignatureShare(this.o.publicKey, this.own(index, digest))) };
  }

  private fault(replica: number, index: number, reason: string): void {
    this.faultLog.push({ replica, index, reason, at: this.o.now() });
    if (this.faultLog.length > FAULTS_KEPT) this.faultLog.shift();
    this.o.log?.(logLine('warn', this.o.replicaId, this.o.faultEvent, `replica ${replica}: ${reason}`, { peer: replica, index }));
  }

  private parse(peer: number, index: number, body: unknown): ThresholdRsaSignatureShare | string {
    if (typeof body !== 'object' || body === null) return 'answer is not a JSON object';
    const o = body as Record<string, unknown>;
    if (o['index'] !== index) return `answer is for position ${String(o['index'])}`;
    if (o['replica'] !== peer) return `answer names replica ${String(o['replica'])}`;
    const hex = o['share'];
    if (typeof hex !== 'string' || !/^(?:[0-9a-f]{2})+$/.test(hex)) return 'share: expected lower-case hex';
    try {
      const s = decodeSignatureShare(this.o.publicKey, fromHex(hex));
      return s.signer === peer ? s : `share is signed as replica ${s.signer}`;
    } catch (e) {
      if (e instanceof CryptoError) return `share: ${e.message}`;
      throw e;
    }
  }

  /** The RSASSA-PKCS1-v1_5 signature on `digest` from a qualified set of valid shares, or why there is none. */
  async signature(index: number, digest: Uint8Array): Promise<{ readonly ok: true; readonly signature: Uint8Array } | { readonly ok: false; readonly message: string }> {
    const pk = this.o.publicKey;
    const valid = new Map<number, ThresholdRsaSignatureShare>();
    const own = this.own(index, digest);
    if (verifyShare(pk, digest, own)) valid.set(this.o.me, own);
    else this.fault(this.o.me, index, 'own share does not verify against keys.rsa.verificationKeys (wrong SINTRA_KEY_SHARES.rsa?)');
    const qualified = (signers: Iterable<number>) => [...signers].length >= pk.threshold;
    const unreachable = await gatherShares<ThresholdRsaSignatureShare>({
      peers: this.o.peers.filter((i) => i !== this.o.me),
      get: this.o.get,
      path: this.o.sharePath(index),
      qualified,
      valid,
      notYet: 'not-ordered',
      parse: (peer, body) => this.parse(peer, index, body),
      check: (s) => (verifyShare(pk, digest, s) ? null : `RSA share for ${this.o.what} at position ${index} does not verify (its proof against keys.rsa.verificationKeys)`),
      fault: (peer, reason) => this.fault(peer, index, reason),
      now: this.o.now,
      deadline: this.o.now() + (this.o.gatherTimeoutMs ?? 10_000),
      retryMs: RETRY_MS,
    });
    if (!qualified(valid.keys())) {
      const signers = [...valid.keys()].sort((a, b) => a - b).join(',');
      return { ok: false, message: `${this.o.what} at position ${index}: valid shares from replicas [${signers}] are not ${pk.threshold}${unreachable.length ? ` (no share from ${unreachable.join('; ')})` : ''}` };
    }
    return { ok: true, signature: combineShares(pk, digest, [...valid.values()]).signature };
  }
}

/** Why a position has no document (yet): `code` is the caller's (not-ordered, not-a-query, ...) or signature-unavailable. */
export interface DocumentRefusal<C extends string> {
  readonly ok: false;
  readonly status: 404 | 503;
  readonly code: C | 'signature-unavailable';
  readonly message: string;
}

const DOCUMENTS_KEPT = 1024;

/**
 * Signed documents by log position: `build` derives what position `index` is to be signed as (its digest
 * and whatever assembling needs) from this replica's own state, or refuses; shares are released and
 * documents assembled only for what `build` derived. Derivations and documents are kept (a document is the
 * same bytes every time: RSASSA-PKCS1-v1_5 is deterministic), and one production runs per position.
 */
export class RsaDocuments<P extends { readonly digest: Uint8Array }, D, C extends string> {
  private readonly prepared = new Map<number, P>();
  private readonly documents = new Map<number, D>();
  private readonly inflight = new Map<number, Promise<{ readonly ok: true; readonly document: D } | DocumentRefusal<C>>>();

  constructor(
    private readonly rsa: RsaShares,
    private readonly build: (index: number) => Promise<{ readonly ok: true; readonly prepared: P } | DocumentRefusal<C>>,
    private readonly assemble: (prepared: P, signature: Uint8Array) => D,
  ) {}

  faults(): readonly RsaShareFault[] {
    return this.rsa.faults();
  }

  private remember<T>(m: Map<number, T>, k: number, v: T): void {
    if (m.size >= DOCUMENTS_KEPT) m.delete(m.keys().next().value!);
    m.set(k, v);
  }

  async prepare(index: number): Promise<{ readonly ok: true; readonly prepared: P } | DocumentRefusal<C>> {
    const kept = this.prepared.get(index);
    if (kept) return { ok: true, prepared: kept };
    const p = await this.build(index);
    if (p.ok) this.remember(this.prepared, index, p.prepared);
    return p;
  }

  /** This replica's share for position `index`: only for what its own state derived. */
  async ownShare(index: number): Promise<{ readonly ok: true; readonly share: RsaShareJson } | DocumentRefusal<C>> {
    const p = await this.prepare(index);
    if (!p.ok) return p;
    return { ok: true, share: this.rsa.ownJson(index, p.prepared.digest) };
  }

  /** The document of position `index`: kept, or made now from a qualified set of shares. */
  async document(index: number): Promise<{ readonly ok: true; readonly document: D } | DocumentRefusal<C>> {
    const kept = this.documents.get(index);
    if (kept !== undefined) return { ok: true, document: kept };
    const p = await this.prepare(index);
    if (!p.ok) return p;
    let r = this.inflight.get(index);
    if (!r) {
      r = this.produce(index, p.prepared).finally(() => this.inflight.delete(index));
      this.inflight.set(index, r);
    }
    return r;
  }

  private async produce(index: number, p: P): Promise<{ readonly ok: true; readonly document: D } | DocumentRefusal<C>> {
    const s = await this.rsa.signature(index, p.digest);
    if (!s.ok) return { ok: false, status: 503, code: 'signature-unavailable', message: s.message };
    const document = this.assemble(p, s.signature);
    this.remember(this.documents, index, document);
    return { ok: true, document };
  }
}

/** What a service using the group's RSA key (keys.rsa) knows of its replica, for groupRsaShares. */
export interface GroupRsaOptions {
  readonly group: { readonly rsa?: { readonly publicKey: ThresholdRsaPublicKey }; readonly replicas: readonly { readonly index: number }[] };
  readonly me: number;
  readonly replicaId: string;
  readonly share: ThresholdRsaKeyShare;
  readonly get: PeerGet;
  readonly now: () => number;
  readonly randomBytes?: (n: number) => Uint8Array;
  readonly log?: (line: string) => void;
  readonly gatherTimeoutMs?: number;
}

/** RsaShares over the group's RSA key (keys.rsa) for one kind of document. */
export function groupRsaShares(o: GroupRsaOptions, kind: Pick<RsaSharesOptions, 'sharePath' | 'what' | 'faultEvent'>): RsaShares {
  if (o.group.rsa === undefined) throw new Error('the group has no threshold RSA key');
  return new RsaShares({
    publicKey: o.group.rsa.publicKey,
    me: o.me,
    replicaId: o.replicaId,
    share: o.share,
    peers: o.group.replicas.map((x) => x.index),
    get: o.get,
    now: o.now,
    ...kind,
    ...(o.randomBytes ? { randomBytes: o.randomBytes } : {}),
    ...(o.log ? { log: o.log } : {}),
    ...(o.gatherTimeoutMs !== undefined ? { gatherTimeoutMs: o.gatherTimeoutMs } : {}),
  });
}

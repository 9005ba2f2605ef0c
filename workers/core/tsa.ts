/**
 * A replica's part in the group's RFC 3161 time-stamping authority (docs/formats.md section 17;
 * docs/api.md "Time-stamping"). A query (DER TimeStampReq) is ordered like any request: its log entry is
 * the query's bytes, its position is the token's serial number, and its epoch's agreed time
 * (shared/protocols/agreed-time.ts) is the token's genTime. Every replica prepares the token from its own
 * log (shared/crypto/tsp.ts prepareTimeStampToken: a pure function of the entry, the position, the time,
 * the group's TSA certificate and policy), so every honest replica signs the same signed attributes; it
 * releases its threshold RSA share (Shoup, threshold-rsa.ts) only for an entry of its own log that is a
 * valid query (GET /v1/tsa/shares/{index}). Asked for the reply, a replica gathers a qualified set of
 * verified shares (share-gather.ts; a bad share is the peer's recorded fault), combines them into one
 * RSASSA-PKCS1-v1_5 signature under the TSA certificate's key and assembles the TimeStampResp.
 *
 * Why a corrupt replica cannot get anything else signed with the group's RSA key (which is also the root
 * CA's): a qualified set needs an honest replica's share, and an honest replica signs only the SHA-256 of
 * signed attributes it built itself for an ordered query (contentType id-ct-TSTInfo first), never a digest
 * or bytes handed to it.
 */
import { fromHex, toHex } from '../../shared/crypto/bytes.ts';
import { CryptoError } from '../../shared/crypto/errors.ts';
import { pemToDer } from '../../shared/crypto/pem.ts';
import { assembleTimeStampReply, prepareTimeStampToken } from '../../shared/crypto/tsp.ts';
import type { PreparedTimeStampToken } from '../../shared/crypto/tsp.ts';
import { parseTimeStampQuery } from '../../shared/crypto/tsp-query.ts';
import { tsaPolicyOid } from '../../shared/crypto/tsp-policy.ts';
import { combineShares, decodeSignatureShare, encodeSignatureShare, signShare, verifyShare } from '../../shared/crypto/threshold-rsa.ts';
import type { ThresholdRsaKeyShare, ThresholdRsaSignatureShare } from '../../shared/crypto/threshold-rsa.ts';
import type { Group } from '../../shared/config/group.ts';
import type { StoredEntry } from '../../shared/replica/storage.ts';
import { logLine } from './log.ts';
import { gatherShares } from './share-gather.ts';
import type { PeerGet } from './share-gather.ts';

export interface TsaOptions {
  readonly group: Group;
  readonly me: number;
  readonly replicaId: string;
  /** This replica's share of the group's RSA key (ReplicaSecrets.rsa). */
  readonly share: ThresholdRsaKeyShare;
  /** The log entry at `index` with its epoch's agreed time, if this replica's log has it. */
  readonly entry: (index: number) => Promise<StoredEntry | undefined>;
  readonly get: PeerGet;
  readonly now: () => number;
  /** Randomness for the shares' proofs (default crypto.getRandomValues). */
  readonly randomBytes?: (n: number) => Uint8Array;
  readonly log?: (line: string) => void;
  /** How long a reply waits for a qualified set of shares (default 10 s). */
  readonly gatherTimeoutMs?: number;
}

/** The wire form of GET /v1/tsa/shares/{index}. */
export interface TsaShareJson {
  readonly index: number;
  readonly replica: number;
  /** encodeSignatureShare (threshold-rsa.ts), hex. */
  readonly share: string;
}

export type TsaRefusal = { readonly ok: false; readonly status: 404 | 503; readonly code: 'not-ordered' | 'not-a-query' | 'signature-unavailable'; readonly message: string };

export interface TsaFault {
  readonly replica: number;
  readonly index: number;
  readonly reason: string;
  readonly at: number;
}

const KEPT = 1024;
const FAULTS_KEPT = 256;
const RETRY_MS = 200;

export class TsaService {
  readonly policy: string;
  private readonly certificate: Uint8Array;
  private readonly prepared = new Map<number, PreparedTimeStampToken>();
  private readonly shares = new Map<number, ThresholdRsaSignatureShare>();
  private readonly replies = new Map<number, Uint8Array>();
  private readonly inflight = new Map<number, Promise<{ readonly ok: true; readonly reply: Uint8Array } | TsaRefusal>>();
  private readonly faultLog: TsaFault[] = [];

  constructor(private readonly o: TsaOptions) {
    if (o.group.rsa === undefined) throw new Error('TsaService: the group has no threshold RSA key');
    if (o.share.signer !== o.me) throw new Error("TsaService: the RSA key share is not this replica's");
    this.policy = tsaPolicyOid(o.group.groupId);
    this.certificate = pemToDer(o.group.rsa.tsaCertificate, 'CERTIFICATE');
  }

  faults(): readonly TsaFault[] {
    return this.faultLog;
  }

  private remember<T>(m: Map<number, T>, k: number, v: T): void {
    if (m.size >= KEPT) m.delete(m.keys().next().value!);
    m.set(k, v);
  }

  /** The token for the query at log position `index`, as this replica's own log determines it. */
  async prepare(index: number): Promise<{ readonly ok: true; readonly prepared: PreparedTimeStampToken } | TsaRefusal> {
    const kept = this.prepared.get(index);
    if (kept) return { ok: true, prepared: kept };
    if (!Number.isSafeInteger(index) || index < 0) return { ok: false, status: 404, code: 'not-ordered', message: `no log position ${index}` };
    const e = await this.o.entry(index);
    if (e === undefined) return { ok: false, status: 404, code: 'not-ordered', message: `log position ${index} is not in this replica's log (yet)` };
    const q = parseTimeStampQuery(e.entry, this.policy);
    if (!q.ok) return { ok: false, status: 404, code: 'not-a-query', message: `log position ${index} is not a time-stamp query this TSA grants (${q.failInfo}: ${q.text})` };
    const prepared = prepareTimeStampToken({ query: q.query, policy: this.policy, serial: BigInt(index), genTime: new Date(e.time), tsaCertificate: this.certificate });
    this.remember(this.prepared, index, prepared);
    return { ok: true, prepared };
  }

  private shareOf(index: number, p: PreparedTimeStampToken): ThresholdRsaSignatureShare {
    let s = this.shares.get(index);
    if (!s) {
      const random = this.o.randomBytes ?? ((n: number) => crypto.getRandomValues(new Uint8Array(n)));
      s = signShare(this.o.group.rsa!.publicKey, this.o.share, p.digest, random);
      this.remember(this.shares, index, s);
    }
    return s;
  }

  /** This replica's share for the query at `index`: only for a query in its own log. */
  async ownShare(index: number): Promise<{ readonly ok: true; readonly share: TsaShareJson } | TsaRefusal> {
    const p = await this.prepare(index);
    if (!p.ok) return p;
    return { ok: true, share: { index, replica: this.o.me, share: toHex(encodeSignatureShare(this.o.group.rsa!.publicKey, this.shareOf(index, p.prepared))) } };
  }

  /** The granted TimeStampResp (DER) for the query at `index`: kept, or made now from a qualified set of shares. */
  async reply(index: number): Promise<{ readonly ok: true; readonly reply: Uint8Array } | TsaRefusal> {
    const kept = this.replies.get(index);
    if (kept) return { ok: true, reply: kept };
    const p = await this.prepare(index);
    if (!p.ok) return p;
    let r = this.inflight.get(index);
    if (!r) {
      r = this.produce(index, p.prepared).finally(() => this.inflight.delete(index));
      this.inflight.set(index, r);
    }
    return r;
  }

  private fault(replica: number, index: number, reason: string): void {
    this.faultLog.push({ replica, index, reason, at: this.o.now() });
    if (this.faultLog.length > FAULTS_KEPT) this.faultLog.shift();
    this.o.log?.(logLine('warn', this.o.replicaId, 'tsa-fault', `replica ${replica}: ${reason}`, { peer: replica, index }));
  }

  private parse(peer: number, index: number, body: unknown): ThresholdRsaSignatureShare | string {
    if (typeof body !== 'object' || body === null) return 'answer is not a JSON object';
    const o = body as Record<string, unknown>;
    if (o['index'] !== index) return `answer is for position ${String(o['index'])}`;
    if (o['replica'] !== peer) return `answer names replica ${String(o['replica'])}`;
    const hex = o['share'];
    if (typeof hex !== 'string' || !/^(?:[0-9a-f]{2})+$/.test(hex)) return 'share: expected lower-case hex';
    try {
      const s = decodeSignatureShare(this.o.group.rsa!.publicKey, fromHex(hex));
      return s.signer === peer ? s : `share is signed as replica ${s.signer}`;
    } catch (e) {
      if (e instanceof CryptoError) return `share: ${e.message}`;
      throw e;
    }
  }

  private async produce(index: number, p: PreparedTimeStampToken): Promise<{ readonly ok: true; readonly reply: Uint8Array } | TsaRefusal> {
    const pk = this.o.group.rsa!.publicKey;
    const valid = new Map<number, ThresholdRsaSignatureShare>();
    const own = this.shareOf(index, p);
    if (verifyShare(pk, p.digest, own)) valid.set(this.o.me, own);
    else this.fault(this.o.me, index, 'own share does not verify against keys.rsa.verificationKeys (wrong SINTRA_KEY_SHARES.rsa?)');
    const qualified = (signers: Iterable<number>) => [...signers].length >= pk.threshold;
    const unreachable = await gatherShares<ThresholdRsaSignatureShare>({
      peers: this.o.group.replicas.map((x) => x.index).filter((i) => i !== this.o.me),
      get: this.o.get,
      path: `/v1/tsa/shares/${index}`,
      qualified,
      valid,
      notYet: 'not-ordered',
      parse: (peer, body) => this.parse(peer, index, body),
      check: (s) => (verifyShare(pk, p.digest, s) ? null : `RSA share for the token at position ${index} does not verify (its proof against keys.rsa.verificationKeys)`),
      fault: (peer, reason) => this.fault(peer, index, reason),
      now: this.o.now,
      deadline: this.o.now() + (this.o.gatherTimeoutMs ?? 10_000),
      retryMs: RETRY_MS,
    });
    if (!qualified(valid.keys())) {
      const signers = [...valid.keys()].sort((a, b) => a - b).join(',');
      return { ok: false, status: 503, code: 'signature-unavailable', message: `the token at position ${index}: valid shares from replicas [${signers}] are not ${pk.threshold}${unreachable.length ? ` (no share from ${unreachable.join('; ')})` : ''}` };
    }
    const c = combineShares(pk, p.digest, [...valid.values()]);
    const reply = assembleTimeStampReply(p, c.signature);
    this.remember(this.replies, index, reply);
    return { ok: true, reply };
  }
}

/** The adapters' one line: a TsaService when the group has a threshold RSA key and the replica its share. */
export function tsaServiceFor(
  group: Group,
  secrets: { readonly index: number; readonly id: string; readonly rsa?: ThresholdRsaKeyShare },
  entry: (index: number) => Promise<StoredEntry | undefined>,
  get: PeerGet | undefined,
  now: () => number,
  log?: (line: string) => void,
): TsaService | undefined {
  if (group.rsa === undefined || secrets.rsa === undefined || get === undefined) return undefined;
  return new TsaService({ group, me: secrets.index, replicaId: secrets.id, share: secrets.rsa, entry, get, now, ...(log ? { log } : {}) });
}

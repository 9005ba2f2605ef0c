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
import { pemToDer } from '../../shared/crypto/pem.ts';
import { assembleTimeStampReply, prepareTimeStampToken } from '../../shared/crypto/tsp.ts';
import type { PreparedTimeStampToken } from '../../shared/crypto/tsp.ts';
import { parseTimeStampQuery } from '../../shared/crypto/tsp-query.ts';
import { tsaPolicyOid } from '../../shared/crypto/tsp-policy.ts';
import type { ThresholdRsaKeyShare } from '../../shared/crypto/threshold-rsa.ts';
import type { Group } from '../../shared/config/group.ts';
import type { StoredEntry } from '../../shared/replica/storage.ts';
import { RsaDocuments, groupRsaShares } from './rsa-shares.ts';
import type { DocumentRefusal, RsaShareFault, RsaShareJson } from './rsa-shares.ts';
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
export type TsaShareJson = RsaShareJson;
export type TsaFault = RsaShareFault;

export type TsaRefusal = DocumentRefusal<'not-ordered' | 'not-a-query'>;

export class TsaService {
  readonly policy: string;
  private readonly certificate: Uint8Array;
  private readonly docs: RsaDocuments<PreparedTimeStampToken, Uint8Array, 'not-ordered' | 'not-a-query'>;

  constructor(private readonly o: TsaOptions) {
    if (o.group.rsa === undefined) throw new Error('TsaService: the group has no threshold RSA key');
    this.policy = tsaPolicyOid(o.group.groupId);
    this.certificate = pemToDer(o.group.rsa.tsaCertificate, 'CERTIFICATE');
    const rsa = groupRsaShares(o, { sharePath: (index) => `/v1/tsa/shares/${index}`, what: 'the token', faultEvent: 'tsa-fault' });
    this.docs = new RsaDocuments(rsa, (index) => this.build(index), (p, signature) => assembleTimeStampReply(p, signature));
  }

  faults(): readonly TsaFault[] {
    return this.docs.faults();
  }

  /** The token for the query at log position `index`, as this replica's own log determines it. */
  prepare(index: number): Promise<{ readonly ok: true; readonly prepared: PreparedTimeStampToken } | TsaRefusal> {
    return this.docs.prepare(index);
  }

  private async build(index: number): Promise<{ readonly ok: true; readonly prepared: PreparedTimeStampToken } | TsaRefusal> {
    if (!Number.isSafeInteger(index) || index < 0) return { ok: false, status: 404, code: 'not-ordered', message: `no log position ${index}` };
    const e = await this.o.entry(index);
    if (e === undefined) return { ok: false, status: 404, code: 'not-ordered', message: `log position ${index} is not in this replica's log (yet)` };
    const q = parseTimeStampQuery(e.entry, this.policy);
    if (!q.ok) return { ok: false, status: 404, code: 'not-a-query', message: `log position ${index} is not a time-stamp query this TSA grants (${q.failInfo}: ${q.text})` };
    return { ok: true, prepared: prepareTimeStampToken({ query: q.query, policy: this.policy, serial: BigInt(index), genTime: new Date(e.time), tsaCertificate: this.certificate }) };
  }

  /** This replica's share for the query at `index`: only for a query in its own log. */
  ownShare(index: number): Promise<{ readonly ok: true; readonly share: TsaShareJson } | TsaRefusal> {
    return this.docs.ownShare(index);
  }

  /** The granted TimeStampResp (DER) for the query at `index`: kept, or made now from a qualified set of shares. */
  async reply(index: number): Promise<{ readonly ok: true; readonly reply: Uint8Array } | TsaRefusal> {
    const r = await this.docs.document(index);
    return r.ok ? { ok: true, reply: r.document } : r;
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

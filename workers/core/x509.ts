/**
 * A replica's part in issuing X.509 certificates under the group's root CA (docs/ca.md, "X.509
 * certificates"). The CA application decides an x509 request at its place in the order and answers the
 * certificate's serial and validity (shared/app/ca.ts); every replica then builds the same TBSCertificate
 * from its own log entry (the CSR), its own recorded answer and the root certificate
 * (shared/crypto/x509-issue.ts prepareCertificate), and releases its threshold RSA share of it only for an
 * accepted request in its own state (GET /v1/ca/x509/shares/{index}). Asked for the certificate, a replica
 * gathers and checks t + 1 shares (rsa-shares.ts) and assembles it.
 *
 * Why a corrupt replica cannot get anything else signed with the root key: a qualified set needs an honest
 * replica's share, and an honest replica signs only a TBSCertificate it built itself for a request its own
 * CA accepted, whose key is the name's directory key and whose CSR that key signed.
 */
import { decodeCaRequest, decodeResponse, isCaEntry } from '../../shared/app/ca.ts';
import { fromBase64 } from '../../shared/crypto/bytes.ts';
import { parseCsr } from '../../shared/crypto/csr.ts';
import { pemToDer } from '../../shared/crypto/pem.ts';
import { assembleCertificate, certificateToPem, prepareCertificate } from '../../shared/crypto/x509-issue.ts';
import type { PreparedTbs } from '../../shared/crypto/x509-issue.ts';
import type { ThresholdRsaKeyShare } from '../../shared/crypto/threshold-rsa.ts';
import type { Group } from '../../shared/config/group.ts';
import type { StoredEntry } from '../../shared/replica/storage.ts';
import { RsaDocuments, groupRsaShares } from './rsa-shares.ts';
import type { DocumentRefusal, RsaShareFault, RsaShareJson } from './rsa-shares.ts';
import type { PeerGet } from './share-gather.ts';

export interface X509Options {
  readonly group: Group;
  readonly me: number;
  readonly replicaId: string;
  /** This replica's share of the group's RSA key (ReplicaSecrets.rsa). */
  readonly share: ThresholdRsaKeyShare;
  /** The log entry at `index`, if this replica's log has it. */
  readonly entry: (index: number) => Promise<StoredEntry | undefined>;
  /** The CA's recorded answer to the entry at `index`, once executed here. */
  readonly response: (index: number) => Promise<Uint8Array | undefined>;
  readonly get: PeerGet;
  readonly now: () => number;
  readonly randomBytes?: (n: number) => Uint8Array;
  readonly log?: (line: string) => void;
  readonly gatherTimeoutMs?: number;
}

/** not-ordered: no such position (or not executed) here yet; not-issued: not an accepted x509 request. */
export type X509Refusal = DocumentRefusal<'not-ordered' | 'not-issued'>;

export class X509Service {
  private readonly root: Uint8Array;
  private readonly docs: RsaDocuments<PreparedTbs, string, 'not-ordered' | 'not-issued'>;

  constructor(private readonly o: X509Options) {
    if (o.group.rsa === undefined) throw new Error('X509Service: the group has no threshold RSA key');
    this.root = pemToDer(o.group.rsa.rootCertificate, 'CERTIFICATE');
    const rsa = groupRsaShares(o, { sharePath: (index) => `/v1/ca/x509/shares/${index}`, what: 'the certificate', faultEvent: 'x509-fault' });
    const pk = o.group.rsa.publicKey;
    this.docs = new RsaDocuments(rsa, (index) => this.build(index), (p, signature) => certificateToPem(assembleCertificate(p.tbsDer, signature, pk)));
  }

  faults(): readonly RsaShareFault[] {
    return this.docs.faults();
  }

  /** The TBSCertificate of the x509 request at log position `index`, as this replica's own state determines it. */
  prepare(index: number): Promise<{ readonly ok: true; readonly prepared: PreparedTbs } | X509Refusal> {
    return this.docs.prepare(index);
  }

  private async build(index: number): Promise<{ readonly ok: true; readonly prepared: PreparedTbs } | X509Refusal> {
    if (!Number.isSafeInteger(index) || index < 0) return { ok: false, status: 404, code: 'not-ordered', message: `no log position ${index}` };
    const e = await this.o.entry(index);
    if (e === undefined) return { ok: false, status: 404, code: 'not-ordered', message: `log position ${index} is not in this replica's log (yet)` };
    let csr: Uint8Array | null = null;
    try {
      const req = isCaEntry(e.entry) ? decodeCaRequest(e.entry) : null;
      if (req?.op === 'x509') csr = fromBase64(req.csr);
    } catch {
      csr = null;
    }
    if (csr === null) return { ok: false, status: 404, code: 'not-issued', message: `log position ${index} is not an x509 request` };
    const bytes = await this.o.response(index);
    if (bytes === undefined) return { ok: false, status: 404, code: 'not-ordered', message: `the x509 request at position ${index} is not executed here yet` };
    const r = decodeResponse(bytes);
    if (!r.ok) return { ok: false, status: 404, code: 'not-issued', message: `the CA refused the x509 request at position ${index}: ${r.error.code}: ${r.error.message}` };
    if (!('x509' in r)) return { ok: false, status: 404, code: 'not-issued', message: `log position ${index} is not an x509 request` };
    // The CA accepted exactly this CSR, so it parses; the answer fixes serial and validity.
    return { ok: true, prepared: prepareCertificate({ csr: parseCsr(csr), serial: BigInt(r.x509.serial), notBefore: new Date(r.x509.notBefore), notAfter: new Date(r.x509.notAfter), issuer: this.root }) };
  }

  /** This replica's share for the certificate at `index`: only for a request its own CA accepted. */
  ownShare(index: number): Promise<{ readonly ok: true; readonly share: RsaShareJson } | X509Refusal> {
    return this.docs.ownShare(index);
  }

  /** The certificate (PEM) for the x509 request at `index`: kept, or made now from a qualified set of shares. */
  async certificate(index: number): Promise<{ readonly ok: true; readonly pem: string } | X509Refusal> {
    const r = await this.docs.document(index);
    return r.ok ? { ok: true, pem: r.document } : r;
  }
}

/** The adapters' one line: an X509Service when the group has a threshold RSA key and the replica its share. */
export function x509ServiceFor(
  group: Group,
  secrets: { readonly index: number; readonly id: string; readonly rsa?: ThresholdRsaKeyShare },
  entry: (index: number) => Promise<StoredEntry | undefined>,
  response: (index: number) => Promise<Uint8Array | undefined>,
  get: PeerGet | undefined,
  now: () => number,
  log?: (line: string) => void,
): X509Service | undefined {
  if (group.rsa === undefined || secrets.rsa === undefined || get === undefined) return undefined;
  return new X509Service({ group, me: secrets.index, replicaId: secrets.id, share: secrets.rsa, entry, response, get, now, ...(log ? { log } : {}) });
}

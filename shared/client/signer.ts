/**
 * Offline checks of what the signing service answers (docs/signer.md), with group.json alone:
 *
 * - A signature document (GET /v1/sign/{id}, `sintra sign --out`), format sintra-edge/signature@1:
 *     {"format","groupId","id","purpose","client","message" (base64),"signature" (hex, 48 bytes),
 *      "dst","receipt" (the receipt of the request's log entry, or null before a checkpoint covers it)}
 *   valid when the signature verifies under the group key (keys.kernel.groupKey) with the purpose's DST
 *   over the message (shared/crypto/group-sign.ts), and, with a receipt, when the receipt verifies and its
 *   entry is this very sign request (its SHA-256 is `id`; its client, purpose and message are these).
 * - A policy statement (GET /v1/sign/policy), format sintra-edge/signer-policy@1:
 *     {"format","groupId","policy" (the policy object),"apps" ([{name, digest}]),"checkpoint"}
 *   valid when the checkpoint is the group's, the app digests give its state digest, and the signer's
 *   digest is the one of this policy's canonical bytes: the group states that this policy was in force at
 *   the end of the checkpoint's epoch.
 */
import { bytesEqual, fromBase64, fromHex, toBase64, toHex } from '../crypto/bytes.ts';
import { sha256 } from '../crypto/sha256.ts';
import { signingDst, verifyGroupSignature } from '../crypto/group-sign.ts';
import { SIGNER_APP, parseSignerEntry, signerDigest } from '../app/signer.ts';
import { encodeSignerPolicy, parseSignerPolicy } from '../app/signer-policy.ts';
import type { SignerPolicy } from '../app/signer-policy.ts';
import { appDigestsFromJson, computeStateDigest } from '../app/state.ts';
import { checkpointFromJson, verifyCheckpoint } from '../log/checkpoint.ts';
import type { SignedCheckpoint, ReceiptJson } from '../log/checkpoint.ts';
import { checkReceipt } from '../log/receipt-check.ts';
import type { Group } from '../config/group.ts';

export const SIGNATURE_FORMAT = 'sintra-edge/signature@1';
export const POLICY_STATEMENT_FORMAT = 'sintra-edge/signer-policy@1';

export interface SignatureDocument {
  readonly format: typeof SIGNATURE_FORMAT;
  readonly groupId: string;
  readonly id: string;
  readonly purpose: string;
  readonly client: string;
  readonly message: string;
  readonly signature: string;
  readonly dst: string;
  readonly receipt: ReceiptJson | null;
}

export type SignatureVerdict =
  | { readonly ok: true; readonly purpose: string; readonly client: string; readonly message: Uint8Array; readonly index: number | null; readonly logged: boolean }
  | { readonly ok: false; readonly reason: string };

const SIGNATURE_FIELDS = ['format', 'groupId', 'id', 'purpose', 'client', 'message', 'signature', 'dst', 'receipt'];

/** The signature document of an accepted request (what GET /v1/sign/{id} serves). */
export function signatureDocument(groupId: Uint8Array, d: { id: string; purpose: string; client: string; message: Uint8Array; signature: Uint8Array; receipt: ReceiptJson | null }): SignatureDocument {
  return {
    format: SIGNATURE_FORMAT,
    groupId: toHex(groupId),
    id: d.id,
    purpose: d.purpose,
    client: d.client,
    message: toBase64(d.message),
    signature: toHex(d.signature),
    dst: signingDst(groupId, d.purpose),
    receipt: d.receipt,
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks a signature document (object or JSON text) against the pinned group. `requireReceipt`: refuse a
 * document whose log entry is not proven yet (receipt null). Never throws.
 */
export function verifySignatureDocument(group: Group, doc: unknown, options: { readonly requireReceipt?: boolean; readonly message?: Uint8Array } = {}): SignatureVerdict {
  const no = (reason: string): SignatureVerdict => ({ ok: false, reason });
  try {
    if (typeof doc === 'string') {
      try {
        doc = JSON.parse(doc);
      } catch {
        return no('not JSON');
      }
    }
    if (!isObject(doc)) return no('expected a JSON object');
    const keys = Object.keys(doc);
    if (keys.length !== SIGNATURE_FIELDS.length || !SIGNATURE_FIELDS.every((f) => Object.hasOwn(doc as object, f))) return no(`expected exactly the fields ${SIGNATURE_FIELDS.join(', ')}`);
    const d = doc as Record<string, unknown>;
    if (d['format'] !== SIGNATURE_FORMAT) return no(`format: expected ${JSON.stringify(SIGNATURE_FORMAT)}`);
    if (d['groupId'] !== toHex(group.groupId)) return no('groupId: not this group');
    const purpose = d['purpose'];
    const client = d['client'];
    const id = d['id'];
    if (typeof purpose !== 'string' || typeof client !== 'string' || typeof id !== 'string' || !/^[0-9a-f]{64}$/.test(id)) return no('id, purpose and client: expected strings (id: 64 hex)');
    let dst: string;
    try {
      dst = signingDst(group.groupId, purpose);
    } catch (e) {
      return no(`purpose: ${e instanceof Error ? e.message : 'invalid'}`);
    }
    if (d['dst'] !== dst) return no('dst: not the DST of this group and purpose');
    const message = typeof d['message'] === 'string' ? fromBase64(d['message']) : null;
    if (message === null) return no('message: expected standard padded base64');
    if (options.message !== undefined && !bytesEqual(options.message, message)) return no('the document signs another message than the one given');
    let signature: Uint8Array;
    try {
      signature = fromHex(d['signature'] as string, 48);
    } catch {
      return no('signature: expected 48 bytes of lower-case hex');
    }
    if (group.signer === undefined) return no('the group has no signing service (group.json has no signer)');
    if (!verifyGroupSignature(group.kernel.groupKey, group.groupId, purpose, message, signature)) return no('the signature does not verify under the group key for this purpose and message');
    if (d['receipt'] === null) {
      if (options.requireReceipt) return no('no receipt: the log entry is not covered by a signed checkpoint yet');
      return { ok: true, purpose, client, message, index: null, logged: false };
    }
    const r = checkReceipt(d['receipt'], group);
    if (!r.ok) return no(`receipt: ${r.reason}`);
    const entry = r.receipt.entry;
    if (toHex(sha256(entry)) !== id) return no('receipt: its entry is not request id');
    const p = parseSignerEntry(entry);
    if (p === null || !p.ok || p.op !== 'sign') return no('receipt: its entry is not a sign request');
    if (p.request.purpose !== purpose || p.request.client !== client || !bytesEqual(p.request.message, message)) return no('receipt: its entry is for another purpose, client or message');
    return { ok: true, purpose, client, message, index: r.receipt.index, logged: true };
  } catch (e) {
    return no(e instanceof Error ? e.message : 'malformed document');
  }
}

export interface PolicyStatementJson {
  readonly format: typeof POLICY_STATEMENT_FORMAT;
  readonly groupId: string;
  readonly policy: SignerPolicy;
  readonly apps: readonly { readonly name: string; readonly digest: string }[];
  readonly checkpoint: unknown;
}

export type PolicyVerdict =
  | { readonly ok: true; readonly policy: SignerPolicy; readonly epoch: number; readonly size: number; readonly checkpoint: SignedCheckpoint }
  | { readonly ok: false; readonly reason: string };

/** Checks a policy statement (object or JSON text) against the pinned group. Never throws. */
export function verifyPolicyStatement(group: Group, statement: unknown): PolicyVerdict {
  const no = (reason: string): PolicyVerdict => ({ ok: false, reason });
  try {
    if (typeof statement === 'string') {
      try {
        statement = JSON.parse(statement);
      } catch {
        return no('not JSON');
      }
    }
    if (!isObject(statement)) return no('expected a JSON object');
    const s = statement;
    const fields = ['format', 'groupId', 'policy', 'apps', 'checkpoint'];
    if (Object.keys(s).length !== fields.length || !fields.every((f) => Object.hasOwn(s, f))) return no(`expected exactly the fields ${fields.join(', ')}`);
    if (s['format'] !== POLICY_STATEMENT_FORMAT) return no(`format: expected ${JSON.stringify(POLICY_STATEMENT_FORMAT)}`);
    if (s['groupId'] !== toHex(group.groupId)) return no('groupId: not this group');
    let policy: SignerPolicy;
    try {
      policy = parseSignerPolicy(s['policy']);
    } catch (e) {
      return no(e instanceof Error ? e.message : 'policy: invalid');
    }
    const apps = appDigestsFromJson(s['apps']);
    if (typeof apps === 'string') return no(apps);
    let checkpoint: SignedCheckpoint;
    try {
      checkpoint = checkpointFromJson(s['checkpoint']);
    } catch (e) {
      return no(`checkpoint: ${e instanceof Error ? e.message : 'malformed'}`);
    }
    if (!verifyCheckpoint(group.kernel.groupKey, group.groupId, checkpoint)) return no('the checkpoint signature does not verify with the group key');
    if (!bytesEqual(computeStateDigest(checkpoint.root, apps), checkpoint.stateDigest)) return no('the app digests do not give the checkpoint state digest');
    const mine = apps.find((a) => a.name === SIGNER_APP);
    if (!mine) return no('apps: no "signer" entry');
    if (!bytesEqual(mine.digest, signerDigest(encodeSignerPolicy(policy)))) return no("the signer's digest is not the one of this policy");
    return { ok: true, policy, epoch: checkpoint.epoch, size: checkpoint.size, checkpoint };
  } catch (e) {
    return no(e instanceof Error ? e.message : 'malformed statement');
  }
}

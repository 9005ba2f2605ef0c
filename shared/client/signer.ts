/**
 * Offline checks of what the signing service answers (docs/signer.md), with group.json alone:
 *
 * - A signature document (GET /v1/sign/{id}, `sintra sign --out`), format sintra-edge/signature@1:
 *     {"format","groupId","id","purpose","client","message" (base64),"scheme","signature" (hex),
 *      "dst","receipt" (the receipt of the request's log entry, or null before a checkpoint covers it)}
 *   valid when the signature verifies: scheme "bls", under the group key (keys.kernel.groupKey) with the
 *   purpose's DST over the message (shared/crypto/group-sign.ts); scheme "rsa-pkcs1-sha256", as
 *   RSASSA-PKCS1-v1_5 with SHA-256 under keys.signerRsa (dst null); and, with a receipt, when the receipt verifies and its
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
import { RSA_PSS_SCHEME, RSA_SIGN_SCHEME, encodeSignerPolicy, isRsaScheme, parseSignerPolicy } from '../app/signer-policy.ts';
import type { RsaScheme } from '../app/signer-policy.ts';
import { modulusBytes, rsaPssVerify, rsaVerify } from '../crypto/rsa.ts';
import type { SignerPolicy } from '../app/signer-policy.ts';
import { checkedAppDigest } from '../app/state.ts';

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
  /** `bls` (the kernel key, the DST below) or `rsa-pkcs1-sha256` (keys.signerRsa; dst null). */
  readonly scheme: SignatureScheme;
  readonly signature: string;
  readonly dst: string | null;
  readonly receipt: ReceiptJson | null;
}

export type SignatureVerdict =
  | { readonly ok: true; readonly purpose: string; readonly client: string; readonly message: Uint8Array; readonly scheme: SignatureScheme; readonly index: number | null; readonly logged: boolean }
  | { readonly ok: false; readonly reason: string };

const SIGNATURE_FIELDS = ['format', 'groupId', 'id', 'purpose', 'client', 'message', 'scheme', 'signature', 'dst', 'receipt'];

export type SignatureScheme = 'bls' | RsaScheme;

/** The signature document of an accepted request (what GET /v1/sign/{id} serves). */
export function signatureDocument(
  groupId: Uint8Array,
  d: { id: string; purpose: string; client: string; message: Uint8Array; scheme: SignatureScheme; signature: Uint8Array; receipt: ReceiptJson | null },
): SignatureDocument {
  return {
    format: SIGNATURE_FORMAT,
    groupId: toHex(groupId),
    id: d.id,
    purpose: d.purpose,
    client: d.client,
    message: toBase64(d.message),
    scheme: d.scheme,
    signature: toHex(d.signature),
    dst: d.scheme === 'bls' ? signingDst(groupId, d.purpose) : null,
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
    const scheme = d['scheme'];
    if (scheme !== 'bls' && !isRsaScheme(scheme)) return no(`scheme: expected "bls", "${RSA_SIGN_SCHEME}" or "${RSA_PSS_SCHEME}"`);
    if (d['dst'] !== (scheme === 'bls' ? dst : null)) return no(scheme === 'bls' ? 'dst: not the DST of this group and purpose' : 'dst: null for an RSA signature');
    const message = typeof d['message'] === 'string' ? fromBase64(d['message']) : null;
    if (message === null) return no('message: expected standard padded base64');
    if (options.message !== undefined && !bytesEqual(options.message, message)) return no('the document signs another message than the one given');
    if (group.signer === undefined) return no('the group has no signing service (group.json has no signer)');
    const rsaKey = group.signerRsa;
    if (scheme !== 'bls' && rsaKey === undefined) return no('the group has no signing RSA key (keys.signerRsa)');
    const length = scheme === 'bls' ? 48 : modulusBytes(rsaKey!.n);
    let signature: Uint8Array;
    try {
      signature = fromHex(d['signature'] as string, length);
    } catch {
      return no(`signature: expected ${length} bytes of lower-case hex`);
    }
    const valid =
      scheme === 'bls'
        ? verifyGroupSignature(group.kernel.groupKey, group.groupId, purpose, message, signature)
        : scheme === RSA_PSS_SCHEME
          ? rsaPssVerify(rsaKey!, message, signature)
          : rsaVerify(rsaKey!, message, signature);
    if (!valid) return no(`the signature does not verify under the group's ${scheme === 'bls' ? 'key for this purpose' : 'signing RSA key'} and message`);
    if (d['receipt'] === null) {
      if (options.requireReceipt) return no('no receipt: the log entry is not covered by a signed checkpoint yet');
      return { ok: true, purpose, client, message, scheme, index: null, logged: false };
    }
    const r = checkReceipt(d['receipt'], group);
    if (!r.ok) return no(`receipt: ${r.reason}`);
    const entry = r.receipt.entry;
    if (toHex(sha256(entry)) !== id) return no('receipt: its entry is not request id');
    const p = parseSignerEntry(entry);
    if (p === null || !p.ok || p.op !== 'sign') return no('receipt: its entry is not a sign request');
    if (p.request.purpose !== purpose || p.request.client !== client || !bytesEqual(p.request.message, message)) return no('receipt: its entry is for another purpose, client or message');
    return { ok: true, purpose, client, message, scheme, index: r.receipt.index, logged: true };
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
    const stated = checkedAppDigest(group, s['apps'], s['checkpoint'], SIGNER_APP);
    if (typeof stated === 'string') return no(stated);
    const { checkpoint } = stated;
    if (!bytesEqual(stated.digest, signerDigest(encodeSignerPolicy(policy)))) return no("the signer's digest is not the one of this policy");
    return { ok: true, policy, epoch: checkpoint.epoch, size: checkpoint.size, checkpoint };
  } catch (e) {
    return no(e instanceof Error ? e.message : 'malformed statement');
  }
}

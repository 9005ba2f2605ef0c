/**
 * The signing service as a replicated application (docs/signer.md; Cachin, "Distributing trust on the
 * Internet", DSN 2001, section 5: a service whose requests are ordered by atomic broadcast and answered
 * with threshold signatures). A client's request to have the group sign a message is ordered like any
 * other; every replica checks it against the replicated policy (signer-policy.ts) at its place in the
 * order, and records the outcome. Only then, and only for an accepted request, does a replica release its
 * share of the group's BLS signature (workers/core/signer.ts; shared/crypto/group-sign.ts): so no set of
 * corrupt replicas can get a signature the policy refuses, and every signature the group ever issued is
 * a log entry (the transparency log is the audit trail).
 *
 * Entries: canonical JSON (signer-policy.ts canonicalJson: keys sorted), so each starts with
 * `{"app":"signer",` and has one encoding, which the request id (SHA-256 of the entry) names:
 *
 *   {"app":"signer","client":C,"message":B64,"nonce":HEX?,"op":"sign","purpose":P,"sig":HEX}
 *     sig: the client's Ed25519 signature of
 *          frame('sintra-edge/signer/sign@1', group id, C, P, message, nonce bytes (empty if none))
 *   {"app":"signer","op":"policy","policy":{...},"sigs":{ADMIN:HEX,...}}
 *     each sig: an administrator's (of the policy in force) Ed25519 signature of
 *          frame('sintra-edge/signer/policy@1', group id, canonical bytes of the new policy);
 *     at least the threshold of the policy in force; the new policy's version is the current one's + 1
 *     (so an old change cannot be replayed).
 *   {"app":"signer","count":K,"op":"audit","round":R} and {"app":"signer","audit":ID,"op":"reveal","signature":HEX}:
 *     a random audit sample of the accepted sign requests, bound to a beacon round (signer-audit.ts).
 *
 * State (AppState), exact bytes:
 *   policy             the canonical bytes of the policy in force (absent: the group's initial policy)
 *   h/<version, 16 hex> u64(epoch from whose end it is in force; the epoch of the change) ‖ canonical bytes,
 *                      for every version after the initial one (statements about a checkpoint's epoch)
 *   r/<request id>     the outcome, canonical JSON: {"client","epoch","index","ok":true,"op":"sign","purpose"},
 *                      {"client","code","epoch","index","message","ok":false,"op":"sign","purpose"}, or for a
 *                      policy change {"epoch","index","ok":true,"op":"policy","version"} or
 *                      {"code","epoch","index","message","ok":false,"op":"policy","version"}
 *   c/<client>         u64 epochs of the client's latest accepted signatures (at most its rate's count)
 *   n                  u64 count of accepted sign requests; a/<ordinal, 16 hex> the request id (32 bytes)
 *                      of each, in log order (the population of audit samples)
 * The state digest is SHA-256(frame('sintra-edge/signer-state@1', SHA-256(policy in force))). Why only the
 * policy: the outcomes are a function of the log, which the checkpoint's root commits to; the policy is
 * what a client asks the group to state (GET /v1/sign/policy), and it changes rarely, so a statement about
 * the latest checkpoint's epoch needs only the policy history above.
 */
import { bytesEqual, frame, fromBase64, fromHex, toBase64, toHex } from '../crypto/bytes.ts';
import { sha256 } from '../crypto/sha256.ts';
import { ed25519Verifier } from '../crypto/ed25519.ts';
import { isPurpose } from '../crypto/group-sign.ts';
import { NAME_PATTERN, SignerPolicyError, isRsaScheme, canonicalJson, decodeSignerPolicy, encodeSignerPolicy, parseSignerPolicy, policyRefusal } from './signer-policy.ts';
import type { RsaScheme, SignerPolicy } from './signer-policy.ts';
import type { AppPosition, AppState, ReplicatedApp } from './types.ts';
import { MAX_AUDIT_COUNT, auditFieldsError, auditSample, beaconRoundRandomness, ordinalKey, revealFieldsError } from './signer-audit.ts';
import type { AuditRequest, RevealRequest } from './signer-audit.ts';
import type { G2Point } from '../crypto/curve.ts';

export const SIGNER_APP = 'signer';
export const SIGNER_ENTRY_PREFIX = '{"app":"signer",';
const ENTRY_PREFIX = new TextEncoder().encode(SIGNER_ENTRY_PREFIX);
export const SIGN_MESSAGE_LABEL = 'sintra-edge/signer/sign@1';
export const POLICY_MESSAGE_LABEL = 'sintra-edge/signer/policy@1';
export const SIGNER_STATE_VERSION = 'sintra-edge/signer-state@1';

export interface SignRequest {
  readonly client: string;
  readonly purpose: string;
  readonly message: Uint8Array;
  /** Lower-case hex, 1-64 bytes: makes the entry unique when a client wants to tell two requests apart. */
  readonly nonce?: string;
  /** 128 lower-case hex: the client's Ed25519 signature (signMessageBytes). */
  readonly sig: string;
}

export interface PolicyRequest {
  readonly policy: SignerPolicy;
  /** Administrator name -> 128 lower-case hex signature (policyMessageBytes). */
  readonly sigs: Readonly<Record<string, string>>;
}

/**
 * A request's outcome, as recorded: client and purpose for sign requests, version for policy changes;
 * count, round, population and (once revealed) the sampled request ids for audits; the audit for reveals.
 */
export interface SignOutcome {
  readonly op: 'sign' | 'policy' | 'audit' | 'reveal';
  readonly client?: string;
  readonly purpose?: string;
  readonly version?: number;
  readonly count?: number;
  readonly round?: number;
  readonly population?: number;
  readonly sample?: readonly string[];
  readonly audit?: string;
  /** An accepted sign request of an RSA purpose: its scheme (absent: BLS), as the policy said then. */
  readonly scheme?: RsaScheme;
  readonly index: number;
  readonly epoch: number;
  readonly ok: boolean;
  readonly code?: string;
  readonly message?: string;
}

export class SignerRequestError extends Error {
  override readonly name = 'SignerRequestError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const NONCE_HEX = /^(?:[0-9a-f]{2}){1,64}$/;
const SIG_HEX = /^[0-9a-f]{128}$/;

/** The bytes a client signs for a sign request. */
export function signMessageBytes(groupId: Uint8Array, client: string, purpose: string, message: Uint8Array, nonce?: string): Uint8Array {
  return frame(SIGN_MESSAGE_LABEL, groupId, client, purpose, message, nonce !== undefined ? fromHex(nonce) : new Uint8Array(0));
}

export const PSS_SALT_LABEL = 'sintra-edge/signer/pss-salt@1';

/**
 * The salt of an RSA-PSS signature on request `id` (64 hex): every replica's share must encode the same
 * message representative, so the salt is derived, not drawn: SHA-256(frame(PSS_SALT_LABEL, id bytes)).
 */
export function signerPssSalt(id: string): Uint8Array {
  return sha256(frame(PSS_SALT_LABEL, fromHex(id, 32)));
}

/** The bytes each administrator signs for a policy change. */
export function policyMessageBytes(groupId: Uint8Array, policy: SignerPolicy): Uint8Array {
  return frame(POLICY_MESSAGE_LABEL, groupId, encodeSignerPolicy(policy));
}

function checkSignFields(r: SignRequest): void {
  if (typeof r.client !== 'string' || !NAME_PATTERN.test(r.client)) throw new SignerRequestError('bad-client', 'client: 1-64 of a-z, 0-9, ".", "_", "-"');
  if (!isPurpose(r.purpose)) throw new SignerRequestError('bad-purpose', 'purpose: 1-64 of a-z, 0-9, ".", "_", "-"');
  if (!(r.message instanceof Uint8Array)) throw new SignerRequestError('bad-message', 'message: bytes');
  if (r.nonce !== undefined && (typeof r.nonce !== 'string' || !NONCE_HEX.test(r.nonce))) throw new SignerRequestError('bad-nonce', 'nonce: 1 to 64 bytes of lower-case hex');
  if (typeof r.sig !== 'string' || !SIG_HEX.test(r.sig)) throw new SignerRequestError('bad-signature', 'sig: 64 bytes of lower-case hex');
}

/** The canonical entry of a sign request (throws SignerRequestError for a malformed field). */
export function encodeSignEntry(r: SignRequest): Uint8Array {
  checkSignFields(r);
  const o: Record<string, string> = { app: SIGNER_APP, client: r.client, message: toBase64(r.message), op: 'sign', purpose: r.purpose, sig: r.sig };
  if (r.nonce !== undefined) o['nonce'] = r.nonce;
  return new TextEncoder().encode(canonicalJson(o));
}

/** The canonical entry of a policy change (throws SignerPolicyError or SignerRequestError). */
export function encodePolicyEntry(r: PolicyRequest): Uint8Array {
  const policy = parseSignerPolicy(r.policy);
  const sigs: Record<string, string> = {};
  const names = Object.keys(r.sigs);
  if (names.length === 0) throw new SignerRequestError('bad-signature', 'sigs: at least one administrator signature');
  for (const n of names) {
    if (!NAME_PATTERN.test(n) || !SIG_HEX.test(r.sigs[n] ?? '')) throw new SignerRequestError('bad-signature', `sigs.${n}: an administrator name and 64 bytes of lower-case hex`);
    sigs[n] = r.sigs[n]!;
  }
  return new TextEncoder().encode(canonicalJson({ app: SIGNER_APP, op: 'policy', policy: policy as never, sigs }));
}

/**
 * Why the policy refuses sign request `r` apart from rates: an unknown client, a signature that is not
 * the client's, or policyRefusal's reasons; null if it accepts it. The application decides with it at the
 * request's place in the order, the route before ordering (against the policy in force there).
 */
export function signRefusal(groupId: Uint8Array, policy: SignerPolicy, r: SignRequest): { readonly code: string; readonly message: string } | null {
  const client = Object.hasOwn(policy.clients, r.client) ? policy.clients[r.client] : undefined;
  if (client === undefined) return { code: 'unknown-client', message: `no client ${r.client} in policy version ${policy.version}` };
  if (!ed25519Verifier(fromHex(client.publicKey))(signMessageBytes(groupId, r.client, r.purpose, r.message, r.nonce), fromHex(r.sig))) {
    return { code: 'bad-signature', message: `sig is not client ${r.client}'s signature of this request` };
  }
  return policyRefusal(policy, r.client, r.purpose, r.message);
}

/** The canonical entry of an audit schedule (throws SignerRequestError for a malformed field). */
export function encodeAuditEntry(r: AuditRequest): Uint8Array {
  const bad = auditFieldsError(r);
  if (bad !== null) throw new SignerRequestError('bad-audit', bad);
  return new TextEncoder().encode(canonicalJson({ app: SIGNER_APP, count: r.count, op: 'audit', round: r.round }));
}

/** The canonical entry of an audit's reveal (throws SignerRequestError for a malformed field). */
export function encodeRevealEntry(r: RevealRequest): Uint8Array {
  const bad = revealFieldsError(r);
  if (bad !== null) throw new SignerRequestError('bad-reveal', bad);
  return new TextEncoder().encode(canonicalJson({ app: SIGNER_APP, audit: r.audit, op: 'reveal', signature: r.signature }));
}

/** Builds and signs a sign request with the client's Ed25519 signing function. */
export function signRequest(groupId: Uint8Array, client: string, purpose: string, message: Uint8Array, sign: (m: Uint8Array) => Uint8Array, nonce?: string): Uint8Array {
  const fields = { client, purpose, message, ...(nonce !== undefined ? { nonce } : {}) };
  checkSignFields({ ...fields, sig: '0'.repeat(128) });
  return encodeSignEntry({ ...fields, sig: toHex(sign(signMessageBytes(groupId, client, purpose, message, nonce))) });
}

export type ParsedSignerEntry =
  | { readonly ok: true; readonly op: 'sign'; readonly request: SignRequest }
  | { readonly ok: true; readonly op: 'policy'; readonly request: PolicyRequest }
  | { readonly ok: true; readonly op: 'audit'; readonly request: AuditRequest }
  | { readonly ok: true; readonly op: 'reveal'; readonly request: RevealRequest }
  | { readonly ok: false; readonly code: string; readonly error: string };

function startsWithPrefix(entry: Uint8Array): boolean {
  if (entry.length < ENTRY_PREFIX.length) return false;
  for (let i = 0; i < ENTRY_PREFIX.length; i++) if (entry[i] !== ENTRY_PREFIX[i]) return false;
  return true;
}

/** null: not a signer entry. Otherwise the request, or why it is refused. Never throws. */
export function parseSignerEntry(entry: Uint8Array): ParsedSignerEntry | null {
  if (!startsWithPrefix(entry)) return null;
  let o: unknown;
  try {
    o = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(entry));
  } catch {
    return { ok: false, code: 'malformed', error: 'not UTF-8 JSON' };
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return { ok: false, code: 'malformed', error: 'not a JSON object' };
  const r = o as Record<string, unknown>;
  let canonical: Uint8Array;
  let parsed: ParsedSignerEntry;
  try {
    if (r['op'] === 'sign') {
      if (Object.keys(r).some((k) => !['app', 'client', 'message', 'nonce', 'op', 'purpose', 'sig'].includes(k))) return { ok: false, code: 'malformed', error: 'unknown field' };
      const message = typeof r['message'] === 'string' ? fromBase64(r['message']) : null;
      if (message === null) return { ok: false, code: 'bad-message', error: 'message: standard padded base64' };
      const request: SignRequest = {
        client: r['client'] as string,
        purpose: r['purpose'] as string,
        message,
        sig: r['sig'] as string,
        ...(r['nonce'] !== undefined ? { nonce: r['nonce'] as string } : {}),
      };
      canonical = encodeSignEntry(request);
      parsed = { ok: true, op: 'sign', request };
    } else if (r['op'] === 'policy') {
      if (Object.keys(r).some((k) => !['app', 'op', 'policy', 'sigs'].includes(k))) return { ok: false, code: 'malformed', error: 'unknown field' };
      const sigs = r['sigs'];
      if (typeof sigs !== 'object' || sigs === null || Array.isArray(sigs)) return { ok: false, code: 'bad-signature', error: 'sigs: an object' };
      const request: PolicyRequest = { policy: parseSignerPolicy(r['policy']), sigs: sigs as Record<string, string> };
      canonical = encodePolicyEntry(request);
      parsed = { ok: true, op: 'policy', request };
    } else if (r['op'] === 'audit') {
      if (Object.keys(r).some((k) => !['app', 'count', 'op', 'round'].includes(k))) return { ok: false, code: 'malformed', error: 'unknown field' };
      const request: AuditRequest = { count: r['count'] as number, round: r['round'] as number };
      canonical = encodeAuditEntry(request);
      parsed = { ok: true, op: 'audit', request };
    } else if (r['op'] === 'reveal') {
      if (Object.keys(r).some((k) => !['app', 'audit', 'op', 'signature'].includes(k))) return { ok: false, code: 'malformed', error: 'unknown field' };
      const request: RevealRequest = { audit: r['audit'] as string, signature: r['signature'] as string };
      canonical = encodeRevealEntry(request);
      parsed = { ok: true, op: 'reveal', request };
    } else {
      return { ok: false, code: 'malformed', error: 'unknown op (only "sign", "policy", "audit" and "reveal")' };
    }
  } catch (e) {
    if (e instanceof SignerRequestError) return { ok: false, code: e.code, error: e.message };
    if (e instanceof SignerPolicyError) return { ok: false, code: 'bad-policy', error: e.message };
    return { ok: false, code: 'malformed', error: 'malformed request' };
  }
  if (!bytesEqual(canonical, entry)) return { ok: false, code: 'malformed', error: 'not in canonical form' };
  return parsed;
}

function u64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n));
  return b;
}

function readU64(b: Uint8Array, at: number): number {
  return Number(new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(at));
}

const POLICY_KEY = 'policy';
/** u64 count of accepted sign requests; `a/<ordinal>` holds each one's request id (signer-audit.ts). */
const COUNT_KEY = 'n';
const historyKey = (version: number): string => `h/${version.toString(16).padStart(16, '0')}`;
const outcomeKey = (id: string): string => `r/${id}`;
const rateKey = (client: string): string => `c/${client}`;

function response(o: Record<string, string | number | boolean>): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(o));
}

function encodeOutcome(o: SignOutcome): Uint8Array {
  return new TextEncoder().encode(canonicalJson(o as never));
}

function decodeOutcome(b: Uint8Array): SignOutcome {
  const o = JSON.parse(new TextDecoder().decode(b)) as SignOutcome;
  if (typeof o !== 'object' || o === null || !['sign', 'policy', 'audit', 'reveal'].includes(o.op) || typeof o.ok !== 'boolean' || !Number.isSafeInteger(o.index) || !Number.isSafeInteger(o.epoch)) throw new RangeError('stored signer outcome is malformed');
  return o;
}

export interface SignerAppOptions {
  readonly groupId: Uint8Array;
  /** The group's initial policy (group.json `signer.policy`). */
  readonly policy: SignerPolicy;
  /** The randomness beacon's group key (keys.beacon), for audit samples; absent: audits are refused. */
  readonly beaconKey?: G2Point;
  /** Whether the group has the signing RSA key (keys.signerRsa); without it, RSA purposes are refused. */
  readonly rsa?: boolean;
}

export class SignerApp implements ReplicatedApp {
  readonly name = SIGNER_APP;
  private readonly groupId: Uint8Array;
  private readonly initial: Uint8Array;
  private readonly beaconKey: G2Point | undefined;
  private readonly rsa: boolean;
  private readonly parsed = new WeakMap<Uint8Array, ParsedSignerEntry | null>();
  /** Policy bytes -> parsed (the policy changes rarely; each apply would parse it again). */
  private cache: { bytes: Uint8Array; policy: SignerPolicy } | null = null;

  constructor(o: SignerAppOptions) {
    this.groupId = o.groupId;
    this.beaconKey = o.beaconKey;
    this.rsa = o.rsa === true;
    this.initial = encodeSignerPolicy(parseSignerPolicy(o.policy));
  }

  /** The request id (hex SHA-256) of an entry, hashed once for reads() and apply(). */
  private readonly ids = new WeakMap<Uint8Array, string>();
  private idOf(entry: Uint8Array): string {
    let id = this.ids.get(entry);
    if (id === undefined) this.ids.set(entry, (id = toHex(sha256(entry))));
    return id;
  }

  private parse(entry: Uint8Array): ParsedSignerEntry | null {
    if (this.parsed.has(entry)) return this.parsed.get(entry)!;
    const p = parseSignerEntry(entry);
    this.parsed.set(entry, p);
    return p;
  }

  reads(entry: Uint8Array): readonly string[] {
    const p = this.parse(entry);
    if (!p?.ok) return [];
    const keys = [POLICY_KEY, outcomeKey(this.idOf(entry)), COUNT_KEY];
    if (p.op === 'sign') keys.push(rateKey(p.request.client));
    if (p.op === 'reveal') keys.push(outcomeKey(p.request.audit));
    return keys;
  }

  /** The canonical bytes of the policy in force. */
  policyBytes(state: AppState): Uint8Array {
    return state.get(POLICY_KEY) ?? this.initial;
  }

  policy(state: AppState): SignerPolicy {
    const bytes = this.policyBytes(state);
    if (this.cache === null || !bytesEqual(this.cache.bytes, bytes)) this.cache = { bytes, policy: decodeSignerPolicy(bytes) };
    return this.cache.policy;
  }

  /**
   * The policy in force at the end of `epoch` (canonical bytes), from the history: the newest version
   * changed at or before it. Reads versions downwards from the current one.
   */
  policyBytesAt(state: AppState, epoch: number): Uint8Array {
    const first = decodeSignerPolicy(this.initial).version;
    for (let v = this.policy(state).version; v > first; v--) {
      const h = state.get(historyKey(v));
      if (h === undefined || h.length < 8) throw new RangeError(`signer policy version ${v} has no history record`);
      if (readU64(h, 0) <= epoch) return h.subarray(8);
    }
    return this.initial;
  }

  apply(entry: Uint8Array, at: AppPosition, state: AppState): Uint8Array | null {
    const p = this.parse(entry);
    if (p === null) return null;
    const id = this.idOf(entry);
    if (!p.ok) return response({ app: SIGNER_APP, ok: false, id, code: p.code, error: p.error });
    const earlier = state.get(outcomeKey(id));
    if (earlier !== undefined) {
      // The same bytes again (a replay, or a client's retry after the de-duplication window): the first
      // outcome stands and nothing is counted twice.
      const o = decodeOutcome(earlier);
      return response({ app: SIGNER_APP, ok: o.ok, id, op: o.op, index: o.index, epoch: o.epoch, repeated: true });
    }
    if (p.op === 'audit') return this.applyAudit(p.request, id, at, state);
    if (p.op === 'reveal') return this.applyReveal(p.request, id, at, state);
    const policy = this.policy(state);
    if (p.op === 'policy') return this.applyPolicy(p.request, id, policy, at, state);
    const r = p.request;
    const refuse = (code: string, message: string): Uint8Array => {
      state.put(outcomeKey(id), encodeOutcome({ op: 'sign', client: r.client, purpose: r.purpose, index: at.index, epoch: at.epoch, ok: false, code, message }));
      return response({ app: SIGNER_APP, ok: false, id, op: 'sign', index: at.index, epoch: at.epoch, code, error: message });
    };
    const why = signRefusal(this.groupId, policy, r);
    if (why !== null) return refuse(why.code, why.message);
    const client = policy.clients[r.client]!;
    if (client.rate !== undefined) {
      const recent = this.recentEpochs(state, r.client);
      const inWindow = recent.filter((e) => e > at.epoch - client.rate!.epochs);
      if (inWindow.length >= client.rate.count) return refuse('rate', `client ${r.client} had ${inWindow.length} signatures in the last ${client.rate.epochs} epochs (its rate: ${client.rate.count})`);
      const kept = [...inWindow, at.epoch].slice(-client.rate.count);
      const b = new Uint8Array(8 * kept.length);
      kept.forEach((e, k) => b.set(u64(e), 8 * k));
      state.put(rateKey(r.client), b);
    }
    const scheme = policy.purposes[r.purpose]!.scheme;
    state.put(outcomeKey(id), encodeOutcome({ op: 'sign', client: r.client, purpose: r.purpose, index: at.index, epoch: at.epoch, ok: true, ...(scheme ? { scheme } : {}) }));
    // The accepted requests in log order, for audit samples.
    const n = this.acceptedCount(state);
    state.put(ordinalKey(n), fromHex(id, 32));
    state.put(COUNT_KEY, u64(n + 1));
    return response({ app: SIGNER_APP, ok: true, id, op: 'sign', index: at.index, epoch: at.epoch, client: r.client, purpose: r.purpose });
  }

  /** How many sign requests were accepted so far (the population of an audit scheduled now). */
  acceptedCount(state: AppState): number {
    const b = state.get(COUNT_KEY);
    if (b === undefined) return 0;
    if (b.length !== 8) throw new RangeError(`stored accepted count has ${b.length} bytes`);
    return readU64(b, 0);
  }

  private applyAudit(r: AuditRequest, id: string, at: AppPosition, state: AppState): Uint8Array {
    const base = { op: 'audit' as const, count: r.count, round: r.round, index: at.index, epoch: at.epoch };
    if (this.beaconKey === undefined) {
      state.put(outcomeKey(id), encodeOutcome({ ...base, ok: false, code: 'no-beacon', message: 'the group has no randomness beacon (keys.beacon)' }));
      return response({ app: SIGNER_APP, ok: false, id, op: 'audit', index: at.index, epoch: at.epoch, code: 'no-beacon', error: 'the group has no randomness beacon (keys.beacon)' });
    }
    const population = this.acceptedCount(state);
    state.put(outcomeKey(id), encodeOutcome({ ...base, ok: true, population }));
    return response({ app: SIGNER_APP, ok: true, id, op: 'audit', index: at.index, epoch: at.epoch, round: r.round, count: r.count, population });
  }

  private applyReveal(r: RevealRequest, id: string, at: AppPosition, state: AppState): Uint8Array {
    const refuse = (code: string, message: string): Uint8Array => {
      state.put(outcomeKey(id), encodeOutcome({ op: 'reveal', audit: r.audit, index: at.index, epoch: at.epoch, ok: false, code, message }));
      return response({ app: SIGNER_APP, ok: false, id, op: 'reveal', index: at.index, epoch: at.epoch, code, error: message });
    };
    const stored = state.get(outcomeKey(r.audit));
    const audit = stored === undefined ? undefined : decodeOutcome(stored);
    if (audit === undefined || audit.op !== 'audit' || !audit.ok) return refuse('unknown-audit', `no audit ${r.audit} was scheduled`);
    if (audit.sample !== undefined) return refuse('revealed', `audit ${r.audit} was revealed before`);
    const randomness = beaconRoundRandomness(this.beaconKey!, audit.round!, r.signature);
    if (randomness === null) return refuse('bad-signature', `signature is not the beacon's round ${audit.round}`);
    const ordinals = auditSample(randomness, r.audit, audit.population!, Math.min(audit.count!, MAX_AUDIT_COUNT));
    const sample = ordinals.map((o) => {
      const b = state.get(ordinalKey(o));
      if (b === undefined || b.length !== 32) throw new RangeError(`accepted request ${o} of ${audit.population} is not stored`);
      return toHex(b);
    });
    state.put(outcomeKey(r.audit), encodeOutcome({ ...audit, sample }));
    state.put(outcomeKey(id), encodeOutcome({ op: 'reveal', audit: r.audit, index: at.index, epoch: at.epoch, ok: true }));
    return response({ app: SIGNER_APP, ok: true, id, op: 'reveal', index: at.index, epoch: at.epoch, audit: r.audit, sampled: sample.length });
  }

  private recentEpochs(state: AppState, client: string): number[] {
    const b = state.get(rateKey(client));
    if (b === undefined) return [];
    if (b.length % 8 !== 0) throw new RangeError(`stored rate of ${client} has ${b.length} bytes`);
    return Array.from({ length: b.length / 8 }, (_, k) => readU64(b, 8 * k));
  }

  private applyPolicy(r: PolicyRequest, id: string, current: SignerPolicy, at: AppPosition, state: AppState): Uint8Array {
    const version = r.policy.version;
    const refuse = (code: string, message: string): Uint8Array => {
      state.put(outcomeKey(id), encodeOutcome({ op: 'policy', version, index: at.index, epoch: at.epoch, ok: false, code, message }));
      return response({ app: SIGNER_APP, ok: false, id, op: 'policy', index: at.index, epoch: at.epoch, code, error: message });
    };
    if (r.policy.version !== current.version + 1) return refuse('bad-version', `the policy in force is version ${current.version}; a change must be version ${current.version + 1}`);
    const rsaPurpose = Object.entries(r.policy.purposes).find(([, p]) => isRsaScheme(p.scheme))?.[0];
    if (rsaPurpose !== undefined && !this.rsa) return refuse('no-rsa-key', `purpose ${rsaPurpose} is ${r.policy.purposes[rsaPurpose]!.scheme}, and the group has no signing RSA key (keys.signerRsa)`);
    const message = policyMessageBytes(this.groupId, r.policy);
    let valid = 0;
    for (const [admin, sig] of Object.entries(r.sigs)) {
      const key = Object.hasOwn(current.admins.keys, admin) ? current.admins.keys[admin] : undefined;
      if (key === undefined) return refuse('unknown-admin', `${admin} is not an administrator of policy version ${current.version}`);
      if (!ed25519Verifier(fromHex(key))(message, fromHex(sig))) return refuse('bad-signature', `the signature of ${admin} does not verify`);
      valid++;
    }
    if (valid < current.admins.threshold) return refuse('not-enough-admins', `${valid} administrator signatures; policy version ${current.version} needs ${current.admins.threshold}`);
    const bytes = encodeSignerPolicy(r.policy);
    state.put(POLICY_KEY, bytes);
    const h = new Uint8Array(8 + bytes.length);
    h.set(u64(at.epoch), 0);
    h.set(bytes, 8);
    state.put(historyKey(r.policy.version), h);
    state.put(outcomeKey(id), encodeOutcome({ op: 'policy', version, index: at.index, epoch: at.epoch, ok: true }));
    return response({ app: SIGNER_APP, ok: true, id, op: 'policy', index: at.index, epoch: at.epoch, version: r.policy.version });
  }

  digest(state: AppState): Uint8Array {
    return signerDigest(this.policyBytes(state));
  }

  /** The recorded outcome of a request (sign or policy change, by id), if it was ordered and executed here. */
  outcome(state: AppState, id: string): SignOutcome | undefined {
    const b = state.get(outcomeKey(id));
    return b === undefined ? undefined : decodeOutcome(b);
  }
}

/** The signer's app digest for the policy in force (canonical bytes). */
export function signerDigest(policyBytes: Uint8Array): Uint8Array {
  return sha256(frame(SIGNER_STATE_VERSION, sha256(policyBytes)));
}

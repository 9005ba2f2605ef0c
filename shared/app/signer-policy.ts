/**
 * The signing service's policy (shared/app/signer.ts; docs/signer.md): who may have the group sign what.
 * A policy is JSON; its one byte form is canonical JSON (object keys sorted by UTF-16 code units, no
 * whitespace, strings of printable ASCII without '"' or '\', integers only), which is what administrators
 * sign, what the application stores and what its state digest hashes.
 *
 *   {
 *     "version": 1,                                   positive integer; each change is version + 1
 *     "admins": {"threshold": 2,                      how many admin signatures a change needs
 *                "keys": {"alice": "<ed25519 pk hex>", ...}},      1-32 administrators
 *     "clients": {"ci": {"publicKey": "<ed25519 pk hex>",         0-1024 clients
 *                        "rate": {"count": 10, "epochs": 100}}},  optional: at most count signatures
 *                                                                  in any `epochs` consecutive epochs
 *     "purposes": {"release": {"clients": ["ci"],     0-256 purposes; who may sign it (sorted, unique)
 *                              "maxMessageBytes": 4096,            1..MAX_SIGN_MESSAGE_BYTES
 *                              "prefixes": ["<hex>", ...],         optional: the message starts with one
 *                              "scheme": "rsa-pkcs1-sha256"}}      optional: signed with keys.signerRsa
 *                                                                  (or "rsa-pss-sha256")
 *                                                                  (absent: BLS under the kernel key)
 *   }
 *
 * Names (administrators, clients) are 1-64 of a-z, 0-9, '.', '_', '-' (starting with a letter or digit);
 * purposes likewise (shared/crypto/group-sign.ts). Every client a purpose names must be in "clients".
 */
import { fromHex, toHex } from '../crypto/bytes.ts';
import { isEd25519PublicKey } from '../crypto/ed25519.ts';
import { isPurpose } from '../crypto/group-sign.ts';

export const MAX_SIGN_MESSAGE_BYTES = 16 * 1024;
export const MAX_ADMINS = 32;
export const MAX_CLIENTS = 1024;
export const MAX_PURPOSES = 256;
export const MAX_PREFIXES = 16;
export const MAX_RATE_COUNT = 1000;
/** A policy's canonical bytes: it travels inside one request (64 KiB at most). */
export const MAX_POLICY_BYTES = 48 * 1024;

export const NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export interface SignerRate {
  readonly count: number;
  readonly epochs: number;
}

export interface SignerClient {
  /** Ed25519 public key, 64 lower-case hex. */
  readonly publicKey: string;
  readonly rate?: SignerRate;
}

/** A purpose signed with the signing service's threshold RSA key (RSASSA-PKCS1-v1_5, SHA-256). */
export const RSA_SIGN_SCHEME = 'rsa-pkcs1-sha256';
/** Or with RSASSA-PSS (SHA-256, MGF1-SHA-256, a 32-byte salt derived from the request id: signerPssSalt). */
export const RSA_PSS_SCHEME = 'rsa-pss-sha256';
export type RsaScheme = typeof RSA_SIGN_SCHEME | typeof RSA_PSS_SCHEME;

export function isRsaScheme(s: unknown): s is RsaScheme {
  return s === RSA_SIGN_SCHEME || s === RSA_PSS_SCHEME;
}

export interface SignerPurpose {
  readonly clients: readonly string[];
  readonly maxMessageBytes: number;
  /** Absent: BLS under the kernel key (group-sign.ts); an RSA scheme: the keys.signerRsa key. */
  readonly scheme?: RsaScheme;
  /** Lower-case hex; when present the message must start with one of them. */
  readonly prefixes?: readonly string[];
}

export interface SignerPolicy {
  readonly version: number;
  readonly admins: { readonly threshold: number; readonly keys: Readonly<Record<string, string>> };
  readonly clients: Readonly<Record<string, SignerClient>>;
  readonly purposes: Readonly<Record<string, SignerPurpose>>;
}

export class SignerPolicyError extends Error {
  override readonly name = 'SignerPolicyError';
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`${path}: ${detail}`);
  }
}

type Json = null | boolean | number | string | readonly Json[] | { readonly [k: string]: Json };

const SAFE_STRING = /^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/;

/** Canonical JSON of the values a policy and the signer's entries hold (see the module comment). */
export function canonicalJson(v: Json): string {
  if (typeof v === 'string') {
    if (!SAFE_STRING.test(v)) throw new SignerPolicyError('(string)', 'only printable ASCII without " and \\');
    return `"${v}"`;
  }
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new SignerPolicyError('(number)', 'only safe integers');
    return String(v);
  }
  if (typeof v === 'boolean' || v === null) return String(v);
  if (Array.isArray(v)) return `[${(v as readonly Json[]).map(canonicalJson).join(',')}]`;
  const o = v as { readonly [k: string]: Json };
  const keys = Object.keys(o).sort();
  return `{${keys.map((k) => `${canonicalJson(k)}:${canonicalJson(o[k]!)}`).join(',')}}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function object(v: unknown, path: string, allowed: readonly string[], required: readonly string[]): Record<string, unknown> {
  if (!isObject(v)) throw new SignerPolicyError(path, 'expected an object');
  for (const k of Object.keys(v)) if (!allowed.includes(k)) throw new SignerPolicyError(path, `unknown field ${JSON.stringify(k)}`);
  for (const k of required) if (!Object.hasOwn(v, k)) throw new SignerPolicyError(path, `missing field ${JSON.stringify(k)}`);
  return v;
}

function integer(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw new SignerPolicyError(path, `expected an integer in ${min}..${max}`);
  return v;
}

function name(k: string, path: string): string {
  if (!NAME_PATTERN.test(k)) throw new SignerPolicyError(path, `${JSON.stringify(k)} is not 1-64 of a-z, 0-9, '.', '_', '-' starting with a letter or digit`);
  return k;
}

function publicKey(v: unknown, path: string): string {
  if (typeof v !== 'string' || !/^[0-9a-f]{64}$/.test(v) || !isEd25519PublicKey(fromHex(v))) {
    throw new SignerPolicyError(path, 'expected an Ed25519 public key (64 lower-case hex, canonical, not of small order)');
  }
  return v;
}

function map<T>(v: unknown, path: string, max: number, each: (value: unknown, path: string) => T): Record<string, T> {
  if (!isObject(v)) throw new SignerPolicyError(path, 'expected an object');
  const keys = Object.keys(v);
  if (keys.length > max) throw new SignerPolicyError(path, `at most ${max} entries`);
  const out: Record<string, T> = {};
  for (const k of keys.sort()) out[name(k, `${path}.${k}`)] = each(v[k], `${path}.${k}`);
  return out;
}

/** Checks a policy strictly (paths in the errors) and returns it with its maps in key order. */
export function parseSignerPolicy(raw: unknown, path = 'policy'): SignerPolicy {
  const o = object(raw, path, ['version', 'admins', 'clients', 'purposes'], ['version', 'admins', 'clients', 'purposes']);
  const version = integer(o['version'], `${path}.version`, 1, Number.MAX_SAFE_INTEGER);
  const a = object(o['admins'], `${path}.admins`, ['threshold', 'keys'], ['threshold', 'keys']);
  const keys = map(a['keys'], `${path}.admins.keys`, MAX_ADMINS, publicKey);
  const adminCount = Object.keys(keys).length;
  if (adminCount === 0) throw new SignerPolicyError(`${path}.admins.keys`, 'at least one administrator');
  const threshold = integer(a['threshold'], `${path}.admins.threshold`, 1, adminCount);
  const clients = map(o['clients'], `${path}.clients`, MAX_CLIENTS, (v, p): SignerClient => {
    const c = object(v, p, ['publicKey', 'rate'], ['publicKey']);
    const pk = publicKey(c['publicKey'], `${p}.publicKey`);
    if (c['rate'] === undefined) return { publicKey: pk };
    const r = object(c['rate'], `${p}.rate`, ['count', 'epochs'], ['count', 'epochs']);
    return { publicKey: pk, rate: { count: integer(r['count'], `${p}.rate.count`, 1, MAX_RATE_COUNT), epochs: integer(r['epochs'], `${p}.rate.epochs`, 1, 1_000_000_000) } };
  });
  const purposes = map(o['purposes'], `${path}.purposes`, MAX_PURPOSES, (v, p): SignerPurpose => {
    const u = object(v, p, ['clients', 'maxMessageBytes', 'prefixes', 'scheme'], ['clients', 'maxMessageBytes']);
    if (u['scheme'] !== undefined && !isRsaScheme(u['scheme'])) throw new SignerPolicyError(`${p}.scheme`, `expected ${JSON.stringify(RSA_SIGN_SCHEME)} or ${JSON.stringify(RSA_PSS_SCHEME)} (or no scheme: BLS)`);
    const scheme = u['scheme'] === undefined ? {} : { scheme: u['scheme'] as RsaScheme };
    const list = u['clients'];
    if (!Array.isArray(list) || list.length > MAX_CLIENTS) throw new SignerPolicyError(`${p}.clients`, `expected a list of at most ${MAX_CLIENTS} client names`);
    list.forEach((c, i) => {
      if (typeof c !== 'string' || !Object.hasOwn(clients, c)) throw new SignerPolicyError(`${p}.clients[${i}]`, `${JSON.stringify(c)} is not a client of this policy`);
      if (i > 0 && !((list[i - 1] as string) < c)) throw new SignerPolicyError(`${p}.clients`, 'names sorted and unique');
    });
    const maxMessageBytes = integer(u['maxMessageBytes'], `${p}.maxMessageBytes`, 1, MAX_SIGN_MESSAGE_BYTES);
    if (u['prefixes'] === undefined) return { clients: list as string[], maxMessageBytes, ...scheme };
    const pre = u['prefixes'];
    if (!Array.isArray(pre) || pre.length === 0 || pre.length > MAX_PREFIXES) throw new SignerPolicyError(`${p}.prefixes`, `expected 1 to ${MAX_PREFIXES} hex prefixes`);
    pre.forEach((x, i) => {
      if (typeof x !== 'string' || !/^(?:[0-9a-f]{2}){1,256}$/.test(x)) throw new SignerPolicyError(`${p}.prefixes[${i}]`, 'expected 1 to 256 bytes of lower-case hex');
    });
    return { clients: list as string[], maxMessageBytes, prefixes: pre as string[], ...scheme };
  });
  for (const p of Object.keys(o['purposes'] as object)) if (!isPurpose(p)) throw new SignerPolicyError(`${path}.purposes.${p}`, 'not a purpose name');
  const policy: SignerPolicy = { version, admins: { threshold, keys }, clients, purposes };
  if (encodeSignerPolicy(policy).length > MAX_POLICY_BYTES) throw new SignerPolicyError(path, `more than ${MAX_POLICY_BYTES} bytes in canonical form`);
  return policy;
}

/** The canonical bytes of a (parsed) policy. */
export function encodeSignerPolicy(p: SignerPolicy): Uint8Array {
  return new TextEncoder().encode(canonicalJson(p as unknown as Json));
}

/** Parses canonical policy bytes (as stored or signed); throws SignerPolicyError if they are not canonical. */
export function decodeSignerPolicy(b: Uint8Array, path = 'policy'): SignerPolicy {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(b));
  } catch {
    throw new SignerPolicyError(path, 'not UTF-8 JSON');
  }
  const p = parseSignerPolicy(raw, path);
  const again = encodeSignerPolicy(p);
  if (again.length !== b.length || !again.every((x, i) => x === b[i])) throw new SignerPolicyError(path, 'not in canonical form');
  return p;
}

/** Why `client` may not have `message` signed for `purpose` under `policy` (rate aside), or null. */
export function policyRefusal(policy: SignerPolicy, client: string, purpose: string, message: Uint8Array): { readonly code: string; readonly message: string } | null {
  const c = Object.hasOwn(policy.clients, client) ? policy.clients[client] : undefined;
  if (c === undefined) return { code: 'unknown-client', message: `no client ${client} in policy version ${policy.version}` };
  const p = Object.hasOwn(policy.purposes, purpose) ? policy.purposes[purpose] : undefined;
  if (p === undefined) return { code: 'unknown-purpose', message: `no purpose ${purpose} in policy version ${policy.version}` };
  if (!p.clients.includes(client)) return { code: 'not-allowed', message: `client ${client} may not sign for purpose ${purpose}` };
  if (message.length > p.maxMessageBytes) return { code: 'too-large', message: `the message has ${message.length} bytes; purpose ${purpose} allows ${p.maxMessageBytes}` };
  if (p.prefixes !== undefined && !p.prefixes.some((h) => toHex(message.subarray(0, h.length / 2)) === h)) {
    return { code: 'bad-prefix', message: `the message does not start with a prefix that purpose ${purpose} allows` };
  }
  return null;
}

/**
 * The dealer's output, parsed strictly: `group.json` (everything public) and one secrets file per replica
 * (that replica's key shares and link secret, a flat object of strings as `wrangler secret bulk` takes).
 *
 * Parsing checks every field, rejects unknown ones, decodes every point once (subgroup checks included),
 * re-derives the quorum system from replicas + adversary (so Q3 holds and `structure` is the one the rule
 * gives) and the sharing schemes from the structure (so `scheme` and the number of row keys are the ones
 * the protocols expect). Every rejection is a ConfigError naming the JSON path of the problem, e.g.
 * `keys.kernel.rowKeys[3]: G2: point is not in the prime-order subgroup`.
 *
 * Costly checks are separate: `verifyGroupKeys` (the row keys are a sharing of the group key) and
 * `verifyReplicaSecrets` (a replica's values match its row keys).
 *
 * The threshold RSA key (`keys.rsa`, threshold-rsa.ts) is optional: a group.json without it is a group
 * without RSA, as every group dealt before it existed. Its integers are checked for form and range; its two
 * certificates here only for their PEM and outer DER form, since this parser is in every bundle (SDK,
 * workers) and X.509 needs an ASN.1 library: `checkGroupCertificates` (shared/crypto/x509.ts, run by the
 * dealer and `sintra deal verify`) checks them completely.
 *
 * The randomness beacon key (`keys.beacon`, shared/crypto/beacon.ts, docs/beacon.md) is optional in the
 * same way: its own threshold BLS key over the kernel scheme, with the chain's period, genesis time, scheme
 * id and beacon id; each secrets file then carries SINTRA_KEY_SHARES.beacon.
 *
 * The echo keys (`keys.echo`: one Ed25519 public key per replica, shared/protocols/signature-set.ts) are
 * optional too: with them, consistent-broadcast certificates are a quorum's Ed25519 signatures, each
 * replica's seed derived from its link secret (echoSeed); without them (groups dealt before they existed)
 * the quorum key's threshold BLS signatures, as before.
 */
import { x25519 } from '@noble/curves/ed25519.js';
import { BEACON_SCHEME_ID, chainHash } from '../crypto/beacon.ts';
import { SignerPolicyError, isRsaScheme, parseSignerPolicy } from '../app/signer-policy.ts';
import type { SignerPolicy } from '../app/signer-policy.ts';
import { bytesEqual, frame, fromHex, toHex, u32be } from '../crypto/bytes.ts';
import { G1, G2, decodeG1, decodeG2, decodeScalar, msmG1, msmG2 } from '../crypto/curve.ts';
import type { G1Point, G2Point } from '../crypto/curve.ts';
import { GROUP_ID_BYTES } from '../crypto/domain.ts';
import { ED25519_PUBLIC_KEY_BYTES, ed25519PublicKey, isEd25519PublicKey } from '../crypto/ed25519.ts';
import { sha256 } from '../crypto/sha256.ts';
import { CryptoError } from '../crypto/errors.ts';
import { add, hashToScalar, mul, sub } from '../crypto/field.ts';
import type { ConsistencyEquation, SchemeDescription, SharingScheme } from '../crypto/lsss.ts';
import { bitLength } from '../crypto/modular.ts';
import { derSequenceSpan, pemToDer } from '../crypto/pem.ts';
import { RSA_MAX_MODULUS_BITS, RSA_MIN_MODULUS_BITS } from '../crypto/rsa.ts';
import { kernelScheme, quorumScheme } from '../crypto/schemes.ts';
import type { KeyShare, ThresholdPublicKey } from '../crypto/threshold-bls.ts';
import { DEALER_MIN_MODULUS_BITS, checkKeyShare, checkThresholdRsaPublicKey, thresholdRsaParameters } from '../crypto/threshold-rsa.ts';
import type { ThresholdRsaKeyShare, ThresholdRsaPublicKey } from '../crypto/threshold-rsa.ts';
import { StructureError } from '../quorum/quorum-system.ts';
import type { QuorumSystem, StructureDescription } from '../quorum/quorum-system.ts';
import { parseStructureFile } from '../quorum/structure-file.ts';
import type { AdversarySpec, ParsedStructure } from '../quorum/structure-file.ts';

export const GROUP_FORMAT = 'sintra-edge/group@1';
export const LINK_KEY_BYTES = 32;

// ---------------------------------------------------------------------------------------------------------
// JSON forms

export interface GroupFileReplica {
  readonly index: number;
  readonly id: string;
  readonly attributes: Readonly<Record<string, string>>;
  /** X25519 public key, 32 bytes hex. */
  readonly linkKey: string;
}

export interface ThresholdKeyFile {
  readonly scheme: SchemeDescription;
  /** Compressed G2, hex. */
  readonly groupKey: string;
  /** One compressed G2 point per scheme row. */
  readonly rowKeys: readonly string[];
}

export interface EncryptionKeyFile {
  readonly scheme: SchemeDescription;
  /** Compressed G1, hex: x * G1.BASE. */
  readonly publicKey: string;
  readonly rowKeys: readonly string[];
}

/**
 * The signing service's threshold RSA key (docs/signer.md): the fields of keys.rsa without certificates.
 * A key of its own, because an RSA PKCS #1 signature binds no purpose: signing callers' messages with the
 * CA key would let a caller obtain a certificate signature.
 */
export type SignerRsaKeyFile = Omit<RsaKeyFile, 'rootCertificate' | 'tsaCertificate'>;

/**
 * The threshold RSA key (Shoup; threshold structures only) and the dealer's two certificates for it. Every
 * integer is I2OSP to K = the length of n in bytes, as lower-case hex, except e.
 */
export interface RsaKeyFile {
  /** l: the number of replicas. */
  readonly players: number;
  /** k = t + 1 shares make a signature. */
  readonly threshold: number;
  /** The modulus: K bytes, the first not zero. */
  readonly n: string;
  /** The public exponent, a JSON integer (65537). */
  readonly e: number;
  /** v, the generator of the squares the verification keys are powers of. */
  readonly v: string;
  /** v_i = v^s_i, by replica index. */
  readonly verificationKeys: readonly string[];
  /** PEM (shared/crypto/pem.ts), the text of root-ca.pem: the self-signed root CA certificate. */
  readonly rootCertificate: string;
  /** PEM, the text of tsa.pem: the TSA certificate (extendedKeyUsage timeStamping), issued by the root. */
  readonly tsaCertificate: string;
}

/**
 * The randomness beacon key (docs/beacon.md): a threshold BLS key of its own over the kernel scheme, and
 * the drand chain parameters it signs rounds under.
 */
export interface BeaconKeyFile {
  readonly scheme: SchemeDescription;
  /** Compressed G2, hex: drand's public_key. */
  readonly groupKey: string;
  /** One compressed G2 point per scheme row: the verification keys of the shares. */
  readonly rowKeys: readonly string[];
  /** drand's schemeID; only `bls-unchained-g1-rfc9380`. */
  readonly schemeId: typeof BEACON_SCHEME_ID;
  /** drand's metadata.beaconID: 1-64 of [a-z0-9_-], starting with a letter or digit. */
  readonly beaconId: string;
  /** Seconds between rounds, 1 .. 2^32 - 1. */
  readonly period: number;
  /** Unix seconds at which round 1 is due. */
  readonly genesisTime: number;
}

/**
 * `keys.echo`: every replica's own Ed25519 key for consistent-broadcast echoes, whose certificates are a
 * quorum's signatures (shared/protocols/signature-set.ts). Absent in groups dealt before it existed: they
 * keep threshold BLS certificates of the quorum key.
 */
export interface EchoKeyFile {
  readonly scheme: typeof ECHO_SCHEME;
  /** One 32-byte Ed25519 public key (hex) per replica, in index order. */
  readonly publicKeys: readonly string[];
}

export const ECHO_SCHEME = 'ed25519';

export interface GroupFile {
  readonly format: typeof GROUP_FORMAT;
  readonly groupId: string;
  readonly testOnly: boolean;
  readonly replicas: readonly GroupFileReplica[];
  readonly adversary: AdversarySpec;
  readonly structure: StructureDescription;
  readonly keys: {
    readonly kernel: ThresholdKeyFile;
    readonly quorum: ThresholdKeyFile;
    readonly encryption: EncryptionKeyFile;
    /** Absent for a group without a threshold RSA key (`sintra deal` without --rsa). */
    readonly rsa?: RsaKeyFile;
    /** Absent for a group without a randomness beacon (`sintra deal` without --beacon). */
    readonly beacon?: BeaconKeyFile;
    /** Absent for a group dealt before echo keys existed (consistent broadcast then uses keys.quorum). */
    readonly echo?: EchoKeyFile;
    /** The signing service's own threshold RSA key (`sintra deal --signer-rsa`); absent: BLS only. */
    readonly signerRsa?: SignerRsaKeyFile;
  };
  /** The signing service's initial policy (shared/app/signer-policy.ts); absent: the group runs no signer. */
  readonly signer?: { readonly policy: unknown };
}

/** `DIR/<id>.secrets.json`: flat strings, the input of `wrangler secret bulk`. */
export type SecretsFile = {
  readonly SINTRA_GROUP_ID: string;
  readonly SINTRA_REPLICA_ID: string;
  readonly SINTRA_REPLICA_INDEX: string;
  /** JSON text of KeySharesFile. */
  readonly SINTRA_KEY_SHARES: string;
  readonly SINTRA_LINK_SECRET: string;
};

export const SECRET_NAMES = [
  'SINTRA_GROUP_ID',
  'SINTRA_REPLICA_ID',
  'SINTRA_REPLICA_INDEX',
  'SINTRA_KEY_SHARES',
  'SINTRA_LINK_SECRET',
] as const satisfies readonly (keyof SecretsFile)[];

/** Scalars (32-byte big-endian hex) of one replica's rows, in scheme.rowsOf(index) order. */
export interface KeySharesFile {
  readonly kernel: readonly string[];
  readonly quorum: readonly string[];
  readonly encryption: readonly string[];
  /** The replica's threshold RSA share s_i, I2OSP(s_i, K) hex; present iff the group has keys.rsa. */
  readonly rsa?: string;
  /** The replica's beacon key rows (32-byte hex scalars); present iff the group has keys.beacon. */
  readonly beacon?: readonly string[];
  /** The replica's share of the signing service's RSA key, as `rsa`; present iff the group has keys.signerRsa. */
  readonly signerRsa?: string;
}

// ---------------------------------------------------------------------------------------------------------
// Decoded forms

export interface GroupReplica {
  readonly index: number;
  readonly id: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly linkKey: Uint8Array;
}

export interface EncryptionPublicKey {
  readonly scheme: SharingScheme;
  readonly publicKey: G1Point;
  readonly rowKeys: readonly G1Point[];
}

export interface Group {
  /** The validated JSON (for `GET /v1/info`). */
  readonly file: GroupFile;
  readonly groupId: Uint8Array;
  readonly testOnly: boolean;
  readonly replicas: readonly GroupReplica[];
  readonly adversary: AdversarySpec;
  readonly quorumSystem: QuorumSystem;
  /** Kernel key (coin, checkpoints, statements). */
  readonly kernel: ThresholdPublicKey;
  /** Quorum key (consistent-broadcast signatures). */
  readonly quorum: ThresholdPublicKey;
  /** TDH2 key, shared with the kernel scheme. */
  readonly encryption: EncryptionPublicKey;
  /** Threshold RSA key and its certificates; absent for a group without one. */
  readonly rsa?: GroupRsaKey;
  /** The randomness beacon key and chain; absent for a group without one. */
  readonly beacon?: GroupBeacon;
  /** The replicas' Ed25519 echo keys, by index; absent for a group dealt before them. */
  readonly echo?: readonly Uint8Array[];
  /** The signing service's initial policy (group.json `signer.policy`); absent: no signing service. */
  readonly signer?: { readonly policy: SignerPolicy };
  /** The signing service's threshold RSA key (keys.signerRsa); absent: it signs with BLS only. */
  readonly signerRsa?: ThresholdRsaPublicKey;
}

export interface GroupBeacon {
  readonly key: ThresholdPublicKey;
  readonly schemeId: typeof BEACON_SCHEME_ID;
  readonly beaconId: string;
  readonly period: number;
  readonly genesisTime: number;
  /** drand's group hash for this chain: the group id. */
  readonly groupHash: Uint8Array;
  /** drand's chain hash (shared/crypto/beacon.ts, chainHash). */
  readonly chainHash: Uint8Array;
}

export interface GroupRsaKey {
  readonly publicKey: ThresholdRsaPublicKey;
  /** PEM texts, as in group.json (the same bytes as root-ca.pem and tsa.pem). */
  readonly rootCertificate: string;
  readonly tsaCertificate: string;
}

export interface ReplicaSecrets {
  readonly index: number;
  readonly id: string;
  readonly kernel: KeyShare;
  readonly quorum: KeyShare;
  readonly encryption: KeyShare;
  /** Present iff the group has a threshold RSA key. */
  readonly rsa?: ThresholdRsaKeyShare;
  /** Present iff the group has a randomness beacon key. */
  readonly beacon?: KeyShare;
  /** Present iff the group has keys.signerRsa. */
  readonly signerRsa?: ThresholdRsaKeyShare;
  /** The Ed25519 echo key's seed (derived from the link secret: echoSeed); present iff the group has echo keys. */
  readonly echo?: Uint8Array;
  readonly linkSecret: Uint8Array;
}

export type KeyName = 'kernel' | 'quorum' | 'encryption';
export const KEY_NAMES: readonly KeyName[] = ['kernel', 'quorum', 'encryption'];

// ---------------------------------------------------------------------------------------------------------
// Errors and strict field access

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    /** JSON path of the problem ('' for the whole document). */
    readonly path: string,
    readonly problem: string,
  ) {
    super(path ? `${path}: ${problem}` : problem);
  }
}

type Obj = Record<string, unknown>;

const join = (path: string, key: string | number): string =>
  typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key;

function isObject(x: unknown): x is Obj {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** An object with exactly `fields`. */
function object(x: unknown, path: string, fields: readonly string[]): Obj {
  if (!isObject(x)) throw new ConfigError(path, 'expected an object');
  for (const f of fields) if (!Object.hasOwn(x, f)) throw new ConfigError(join(path, f), 'missing');
  for (const k of Object.keys(x)) if (!fields.includes(k)) throw new ConfigError(path, `unknown field ${JSON.stringify(k)}`);
  return x;
}

function array(x: unknown, path: string): unknown[] {
  if (!Array.isArray(x)) throw new ConfigError(path, 'expected an array');
  return x;
}

function string(x: unknown, path: string): string {
  if (typeof x !== 'string') throw new ConfigError(path, 'expected a string');
  return x;
}

/** Runs a decoder, turning crypto and structure errors into ConfigErrors at `path`. */
function at<T>(path: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof CryptoError || e instanceof StructureError) throw new ConfigError(path, e.message);
    throw e;
  }
}

const hexBytes = (x: unknown, path: string, length: number): Uint8Array => at(path, () => fromHex(string(x, path), length));

/** Key-order-insensitive JSON equality. */
function sameJson(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => sameJson(v, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && sameJson(a[k], b[k]));
  }
  return a === b;
}

// Decoding a point costs milliseconds (square roots, subgroup check); a worker parses its group on every
// cold start and tests parse the same file many times. Decoding is a pure function of the hex, so cache it.
const pointCache = new Map<string, G1Point | G2Point>();
const POINT_CACHE_MAX = 8192;

function cachedPoint<P extends G1Point | G2Point>(kind: 'G1' | 'G2', hex: string, decode: (b: Uint8Array) => P): P {
  const key = `${kind}:${hex}`;
  const hit = pointCache.get(key);
  if (hit) return hit as P;
  const p = decode(fromHex(hex));
  if (pointCache.size >= POINT_CACHE_MAX) pointCache.clear();
  pointCache.set(key, p);
  return p;
}

const g1 = (x: unknown, path: string): G1Point => at(path, () => cachedPoint('G1', string(x, path), decodeG1));
const g2 = (x: unknown, path: string): G2Point => at(path, () => cachedPoint('G2', string(x, path), decodeG2));

/** X25519 public keys: 32 bytes, and not of small order (a fixed multiple of 8 must not map it to 0). */
const LOW_ORDER_PROBE = new Uint8Array(32).fill(0x5a);

function linkPublicKey(x: unknown, path: string): Uint8Array {
  const key = hexBytes(x, path, LINK_KEY_BYTES);
  try {
    x25519.getSharedSecret(LOW_ORDER_PROBE, key);
  } catch {
    throw new ConfigError(path, 'X25519 public key of small order');
  }
  return key;
}

// ---------------------------------------------------------------------------------------------------------
// group.json

const GROUP_FIELDS = ['format', 'groupId', 'testOnly', 'replicas', 'adversary', 'structure', 'keys'];

/** StructureErrors name replicas[i] / adversary.* paths themselves; the others concern the adversary. */
function structureProblem(e: StructureError): ConfigError {
  const m = e.message;
  if (/^(replicas\[|adversary\.)/.test(m)) return new ConfigError('', m);
  if (/^"replicas"|^duplicate replica id/.test(m)) return new ConfigError('replicas', m);
  return new ConfigError('adversary', m);
}

function parseKeyRows<P>(raw: unknown, path: string, scheme: SharingScheme, decode: (x: unknown, path: string) => P): P[] {
  const rows = array(raw, path);
  if (rows.length !== scheme.owners.length) {
    throw new ConfigError(path, `expected ${scheme.owners.length} row keys (one per row of the ${scheme.description.type} scheme), got ${rows.length}`);
  }
  return rows.map((r, i) => decode(r, join(path, i)));
}

function checkScheme(raw: unknown, path: string, expected: SharingScheme): void {
  if (!sameJson(raw, expected.description)) {
    throw new ConfigError(path, `does not match the ${expected.description.type} scheme the structure requires`);
  }
}

function parseThresholdKey(raw: unknown, path: string, scheme: SharingScheme): ThresholdPublicKey {
  const o = object(raw, path, ['scheme', 'groupKey', 'rowKeys']);
  checkScheme(o['scheme'], join(path, 'scheme'), scheme);
  const groupKey = g2(o['groupKey'], join(path, 'groupKey'));
  return { scheme, groupKey, rowKeys: parseKeyRows(o['rowKeys'], join(path, 'rowKeys'), scheme, g2) };
}

function parseEncryptionKey(raw: unknown, path: string, scheme: SharingScheme): EncryptionPublicKey {
  const o = object(raw, path, ['scheme', 'publicKey', 'rowKeys']);
  checkScheme(o['scheme'], join(path, 'scheme'), scheme);
  const publicKey = g1(o['publicKey'], join(path, 'publicKey'));
  return { scheme, publicKey, rowKeys: parseKeyRows(o['rowKeys'], join(path, 'rowKeys'), scheme, g1) };
}

const RSA_FIELDS = ['players', 'threshold', 'n', 'e', 'v', 'verificationKeys', 'rootCertificate', 'tsaCertificate'];
const SIGNER_RSA_FIELDS = RSA_FIELDS.filter((f) => f !== 'rootCertificate' && f !== 'tsaCertificate');

/** Lower-case hex of exactly `length` bytes as a bigint in 1..n-1 (or 0..n-1 with `zero`). */
function rsaInteger(x: unknown, path: string, length: number, n: bigint, zero = false): bigint {
  const value = BigInt(`0x${toHex(hexBytes(x, path, length))}`);
  if (value >= n || (!zero && value === 0n)) throw new ConfigError(path, `must be in ${zero ? 0 : 1}..n-1`);
  return value;
}

function certificatePem(x: unknown, path: string): string {
  const pem = string(x, path);
  at(path, () => derSequenceSpan(pemToDer(pem)));
  return pem;
}

/** The public part of a threshold RSA key (keys.rsa, keys.signerRsa) from its checked object. */
function parseRsaPublicKey(o: Obj, path: string, structure: StructureDescription, testOnly: boolean): ThresholdRsaPublicKey {
  const { players, threshold } = at(path, () => thresholdRsaParameters(structure)); // refuses general structures
  if (o['players'] !== players) throw new ConfigError(join(path, 'players'), `expected ${players} (the number of replicas)`);
  if (o['threshold'] !== threshold) throw new ConfigError(join(path, 'threshold'), `expected ${threshold} (t + 1)`);
  const nPath = join(path, 'n');
  const nHex = string(o['n'], nPath);
  const nBytes = hexBytes(nHex, nPath, nHex.length / 2);
  if (nBytes.length === 0 || nBytes[0] === 0) throw new ConfigError(nPath, 'expected the modulus in its shortest form (no leading zero byte)');
  const n = BigInt(`0x${nHex}`);
  const bits = bitLength(n);
  const floor = testOnly ? RSA_MIN_MODULUS_BITS : DEALER_MIN_MODULUS_BITS;
  if (bits < floor || bits > RSA_MAX_MODULUS_BITS) {
    throw new ConfigError(nPath, `the modulus has ${bits} bits; accepted: ${floor}-${RSA_MAX_MODULUS_BITS}${testOnly ? '' : ` (from ${RSA_MIN_MODULUS_BITS} in test-only groups)`}`);
  }
  if ((n & 1n) === 0n) throw new ConfigError(nPath, 'the modulus is even');
  const e = o['e'];
  if (typeof e !== 'number' || !Number.isSafeInteger(e) || e < 3) throw new ConfigError(join(path, 'e'), 'expected an integer (a prime greater than the number of replicas)');
  const K = nBytes.length;
  const v = rsaInteger(o['v'], join(path, 'v'), K, n);
  const keysPath = join(path, 'verificationKeys');
  const raws = array(o['verificationKeys'], keysPath);
  if (raws.length !== players) throw new ConfigError(keysPath, `expected ${players} verification keys (one per replica), got ${raws.length}`);
  const verificationKeys = raws.map((x, i) => rsaInteger(x, join(keysPath, i), K, n));
  const publicKey: ThresholdRsaPublicKey = { n, e: BigInt(e), players, threshold, v, verificationKeys };
  at(path, () => checkThresholdRsaPublicKey(publicKey)); // e prime > l and < n, v in 2..n-2
  return publicKey;
}

function parseRsaKey(raw: unknown, path: string, structure: StructureDescription, testOnly: boolean): GroupRsaKey {
  const o = object(raw, path, RSA_FIELDS);
  return {
    publicKey: parseRsaPublicKey(o, path, structure, testOnly),
    rootCertificate: certificatePem(o['rootCertificate'], join(path, 'rootCertificate')),
    tsaCertificate: certificatePem(o['tsaCertificate'], join(path, 'tsaCertificate')),
  };
}

const BEACON_FIELDS = ['scheme', 'groupKey', 'rowKeys', 'schemeId', 'beaconId', 'period', 'genesisTime'];
const BEACON_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;
/** 9999-12-31T23:59:59Z: times stay within what every runtime's Date and drand's i64 hold. */
export const BEACON_MAX_GENESIS = 253402300799;
export const BEACON_MAX_PERIOD = 0xffffffff;

function integerIn(x: unknown, path: string, min: number, max: number): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < min || x > max) throw new ConfigError(path, `expected an integer from ${min} to ${max}`);
  return x;
}

function parseBeaconKey(raw: unknown, path: string, scheme: SharingScheme, groupId: Uint8Array): GroupBeacon {
  const o = object(raw, path, BEACON_FIELDS);
  const key = parseThresholdKey({ scheme: o['scheme'], groupKey: o['groupKey'], rowKeys: o['rowKeys'] }, path, scheme);
  if (o['schemeId'] !== BEACON_SCHEME_ID) throw new ConfigError(join(path, 'schemeId'), `expected "${BEACON_SCHEME_ID}" (the only drand scheme served)`);
  const beaconId = string(o['beaconId'], join(path, 'beaconId'));
  if (!BEACON_ID.test(beaconId)) throw new ConfigError(join(path, 'beaconId'), 'expected 1-64 of a-z, 0-9, _ and -, starting with a letter or digit');
  const period = integerIn(o['period'], join(path, 'period'), 1, BEACON_MAX_PERIOD);
  const genesisTime = integerIn(o['genesisTime'], join(path, 'genesisTime'), 0, BEACON_MAX_GENESIS);
  const groupHash = groupId.slice();
  return {
    key,
    schemeId: BEACON_SCHEME_ID,
    beaconId,
    period,
    genesisTime,
    groupHash,
    chainHash: chainHash({ period, genesisTime, publicKey: key.groupKey, groupHash, beaconId }),
  };
}

export function parseGroup(input: unknown): Group {
  if (!isObject(input)) throw new ConfigError('', 'group file must be a JSON object');
  let json: Obj;
  try {
    json = JSON.parse(JSON.stringify(input)); // a private copy: the Group must not change with the caller's object
  } catch {
    throw new ConfigError('', 'group file must be JSON data');
  }
  if (json['format'] !== GROUP_FORMAT) {
    throw new ConfigError('format', `unknown format ${JSON.stringify(json['format'])} (expected "${GROUP_FORMAT}")`);
  }
  const root = object(json, '', [...GROUP_FIELDS, ...(Object.hasOwn(json, 'signer') ? ['signer'] : [])]);
  const groupId = hexBytes(root['groupId'], 'groupId', GROUP_ID_BYTES);
  const testOnly = root['testOnly'];
  if (typeof testOnly !== 'boolean') throw new ConfigError('testOnly', 'expected true or false');

  const rawReplicas = array(root['replicas'], 'replicas');
  const replicas: GroupReplica[] = rawReplicas.map((r, i) => {
    const path = join('replicas', i);
    const o = object(r, path, ['index', 'id', 'attributes', 'linkKey']);
    if (o['index'] !== i) throw new ConfigError(join(path, 'index'), `expected ${i} (replicas are listed in index order)`);
    return {
      index: i,
      id: string(o['id'], join(path, 'id')),
      attributes: o['attributes'] as Record<string, string>, // checked by parseStructureFile below
      linkKey: linkPublicKey(o['linkKey'], join(path, 'linkKey')),
    };
  });

  // Replicas + adversary determine the structure; parseStructureFile checks ids, attributes and Q3.
  const adversary = root['adversary'];
  if (isObject(adversary)) {
    const allowed = 'attributes' in adversary ? ['attributes', 'plus'] : 'sets' in adversary ? ['sets'] : ['threshold'];
    for (const k of Object.keys(adversary)) if (!allowed.includes(k)) throw new ConfigError('adversary', `unknown field ${JSON.stringify(k)}`);
  }
  let parsed: ParsedStructure;
  try {
    parsed = parseStructureFile({ replicas: replicas.map(({ id, attributes }) => ({ id, attributes })), adversary });
  } catch (e) {
    if (e instanceof StructureError) throw structureProblem(e);
    throw e;
  }
  if (!sameJson(root['structure'], parsed.structure)) {
    throw new ConfigError('structure', `does not match the structure that the adversary and replicas define`);
  }

  const kernelS = kernelScheme(parsed.structure);
  const quorumS = quorumScheme(parsed.structure);
  const hasRsa = isObject(root['keys']) && Object.hasOwn(root['keys'], 'rsa');
  const hasBeacon = isObject(root['keys']) && Object.hasOwn(root['keys'], 'beacon');
  const hasEcho = isObject(root['keys']) && Object.hasOwn(root['keys'], 'echo');
  const hasSignerRsa = isObject(root['keys']) && Object.hasOwn(root['keys'], 'signerRsa');
  const keys = object(root['keys'], 'keys', [
    ...KEY_NAMES,
    ...(hasRsa ? ['rsa'] : []),
    ...(hasBeacon ? ['beacon'] : []),
    ...(hasEcho ? ['echo'] : []),
    ...(hasSignerRsa ? ['signerRsa'] : []),
  ]);
  const kernel = parseThresholdKey(keys['kernel'], 'keys.kernel', kernelS);
  const quorum = parseThresholdKey(keys['quorum'], 'keys.quorum', quorumS);
  const encryption = parseEncryptionKey(keys['encryption'], 'keys.encryption', kernelS);
  const rsa = hasRsa ? parseRsaKey(keys['rsa'], 'keys.rsa', parsed.structure, testOnly) : undefined;
  const beacon = hasBeacon ? parseBeaconKey(keys['beacon'], 'keys.beacon', kernelS, groupId) : undefined;
  const echo = hasEcho ? parseEchoKeys(keys['echo'], 'keys.echo', replicas.length) : undefined;
  const signer = Object.hasOwn(root, 'signer') ? parseSignerSection(root['signer']) : undefined;
  const signerRsa = hasSignerRsa ? parseRsaPublicKey(object(keys['signerRsa'], 'keys.signerRsa', SIGNER_RSA_FIELDS), 'keys.signerRsa', parsed.structure, testOnly) : undefined;
  if (signerRsa !== undefined && signer === undefined) throw new ConfigError('keys.signerRsa', 'the group has no signing service (no signer policy) to use it');
  const rsaPurpose = signer === undefined ? undefined : Object.entries(signer.policy.purposes).find(([, p]) => isRsaScheme(p.scheme))?.[0];
  if (rsaPurpose !== undefined && signerRsa === undefined) throw new ConfigError(`signer.policy.purposes.${rsaPurpose}.scheme`, `${signer!.policy.purposes[rsaPurpose]!.scheme} needs the signing service's RSA key (keys.signerRsa: sintra deal --signer-rsa)`);

  return {
    file: json as unknown as GroupFile,
    groupId,
    testOnly,
    replicas,
    adversary: adversary as AdversarySpec,
    quorumSystem: parsed.quorum,
    kernel,
    quorum,
    encryption,
    ...(rsa === undefined ? {} : { rsa }),
    ...(beacon === undefined ? {} : { beacon }),
    ...(echo === undefined ? {} : { echo }),
    ...(signer === undefined ? {} : { signer }),
    ...(signerRsa === undefined ? {} : { signerRsa }),
  };
}

function parseSignerSection(raw: unknown): { readonly policy: SignerPolicy } {
  const o = object(raw, 'signer', ['policy']);
  if (!Object.hasOwn(o, 'policy')) throw new ConfigError('signer', 'missing field "policy"');
  try {
    return { policy: parseSignerPolicy(o['policy'], 'signer.policy') };
  } catch (e) {
    if (e instanceof SignerPolicyError) throw new ConfigError(e.path, e.message.slice(e.path.length + 2));
    throw e;
  }
}

/**
 * A replica's Ed25519 echo seed, derived from its link secret (a uniformly random 32-byte secret that only
 * it holds) under a label of its own: no new secret in the secrets files, and no randomness drawn at
 * dealing, so every other key of a deal is the same with or without echo keys.
 */
export function echoSeed(groupId: Uint8Array, linkSecret: Uint8Array): Uint8Array {
  return sha256(frame(ECHO_SEED_LABEL, groupId, linkSecret));
}

export const ECHO_SEED_LABEL = 'sintra-edge/echo-key/v1';

function parseEchoKeys(raw: unknown, path: string, n: number): Uint8Array[] {
  const o = object(raw, path, ['scheme', 'publicKeys']);
  if (o['scheme'] !== ECHO_SCHEME) throw new ConfigError(join(path, 'scheme'), `expected "${ECHO_SCHEME}"`);
  const keys = array(o['publicKeys'], join(path, 'publicKeys'));
  if (keys.length !== n) throw new ConfigError(join(path, 'publicKeys'), `expected ${n} keys (one per replica), got ${keys.length}`);
  const seen = new Set<string>();
  return keys.map((k, i) => {
    const p = join(join(path, 'publicKeys'), i);
    const key = hexBytes(k, p, ED25519_PUBLIC_KEY_BYTES);
    if (!isEd25519PublicKey(key)) throw new ConfigError(p, 'not an Ed25519 public key (not canonical, not on the curve, or of small order)');
    if (seen.has(k as string)) throw new ConfigError(p, 'the same key as another replica');
    seen.add(k as string);
    return key;
  });
}

const MINUS_ONE = sub(0n, 1n);

/**
 * One random linear combination of a scheme's consistency equations, as a single multi-scalar
 * multiplication: sum_e rho_e * (sum_i coeff_ei * rowKey_i - target_e) == 0. The rho_e are hashed from the
 * encoded keys (Fiat-Shamir), so keys that violate some equation pass with probability about 1/r.
 * Equations "row a equals row b" (replicated sharing) are checked directly: comparing points is cheap.
 */
function allEquationsHold<P extends G1Point | G2Point>(
  seed: Uint8Array,
  eqs: readonly ConsistencyEquation[],
  groupKey: P,
  rowKeys: readonly P[],
  msm: (ps: P[], cs: bigint[]) => P,
): boolean {
  const byRow = new Map<number, bigint>();
  let onGroupKey = 0n;
  for (let e = 0; e < eqs.length; e++) {
    const eq = eqs[e]!;
    if (eq.target === 'zero' && eq.rows.length === 2 && eq.coeffs[0] === 1n && eq.coeffs[1] === MINUS_ONE) {
      if (!(rowKeys[eq.rows[0]!] as G1Point & G2Point).equals(rowKeys[eq.rows[1]!] as G1Point & G2Point)) return false;
      continue;
    }
    const rho = hashToScalar('group-key-check', seed, u32be(e));
    eq.rows.forEach((row, j) => byRow.set(row, add(byRow.get(row) ?? 0n, mul(rho, eq.coeffs[j]!))));
    if (eq.target === 'secret') onGroupKey = sub(onGroupKey, rho);
  }
  if (byRow.size === 0 && onGroupKey === 0n) return true;
  const rows = [...byRow.keys()];
  return msm([...rows.map((r) => rowKeys[r]!), groupKey], [...rows.map((r) => byRow.get(r)!), onGroupKey]).is0();
}

/**
 * The row keys are a sharing of the group key: every public consistency equation of the scheme holds
 * "in the exponent" (sum coeff * rowKey equals the group key, or the identity). Checked in one batch;
 * on failure equation by equation, to name the rows. Throws ConfigError.
 */
export function verifyGroupKeys(group: Group): void {
  const check = <P extends G1Point | G2Point>(name: KeyName, scheme: SharingScheme, groupKey: P, rowKeys: readonly P[], msm: (ps: P[], cs: bigint[]) => P) => {
    // The encodings as parsed (canonical, so they determine the points) bind the batch coefficients.
    const file = group.file.keys[name];
    const seed = frame(name, 'groupKey' in file ? file.groupKey : file.publicKey, ...file.rowKeys);
    const eqs = scheme.consistencyEquations();
    if (allEquationsHold(seed, eqs, groupKey, rowKeys, msm)) return;
    const what = name === 'encryption' ? 'publicKey' : 'groupKey';
    for (const eq of eqs) {
      if (!allEquationsHold(seed, [eq], groupKey, rowKeys, msm)) {
        throw new ConfigError(`keys.${name}.rowKeys`, `rows [${eq.rows.join(',')}] are inconsistent with the ${scheme.description.type} scheme and ${what}`);
      }
    }
    throw new ConfigError(`keys.${name}.rowKeys`, `inconsistent with the ${scheme.description.type} scheme and ${what}`);
  };
  const { kernel, quorum, encryption } = group;
  check('kernel', kernel.scheme, kernel.groupKey, kernel.rowKeys, msmG2);
  check('quorum', quorum.scheme, quorum.groupKey, quorum.rowKeys, msmG2);
  check('encryption', encryption.scheme, encryption.publicKey, encryption.rowKeys, msmG1);
  const beacon = group.beacon;
  const beaconFile = group.file.keys.beacon;
  if (beacon !== undefined && beaconFile !== undefined) {
    const seed = frame('beacon', beaconFile.groupKey, ...beaconFile.rowKeys);
    if (!allEquationsHold(seed, beacon.key.scheme.consistencyEquations(), beacon.key.groupKey, beacon.key.rowKeys, msmG2)) {
      throw new ConfigError('keys.beacon.rowKeys', `inconsistent with the ${beacon.key.scheme.description.type} scheme and groupKey`);
    }
  }
}

/** Index of a replica by id, or undefined. */
export function replicaIndex(group: Group, id: string): number | undefined {
  return group.replicas.find((r) => r.id === id)?.index;
}

// ---------------------------------------------------------------------------------------------------------
// <id>.secrets.json

const INDEX = /^(?:0|[1-9][0-9]{0,5})$/;

function parseShares(raw: unknown, path: string, replica: number, scheme: SharingScheme): KeyShare {
  const values = array(raw, path);
  const rows = scheme.rowsOf(replica);
  if (values.length !== rows.length) throw new ConfigError(path, `expected ${rows.length} values (one per row of replica ${replica}), got ${values.length}`);
  return {
    replica,
    values: values.map((v, i) => {
      const p = join(path, i);
      return at(p, () => decodeScalar(fromHex(string(v, p), 32)));
    }),
  };
}

export function parseReplicaSecrets(json: unknown, group: Group): ReplicaSecrets {
  const o = object(json, '', SECRET_NAMES);
  const groupId = string(o['SINTRA_GROUP_ID'], 'SINTRA_GROUP_ID');
  if (groupId !== toHex(group.groupId)) throw new ConfigError('SINTRA_GROUP_ID', `belongs to group ${groupId.slice(0, 16)}..., not to ${toHex(group.groupId).slice(0, 16)}...`);
  const indexText = string(o['SINTRA_REPLICA_INDEX'], 'SINTRA_REPLICA_INDEX');
  const index = INDEX.test(indexText) ? Number(indexText) : -1;
  const replica = group.replicas[index];
  if (!replica) throw new ConfigError('SINTRA_REPLICA_INDEX', `expected a replica index 0..${group.replicas.length - 1}, got ${JSON.stringify(indexText)}`);
  const id = string(o['SINTRA_REPLICA_ID'], 'SINTRA_REPLICA_ID');
  if (id !== replica.id) throw new ConfigError('SINTRA_REPLICA_ID', `${JSON.stringify(id)} but replica ${index} is ${JSON.stringify(replica.id)}`);

  const text = string(o['SINTRA_KEY_SHARES'], 'SINTRA_KEY_SHARES');
  let rawShares: unknown;
  try {
    rawShares = JSON.parse(text);
  } catch {
    throw new ConfigError('SINTRA_KEY_SHARES', 'not valid JSON');
  }
  if (isObject(rawShares) && Object.hasOwn(rawShares, 'rsa') && group.rsa === undefined) {
    throw new ConfigError('SINTRA_KEY_SHARES.rsa', 'the group has no RSA key (group.json has no keys.rsa)');
  }
  if (isObject(rawShares) && Object.hasOwn(rawShares, 'beacon') && group.beacon === undefined) {
    throw new ConfigError('SINTRA_KEY_SHARES.beacon', 'the group has no beacon key (group.json has no keys.beacon)');
  }
  if (isObject(rawShares) && Object.hasOwn(rawShares, 'signerRsa') && group.signerRsa === undefined) {
    throw new ConfigError('SINTRA_KEY_SHARES.signerRsa', 'the group has no signing RSA key (group.json has no keys.signerRsa)');
  }
  const shares = object(rawShares, 'SINTRA_KEY_SHARES', [
    ...KEY_NAMES,
    ...(group.rsa === undefined ? [] : ['rsa']),
    ...(group.beacon === undefined ? [] : ['beacon']),
    ...(group.signerRsa === undefined ? [] : ['signerRsa']),
  ]);
  const linkSecret = hexBytes(o['SINTRA_LINK_SECRET'], 'SINTRA_LINK_SECRET', LINK_KEY_BYTES);
  let rsa: ThresholdRsaKeyShare | undefined;
  if (group.rsa !== undefined) {
    const { n } = group.rsa.publicKey;
    rsa = { signer: index, s: rsaInteger(shares['rsa'], 'SINTRA_KEY_SHARES.rsa', Math.ceil(bitLength(n) / 8), n, true) };
  }
  const signerRsa =
    group.signerRsa === undefined
      ? undefined
      : { signer: index, s: rsaInteger(shares['signerRsa'], 'SINTRA_KEY_SHARES.signerRsa', Math.ceil(bitLength(group.signerRsa.n) / 8), group.signerRsa.n, true) };
  return {
    index,
    id,
    kernel: parseShares(shares['kernel'], 'SINTRA_KEY_SHARES.kernel', index, group.kernel.scheme),
    quorum: parseShares(shares['quorum'], 'SINTRA_KEY_SHARES.quorum', index, group.quorum.scheme),
    encryption: parseShares(shares['encryption'], 'SINTRA_KEY_SHARES.encryption', index, group.encryption.scheme),
    ...(rsa === undefined ? {} : { rsa }),
    ...(group.beacon === undefined ? {} : { beacon: parseShares(shares['beacon'], 'SINTRA_KEY_SHARES.beacon', index, group.beacon.key.scheme) }),
    ...(group.echo === undefined ? {} : { echo: echoSeed(group.groupId, linkSecret) }),
    ...(signerRsa === undefined ? {} : { signerRsa }),
    linkSecret,
  };
}

/** Each of the replica's values times the base point is its row key; the link secret matches its public key. */
export function verifyReplicaSecrets(group: Group, secrets: ReplicaSecrets): void {
  const replica = group.replicas[secrets.index];
  if (!replica || replica.id !== secrets.id) throw new ConfigError('SINTRA_REPLICA_ID', `not a replica of this group`);
  const check = (name: KeyName, share: KeyShare, scheme: SharingScheme, matches: (row: number, v: bigint) => boolean) => {
    if (share.replica !== secrets.index) throw new ConfigError(`SINTRA_KEY_SHARES.${name}`, `belongs to replica ${share.replica}`);
    const rows = scheme.rowsOf(secrets.index);
    if (rows.length !== share.values.length) throw new ConfigError(`SINTRA_KEY_SHARES.${name}`, `expected ${rows.length} values`);
    rows.forEach((row, i) => {
      if (!matches(row, share.values[i]!)) throw new ConfigError(`SINTRA_KEY_SHARES.${name}[${i}]`, `does not match keys.${name}.rowKeys[${row}]`);
    });
  };
  check('kernel', secrets.kernel, group.kernel.scheme, (row, v) => G2.BASE.multiply(v).equals(group.kernel.rowKeys[row]!));
  check('quorum', secrets.quorum, group.quorum.scheme, (row, v) => G2.BASE.multiply(v).equals(group.quorum.rowKeys[row]!));
  check('encryption', secrets.encryption, group.encryption.scheme, (row, v) => G1.BASE.multiply(v).equals(group.encryption.rowKeys[row]!));
  if (group.rsa !== undefined) {
    const share = secrets.rsa;
    if (share === undefined) throw new ConfigError('SINTRA_KEY_SHARES.rsa', 'missing (the group has keys.rsa)');
    if (share.signer !== secrets.index || !checkKeyShare(group.rsa.publicKey, share)) {
      throw new ConfigError('SINTRA_KEY_SHARES.rsa', `does not match keys.rsa.verificationKeys[${secrets.index}]`);
    }
  } else if (secrets.rsa !== undefined) {
    throw new ConfigError('SINTRA_KEY_SHARES.rsa', 'the group has no RSA key (group.json has no keys.rsa)');
  }
  if (group.signerRsa !== undefined) {
    const share = secrets.signerRsa;
    if (share === undefined) throw new ConfigError('SINTRA_KEY_SHARES.signerRsa', 'missing (the group has keys.signerRsa)');
    if (share.signer !== secrets.index || !checkKeyShare(group.signerRsa, share)) {
      throw new ConfigError('SINTRA_KEY_SHARES.signerRsa', `does not match keys.signerRsa.verificationKeys[${secrets.index}]`);
    }
  } else if (secrets.signerRsa !== undefined) {
    throw new ConfigError('SINTRA_KEY_SHARES.signerRsa', 'the group has no signing RSA key (group.json has no keys.signerRsa)');
  }
  if (group.beacon !== undefined) {
    const share = secrets.beacon;
    if (share === undefined) throw new ConfigError('SINTRA_KEY_SHARES.beacon', 'missing (the group has keys.beacon)');
    const rows = group.beacon.key.scheme.rowsOf(secrets.index);
    if (share.replica !== secrets.index || share.values.length !== rows.length) throw new ConfigError('SINTRA_KEY_SHARES.beacon', `expected ${rows.length} values of replica ${secrets.index}`);
    rows.forEach((row, i) => {
      if (!G2.BASE.multiply(share.values[i]!).equals(group.beacon!.key.rowKeys[row]!)) throw new ConfigError(`SINTRA_KEY_SHARES.beacon[${i}]`, `does not match keys.beacon.rowKeys[${row}]`);
    });
  } else if (secrets.beacon !== undefined) {
    throw new ConfigError('SINTRA_KEY_SHARES.beacon', 'the group has no beacon key (group.json has no keys.beacon)');
  }
  if (!bytesEqual(x25519.getPublicKey(secrets.linkSecret), replica.linkKey)) {
    throw new ConfigError('SINTRA_LINK_SECRET', `does not match replicas[${secrets.index}].linkKey`);
  }
  if (group.echo !== undefined) {
    const seed = echoSeed(group.groupId, secrets.linkSecret);
    if (secrets.echo === undefined || !bytesEqual(secrets.echo, seed)) throw new ConfigError('SINTRA_LINK_SECRET', 'the echo seed is not the one derived from it');
    if (!bytesEqual(ed25519PublicKey(seed), group.echo[secrets.index]!)) {
      throw new ConfigError(`keys.echo.publicKeys[${secrets.index}]`, 'is not the echo key derived from the replica\'s link secret');
    }
  } else if (secrets.echo !== undefined) {
    throw new ConfigError('SINTRA_LINK_SECRET', 'an echo seed, but the group has no echo keys (group.json has no keys.echo)');
  }
}

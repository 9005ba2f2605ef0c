/**
 * docs/formats.md and the code cannot drift apart.
 *
 * 1. Vectors. The document holds test vectors, each a line `vector: <name>` followed by a fenced block
 *    (```hex, ```text or ```json). `codeVectors()` recomputes every one of them from the real code
 *    (the deterministic test group of test/helpers/group.ts, fixed Ed25519 keys, a fixed log), and the
 *    test fails when a vector differs, is missing from the document, or the document names one the code
 *    does not make.
 * 2. Strings. The `vector: strings` block lists every domain string, DST and tag prefix; each must equal
 *    the code's constant, every `sintra-edge/...` / `SINTRA-EDGE-...` literal in shared/ must appear in the
 *    document, and every such token in the document must exist in shared/ (no typos in prose).
 * 3. Independent re-implementation. The `by hand` tests rebuild the signed bytes, hashes, proofs,
 *    signatures checks, link keys and frames from the DOCUMENT's description with @noble/* directly (no
 *    import of shared/ in those helpers), taking every input and domain string from the document's blocks,
 *    and compare with the document's vectors: what a third party writing a verifier from the text does.
 *
 * To regenerate the blocks after a deliberate format change (then review the diff of docs/formats.md):
 *   FORMATS_VECTORS_OUT=/tmp/vectors.md npx vitest run test/unit/formats.test.ts
 * writes every vector, as it should appear in the document, to that file.
 */
import { POLICY_MESSAGE_LABEL, PSS_SALT_LABEL, SIGNER_ENTRY_PREFIX, SIGNER_STATE_VERSION, SIGN_MESSAGE_LABEL } from '../../shared/app/signer.ts';
import { POLICY_STATEMENT_FORMAT, SIGNATURE_FORMAT } from '../../shared/client/signer.ts';
import { AUDIT_LABEL } from '../../shared/app/signer-audit.ts';
import { SIGN_DST_PREFIX, SIGN_DST_SUFFIX } from '../../shared/crypto/group-sign.ts';
import { describe, expect, it } from 'vitest';
import { TSA_POLICY_DOMAIN } from '../../shared/crypto/tsp-policy.ts';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { bls12_381 } from '@noble/curves/bls12-381.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 as nobleSha256, sha512 } from '@noble/hashes/sha2.js';
import { standardApps, appDigests } from '../../shared/app/index.ts';
import {
  CA_ENTRY_PREFIX,
  CA_SIGNING_TAG,
  CA_STATE_VERSION,
  CA_STATEMENT_FORMAT,
  CertificateAuthority,
  ed25519PublicKey,
  encodeCaRequest,
  encodeRecord,
  registerMessage,
  registerRequest,
  renewMessage,
  renewRequest,
  revokeMessage,
  revokeRequest,
  rotateMessage,
  rotateRequest,
  verifyDirectoryStatement,
} from '../../shared/app/ca.ts';
import type { AppDigest } from '../../shared/app/ca.ts';
import { NotaryApp, encodeStampEntry } from '../../shared/app/notary.ts';
import { STATE_DIGEST_VERSION, computeStateDigest } from '../../shared/app/state.ts';
import { MapAppState } from '../../shared/app/types.ts';
import { encryptRequest } from '../../shared/client/encrypt.ts';
import { verifyStampReceipt } from '../../shared/client/sdk.ts';
import { encodeMessage } from '../../shared/codec/message-codec.ts';
import { ECHO_SEED_LABEL, GROUP_FORMAT, parseGroup } from '../../shared/config/group.ts';
import { fromHex, toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { decodeG1, decodeG2, encodeG1 } from '../../shared/crypto/curve.ts';
import { PURPOSES, boundMessage, domain, dstFor } from '../../shared/crypto/domain.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { sha256 } from '../../shared/crypto/sha256.ts';
import { decodeCiphertext, secondGenerator, verifyCiphertext } from '../../shared/crypto/tdh2.ts';
import { combineShares, encodeSignatureShare, hashToG1, signShare, verifySignature } from '../../shared/crypto/threshold-bls.ts';
import { PROOF_DOMAIN as THRESHOLD_RSA_PROOF_DOMAIN } from '../../shared/crypto/threshold-rsa.ts';
import { FRAME_VERSION, LINK_KEY_INFO, decodeFrame, deriveLinkKeys, encodeFrame, linkChannel } from '../../shared/link/index.ts';
import {
  CHECKPOINT_PAYLOAD_VERSION,
  CHECKPOINT_PAYLOAD_VERSION_1,
  EMPTY_TIME_CHAIN,
  timeChainNext,
  checkpointFromJson,
  checkpointPayload,
  checkpointTag,
  checkpointToJson,
  receiptFromJson,
  receiptToJson,
  verifyExtension,
  verifyReceipt,
} from '../../shared/log/checkpoint.ts';
import type { Checkpoint, SignedCheckpoint } from '../../shared/log/checkpoint.ts';
import { EMPTY_ROOT, leafHash, nodeHash } from '../../shared/log/merkle.ts';
import { MerkleLog } from '../../shared/log/merkle-log.ts';
import { checkpointNote } from '../../shared/log/checkpoint-note.ts';
import { EMPTY_SMT_ROOT, emptyHash, smtKey } from '../../shared/log/sparse-merkle.ts';
import { CHECKPOINT_PREFIX } from '../../shared/protocols/instance-tag.ts';
import { encodeTransport } from '../../shared/replica/transport.ts';
import { testGroup } from '../helpers/group.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOC_PATH = join(ROOT, 'docs/formats.md');

// ---------------------------------------------------------------------------------------------------------
// The fixture: a real dealt group, the standard applications, an 8-entry log in two epochs.

const { group, secrets } = testGroup(4);
const gid = group.groupId;
const edKey = (who: string): Uint8Array => sha256(utf8ToBytes(`sintra-edge formats: ${who}`));
const KEYS = { alice: edKey('alice'), 'alice-2': edKey('alice-2'), bob: edKey('bob'), carol: edKey('carol') };
const STAMPED = sha256(utf8ToBytes('hello, notary'));
const NONCE = 'c0ffee';
const TDH2_LABEL = 'sintra-sdk';
const TDH2_SEED = 'sintra-edge formats: tdh2';
const LINK_PAYLOAD_ID = 1;

interface Fixture {
  readonly entries: Uint8Array[];
  readonly responses: string[];
  readonly checkpoints: { cp: SignedCheckpoint; apps: AppDigest[] }[];
  readonly log: MerkleLog;
  readonly ca: CertificateAuthority;
  /** The CA's state after the last epoch. */
  readonly caState: MapAppState;
}

function signCheckpoint(c: Checkpoint): SignedCheckpoint {
  const d = domain(gid, 'checkpoint');
  const payload = checkpointPayload(c);
  const tag = checkpointTag(c.epoch);
  const shares = secrets.map((s) => signShare(s.kernel, d, tag, payload));
  return { ...c, signature: combineShares(group.kernel, d, tag, payload, shares).bytes };
}

/** The agreed times of the fixture's two epochs (2026-01-01T00:00:00Z, and an hour later). */
const FIXTURE_TIMES = [Date.UTC(2026, 0, 1), Date.UTC(2026, 0, 1) + 3_600_000];

function buildFixture(): Fixture {
  const apps = standardApps(group);
  const ca = apps.find((a) => a.name === 'ca') as CertificateAuthority;
  const states = new Map(apps.map((a) => [a.name, new MapAppState()]));
  const epochs: Uint8Array[][] = [
    [
      utf8ToBytes('hello'),
      encodeStampEntry({ digest: toHex(STAMPED), nonce: NONCE }),
      encodeCaRequest(registerRequest(gid, 'alice', KEYS.alice, 1000)),
      // Valid for two seconds: expired an hour later, at epoch 1's checkpoint.
      encodeCaRequest(registerRequest(gid, 'bob', KEYS.bob, 2)),
    ],
    [
      encodeCaRequest(renewRequest(gid, 'alice', 1, KEYS.alice, 100)),
      encodeCaRequest(rotateRequest(gid, 'alice', 3, KEYS.alice, KEYS['alice-2'], 100)),
      encodeCaRequest(registerRequest(gid, 'carol', KEYS.carol, 1000)),
      encodeCaRequest(revokeRequest(gid, 'carol', 5, KEYS.carol)),
    ],
  ];
  const entries: Uint8Array[] = [];
  const responses: string[] = [];
  const checkpoints: { cp: SignedCheckpoint; apps: AppDigest[] }[] = [];
  const log = new MerkleLog();
  let timeChain = EMPTY_TIME_CHAIN;
  epochs.forEach((list, epoch) => {
    const time = FIXTURE_TIMES[epoch]!;
    timeChain = timeChainNext(timeChain, epoch, time);
    for (const entry of list) {
      const at = { index: entries.length, epoch, time };
      for (const app of apps) {
        const r = app.apply(entry, at, states.get(app.name)!);
        if (r !== null) responses.push(new TextDecoder().decode(r));
      }
      entries.push(entry);
      log.append(leafHash(entry));
    }
    for (const app of apps) app.endEpoch?.(epoch, states.get(app.name)!);
    const root = log.root();
    const digests = appDigests(apps, (name) => states.get(name)!);
    checkpoints.push({ cp: signCheckpoint({ size: log.size, root, epoch, stateDigest: computeStateDigest(root, digests), time, timeChain }), apps: digests });
  });
  return { entries, responses, checkpoints, log, ca, caState: states.get('ca')! };
}

const fx = buildFixture();

// ---------------------------------------------------------------------------------------------------------
// Vectors from the code

type Kind = 'hex' | 'text' | 'json';
interface Vector {
  readonly kind: Kind;
  readonly body: string;
}

const hexBlock = (b: Uint8Array): Vector => ({ kind: 'hex', body: toHex(b).replace(/(.{64})(?=.)/g, '$1\n') });
const textBlock = (s: string): Vector => ({ kind: 'text', body: s });
const jsonBlock = (o: unknown): Vector => ({ kind: 'json', body: JSON.stringify(o, null, 2) });

function codeVectors(): Map<string, Vector> {
  const v = new Map<string, Vector>();
  const strings: [string, string][] = [
    ['checkpoint-payload', CHECKPOINT_PAYLOAD_VERSION],
    ['checkpoint-payload-v1', CHECKPOINT_PAYLOAD_VERSION_1],
    ['time-chain', 'sintra-edge/time-chain@1'],
    ['receipt-format', receiptToJson(gid, { entry: fx.entries[0]!, index: 0, proof: [], checkpoint: fx.checkpoints[0]!.cp }).format],
    ['group-format', GROUP_FORMAT],
    ['state-digest', STATE_DIGEST_VERSION],
    ['notary-chain', 'sintra-edge/notary@1'],
    ['ca-state', CA_STATE_VERSION],
    ['ca-statement-format', CA_STATEMENT_FORMAT],
    ['ca-request', CA_SIGNING_TAG],
    ['bound-message', 'sintra-edge/v1'],
    ['hash-to-scalar-prefix', 'sintra-edge/v1/h2s/'],
    ['coin-value', 'sintra-edge/v1/coin-value'],
    ['tdh2-gbar-message', 'sintra-edge/v1/tdh2/second-generator'],
    ['tdh2-dem-key', 'sintra-edge/v1/tdh2/dem-key'],
    ['link-key-info', LINK_KEY_INFO],
    ['echo-key', ECHO_SEED_LABEL],
    ['threshold-rsa-proof', THRESHOLD_RSA_PROOF_DOMAIN],
    ['tsa-policy', TSA_POLICY_DOMAIN],
    ...PURPOSES.map((p): [string, string] => [`dst-${p}`, dstFor(p)]),
    ['dst-tdh2-gbar', 'SINTRA-EDGE-V1-TDH2-GBAR_BLS12381G1_XMD:SHA-256_SSWU_RO_'],
    ['checkpoint-tag-prefix', CHECKPOINT_PREFIX],
    ['tdh2-label-tag', 'tdh2/label'],
    ['notary-entry-prefix', '{"app":"notary",'],
    ['ca-entry-prefix', CA_ENTRY_PREFIX],
    ['signer-sign', SIGN_MESSAGE_LABEL],
    ['signer-policy-sign', POLICY_MESSAGE_LABEL],
    ['signer-state', SIGNER_STATE_VERSION],
    ['signer-entry-prefix', SIGNER_ENTRY_PREFIX],
    ['signature-format', SIGNATURE_FORMAT],
    ['signer-statement', POLICY_STATEMENT_FORMAT],
    ['signer-audit', AUDIT_LABEL],
    ['signer-pss-salt', PSS_SALT_LABEL],
    ['dst-sign-prefix', SIGN_DST_PREFIX],
    ['dst-sign-suffix', SIGN_DST_SUFFIX],
  ];
  const width = Math.max(...strings.map(([k]) => k.length)) + 2;
  v.set('strings', textBlock(strings.map(([k, s]) => k.padEnd(width) + s).join('\n')));

  v.set('group-json', jsonBlock(group.file));
  v.set('ed25519-secret-keys', textBlock(Object.entries(KEYS).map(([k, s]) => `${k.padEnd(8)} ${toHex(s)}`).join('\n')));
  v.set('link-secret-0', hexBlock(secrets[0]!.linkSecret));

  // The log.
  const dec = new TextDecoder();
  v.set('log-entries', textBlock(fx.entries.map((e) => dec.decode(e)).join('\n')));
  v.set('request-id-1', hexBlock(sha256(fx.entries[1]!)));
  v.set('leaf-hash-0', hexBlock(leafHash(fx.entries[0]!)));
  v.set('node-hash-0-1', hexBlock(nodeHash(leafHash(fx.entries[0]!), leafHash(fx.entries[1]!))));
  v.set('empty-log-root', hexBlock(EMPTY_ROOT));
  v.set('responses', textBlock(fx.responses.join('\n')));

  // Checkpoints.
  const cp1 = fx.checkpoints[1]!.cp;
  const d = domain(gid, 'checkpoint');
  v.set('checkpoint-payload', hexBlock(checkpointPayload(cp1)));
  v.set('checkpoint-signed-message', hexBlock(boundMessage(d, checkpointTag(cp1.epoch), checkpointPayload(cp1))));
  v.set('checkpoint-message-point', hexBlock(encodeG1(hashToG1(d, checkpointTag(cp1.epoch), checkpointPayload(cp1)))));
  v.set('checkpoint-share-0', hexBlock(encodeSignatureShare(signShare(secrets[0]!.kernel, d, checkpointTag(cp1.epoch), checkpointPayload(cp1)))));
  v.set('checkpoint-epoch-0', jsonBlock(checkpointToJson(fx.checkpoints[0]!.cp)));
  v.set('checkpoint-epoch-1', jsonBlock(checkpointToJson(cp1)));
  v.set('checkpoint-note', textBlock(checkpointNote(gid, group.kernel.groupKey, cp1).trimEnd()));
  v.set('receipt', jsonBlock(receiptToJson(gid, { entry: fx.entries[1]!, index: 1, proof: fx.log.inclusionProof(1, cp1.size), checkpoint: cp1 })));
  const size0 = fx.checkpoints[0]!.cp.size;
  v.set('consistency-proof', jsonBlock({ first: size0, second: 8, proof: fx.log.consistencyProof(size0, 8).map(toHex) }));

  // Notary and CA.
  v.set('notary-chain-initial', hexBlock(new NotaryApp().digest(new MapAppState())));
  const alice0 = registerRequest(gid, 'alice', KEYS.alice, 1000);
  v.set('ca-message-register', hexBlock(registerMessage(gid, 'alice', fromHex(alice0.key), 1000)));
  v.set('ca-message-renew', hexBlock(renewMessage(gid, 'alice', 1, 100)));
  v.set('ca-message-rotate', hexBlock(rotateMessage(gid, 'alice', 3, ed25519PublicKey(KEYS['alice-2']), 100)));
  v.set('ca-message-revoke', hexBlock(revokeMessage(gid, 'carol', 5)));
  const aliceRecord = fx.ca.record(fx.caState, 'alice')!;
  v.set('ca-record-alice', textBlock(new TextDecoder().decode(encodeRecord(aliceRecord))));
  v.set('smt-key-alice', hexBlock(smtKey('alice')));
  v.set('smt-empty-leaf', hexBlock(emptyHash(0)));
  v.set('smt-empty-root', hexBlock(EMPTY_SMT_ROOT));
  for (const name of ['alice', 'bob', 'carol', 'dave']) {
    v.set(`statement-${name}`, jsonBlock(fx.ca.statement(fx.caState, name, cp1, fx.checkpoints[1]!.apps)));
  }

  // TDH2.
  const enc = encryptRequest(group, fx.entries[1]!, TDH2_LABEL, seededRandom(TDH2_SEED));
  v.set('tdh2-gbar', hexBlock(encodeG1(secondGenerator())));
  v.set('tdh2-bound-label', hexBlock(boundMessage(domain(gid, 'tdh2'), 'tdh2/label', utf8ToBytes(TDH2_LABEL))));
  v.set('tdh2-ciphertext', hexBlock(enc.ciphertext));
  v.set('tdh2-ciphertext-id', hexBlock(fromHex(enc.ciphertextId)));

  // Link.
  const keys = deriveLinkKeys({ groupId: gid, me: 0, mySecret: secrets[0]!.linkSecret, peer: 1, peerPublic: group.replicas[1]!.linkKey });
  v.set('link-key-0-1', hexBlock(keys.outgoing));
  const share = encodeSignatureShare(signShare(secrets[0]!.kernel, d, checkpointTag(cp1.epoch), checkpointPayload(cp1)));
  const message = encodeMessage({ tag: checkpointTag(cp1.epoch), body: { t: 'ckpt-share', share } });
  const payload = encodeTransport([{ id: LINK_PAYLOAD_ID, bytes: message }], LINK_PAYLOAD_ID);
  v.set('link-frame-0-1', hexBlock(encodeFrame(linkChannel(gid, 0, 1, keys.outgoing), { seq: 1, ack: 0, payload })));
  return v;
}

function markdownOf(vectors: Map<string, Vector>): string {
  return [...vectors].map(([name, vec]) => `vector: ${name}\n\`\`\`${vec.kind}\n${vec.body}\n\`\`\`\n`).join('\n');
}

// ---------------------------------------------------------------------------------------------------------
// The document

const DOC = readFileSync(DOC_PATH, 'utf8');

/** Every `vector: <name>` line followed by a fenced block, by name (a name given twice is an error). */
function docVectors(md: string): Map<string, Vector> {
  const out = new Map<string, Vector>();
  const lines = md.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^vector: ([a-z0-9-]+)\s*$/.exec(lines[i]!);
    if (!m) continue;
    const open = /^```(hex|text|json)\s*$/.exec(lines[i + 1] ?? '');
    if (!open) throw new Error(`docs/formats.md line ${i + 2}: vector ${m[1]} is not followed by a \`\`\`hex, \`\`\`text or \`\`\`json block`);
    const body: string[] = [];
    let j = i + 2;
    for (; j < lines.length && lines[j] !== '```'; j++) body.push(lines[j]!);
    if (j === lines.length) throw new Error(`docs/formats.md: the block of vector ${m[1]} is not closed`);
    if (out.has(m[1]!)) throw new Error(`docs/formats.md: vector ${m[1]} appears twice`);
    out.set(m[1]!, { kind: open[1] as Kind, body: body.join('\n') });
    i = j;
  }
  return out;
}

const docV = docVectors(DOC);

function docBlock(name: string, kind: Kind): string {
  const b = docV.get(name);
  if (!b) throw new Error(`docs/formats.md has no vector ${name}`);
  if (b.kind !== kind) throw new Error(`vector ${name} is a ${b.kind} block, expected ${kind}`);
  return b.body;
}

// Hand-written helpers for the `by hand` tests: @noble/* and the platform only, nothing from shared/.
const H = {
  hex(b: Uint8Array): string {
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  },
  bytes(hex: string): Uint8Array {
    const s = hex.replace(/\s+/g, '');
    if (!/^(?:[0-9a-f]{2})*$/.test(s)) throw new Error(`not lower-case hex: ${s.slice(0, 20)}`);
    return Uint8Array.from(s.match(/../g) ?? [], (x) => parseInt(x, 16));
  },
  utf8: (s: string): Uint8Array => new TextEncoder().encode(s),
  cat(...parts: Uint8Array[]): Uint8Array {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  },
  u16(n: number): Uint8Array {
    return Uint8Array.of(n >>> 8, n & 0xff);
  },
  u32(n: number): Uint8Array {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n, false);
    return b;
  },
  u64(n: number): Uint8Array {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(n), false);
    return b;
  },
  /** frame(parts): each part prefixed by its length as u32 big-endian; strings as UTF-8. */
  frame(...parts: (Uint8Array | string)[]): Uint8Array {
    return H.cat(...parts.flatMap((p) => {
      const b = typeof p === 'string' ? H.utf8(p) : p;
      return [H.u32(b.length), b];
    }));
  },
  sha256: (b: Uint8Array): Uint8Array => nobleSha256(b),
  eq(a: Uint8Array, b: Uint8Array): boolean {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  },
  big(b: Uint8Array): bigint {
    return b.reduce((acc, x) => (acc << 8n) | BigInt(x), 0n);
  },
};

/** The `strings` block: name -> value (parsed on first use). */
let stringsBlock: Record<string, string> | undefined;
function str(k: string): string {
  if (!stringsBlock) {
    stringsBlock = {};
    for (const line of docBlock('strings', 'text').split('\n')) {
      const m = /^(\S+)\s+(\S+)$/.exec(line);
      if (!m) throw new Error(`strings block: bad line ${JSON.stringify(line)}`);
      stringsBlock[m[1]!] = m[2]!;
    }
  }
  const s = stringsBlock[k];
  if (s === undefined) throw new Error(`docs/formats.md strings block has no ${k}`);
  return s;
}
const docJson = <T>(name: string): T => JSON.parse(docBlock(name, 'json')) as T;

// ---------------------------------------------------------------------------------------------------------

describe('docs/formats.md vectors are what the code produces', () => {
  const code = codeVectors();

  it.runIf(!!process.env['FORMATS_VECTORS_OUT'])('writes the current vectors to $FORMATS_VECTORS_OUT', () => {
    writeFileSync(process.env['FORMATS_VECTORS_OUT']!, markdownOf(code));
  });

  it('has every vector, and only those', () => {
    expect([...docV.keys()].sort()).toEqual([...code.keys()].sort());
  });

  for (const [name, vec] of code) {
    it(`vector ${name}`, () => {
      const doc = docV.get(name);
      expect(doc, `docs/formats.md lacks vector ${name}`).toBeDefined();
      expect(doc!.kind).toBe(vec.kind);
      if (vec.kind === 'hex') expect(doc!.body.replace(/\s+/g, '')).toBe(vec.body.replace(/\s+/g, ''));
      else if (vec.kind === 'json') expect(JSON.stringify(JSON.parse(doc!.body))).toBe(JSON.stringify(JSON.parse(vec.body)));
      else expect(doc!.body).toBe(vec.body);
    });
  }
});

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('docs/formats.md names every domain string of shared/, and no other', () => {
  const source = sourceFiles(join(ROOT, 'shared')).map((f) => readFileSync(f, 'utf8')).join('\n');

  it('every sintra-edge/ and SINTRA-EDGE- string literal in shared/ appears in the document', () => {
    const literals = new Set<string>();
    for (const m of source.matchAll(/['"`]((?:sintra-edge\/|SINTRA-EDGE-)[^'"`$\s]*)/g)) literals.add(m[1]!);
    expect(literals.size).toBeGreaterThan(15);
    const missing = [...literals].filter((l) => !DOC.includes(l));
    expect(missing).toEqual([]);
  });

  it('every such token in the document exists in shared/ (or is a DST the code builds)', () => {
    const dsts = new Set(PURPOSES.map(dstFor));
    const tokens = new Set<string>();
    for (const m of DOC.matchAll(/sintra-edge\/[a-z0-9@./-]*[a-z0-9@]/g)) tokens.add(m[0]);
    for (const m of DOC.matchAll(/SINTRA-EDGE-[A-Z0-9-]+_BLS12381G1_XMD:SHA-256_SSWU_RO_/g)) tokens.add(m[0]);
    // A checkpoint note's origin is `sintra-edge/` + a group id (checkpointOrigin), not a constant.
    const origin = /^sintra-edge\/[0-9a-f]{64}$/;
    const unknown = [...tokens].filter((t) => !source.includes(t) && !dsts.has(t) && !origin.test(t));
    expect(unknown).toEqual([]);
  });

  it('the strings block holds the code constants', () => {
    expect(str('checkpoint-payload')).toBe(CHECKPOINT_PAYLOAD_VERSION);
    expect(str('group-format')).toBe(GROUP_FORMAT);
    expect(str('state-digest')).toBe(STATE_DIGEST_VERSION);
    expect(str('ca-state')).toBe(CA_STATE_VERSION);
    expect(str('ca-statement-format')).toBe(CA_STATEMENT_FORMAT);
    expect(str('ca-request')).toBe(CA_SIGNING_TAG);
    expect(str('link-key-info')).toBe(LINK_KEY_INFO);
    expect(str('echo-key')).toBe(ECHO_SEED_LABEL);
    expect(str('tsa-policy')).toBe(TSA_POLICY_DOMAIN);
    for (const p of PURPOSES) expect(str(`dst-${p}`)).toBe(dstFor(p));
  });
});

// ---------------------------------------------------------------------------------------------------------
// By hand: a verifier written from the document, on @noble/* only, with every input from the document.

const G1P = bls12_381.G1.Point;
const G2P = bls12_381.G2.Point;
const R_ORDER = bls12_381.fields.Fr.ORDER;

interface CheckpointJ {
  size: number;
  root: string;
  epoch: number;
  stateDigest: string;
  time: number;
  timeChain: string;
  signature: string;
}
interface ReceiptJ {
  format: string;
  groupId: string;
  entry: string;
  index: number;
  proof: string[];
  checkpoint: CheckpointJ;
}
interface RecordJ {
  v: number;
  name: string;
  key: string;
  serial: number;
  index: number;
  notBefore: number;
  notAfter: number;
  status: string;
  revokedAt: number | null;
}
interface StatementJ {
  format: string;
  groupId: string;
  name: string;
  record: RecordJ | null;
  proof: string;
  ca: { root: string; issued: number };
  apps: { name: string; digest: string }[];
  checkpoint: CheckpointJ;
}
interface GroupJ {
  format: string;
  groupId: string;
  replicas: { index: number; linkKey: string }[];
  keys: { kernel: { groupKey: string; rowKeys: string[] }; encryption: { publicKey: string }; echo: { publicKeys: string[] } };
}

const groupJ = (): GroupJ => docJson<GroupJ>('group-json');
const docHex = (name: string): Uint8Array => H.bytes(docBlock(name, 'hex'));
const docEntries = (): Uint8Array[] => docBlock('log-entries', 'text').split('\n').map(H.utf8);

const leafH = (e: Uint8Array): Uint8Array => H.sha256(H.cat(Uint8Array.of(0x00), e));
const nodeH = (l: Uint8Array, r: Uint8Array): Uint8Array => H.sha256(H.cat(Uint8Array.of(0x01), l, r));
/** RFC 6962 MTH over leaf hashes: split at the largest power of two smaller than n. */
function mth(leaves: Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return H.sha256(new Uint8Array(0));
  if (leaves.length === 1) return leaves[0]!;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeH(mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

/** RFC 9162 section 2.1.3.2. */
function verifyInclusionByHand(leaf: Uint8Array, index: number, size: number, proof: Uint8Array[], root: Uint8Array): boolean {
  if (index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeH(p, r);
      if (fn % 2 === 0) while (fn % 2 === 0 && fn !== 0) [fn, sn] = [fn >> 1, sn >> 1];
    } else r = nodeH(r, p);
    [fn, sn] = [fn >> 1, sn >> 1];
  }
  return sn === 0 && H.eq(r, root);
}

/** RFC 9162 section 2.1.4.2 (0 < first < second). */
function verifyConsistencyByHand(first: number, second: number, proof: Uint8Array[], root1: Uint8Array, root2: Uint8Array): boolean {
  const path = (first & (first - 1)) === 0 ? [root1, ...proof] : [...proof];
  let fn = first - 1;
  let sn = second - 1;
  while (fn % 2 === 1) [fn, sn] = [fn >> 1, sn >> 1];
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeH(c, fr);
      sr = nodeH(c, sr);
      if (fn % 2 === 0) while (fn % 2 === 0 && fn !== 0) [fn, sn] = [fn >> 1, sn >> 1];
    } else sr = nodeH(sr, c);
    [fn, sn] = [fn >> 1, sn >> 1];
  }
  return sn === 0 && H.eq(fr, root1) && H.eq(sr, root2);
}

/** The signed checkpoint payload and the message hashed to G1 (section "Checkpoints"). */
function checkpointMessageByHand(groupIdRaw: Uint8Array, c: CheckpointJ): { payload: Uint8Array; message: Uint8Array } {
  const payload = H.frame(str('checkpoint-payload'), H.u64(c.size), H.bytes(c.root), H.u64(c.epoch), H.bytes(c.stateDigest), H.u64(c.time), H.bytes(c.timeChain));
  const message = H.frame(str('bound-message'), 'checkpoint', groupIdRaw, `${str('checkpoint-tag-prefix')}/${c.epoch}`, payload);
  return { payload, message };
}

/** e(sig, g2) == e(H(m), pk): the BLS check with signatures in G1 and keys in G2. */
function blsVerifyByHand(pk: Uint8Array, message: Uint8Array, dst: string, sig: Uint8Array): boolean {
  const flags = (b: Uint8Array) => b[0]! & 0xe0;
  if (sig.length !== 48 || (flags(sig) !== 0x80 && flags(sig) !== 0xa0)) return false;
  if (pk.length !== 96 || (flags(pk) !== 0x80 && flags(pk) !== 0xa0)) return false;
  const s = G1P.fromBytes(sig);
  const k = G2P.fromBytes(pk);
  s.assertValidity();
  k.assertValidity();
  const h = bls12_381.G1.hashToCurve(message, { DST: dst }) as unknown as InstanceType<typeof G1P>;
  const { Fp12 } = bls12_381.fields;
  return Fp12.eql(bls12_381.pairing(s, G2P.BASE), bls12_381.pairing(h, k));
}

/** Sparse Merkle tree by hand: empty hashes, and the root a proof leads to. */
function smtEmpty(): Uint8Array[] {
  const e = [H.sha256(Uint8Array.of(0x02))];
  for (let h = 1; h <= 256; h++) e.push(nodeH(e[h - 1]!, e[h - 1]!));
  return e;
}
const bitOf = (b: Uint8Array, d: number): number => (b[d >> 3]! >> (7 - (d & 7))) & 1;
function smtRootByHand(key: Uint8Array, value: Uint8Array | null, proof: Uint8Array): Uint8Array {
  const empty = smtEmpty();
  const bitmap = proof.subarray(0, 32);
  let n = 0;
  for (let d = 0; d < 256; d++) n += bitOf(bitmap, d);
  if (proof.length !== 32 + 32 * n) throw new Error('proof length');
  const siblings: Uint8Array[] = [];
  for (let i = 0; i < n; i++) siblings.push(proof.subarray(32 + 32 * i, 64 + 32 * i));
  let h = value === null ? empty[0]! : H.sha256(H.cat(Uint8Array.of(0x00), key, value));
  let i = n;
  for (let d = 255; d >= 0; d--) {
    let sib = empty[255 - d]!;
    if (bitOf(bitmap, d) === 1) {
      sib = siblings[--i]!;
      if (H.eq(sib, empty[255 - d]!)) throw new Error('listed empty sibling');
    }
    h = bitOf(key, d) === 1 ? nodeH(sib, h) : nodeH(h, sib);
  }
  return h;
}
const recordBytesByHand = (r: RecordJ): Uint8Array =>
  H.utf8(JSON.stringify({ v: r.v, name: r.name, key: r.key, serial: r.serial, index: r.index, notBefore: r.notBefore, notAfter: r.notAfter, status: r.status, revokedAt: r.revokedAt }));

describe('by hand: a verifier written from docs/formats.md alone', () => {
  it('frame, the checkpoint payload and the message hashed to G1', () => {
    const gidRaw = H.bytes(groupJ().groupId);
    const c = docJson<CheckpointJ>('checkpoint-epoch-1');
    const { payload, message } = checkpointMessageByHand(gidRaw, c);
    expect(H.hex(payload)).toBe(H.hex(docHex('checkpoint-payload')));
    expect(H.hex(message)).toBe(H.hex(docHex('checkpoint-signed-message')));
    // The payload is 4+24 + 4+8 + 4+32 + 4+8 + 4+32 + 4+8 + 4+32 = 172 bytes and starts with the domain string.
    expect(payload.length).toBe(172);
    expect(new TextDecoder().decode(payload.subarray(4, 28))).toBe('sintra-edge/checkpoint@2');
    // The time chain: from 32 zero bytes, one link per epoch that appended entries (both epochs did).
    const c0 = docJson<CheckpointJ>('checkpoint-epoch-0');
    const link = (prev: Uint8Array, x: CheckpointJ) => H.sha256(H.frame(str('time-chain'), prev, H.u64(x.epoch), H.u64(x.time)));
    const chain0 = link(new Uint8Array(32), c0);
    expect(H.hex(chain0)).toBe(c0.timeChain);
    expect(H.hex(link(chain0, c))).toBe(c.timeChain);
    const point = bls12_381.G1.hashToCurve(message, { DST: str('dst-checkpoint') }) as unknown as InstanceType<typeof G1P>;
    expect(H.hex(point.toBytes(true))).toBe(H.hex(docHex('checkpoint-message-point')));
  });

  it('checkpoint signatures verify with keys.kernel.groupKey; the group id is signed as 32 raw bytes, not as hex text', () => {
    const g = groupJ();
    const pk = H.bytes(g.keys.kernel.groupKey);
    for (const name of ['checkpoint-epoch-0', 'checkpoint-epoch-1']) {
      const c = docJson<CheckpointJ>(name);
      const sig = H.bytes(c.signature);
      expect(blsVerifyByHand(pk, checkpointMessageByHand(H.bytes(g.groupId), c).message, str('dst-checkpoint'), sig)).toBe(true);
      // The same bytes with the group id as its 64 ASCII hex digits, or another epoch, or another DST: no.
      expect(blsVerifyByHand(pk, checkpointMessageByHand(H.utf8(g.groupId), c).message, str('dst-checkpoint'), sig)).toBe(false);
      expect(blsVerifyByHand(pk, checkpointMessageByHand(H.bytes(g.groupId), { ...c, epoch: c.epoch + 1 }).message, str('dst-checkpoint'), sig)).toBe(false);
    }
    const c1 = docJson<CheckpointJ>('checkpoint-epoch-1');
    expect(blsVerifyByHand(pk, checkpointMessageByHand(H.bytes(g.groupId), c1).message, str('dst-statement'), H.bytes(c1.signature))).toBe(false);
    // The quorum key does not verify checkpoints.
    const quorumKey = H.bytes((g.keys as unknown as { quorum: { groupKey: string } }).quorum.groupKey);
    expect(blsVerifyByHand(quorumKey, checkpointMessageByHand(H.bytes(g.groupId), c1).message, str('dst-checkpoint'), H.bytes(c1.signature))).toBe(false);
  });

  it("a replica's checkpoint share verifies with its row key (u16 signer, u16 count, 48-byte points)", () => {
    const share = docHex('checkpoint-share-0');
    const signer = (share[0]! << 8) | share[1]!;
    const count = (share[2]! << 8) | share[3]!;
    expect([signer, count, share.length]).toEqual([0, 1, 4 + 48]);
    const g = groupJ();
    const { message } = checkpointMessageByHand(H.bytes(g.groupId), docJson<CheckpointJ>('checkpoint-epoch-1'));
    expect(blsVerifyByHand(H.bytes(g.keys.kernel.rowKeys[signer]!), message, str('dst-checkpoint'), share.subarray(4))).toBe(true);
    expect(blsVerifyByHand(H.bytes(g.keys.kernel.rowKeys[1]!), message, str('dst-checkpoint'), share.subarray(4))).toBe(false);
  });

  it('RFC 6962 leaf and node hashes, tree roots, the receipt inclusion proof and the consistency proof', () => {
    const entries = docEntries();
    const leaves = entries.map(leafH);
    expect(H.hex(leaves[0]!)).toBe(H.hex(docHex('leaf-hash-0')));
    expect(H.hex(nodeH(leaves[0]!, leaves[1]!))).toBe(H.hex(docHex('node-hash-0-1')));
    expect(H.hex(mth([]))).toBe(H.hex(docHex('empty-log-root')));
    const c0 = docJson<CheckpointJ>('checkpoint-epoch-0');
    const c1 = docJson<CheckpointJ>('checkpoint-epoch-1');
    expect(H.hex(mth(leaves.slice(0, c0.size)))).toBe(c0.root);
    expect(H.hex(mth(leaves.slice(0, c1.size)))).toBe(c1.root);
    expect(H.hex(H.sha256(entries[1]!))).toBe(H.hex(docHex('request-id-1')));

    const r = docJson<ReceiptJ>('receipt');
    expect(r.format).toBe(str('receipt-format'));
    expect(r.groupId).toBe(groupJ().groupId);
    expect(r.checkpoint).toEqual(c1);
    const entry = H.bytes(r.entry);
    expect(H.eq(entry, entries[r.index]!)).toBe(true);
    const proof = r.proof.map(H.bytes);
    expect(verifyInclusionByHand(leafH(entry), r.index, r.checkpoint.size, proof, H.bytes(r.checkpoint.root))).toBe(true);
    expect(verifyInclusionByHand(leafH(entry), r.index + 1, r.checkpoint.size, proof, H.bytes(r.checkpoint.root))).toBe(false);
    expect(verifyInclusionByHand(leafH(entry), r.index, r.checkpoint.size, [...proof, proof[0]!], H.bytes(r.checkpoint.root))).toBe(false);

    const cp = docJson<{ first: number; second: number; proof: string[] }>('consistency-proof');
    expect([cp.first, cp.second]).toEqual([c0.size, c1.size]);
    expect(verifyConsistencyByHand(cp.first, cp.second, cp.proof.map(H.bytes), H.bytes(c0.root), H.bytes(c1.root))).toBe(true);
    expect(verifyConsistencyByHand(cp.first, cp.second, cp.proof.map(H.bytes), H.bytes(c1.root), H.bytes(c0.root))).toBe(false);
  });

  it('the state digest: notary hash chain, CA digest, then the framed list of (name, digest)', () => {
    const st = docJson<StatementJ>('statement-alice');
    const c1 = docJson<CheckpointJ>('checkpoint-epoch-1');
    // Notary: the chain over the one stamp entry (index and epoch from its response line).
    const chain0 = H.sha256(H.frame(str('notary-chain')));
    expect(H.hex(chain0)).toBe(H.hex(docHex('notary-chain-initial')));
    const stampLine = docBlock('log-entries', 'text').split('\n')[1]!;
    expect(stampLine.startsWith(str('notary-entry-prefix'))).toBe(true);
    const stamp = JSON.parse(stampLine) as { digest: string; nonce: string };
    const resp = JSON.parse(docBlock('responses', 'text').split('\n')[0]!) as { index: number; epoch: number; first: boolean };
    const chain1 = H.sha256(H.frame(str('notary-chain'), chain0, H.u64(resp.index), H.u64(resp.epoch), H.bytes(stamp.digest), H.bytes(stamp.nonce), resp.first ? '1' : '0'));
    expect(st.apps[0]).toEqual({ name: 'notary', digest: H.hex(chain1) });
    // CA.
    const caDigest = H.sha256(H.frame(str('ca-state'), H.bytes(st.ca.root), H.u64(st.ca.issued)));
    expect(st.apps[1]).toEqual({ name: 'ca', digest: H.hex(caDigest) });
    // State digest.
    const stateDigest = H.sha256(H.frame(str('state-digest'), H.bytes(c1.root), ...st.apps.flatMap((a) => [a.name, H.bytes(a.digest)])));
    expect(H.hex(stateDigest)).toBe(c1.stateDigest);
  });

  it('CA requests: canonical entries, the signed messages, strict Ed25519, and serials counted across all names', () => {
    const gidRaw = H.bytes(groupJ().groupId);
    const lines = docBlock('log-entries', 'text').split('\n');
    const keys = new Map<string, string>();
    const serials = new Map<string, number>();
    let issued = 0;
    const messages: Record<string, Uint8Array> = {};
    for (const line of lines.filter((l) => l.startsWith(str('ca-entry-prefix')))) {
      const o = JSON.parse(line) as Record<string, string | number>;
      const fields: Record<string, string[]> = {
        register: ['app', 'v', 'op', 'name', 'key', 'validFor', 'pop'],
        renew: ['app', 'v', 'op', 'name', 'serial', 'validFor', 'sig'],
        rotate: ['app', 'v', 'op', 'name', 'serial', 'newKey', 'validFor', 'sig', 'pop'],
        revoke: ['app', 'v', 'op', 'name', 'serial', 'sig'],
      };
      const op = o['op'] as string;
      expect(Object.keys(o)).toEqual(fields[op]);
      expect(JSON.stringify(Object.fromEntries(fields[op]!.map((f) => [f, o[f]])))).toBe(line);
      const name = o['name'] as string;
      const verify = (sigHex: string, msg: Uint8Array, keyHex: string) => ed25519.verify(H.bytes(sigHex), msg, H.bytes(keyHex), { zip215: false });
      let msg: Uint8Array;
      if (op === 'register') {
        msg = H.frame(str('ca-request'), gidRaw, 'register', name, H.bytes(o['key'] as string), H.u64(o['validFor'] as number));
        expect(verify(o['pop'] as string, msg, o['key'] as string)).toBe(true);
        keys.set(name, o['key'] as string);
      } else {
        expect(o['serial']).toBe(serials.get(name));
        if (op === 'renew') msg = H.frame(str('ca-request'), gidRaw, 'renew', name, H.u64(o['serial'] as number), H.u64(o['validFor'] as number));
        else if (op === 'revoke') msg = H.frame(str('ca-request'), gidRaw, 'revoke', name, H.u64(o['serial'] as number));
        else msg = H.frame(str('ca-request'), gidRaw, 'rotate', name, H.u64(o['serial'] as number), H.bytes(o['newKey'] as string), H.u64(o['validFor'] as number));
        expect(verify(o['sig'] as string, msg, keys.get(name)!)).toBe(true);
        if (op === 'rotate') {
          expect(verify(o['pop'] as string, msg, o['newKey'] as string)).toBe(true);
          keys.set(name, o['newKey'] as string);
        }
      }
      // The same message for another group (bytes 32..63 are the group id): no.
      const otherGroup = msg.slice();
      otherGroup.fill(0, 32, 64);
      expect(verify((o['sig'] ?? o['pop']) as string, otherGroup, op === 'register' ? (o['key'] as string) : keys.get(name)!)).toBe(false);
      if (op !== 'revoke') serials.set(name, ++issued);
      messages[op] ??= msg;
    }
    expect(H.hex(messages['register']!)).toBe(H.hex(docHex('ca-message-register')));
    expect(H.hex(messages['renew']!)).toBe(H.hex(docHex('ca-message-renew')));
    expect(H.hex(messages['rotate']!)).toBe(H.hex(docHex('ca-message-rotate')));
    expect(H.hex(messages['revoke']!)).toBe(H.hex(docHex('ca-message-revoke')));
    // Serials 1..5 across alice, bob, alice, alice, carol; the revoke issued none.
    expect(Object.fromEntries(serials)).toEqual({ alice: 4, bob: 2, carol: 5 });
    expect(docJson<StatementJ>('statement-alice').ca.issued).toBe(issued);
    // The Ed25519 secret keys of the vectors give these public keys.
    const secret = Object.fromEntries(docBlock('ed25519-secret-keys', 'text').split('\n').map((l) => l.split(/\s+/) as [string, string]));
    expect(H.hex(ed25519.getPublicKey(H.bytes(secret['alice-2']!)))).toBe(keys.get('alice'));
    expect(H.hex(ed25519.getPublicKey(H.bytes(secret['bob']!)))).toBe(keys.get('bob'));
  });

  it('directory statements: sparse Merkle proofs (0 = left), CA digest, state digest, signature, and the status rule', () => {
    const empty = smtEmpty();
    expect(H.hex(empty[0]!)).toBe(H.hex(docHex('smt-empty-leaf')));
    expect(H.hex(empty[256]!)).toBe(H.hex(docHex('smt-empty-root')));
    expect(H.hex(H.sha256(H.utf8('alice')))).toBe(H.hex(docHex('smt-key-alice')));
    const g = groupJ();
    const expected: Record<string, string> = { alice: 'active', bob: 'expired', carol: 'revoked', dave: 'absent' };
    for (const [name, status] of Object.entries(expected)) {
      const s = docJson<StatementJ>(`statement-${name}`);
      expect(s.format).toBe(str('ca-statement-format'));
      expect(Object.keys(s)).toEqual(['format', 'groupId', 'name', 'record', 'proof', 'ca', 'apps', 'checkpoint']);
      expect(s.groupId).toBe(g.groupId);
      // 1. signature, 2. state digest, 3. CA digest.
      const { message } = checkpointMessageByHand(H.bytes(g.groupId), s.checkpoint);
      expect(blsVerifyByHand(H.bytes(g.keys.kernel.groupKey), message, str('dst-checkpoint'), H.bytes(s.checkpoint.signature))).toBe(true);
      const sd = H.sha256(H.frame(str('state-digest'), H.bytes(s.checkpoint.root), ...s.apps.flatMap((a) => [a.name, H.bytes(a.digest)])));
      expect(H.hex(sd)).toBe(s.checkpoint.stateDigest);
      expect(s.apps.find((a) => a.name === 'ca')!.digest).toBe(H.hex(H.sha256(H.frame(str('ca-state'), H.bytes(s.ca.root), H.u64(s.ca.issued)))));
      // 4. the proof: membership of the record's bytes, or non-membership.
      const key = H.sha256(H.utf8(name));
      const value = s.record === null ? null : recordBytesByHand(s.record);
      expect(H.hex(smtRootByHand(key, value, H.bytes(s.proof)))).toBe(s.ca.root);
      // Presented the other way (absent <-> present), or with a flipped left/right rule, it fails.
      const other = s.record === null ? recordBytesByHand({ v: 2, name, key: '00'.repeat(32), serial: 1, index: 0, notBefore: 0, notAfter: 1, status: 'active', revokedAt: null }) : null;
      expect(H.hex(smtRootByHand(key, other, H.bytes(s.proof)))).not.toBe(s.ca.root);
      expect(H.hex(smtRootByHand(key.map((b) => b ^ 0xff), value, H.bytes(s.proof)))).not.toBe(s.ca.root);
      // 5. status at the checkpoint's agreed time.
      const p = s.checkpoint.time;
      const r = s.record;
      const got = !r ? 'absent' : r.status === 'revoked' ? 'revoked' : p < r.notBefore ? 'not-yet-valid' : p >= r.notAfter ? 'expired' : 'active';
      expect(got).toBe(status);
      if (r) expect(r.serial).toBeLessThanOrEqual(s.ca.issued);
    }
    expect(docBlock('ca-record-alice', 'text')).toBe(new TextDecoder().decode(recordBytesByHand(docJson<StatementJ>('statement-alice').record!)));
  });

  it('TDH2: the second generator, the bound label, the ciphertext layout and its validity proof', () => {
    const gbar = bls12_381.G1.hashToCurve(H.utf8(str('tdh2-gbar-message')), { DST: str('dst-tdh2-gbar') }) as unknown as InstanceType<typeof G1P>;
    expect(H.hex(gbar.toBytes(true))).toBe(H.hex(docHex('tdh2-gbar')));
    const ct = docHex('tdh2-ciphertext');
    expect(H.hex(H.sha256(ct))).toBe(H.hex(docHex('tdh2-ciphertext-id')));
    const view = new DataView(ct.buffer, ct.byteOffset, ct.byteLength);
    const u = ct.subarray(0, 48);
    const ubar = ct.subarray(48, 96);
    const e = H.big(ct.subarray(96, 128));
    const f = H.big(ct.subarray(128, 160));
    const labelLen = view.getUint32(160);
    const label = ct.subarray(164, 164 + labelLen);
    const cLen = view.getUint32(164 + labelLen);
    const c = ct.subarray(168 + labelLen, 168 + labelLen + cLen);
    expect(168 + labelLen + cLen).toBe(ct.length);
    expect(new TextDecoder().decode(label)).toBe('sintra-sdk');
    // The plaintext is the stamp entry (log entry 1); c is it plus the 16-byte Poly1305 tag.
    expect(cLen).toBe(docEntries()[1]!.length + 16);
    const lstar = H.frame(str('bound-message'), 'tdh2', H.bytes(groupJ().groupId), str('tdh2-label-tag'), label);
    expect(H.hex(lstar)).toBe(H.hex(docHex('tdh2-bound-label')));
    const U = G1P.fromBytes(u);
    const Ubar = G1P.fromBytes(ubar);
    const w = G1P.BASE.multiply(f).subtract(U.multiply(e));
    const wbar = gbar.multiply(f).subtract(Ubar.multiply(e));
    const h2s = (purpose: string, ...parts: Uint8Array[]) => H.big(sha512(H.frame(str('hash-to-scalar-prefix') + purpose, ...parts))) % R_ORDER;
    expect(h2s('tdh2/ciphertext', H.sha256(c), lstar, u, w.toBytes(true), ubar, wbar.toBytes(true))).toBe(e);
    expect(h2s('tdh2/ciphertext', H.sha256(c), H.frame(str('bound-message'), 'tdh2', H.bytes(groupJ().groupId), str('tdh2-label-tag'), H.utf8('other')), u, w.toBytes(true), ubar, wbar.toBytes(true))).not.toBe(e);
    // The data key, with the test group's secret shares (not in the document): x*u = 2*x_1*u - x_2*u (Shamir,
    // k = 2, rows at 1 and 2), K = HKDF-SHA256(x*u, no salt, frame(dem-key string, u)), then ChaCha20-Poly1305.
    const [x1, x2] = [secrets[0]!.encryption.values[0]!, secrets[1]!.encryption.values[0]!];
    const y = U.multiply((2n * x1) % R_ORDER).subtract(U.multiply(x2));
    const K = hkdf(nobleSha256, y.toBytes(true), undefined, H.frame(str('tdh2-dem-key'), u), 32);
    expect(H.hex(chacha20poly1305(K, new Uint8Array(12), lstar).decrypt(c))).toBe(H.hex(docEntries()[1]!));
  });

  it('link keys (X25519 + HKDF-SHA256) and the link frame (header, payload, HMAC-SHA256 tag)', () => {
    const g = groupJ();
    const gidRaw = H.bytes(g.groupId);
    const secret0 = docHex('link-secret-0');
    const pk0 = H.bytes(g.replicas[0]!.linkKey);
    const pk1 = H.bytes(g.replicas[1]!.linkKey);
    expect(H.hex(x25519.getPublicKey(secret0))).toBe(H.hex(pk0));
    // The echo key (section 4c): seed = SHA-256(frame(echo-key string, group id, link secret)), RFC 8032 public key.
    const echoSeed0 = nobleSha256(H.frame(str('echo-key'), gidRaw, secret0));
    expect(H.hex(ed25519.getPublicKey(echoSeed0))).toBe(g.keys.echo.publicKeys[0]);
    const shared = x25519.getSharedSecret(secret0, pk1);
    const key01 = hkdf(nobleSha256, shared, gidRaw, H.frame(str('link-key-info'), gidRaw, H.u16(0), H.u16(1), pk0, pk1), 32);
    expect(H.hex(key01)).toBe(H.hex(docHex('link-key-0-1')));
    const frameBytes = docHex('link-frame-0-1');
    const dv = new DataView(frameBytes.buffer, frameBytes.byteOffset, frameBytes.byteLength);
    const L = dv.getUint32(53);
    expect(frameBytes.length).toBe(57 + L + 32);
    expect(frameBytes[0]).toBe(1);
    expect(H.hex(frameBytes.subarray(1, 33))).toBe(g.groupId);
    expect([dv.getUint16(33), dv.getUint16(35), Number(dv.getBigUint64(37)), Number(dv.getBigUint64(45))]).toEqual([0, 1, 1, 0]);
    expect(H.hex(hmac(nobleSha256, key01, frameBytes.subarray(0, 57 + L)))).toBe(H.hex(frameBytes.subarray(57 + L)));
    // The payload: u32 count, u64 low, then per message u64 id | u32 length | message (version 1, u8 tag length, tag, u8 type, fields).
    const payload = frameBytes.subarray(57, 57 + L);
    const pv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    expect(pv.getUint32(0)).toBe(1);
    expect(Number(pv.getBigUint64(4))).toBe(1);
    expect(Number(pv.getBigUint64(12))).toBe(1);
    const len = pv.getUint32(20);
    expect(24 + len).toBe(payload.length);
    const msg = payload.subarray(24, 24 + len);
    const tag = new TextDecoder().decode(msg.subarray(2, 2 + msg[1]!));
    expect([msg[0], tag, msg[2 + msg[1]!]]).toEqual([1, 'ckpt/1', 0x60]);
    const shareLen = new DataView(msg.buffer, msg.byteOffset + 3 + msg[1]!, 4).getUint32(0);
    expect(H.hex(msg.subarray(7 + msg[1]!, 7 + msg[1]! + shareLen))).toBe(H.hex(docHex('checkpoint-share-0')));
  });
});

// ---------------------------------------------------------------------------------------------------------
// What a verifier must reject (docs/formats.md, "Rejection rules"), shown on the document's vectors with
// the reference verifiers.

describe('the reference verifiers accept the document vectors and reject what the document says to reject', () => {
  const mutate = <T>(x: T, f: (c: T) => void): T => {
    const c = JSON.parse(JSON.stringify(x)) as T;
    f(c);
    return c;
  };

  it('receipts', () => {
    const r = docJson<ReceiptJ>('receipt');
    const ok = (j: unknown) => {
      const p = receiptFromJson(j);
      return verifyReceipt(group.kernel.groupKey, p.groupId, p.receipt).ok;
    };
    expect(ok(r)).toBe(true);
    expect(verifyStampReceipt(group, r, JSON.parse(docBlock('log-entries', 'text').split('\n')[1]!).digest)).toMatchObject({ ok: true, index: 1 });
    expect(() => receiptFromJson(mutate(r, (c) => (c.format = 'sintra-edge/receipt@0')))).toThrow(/format/);
    expect(() => receiptFromJson(mutate(r, (c) => (c.checkpoint.root = c.checkpoint.root.toUpperCase())))).toThrow(/root/);
    expect(() => receiptFromJson(mutate(r, (c) => (c.checkpoint.signature = c.checkpoint.signature.slice(2))))).toThrow(/signature/);
    expect(() => receiptFromJson(mutate(r, (c) => (c.proof = Array<string>(65).fill(c.proof[0]!))))).toThrow(/proof/);
    expect(() => receiptFromJson(mutate(r, (c) => (c.index = 1.5)))).toThrow(/index/);
    expect(ok(mutate(r, (c) => (c.index = c.checkpoint.size)))).toBe(false);
    expect(ok(mutate(r, (c) => (c.entry = c.entry + '00')))).toBe(false);
    expect(ok(mutate(r, (c) => (c.checkpoint.epoch += 1)))).toBe(false);
    expect(ok(mutate(r, (c) => (c.checkpoint.size += 1)))).toBe(false);
    expect(ok(mutate(r, (c) => c.proof.push(c.proof[0]!)))).toBe(false);
    // Another group's receipt: the receipt's own groupId is not trusted, the pinned group's is.
    expect(verifyStampReceipt(group, mutate(r, (c) => (c.groupId = '00'.repeat(32))))).toMatchObject({ ok: false });
    // Signature encodings: compression flag cleared, infinity flag, a non-canonical x.
    const sig = fromHex(r.checkpoint.signature);
    const cp = checkpointFromJson(r.checkpoint);
    const withSig = (b: Uint8Array) => verifySignature(group.kernel.groupKey, domain(gid, 'checkpoint'), checkpointTag(cp.epoch), checkpointPayload(cp), b);
    expect(withSig(sig)).toBe(true);
    expect(withSig(Uint8Array.of(sig[0]! & 0x7f, ...sig.subarray(1)))).toBe(false);
    expect(withSig(Uint8Array.of(0xc0, ...new Uint8Array(47)))).toBe(false);
    expect(withSig(Uint8Array.of(0x80 | 0x1f, ...new Uint8Array(47).fill(0xff)))).toBe(false);
    expect(() => decodeG1(Uint8Array.of(0xc0, ...new Uint8Array(47)))).toThrow(/identity/);
    expect(() => decodeG2(Uint8Array.of(sig[0]! & 0x7f, ...new Uint8Array(95)))).toThrow(/compression/);
  });

  it('checkpoints extend each other by the consistency proof', () => {
    const c0 = checkpointFromJson(docJson('checkpoint-epoch-0'));
    const c1 = checkpointFromJson(docJson('checkpoint-epoch-1'));
    const proof = docJson<{ proof: string[] }>('consistency-proof').proof.map((h) => fromHex(h, 32));
    expect(verifyExtension(c0, c1, proof)).toBe(true);
    expect(verifyExtension(c0, c1, proof.slice(1))).toBe(false);
    expect(verifyExtension(c1, c0, proof)).toBe(false);
    // Equal sizes: equal roots and an empty proof (RFC 9162), nothing else.
    expect(verifyExtension(c1, c1, [])).toBe(true);
    expect(verifyExtension(c1, c1, proof)).toBe(false);
    expect(verifyExtension(c1, { ...c1, root: c0.root }, [])).toBe(false);
  });

  it('directory statements', () => {
    const expected: Record<string, string> = { alice: 'active', bob: 'expired', carol: 'revoked', dave: 'absent' };
    for (const [name, status] of Object.entries(expected)) {
      expect(verifyDirectoryStatement(docJson('group-json'), docJson(`statement-${name}`))).toMatchObject({ ok: true, name, status });
    }
    const s = docJson<StatementJ>('statement-carol');
    const no = (x: unknown) => expect(verifyDirectoryStatement(group, x).ok).toBe(false);
    no(mutate(s, (c) => (c.format = 'sintra-edge/ca-statement@0')));
    no({ ...s, extra: 1 });
    no(mutate(s, (c) => (c.record = { ...c.record!, status: 'active', revokedAt: null })));
    no(mutate(s, (c) => (c.record = null)));
    no(mutate(s, (c) => (c.ca.issued = 4)));
    no(mutate(s, (c) => c.apps.reverse()));
    no(mutate(s, (c) => (c.proof = c.proof + '00')));
    no(mutate(s, (c) => (c.groupId = '00'.repeat(32))));
    // A genuine absence proof about a name the CA can never register (a look-alike of an existing one) is
    // refused, not shown as "absent" while `alice` exists.
    const cp1 = fx.checkpoints[1]!;
    for (const bad of ['Alice', '\u0430lice', '', 'a\u0000', 'a'.repeat(129), '-alice', 'alice ']) {
      const st = fx.ca.statement(fx.caState, bad, cp1.cp, cp1.apps);
      if (st) expect(verifyDirectoryStatement(group, st), JSON.stringify(bad)).toMatchObject({ ok: false, reason: expect.stringMatching(/^name: /) });
    }
    expect(fx.ca.statement(fx.caState, 'Alice', cp1.cp, cp1.apps)).not.toBeNull();
  });

  it('group.json, CA entries, ciphertexts and link frames', () => {
    const g = docJson<Record<string, unknown>>('group-json');
    expect(() => parseGroup(g)).not.toThrow();
    expect(() => parseGroup({ ...g, format: 'sintra-edge/group@0' })).toThrow(/format/);
    expect(() => parseGroup({ ...g, extra: true })).toThrow(/unknown field/);
    expect(() => parseGroup(mutate(g, (c) => ((c['keys'] as { kernel: { groupKey: string } }).kernel.groupKey = '00'.repeat(96))))).toThrow(/groupKey/);

    const line = docBlock('log-entries', 'text').split('\n')[2]!;
    const ca = new CertificateAuthority({ groupId: gid });
    const answer = (text: string) => JSON.parse(new TextDecoder().decode(ca.apply(utf8ToBytes(text), { index: 0, epoch: 0, time: 0 }, new MapAppState())!)) as { ok: boolean; error?: { code: string } };
    expect(answer(line.replace('"v":1,', '"v":1, ')).error?.code).toBe('non-canonical');
    expect(answer(line.replace('"v":1', '"v":2')).error?.code).toBe('unsupported-version');
    expect(answer(line).ok).toBe(true);

    const ct = decodeCiphertext(H.bytes(docBlock('tdh2-ciphertext', 'hex')));
    expect(verifyCiphertext(group.encryption, gid, ct)).toBe(true);
    expect(verifyCiphertext(group.encryption, gid, { ...ct, label: utf8ToBytes('other') })).toBe(false);
    expect(verifyCiphertext(group.encryption, new Uint8Array(32), ct)).toBe(false);

    const frameBytes = H.bytes(docBlock('link-frame-0-1', 'hex'));
    expect(decodeFrame(frameBytes).ok).toBe(true);
    expect(decodeFrame(Uint8Array.of(FRAME_VERSION + 1, ...frameBytes.subarray(1)))).toMatchObject({ ok: false, code: 'version' });
    expect(decodeFrame(frameBytes.subarray(0, frameBytes.length - 1))).toMatchObject({ ok: false, code: 'malformed' });
  });
});

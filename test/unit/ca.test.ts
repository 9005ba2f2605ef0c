import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, fromHex, toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { domain } from '../../shared/crypto/domain.ts';
import { combineShares, signShare } from '../../shared/crypto/threshold-bls.ts';
import { checkpointPayload, checkpointTag } from '../../shared/log/checkpoint.ts';
import type { Checkpoint, SignedCheckpoint } from '../../shared/log/checkpoint.ts';
import { leafHash, rootOf } from '../../shared/log/merkle.ts';
import { SparseMerkleTree, encodeSparseProof, smtKey, verifySparseProof } from '../../shared/log/sparse-merkle.ts';
import { SmtNodeMissing, decodeSmtNode, smtStorageKey } from '../../shared/log/stored-sparse-merkle.ts';
import type { SmtNodeRef } from '../../shared/log/stored-sparse-merkle.ts';
import {
  CA_ENTRY_PREFIX,
  CaStorageError,
  CertificateAuthority,
  DEFAULT_RETAINED_VERSIONS,
  caDigest,
  computeStateDigest,
  decodeCaRequest,
  decodeResponse,
  directoryStatement,
  encodeCaRequest,
  encodeRecord,
  ed25519PublicKey,
  registerRequest,
  renewRequest,
  revokeRequest,
  rotateRequest,
  verifyDirectoryStatement,
} from '../../shared/app/ca.ts';
import type { CaRequest, CaResponse, CertificateRecord, DirectoryAnswer, DirectoryStatementJson } from '../../shared/app/ca.ts';
import type { AppDigest } from '../../shared/app/state.ts';
import { AppStateMissing, MapAppState } from '../../shared/app/types.ts';
import type { AppPosition, AppState } from '../../shared/app/types.ts';
import { testGroup } from '../helpers/group.ts';

const { group, secrets } = testGroup(4);
const gid = group.groupId;
const sk = (label: string): Uint8Array => sha256(utf8ToBytes(`test key ${label}`));
const ALICE = sk('alice');
const ALICE2 = sk('alice-2');
const BOB = sk('bob');
const MALLORY = sk('mallory');

/**
 * Drives the CA like the replica's executor (shared/app/types.ts): entries in log order at index =
 * position, `endEpoch` after the last entry of every epoch (entries or not, in order), each run on a
 * scratch overlay over the stored map that is committed only when the run completes. `lazy`: a run starts
 * with only the keys `reads()` names loaded (nothing carried over from earlier entries); a read of another
 * key throws AppStateMissing, and the run is discarded, the key loaded, and the same entry run again.
 */
class Executor {
  readonly store = new Map<string, Uint8Array>();
  index = 0;
  /** The next epoch to end. */
  nextEpoch = 0;
  /** Runs discarded for a key load (lazy only). */
  reruns = 0;

  constructor(
    readonly ca: CertificateAuthority,
    readonly lazy = false,
  ) {}

  private run<T>(hint: readonly string[], fn: (s: AppState) => T, write: boolean): T {
    const loaded = new Set<string>(hint);
    for (;;) {
      const overlay = new Map<string, Uint8Array | null>();
      const view: AppState = {
        get: (k) => {
          if (overlay.has(k)) return overlay.get(k) ?? undefined;
          if (this.lazy && !loaded.has(k)) throw new AppStateMissing(k);
          return this.store.get(k);
        },
        put: (k, v) => {
          if (!write) throw new Error(`a read wrote ${k}`);
          if (!/^[\x20-\x7e]{1,200}$/.test(k) || k.startsWith('~')) throw new Error(`bad state key ${JSON.stringify(k)}`);
          overlay.set(k, v.slice());
        },
        delete: (k) => {
          if (!write) throw new Error(`a read deleted ${k}`);
          overlay.set(k, null);
        },
      };
      try {
        const out = fn(view);
        for (const [k, v] of overlay) {
          if (v === null) this.store.delete(k);
          else this.store.set(k, v);
        }
        return out;
      } catch (e) {
        if (!(e instanceof AppStateMissing) || !this.lazy) throw e;
        expect(loaded.has(e.key)).toBe(false);
        loaded.add(e.key);
        this.reruns++;
      }
    }
  }

  /** Ends every epoch before `epoch` not ended yet. */
  endBefore(epoch: number): void {
    while (this.nextEpoch < epoch) {
      const e = this.nextEpoch++;
      this.run(['head'], (s) => this.ca.endEpoch(e, s), true);
    }
  }

  end(epoch: number): void {
    this.endBefore(epoch + 1);
  }

  applyRaw(entry: Uint8Array, at: AppPosition): Uint8Array | null {
    return this.run(this.ca.reads(entry), (s) => this.ca.apply(entry, at, s), true);
  }

  apply(entry: Uint8Array | CaRequest, epoch: number): CaResponse | null {
    const bytes = entry instanceof Uint8Array ? entry : encodeCaRequest(entry);
    this.endBefore(epoch);
    const out = this.applyRaw(bytes, { index: this.index++, epoch, time: epochTime(epoch) });
    return out === null ? null : decodeResponse(out);
  }

  read<T>(fn: (s: AppState) => T): T {
    return this.run([], fn, false);
  }

  digest = (): Uint8Array => this.read((s) => this.ca.digest(s));
  root = (): Uint8Array => this.read((s) => this.ca.root(s));
  issued = (): number => this.read((s) => this.ca.issued(s));
  versions = (): number[] => this.read((s) => this.ca.versions(s));
  record = (name: string): CertificateRecord | null => this.read((s) => this.ca.record(s, name));
  lookup = (name: string, epoch?: number): DirectoryAnswer | null => this.read((s) => this.ca.lookup(s, name, epoch));
  statement = (name: string, cp: SignedCheckpoint, apps: readonly AppDigest[]): DirectoryStatementJson | null => this.read((s) => this.ca.statement(s, name, cp, apps));
}

function okCert(r: CaResponse | null): CertificateRecord {
  expect(r).not.toBeNull();
  if (!r!.ok || !('certificate' in r!)) throw new Error(`expected ok, got ${JSON.stringify(r)}`);
  return r!.certificate;
}

function errCode(r: CaResponse | null): string {
  expect(r).not.toBeNull();
  if (r!.ok) throw new Error(`expected an error, got ${JSON.stringify(r)}`);
  return r!.error.code;
}

/** The stored head (canonical JSON, documented in ca.ts). */
interface HeadJson {
  v: 1;
  root: string | null;
  issued: number;
  epoch: number;
  versions: [number, string | null, number][];
  stale: [number, number][];
}

function headOf(store: Map<string, Uint8Array>): HeadJson {
  const b = store.get('head');
  if (!b) return { v: 1, root: null, issued: 0, epoch: -1, versions: [[-1, null, 0]], stale: [] };
  return JSON.parse(new TextDecoder().decode(b)) as HeadJson;
}

const refOf = (k: string): SmtNodeRef => ({ version: parseInt(k.slice(0, 16), 16), hash: fromHex(k.slice(16)) });

/** Storage keys of the nodes reachable from `root` (throws if one is absent). */
function reachable(store: Map<string, Uint8Array>, root: string | null, into = new Set<string>()): Set<string> {
  const walk = (ref: SmtNodeRef | null): void => {
    if (ref === null) return;
    const k = smtStorageKey(ref);
    if (into.has(k)) return;
    const b = store.get('n/' + k);
    if (!b) throw new Error(`node ${k} is not stored`);
    into.add(k);
    const n = decodeSmtNode(b);
    if (n.kind === 'branch') {
      walk(n.left);
      walk(n.right);
    }
  };
  walk(root === null ? null : refOf(root));
  return into;
}

const keysWith = (store: Map<string, Uint8Array>, prefix: string): string[] => [...store.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));

/**
 * The storage invariant after an epoch ends: the stored nodes are exactly those the retained versions
 * reference (the live state is the latest of them), and stale chunks exist exactly for the epochs the head
 * lists, all newer than the oldest retained version.
 */
function expectNoGarbage(store: Map<string, Uint8Array>): void {
  const h = headOf(store);
  const live = new Set<string>();
  for (const [, root] of h.versions) reachable(store, root, live);
  reachable(store, h.root, live);
  expect(new Set(keysWith(store, 'n/'))).toEqual(live);
  const oldest = h.versions[0]![0];
  for (const [e] of h.stale) expect(e).toBeGreaterThan(oldest);
  const chunks = h.stale.flatMap(([e, c]) => Array.from({ length: c }, (_, i) => `${e.toString(16).padStart(16, '0')}/${i.toString(16)}`));
  expect(keysWith(store, 's/').sort()).toEqual(chunks.sort());
}

/** A small deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KEYS = Array.from({ length: 5 }, (_, i) => sk(`k${i}`));

/**
 * A random workload: per epoch 0..3 requests (some epochs none), mostly valid register / renew / rotate /
 * revoke over `names`, some stale or wrongly signed. Each request comes with whether it must be accepted.
 */
function workload(seed: number, epochs: number, names: readonly string[]): { epoch: number; entry: Uint8Array; ok: boolean }[] {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const model = new Map<string, { key: number; serial: number; revoked: boolean }>();
  let issued = 0;
  const out: { epoch: number; entry: Uint8Array; ok: boolean }[] = [];
  for (let epoch = 0; epoch < epochs; epoch++) {
    const count = Math.floor(rnd() * 4);
    for (let i = 0; i < count; i++) {
      const name = pick(names);
      const m = model.get(name);
      const r = rnd();
      let req: CaRequest;
      let ok = true;
      if (!m) {
        const key = Math.floor(rnd() * KEYS.length);
        req = registerRequest(gid, name, KEYS[key]!, 1 + Math.floor(rnd() * 100));
        if (r < 0.1) {
          req = { ...req, pop: registerRequest(gid, name, KEYS[(key + 1) % KEYS.length]!, req.validFor).pop };
          ok = false;
        } else model.set(name, { key, serial: ++issued, revoked: false });
      } else if (m.revoked || r < 0.1) {
        req = renewRequest(gid, name, m.serial + (m.revoked ? 0 : 1), KEYS[m.key]!, 10);
        ok = false;
      } else if (r < 0.55) {
        req = renewRequest(gid, name, m.serial, KEYS[m.key]!, 1 + Math.floor(rnd() * 100));
        m.serial = ++issued;
      } else if (r < 0.9) {
        const key = (m.key + 1 + Math.floor(rnd() * (KEYS.length - 1))) % KEYS.length;
        req = rotateRequest(gid, name, m.serial, KEYS[m.key]!, KEYS[key]!, 1 + Math.floor(rnd() * 100));
        m.key = key;
        m.serial = ++issued;
      } else {
        req = revokeRequest(gid, name, m.serial, KEYS[m.key]!);
        m.revoked = true;
      }
      out.push({ epoch, entry: encodeCaRequest(req), ok });
    }
  }
  return out;
}

const encodeSparseProofOf = (tree: SparseMerkleTree, name: string): Uint8Array => encodeSparseProof(tree.prove(smtKey(name)));

/** The agreed time of epoch e in these tests: one second per epoch from 2026-06-01. */
const T0 = Date.UTC(2026, 5, 1);
function epochTime(e: number): number {
  return T0 + e * 1000;
}

describe('certification authority: state machine', () => {
  it('registers, refuses duplicates, and only lets the key holder renew, rotate and revoke', () => {
    const f = new Executor(new CertificateAuthority({ groupId: gid, maxValidity: 1000 }));
    const empty = toHex(f.digest());

    const c1 = okCert(f.apply(registerRequest(gid, 'alice', ALICE, 100), 0));
    // Valid from the agreed time of the request's epoch, for validFor seconds; `index` names the request.
    expect(c1).toEqual({ v: 2, name: 'alice', key: toHex(ed25519PublicKey(ALICE)), serial: 1, index: 0, notBefore: epochTime(0), notAfter: epochTime(0) + 100_000, status: 'active', revokedAt: null });
    expect(f.record('alice')).toEqual(c1);
    expect(toHex(f.digest())).not.toBe(empty);
    expect(toHex(f.digest())).toBe(toHex(caDigest(f.root(), 1)));

    const unchanged = (r: CaResponse | null, code: string): void => {
      const before = toHex(f.digest());
      expect(errCode(r)).toBe(code);
      expect(toHex(f.digest())).toBe(before);
    };
    // Duplicate name, even with another key and a valid PoP.
    unchanged(f.apply(registerRequest(gid, 'alice', BOB, 100), 0), 'name-taken');
    // PoP by another key, for another group, or over other fields.
    const bad = registerRequest(gid, 'bob', BOB, 100);
    unchanged(f.apply({ ...bad, pop: registerRequest(gid, 'bob', MALLORY, 100).pop }, 0), 'bad-signature');
    unchanged(f.apply({ ...bad, pop: registerRequest(new Uint8Array(32), 'bob', BOB, 100).pop }, 0), 'bad-signature');
    unchanged(f.apply({ ...bad, validFor: 101 }, 0), 'bad-signature');
    unchanged(f.apply(registerRequest(gid, 'bob', BOB, 1001), 0), 'bad-validity');
    // Small-order key (the identity point): anyone could sign for it.
    unchanged(f.apply({ ...bad, key: '01' + '00'.repeat(31) }, 0), 'bad-key');

    const c2 = okCert(f.apply(registerRequest(gid, 'bob', BOB, 50), 1));
    expect(c2.serial).toBe(2);

    // Revoke / renew / rotate by a non-holder.
    unchanged(f.apply(revokeRequest(gid, 'alice', 1, MALLORY), 1), 'bad-signature');
    unchanged(f.apply(revokeRequest(gid, 'alice', 1, BOB), 1), 'bad-signature');
    unchanged(f.apply(renewRequest(gid, 'alice', 1, MALLORY, 100), 1), 'bad-signature');
    unchanged(f.apply(rotateRequest(gid, 'alice', 1, MALLORY, MALLORY, 100), 1), 'bad-signature');
    unchanged(f.apply(revokeRequest(gid, 'carol', 1, MALLORY), 1), 'not-found');
    // Wrong serial.
    unchanged(f.apply(revokeRequest(gid, 'alice', 2, ALICE), 1), 'stale-serial');

    // Renew: new serial, same key, new interval from this epoch's time.
    const renew = renewRequest(gid, 'alice', 1, ALICE, 200);
    const idx = f.index;
    const c3 = okCert(f.apply(renew, 2));
    expect(c3).toEqual({ ...c1, serial: 3, index: idx, notBefore: epochTime(2), notAfter: epochTime(2) + 200_000 });
    // The same renewal again (a replay) is stale.
    unchanged(f.apply(renew, 2), 'stale-serial');

    // Rotate: old key signs, new key proves possession.
    unchanged(f.apply({ ...rotateRequest(gid, 'alice', 3, ALICE, ALICE2, 100), pop: rotateRequest(gid, 'alice', 3, ALICE, MALLORY, 100).pop }, 2), 'bad-signature');
    unchanged(f.apply(rotateRequest(gid, 'alice', 3, ALICE, ALICE, 100), 2), 'same-key');
    const c4 = okCert(f.apply(rotateRequest(gid, 'alice', 3, ALICE, ALICE2, 100), 2));
    expect(c4.key).toBe(toHex(ed25519PublicKey(ALICE2)));
    expect(c4.serial).toBe(4);
    // The old key lost its power.
    unchanged(f.apply(revokeRequest(gid, 'alice', 4, ALICE), 3), 'bad-signature');

    // Revoke by the holder: stays in the directory, revoked, never re-registered.
    const ridx = f.index;
    const c5 = okCert(f.apply(revokeRequest(gid, 'alice', 4, ALICE2), 3));
    expect(c5).toEqual({ ...c4, status: 'revoked', revokedAt: ridx });
    expect(f.issued()).toBe(4);
    unchanged(f.apply(renewRequest(gid, 'alice', 4, ALICE2, 10), 3), 'revoked');
    unchanged(f.apply(revokeRequest(gid, 'alice', 4, ALICE2), 3), 'revoked');
    unchanged(f.apply(registerRequest(gid, 'alice', ALICE2, 10), 3), 'name-taken');
    expect(f.record('alice')).toEqual(c5);
    expect(f.record('bob')).toEqual(c2);
    expect(f.record('carol')).toBeNull();
  });

  it('answers malformed requests with errors that change nothing, and ignores other entries', () => {
    const f = new Executor(new CertificateAuthority({ groupId: gid, maxValidity: 1000 }));
    okCert(f.apply(registerRequest(gid, 'alice', ALICE, 100), 0));
    const digest = toHex(f.digest());
    const good = new TextDecoder().decode(encodeCaRequest(registerRequest(gid, 'bob', BOB, 100)));
    const obj = JSON.parse(good) as Record<string, unknown>;
    const cases: [string | Uint8Array, string][] = [
      [concatBytes(utf8ToBytes(CA_ENTRY_PREFIX), new Uint8Array([0xff, 0xfe])), 'bad-encoding'],
      [CA_ENTRY_PREFIX + '"v":1', 'bad-encoding'],
      [CA_ENTRY_PREFIX + '"v":2,"op":"register"}', 'unsupported-version'],
      [CA_ENTRY_PREFIX + '"v":1,"op":"delete"}', 'unknown-op'],
      [CA_ENTRY_PREFIX + '"v":1,"op":"register"}', 'bad-request'],
      [good.replace(',"name"', ', "name"'), 'non-canonical'],
      [good.replace('"validFor":100', '"validFor":1e2'), 'non-canonical'],
      [good.replace('"validFor":100', '"validFor":100.0'), 'non-canonical'],
      [JSON.stringify({ ...obj, extra: 1 }), 'bad-request'],
      [JSON.stringify({ app: 'ca', v: 1, op: 'register', key: obj['key'], name: 'bob', validFor: 100, pop: obj['pop'] }), 'bad-request'],
      [JSON.stringify({ ...obj, name: 'Bob' }), 'bad-name'],
      [JSON.stringify({ ...obj, name: '' }), 'bad-name'],
      [JSON.stringify({ ...obj, name: 'b'.repeat(129) }), 'bad-name'],
      [JSON.stringify({ ...obj, name: 'bob\u0000' }), 'bad-name'],
      [JSON.stringify({ ...obj, key: (obj['key'] as string).toUpperCase() }), 'bad-key'],
      [JSON.stringify({ ...obj, key: (obj['key'] as string).slice(2) }), 'bad-key'],
      [JSON.stringify({ ...obj, pop: (obj['pop'] as string) + '00' }), 'bad-signature'],
      [JSON.stringify({ ...obj, validFor: 0 }), 'bad-validity'],
      [JSON.stringify({ ...obj, validFor: -5 }), 'bad-validity'],
      [JSON.stringify({ ...obj, validFor: 1.5 }), 'bad-validity'],
      [JSON.stringify({ ...obj, validFor: '100' }), 'bad-validity'],
      [JSON.stringify({ ...obj, validFor: 2 ** 60 }), 'bad-validity'],
      [JSON.stringify({ app: 'ca', v: 1, op: 'revoke', name: 'alice', serial: 0, sig: obj['pop'] }), 'bad-request'],
      [CA_ENTRY_PREFIX + '"v":1,"op":"register","pad":"' + 'x'.repeat(3000) + '"}', 'too-large'],
    ];
    for (const [entry, code] of cases) {
      const bytes = typeof entry === 'string' ? utf8ToBytes(entry) : entry;
      const r = f.apply(bytes, 1);
      expect(errCode(r), typeof entry === 'string' ? entry.slice(0, 120) : 'bytes').toBe(code);
      expect(toHex(f.digest())).toBe(digest);
    }
    // Not for the CA at all.
    for (const e of ['hello', '{"text":"x"}', '{"app":"notary","v":1}', ' {"app":"ca","v":1}', '{"v":1,"app":"ca"}', '']) {
      expect(f.apply(utf8ToBytes(e), 1)).toBeNull();
    }
    expect(toHex(f.digest())).toBe(digest);
    // A bad position (an engine bug) still gets an error answer, never an exception.
    const entry = encodeCaRequest(registerRequest(gid, 'bob', BOB, 10));
    for (const at of [{ index: -1, epoch: 0 }, { index: 1.5, epoch: 0 }, { index: 3, epoch: Number.NaN }, null, undefined]) {
      const out = f.applyRaw(entry, at as unknown as AppPosition);
      expect(decodeResponse(out!)).toMatchObject({ ok: false, error: { code: 'internal' } });
    }
    expect(toHex(f.digest())).toBe(digest);
    // Clients cannot even encode a malformed request.
    expect(() => encodeCaRequest(registerRequest(gid, 'Not A Name', BOB, 10))).toThrow(/name/);
    expect(() => encodeCaRequest({ ...registerRequest(gid, 'bob', BOB, 10), validFor: 0 })).toThrow(/validFor/);
    // The strict decoder accepts exactly the canonical bytes.
    expect(decodeCaRequest(utf8ToBytes(good))).toEqual(obj);
  });

  it('never throws, whatever follows the CA prefix', () => {
    const ca = new CertificateAuthority({ groupId: gid });
    const state = new MapAppState();
    const before = toHex(ca.digest(state));
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.json().map((j) => utf8ToBytes(j))), fc.nat(), (tail, index) => {
        const entry = concatBytes(utf8ToBytes(CA_ENTRY_PREFIX), tail);
        const out = ca.apply(entry, { index, epoch: 0, time: 0 }, state);
        expect(out).not.toBeNull();
        expect(decodeResponse(out!).ok).toBe(false);
      }),
      { numRuns: 300 },
    );
    expect(toHex(ca.digest(state))).toBe(before);
    expect(state.map.size).toBe(0);
  });

  it('is deterministic: two replicas fed the same entries give the same responses, digests and stored state, the lazy one too', () => {
    const keys = [ALICE, ALICE2, BOB, MALLORY];
    const names = ['alice', 'bob', 'carol'];
    const arbReq = fc.record({
      kind: fc.integer({ min: 0, max: 4 }),
      name: fc.constantFrom(...names),
      k1: fc.integer({ min: 0, max: 3 }),
      k2: fc.integer({ min: 0, max: 3 }),
      serial: fc.integer({ min: 1, max: 6 }),
      validFor: fc.integer({ min: 1, max: 50 }),
    });
    fc.assert(
      fc.property(fc.array(arbReq, { minLength: 1, maxLength: 12 }), (reqs) => {
        // b loads its state lazily (AppStateMissing and re-runs), like a replica reading its storage.
        const a = new Executor(new CertificateAuthority({ groupId: gid }));
        const b = new Executor(new CertificateAuthority({ groupId: gid }), true);
        reqs.forEach((q, i) => {
          const entry =
            q.kind === 0
              ? encodeCaRequest(registerRequest(gid, q.name, keys[q.k1]!, q.validFor))
              : q.kind === 1
                ? encodeCaRequest(renewRequest(gid, q.name, q.serial, keys[q.k1]!, q.validFor))
                : q.kind === 2
                  ? encodeCaRequest(revokeRequest(gid, q.name, q.serial, keys[q.k1]!))
                  : q.kind === 3
                    ? encodeCaRequest(rotateRequest(gid, q.name, q.serial, keys[q.k1]!, keys[q.k2]!, q.validFor))
                    : utf8ToBytes(`${CA_ENTRY_PREFIX}"v":1,"op":"renew","name":"${q.name}"}`);
          const ra = a.apply(entry, Math.floor(i / 3));
          const rb = b.apply(entry, Math.floor(i / 3));
          expect(rb).toEqual(ra);
          expect(toHex(a.digest())).toBe(toHex(b.digest()));
        });
        // Serials are 1..issued, in order, and the digest commits to the tree root.
        expect(toHex(a.digest())).toBe(toHex(caDigest(a.root(), a.issued())));
        const last = Math.floor((reqs.length - 1) / 3);
        a.end(last);
        b.end(last);
        // Byte-identical storage, the same records and answers.
        expect(b.store).toEqual(a.store);
        for (const n of names) expect(b.record(n)).toEqual(a.record(n));
        expect(toHex(a.lookup('alice', last)!.root)).toBe(toHex(a.root()));
        expect(b.lookup('alice', last)).toEqual(a.lookup('alice', last));
        expect(a.lookup('alice', -2)).toBeNull();
      }),
      { numRuns: 25 },
    );
  });
});

describe('certification authority: directory proofs and retained versions', () => {
  it('proves presence and absence against the current and retained past versions', () => {
    const f = new Executor(new CertificateAuthority({ groupId: gid, retain: 3 }));
    okCert(f.apply(registerRequest(gid, 'alice', ALICE, 100), 1)); // epoch 1: alice
    okCert(f.apply(registerRequest(gid, 'bob', BOB, 100), 2)); // epoch 2: bob
    expect(f.apply(utf8ToBytes('not for the ca'), 3)).toBeNull(); // epoch 3: nothing for the CA
    okCert(f.apply(rotateRequest(gid, 'alice', 1, ALICE, ALICE2, 100), 4)); // epoch 4: alice rotates
    // Before epoch 4 ends, the versions are those of the epochs that ended (-1: the empty initial state)...
    expect(f.versions()).toEqual([-1, 1, 2]);

    const check = (name: string, epoch: number | undefined, key: Uint8Array | null): void => {
      const a = f.lookup(name, epoch)!;
      expect(a).not.toBeNull();
      expect(toHex(a.digest)).toBe(toHex(caDigest(a.root, a.issued)));
      if (key === null) {
        expect(a.record).toBeNull();
        expect(verifySparseProof(a.root, smtKey(name), null, a.proof)).toBe(true);
      } else {
        expect(a.record!.key).toBe(toHex(ed25519PublicKey(key)));
        expect(verifySparseProof(a.root, smtKey(name), encodeRecord(a.record!), a.proof)).toBe(true);
        expect(verifySparseProof(a.root, smtKey(name), null, a.proof)).toBe(false);
      }
    };
    check('alice', undefined, ALICE2);
    // ...and the state after epoch 4 (all its entries applied) is the live one.
    check('alice', 4, ALICE2);
    check('alice', 3, ALICE);
    f.end(4);
    expect(f.versions()).toEqual([1, 2, 4]);
    check('alice', 4, ALICE2);
    check('alice', 3, ALICE);
    check('alice', 1, ALICE);
    check('bob', 1, null);
    check('bob', 3, BOB);
    check('carol', 2, null);
    check('carol', undefined, null);
    // The state at epoch 3 is the state after epoch 2 (nothing changed in 3).
    expect(toHex(f.lookup('x', 3)!.root)).toBe(toHex(f.lookup('x', 2)!.root));
    // One more change: epoch 1 is dropped (retain = 3), epoch 0 and older were never answerable.
    okCert(f.apply(renewRequest(gid, 'bob', 2, BOB, 10), 5));
    f.end(5);
    expect(f.versions()).toEqual([2, 4, 5]);
    expect(f.lookup('alice', 1)).toBeNull();
    expect(f.lookup('alice', 0)).toBeNull();
    check('alice', 2, ALICE);
    // An entry of an epoch that ended with a recorded version, or older (an engine bug), is refused.
    const carol = encodeCaRequest(registerRequest(gid, 'carol', sk('carol'), 10));
    const digest = toHex(f.digest());
    for (const epoch of [5, 4, 0]) expect(decodeResponse(f.applyRaw(carol, { index: 99, epoch, time: 0 })!)).toMatchObject({ ok: false, op: 'register', error: { code: 'internal' } });
    expect(toHex(f.digest())).toBe(digest);
    okCert(f.apply(carol, 6));
  });
});

describe('certification authority: statements verified offline with group.json', () => {
  // A small log: notary-ish entries and CA entries; the "engine" signs one checkpoint per epoch with the
  // state digest over (log root, [notary, ca]).
  const x = new Executor(new CertificateAuthority({ groupId: gid }));
  const log: Uint8Array[] = [];
  const notaryDigest = sha256(utf8ToBytes('some other app state'));
  const checkpoints = new Map<number, { cp: SignedCheckpoint; apps: { name: string; digest: Uint8Array }[] }>();

  function sign(c: Checkpoint): SignedCheckpoint {
    const d = domain(gid, 'checkpoint');
    const payload = checkpointPayload(c);
    const tag = checkpointTag(c.epoch);
    const shares = secrets.map((s) => signShare(s.kernel, d, tag, payload));
    return { ...c, signature: combineShares(group.kernel, d, tag, payload, shares).bytes };
  }

  function epoch(e: number, entries: Uint8Array[]): void {
    for (const entry of entries) {
      x.apply(entry, e);
      log.push(entry);
    }
    x.end(e);
    const root = rootOf(log.map(leafHash));
    const apps = [
      { name: 'notary', digest: notaryDigest },
      { name: 'ca', digest: x.digest() },
    ];
    checkpoints.set(e, { cp: sign({ size: log.length, root, epoch: e, stateDigest: computeStateDigest(root, apps), time: epochTime(e), timeChain: new Uint8Array(32).fill(e) }), apps });
  }

  epoch(0, [utf8ToBytes('hello'), encodeCaRequest(registerRequest(gid, 'alice', ALICE, 1000)), encodeCaRequest(registerRequest(gid, 'bob', BOB, 3))]);
  epoch(1, [encodeCaRequest(revokeRequest(gid, 'bob', 2, BOB)), utf8ToBytes('world'), utf8ToBytes('more'), utf8ToBytes('entries')]);
  epoch(2, [encodeCaRequest(registerRequest(gid, 'carol', sk('carol'), 2)), utf8ToBytes('a'), utf8ToBytes('b')]);
  // Two seconds after carol's registration her certificate has expired (epochs are a second apart here).
  epoch(3, [utf8ToBytes('c')]);
  epoch(4, [utf8ToBytes('d')]);

  const statement = (name: string, e: number): DirectoryStatementJson => {
    const { cp, apps } = checkpoints.get(e)!;
    return directoryStatement(gid, x.lookup(name, e)!, cp, apps);
  };
  const roundTrip = (s: DirectoryStatementJson): Record<string, unknown> => JSON.parse(JSON.stringify(s)) as Record<string, unknown>;

  it('verifies membership and non-membership statements, against past checkpoints too', () => {
    const alice = verifyDirectoryStatement(group, roundTrip(statement('alice', 2)));
    expect(alice).toMatchObject({ ok: true, present: true, status: 'active', epoch: 2, size: 10 });
    if (alice.ok) expect(alice.record!.key).toBe(toHex(ed25519PublicKey(ALICE)));
    // bob: active at epoch 0, revoked at epoch 1.
    expect(verifyDirectoryStatement(group, roundTrip(statement('bob', 0)))).toMatchObject({ ok: true, status: 'active' });
    expect(verifyDirectoryStatement(group, roundTrip(statement('bob', 1)))).toMatchObject({ ok: true, status: 'revoked' });
    // carol: absent before epoch 2 (non-membership), then registered for two seconds of agreed time:
    // active at epoch 2's checkpoint, still at epoch 3's (one second later), expired at epoch 4's.
    expect(verifyDirectoryStatement(group, roundTrip(statement('carol', 1)))).toMatchObject({ ok: true, present: false, status: 'absent', record: null });
    expect(verifyDirectoryStatement(group, roundTrip(statement('carol', 2)))).toMatchObject({ ok: true, present: true, status: 'active' });
    expect(verifyDirectoryStatement(group, roundTrip(statement('carol', 3)))).toMatchObject({ ok: true, present: true, status: 'active' });
    expect(verifyDirectoryStatement(group, roundTrip(statement('carol', 4)))).toMatchObject({ ok: true, present: true, status: 'expired' });
    // A version-2 record under a checkpoint without agreed time (payload version 1) says nothing.
    const untimed = roundTrip(statement('alice', 2)) as { checkpoint: Record<string, unknown> };
    delete untimed.checkpoint['time'];
    delete untimed.checkpoint['timeChain'];
    expect(verifyDirectoryStatement(group, untimed)).toMatchObject({ ok: false });
    expect(verifyDirectoryStatement(group, roundTrip(statement('nobody', 2)))).toMatchObject({ ok: true, status: 'absent' });
    // The CA's own statement helper gives the same statement; JSON text is accepted too.
    const { cp, apps } = checkpoints.get(1)!;
    expect(x.statement('bob', cp, apps)).toEqual(statement('bob', 1));
    expect(verifyDirectoryStatement(group, JSON.stringify(statement('bob', 1)))).toMatchObject({ ok: true, status: 'revoked' });
    expect(verifyDirectoryStatement(group, '{not json')).toMatchObject({ ok: false, reason: 'statement: not JSON' });
    // group.json as plain JSON works too.
    expect(verifyDirectoryStatement(JSON.parse(JSON.stringify(group.file)), roundTrip(statement('alice', 0)))).toMatchObject({ ok: true, status: 'active' });
  });

  it('rejects forged statements', () => {
    const good = roundTrip(statement('alice', 2));
    const rec = good['record'] as Record<string, unknown>;
    const ca0 = good['ca'] as Record<string, unknown>;
    const cp = good['checkpoint'] as Record<string, unknown>;
    const apps = good['apps'] as Record<string, unknown>[];
    const bad = (s: Record<string, unknown>, why: RegExp): void => {
      const v = verifyDirectoryStatement(group, s);
      expect(v.ok, JSON.stringify(v)).toBe(false);
      if (!v.ok) expect(v.reason).toMatch(why);
    };
    bad({ ...good, record: { ...rec, key: toHex(ed25519PublicKey(MALLORY)) } }, /proof does not show this record/);
    bad({ ...good, record: { ...rec, status: 'revoked', revokedAt: 5 } }, /proof does not show this record/);
    bad({ ...good, record: { ...rec, notAfter: (rec['notAfter'] as number) + 1 } }, /proof does not show this record/);
    bad({ ...good, record: { ...rec, status: 'revoked' } }, /revokedAt/);
    bad({ ...good, record: null }, /absent/);
    bad({ ...good, name: 'alicf', record: { ...rec, name: 'alicf' } }, /proof does not show this record/);
    bad({ ...good, record: { ...rec, name: 'bob' } }, /not the statement name/);
    // A wrong root: the CA digest no longer matches; with a matching (forged) CA digest, the state digest fails.
    const otherRoot = toHex(sha256(utf8ToBytes('x')));
    bad({ ...good, ca: { ...ca0, root: otherRoot } }, /CA digest/);
    bad({ ...good, ca: { ...ca0, issued: 7 } }, /CA digest/);
    const forgedCa = toHex(caDigest(fromHex(otherRoot), ca0['issued'] as number));
    bad({ ...good, ca: { ...ca0, root: otherRoot }, apps: [apps[0], { name: 'ca', digest: forgedCa }] }, /state digest/);
    bad({ ...good, apps: [apps[1], apps[0]] }, /state digest/);
    bad({ ...good, apps: [apps[0]] }, /state digest/);
    bad({ ...good, apps: [apps[0], apps[1], apps[1]] }, /twice/);
    // The checkpoint: other state digest, other epoch, bad signature, another group.
    bad({ ...good, checkpoint: { ...cp, stateDigest: toHex(sha256(utf8ToBytes('y'))) } }, /signature/);
    bad({ ...good, checkpoint: { ...cp, epoch: 1 } }, /signature/);
    bad({ ...good, checkpoint: { ...cp, signature: (checkpoints.get(1)!.cp.signature && toHex(checkpoints.get(1)!.cp.signature)) } }, /signature/);
    bad({ ...good, groupId: toHex(new Uint8Array(32)) }, /groupId/);
    expect(verifyDirectoryStatement(testGroup(4, 1, 'other-group').group, good).ok).toBe(false);
    // A non-membership proof presented as presence of a made-up record.
    const absent = roundTrip(statement('mallory', 2));
    const fake = { v: 1, name: 'mallory', key: toHex(ed25519PublicKey(MALLORY)), serial: 1, notBefore: 0, notAfter: 100, status: 'active', revokedAt: null };
    bad({ ...absent, record: fake }, /proof does not show this record/);
    // A membership proof presented as absence.
    bad({ ...good, record: null }, /absent/);
    // Malformed encodings.
    bad({ ...good, proof: (good['proof'] as string) + '00' }, /proof/);
    bad({ ...good, proof: (good['proof'] as string).toUpperCase() }, /proof/);
    bad({ ...good, extra: 1 }, /fields/);
    bad({ ...good, format: 'sintra-edge/ca-statement@2' }, /format/);
    bad({ ...good, record: { ...rec, extra: 1 } }, /record/);
    expect(verifyDirectoryStatement(group, null).ok).toBe(false);
    expect(verifyDirectoryStatement({ not: 'a group' }, good)).toMatchObject({ ok: false, reason: expect.stringMatching(/^group/) });
    // And the untouched statement still verifies.
    expect(verifyDirectoryStatement(group, good).ok).toBe(true);
  });

  it('refuses to build a statement whose app digests do not match the checkpoint', () => {
    const { cp, apps } = checkpoints.get(2)!;
    expect(() => directoryStatement(gid, x.lookup('alice', 1)!, cp, apps)).toThrow(/CA digest/);
    expect(() => directoryStatement(gid, x.lookup('alice', 2)!, cp, [apps[1]!])).toThrow(/state digest/);
  });
});

describe('certification authority: state in storage', () => {
  const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy', 'mallory', 'oscar'];

  /** The epoch of the oldest retained version after `changed` (epochs that changed the state, in order). */
  const oldestRetained = (changed: readonly number[], retain = DEFAULT_RETAINED_VERSIONS): number => (changed.length >= retain ? changed[changed.length - retain]! : -1);

  for (const staleChunkKeys of [undefined, 2]) {
    it(`has the in-memory sparse Merkle tree's roots and answers exactly the retained versions${staleChunkKeys ? ' (stale chunks of 2 keys)' : ''}`, () => {
      const x = new Executor(new CertificateAuthority({ groupId: gid, ...(staleChunkKeys ? { staleChunkKeys } : {}) }));
      let tree = SparseMerkleTree.empty();
      let issued = 0;
      const atEnd = new Map<number, { tree: SparseMerkleTree; issued: number }>([[-1, { tree, issued }]]);
      const changed: number[] = [];
      const work = workload(7, 90, NAMES);
      const epochs = 90;
      let w = 0;
      for (let e = 0; e < epochs; e++) {
        for (; w < work.length && work[w]!.epoch === e; w++) {
          const r = x.apply(work[w]!.entry, e);
          expect(r!.ok, JSON.stringify(r)).toBe(work[w]!.ok);
          if (r!.ok && 'certificate' in r!) {
            tree = tree.set(smtKey(r!.certificate.name), encodeRecord(r!.certificate));
            issued = Math.max(issued, r!.certificate.serial);
            if (changed.at(-1) !== e) changed.push(e);
          }
          expect(toHex(x.root())).toBe(toHex(tree.root));
          expect(x.issued()).toBe(issued);
          expect(toHex(x.digest())).toBe(toHex(caDigest(tree.root, issued)));
        }
        x.end(e);
        atEnd.set(e, { tree, issued });
        expectNoGarbage(x.store);
        const oldest = oldestRetained(changed);
        expect(x.versions()).toEqual([...(oldest === -1 ? [-1] : []), ...changed.slice(-DEFAULT_RETAINED_VERSIONS)].slice(-DEFAULT_RETAINED_VERSIONS));
        if (e % 10 !== 9 && e !== epochs - 1) continue;
        // Every epoch so far: answered from the version of that epoch iff it is retained.
        for (let q = -1; q <= e; q++) {
          for (const name of ['alice', 'carol', 'judy', 'nobody']) {
            const a = x.lookup(name, q);
            if (q < oldest) {
              expect(a, `epoch ${q} is older than the retained versions`).toBeNull();
              continue;
            }
            const want = atEnd.get(q)!;
            expect(toHex(a!.root)).toBe(toHex(want.tree.root));
            expect(a!.issued).toBe(want.issued);
            const value = want.tree.get(smtKey(name));
            expect(a!.record === null ? null : toHex(encodeRecord(a!.record))).toBe(value === null ? null : toHex(value));
            expect(verifySparseProof(want.tree.root, smtKey(name), value, a!.proof)).toBe(true);
            expect(toHex(a!.proof)).toBe(toHex(encodeSparseProofOf(want.tree, name)));
          }
        }
      }
      expect(changed.length).toBeGreaterThan(DEFAULT_RETAINED_VERSIONS + 20);
      if (staleChunkKeys) expect(headOf(x.store).stale.some(([, c]) => c > 1)).toBe(true);
    });
  }

  it('gives statements that verify for the last 8 epochs that changed the state and null before them', () => {
    const x = new Executor(new CertificateAuthority({ groupId: gid }));
    const log: Uint8Array[] = [];
    const notary = sha256(utf8ToBytes('the notary'));
    const signed: { cp: SignedCheckpoint; apps: AppDigest[]; alice: CertificateRecord | null }[] = [];
    const sign = (c: Checkpoint): SignedCheckpoint => {
      const d = domain(gid, 'checkpoint');
      const payload = checkpointPayload(c);
      const tag = checkpointTag(c.epoch);
      return { ...c, signature: combineShares(group.kernel, d, tag, payload, secrets.map((s) => signShare(s.kernel, d, tag, payload))).bytes };
    };
    const changed: number[] = [];
    let serial = 0;
    let alice: CertificateRecord | null = null;
    for (let e = 0; e < 14; e++) {
      const entries: Uint8Array[] = [utf8ToBytes(`note ${e}`)];
      // alice registers at epoch 0 and renews in every epoch not divisible by 3 (epochs 3, 6, 9, 12 change nothing).
      if (e === 0) entries.push(encodeCaRequest(registerRequest(gid, 'alice', ALICE, 1000)));
      else if (e % 3 !== 0) entries.push(encodeCaRequest(renewRequest(gid, 'alice', serial, ALICE, 1000)));
      for (const entry of entries) {
        const r = x.apply(entry, e);
        log.push(entry);
        if (r) {
          alice = okCert(r);
          serial = alice.serial;
          changed.push(e);
        }
      }
      x.end(e);
      const root = rootOf(log.map(leafHash));
      const apps = [
        { name: 'notary', digest: notary },
        { name: 'ca', digest: x.digest() },
      ];
      signed.push({ cp: sign({ size: log.length, root, epoch: e, stateDigest: computeStateDigest(root, apps), time: epochTime(e), timeChain: new Uint8Array(32) }), apps, alice });
    }
    const oldest = oldestRetained(changed);
    expect(oldest).toBe(changed[changed.length - 8]);
    expect(oldest).toBeGreaterThan(0);
    for (const [e, { cp, apps, alice: want }] of signed.entries()) {
      const st = x.statement('alice', cp, apps);
      if (e < oldest) {
        expect(st, `epoch ${e}`).toBeNull();
        expect(x.statement('nobody', cp, apps)).toBeNull();
        continue;
      }
      const v = verifyDirectoryStatement(group, JSON.parse(JSON.stringify(st)));
      expect(v, `epoch ${e}`).toMatchObject({ ok: true, present: true, epoch: e, record: want });
      expect(verifyDirectoryStatement(group, x.statement('nobody', cp, apps))).toMatchObject({ ok: true, status: 'absent' });
    }
  });

  it('keeps only the nodes the retained versions need: 200 epochs of renewals of 4 names', () => {
    const names = ['alice', 'bob', 'carol', 'dave'];
    const x = new Executor(new CertificateAuthority({ groupId: gid }));
    const serials = new Map<string, number>();
    names.forEach((n, i) => serials.set(n, okCert(x.apply(registerRequest(gid, n, KEYS[i]!, 1000), 0)).serial));
    x.end(0);
    const rnd = prng(3);
    let maxNodes = 0;
    for (let e = 1; e <= 200; e++) {
      for (const n of names.filter(() => rnd() < 0.4)) serials.set(n, okCert(x.apply(renewRequest(gid, n, serials.get(n)!, KEYS[names.indexOf(n)]!, 1000), e)).serial);
      x.end(e);
      expectNoGarbage(x.store);
      maxNodes = Math.max(maxNodes, keysWith(x.store, 'n/').length);
    }
    const h = headOf(x.store);
    const liveNodes = reachable(x.store, h.root).size;
    // The live tree plus, per retained version, at most the nodes its changes copied.
    expect(maxNodes).toBeLessThanOrEqual(liveNodes * (DEFAULT_RETAINED_VERSIONS + 1));
    expect(keysWith(x.store, 'n/').length).toBeLessThan(80);
    expect(keysWith(x.store, 's/').length).toBeLessThanOrEqual(DEFAULT_RETAINED_VERSIONS);
    expect(x.store.size).toBeLessThan(100);
  });

  it('runs an entry again from scratch when a key is not loaded yet: the same answers and storage as a loaded replica', () => {
    const eager = new Executor(new CertificateAuthority({ groupId: gid, retain: 3, staleChunkKeys: 3 }));
    const lazy = new Executor(new CertificateAuthority({ groupId: gid, retain: 3, staleChunkKeys: 3 }), true);
    const work = workload(11, 40, NAMES);
    for (const { epoch, entry } of work) {
      const a = eager.apply(entry, epoch);
      const b = lazy.apply(entry, epoch);
      expect(b).toEqual(a);
      expect(toHex(lazy.digest())).toBe(toHex(eager.digest()));
    }
    eager.end(40);
    lazy.end(40);
    expect(lazy.store).toEqual(eager.store);
    expect(lazy.reruns).toBeGreaterThan(work.length);
    for (const e of [-1, 20, 33, 36, 38, 40]) for (const n of NAMES.slice(0, 4)) expect(lazy.lookup(n, e)).toEqual(eager.lookup(n, e));

    // AppStateMissing always passes through, from every method.
    const ca = new CertificateAuthority({ groupId: gid });
    const missing: AppState = {
      get: (k) => {
        throw new AppStateMissing(k);
      },
      put: () => {},
      delete: () => {},
    };
    const entry = encodeCaRequest(registerRequest(gid, 'alice', ALICE, 10));
    expect(ca.reads(entry)).toEqual(['head']);
    expect(ca.reads(utf8ToBytes('not for the ca'))).toEqual([]);
    expect(() => ca.apply(entry, { index: 0, epoch: 0, time: 0 }, missing)).toThrow(AppStateMissing);
    expect(() => ca.endEpoch(0, missing)).toThrow(AppStateMissing);
    expect(() => ca.digest(missing)).toThrow(AppStateMissing);
    expect(() => ca.lookup(missing, 'alice', 0)).toThrow(AppStateMissing);
    // Only the head loaded: the tree's nodes are the next keys asked for.
    const partial = new Map(eager.store);
    const onlyHead: AppState = {
      get: (k) => {
        if (k !== 'head') throw new AppStateMissing(k);
        return partial.get(k);
      },
      put: () => {},
      delete: () => {},
    };
    expect(() => eager.ca.apply(encodeCaRequest(renewRequest(gid, 'alice', 1, ALICE, 10)), { index: 999, epoch: 41, time: 0 }, onlyHead)).toThrow(/^application state key n\//);
  });

  it('throws on corrupt storage instead of answering', () => {
    const x = new Executor(new CertificateAuthority({ groupId: gid }));
    const c1 = okCert(x.apply(registerRequest(gid, 'alice', ALICE, 100), 0));
    okCert(x.apply(registerRequest(gid, 'bob', BOB, 100), 0));
    x.end(0);
    const renew = encodeCaRequest(renewRequest(gid, 'alice', c1.serial, ALICE, 10));
    // A node that storage lost.
    const lost = new Map(x.store);
    for (const k of keysWith(lost, 'n/')) lost.delete('n/' + k);
    expect(() => x.ca.apply(renew, { index: 2, epoch: 1, time: 0 }, new MapAppState(lost))).toThrow(SmtNodeMissing);
    // A head that is not the canonical encoding.
    for (const bad of ['{}', 'not json', new TextDecoder().decode(x.store.get('head')!).replace('"v":1,', '"v":1, ')]) {
      const broken = new Map(x.store).set('head', utf8ToBytes(bad));
      expect(() => x.ca.apply(renew, { index: 2, epoch: 1, time: 0 }, new MapAppState(broken))).toThrow(CaStorageError);
      expect(() => x.ca.digest(new MapAppState(broken))).toThrow(CaStorageError);
    }
    // Storage untouched by those attempts; the real request still goes through.
    expect(okCert(x.apply(renew, 1)).serial).toBe(3);
  });

  it('stores the documented head', () => {
    const x = new Executor(new CertificateAuthority({ groupId: gid, retain: 2 }));
    expect(x.store.size).toBe(0);
    x.end(3);
    // Epochs without changes write nothing.
    expect(x.store.size).toBe(0);
    okCert(x.apply(registerRequest(gid, 'alice', ALICE, 100), 4));
    const h = headOf(x.store);
    expect(Object.keys(h)).toEqual(['v', 'root', 'issued', 'epoch', 'versions', 'stale']);
    expect(h).toMatchObject({ v: 1, issued: 1, epoch: 4, versions: [[-1, null, 0]], stale: [] });
    expect(h.root).toMatch(/^0{15}4[0-9a-f]{64}$/);
    expect(toHex(fromHex(h.root!.slice(16)))).toBe(toHex(x.root()));
    x.end(4);
    expect(headOf(x.store).versions).toEqual([
      [-1, null, 0],
      [4, h.root, 1],
    ]);
    // bob's insertion replaces alice's single-key root node of version 4: listed as stale by epoch 6.
    const aliceRoot = h.root!;
    okCert(x.apply(registerRequest(gid, 'bob', BOB, 100), 6));
    x.end(6);
    expect(headOf(x.store).versions.map((v) => v[0])).toEqual([4, 6]);
    expect(headOf(x.store).stale).toEqual([[6, 1]]);
    expect(toHex(x.store.get('s/0000000000000006/0')!)).toBe(aliceRoot);
    expect(x.store.has('n/' + aliceRoot)).toBe(true);
    // Two renewals in epoch 7: the second replaces nodes the first wrote (deleted at once) and none older.
    okCert(x.apply(renewRequest(gid, 'bob', 2, BOB, 100), 7));
    const stale7 = x.store.get('s/0000000000000007/0')!.length;
    okCert(x.apply(renewRequest(gid, 'bob', 3, BOB, 100), 7));
    expect(x.store.get('s/0000000000000007/0')!.length).toBe(stale7);
    expect(x.store.has('n/' + aliceRoot)).toBe(true);
    // Version 4 is dropped when 7 is recorded (retain = 2): what only it used is deleted.
    x.end(7);
    expect(headOf(x.store).versions.map((v) => v[0])).toEqual([6, 7]);
    expect(headOf(x.store).stale).toEqual([[7, 1]]);
    expect(keysWith(x.store, 's/')).toEqual(['0000000000000007/0']);
    expect(x.store.has('n/' + aliceRoot)).toBe(false);
    expectNoGarbage(x.store);
  });
});

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, fromHex, toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { domain } from '../../shared/crypto/domain.ts';
import { combineShares, signShare } from '../../shared/crypto/threshold-bls.ts';
import { checkpointPayload, checkpointTag } from '../../shared/log/checkpoint.ts';
import type { Checkpoint, SignedCheckpoint } from '../../shared/log/checkpoint.ts';
import { leafHash, rootOf } from '../../shared/log/merkle.ts';
import { smtKey, verifySparseProof } from '../../shared/log/sparse-merkle.ts';
import {
  CA_ENTRY_PREFIX,
  CertificateAuthority,
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
import type { CaRequest, CaResponse, CertificateRecord, DirectoryStatementJson } from '../../shared/app/ca.ts';
import type { AppPosition } from '../../shared/app/types.ts';
import { testGroup } from '../helpers/group.ts';

const { group, secrets } = testGroup(4);
const gid = group.groupId;
const sk = (label: string): Uint8Array => sha256(utf8ToBytes(`test key ${label}`));
const ALICE = sk('alice');
const ALICE2 = sk('alice-2');
const BOB = sk('bob');
const MALLORY = sk('mallory');

/** Feeds entries in order, like the engine: index = position, epoch given. */
class Feeder {
  index = 0;
  constructor(readonly ca: CertificateAuthority) {}
  apply(entry: Uint8Array | CaRequest, epoch: number): CaResponse | null {
    const bytes = entry instanceof Uint8Array ? entry : encodeCaRequest(entry);
    const at: AppPosition = { index: this.index++, epoch };
    const out = this.ca.apply(bytes, at);
    return out === null ? null : decodeResponse(out);
  }
}

function okCert(r: CaResponse | null): CertificateRecord {
  expect(r).not.toBeNull();
  if (!r!.ok) throw new Error(`expected ok, got ${JSON.stringify(r)}`);
  return r!.certificate;
}

function errCode(r: CaResponse | null): string {
  expect(r).not.toBeNull();
  if (r!.ok) throw new Error(`expected an error, got ${JSON.stringify(r)}`);
  return r!.error.code;
}

describe('certification authority: state machine', () => {
  it('registers, refuses duplicates, and only lets the key holder renew, rotate and revoke', () => {
    const ca = new CertificateAuthority({ groupId: gid, maxValidity: 1000 });
    const f = new Feeder(ca);
    const empty = toHex(ca.digest());

    const c1 = okCert(f.apply(registerRequest(gid, 'alice', ALICE, 100), 0));
    expect(c1).toEqual({ v: 1, name: 'alice', key: toHex(ed25519PublicKey(ALICE)), serial: 1, notBefore: 0, notAfter: 100, status: 'active', revokedAt: null });
    expect(ca.record('alice')).toEqual(c1);
    expect(toHex(ca.digest())).not.toBe(empty);
    expect(toHex(ca.digest())).toBe(toHex(caDigest(ca.root, 1)));

    const unchanged = (r: CaResponse | null, code: string): void => {
      const before = toHex(ca.digest());
      expect(errCode(r)).toBe(code);
      expect(toHex(ca.digest())).toBe(before);
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

    // Renew: new serial, same key, new interval from this position.
    const renew = renewRequest(gid, 'alice', 1, ALICE, 200);
    const idx = f.index;
    const c3 = okCert(f.apply(renew, 2));
    expect(c3).toEqual({ ...c1, serial: 3, notBefore: idx, notAfter: idx + 200 });
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
    expect(ca.issued).toBe(4);
    unchanged(f.apply(renewRequest(gid, 'alice', 4, ALICE2, 10), 3), 'revoked');
    unchanged(f.apply(revokeRequest(gid, 'alice', 4, ALICE2), 3), 'revoked');
    unchanged(f.apply(registerRequest(gid, 'alice', ALICE2, 10), 3), 'name-taken');
    expect(ca.size).toBe(2);
  });

  it('answers malformed requests with errors that change nothing, and ignores other entries', () => {
    const ca = new CertificateAuthority({ groupId: gid, maxValidity: 1000 });
    const f = new Feeder(ca);
    okCert(f.apply(registerRequest(gid, 'alice', ALICE, 100), 0));
    const digest = toHex(ca.digest());
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
      expect(toHex(ca.digest())).toBe(digest);
    }
    // Not for the CA at all.
    for (const e of ['hello', '{"text":"x"}', '{"app":"notary","v":1}', ' {"app":"ca","v":1}', '{"v":1,"app":"ca"}', '']) {
      expect(f.apply(utf8ToBytes(e), 1)).toBeNull();
    }
    expect(toHex(ca.digest())).toBe(digest);
    // A bad position (an engine bug) still gets an error answer, never an exception.
    const entry = encodeCaRequest(registerRequest(gid, 'bob', BOB, 10));
    for (const at of [{ index: -1, epoch: 0 }, { index: 1.5, epoch: 0 }, { index: 3, epoch: Number.NaN }, null, undefined]) {
      const out = ca.apply(entry, at as unknown as AppPosition);
      expect(decodeResponse(out!)).toMatchObject({ ok: false, error: { code: 'internal' } });
    }
    expect(toHex(ca.digest())).toBe(digest);
    // Clients cannot even encode a malformed request.
    expect(() => encodeCaRequest(registerRequest(gid, 'Not A Name', BOB, 10))).toThrow(/name/);
    expect(() => encodeCaRequest({ ...registerRequest(gid, 'bob', BOB, 10), validFor: 0 })).toThrow(/validFor/);
    // The strict decoder accepts exactly the canonical bytes.
    expect(decodeCaRequest(utf8ToBytes(good))).toEqual(obj);
  });

  it('never throws, whatever follows the CA prefix', () => {
    const ca = new CertificateAuthority({ groupId: gid });
    const before = toHex(ca.digest());
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.json().map((j) => utf8ToBytes(j))), fc.nat(), (tail, index) => {
        const entry = concatBytes(utf8ToBytes(CA_ENTRY_PREFIX), tail);
        const out = ca.apply(entry, { index, epoch: 0 });
        expect(out).not.toBeNull();
        expect(decodeResponse(out!).ok).toBe(false);
      }),
      { numRuns: 300 },
    );
    expect(toHex(ca.digest())).toBe(before);
  });

  it('is deterministic: two instances fed the same entries give the same responses and digests', () => {
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
        const a = new CertificateAuthority({ groupId: gid });
        const b = new CertificateAuthority({ groupId: gid });
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
          const at = { index: i, epoch: Math.floor(i / 3) };
          const ra = a.apply(entry, at);
          const rb = b.apply(entry, at);
          expect(toHex(ra!)).toBe(toHex(rb!));
          expect(toHex(a.digest())).toBe(toHex(b.digest()));
        });
        // Serials are 1..issued, in order, and the digest commits to the tree root.
        expect(toHex(a.digest())).toBe(toHex(caDigest(a.root, a.issued)));
        // A snapshot restores to the same digest and records.
        const c = CertificateAuthority.restore(a.exportState(), { groupId: gid });
        expect(toHex(c.digest())).toBe(toHex(a.digest()));
        for (const n of names) expect(c.record(n)).toEqual(a.record(n));
        const last = Math.floor((reqs.length - 1) / 3);
        expect(toHex(c.lookup('alice', last)!.root)).toBe(toHex(a.root));
        expect(c.lookup('alice', -2)).toBeNull();
        if (a.versions()[0]! >= 0) expect(c.lookup('alice', a.versions()[0]! - 1)).toBeNull();
      }),
      { numRuns: 25 },
    );
  });
});

describe('certification authority: directory proofs and retained versions', () => {
  it('proves presence and absence against the current and retained past versions', () => {
    const ca = new CertificateAuthority({ groupId: gid, retain: 3 });
    const f = new Feeder(ca);
    okCert(f.apply(registerRequest(gid, 'alice', ALICE, 100), 1)); // epoch 1: alice
    okCert(f.apply(registerRequest(gid, 'bob', BOB, 100), 2)); // epoch 2: bob
    expect(f.apply(utf8ToBytes('not for the ca'), 3)).toBeNull(); // epoch 3: nothing for the CA
    okCert(f.apply(rotateRequest(gid, 'alice', 1, ALICE, ALICE2, 100), 4)); // epoch 4: alice rotates
    expect(ca.versions()).toEqual([1, 2, 4]);

    const check = (name: string, epoch: number | undefined, key: Uint8Array | null): void => {
      const a = ca.lookup(name, epoch)!;
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
    check('alice', 4, ALICE2);
    check('alice', 3, ALICE);
    check('alice', 1, ALICE);
    check('bob', 1, null);
    check('bob', 3, BOB);
    check('carol', 2, null);
    check('carol', undefined, null);
    // The state at epoch 3 is the state after epoch 2 (nothing changed in 3).
    expect(toHex(ca.lookup('x', 3)!.root)).toBe(toHex(ca.lookup('x', 2)!.root));
    // One more change: epoch 1 is dropped (retain = 3), epoch 0 and older were never answerable.
    okCert(f.apply(renewRequest(gid, 'bob', 2, BOB, 10), 5));
    expect(ca.versions()).toEqual([2, 4, 5]);
    expect(ca.lookup('alice', 1)).toBeNull();
    expect(ca.lookup('alice', 0)).toBeNull();
    check('alice', 2, ALICE);
  });
});

describe('certification authority: statements verified offline with group.json', () => {
  // A small log: notary-ish entries and CA entries; the "engine" signs one checkpoint per epoch with the
  // state digest over (log root, [notary, ca]).
  const ca = new CertificateAuthority({ groupId: gid });
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
      ca.apply(entry, { index: log.length, epoch: e });
      log.push(entry);
    }
    const root = rootOf(log.map(leafHash));
    const apps = [
      { name: 'notary', digest: notaryDigest },
      { name: 'ca', digest: ca.digest() },
    ];
    checkpoints.set(e, { cp: sign({ size: log.length, root, epoch: e, stateDigest: computeStateDigest(root, apps) }), apps });
  }

  epoch(0, [utf8ToBytes('hello'), encodeCaRequest(registerRequest(gid, 'alice', ALICE, 1000)), encodeCaRequest(registerRequest(gid, 'bob', BOB, 3))]);
  epoch(1, [encodeCaRequest(revokeRequest(gid, 'bob', 2, BOB)), utf8ToBytes('world'), utf8ToBytes('more'), utf8ToBytes('entries')]);
  epoch(2, [encodeCaRequest(registerRequest(gid, 'carol', sk('carol'), 2)), utf8ToBytes('a'), utf8ToBytes('b')]);

  const statement = (name: string, e: number): DirectoryStatementJson => {
    const { cp, apps } = checkpoints.get(e)!;
    return directoryStatement(gid, ca.lookup(name, e)!, cp, apps);
  };
  const roundTrip = (s: DirectoryStatementJson): Record<string, unknown> => JSON.parse(JSON.stringify(s)) as Record<string, unknown>;

  it('verifies membership and non-membership statements, against past checkpoints too', () => {
    const alice = verifyDirectoryStatement(group, roundTrip(statement('alice', 2)));
    expect(alice).toMatchObject({ ok: true, present: true, status: 'active', epoch: 2, size: 10 });
    if (alice.ok) expect(alice.record!.key).toBe(toHex(ed25519PublicKey(ALICE)));
    // bob: active at epoch 0, revoked at epoch 1.
    expect(verifyDirectoryStatement(group, roundTrip(statement('bob', 0)))).toMatchObject({ ok: true, status: 'active' });
    expect(verifyDirectoryStatement(group, roundTrip(statement('bob', 1)))).toMatchObject({ ok: true, status: 'revoked' });
    // carol: absent before epoch 2 (non-membership), then registered (valid for positions 7, 8 only).
    expect(verifyDirectoryStatement(group, roundTrip(statement('carol', 1)))).toMatchObject({ ok: true, present: false, status: 'absent', record: null });
    expect(verifyDirectoryStatement(group, roundTrip(statement('carol', 2)))).toMatchObject({ ok: true, present: true, status: 'expired' });
    expect(verifyDirectoryStatement(group, roundTrip(statement('nobody', 2)))).toMatchObject({ ok: true, status: 'absent' });
    // The CA's own statement helper gives the same statement; JSON text is accepted too.
    const { cp, apps } = checkpoints.get(1)!;
    expect(ca.statement('bob', cp, apps)).toEqual(statement('bob', 1));
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
    bad({ ...good, record: { ...rec, notAfter: 10_000 } }, /proof does not show this record/);
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
    expect(() => directoryStatement(gid, ca.lookup('alice', 1)!, cp, apps)).toThrow(/CA digest/);
    expect(() => directoryStatement(gid, ca.lookup('alice', 2)!, cp, [apps[1]!])).toThrow(/state digest/);
  });
});

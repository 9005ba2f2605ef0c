/**
 * The notary state machine (shared/app/notary.ts), the state digest (shared/app/state.ts) and the engine
 * feeding applications (shared/replica/engine.ts): canonical entries only, first registration wins,
 * lookups by digest and index, identical digests on every replica, state rebuilt from the log on restore,
 * and checkpoints signing sha256(frame('sintra-edge/state@1', root, name, digest)).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { NotaryApp, encodeStampEntry, parseStampEntry, StampFormatError } from '../../shared/app/notary.ts';
import { computeStateDigest, STATE_DIGEST_VERSION } from '../../shared/app/state.ts';
import { standardApps } from '../../shared/app/index.ts';
import { frame, toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { verifyCheckpoint } from '../../shared/log/checkpoint.ts';
import type { Message } from '../../shared/protocols/messages.ts';
import { ReplicaEngine, requestId } from '../../shared/replica/engine.ts';
import type { LogRecord } from '../../shared/replica/engine.ts';
import { contextFromConfig } from '../../shared/replica/from-config.ts';
import { Rng } from '../../infra/sim/rng.ts';
import { testGroup } from '../helpers/group.ts';

const D1 = toHex(sha256(utf8ToBytes('document one')));
const D2 = toHex(sha256(utf8ToBytes('document two')));
const text = (b: Uint8Array | null) => (b === null ? null : JSON.parse(new TextDecoder().decode(b)));

describe('notary entries', () => {
  it('has exactly one encoding per (digest, nonce)', () => {
    expect(new TextDecoder().decode(encodeStampEntry({ digest: D1 }))).toBe(`{"app":"notary","op":"stamp","digest":"${D1}"}`);
    expect(new TextDecoder().decode(encodeStampEntry({ digest: D1, nonce: '00ff' }))).toBe(`{"app":"notary","op":"stamp","digest":"${D1}","nonce":"00ff"}`);
    expect(parseStampEntry(encodeStampEntry({ digest: D1, nonce: 'ab' }))).toEqual({ ok: true, request: { digest: D1, nonce: 'ab' } });
    expect(() => encodeStampEntry({ digest: D1.toUpperCase() })).toThrow(StampFormatError);
    expect(() => encodeStampEntry({ digest: D1, nonce: 'abc' })).toThrow(StampFormatError);
    expect(() => encodeStampEntry({ digest: D1, nonce: 'aa'.repeat(65) })).toThrow(StampFormatError);
  });

  it('ignores other entries and refuses non-canonical notary entries deterministically', () => {
    for (const s of ['hello', '{"app":"ca","op":"stamp"}', ` {"app":"notary","op":"stamp","digest":"${D1}"}`, '']) {
      expect(parseStampEntry(utf8ToBytes(s))).toBeNull();
    }
    const bad = [
      `{"app":"notary","digest":"${D1}","op":"stamp"}`, // key order
      `{"app":"notary","op":"stamp","digest":"${D1}" }`, // whitespace
      `{"app":"notary","op":"stamp","digest":"${D1.slice(2)}"}`,
      `{"app":"notary","op":"stamp","digest":"${D1}","extra":1}`,
      `{"app":"notary","op":"revoke","digest":"${D1}"}`,
      `{"app":"notary","op":"stamp","digest":"${D1}","nonce":""}`,
      '{"app":"notary",',
      '{"app":"notary",[]}',
    ];
    const app = new NotaryApp();
    const before = toHex(app.digest());
    for (const s of bad) {
      const p = parseStampEntry(utf8ToBytes(s));
      expect(p?.ok, s).toBe(false);
      expect(text(app.apply(utf8ToBytes(s), { index: 0, epoch: 0 }))).toMatchObject({ app: 'notary', ok: false });
    }
    const invalidUtf8 = new Uint8Array([...utf8ToBytes('{"app":"notary",'), 0xff, 0xfe]);
    expect(parseStampEntry(invalidUtf8)).toMatchObject({ ok: false });
    expect(toHex(app.digest())).toBe(before);
    expect(app.apply(utf8ToBytes('hello'), { index: 1, epoch: 0 })).toBeNull();
    expect(toHex(app.digest())).toBe(before);
  });
});

describe('NotaryApp', () => {
  it('keeps the first registration; lookups by digest and by index', () => {
    const a = new NotaryApp();
    expect(text(a.apply(encodeStampEntry({ digest: D1 }), { index: 3, epoch: 1 }))).toEqual({ app: 'notary', ok: true, digest: D1, index: 3, epoch: 1, first: true });
    expect(text(a.apply(encodeStampEntry({ digest: D1, nonce: '01' }), { index: 7, epoch: 2 }))).toEqual({ app: 'notary', ok: true, digest: D1, index: 3, epoch: 1, first: false });
    a.apply(encodeStampEntry({ digest: D2, nonce: 'beef' }), { index: 8, epoch: 2 });
    expect(a.lookup(D1)).toEqual({ digest: D1, index: 3, epoch: 1 });
    expect(a.lookup(D2)).toEqual({ digest: D2, index: 8, epoch: 2, nonce: 'beef' });
    expect(a.lookup(toHex(new Uint8Array(32)))).toBeUndefined();
    expect(a.atIndex(7)).toEqual({ digest: D1, nonce: '01', first: false });
    expect(a.atIndex(4)).toBeUndefined();
    expect(a.registrations).toBe(2);
  });

  it('digest is a function of the applied sequence (same sequence, same digest; any change, another)', () => {
    const seq: [Uint8Array, number, number][] = [
      [encodeStampEntry({ digest: D1 }), 0, 0],
      [utf8ToBytes('not for us'), 1, 0],
      [encodeStampEntry({ digest: D2 }), 2, 1],
    ];
    const run = (s: typeof seq) => {
      const a = new NotaryApp();
      for (const [e, index, epoch] of s) a.apply(e, { index, epoch });
      return toHex(a.digest());
    };
    expect(run(seq)).toBe(run(seq));
    expect(run(seq)).not.toBe(run([seq[0]!, seq[2]!].map(([e], i) => [e, i, 0] as [Uint8Array, number, number])));
    expect(run(seq)).not.toBe(run([seq[2]!, seq[1]!, seq[0]!]));
    expect(new NotaryApp().digest()).toHaveLength(32);
  });
});

describe('state digest', () => {
  const root = sha256(utf8ToBytes('root'));
  it('is the log root without applications, else sha256 over the framed (root, name, digest) list', () => {
    expect(computeStateDigest(root, [])).toBe(root);
    const d = new Uint8Array(32).fill(9);
    expect(toHex(computeStateDigest(root, [{ name: 'notary', digest: d }]))).toBe(toHex(sha256(frame(STATE_DIGEST_VERSION, root, 'notary', d))));
    expect(toHex(computeStateDigest(root, [{ name: 'notary', digest: d }]))).not.toBe(toHex(computeStateDigest(root, [{ name: 'notarx', digest: d }])));
  });
});

describe('ReplicaEngine with applications (n = 4, real keys)', () => {
  const { group, secrets } = testGroup(4);
  const engines = secrets.map((s) => new ReplicaEngine(contextFromConfig(group, s), { apps: () => standardApps(group) }));
  const stored: LogRecord[][] = engines.map(() => []);
  const queue: { from: number; to: number; msg: Message }[] = [];
  const rng = new Rng(11);
  const push = (at: number, step: ReturnType<ReplicaEngine['handle']>) => {
    for (const o of step.outgoing) queue.push({ from: at, to: o.to, msg: o.msg });
    for (const a of step.appended) stored[at]!.push({ id: a.id, epoch: a.epoch, entry: a.entry });
  };
  const run = () => {
    while (queue.length > 0) {
      const m = queue.splice(rng.int(queue.length), 1)[0]!;
      const s = engines[m.to]!.handle({ kind: 'peer', from: m.from, msg: m.msg });
      if (s.deferred) queue.push(m);
      else push(m.to, s);
    }
  };

  it('feeds every entry to the notary on every replica; checkpoints sign the app state', () => {
    const entries = [encodeStampEntry({ digest: D1 }), utf8ToBytes('plain request'), encodeStampEntry({ digest: D1, nonce: 'aa' }), encodeStampEntry({ digest: D2 })];
    entries.forEach((e, i) => push(i % 4, engines[i % 4]!.handle({ kind: 'submit', request: e })));
    run();
    for (const e of engines) expect(e.log.size).toBe(4);
    const notaries = engines.map((e) => e.app<NotaryApp>('notary')!);
    expect(new Set(notaries.map((n) => toHex(n.digest()))).size).toBe(1);
    const first = notaries[0]!.lookup(D1)!;
    // The first of the two D1 entries in the total order is the registration; the other repeats it.
    const i0 = engines[0]!.recentIndexOf(requestId(entries[0]!))!;
    const i2 = engines[0]!.recentIndexOf(requestId(entries[2]!))!;
    expect(first.index).toBe(Math.min(i0, i2));
    expect(first.nonce).toBe(i0 < i2 ? undefined : 'aa');
    expect(notaries[1]!.atIndex(Math.max(i0, i2))).toMatchObject({ digest: D1, first: false });
    for (const e of engines) {
      const c = e.latestCheckpoint!;
      expect(c.size).toBe(4);
      expect(verifyCheckpoint(group.kernel.groupKey, group.groupId, c)).toBe(true);
      expect(toHex(c.stateDigest)).toBe(toHex(computeStateDigest(c.root, [{ name: 'notary', digest: e.app('notary')!.digest() }, { name: 'ca', digest: e.app('ca')!.digest() }])));
      expect(toHex(c.stateDigest)).not.toBe(toHex(c.root));
    }
  }, 120_000);

  it('a restored engine rebuilds the application state from the stored log', () => {
    const e = engines[1]!;
    const restored = ReplicaEngine.restore(contextFromConfig(group, secrets[1]!), { apps: () => standardApps(group) }, e.snapshot(), stored[1]!);
    const n = restored.app<NotaryApp>('notary')!;
    expect(toHex(n.digest())).toBe(toHex(e.app('notary')!.digest()));
    expect(n.lookup(D2)).toEqual(e.app<NotaryApp>('notary')!.lookup(D2));
    expect(toHex(restored.stateDigest())).toBe(toHex(e.latestCheckpoint!.stateDigest));
  });

  it('an engine without applications signs the root as before', () => {
    const plain = new ReplicaEngine(contextFromConfig(group, secrets[0]!));
    expect(plain.apps).toEqual([]);
    expect(toHex(plain.stateDigest())).toBe(toHex(plain.log.root()));
  });
});

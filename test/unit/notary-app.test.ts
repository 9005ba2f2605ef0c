/**
 * The notary state machine (shared/app/notary.ts), the state digest (shared/app/state.ts) and the engine
 * with the execution stage (shared/replica/execution.ts): canonical entries only, first registration wins,
 * lookups by digest and index, identical digests on every replica, state in storage (nothing to rebuild
 * on restore), and checkpoints signing sha256(frame('sintra-edge/state@1', root, name, digest)).
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
import { MapAppState } from '../../shared/app/types.ts';
import { executeAwaiting, MemoryStorage, recordStep } from '../helpers/history.ts';
import { contextFromConfig } from '../../shared/replica/from-config.ts';
import { Rng } from '../../infra/sim/rng.ts';
import { testGroup } from '../helpers/group.ts';

const D1 = toHex(sha256(utf8ToBytes('document one')));
const D2 = toHex(sha256(utf8ToBytes('document two')));
const text = (b: Uint8Array | null) => (b === null ? null : JSON.parse(new TextDecoder().decode(b)));

/** The notary with its state in a map (what storage holds for it). */
class Notary {
  readonly app = new NotaryApp();
  readonly state = new MapAppState();
  apply(entry: Uint8Array, at: { index: number; epoch: number; time?: number }) {
    return this.app.apply(entry, { time: 0, ...at }, this.state);
  }
  digest() {
    return this.app.digest(this.state);
  }
  lookup(d: string) {
    return this.app.lookup(this.state, d);
  }
}

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
    const app = new Notary();
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
    const a = new Notary();
    expect(text(a.apply(encodeStampEntry({ digest: D1 }), { index: 3, epoch: 1 }))).toEqual({ app: 'notary', ok: true, digest: D1, index: 3, epoch: 1, first: true });
    expect(text(a.apply(encodeStampEntry({ digest: D1, nonce: '01' }), { index: 7, epoch: 2 }))).toEqual({ app: 'notary', ok: true, digest: D1, index: 3, epoch: 1, first: false });
    a.apply(encodeStampEntry({ digest: D2, nonce: 'beef' }), { index: 8, epoch: 2 });
    expect(a.lookup(D1)).toEqual({ digest: D1, index: 3, epoch: 1 });
    expect(a.lookup(D2)).toEqual({ digest: D2, index: 8, epoch: 2, nonce: 'beef' });
    expect(a.lookup(toHex(new Uint8Array(32)))).toBeUndefined();
    expect(a.app.atIndex(a.state, 7, encodeStampEntry({ digest: D1, nonce: '01' }))).toEqual({ digest: D1, nonce: '01', first: false });
    expect(a.app.atIndex(a.state, 3, encodeStampEntry({ digest: D1 }))).toEqual({ digest: D1, first: true });
    expect(a.app.atIndex(a.state, 4, utf8ToBytes('hello'))).toBeUndefined();
    // Exactly: one registration per digest (u64 index, u64 epoch, nonce) and the chain head.
    expect([...a.state.map.keys()].sort()).toEqual([`d/${D1}`, `d/${D2}`, 'head']);
    expect(toHex(a.state.get(`d/${D2}`)!)).toBe('0000000000000008' + '0000000000000002' + 'beef');
  });

  it('digest is a function of the applied sequence (same sequence, same digest; any change, another)', () => {
    const seq: [Uint8Array, number, number][] = [
      [encodeStampEntry({ digest: D1 }), 0, 0],
      [utf8ToBytes('not for us'), 1, 0],
      [encodeStampEntry({ digest: D2 }), 2, 1],
    ];
    const run = (s: typeof seq) => {
      const a = new Notary();
      for (const [e, index, epoch] of s) a.apply(e, { index, epoch });
      return toHex(a.digest());
    };
    expect(run(seq)).toBe(run(seq));
    expect(run(seq)).not.toBe(run([seq[0]!, seq[2]!].map(([e], i) => [e, i, 0] as [Uint8Array, number, number])));
    expect(run(seq)).not.toBe(run([seq[2]!, seq[1]!, seq[0]!]));
    expect(new Notary().digest()).toHaveLength(32);
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
  const stores = engines.map(() => new MemoryStorage());
  const queue: { from: number; to: number; msg: Message }[] = [];
  const rng = new Rng(11);
  const push = (at: number, step: ReturnType<ReplicaEngine['handle']>) => {
    for (const o of step.outgoing) queue.push({ from: at, to: o.to, msg: o.msg });
    recordStep(stores[at]!, step);
    for (const x of executeAwaiting(engines[at]!, stores[at]!)) for (const o of x.outgoing) queue.push({ from: at, to: o.to, msg: o.msg });
  };
  const notaryOf = (i: number) => {
    const n = new Notary();
    for (const [k, v] of stores[i]!.appState.get('notary') ?? []) n.state.put(k, v);
    return n;
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
    const notaries = engines.map((_, i) => notaryOf(i));
    expect(new Set(notaries.map((n) => toHex(n.digest()))).size).toBe(1);
    const first = notaries[0]!.lookup(D1)!;
    // The first of the two D1 entries in the total order is the registration; the other repeats it.
    const i0 = engines[0]!.recentIndexOf(requestId(entries[0]!))!;
    const i2 = engines[0]!.recentIndexOf(requestId(entries[2]!))!;
    expect(first.index).toBe(Math.min(i0, i2));
    expect(first.nonce).toBe(i0 < i2 ? undefined : 'aa');
    const later = Math.max(i0, i2);
    expect(notaries[1]!.app.atIndex(notaries[1]!.state, later, entries[later === i0 ? 0 : 2]!)).toMatchObject({ digest: D1, first: false });
    for (const [i, e] of engines.entries()) {
      const c = e.latestCheckpoint!;
      expect(c.size).toBe(4);
      expect(verifyCheckpoint(group.kernel.groupKey, group.groupId, c)).toBe(true);
      const ca = new MapAppState(stores[i]!.appState.get('ca') ?? new Map());
      expect(toHex(c.stateDigest)).toBe(toHex(computeStateDigest(c.root, [{ name: 'notary', digest: notaries[i]!.digest() }, { name: 'ca', digest: e.app('ca')!.digest(ca) }])));
      expect(toHex(c.stateDigest)).not.toBe(toHex(c.root));
    }
  }, 120_000);

  it('a restored engine reads nothing of the log: the digests of its checkpoints come with the snapshot', () => {
    const e = engines[1]!;
    const restored = ReplicaEngine.restore(contextFromConfig(group, secrets[1]!), { apps: () => standardApps(group) }, e.snapshot());
    const cp = e.latestCheckpoint!;
    expect(toHex(computeStateDigest(cp.root, restored.appDigestsAt(cp.epoch)!))).toBe(toHex(cp.stateDigest));
    expect(restored.awaitingExecution).toEqual([]);
  });

  it('an engine without applications signs the root as before, without waiting for execution', () => {
    const plain = secrets.map((x) => new ReplicaEngine(contextFromConfig(group, x)));
    const q: { from: number; to: number; msg: Message }[] = [];
    for (const o of plain[0]!.handle({ kind: 'submit', request: utf8ToBytes('x') }).outgoing) q.push({ from: 0, to: o.to, msg: o.msg });
    while (q.length > 0) {
      const m = q.splice(rng.int(q.length), 1)[0]!;
      const s = plain[m.to]!.handle({ kind: 'peer', from: m.from, msg: m.msg });
      if (s.deferred) q.push(m);
      else for (const o of s.outgoing) q.push({ from: m.to, to: o.to, msg: o.msg });
    }
    expect(plain[0]!.apps).toEqual([]);
    expect(plain[0]!.awaitingExecution).toEqual([]);
    const cp = plain[0]!.latestCheckpoint!;
    expect(toHex(cp.stateDigest)).toBe(toHex(cp.root));
  }, 120_000);
});

/**
 * Secure causal atomic broadcast inside the replica engine, with real TDH2 keys: plain and encrypted
 * requests share one total order; a ciphertext is decrypted only after its epoch is fixed; invalid
 * ciphertexts are refused, undecryptable ones skipped by every replica alike; snapshots taken while an
 * epoch is being decrypted restore exactly.
 */
import { describe, expect, it } from 'vitest';
import { encryptRequest } from '../../shared/client/encrypt.ts';
import { toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { encodeCiphertext, encrypt } from '../../shared/crypto/tdh2.ts';
import type { SignedCheckpoint } from '../../shared/log/checkpoint.ts';
import { verifyReceipt } from '../../shared/log/checkpoint.ts';
import { parseInstanceTag } from '../../shared/protocols/instance-tag.ts';
import type { Message } from '../../shared/protocols/messages.ts';
import { ReplicaEngine, requestId } from '../../shared/replica/engine.ts';
import type { EngineEvent, EngineStep } from '../../shared/replica/engine.ts';
import { contextFromConfig, decryptorFromConfig } from '../../shared/replica/from-config.ts';
import { decodeEvent, encodeEvent } from '../../shared/replica/journal.ts';
import { Rng } from '../../infra/sim/rng.ts';
import { testGroup } from '../helpers/group.ts';
import { MemoryStorage, receiptFrom, recordStep } from '../helpers/history.ts';

const { group, secrets } = testGroup(4);
const engineFor = (i: number) => new ReplicaEngine(contextFromConfig(group, secrets[i]!), {}, decryptorFromConfig(group, secrets[i]!));

interface Net {
  engines: ReplicaEngine[];
  stores: MemoryStorage[];
  journals: Uint8Array[][];
  queue: { from: number; to: number; msg: Message }[];
  /** Violations of "no decryption share before the epoch is ordered here". */
  early: string[];
}

function makeNet(): Net {
  return { engines: secrets.map((_, i) => engineFor(i)), stores: secrets.map(() => new MemoryStorage()), journals: secrets.map(() => []), queue: [], early: [] };
}

function apply(net: Net, at: number, ev: EngineEvent): EngineStep {
  const e = net.engines[at]!;
  const step = e.handle(ev);
  if (!step.deferred) net.journals[at]!.push(encodeEvent(ev));
  recordStep(net.stores[at]!, step);
  for (const o of step.outgoing) {
    const id = parseInstanceTag(o.msg.tag, e.ctx.n);
    // Shares for epoch k may leave only once this replica's atomic broadcast has delivered epoch k.
    if (id?.kind === 'dec' && e.ab.currentEpoch <= id.epoch) net.early.push(`replica ${at} sent shares for epoch ${id.epoch} at epoch ${e.ab.currentEpoch}`);
    net.queue.push({ from: at, to: o.to, msg: o.msg });
  }
  return step;
}

/** Random delivery order; messages matching `hold` wait while anything else is in flight. */
function run(net: Net, rng: Rng, hold: (m: { to: number; msg: Message }) => boolean = () => false, maxSteps = 200_000): void {
  for (let i = 0; net.queue.length > 0; i++) {
    if (i > maxSteps) throw new Error('no quiescence');
    const free = net.queue.filter((m) => !hold(m));
    const pick = free.length > 0 ? free[rng.int(free.length)]! : net.queue[rng.int(net.queue.length)]!;
    const m = net.queue.splice(net.queue.indexOf(pick), 1)[0]!;
    if (apply(net, m.to, { kind: 'peer', from: m.from, msg: m.msg }).deferred) net.queue.push(m);
  }
}

const rng = seededRandom('engine-encrypted');

describe('ReplicaEngine: encrypted requests (secure causal atomic broadcast)', () => {
  const net = makeNet();
  const plain = [0, 1, 2].map((i) => utf8ToBytes(`plain ${i}`));
  const secret = [0, 1, 2].map((i) => utf8ToBytes(`sealed bid ${i}`));
  const enc = secret.map((s, i) => encryptRequest(group, s, `client-${i}`, rng));
  // The same plaintext again, encrypted afresh: a new ciphertext, but one log entry.
  const again = encryptRequest(group, secret[0]!, 'client-0', rng);
  // Valid (its proof holds) but made with another group's key: ordered, then skipped by everyone.
  const other = testGroup(4, 1, 'another-group').group;
  const undecryptable = encodeCiphertext(encrypt(other.encryption, group.groupId, utf8ToBytes('mallory'), utf8ToBytes('not for you'), rng));

  it('refuses invalid ciphertexts and oversized ones before anything changes', () => {
    const e = net.engines[0]!;
    const before = e.metrics();
    const garbage = enc[0]!.ciphertext.slice();
    garbage[garbage.length - 1]! ^= 1;
    expect(e.refusal(garbage, true)?.code).toBe('invalid-ciphertext');
    expect(e.refusal(utf8ToBytes('not a ciphertext'), true)?.code).toBe('invalid-ciphertext');
    expect(e.refusal(new Uint8Array(e.maxRequestBytes + 1), true)?.code).toBe('too-large');
    expect(e.refusal(new Uint8Array(e.maxRequestBytes))).toBeNull();
    expect(e.refusal(enc[0]!.ciphertext, true)).toBeNull();
    expect(e.metrics()).toEqual(before);
  });

  it('orders plain and encrypted requests into one log on every replica, decrypting only after ordering', () => {
    plain.forEach((p, i) => apply(net, i, { kind: 'submit', request: p }));
    enc.forEach((c, i) => apply(net, (i + 1) % 4, { kind: 'submit-encrypted', ciphertext: c.ciphertext }));
    apply(net, 3, { kind: 'submit-encrypted', ciphertext: again.ciphertext });
    apply(net, 2, { kind: 'submit-encrypted', ciphertext: undecryptable });
    // Before anything is delivered the submitting replica knows the ciphertext as pending.
    expect(net.engines[1]!.ciphertextOutcome(enc[0]!.ciphertextId)?.state).toBe('pending');
    run(net, new Rng(3));
    expect(net.early).toEqual([]);
    expect(net.engines.map((e) => e.log.size)).toEqual([6, 6, 6, 6]);
    expect(new Set(net.engines.map((e) => toHex(e.log.root()))).size).toBe(1);
    net.engines.forEach((e, k) => {
      const store = net.stores[k]!;
      for (const p of [...plain, ...secret]) expect(store.indexOfId(requestId(p))).toBeDefined();
      enc.forEach((c, i) => {
        const o = e.ciphertextOutcome(c.ciphertextId);
        expect(o).toEqual({ state: 'delivered', index: store.indexOfId(requestId(secret[i]!)), plaintextId: c.plaintextId });
      });
      expect(e.ciphertextOutcome(again.ciphertextId)).toEqual(e.ciphertextOutcome(enc[0]!.ciphertextId));
      expect(e.ciphertextOutcome(requestId(undecryptable))).toEqual({ state: 'skipped' });
      expect(e.ciphertextOutcome('00'.repeat(32))).toBeUndefined();
      // No ciphertext is ever a log entry.
      expect(store.indexOfId(enc[1]!.ciphertextId)).toBeUndefined();
    });
  }, 120_000);

  it('receipts of decrypted requests prove the plaintext with the group key', () => {
    const e = net.engines[2]!;
    const idx = e.ciphertextOutcome(enc[2]!.ciphertextId);
    if (idx?.state !== 'delivered') throw new Error('not delivered');
    const receipt = receiptFrom(net.stores[2]!, idx.index)!;
    expect(receipt.entry).toEqual(secret[2]!);
    expect(verifyReceipt(group.kernel.groupKey, group.groupId, receipt)).toEqual({ ok: true });
    expect(verifyReceipt(group.kernel.groupKey, group.groupId, { ...receipt, entry: enc[2]!.ciphertext }).ok).toBe(false);
  });

  it('a replica rebuilt from its journal reaches the same state', () => {
    const fresh = engineFor(2);
    for (const b of net.journals[2]!) expect(fresh.handle(decodeEvent(b)).deferred).toBe(false);
    expect(toHex(fresh.log.root())).toBe(toHex(net.engines[2]!.log.root()));
    expect(fresh.metrics()).toEqual(net.engines[2]!.metrics());
    expect(fresh.ciphertextOutcome(enc[1]!.ciphertextId)).toEqual(net.engines[2]!.ciphertextOutcome(enc[1]!.ciphertextId));
  }, 60_000);
});

describe('ReplicaEngine snapshots while epochs are being decrypted', () => {
  it('an engine restored from any snapshot continues exactly like the original', () => {
    const net = makeNet();
    const at = 2;
    let shadow: ReplicaEngine | null = null;
    let compared = 0;
    let duringDecryption = 0;
    const original = net.engines[at]!;
    const shadowDecryptor = decryptorFromConfig(group, secrets[at]!);
    const originalHandle = original.handle.bind(original);
    const enc = (s: EngineStep) =>
      JSON.stringify([s.deferred, s.outgoing.map((o) => [o.to, toHex(encodeEvent({ kind: 'peer', from: 0, msg: o.msg }))]), s.appended.map((a) => a.id), s.nodes.map((x) => `${x.level}/${x.index}/${toHex(x.hash)}`), s.checkpoints.map((c) => toHex(c.signature)), s.faults]);
    const requests = [0, 1, 2, 3].map((i) => encryptRequest(group, utf8ToBytes(`snapshot secret ${i}`), 'c', rng));
    original.handle = (ev: EngineEvent) => {
      const step = originalHandle(ev);
      if (shadow) {
        expect(enc(shadow.handle(ev))).toBe(enc(step));
        compared++;
      }
      const decrypting = requests.some((r) => original.ciphertextOutcome(r.ciphertextId)?.state === 'decrypting');
      // Snapshots wherever an epoch waits for its decryption shares, and now and then elsewhere.
      const events = original.metrics().events;
      if (!step.deferred && ((decrypting && duringDecryption < 6 && events % 5 === 0) || events % 25 === 0)) {
        if (decrypting) duringDecryption++;
        shadow = ReplicaEngine.restore(contextFromConfig(group, secrets[at]!), {}, original.snapshot(), shadowDecryptor);
        expect(shadow.metrics()).toEqual(original.metrics());
      }
      return step;
    };
    requests.forEach((r, i) => apply(net, i % 4, { kind: 'submit-encrypted', ciphertext: r.ciphertext }));
    apply(net, 1, { kind: 'submit', request: utf8ToBytes('plain between') });
    // Peers' decryption shares reach the watched replica last, so it spends a while decrypting.
    run(net, new Rng(5), (m) => m.to === at && parseInstanceTag(m.msg.tag, 4)?.kind === 'dec');
    expect(duringDecryption).toBeGreaterThan(0);
    expect(compared).toBeGreaterThan(20);
    expect(net.engines.map((e) => e.log.size)).toEqual([5, 5, 5, 5]);
    expect(toHex(shadow!.log.root())).toBe(toHex(original.log.root()));
  }, 180_000);
});

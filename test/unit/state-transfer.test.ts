/**
 * State transfer and bounded outboxes (issue 14; engine.ts transferTo, host-core.ts transfer/trimOutboxes):
 * a replica that was away while the others ran epochs finds their outboxes trimmed to the last epochs, takes
 * a peer's signed checkpoint and the entries up to it (refusing tampered bundles, with the reason), and
 * then orders and certifies with the group as if it had never been away.
 */
import { describe, expect, it } from 'vitest';
import { toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { sha256 } from '../../shared/crypto/sha256.ts';
import { HostCore } from '../../shared/replica/host-core.ts';
import type { PendingCommit } from '../../shared/replica/host-core.ts';
import { MemoryStorage } from '../../shared/replica/storage.ts';
import type { StoredEntry } from '../../shared/replica/storage.ts';
import type { SignedCheckpoint } from '../../shared/log/checkpoint.ts';
import { testGroup } from '../helpers/group.ts';
import { executeCore } from '../helpers/history.ts';
import { decodeEvent } from '../../shared/replica/journal.ts';
import { computeStateDigest } from '../../shared/app/state.ts';
import { encodeStampEntry } from '../../shared/app/notary.ts';

function cluster() {
  const { group, secrets } = testGroup(4);
  const storages = secrets.map(() => new MemoryStorage());
  const options = { bootstrap: true, transferAfterEpochs: 2, transferStallMs: 1000, engine: { ab: { keepEpochs: 1, serveEpochs: 2 } } };
  const make = (i: number) => new HostCore(group, secrets[i]!, storages[i]!.load(), options);
  const cores = secrets.map((_, i) => make(i));
  const down = new Set<number>();
  const write = (i: number, c: PendingCommit | null) => {
    if (!c) return;
    storages[i]!.commit(c.batch);
    c.apply();
    executeCore(cores[i]!, storages[i]!);
  };
  const pump = () => {
    for (let moved = true, k = 0; moved && k < 1000; k++) {
      moved = false;
      for (let i = 0; i < 4; i++) {
        if (down.has(i)) continue;
        for (const j of cores[i]!.duePeers(0)) {
          if (down.has(j)) continue;
          const f = cores[i]!.outgoingFrame(j, 0);
          if (!f) continue;
          moved = true;
          const r = cores[j]!.receiveFrame(f.bytes, 1_765_000_000_000);
          write(j, r.commit);
          write(i, cores[i]!.frameAnswered(f, r.response, 0));
          if (r.response.status !== 200) (cores[i] as unknown as { links: { retryAt: number }[] }).links[j]!.retryAt = 0;
        }
      }
    }
  };
  // Notary stamps, so the transferred entries change application state (executed after the transfer).
  const submit = (i: number, text: string) => write(i, cores[i]!.submit([{ bytes: encodeStampEntry({ digest: toHex(sha256(utf8ToBytes(text))) }), encrypted: false }], 1_765_000_000_000).commit);
  const bundle = (from: number, size: number) => {
    const s = storages[from]!;
    const checkpoint = s.checkpoints[s.checkpoints.length - 1]!;
    return { checkpoint, records: s.log.slice(size, checkpoint.size) };
  };
  return { group, storages, cores, make, down, write, pump, submit, bundle };
}

const flip = (b: Uint8Array): Uint8Array => {
  const c = b.slice();
  c[0]! ^= 1;
  return c;
};

describe('state transfer', () => {
  it('a replica away for many epochs finds the outboxes trimmed, refuses tampered bundles and transfers', () => {
    const c = cluster();
    c.submit(0, 'before');
    c.pump();
    expect(c.cores.map((x) => x.engine.log.size)).toEqual([1, 1, 1, 1]);

    // Replica 3 is away while the others order eight epochs.
    c.down.add(3);
    for (let k = 0; k < 8; k++) {
      c.submit(k % 3, `while away ${k}`);
      c.pump();
    }
    expect(c.cores.slice(0, 3).map((x) => x.engine.log.size)).toEqual([9, 9, 9]);
    // What the others kept for it: the last epochs only (transferAfterEpochs 2), not all eight.
    for (let i = 0; i < 3; i++) {
      expect(c.cores[i]!.metrics().trimmedMessages).toBeGreaterThan(0);
      const epochs = c.storages[i]!.outbox.size;
      expect(epochs).toBeLessThan(60);
    }

    const me = c.cores[3]!;
    expect(me.probeDue(0)).toBe(false);
    c.down.delete(3);
    // The peers' frames skip what they dropped (transport `low`): it asks a peer for its checkpoint.
    c.pump();
    expect(me.engine.log.size).toBe(1);
    expect(me.probeDue(0)).toBe(true);
    me.probed(0, true);
    expect(me.probeDue(1)).toBe(false);
    expect(me.nextProbeWake()).toBe(5000);
    const good = c.bundle(0, me.engine.log.size);
    expect(good.checkpoint.size).toBe(9);
    expect(me.wantsTransfer(good.checkpoint, 0)).toBe(true);

    // Tampered bundles change nothing and say why.
    const entry = flip(good.records[2]!.entry);
    const tamperedEntry: StoredEntry[] = good.records.map((r, k) => (k === 2 ? { ...r, entry, id: toHex(sha256(entry)) } : r));
    const cases: [string, SignedCheckpoint, readonly StoredEntry[], string][] = [
      ['entry', good.checkpoint, tamperedEntry, 'do not extend'],
      ['signature', { ...good.checkpoint, signature: flip(good.checkpoint.signature) }, good.records, 'does not verify'],
      ['epoch', { ...good.checkpoint, epoch: good.checkpoint.epoch + 1 }, good.records, 'does not verify'],
      ['state digest', { ...good.checkpoint, stateDigest: flip(good.checkpoint.stateDigest) }, good.records, 'does not verify'],
      ['missing entry', good.checkpoint, good.records.slice(0, -1), 'needs 8 entries'],
      ['misplaced entry', good.checkpoint, [good.records[1]!, ...good.records.slice(1)], 'not at position'],
      ['wrong id', good.checkpoint, good.records.map((r, k) => (k === 0 ? { ...r, id: good.records[1]!.id } : r)), 'not its SHA-256'],
      ['agreed time', { ...good.checkpoint, time: good.checkpoint.time! + 1 }, good.records, 'does not verify'],
      ['time chain', { ...good.checkpoint, timeChain: flip(good.checkpoint.timeChain!) }, good.records, 'does not verify'],
      ['no time', { ...good.checkpoint, time: undefined, timeChain: undefined }, good.records, 'without agreed time'],
      ['entry time past the checkpoint', good.checkpoint, good.records.map((r) => ({ ...r, time: good.checkpoint.time! + 1 })), "is not its epoch's"],
      ['two times in one epoch', good.checkpoint, good.records.map((r, k) => (k === 1 ? { ...r, time: r.time - 1 } : r)), "is not its epoch's"],
    ];
    for (const [what, checkpoint, records, reason] of cases) {
      const r = me.transfer(checkpoint, records, 1_765_000_000_000);
      expect(r.ok, what).toBe(false);
      if (!r.ok) expect(r.error, what).toMatchObject({ status: 422, code: 'bad-transfer', message: expect.stringContaining(reason) });
    }
    expect(me.engine.log.size).toBe(1);

    const r = me.transfer(good.checkpoint, good.records, 1_765_000_000_000);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    c.write(3, r.commit);
    expect(me.engine.log.size).toBe(9);
    expect(toHex(me.engine.log.root())).toBe(toHex(c.cores[0]!.engine.log.root()));
    expect(c.storages[3]!.log.map((e) => e.id)).toEqual(c.storages[0]!.log.map((e) => e.id));
    // One write: entries, the checkpoint and a snapshot in place of the journal; then one write per
    // transferred epoch executed (the notary and CA apply the entries; the last one's digests must give
    // the signed state digest), journaled as `executed` events.
    expect(c.storages[3]!.journal.map((b) => decodeEvent(b).kind)).toEqual(c.storages[3]!.journal.map(() => 'executed'));
    expect(me.engine.awaitingExecution).toEqual([]);
    expect(toHex(computeStateDigest(good.checkpoint.root, me.engine.appDigestsAt(good.checkpoint.epoch)!))).toBe(toHex(good.checkpoint.stateDigest));
    expect(c.storages[3]!.checkpoints.at(-1)?.epoch).toBe(good.checkpoint.epoch);
    // Not again: it is not behind any more.
    expect(me.wantsTransfer(good.checkpoint, 0)).toBe(false);

    // It orders and certifies with the group from here, its own request included.
    c.pump();
    c.submit(3, 'after, at 3');
    c.pump();
    c.submit(1, 'after, at 1');
    c.pump();
    const sizes = c.cores.map((x) => x.engine.log.size);
    expect(sizes).toEqual([11, 11, 11, 11]);
    const roots = c.cores.map((x) => toHex(x.engine.log.root()));
    expect(new Set(roots).size).toBe(1);
    expect(me.engine.latestCheckpoint?.size).toBe(11);
    expect(me.metrics().engine.faultsByPeer).toEqual({});
    for (let i = 0; i < 3; i++) expect(c.cores[i]!.metrics().engine.faultsByPeer).toEqual({});

    // Gaps the senders will never fill do not pile up in its windows of applied ids (transport `low`).
    for (const j of [0, 1, 2]) expect(c.storages[3]!.inbox.get(j)?.above.length ?? 0).toBe(0);

    // A reload from storage comes back where it was.
    const again = c.make(3);
    expect(again.engine.log.size).toBe(11);
    expect(toHex(again.engine.log.root())).toBe(roots[0]);
  });

  it('executes the transferred epochs in few writes, each epoch seeing what the earlier ones wrote and did not write yet', () => {
    const c = cluster();
    c.submit(0, 'before');
    c.pump();
    c.down.add(3);
    // The same digest stamped again (another nonce) in a later epoch: the first registration stands, which
    // the later epoch can only know from the earlier one's writes.
    const digest = toHex(sha256(utf8ToBytes('twice')));
    const stamp = (i: number, nonce: string) => c.write(i, c.cores[i]!.submit([{ bytes: encodeStampEntry({ digest, nonce }), encrypted: false }], 1_765_000_000_000).commit);
    stamp(0, '01');
    c.pump();
    for (let k = 0; k < 6; k++) {
      c.submit(k % 3, `between ${k}`);
      c.pump();
    }
    stamp(1, '02');
    c.pump();
    const me = c.cores[3]!;
    c.down.delete(3);
    c.pump();
    const good = c.bundle(0, me.engine.log.size);
    const r = me.transfer(good.checkpoint, good.records, 1_765_000_000_000);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const storage = c.storages[3]!;
    let writes = 0;
    const commit = storage.commit.bind(storage);
    storage.commit = (b) => {
      writes++;
      commit(b);
    };
    c.write(3, r.commit);
    // The transfer, then every transferred epoch executed in one more write (there are fewer than EXECUTED_PER_COMMIT).
    const executed = storage.journal.filter((b) => decodeEvent(b).kind === 'executed').length;
    expect(executed).toBeGreaterThan(3);
    expect(writes).toBe(2);
    expect(me.engine.awaitingExecution).toEqual([]);
    expect(toHex(computeStateDigest(good.checkpoint.root, me.engine.appDigestsAt(good.checkpoint.epoch)!))).toBe(toHex(good.checkpoint.stateDigest));
    const key = `d/${digest}`;
    const first = c.storages[0]!.appState.get('notary')!.get(key)!;
    expect(toHex(storage.appState.get('notary')!.get(key)!)).toBe(toHex(first));
    expect(toHex(first.subarray(16))).toBe('01');
  });

  it('a replica one epoch behind and stuck takes a transfer once it delivered nothing for transferStallMs', () => {
    const c = cluster();
    c.submit(0, 'one');
    c.pump();
    const me = c.cores[3]!;
    c.down.add(3);
    c.submit(1, 'two');
    c.pump();
    const b = c.bundle(0, me.engine.log.size);
    expect(b.checkpoint.epoch).toBe(me.engine.lastDeliveredEpoch + 1);
    expect(me.wantsTransfer(b.checkpoint, 0)).toBe(false);
    expect(me.wantsTransfer(b.checkpoint, 999)).toBe(false);
    expect(me.wantsTransfer(b.checkpoint, 1000)).toBe(true);
  });
});

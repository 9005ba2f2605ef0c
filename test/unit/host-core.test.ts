/**
 * The host's I/O-free core (shared/replica/host-core.ts) directly: a link never blocks forever on one
 * message. A peer that refuses a frame for what it holds (400 bad-payload, 413) gets the messages one per
 * frame until the refused one is found; that one is dropped and counted, and the rest of the link goes on.
 */
import { describe, expect, it } from 'vitest';
import { utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { encodeMessage } from '../../shared/codec/message-codec.ts';
import { LinkSender, linkPeers } from '../../shared/link/index.ts';
import type { Message } from '../../shared/protocols/messages.ts';
import { HostCore, UNCHANGED_BUDGET } from '../../shared/replica/host-core.ts';
import type { PendingCommit } from '../../shared/replica/host-core.ts';
import { MemoryStorage } from '../../shared/replica/storage.ts';
import { encodeTransport } from '../../shared/replica/transport.ts';
import { testGroup } from '../helpers/group.ts';

describe('HostCore: links', () => {
  it('a frame the peer refuses for good is split until the refused message is found and dropped', () => {
    const { group, secrets } = testGroup(4);
    const storage = new MemoryStorage();
    const core = new HostCore(group, secrets[0]!, storage.load(), { apps: () => [], bootstrap: true });
    const write = (c: { batch: Parameters<MemoryStorage['commit']>[0]; apply(): void } | null) => {
      if (!c) return;
      storage.commit(c.batch);
      c.apply();
    };
    // Our proposal for peer 1, then peer 1's proposal arrives and our echo for it queues up too.
    write(core.submit([{ bytes: utf8ToBytes('one'), encrypted: false }], 1_765_000_000_000).commit);
    const storage1 = new MemoryStorage();
    const peer1 = new HostCore(group, secrets[1]!, storage1.load(), { apps: () => [], bootstrap: true });
    const c1 = peer1.submit([{ bytes: utf8ToBytes('two'), encrypted: false }], 1_765_000_000_000).commit!;
    storage1.commit(c1.batch);
    c1.apply();
    const r = core.receiveFrame(peer1.outgoingFrame(0, 0)!.bytes, 1_765_000_000_000);
    expect(r.response.status).toBe(200);
    write(r.commit);
    const waiting = core.outboxSizes()[1]!;
    expect(waiting).toBeGreaterThan(1);
    const refuse = { status: 400, body: { error: { code: 'bad-payload', message: 'message 0: unknown body type code 80' } } };

    const f1 = core.outgoingFrame(1, 0)!;
    expect(f1.ids.length).toBe(waiting);
    expect(core.frameAnswered(f1, refuse, 0)).toBeNull();
    // Now one message per frame, at once (no backoff: retrying the same bytes would not help).
    const f2 = core.outgoingFrame(1, 0)!;
    expect(f2.ids).toEqual([f1.ids[0]]);
    write(core.frameAnswered(f2, refuse, 0));
    expect(core.outboxSizes()[1]).toBe(waiting - 1);
    expect(core.metrics().links[1]).toMatchObject({ dropped: 1 });
    expect(core.metrics().links[1]!.lastError).toContain(`message ${f1.ids[0]} dropped`);
    // The link goes on with the next message, and back to full frames once the peer takes one.
    const f3 = core.outgoingFrame(1, 0)!;
    expect(f3.ids).toEqual([f1.ids[1]]);
    write(core.frameAnswered(f3, { status: 200, body: { accepted: f3.ids, deferred: [] } }, 0));
    expect(core.outgoingFrame(1, 0)?.ids ?? []).toEqual(f1.ids.slice(2));
    // The drop is durable: a reloaded core does not resend the dropped message.
    const reloaded = new HostCore(group, secrets[0]!, storage.load(), { apps: () => [], bootstrap: true });
    expect(reloaded.outboxSizes()[1]).toBe(waiting - 2);
  });

  it('a refused frame is not a resynchronization: the next frame reuses its sequence number', () => {
    const { group, secrets } = testGroup(4);
    const storage = new MemoryStorage();
    const core = new HostCore(group, secrets[0]!, storage.load(), { apps: () => [], bootstrap: true });
    const c = core.submit([{ bytes: utf8ToBytes('one'), encrypted: false }], 1_765_000_000_000).commit!;
    storage.commit(c.batch);
    c.apply();
    const f1 = core.outgoingFrame(2, 0)!;
    core.frameAnswered(f1, { status: 413, body: { error: { code: 'link-too-large', message: 'x' } } }, 0);
    expect(core.outgoingFrame(2, 0)!.seq).toBe(f1.seq);
  });
});

describe('HostCore: what a peer can make it store', () => {
  it('messages that change nothing (a collected epoch) are acknowledged without being journaled', () => {
    const c = coreCluster();
    for (let k = 0; k < 4; k++) {
      c.submit(k % 4, `request ${k}`);
      c.pump();
    }
    expect(c.cores[0]!.engine.ab.currentEpoch).toBeGreaterThanOrEqual(4);
    // Replica 3's link to replica 0, continued by hand: junk for epoch 0, long collected at replica 0.
    const link = linkPeers(c.group, c.secrets[3]!)[0]!;
    const next = JSON.parse(c.storages[3]!.meta.get('link-tx/0')!) as { next: number; peerAck: number };
    const { seq, sender } = LinkSender.fromJSON(link.outgoing, next).allocate();
    const junk: Message[] = Array.from({ length: 50 }, (_, k) => ({ tag: 'ab/0/aba/1', body: { t: 'aba-bval', round: k % 3, value: 1 } }));
    const frame = sender.seal(seq, encodeTransport(junk.map((m, k) => ({ id: 1_000_000 + k, bytes: encodeMessage(m) }))), 0);
    const journal = c.storages[0]!.journal.length;
    const unchanged = c.cores[0]!.metrics().links[3]!.unchanged;
    const r = c.cores[0]!.receiveFrame(frame, 1_765_000_000_000);
    expect(r.response.status).toBe(200);
    expect((r.response.body as unknown as { accepted: number[] }).accepted).toHaveLength(50);
    c.write(0, r.commit);
    expect(c.storages[0]!.journal.length).toBe(journal);
    expect(c.cores[0]!.metrics().links[3]!.unchanged - unchanged).toBe(50);
  });

  it(`after ${UNCHANGED_BUDGET} messages that change nothing a peer's frames wait (429), recorded as its fault`, () => {
    const c = coreCluster();
    for (let k = 0; k < 4; k++) {
      c.submit(k % 4, `request ${k}`);
      c.pump();
    }
    const link = linkPeers(c.group, c.secrets[3]!)[0]!;
    let sender = LinkSender.fromJSON(link.outgoing, JSON.parse(c.storages[3]!.meta.get('link-tx/0')!) as { next: number; peerAck: number });
    let id = 1_000_000;
    const frameOf = (count: number) => {
      const items = Array.from({ length: count }, (_, k) => ({ id: id++, bytes: encodeMessage({ tag: 'ab/0/aba/1', body: { t: 'aba-bval', round: k % 3, value: 1 } }) }));
      const a = sender.allocate();
      sender = a.sender;
      return a.sender.seal(a.seq, encodeTransport(items), 0);
    };
    const core = c.cores[0]!;
    for (let k = 0; k < UNCHANGED_BUDGET / 1024; k++) {
      const r = core.receiveFrame(frameOf(1024), 1_765_000_000_000);
      expect(r.response.status).toBe(200);
      c.write(0, r.commit);
    }
    // (Honest traffic before included a few such messages too: late ones for finished epochs.)
    expect(core.metrics().links[3]!.unchangedBudget).toBeLessThanOrEqual(0);
    expect(core.metrics().links[3]!.faultBudget).toBe(256);
    const r = core.receiveFrame(frameOf(1), 1_765_000_000_000);
    expect(r.response).toMatchObject({ status: 429, body: { error: { code: 'throttled', message: expect.stringContaining('messages that change nothing') } } });
    expect(core.metrics().links[3]!.throttled).toBe(1);
    expect(core.metrics().links[2]!.unchangedBudget).toBeGreaterThan(UNCHANGED_BUDGET - 100);
    expect(core.metrics().links[2]!.throttled).toBe(0);
    // A delivered epoch gives some of it back.
    c.submit(1, 'one more');
    c.pump();
    expect(core.metrics().links[3]!.unchangedBudget).toBeGreaterThan(0);
  });
});

describe('HostCore: a peer that keeps causing faults waits', () => {
  it(`after ${256} faults its frames are refused with 429 (not taken: the seq stays fresh)`, () => {
    const { group, secrets } = testGroup(4);
    const storage = new MemoryStorage();
    const core = new HostCore(group, secrets[0]!, storage.load(), { apps: () => [], bootstrap: true });
    const link = linkPeers(group, secrets[3]!)[0]!;
    let sender = LinkSender.create(link.outgoing);
    let id = 1;
    const frameOf = (count: number) => {
      // A tag of no instance: a malformed fault per message.
      const items = Array.from({ length: count }, () => ({ id: id++, bytes: encodeMessage({ tag: 'nowhere', body: { t: 'cbc-want' } }) }));
      const a = sender.allocate();
      sender = a.sender;
      return { seq: a.seq, bytes: a.sender.seal(a.seq, encodeTransport(items), 0) };
    };
    for (let k = 0; k < 4; k++) {
      const r = core.receiveFrame(frameOf(64).bytes, 1_765_000_000_000);
      expect(r.response.status).toBe(200);
      storage.commit(r.commit!.batch);
      r.commit!.apply();
    }
    const f = frameOf(1);
    const r = core.receiveFrame(f.bytes, 1_765_000_000_000);
    expect(r.response.status).toBe(429);
    expect(r.commit).toBeNull();
    expect(core.metrics().links[3]).toMatchObject({ faultBudget: 0, throttled: 1 });
    // An honest peer is not affected.
    expect(core.metrics().links[2]).toMatchObject({ faultBudget: 256, throttled: 0 });
  });
});

/** Four cores over MemoryStorage, frames passed by hand (commit, then apply, as the adapters do). */
function coreCluster(opts: { bootstrap?: boolean } = { bootstrap: true }) {
  const { group, secrets } = testGroup(4);
  const storages = secrets.map(() => new MemoryStorage());
  const make = (i: number, bootstrap = opts.bootstrap) =>
    new HostCore(group, secrets[i]!, storages[i]!.load(), { apps: () => [], bootstrap, engine: { ab: { keepEpochs: 1, serveEpochs: 2 } } });
  const cores = secrets.map((_, i) => make(i));
  const write = (i: number, c: PendingCommit | null) => {
    if (!c) return;
    storages[i]!.commit(c.batch);
    c.apply();
  };
  const answers: { from: number; to: number; status: number; code?: string }[] = [];
  const pump = (rounds = 1000) => {
    for (let k = 0, moved = true; moved && k < rounds; k++) {
      moved = false;
      for (let i = 0; i < 4; i++) {
        for (const j of cores[i]!.duePeers(0)) {
          const f = cores[i]!.outgoingFrame(j, 0);
          if (!f) continue;
          moved = true;
          const r = cores[j]!.receiveFrame(f.bytes, 1_765_000_000_000);
          write(j, r.commit);
          answers.push({ from: i, to: j, status: r.response.status, code: (r.response.body as { error?: { code: string } }).error?.code });
          const c = cores[i]!.frameAnswered(f, r.response, 0);
          write(i, c);
          // A failed POST waits for its backoff: let it go again at once here.
          if (r.response.status !== 200) (cores[i] as unknown as { links: { retryAt: number }[] }).links[j]!.retryAt = 0;
        }
      }
    }
  };
  const submit = (i: number, text: string) => {
    const r = cores[i]!.submit([{ bytes: utf8ToBytes(text), encrypted: false }], 1_765_000_000_000);
    write(i, r.commit);
    return r.results[0]!;
  };
  return { group, secrets, storages, cores, make, write, pump, submit, answers };
}

describe('HostCore: storage that lost what it had written (issue 13, bug 3)', () => {
  it('empty storage without bootstrap starts nothing, and says why', () => {
    const c = coreCluster({ bootstrap: false });
    const r = c.submit(0, 'hello');
    expect(r).toMatchObject({ ok: false, error: { status: 503, code: 'not-bootstrapped' } });
    expect(c.cores[0]!.mode).toBe('not-bootstrapped');
    expect(c.cores[0]!.duePeers(0)).toEqual([]);
    expect(c.storages[0]!.journal).toEqual([]);
  });

  it('a replica whose storage went back in time is found out by a kernel of peers and stops for good', () => {
    const c = coreCluster();
    for (let k = 0; k < 3; k++) {
      c.submit(k % 4, `before ${k}`);
      c.pump();
    }
    const old = c.storages[0]!.clone();
    for (let k = 0; k < 4; k++) {
      c.submit(1 + (k % 3), `after ${k}`);
      c.pump();
    }
    expect(c.cores.map((x) => x.engine.log.size)).toEqual([7, 7, 7, 7]);
    // Replica 0's storage goes back (a Redis restored from an older snapshot) and it restarts.
    c.storages[0] = old;
    c.cores[0] = c.make(0);
    expect(c.cores[0]!.engine.log.size).toBe(3);
    c.submit(2, 'later');
    c.pump();
    expect(c.cores[0]!.mode).toBe('lost-state');
    expect(Object.keys(c.cores[0]!.metrics().lostStateEvidence).length).toBeGreaterThanOrEqual(2);
    expect(c.answers.some((a) => a.to === 0 && a.code === 'lost-state')).toBe(true);
    // It signs nothing more: no log entry past what storage had, and it refuses clients.
    expect(c.cores[0]!.engine.log.size).toBe(3);
    expect(c.submit(0, 'to the stopped one')).toMatchObject({ ok: false, error: { code: 'lost-state' } });
    // The others go on without it.
    expect(c.cores.slice(1).map((x) => x.engine.log.size)).toEqual([8, 8, 8]);
    // Persisted: a restart does not forget it.
    expect(c.make(0).mode).toBe('lost-state');
  });

  it('one peer claiming we lost state (it holds our link key, so it can) only blocks its own link', () => {
    const c = coreCluster();
    c.submit(0, 'one');
    c.pump();
    const link = linkPeers(c.group, c.secrets[3]!)[0]!;
    // A frame from "replica 3" far ahead of what replica 0 took from it.
    const forged = LinkSender.fromJSON(link.outgoing, { next: 500, peerAck: 499 });
    const { seq, sender } = forged.allocate();
    const r = c.cores[0]!.receiveFrame(sender.seal(seq, encodeTransport([]), 0), 1_765_000_000_000);
    expect(r.response).toMatchObject({ status: 503, body: { error: { code: 'link-gap' } } });
    expect(c.cores[0]!.mode).toBe('active');
    c.submit(1, 'two');
    c.pump();
    expect(c.cores[0]!.engine.log.size).toBe(2);
  });
});

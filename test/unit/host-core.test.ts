/**
 * The host's I/O-free core (shared/replica/host-core.ts) directly: a link never blocks forever on one
 * message. A peer that refuses a frame for what it holds (400 bad-payload, 413) gets the messages one per
 * frame until the refused one is found; that one is dropped and counted, and the rest of the link goes on.
 */
import { describe, expect, it } from 'vitest';
import { utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { HostCore } from '../../shared/replica/host-core.ts';
import { MemoryStorage } from '../../shared/replica/storage.ts';
import { testGroup } from '../helpers/group.ts';

describe('HostCore: links', () => {
  it('a frame the peer refuses for good is split until the refused message is found and dropped', () => {
    const { group, secrets } = testGroup(4);
    const storage = new MemoryStorage();
    const core = new HostCore(group, secrets[0]!, storage.load(), null, { apps: () => [] });
    const write = (c: { batch: Parameters<MemoryStorage['commit']>[0]; apply(): void } | null) => {
      if (!c) return;
      storage.commit(c.batch);
      c.apply();
    };
    // Our proposal for peer 1, then peer 1's proposal arrives and our echo for it queues up too.
    write(core.submit([{ bytes: utf8ToBytes('one'), encrypted: false }]).commit);
    const storage1 = new MemoryStorage();
    const peer1 = new HostCore(group, secrets[1]!, storage1.load(), null, { apps: () => [] });
    const c1 = peer1.submit([{ bytes: utf8ToBytes('two'), encrypted: false }]).commit!;
    storage1.commit(c1.batch);
    c1.apply();
    const r = core.receiveFrame(peer1.outgoingFrame(0, 0)!.bytes);
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
    const reloaded = new HostCore(group, secrets[0]!, storage.load(), null, { apps: () => [] });
    expect(reloaded.outboxSizes()[1]).toBe(waiting - 2);
  });

  it('a refused frame is not a resynchronization: the next frame reuses its sequence number', () => {
    const { group, secrets } = testGroup(4);
    const storage = new MemoryStorage();
    const core = new HostCore(group, secrets[0]!, storage.load(), null, { apps: () => [] });
    const c = core.submit([{ bytes: utf8ToBytes('one'), encrypted: false }]).commit!;
    storage.commit(c.batch);
    c.apply();
    const f1 = core.outgoingFrame(2, 0)!;
    core.frameAnswered(f1, { status: 413, body: { error: { code: 'link-too-large', message: 'x' } } }, 0);
    expect(core.outgoingFrame(2, 0)!.seq).toBe(f1.seq);
  });
});

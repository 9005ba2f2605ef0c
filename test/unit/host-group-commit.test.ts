/**
 * Group commit of client submissions (workers/core/host.ts, submitMany): POSTs that arrive while earlier
 * events run go into one event and one storage write, every caller gets its own answers, a request two
 * callers sent gets one answer for both, and a failed write or load fails all of that group and no more.
 */
import { describe, expect, it } from 'vitest';
import { utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { hostCluster } from '../helpers/host-cluster.ts';

const req = (s: string) => ({ bytes: utf8ToBytes(s), encrypted: false });

describe('group commit of submissions', () => {
  it('60 concurrent POSTs are one storage write; each caller gets its answers; a shared request one answer', async () => {
    const c = hostCluster();
    const host = c.hosts[0]!;
    await host.init();
    const store = c.stores[0]!;
    let writes = 0;
    const commit = store.commit.bind(store);
    store.commit = async (b) => {
      writes++;
      return commit(b);
    };
    const calls = Array.from({ length: 60 }, (_, i) => host.submitMany(i % 10 === 0 ? [req(`group ${i}`), req('shared')] : [req(`group ${i}`)]));
    const answers = await Promise.all(calls);
    expect(writes).toBe(1);
    answers.forEach((a, i) => {
      expect(a).toHaveLength(i % 10 === 0 ? 2 : 1);
      expect(a.every((r) => r.ok && r.status === 'pending')).toBe(true);
    });
    const sharedIds = answers.filter((_, i) => i % 10 === 0).map((a) => (a[1]!.ok ? a[1]!.id : ''));
    expect(new Set(sharedIds).size).toBe(1);
    expect(host.metrics().submitted).toBe(61);
    await c.settle();
    expect(await host.status(sharedIds[0]!)).toMatchObject({ status: 'certified' });
  }, 120_000);

  it('a submission goes ahead of the events queued before it (it waits for at most the one running)', async () => {
    const c = hostCluster();
    const host = c.hosts[0]!;
    await host.init();
    const order: string[] = [];
    // Peer frames (refused ones: an event each all the same).
    const events = Array.from({ length: 5 }, (_, i) => host.receiveFrame(new Uint8Array(100).fill(i)).then(() => order.push(`event ${i}`)));
    const submitted = host.submit(utf8ToBytes('ahead')).then(() => order.push('submit'));
    await Promise.all([...events, submitted]);
    expect(order.indexOf('submit')).toBeLessThan(order.indexOf('event 1'));
  }, 120_000);

  it('a failed write fails that group only; the next group is written', async () => {
    const c = hostCluster();
    const host = c.hosts[0]!;
    await host.init();
    c.stores[0]!.failNext = true;
    const failed = await Promise.allSettled([host.submit(utf8ToBytes('a')), host.submit(utf8ToBytes('b'))]);
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    const ok = await Promise.all([host.submit(utf8ToBytes('a')), host.submit(utf8ToBytes('c'))]);
    expect(ok.every((r) => r.ok)).toBe(true);
    expect(host.metrics().submitted).toBe(2);
  }, 120_000);

  it('storage that cannot be loaded fails every waiting caller instead of leaving them hanging', async () => {
    const c = hostCluster();
    const host = c.hosts[0]!;
    const store = c.stores[0]!;
    const load = store.load.bind(store);
    store.load = async () => {
      throw new Error('storage unavailable (test)');
    };
    const r = await Promise.allSettled([host.submit(utf8ToBytes('x')), host.submit(utf8ToBytes('y')), host.submit(utf8ToBytes('z'))]);
    expect(r.map((x) => x.status)).toEqual(['rejected', 'rejected', 'rejected']);
    store.load = load;
    expect((await host.submit(utf8ToBytes('x'))).ok).toBe(true);
  }, 120_000);
});

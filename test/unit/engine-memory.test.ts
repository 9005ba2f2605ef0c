/**
 * Memory bounds of the replica engine (issue 7): the pending queue is bounded in bytes as well as in count,
 * and the engine refuses submissions ('memory-full', HTTP 503) once its state estimate reaches its memory
 * budget, while it still delivers what the group orders.
 */
import { describe, expect, it } from 'vitest';
import { utf8ToBytes } from '../../shared/crypto/bytes.ts';
import type { Message } from '../../shared/protocols/messages.ts';
import { DEDUP_ENTRY_BYTES, RECENT_ID_BYTES, ReplicaEngine, requestId } from '../../shared/replica/engine.ts';
import type { EngineOptions } from '../../shared/replica/engine.ts';
import { contextFromConfig } from '../../shared/replica/from-config.ts';
import { replicaApp } from '../../workers/core/app.ts';
import { memoryBudgetOption, ReplicaHost } from '../../workers/core/host.ts';
import type { PeerTransport } from '../../workers/core/host.ts';
import { MemoryStore } from '../../workers/core/store.ts';
import { ConfigError } from '../../shared/config/group.ts';
import { testGroup } from '../helpers/group.ts';

const { group, secrets } = testGroup(4);

function net(options: (i: number) => EngineOptions) {
  const engines = secrets.map((s, i) => new ReplicaEngine(contextFromConfig(group, s), options(i)));
  const queue: { from: number; to: number; msg: Message }[] = [];
  const feed = (from: number, step: { outgoing: { to: number; msg: Message }[] }) => {
    for (const o of step.outgoing) queue.push({ from, to: o.to, msg: o.msg });
  };
  const submit = (at: number, request: Uint8Array) => feed(at, engines[at]!.submit(request));
  const run = () => {
    for (let i = 0; queue.length > 0; i++) {
      if (i > 500_000) throw new Error('no quiescence');
      const m = queue.shift()!;
      const s = engines[m.to]!.receive(m.from, m.msg);
      if (s.deferred) queue.push(m);
      else feed(m.to, s);
    }
  };
  return { engines, submit, run };
}

const request = (i: number, bytes = 100) => {
  const r = new Uint8Array(bytes).fill(0x61);
  r.set(utf8ToBytes(`request ${i} `));
  return r;
};

describe('engine memory bounds', () => {
  it('bounds the pending queue in bytes: overloaded at maxPendingBytes, accepting again once ordered', () => {
    const { engines, submit, run } = net(() => ({ ab: { maxPendingBytes: 10_000 } }));
    const e = engines[0]!;
    let accepted = 0;
    for (let i = 0; i < 40; i++) {
      if (e.refusal(request(i, 1000)) !== null) break;
      submit(0, request(i, 1000));
      accepted++;
    }
    // 1,001-byte envelopes: the tenth one crosses 10,000 bytes. The first request started epoch 0 at once
    // (it left nothing for the queue to hold back), so what is queued is the rest.
    expect(accepted).toBeGreaterThanOrEqual(10);
    expect(accepted).toBeLessThanOrEqual(11);
    const refused = e.refusal(request(99, 1000));
    expect(refused).toMatchObject({ code: 'overloaded' });
    expect(refused!.message).toMatch(/requests \(\d+\.\d MiB\) are pending/);
    expect(e.ab.pendingBytes).toBeGreaterThanOrEqual(10_000);
    // Submitting past the bound anyway is ignored, not queued.
    const before = e.ab.pendingCount;
    submit(0, request(100, 1000));
    expect(e.ab.pendingCount).toBe(before);
    run();
    expect(engines.map((x) => x.log.size)).toEqual([accepted, accepted, accepted, accepted]);
    expect(e.ab.pendingBytes).toBe(0);
    expect(e.refusal(request(101, 1000))).toBeNull();
  }, 120_000);

  it('refuses submissions once the state estimate reaches the budget, and still delivers what peers submit', () => {
    // An ordered 100-byte request costs two de-duplication digests (atomic broadcast's, the log's recent ids)
    // and its bytes in the kept batch, while it is in those windows.
    const budget = 20 * (RECENT_ID_BYTES + DEDUP_ENTRY_BYTES);
    const { engines, submit, run } = net((i) => (i === 0 ? { memoryBudgetBytes: budget } : {}));
    const e = engines[0]!;
    expect(e.metrics().memory).toEqual({ estimatedBytes: 0, budgetBytes: budget });
    // Four submissions per epoch: a queued request counts its bytes, not yet a log entry's, so one round
    // may overshoot the budget by at most four entries.
    let i = 0;
    while (e.refusal(request(i)) === null) {
      expect(i).toBeLessThan(100);
      for (let k = 0; k < 4 && e.refusal(request(i)) === null; k++) submit(0, request(i++));
      run();
    }
    const refused = e.refusal(request(i))!;
    expect(refused.code).toBe('memory-full');
    expect(refused.message).toMatch(/about 0\.0 MiB of its 0\.0 MiB memory budget \(\d+ log entries\)/);
    expect(e.retainedBytes()).toBeLessThanOrEqual(budget + 4 * (RECENT_ID_BYTES + DEDUP_ENTRY_BYTES + 105));
    expect(e.log.size).toBeGreaterThanOrEqual(10);
    expect(e.log.size).toBeLessThanOrEqual(24);
    const size = e.log.size;
    // Another replica's submissions are ordered by the group, and this replica delivers them too.
    for (let k = 0; k < 5; k++) submit(1, request(1000 + k));
    run();
    expect(engines.map((x) => x.log.size)).toEqual([size + 5, size + 5, size + 5, size + 5]);
    expect(e.recentIndexOf(requestId(request(1004)))).toBeDefined();
    expect(e.metrics().memory.estimatedBytes).toBe(e.retainedBytes());
    expect(e.metrics().memory.estimatedBytes).toBeGreaterThan(budget);
  }, 120_000);

  it('bounds the de-duplication windows by count; a request ordered again after them takes a new position everywhere', () => {
    const { engines, submit, run } = net(() => ({ ab: { dedupRequests: 5 } }));
    for (let round = 0; round < 3; round++) {
      for (let k = 0; k < 4; k++) submit(round % 4, request(10 * round + k));
      run();
    }
    for (const e of engines) {
      expect(e.log.size).toBe(12);
      // The newest epoch is always kept, older ones go while more than 5 digests are held.
      expect(e.ab.dedupSize).toBeLessThanOrEqual(5 + 4);
      expect(e.ab.dedupSize).toBeGreaterThanOrEqual(4);
    }
    // request(0) left both windows (a host would have found it in storage and not submitted it; a Byzantine
    // proposer may): it is ordered again and every replica appends it at the same new position.
    submit(2, request(0));
    run();
    expect(engines.map((e) => e.log.size)).toEqual([13, 13, 13, 13]);
    expect(new Set(engines.map((e) => e.recentIndexOf(requestId(request(0))))).size).toBe(1);
    expect(engines[0]!.recentIndexOf(requestId(request(0)))).toBe(12);
    // Within the window a repeat is not appended again.
    submit(3, request(0));
    run();
    expect(engines.map((e) => e.log.size)).toEqual([13, 13, 13, 13]);
  }, 120_000);

  it('a host answers a request that left the windows from storage: ordered at its first position, not appended again', async () => {
    const hosts: ReplicaHost[] = [];
    const stores = secrets.map(() => new MemoryStore());
    const transport: PeerTransport = {
      post: async (to, frame) => {
        const r = await hosts[to]!.receiveFrame(frame);
        return { status: r.status, body: JSON.parse(JSON.stringify(r.body)) };
      },
    };
    for (let i = 0; i < 4; i++) hosts.push(new ReplicaHost(group, secrets[i]!, stores[i]!, transport, () => 0, { bootstrap: true, apps: () => [], engine: { ab: { dedupRequests: 2 } } }));
    const settle = async () => {
      for (let round = 0; round < 400 && hosts.some((h) => h.outboxSizes().some((x) => x > 0)); round++) for (const h of hosts) await h.flush();
    };
    for (let k = 0; k < 6; k++) {
      expect(await hosts[k % 4]!.submit(request(k))).toMatchObject({ ok: true, status: 'pending' });
      await settle();
    }
    expect(hosts.map((h) => h.logSize)).toEqual([6, 6, 6, 6]);
    const id = requestId(request(0));
    // request(0) left the windows (2 ids): only storage knows it; without the host's lookup it would be
    // submitted again and appended at a new position.
    expect(await hosts[2]!.submit(request(0))).toEqual({ ok: true, id, status: 'ordered', index: expect.any(Number) });
    const again = await hosts[2]!.submit(request(0));
    expect(again.ok && again.index).toBe(await hosts[2]!.indexOf(id));
    await settle();
    expect(hosts.map((h) => h.logSize)).toEqual([6, 6, 6, 6]);
    expect(await hosts[1]!.status(id)).toMatchObject({ status: 'certified', index: again.ok ? again.index : -1 });
  }, 120_000);

  it('HTTP: 503 memory-full with a JSON body; SINTRA_MEMORY_BUDGET_MB is parsed and checked', async () => {
    const hosts: ReplicaHost[] = [];
    const transport: PeerTransport = {
      post: async (to, frame) => {
        const r = await hosts[to]!.receiveFrame(frame);
        return { status: r.status, body: JSON.parse(JSON.stringify(r.body)) };
      },
    };
    for (let i = 0; i < 4; i++) {
      hosts.push(new ReplicaHost(group, secrets[i]!, new MemoryStore(), transport, () => 0, { bootstrap: true, engine: { memoryBudgetBytes: 3 * (RECENT_ID_BYTES + DEDUP_ENTRY_BYTES) } }));
    }
    const app = replicaApp(hosts[0]!, { now: () => 0, afterChange: () => undefined });
    const post = (text: string) => app.request('/v1/requests', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
    let last: Response | undefined;
    for (let i = 0; i < 10; i++) {
      last = await post(`fill ${i}`);
      if (last.status === 503) break;
      expect(last.status).toBe(202);
      for (let round = 0; round < 200 && hosts.some((h) => h.outboxSizes().some((x) => x > 0)); round++) for (const h of hosts) await h.flush();
    }
    expect(last!.status).toBe(503);
    const body = (await last!.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('memory-full');
    expect(body.error.message).toMatch(/memory budget/);
    // It drains as the group orders: the client is told when to come back.
    expect(last!.headers.get('retry-after')).toBe('1');

    expect(memoryBudgetOption(undefined)).toEqual({});
    expect(memoryBudgetOption('96')).toEqual({ engine: { memoryBudgetBytes: 96 * 2 ** 20 } });
    for (const bad of ['0', '-5', 'lots', '1e9']) expect(() => memoryBudgetOption(bad)).toThrow(ConfigError);
    expect(() => memoryBudgetOption('lots')).toThrow(/SINTRA_MEMORY_BUDGET_MB: expected a number of MiB/);
  }, 120_000);
});

/**
 * State transfer through the runtime adapter (workers/core/host.ts, state-transfer.ts) and the public log
 * routes: a replica cut off while the others order many epochs comes back, sees from its peers' frames that
 * they dropped what it missed, asks a peer for its checkpoint over GET /v1/log/checkpoint, fetches the
 * entries in chunks over GET /v1/log/entries and goes on ordering with the group.
 */
import { describe, expect, it } from 'vitest';
import { toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { hostCluster } from '../helpers/host-cluster.ts';
import { fetchCheckpoint, fetchTransferChunk } from '../../workers/core/state-transfer.ts';

describe('state transfer over HTTP', () => {
  it('a replica away for eight epochs catches up by transfer and orders with the group again', async () => {
    const lines: string[] = [];
    const c = hostCluster({
      host: { transferAfterEpochs: 2, transferStallMs: 1000, probeIntervalMs: 100, engine: { ab: { keepEpochs: 1, serveEpochs: 2 } }, apps: () => [], log: (l) => lines.push(l) },
    });
    await c.hosts[0]!.submit(utf8ToBytes('before'));
    await c.settle();
    c.down.add(3);
    for (let k = 0; k < 8; k++) {
      await c.hosts[k % 3]!.submit(utf8ToBytes(`while away ${k}`));
      await c.settle();
    }
    expect(c.hosts.map((h) => h.logSize)).toEqual([9, 9, 9, 1]);
    expect(c.hosts[0]!.metrics().trimmedMessages).toBeGreaterThan(0);

    c.down.delete(3);
    await c.settle();
    for (let k = 0; k < 20 && c.hosts[3]!.logSize < 9; k++) {
      c.advance(200);
      await c.hosts[3]!.flush();
    }
    expect(c.hosts[3]!.logSize).toBe(9);
    const taken = lines.map((l) => JSON.parse(l) as { event: string; entries?: number }).find((l) => l.event === 'state-transfer');
    expect(taken?.entries).toBe(8);

    await c.hosts[3]!.submit(utf8ToBytes('after, at 3'));
    await c.settle();
    expect(c.hosts.map((h) => h.logSize)).toEqual([10, 10, 10, 10]);
    expect(new Set(c.hosts.map((h) => toHex(h.latestCheckpoint()!.root))).size).toBe(1);
    const receipt = await c.hosts[3]!.receiptAt(9);
    expect(receipt?.checkpoint.size).toBe(10);
  });

  it('GET /v1/log/checkpoint?covering=i: the earliest signed checkpoint past entry i', async () => {
    const c = hostCluster({ host: { apps: () => [] } });
    for (let k = 0; k < 3; k++) {
      await c.hosts[0]!.submit(utf8ToBytes(`r${k}`));
      await c.settle();
    }
    const app = c.app(1);
    const at = async (q: string) => {
      const res = await app.request(`/v1/log/checkpoint${q}`);
      return { status: res.status, body: (await res.json()) as { size?: number; error?: { code: string } } };
    };
    expect((await at('?covering=0')).body.size).toBe(1);
    expect((await at('?covering=1')).body.size).toBe(2);
    expect((await at('')).body.size).toBe(3);
    expect(await at('?covering=3')).toMatchObject({ status: 404, body: { error: { code: 'no-checkpoint' } } });
    expect(await at('?covering=-1')).toMatchObject({ status: 400, body: { error: { code: 'bad-index' } } });
  });
});

describe('fetching a transfer in chunks', () => {
  it('each chunk ends at the earliest signed checkpoint past its limit, and the chunks add up to the log', async () => {
    const c = hostCluster({ host: { apps: () => [] } });
    for (let k = 0; k < 5; k++) {
      await c.hosts[0]!.submit(utf8ToBytes(`r${k}`));
      await c.settle();
    }
    const app = c.app(2);
    const get = async (path: string) => {
      const res = await app.request(path);
      return { status: res.status, body: (await res.json()) as unknown };
    };
    const latest = (await fetchCheckpoint(get))!;
    expect(latest.size).toBe(5);
    const limits = { bytes: 1 << 20, entries: 2, page: 1 };
    const ids: string[] = [];
    const ends: number[] = [];
    for (let start = 0; start < latest.size; ) {
      const { checkpoint, records } = await fetchTransferChunk(get, start, latest, limits);
      expect(records.map((r) => r.index)).toEqual(Array.from({ length: checkpoint.size - start }, (_, k) => start + k));
      ids.push(...records.map((r) => r.id));
      ends.push(checkpoint.size);
      start = checkpoint.size;
    }
    expect(ends).toEqual([2, 4, 5]);
    expect(ids).toEqual((await c.hosts[0]!.entries(0, 5)).map((e) => e.id));
    // A peer that answers junk is an error with a reason, not a crash.
    await expect(fetchTransferChunk(async () => ({ status: 200, body: { entries: [{ index: 7 }] } }), 0, latest, limits)).rejects.toThrow(/entry 0 malformed/);
    await expect(fetchCheckpoint(async () => ({ status: 200, body: { size: 'x' } }))).rejects.toThrow(/checkpoint/);
  });
});

/**
 * The replica Durable Object inside workerd: persistence across an eviction (all objects aborted, then
 * rebuilt from SQLite by journal replay), alarm-driven retransmission to unreachable peers with backoff,
 * and hostile peer input (garbage, wrong receiver, authentic frames with garbage payloads, invalid shares).
 */
import { env, runDurableObjectAlarm, runInDurableObject, abortAllDurableObjects, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { parseGroup, parseReplicaSecrets } from '../../shared/config/group.ts';
import { linkPeers, LinkSender } from '../../shared/link/index.ts';
import { encodeTransport } from '../../shared/replica/transport.ts';
import { encodeMessage } from '../../shared/codec/message-codec.ts';

const e = env as unknown as Record<string, string> & { REPLICA: DurableObjectNamespace };
const stub = () => e.REPLICA.get(e.REPLICA.idFromName('replica'));

async function json(res: Response): Promise<any> {
  return res.json();
}

/** An authentic frame from replica 1 to replica 0 carrying `payload`, with link seq `seq`. */
function frameFromPeer1(payload: Uint8Array, seq: number): Uint8Array {
  const group = parseGroup(JSON.parse(e['SINTRA_GROUP']!));
  const secrets1 = parseReplicaSecrets(JSON.parse(e['TEST_PEER1_SECRETS']!), group);
  const toZero = linkPeers(group, secrets1)[0]!;
  const sender = LinkSender.fromJSON(toZero.outgoing, { next: seq, peerAck: seq - 1 });
  const { seq: s, sender: s2 } = sender.allocate();
  return s2.seal(s, payload, 0);
}

describe('replica Durable Object (workerd, SQLite storage)', () => {
  it('persists a request before answering and rebuilds the same state after eviction', async () => {
    const res = await SELF.fetch('http://replica/v1/requests', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'hello' }) });
    expect(res.status).toBe(202);
    const { id } = await json(res);
    const rows = await runInDurableObject(stub(), async (_obj, state) => ({
      journal: state.storage.sql.exec('SELECT count(*) AS c FROM journal').one()['c'],
      outbox: state.storage.sql.exec('SELECT count(*) AS c FROM outbox').one()['c'],
    }));
    // The clock reading the proposal carries (a 'clock' event), then the request.
    expect(rows.journal).toBe(2);
    // Our CBC SEND of the proposal to each of the 3 peers is in the outbox (the peers are unreachable).
    expect(rows.outbox).toBeGreaterThanOrEqual(3);
    const before = await json(await SELF.fetch('http://replica/v1/metrics'));
    await abortAllDurableObjects();
    const after = await json(await SELF.fetch('http://replica/v1/metrics'));
    expect(after.replayedEvents).toBe(2);
    expect(after.engine).toEqual(before.engine);
    expect(after.outbox).toEqual(before.outbox);
    expect(await json(await SELF.fetch(`http://replica/v1/requests/${id}`))).toMatchObject({ status: 'pending' });
  });

  it('retries unreachable peers from alarms, with growing delays', async () => {
    await SELF.fetch('http://replica/v1/requests', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'retry me' }) });
    const alarm1 = await runInDurableObject(stub(), (_o, state) => state.storage.getAlarm());
    expect(alarm1).not.toBeNull();
    // The alarm is due within the retry delay (100 ms): on a loaded machine it may already have run by
    // itself (then this returns false); either way one send failed before the metrics are read.
    await runDurableObjectAlarm(stub());
    const m1 = await json(await SELF.fetch('http://replica/v1/metrics'));
    const failures1 = m1.links[1].failures;
    expect(failures1).toBeGreaterThanOrEqual(1);
    expect(m1.links[1].lastError).toBeTruthy();
    // Re-armed for the retry after a backoff delay; once it has passed, the alarm tries again and the
    // delay grows.
    const alarm2 = await runInDurableObject(stub(), (_o, state) => state.storage.getAlarm());
    expect(alarm2).not.toBeNull();
    await new Promise((r) => setTimeout(r, Math.max(0, alarm2! - Date.now()) + 50));
    await runDurableObjectAlarm(stub());
    const m2 = await json(await SELF.fetch('http://replica/v1/metrics'));
    expect(m2.links[1].failures).toBeGreaterThan(failures1);
    const alarm3 = await runInDurableObject(stub(), (_o, state) => state.storage.getAlarm());
    expect(alarm3! - Date.now()).toBeGreaterThan(0);
    expect(alarm3!).toBeGreaterThan(alarm2!);
    // Nothing was lost while the peers were down.
    expect(m1.outbox[1]).toBeGreaterThan(0);
  });

  it('refuses hostile peer frames with stable codes and records faults for authentic bad messages', async () => {
    const before = await json(await SELF.fetch('http://replica/v1/metrics'));
    const post = (body: Uint8Array) => SELF.fetch('http://replica/v1/peer', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body });
    const garbage = await post(new Uint8Array(500).fill(7));
    expect(garbage.status).toBe(400);
    expect((await json(garbage)).error.code).toMatch(/^link-/);
    // Authentic frame, garbage payload: refused whole, no state change.
    const badPayload = await post(frameFromPeer1(new Uint8Array([0, 0, 0, 5, 1, 2]), 1));
    expect(badPayload.status).toBe(400);
    expect((await json(badPayload)).error.code).toBe('bad-payload');
    // A frame that skips a seq (2, while seq 1 was refused and never taken): an honest sender never does
    // that, it only happens to a receiver that lost what it took. Not taken, and said so.
    const msg = encodeMessage({ tag: 'ab/0/aba/1', body: { t: 'aba-coin', round: 0, share: new Uint8Array(48).fill(1) } });
    const gap = await post(frameFromPeer1(encodeTransport([{ id: 1, bytes: msg }]), 2));
    expect(gap.status).toBe(503);
    expect((await json(gap)).error.code).toBe('link-gap');
    // Authentic frame, seq 1 again, with a decodable message carrying an invalid coin share: accepted, fault recorded.
    const ok = await post(frameFromPeer1(encodeTransport([{ id: 1, bytes: msg }]), 1));
    expect(ok.status).toBe(200);
    expect(await json(ok)).toEqual({ accepted: [1], deferred: [] });
    // The same frame again is a replay: refused, with our contiguous ack for the sender to resynchronize.
    const replay = await post(frameFromPeer1(encodeTransport([{ id: 1, bytes: msg }]), 1));
    expect(replay.status).toBe(409);
    expect(await json(replay)).toMatchObject({ error: { code: 'link-replay' }, ack: 1 });
    const after = await json(await SELF.fetch('http://replica/v1/metrics'));
    expect(after.engine.logSize).toBe(before.engine.logSize);
  });
  // Last: its submissions start flushes and alarms that the tests above do not expect.
  it('charges writes to cf-connecting-ip (or an API key), not to a header the client picks', async () => {
    const post = (i: number, headers: Record<string, string>) =>
      SELF.fetch('http://replica/v1/requests', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ text: `admission ${i}` }) });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await post(i, { 'cf-connecting-ip': '198.51.100.9', 'x-sintra-client': `rotating-${i}` })).status);
    expect(statuses).toEqual([202, 202, 202, 202, 429]);
    expect((await post(5, { 'cf-connecting-ip': '198.51.100.10' })).status).toBe(202);
    expect((await post(6, { 'cf-connecting-ip': '198.51.100.9', authorization: 'Bearer do-test-key' })).status).toBe(202);
    expect((await post(7, { 'cf-connecting-ip': '198.51.100.9', authorization: 'Bearer do-test-key' })).status).toBe(429);
    const bad = await post(8, { 'cf-connecting-ip': '198.51.100.11', authorization: 'Bearer wrong' });
    expect(bad.status).toBe(401);
    expect((await json(bad)).error.code).toBe('bad-api-key');
  });
});

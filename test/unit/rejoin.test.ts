/**
 * Rejoin after lost state, the parts (shared/replica/rejoin.ts; host-core.ts takeRejoinReport): the report
 * format and its MAC, the passive bound, and which reports a rejoining replica counts. The whole path runs
 * in test/integration/rejoin-http.test.ts and in the whole-replica simulator.
 */
import { describe, expect, it } from 'vitest';
import { fromHex, toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { linkPeers } from '../../shared/link/keys.ts';
import { HostCore, STORAGE_FORMAT } from '../../shared/replica/host-core.ts';
import type { PendingCommit } from '../../shared/replica/host-core.ts';
import { makeRejoinReport, parseRejoinReport, passiveBound, REJOIN_REPORT_INFO, rejoinReportAuthentic, rejoinReportMacInput, REPORT_CHECKPOINT_LAG } from '../../shared/replica/rejoin.ts';
import { MemoryStorage } from '../../shared/replica/storage.ts';
import { emptyBatch } from '../../shared/replica/storage.ts';
import { testGroup } from '../helpers/group.ts';

const NONCE = fromHex('000102030405060708090a0b0c0d0e0f');

function lostCore(i: number) {
  const { group, secrets } = testGroup(4);
  const storage = new MemoryStorage();
  const b = emptyBatch();
  b.meta.set('format', STORAGE_FORMAT);
  b.meta.set('lost-state', JSON.stringify([[0, 'test'], [1, 'test']]));
  storage.commit(b);
  return { group, secrets, storage, core: new HostCore(group, secrets[i]!, storage.load(), { bootstrap: true }) };
}

describe('rejoin reports', () => {
  it('MAC input is the framed domain, indices, nonce and epoch; the MAC binds each', () => {
    const { group, secrets } = testGroup(4);
    const input = rejoinReportMacInput(1, 3, NONCE, 258);
    // frame = u32 length + bytes per part
    expect(toHex(input.subarray(0, 4))).toBe('0000001c');
    expect(new TextDecoder().decode(input.subarray(4, 4 + REJOIN_REPORT_INFO.length))).toBe(REJOIN_REPORT_INFO);
    expect(toHex(input.subarray(input.length - 8))).toBe('0000000000000102');
    const from1 = linkPeers(group, secrets[1]!)[3]!.outgoing;
    const at3 = linkPeers(group, secrets[3]!)[1]!.incoming;
    const at3from2 = linkPeers(group, secrets[3]!)[2]!.incoming;
    const r = parseRejoinReport(makeRejoinReport(from1, NONCE, 258, null));
    if (typeof r === 'string') throw new Error(r);
    expect(rejoinReportAuthentic(at3, r)).toBe(true);
    expect(rejoinReportAuthentic(at3from2, r)).toBe(false);
    expect(rejoinReportAuthentic(at3, { ...r, epoch: 259 })).toBe(false);
    expect(rejoinReportAuthentic(at3, { ...r, nonce: NONCE.map((x) => x ^ 1) })).toBe(false);
  });

  it('parse refuses malformed reports with a reason', () => {
    expect(parseRejoinReport(null)).toBe('expected an object');
    expect(parseRejoinReport({ replica: 1, to: 3, epoch: -1, nonce: '00', mac: '00', checkpoint: null })).toMatch(/non-negative/);
    expect(parseRejoinReport({ replica: 1, to: 3, epoch: 1, nonce: '00', mac: '00'.repeat(32), checkpoint: null })).toMatch(/16 bytes/);
    expect(parseRejoinReport({ replica: 1, to: 3, epoch: 1, nonce: toHex(NONCE), mac: '00'.repeat(32), checkpoint: { size: 1, signature: '00' } })).toMatch(/root/);
  });

  it('passive bound: the largest reported epoch plus twice the window plus one', () => {
    expect(passiveBound([3, 9, 4], 8)).toBe(26);
    expect(passiveBound([0], 2)).toBe(5);
  });
});

describe('a rejoining replica counts reports', () => {
  it('only with its nonce, the reporter\'s MAC and a checkpoint that does not lag; a quorum fixes the bound', () => {
    const { group, secrets, storage, core } = lostCore(3);
    expect(core.mode).toBe('lost-state');
    expect(core.takeRejoinReport(0, {}).ok).toBe(false);
    const nonce = core.rejoinNonceFor(NONCE);
    expect(core.rejoinNonceFor(new Uint8Array(16))).toEqual(NONCE);
    const link = (j: number) => linkPeers(group, secrets[j]!)[3]!.outgoing;
    const refused = (j: number, body: unknown) => {
      const r = core.takeRejoinReport(j, body);
      expect(r.ok).toBe(false);
      return (r as { reason: string }).reason;
    };
    expect(refused(0, makeRejoinReport(link(0), nonce.map((x) => x ^ 1), 2, null))).toMatch(/nonce/);
    // Replica 1's report handed in as replica 0's.
    expect(refused(0, makeRejoinReport(link(1), nonce, 2, null))).toMatch(/MAC/);
    // An epoch far past the latest signed checkpoint shown (none here): asked again later.
    expect(refused(0, makeRejoinReport(link(0), nonce, REPORT_CHECKPOINT_LAG + 5, null))).toMatch(/asked again later/);
    const one = core.takeRejoinReport(0, makeRejoinReport(link(0), nonce, 3, null));
    expect(one).toEqual({ ok: true, commit: null });
    expect(core.passiveUntil).toBeNull();
    // Replicas 0 and 1 and itself are a quorum (n = 4): the bound is fixed and written.
    const two = core.takeRejoinReport(1, makeRejoinReport(link(1), nonce, 5, null));
    if (!two.ok || !two.commit) throw new Error('expected a commit');
    storage.commit((two.commit as PendingCommit).batch);
    two.commit.apply();
    expect(core.passiveUntil).toBe(5 + 2 * 8 + 1);
    expect(core.metrics().rejoin).toEqual({ reports: { 0: 3, 1: 5 }, passiveUntil: 22 });
    // Kept across a restart; the answers say how long it stays passive.
    const again = new HostCore(group, secrets[3]!, storage.load(), { bootstrap: true });
    expect(again.passiveUntil).toBe(22);
    const r = again.submit([{ bytes: utf8ToBytes('x'), encrypted: false }], 1_765_000_000_000).results[0]!;
    expect(r.ok ? null : r.error.message).toMatch(/passive until the group signs a checkpoint of epoch 22/);
  });

  it('an active replica reports; a lost one does not', () => {
    const { group, secrets } = testGroup(4);
    const active = new HostCore(group, secrets[0]!, new MemoryStorage().load(), { bootstrap: true });
    const r = active.rejoinReportFor(3, NONCE);
    expect(r.ok).toBe(true);
    expect(active.rejoinReportFor(0, NONCE).ok).toBe(false);
    expect(active.rejoinReportFor(3, new Uint8Array(3)).ok).toBe(false);
    const { core } = lostCore(1);
    const lost = core.rejoinReportFor(3, NONCE);
    expect(lost.ok ? 0 : lost.error.code).toBe('lost-state');
  });
});

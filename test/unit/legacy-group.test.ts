/**
 * Groups dealt before echo keys existed (no keys.echo in group.json) keep consistent-broadcast proofs of
 * the quorum key's threshold BLS signatures for life (shared/protocols/crypto-suite.ts, docs/formats.md 4c):
 * whole replica hosts of such a group order, certify and hand out receipts that verify, as before, and
 * their echoes are BLS shares, not Ed25519 signatures.
 */
import { describe, expect, it } from 'vitest';
import { utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { sha256 } from '../../shared/crypto/sha256.ts';
import { verifyReceipt } from '../../shared/log/checkpoint.ts';
import { contextFromConfig } from '../../shared/replica/from-config.ts';
import { testGroup } from '../helpers/group.ts';
import { hostCluster } from '../helpers/host-cluster.ts';

describe('a group without echo keys', () => {
  it('orders and certifies with threshold BLS proofs; receipts verify', async () => {
    const legacy = testGroup(4, 1, 'legacy-group', false);
    expect(legacy.group.echo).toBeUndefined();
    const digest = sha256(utf8ToBytes('batch'));
    // Its echo is a BLS share; a group with echo keys signs with Ed25519 (64 bytes).
    expect(contextFromConfig(legacy.group, legacy.secrets[0]!).crypto.quorum.sign('cbc', 'ab/0/cbc/0', digest).length).not.toBe(64);
    const current = testGroup(4, 1, 'legacy-group', true);
    expect(contextFromConfig(current.group, current.secrets[0]!).crypto.quorum.sign('cbc', 'ab/0/cbc/0', digest).length).toBe(64);

    const c = hostCluster({ group: legacy });
    const r = await c.hosts[1]!.submitMany(Array.from({ length: 10 }, (_, i) => ({ bytes: utf8ToBytes(`legacy ${i}`), encrypted: false })));
    expect(r.every((x) => x.ok)).toBe(true);
    await c.settle();
    for (const x of r) {
      if (!x.ok) continue;
      expect(await c.hosts[2]!.status(x.id)).toMatchObject({ status: 'certified' });
      const receipt = await c.hosts[3]!.receipt(x.id);
      expect(receipt).not.toBeNull();
      expect(verifyReceipt(legacy.group.kernel.groupKey, legacy.group.groupId, receipt!)).toEqual({ ok: true });
    }
  }, 120_000);
});

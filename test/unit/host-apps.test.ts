/**
 * Applications through ReplicaHost (workers/core/host.ts): the notary's state (in storage) survives a restart
 * (journal replay) and a restart from a snapshot (compaction), so a restarted replica answers exactly as before, and
 * the default application list is the same on every replica (their checkpoints combine).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { NotaryApp, encodeStampEntry } from '../../shared/app/notary.ts';
import { toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import type { ReplicaHost } from '../../workers/core/host.ts';
import { hostCluster } from '../helpers/host-cluster.ts';

function cluster(n: number, compactAfter?: number) {
  const c = hostCluster({ n, ...(compactAfter ? { compactAfter } : {}) });
  return { hosts: c.hosts, settle: c.settle, restart: c.restart };
}

const digestOf = (s: string) => toHex(sha256(utf8ToBytes(s)));

const lookup = (h: ReplicaHost, digest: string) => h.readApp('notary', (state, app) => (app as NotaryApp).lookup(state, digest) ?? null);

async function answers(h: ReplicaHost, digests: string[]) {
  await h.init();
  const regs = await Promise.all(digests.map((d) => lookup(h, d)));
  return { state: toHex((await h.readApp('notary', (state, app) => app.digest(state)))!), regs, cp: toHex(h.latestCheckpoint()!.stateDigest) };
}

describe('ReplicaHost with the standard applications', () => {
  for (const compactAfter of [undefined, 5]) {
    it(`a restarted replica answers the same (${compactAfter ? 'from a snapshot' : 'journal replay'})`, async () => {
      const c = cluster(4, compactAfter);
      const docs = ['a', 'b', 'c', 'a'].map(digestOf);
      for (let i = 0; i < docs.length; i++) {
        expect((await c.hosts[i % 4]!.submit(encodeStampEntry({ digest: docs[i]!, ...(i === 3 ? { nonce: '07' } : {}) }))).ok).toBe(true);
        await c.settle();
      }
      await c.hosts[0]!.submit(utf8ToBytes('plain'));
      await c.settle();
      const before = await Promise.all(c.hosts.map((h) => answers(h, docs)));
      expect(new Set(before.map((b) => b.state)).size).toBe(1);
      expect(before[0]!.regs[3]).toEqual(before[0]!.regs[0]);
      expect(before[0]!.regs.every((r) => r !== null)).toBe(true);
      if (compactAfter) expect(c.hosts.every((h) => h.metrics().compactions > 0)).toBe(true);
      for (let i = 0; i < 4; i++) c.restart(i);
      const after = await Promise.all(c.hosts.map((h) => answers(h, docs)));
      expect(after).toEqual(before);
      // and the restarted group keeps certifying: a new stamp after the restart
      await c.hosts[2]!.submit(encodeStampEntry({ digest: digestOf('d') }));
      await c.settle();
      for (const h of c.hosts) expect(await lookup(h, digestOf('d'))).not.toBeNull();
      const r = await c.hosts[1]!.receiptAt((await lookup(c.hosts[1]!, digestOf('d')))!.index);
      expect(r).not.toBeNull();
    }, 120_000);
  }
});

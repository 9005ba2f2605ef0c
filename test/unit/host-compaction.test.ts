/**
 * The host's compaction is amortized (workers/core/host.ts maybeCompact): after the first snapshot, the next
 * one is written only once the journal since the last one is at least half that snapshot's size, so
 * snapshot writes cost at most about twice the journal's bytes however large the state grows. A restart
 * from the latest snapshot plus journal still reaches the same state.
 */
import { describe, expect, it } from 'vitest';
import { utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { requestId } from '../../shared/replica/engine.ts';
import type { WriteBatch } from '../../workers/core/store.ts';
import { ReplicaHost } from '../../workers/core/host.ts';
import type { PeerTransport } from '../../workers/core/host.ts';
import { MemoryStore } from '../../workers/core/store.ts';
import { testGroup } from '../helpers/group.ts';

const { group, secrets } = testGroup(4);

/** Records, for every snapshot written, its size and the journal bytes written since the previous one. */
class RecordingStore extends MemoryStore {
  readonly snapshots: { bytes: number; journalSince: number }[] = [];
  private since = 0;
  override async commit(b: WriteBatch): Promise<void> {
    await super.commit(b);
    if (b.snapshot) {
      this.snapshots.push({ bytes: b.snapshot.length, journalSince: this.since });
      this.since = 0;
    }
    for (const j of b.journal) this.since += j.length;
  }
}

describe('host compaction', () => {
  it('writes a snapshot only once the journal since the last one is half its size; restarts still agree', async () => {
    const stores = secrets.map(() => new RecordingStore());
    let clock = 0;
    const hosts: ReplicaHost[] = [];
    const transport: PeerTransport = {
      post: async (to, frame) => {
        const r = await hosts[to]!.receiveFrame(frame);
        return { status: r.status, body: JSON.parse(JSON.stringify(r.body)) };
      },
    };
    for (let i = 0; i < 4; i++) hosts.push(new ReplicaHost(group, secrets[i]!, stores[i]!, transport, () => clock, { bootstrap: true, compactAfter: 5, retryMinMs: 10 }));
    const settle = async () => {
      for (let round = 0; round < 2000 && hosts.some((h) => h.outboxSizes().some((x) => x > 0)); round++) {
        for (const h of hosts) await h.flush();
        clock += 50;
      }
    };
    // Requests of 2 KB make the snapshot (pending queue, kept batches) grow faster than one epoch's journal.
    const texts = Array.from({ length: 24 }, (_, i) => `${i} `.padEnd(2000, 'x'));
    for (let k = 0; k < texts.length; k += 3) {
      for (let i = 0; i < 3; i++) await hosts[(k + i) % 4]!.submit(utf8ToBytes(texts[k + i]!));
      await settle();
    }
    for (const s of stores) {
      expect(s.snapshots.length).toBeGreaterThan(0);
      for (let k = 1; k < s.snapshots.length; k++) expect(s.snapshots[k]!.journalSince).toBeGreaterThanOrEqual(s.snapshots[k - 1]!.bytes / 2);
    }
    // More events than compactAfter went by without a snapshot somewhere: amortization held one back.
    expect(hosts.some((h) => h.metrics().journalEvents >= 5)).toBe(true);
    // A host rebuilt from its store (snapshot + journal) has the same log.
    const again = new ReplicaHost(group, secrets[0]!, stores[0]!, transport, () => clock, { bootstrap: true, compactAfter: 5 });
    await again.init();
    expect(again.logSize).toBe(texts.length);
    for (const t of texts) expect((await again.status(requestId(utf8ToBytes(t))))?.status).toBe('certified');
  }, 120_000);
});

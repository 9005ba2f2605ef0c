/**
 * SqlStore inside workerd against real Durable Object SQLite: values over the 2 MB limit (a snapshot, a
 * journal event, an outbox message) are spilled in parts and read back exactly; replacing the snapshot
 * or acknowledging the message drops the parts; the commit stays one transaction.
 */
import { env, runInDurableObject } from 'cloudflare:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { toHex } from '../../shared/crypto/bytes.ts';
import { emptyBatch } from '../../workers/core/store.ts';
import { SPILL_THRESHOLD, SqlStore } from '../../workers/cloudflare/sql-store.ts';

const e = env as unknown as { REPLICA: DurableObjectNamespace };

/** Compared by digest: toEqual on megabyte arrays takes seconds inside workerd. */
const d = (b: Uint8Array | null | undefined) => (b ? `${b.length}:${toHex(sha256(b))}` : String(b));
const ds = (bs: readonly Uint8Array[]) => bs.map(d);

function big(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 4096) b[i] = (i / 4096 + seed) & 0xff;
  b[0] = seed; // a real value's first byte (never the 0xFF reference mark)
  return b;
}

describe('SqlStore (workerd SQLite): values over the 2 MB limit', () => {
  it('spills big snapshots, journal events and outbox messages and reads them back exactly', async () => {
    await runInDurableObject(e.REPLICA.get(e.REPLICA.idFromName('sql-store-spill')), async (_obj, state) => {
      // A fresh table set in this object's storage (the replica's own tables are not touched by this test).
      const store = new SqlStore(state.storage);
      const snapshot = big(5 * 1024 * 1024 + 7, 0x7b);
      const event = big(3 * 1024 * 1024, 2);
      const message = big(2 * 1024 * 1024 + 1, 1);
      const small = big(100, 1);
      const b1 = emptyBatch();
      b1.journal.push(event, small);
      b1.outbox.push({ peer: 1, id: 1, bytes: message }, { peer: 1, id: 2, bytes: small });
      await store.commit(b1);
      let loaded = await store.load();
      expect(ds(loaded.journal)).toEqual(ds([event, small]));
      expect(ds(loaded.outbox.map((m) => m.bytes))).toEqual(ds([message, small]));
      const parts = () => Number(state.storage.sql.exec('SELECT count(*) AS c FROM spill').one()['c']);
      expect(parts()).toBe(3 + 3); // 3 MB and 2 MB + 1 byte, in 1 MB parts
      // A snapshot commit replaces the journal: its spilled parts go too.
      await store.commit({ ...emptyBatch(), snapshot });
      loaded = await store.load();
      expect(d(loaded.snapshot)).toBe(d(snapshot));
      expect(loaded.journal).toEqual([]);
      expect(parts()).toBe(3 + 6);
      // Acknowledged messages drop their parts; a new snapshot drops the old one's.
      await store.commit({ ...emptyBatch(), outboxDelete: [{ peer: 1, ids: [1, 2] }] });
      expect(parts()).toBe(6);
      const next = big(SPILL_THRESHOLD + 1, 0x7b);
      await store.commit({ ...emptyBatch(), snapshot: next });
      expect(d((await store.load()).snapshot)).toBe(d(next));
      expect(parts()).toBe(2);
    });
  });
});

/**
 * The beacon's round stores (workers/core/beacon-store.ts) against one contract: memory (the reference),
 * SQLite (the `beacon` table of a Node data folder, SqliteStore.beacons()) and Redis (the hash beside the
 * replica's keys, RedisStore.beacons(), through the real @upstash/redis client, the Upstash REST bridge
 * and a real redis-server). Empty at first; a stored round reads back byte for byte, as a copy; storing it
 * again changes nothing; `latest` is the highest round as a number (10 after 9, not as text); rounds are
 * kept across a reopen; two replicas' rounds stay apart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryBeaconStore } from '../../workers/core/beacon-store.ts';
import type { BeaconStore } from '../../workers/core/beacon-store.ts';
import { SqliteStore } from '../../workers/node/sqlite-store.ts';
import { RedisStore, redisClient } from '../../workers/node/redis-store.ts';
import { HAVE_REDIS } from '../helpers/redis.ts';
import { useRedisBehindBridge } from '../helpers/redis-bridge.ts';

/** A 48-byte signature with every byte depending on round and position. */
const sig = (round: number) => Uint8Array.from({ length: 48 }, (_, i) => (round * 31 + i * 7) & 0xff);

interface Backend {
  /** A fresh, empty store for a replica (`name` keeps two replicas apart). */
  make(name: string): Promise<BeaconStore>;
  /** The same replica's store after its process restarted. */
  reopen(name: string): Promise<BeaconStore>;
}

function contract(label: string, backend: () => Backend): void {
  describe(`${label}: BeaconStore contract`, () => {
    it('empty at first; a stored round reads back exactly, as a copy; storing it again changes nothing', async () => {
      const s = await backend().make('a');
      expect(await s.get(1)).toBeNull();
      expect(await s.latest()).toBeNull();
      const given = sig(1);
      await s.put(1, given);
      given.fill(0); // the caller's buffer is not the stored value
      const got = await s.get(1);
      expect(got).toEqual(sig(1));
      got!.fill(0); // nor is what a read returns
      expect(await s.get(1)).toEqual(sig(1));
      await s.put(1, sig(1));
      expect(await s.get(1)).toEqual(sig(1));
      expect(await s.get(2)).toBeNull();
      expect(await s.latest()).toBe(1);
    });

    it('latest is the highest round as a number; rounds are kept across a reopen; replicas apart', async () => {
      const b = backend();
      const s = await b.make('b');
      for (const r of [9, 2, 10, 123_456_789]) await s.put(r, sig(r));
      expect(await s.latest()).toBe(123_456_789);
      const again = await b.reopen('b');
      for (const r of [9, 2, 10, 123_456_789]) expect(await again.get(r)).toEqual(sig(r));
      expect(await again.latest()).toBe(123_456_789);
      const other = await b.make('c');
      expect(await other.latest()).toBeNull();
      expect(await other.get(9)).toBeNull();
    });
  });
}

contract('memory', () => {
  const stores = new Map<string, MemoryBeaconStore>();
  return {
    make: async (name) => {
      const s = new MemoryBeaconStore();
      stores.set(name, s);
      return s;
    },
    reopen: async (name) => stores.get(name)!,
  };
});

describe('SQLite (a Node data folder)', () => {
  const dirs: string[] = [];
  const open: SqliteStore[] = [];
  afterAll(async () => {
    for (const s of open) await s.close().catch(() => undefined);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  contract('SqliteStore.beacons()', () => {
    const folders = new Map<string, { dir: string; store: SqliteStore }>();
    const openIn = async (dir: string) => {
      const store = await SqliteStore.open(dir);
      open.push(store);
      return store;
    };
    return {
      make: async (name) => {
        const dir = mkdtempSync(join(tmpdir(), `sintra-beacon-${name}-`));
        dirs.push(dir);
        const store = await openIn(dir);
        folders.set(name, { dir, store });
        return store.beacons();
      },
      reopen: async (name) => {
        const f = folders.get(name)!;
        await f.store.close(); // the folder lock goes with the process
        f.store = await openIn(f.dir);
        return f.store.beacons();
      },
    };
  });
});

describe.skipIf(!HAVE_REDIS)('Redis (real redis-server behind the Upstash REST bridge)', () => {
  const servers = useRedisBehindBridge();
  const run = `${process.pid}-${Date.now()}`;
  const store = (name: string) => new RedisStore(redisClient({ url: servers.bridge.url, token: servers.bridge.token, timeoutMs: 3000 }), `test:{beacon-${run}-${name}}`).beacons();
  contract('RedisStore.beacons()', () => ({
    make: async (name) => store(name),
    reopen: async (name) => store(name),
  }));
});

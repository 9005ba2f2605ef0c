/**
 * Where a replica keeps the beacon rounds it has combined and verified (docs/beacon.md, "Production"):
 * round -> the 48-byte group signature (the randomness is its SHA-256). Apart from the engine's storage
 * (store.ts) on purpose: a round is a verified, unique value that any replica can recompute from a
 * qualified set of its peers' shares at any time, so it needs no place in the engine's atomic commits, its
 * journal or its conflict counter, and the engine's storage format stays as it was.
 *
 * Backends: memory (tests, and a Node replica whose store has no beacon table), SQLite (a table `beacon`
 * beside the engine's tables, for the Durable Object and the Node data folder), Redis (a hash beside the
 * replica's keys, workers/node/redis-store.ts).
 */
import type { SqlBackend } from './sql-store.ts';

export interface BeaconStore {
  /** The stored signature of `round`, or null. */
  get(round: number): Promise<Uint8Array | null>;
  /** Stores a verified round (idempotent: a round has one signature). */
  put(round: number, signature: Uint8Array): Promise<void>;
  /** The newest stored round, or null. */
  latest(): Promise<number | null>;
}

export class MemoryBeaconStore implements BeaconStore {
  readonly rounds = new Map<number, Uint8Array>();

  async get(round: number): Promise<Uint8Array | null> {
    // A copy, as the other stores give: a caller that changes what it read must not change the round.
    return this.rounds.get(round)?.slice() ?? null;
  }

  async put(round: number, signature: Uint8Array): Promise<void> {
    this.rounds.set(round, signature.slice());
  }

  async latest(): Promise<number | null> {
    let best: number | null = null;
    for (const r of this.rounds.keys()) if (best === null || r > best) best = r;
    return best;
  }
}

const BEACON_SCHEMA = 'CREATE TABLE IF NOT EXISTS beacon (round INTEGER PRIMARY KEY, signature BLOB NOT NULL)';

function blobBytes(v: unknown): Uint8Array {
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (v instanceof Uint8Array) return v;
  throw new TypeError('beacon: expected a BLOB column');
}

/** The `beacon` table in the replica's SQLite database (the Durable Object's, or a Node data folder's). */
export class SqlBeaconStore implements BeaconStore {
  private readonly sql: SqlBackend['sql'];

  constructor(storage: SqlBackend) {
    this.sql = storage.sql;
    this.sql.exec(BEACON_SCHEMA);
  }

  async get(round: number): Promise<Uint8Array | null> {
    const r = this.sql.exec('SELECT signature FROM beacon WHERE round = ?', round).toArray()[0];
    return r ? blobBytes(r['signature']).slice() : null;
  }

  async put(round: number, signature: Uint8Array): Promise<void> {
    const copy = signature.slice();
    this.sql.exec('INSERT OR REPLACE INTO beacon (round, signature) VALUES (?, ?)', round, copy.buffer as ArrayBuffer);
  }

  async latest(): Promise<number | null> {
    const r = this.sql.exec('SELECT MAX(round) AS r FROM beacon').toArray()[0];
    const v = r?.['r'];
    return typeof v === 'number' ? v : null;
  }
}

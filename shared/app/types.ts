/**
 * Replicated applications (docs/design.md section 11; Cachin, "Distributing trust on the Internet", DSN 2001,
 * section 5): deterministic state machines fed by the delivered total order. The replica executes every
 * newly appended log entry in log order (shared/replica/execution.ts); an application's answer is a
 * function of its state and the entry only (no clock, no randomness: what a request needs of either must
 * be in the request or handed in by the protocol), so every honest replica computes the same answers and
 * the same state digest, and the digest goes into the group-signed checkpoint of the epoch.
 *
 * An application holds no state of its own: its state is a key-value map in the replica's storage
 * (AppState), read and written through a view that the executor gives it. So a replica's memory holds the
 * entries being executed, not the applications' history, and loading a replica re-applies nothing.
 */

/** Where an entry sits in the total order (its logical time). */
export interface AppPosition {
  /** Log index of the entry. */
  readonly index: number;
  /** Atomic-broadcast epoch that delivered it. */
  readonly epoch: number;
  /**
   * The epoch's agreed time, ms since 1970-01-01T00:00:00Z (shared/protocols/agreed-time.ts): between two
   * honest replicas' clock readings, never going back. The only wall-clock time an application may use.
   */
  readonly time: number;
}

/**
 * One application's state: byte values under string keys (printable ASCII, at most 200 characters; keys
 * starting with '~' are the replica's own, e.g. kept responses). Reads that the executor has not loaded
 * from storage yet throw AppStateMissing: the executor loads the key and runs the entry again, so an
 * application must let that exception through (never catch it as a bad request).
 */
export interface AppState {
  /** The value under `key`, or undefined when the key has none. */
  get(key: string): Uint8Array | undefined;
  put(key: string, value: Uint8Array): void;
  delete(key: string): void;
}

/** A read of a key that is not loaded yet (see AppState): load it, then run the operation again. */
export class AppStateMissing extends Error {
  override readonly name = 'AppStateMissing';
  constructor(readonly key: string) {
    super(`application state key ${key} is not loaded`);
  }
}

export interface ReplicatedApp {
  /** Short stable name ('notary', 'ca'): part of every digest and statement. */
  readonly name: string;
  /**
   * Keys applying `entry` will read, as far as the entry alone tells (loaded from storage in one read
   * before the entry runs). Optional and only a hint: keys it misses are loaded when read.
   */
  reads?(entry: Uint8Array): readonly string[];
  /**
   * Applies one delivered log entry to `state`. Returns the response bytes (canonical JSON, UTF-8), or null
   * when the entry is not for this application (it stays in the log, and the state is unchanged). Must not
   * throw for any input: a malformed request gets an error response, deterministically. (AppStateMissing
   * is not an answer: it passes through, and the entry runs again once the key is loaded; its writes of
   * the failed run are dropped.)
   */
  apply(entry: Uint8Array, at: AppPosition, state: AppState): Uint8Array | null;
  /** After the last entry of each executed epoch, entries or not (e.g. to keep per-epoch versions). */
  endEpoch?(epoch: number, state: AppState): void;
  /** 32 bytes committing to the whole application state (bound into each signed checkpoint). */
  digest(state: AppState): Uint8Array;
}

/** An AppState held in a Map (tests, tools, and the reference for what storage keeps). */
export class MapAppState implements AppState {
  constructor(readonly map: Map<string, Uint8Array> = new Map()) {}
  get(key: string): Uint8Array | undefined {
    return this.map.get(key);
  }
  put(key: string, value: Uint8Array): void {
    this.map.set(key, value);
  }
  delete(key: string): void {
    this.map.delete(key);
  }
}

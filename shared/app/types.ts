/**
 * Replicated applications (docs/design.md section 11; Cachin, "Distributing trust on the Internet", DSN 2001,
 * section 5): deterministic state machines fed by the delivered total order. The replica engine hands
 * every newly appended log entry to the application in log order; the application's answer is a
 * function of its state and the entry only (no clock, no randomness: what a request needs of either
 * must be in the request or handed in by the protocol), so every honest replica computes the same
 * answers and the same state digest, and the digest goes into the group-signed checkpoint of the batch.
 */

/** Where an entry sits in the total order (its logical time). */
export interface AppPosition {
  /** Log index of the entry. */
  readonly index: number;
  /** Atomic-broadcast epoch that delivered it. */
  readonly epoch: number;
}

export interface ReplicatedApp {
  /** Short stable name ('notary', 'ca'): part of every digest and statement. */
  readonly name: string;
  /**
   * Applies one delivered log entry. Returns the response bytes (canonical JSON, UTF-8), or null when the
   * entry is not for this application (it stays in the log, and the state is unchanged). Must not throw
   * for any input: a malformed request gets an error response, deterministically.
   */
  apply(entry: Uint8Array, at: AppPosition): Uint8Array | null;
  /** 32 bytes committing to the whole application state (bound into each signed checkpoint). */
  digest(): Uint8Array;
}

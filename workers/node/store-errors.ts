/**
 * Errors the Node replica's stores raise beyond plain I/O failures. The HTTP layer (replica.ts) answers
 * every storage failure with 503; these get their own codes because retrying does not help.
 */

/**
 * The store saw writes it did not make (another process on the same state, or a write of ours that landed
 * after we had reloaded), or a transaction that was only partly applied. The in-memory engine and storage
 * may now disagree about what was signed, so continuing could send conflicting messages for one protocol
 * instance. The store stops for good (and says so in storage, so a restarted process stops too).
 */
export class StoreConflictError extends Error {
  override readonly name = 'StoreConflictError';
}

/**
 * The store's storage does not keep every acknowledged write (Redis without appendonly yes + appendfsync
 * always), or cannot show that it does where that is required. A replica on such storage can come back
 * from a restart with less than it acknowledged and then sign a different history, so it does not run.
 */
export class StoreNotDurableError extends Error {
  override readonly name = 'StoreNotDurableError';
}

/** The data folder is in use by another live process. */
export class StoreLockedError extends Error {
  override readonly name = 'StoreLockedError';
}

/**
 * Errors the Node replica's stores raise beyond plain I/O failures. The HTTP layer (replica.ts) answers
 * every storage failure with 503; these two get their own codes because retrying does not help.
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

/** The data folder is in use by another live process. */
export class StoreLockedError extends Error {
  override readonly name = 'StoreLockedError';
}

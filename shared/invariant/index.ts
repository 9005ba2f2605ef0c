/**
 * Invariants: conditions the code relies on that no input, however Byzantine, may break. A broken one
 * means a bug here (or more corrupted replicas than the structure allows), and going on would diverge
 * silently, so it throws; the adapters let the event fail (nothing of it is persisted or sent) and the
 * simulator reports it as a violation with its replay command. A peer's bad message is never a broken
 * invariant: that is a recorded Fault (shared/protocols/step.ts).
 */
export class InvariantError extends Error {
  override readonly name = 'InvariantError';
}

export function invariant(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) throw new InvariantError(typeof message === 'string' ? message : message());
}

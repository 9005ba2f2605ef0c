/**
 * The package's main export (import from sintra-edge; docs/api.md, "Using the package"): the client SDK
 * (shared/client/sdk.ts) and, re-exported, every offline verifier of the verify export (verify.ts).
 * Runtime-free: fetch, sleep and randomness are injected, so it runs unchanged in Node, browsers and
 * Workers.
 *
 *   const client = new SintraClient({ group: parseGroup(groupJson), urls, fetch, sleep, randomBytes });
 *   const { receipt } = await client.submit(new TextEncoder().encode('hello'));
 */
export * from './verify.ts';
export { CaRefusedError, ForkError, SintraClient, SintraClientError, SubmitError } from '../client/sdk.ts';
export type {
  CaLookupResult,
  CaRequestResult,
  FetchLike,
  ReplicaSubmission,
  RequestReceipt,
  RequestStatus,
  SintraClientOptions,
  StampOptions,
  StampResult,
  SubmitErrorCode,
  SubmitOptions,
  SubmitResult,
  SubmittedRequest,
  WaitOptions,
} from '../client/sdk.ts';
export { checkConsistency, proofAnswer } from '../client/consistency.ts';
export type { ConsistencyVerdict, ProofAnswer } from '../client/consistency.ts';
export { encryptRequest } from '../client/encrypt.ts';
export type { EncryptedRequest } from '../client/encrypt.ts';
export { runMonitor } from '../client/monitor.ts';
export type { MonitorEvent, MonitorOptions, MonitorResult } from '../client/monitor.ts';
export { ed25519PublicKey, isValidName } from '../app/ca.ts';
export type { RandomBytes } from '../crypto/random.ts';

/**
 * `sintra submit --url URL [--url URL ...] PAYLOAD`: a client for a person at a terminal (docs/api.md), on
 * top of the client SDK (SintraClient.submit and waitForReceipt, shared/client/sdk.ts); this file parses
 * the arguments, reads files, picks the group and prints.
 *
 * Sends the request (PAYLOAD as text, or --file FILE as raw bytes) to every given replica: the replicas
 * de-duplicate by request id (SHA-256 of the bytes), and a client reaches a kernel of the structure (t + 1
 * replicas for a threshold group) so that an honest replica has it. Prints the request id. With --wait (or
 * --out) it waits until a replica serves a certified receipt that verifies against the group (a replica
 * serving one that does not is skipped) before printing or saving it. With --wait, --out or --encrypt the
 * group comes from --group FILE (pinned: replicas serving another group are refused before anything is
 * sent) or, only with the explicit --trust-served-group, from GET /v1/info (all replicas that answer must
 * serve the same group; a warning says what that trusts): infra/cli/trust.ts. Fewer replicas than a kernel
 * get a warning (without a pinned group, counted against the structure the replicas serve).
 *
 * With --encrypt the request is encrypted to the group's key first (secure causal atomic broadcast,
 * shared/client/encrypt.ts): replicas see only a ciphertext until its position is fixed. The id printed is
 * then the ciphertext's (what replicas answer to before decryption); the receipt proves the plaintext,
 * whose id is checked against the local SHA-256.
 *
 * stdout: the id (then, with --wait, the result and the receipt unless --out saves it), or one JSON object
 * with --json. Progress goes to stderr. Exit code 1 on failure (one line `error: ...`), 2 on usage errors.
 */
import { readFile } from 'node:fs/promises';
import type { RequestReceipt, SubmittedRequest } from '../../shared/client/sdk.ts';
import type { Group } from '../../shared/config/group.ts';
import { baseUrl, cliClient, groupServedBy } from './client.ts';
import { UsageError } from './deal.ts';
import type { Io } from './deal.ts';
import { checkOutOption, writeOutFile } from './out-file.ts';
import { checkTrustUsage, warnUnlessKernel } from './trust.ts';
import { fsReason, loadGroupFile } from './verify.ts';

export interface SubmitOptions {
  url?: string[];
  file?: string;
  wait?: boolean;
  out?: string;
  /** Overwrite an existing --out file. */
  force?: boolean;
  json?: boolean;
  /** Seconds for the whole command (default 120). */
  timeout?: number;
  group?: string;
  /** Take the group the replicas serve instead of a pinned one (says so on stderr). */
  trustServedGroup?: boolean;
  /** Encrypt to the group key (secure causal atomic broadcast). */
  encrypt?: boolean;
  /** The ciphertext's label (default "sintra-cli"). */
  label?: string;
}

export async function submitCommand(payload: string | undefined, opts: SubmitOptions, io: Io): Promise<number> {
  // ---- usage
  const urls = [...new Set((opts.url ?? []).map(baseUrl))];
  if (urls.length === 0) throw new UsageError('give at least one --url URL (a kernel of the replicas: t + 1 of them for a threshold group)');
  if (payload !== undefined && opts.file !== undefined) throw new UsageError('give the request as PAYLOAD text or as --file FILE, not both');
  if (payload === undefined && opts.file === undefined) throw new UsageError('give the request as PAYLOAD text or as --file FILE');
  if (payload === '') throw new UsageError('the request is empty');
  if (opts.label !== undefined && !opts.encrypt) throw new UsageError('--label goes with --encrypt');
  checkTrustUsage(opts, Boolean(opts.encrypt || opts.wait || opts.out), opts.encrypt ? '--encrypt' : '--wait');
  // Before anything is submitted: a refusal afterwards would spend the request and leave no receipt file.
  await checkOutOption(opts);
  const wait = Boolean(opts.wait || opts.out);
  const started = Date.now();
  const log = (line: string) => io.err(`${line}\n`);

  // ---- the request (text goes as {"text"}, a file as raw bytes) and the group
  let request: string | Uint8Array;
  if (opts.file !== undefined) {
    try {
      request = new Uint8Array(await readFile(opts.file));
    } catch (e) {
      throw new Error(`cannot read ${opts.file}: ${fsReason(e)}`);
    }
    if (request.length === 0) throw new Error(`${opts.file} is empty; replicas refuse empty requests`);
  } else {
    request = payload!;
  }
  // Pinned, or the one the replicas serve when something is encrypted or verified; none to only submit.
  let group: Group | null = null;
  if (opts.group !== undefined) group = await loadGroupFile(opts.group);
  else if (opts.trustServedGroup && (opts.encrypt || wait)) group = await groupServedBy(urls, log, opts.encrypt ? 'encrypting to' : 'verifying with');
  // With a group the SDK warns when the replicas are not a kernel; without one (nothing is verified) the
  // structure the replicas serve is enough to count them against.
  if (!group) await warnUnlessKernel(null, urls, log);

  // ---- submit to every replica, then wait for the receipt
  const { client, done } = cliClient(group, urls, opts.timeout, io);
  let submitted: SubmittedRequest;
  let certified: RequestReceipt | null = null;
  try {
    submitted = await client.submit(request, { to: 'all', wait: false, ...(opts.encrypt ? { encrypt: true, label: opts.label ?? 'sintra-cli' } : {}) });
    if (wait) {
      if (!opts.json) io.out(`${submitted.id}\n`);
      certified = await client.waitForReceipt(submitted);
    }
  } finally {
    done();
  }
  const { id } = submitted;
  const plaintextId = opts.encrypt ? { plaintextId: submitted.entryId } : {};
  if (!certified) {
    if (opts.json) io.out(`${JSON.stringify({ id, ...plaintextId, status: submitted.status, ...(submitted.index !== undefined ? { index: submitted.index } : {}), replicas: submitted.replicas })}\n`);
    else io.out(`${id}\n`);
    return 0;
  }

  // ---- output
  const r = certified;
  const receiptText = `${JSON.stringify(r.receipt, null, 2)}\n`;
  if (opts.out !== undefined) await writeOutFile(opts.out, receiptText, opts.force);
  const line = `certified at index ${r.index} (checkpoint size ${r.checkpoint.size}, epoch ${r.checkpoint.epoch}); receipt from ${r.from} verified with group ${r.receipt.groupId.slice(0, 16)}...`;
  if (opts.json) {
    io.out(`${JSON.stringify({ id, ...plaintextId, status: 'certified', index: r.index, checkpoint: r.checkpoint, replicas: submitted.replicas, receiptFrom: r.from, ...(opts.out !== undefined ? { out: opts.out } : {}), receipt: r.receipt })}\n`);
  } else if (opts.out !== undefined) {
    io.out(`${line}\nreceipt saved to ${opts.out}\n`);
  } else {
    io.out(`${line}\n${receiptText}`);
  }
  log(`took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return 0;
}

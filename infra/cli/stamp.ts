/**
 * `sintra stamp FILE --cluster URL [--cluster URL ...]` and `sintra stamp --verify FILE RECEIPT --group G`:
 * the notary / time-stamping service (docs/design.md section 11; Cachin, DSN 2001, section 5) for a person at a
 * terminal, on top of the client SDK (shared/client/sdk.ts).
 *
 * Stamping hashes FILE with SHA-256 (only the digest leaves the machine; with --encrypt not even that until
 * its position is fixed), registers it on a kernel of the replicas, waits until a group-signed checkpoint
 * covers the registration, verifies the receipt offline and prints or saves it. Verifying checks a saved
 * receipt with group.json alone: exit code 0 only if the receipt is valid AND its entry registers
 * SHA-256(FILE).
 *
 * Progress goes to stderr; stdout carries the result (one JSON object with --json). Exit codes: 0 success,
 * 1 failure (one line `error: ...`), 2 usage errors.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { checkOutOption, writeOutFile } from './out-file.ts';
import { checkTrustUsage, trustedGroup, warnUnlessKernel } from './trust.ts';
import type { SintraClient } from '../../shared/client/sdk.ts';
import { verifyStampReceipt } from '../../shared/client/sdk.ts';
import type { Command } from 'commander';
import { UsageError } from './deal.ts';
import type { Io } from './deal.ts';
import { baseUrl, cliClient, collectUrl, DEFAULT_TIMEOUT_SECONDS, nodeFetch, seconds, servedGroup } from './client.ts';
import { fsReason, loadGroupFile, offlineCheck } from './verify.ts';

export interface StampCommandOptions {
  cluster?: string[];
  group?: string;
  trustServedGroup?: boolean;
  encrypt?: boolean;
  nonce?: string;
  label?: string;
  json?: boolean;
  out?: string;
  /** Overwrite an existing --out file. */
  force?: boolean;
  verify?: boolean;
  timeout?: number;
}

/** The CLI's fetch for the SDK (infra/cli/client.ts), also taken from here by tests. */
export { nodeFetch };

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  } catch (e) {
    throw new Error(`cannot read ${path}: ${fsReason(e)}`);
  }
  return h.digest('hex');
}

export async function stampCommand(file: string | undefined, receipt: string | undefined, opts: StampCommandOptions, io: Io): Promise<number> {
  const log = (line: string) => io.err(`${line}\n`);
  if (opts.verify) return verifyStamp(file, receipt, opts, io);
  // ---- usage
  if (file === undefined) throw new UsageError('give the FILE to stamp (or --verify FILE RECEIPT)');
  if (receipt !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(receipt)} (a RECEIPT goes with --verify)`);
  const urls = [...new Set((opts.cluster ?? []).map(baseUrl))];
  if (urls.length === 0) throw new UsageError('give at least one --cluster URL (a kernel of the replicas: t + 1 of them for a threshold group)');
  if (opts.nonce !== undefined && !/^(?:[0-9a-f]{2}){1,64}$/.test(opts.nonce)) throw new UsageError('--nonce must be 1 to 64 bytes of lower-case hex');
  if (opts.label !== undefined && !opts.encrypt) throw new UsageError('--label goes with --encrypt');

  checkTrustUsage(opts, true, 'stamp');
  await checkOutOption(opts);
  const digest = await sha256File(file);
  log(`${file}: sha256 ${digest}`);
  const group = await trustedGroup(opts, () => servedGroup(urls, log));
  await warnUnlessKernel(group, urls, log);
  const started = Date.now();
  const { client, done } = cliClient(group, urls, opts.timeout, io);
  let r: Awaited<ReturnType<SintraClient['stamp']>>;
  try {
    r = await client.stamp(digest, { ...(opts.nonce !== undefined ? { nonce: opts.nonce } : {}), ...(opts.encrypt ? { encrypt: true, label: opts.label ?? 'sintra-cli' } : {}) });
  } finally {
    done();
  }
  const text = `${JSON.stringify(r.receipt, null, 2)}\n`;
  if (opts.out !== undefined) await writeOutFile(opts.out, text, opts.force);
  const v = r.verdict;
  const first = v.nonce === opts.nonce ? '' : ' (first registration, by an earlier request)';
  if (opts.json) {
    io.out(
      `${JSON.stringify({ file, digest, index: v.index, ...(v.nonce !== undefined ? { nonce: v.nonce } : {}), checkpoint: v.checkpoint, entryId: v.entryId, from: r.from, acceptedBy: r.acceptedBy, liars: r.liars, ...(opts.out !== undefined ? { out: opts.out } : {}), receipt: r.receipt })}\n`,
    );
  } else {
    io.out(`stamped ${file} (sha256 ${digest}) at log index ${v.index}${first}; checkpoint size ${v.checkpoint.size}, epoch ${v.checkpoint.epoch}; receipt from ${r.from} verified\n`);
    if (opts.out !== undefined) io.out(`receipt saved to ${opts.out}\n`);
    else io.out(text);
  }
  log(`took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return 0;
}

async function verifyStamp(file: string | undefined, receipt: string | undefined, opts: StampCommandOptions, io: Io): Promise<number> {
  if (file === undefined || receipt === undefined) throw new UsageError('usage: sintra stamp --verify FILE RECEIPT --group group.json');
  if (!opts.group) throw new UsageError("--verify needs --group <file> (the group's public group.json)");
  if (opts.cluster?.length || opts.encrypt || opts.out || opts.nonce || opts.force) throw new UsageError('--verify works offline: no --cluster, --encrypt, --nonce, --out or --force');
  const { fail, load } = offlineCheck(io, opts.json);
  const loaded = await load(opts.group, receipt, 'receipt');
  if (typeof loaded === 'number') return loaded;
  const { group, json } = loaded;
  let digest: string;
  try {
    digest = await sha256File(file);
  } catch (e) {
    return fail(e instanceof Error ? e.message : String(e));
  }
  const v = verifyStampReceipt(group, json, digest);
  if (!v.ok) return fail(`invalid stamp receipt ${receipt} for ${file}: ${v.reason}`);
  if (opts.json) {
    io.out(`${JSON.stringify({ valid: true, file, digest, index: v.index, ...(v.nonce !== undefined ? { nonce: v.nonce } : {}), checkpoint: v.checkpoint, entryId: v.entryId, groupId: group.file.groupId })}\n`);
  } else {
    io.out(
      [
        `valid stamp${group.testOnly ? '  (group with TEST KEYS ONLY)' : ''}`,
        `  file:       ${file}`,
        `  sha256:     ${digest}`,
        `  registered: at log index ${v.index} (logical time: no later than this position)${v.nonce !== undefined ? `, nonce ${v.nonce}` : ''}`,
        `  checkpoint: size ${v.checkpoint.size}, epoch ${v.checkpoint.epoch}, root ${v.checkpoint.root}`,
        ...(v.checkpoint.time !== undefined ? [`  time:       ${new Date(v.checkpoint.time).toISOString()} (the checkpoint's agreed time: the entry was ordered no earlier than this, up to the honest clocks' error)`] : []),
        `  signature:  verified with the group key of ${group.file.groupId}`,
        '',
      ].join('\n'),
    );
  }
  return 0;
}

export function registerStampCommand(program: Command, io: Io, setCode: (code: number) => void): void {
  program
    .command('stamp')
    .description('notary: register the SHA-256 of FILE with the group and save a receipt; or --verify a saved receipt offline')
    .argument('[file]', 'the document to stamp (only its SHA-256 is sent)')
    .argument('[receipt]', 'with --verify: the saved receipt')
    .option('--cluster <url>', "a replica's base URL (repeatable; give a kernel or more: t + 1 replicas for a threshold group)", collectUrl)
    .option('--group <file>', 'pin the group: refuse replicas serving another group; required with --verify')
    .option('--encrypt', 'encrypt the stamp request to the group key: no replica sees the digest before its position is fixed')
    .option('--label <label>', 'with --encrypt: the label bound to the ciphertext (default "sintra-cli")')
    .option('--nonce <hex>', 'an optional nonce (1 to 64 bytes of hex) recorded with the registration')
    .option('--trust-served-group', 'without --group: trust the group key the replicas serve (a Byzantine replica can serve its own)')
    .option('--out <file>', 'save the verified receipt to FILE (never overwritten without --force)')
    .option('--force', 'overwrite the --out file if it exists')
    .option('--verify', 'verify FILE against RECEIPT offline with --group (exit 0 only if valid and it registers SHA-256(FILE))')
    .option('--timeout <seconds>', `give up after this long (default ${DEFAULT_TIMEOUT_SECONDS})`, seconds)
    .option('--json', 'print the result as one JSON object')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  sintra stamp contract.pdf --cluster http://127.0.0.1:8787 --cluster http://127.0.0.1:8788 --group .sintra/keys/group.json --out contract.stamp.json',
        '  sintra stamp --verify contract.pdf contract.stamp.json --group .sintra/keys/group.json',
      ].join('\n'),
    )
    .action(async (file: string | undefined, receipt: string | undefined, opts: StampCommandOptions) => setCode(await stampCommand(file, receipt, opts, io)));
}

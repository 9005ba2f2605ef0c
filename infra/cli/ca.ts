/**
 * `sintra ca ...`: the certification authority and directory (shared/app/ca.ts, docs/ca.md; docs/design.md
 * section 11; Cachin, DSN 2001, section 5) for a person at a terminal, on top of the client SDK.
 *
 *   sintra ca keygen --out KEYFILE
 *   sintra ca register NAME --key KEYFILE --cluster URL ... --group G [--valid-for N]
 *   sintra ca lookup NAME --cluster URL ... --group G [--out STATEMENT [--force]]
 *   sintra ca renew NAME --key KEYFILE --cluster URL ... --group G [--valid-for N]
 *   sintra ca rotate NAME --key KEYFILE --new-key NEWKEYFILE --cluster URL ... --group G [--valid-for N]
 *   sintra ca revoke NAME --key KEYFILE --cluster URL ... --group G
 * (--trust-served-group instead of --group takes the key the replicas serve, and says so.)
 *   sintra ca verify STATEMENT --group group.json [--name NAME]
 *   sintra ca export-key --key KEYFILE --out KEY.pem; sintra ca issue --csr REQ.pem --cluster URL ... --out CERT.pem (ca-x509.ts)
 *
 * A key file is JSON {"format": "sintra-edge/ca-key@1", "secretKey": hex, "publicKey": hex} (Ed25519, the
 * 32-byte secret seed), written with mode 0600 and never overwritten; a file holding just the 64 hex
 * digits of the secret key is read too. Signed requests are built locally: the secret key never leaves the
 * machine. Every result the commands print comes from a directory statement verified against the group
 * (pinned with --group, else the group the replicas serve).
 *
 * Progress goes to stderr; stdout carries the result (one JSON object with --json). Exit codes: 0 success
 * (for lookup: a verified statement shows the name active; for verify: the statement verifies, whatever it
 * says), 3 (lookup) a verified statement shows the name absent, expired or revoked, so that
 * `sintra ca lookup bob && use-key` never trusts a revoked key, 1 failure (one line `error: ...`,
 * including a request the CA refused), 2 usage errors.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { checkOutOption, writeOutFile } from './out-file.ts';
import { trustedGroup, warnUnlessKernel } from './trust.ts';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { ed25519PublicKey, isValidName, verifyDirectoryStatement } from '../../shared/app/ca.ts';
import type { CertificateRecord, DirectoryVerdict } from '../../shared/app/ca.ts';
import { CaRefusedError, SintraClient } from '../../shared/client/sdk.ts';
import type { CaLookupResult, CaRequestResult } from '../../shared/client/sdk.ts';
import type { Group } from '../../shared/config/group.ts';
import { fromHex, toHex } from '../../shared/crypto/bytes.ts';
import { UsageError } from './deal.ts';
import type { Io } from './deal.ts';
import { baseUrl, cliClient, collectUrl, DEFAULT_TIMEOUT_SECONDS, seconds, servedGroup } from './client.ts';
import { fsReason, loadGroupFile, offlineCheck } from './verify.ts';
import { exportKey, issue } from './ca-x509.ts';
import type { X509CommandOptions } from './ca-x509.ts';

export const CA_KEY_FORMAT = 'sintra-edge/ca-key@1';
/** Seconds: 90 days. */
export const DEFAULT_VALID_FOR = 7_776_000;

export interface CaCommandOptions {
  cluster?: string[];
  group?: string;
  trustServedGroup?: boolean;
  key?: string;
  newKey?: string;
  validFor?: number;
  serial?: number;
  out?: string;
  /** Overwrite an existing --out file. */
  force?: boolean;
  name?: string;
  json?: boolean;
  timeout?: number;
}

function positive(name: string) {
  return (value: string): number => {
    if (!/^[1-9][0-9]{0,14}$/.test(value)) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return Number(value);
  };
}

/** Reads a key file (JSON of CA_KEY_FORMAT, or the bare hex secret key). */
export async function loadKeyFile(path: string): Promise<Uint8Array> {
  let text: string;
  try {
    text = (await readFile(path, 'utf8')).trim();
  } catch (e) {
    throw new Error(`cannot read key file ${path}: ${fsReason(e)}`);
  }
  if (/^[0-9a-f]{64}$/i.test(text)) return fromHex(text.toLowerCase(), 32);
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw new Error(`key file ${path} is neither JSON nor 64 hex digits`);
  }
  const k = o as { format?: unknown; secretKey?: unknown; publicKey?: unknown } | null;
  if (k?.format !== CA_KEY_FORMAT || typeof k.secretKey !== 'string' || !/^[0-9a-f]{64}$/.test(k.secretKey)) {
    throw new Error(`key file ${path} is not a ${CA_KEY_FORMAT} key (make one with: sintra ca keygen --out FILE)`);
  }
  const secret = fromHex(k.secretKey, 32);
  if (k.publicKey !== undefined && k.publicKey !== toHex(ed25519PublicKey(secret))) throw new Error(`key file ${path}: publicKey does not belong to secretKey`);
  return secret;
}

async function keygen(opts: CaCommandOptions, io: Io): Promise<number> {
  if (!opts.out) throw new UsageError('give --out KEYFILE (the secret key is written there with mode 0600)');
  const secret = new Uint8Array(randomBytes(32));
  const publicKey = toHex(ed25519PublicKey(secret));
  const text = `${JSON.stringify({ format: CA_KEY_FORMAT, secretKey: toHex(secret), publicKey }, null, 2)}\n`;
  try {
    // 'wx': never overwrite a key (it may be the only copy of a registered name's key).
    await writeFile(opts.out, text, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as { code?: unknown }).code === 'EEXIST') throw new Error(`${opts.out} exists (it may be the only copy of a registered name's key); keys are never overwritten: give another --out`);
    throw new Error(`cannot write ${opts.out}: ${fsReason(e)}`);
  }
  if (opts.json) io.out(`${JSON.stringify({ out: opts.out, publicKey })}\n`);
  else io.out(`wrote Ed25519 secret key to ${opts.out} (mode 0600)\npublic key ${publicKey}\n`);
  return 0;
}

/** The SDK client for the given options, and a cleanup that clears timers left from its races. */
async function clientFor(opts: CaCommandOptions, io: Io): Promise<{ client: SintraClient; group: Group; done: () => void }> {
  const log = (line: string) => io.err(`${line}\n`);
  const urls = [...new Set((opts.cluster ?? []).map(baseUrl))];
  if (urls.length === 0) throw new UsageError('give at least one --cluster URL (a kernel of the replicas: t + 1 of them for a threshold group)');
  const group = await trustedGroup(opts, () => servedGroup(urls, log));
  await warnUnlessKernel(group, urls, log);
  return { ...cliClient(group, urls, opts.timeout, io), group };
}

function describeRecord(r: CertificateRecord | null, v: Extract<DirectoryVerdict, { ok: true }>): string {
  if (!r) return `${v.name}: absent (not registered), proven at checkpoint size ${v.size}, epoch ${v.epoch}`;
  const when =
    r.status === 'revoked'
      ? `revoked at log index ${String(r.revokedAt)}`
      : r.v === 1
        ? `valid for log positions [${r.notBefore}, ${r.notAfter})`
        : `valid from ${new Date(r.notBefore).toISOString()} to ${new Date(r.notAfter).toISOString()} (agreed time), issued at log index ${String(r.index)}`;
  return `${v.name}: ${v.status}, serial ${r.serial}, key ${r.key}, ${when}; checkpoint size ${v.size}, epoch ${v.epoch}`;
}

function checkName(name: string | undefined): string {
  if (name === undefined) throw new UsageError('give the NAME');
  if (!isValidName(name)) throw new UsageError(`name ${JSON.stringify(name)}: 1 to 128 characters of a-z 0-9 . _ @ -, starting with a letter or digit`);
  return name;
}

async function saveStatement(opts: CaCommandOptions, r: CaLookupResult): Promise<void> {
  if (opts.out === undefined) return;
  await writeOutFile(opts.out, `${JSON.stringify(r.statement, null, 2)}\n`, opts.force);
}

/** Exit code of a lookup whose statement verified and shows the name not active (absent, expired, revoked). */
export const EXIT_NOT_ACTIVE = 3;

type Op = 'register' | 'renew' | 'rotate' | 'revoke';

async function change(op: Op, nameArg: string | undefined, opts: CaCommandOptions, io: Io): Promise<number> {
  const name = checkName(nameArg);
  await checkOutOption(opts);
  if (!opts.key) throw new UsageError(`${op} needs --key KEYFILE${op === 'register' ? '' : " (the name's current key)"}`);
  if (op === 'rotate' && !opts.newKey) throw new UsageError('rotate needs --new-key NEWKEYFILE');
  if (op !== 'rotate' && opts.newKey) throw new UsageError('--new-key goes with rotate');
  if (op === 'revoke' && opts.validFor !== undefined) throw new UsageError('--valid-for does not go with revoke');
  if (op === 'register' && opts.serial !== undefined) throw new UsageError('--serial does not go with register');
  const secret = await loadKeyFile(opts.key);
  const newSecret = opts.newKey ? await loadKeyFile(opts.newKey) : undefined;
  const validFor = opts.validFor ?? DEFAULT_VALID_FOR;
  const started = Date.now();
  const { client, done } = await clientFor(opts, io);
  let r: CaRequestResult;
  try {
    switch (op) {
      case 'register':
        r = await client.caRegister(name, secret, validFor);
        break;
      case 'renew':
        r = await client.caRenew(name, secret, validFor, opts.serial);
        break;
      case 'rotate':
        r = await client.caRotate(name, secret, newSecret!, validFor, opts.serial);
        break;
      case 'revoke':
        r = await client.caRevoke(name, secret, opts.serial);
        break;
    }
  } catch (e) {
    if (e instanceof CaRefusedError) {
      if (opts.json) io.out(`${JSON.stringify({ ok: false, op, name, code: e.code, index: e.index, message: e.message })}\n`);
      throw new Error(`the CA refused to ${op} ${name}${e.index !== null ? ` (request at log index ${e.index})` : ''}: ${e.message}`);
    }
    throw e;
  } finally {
    done();
  }
  await saveStatement(opts, r);
  if (opts.json) {
    io.out(`${JSON.stringify({ ok: true, op, name, id: r.id, index: r.index, certificate: 'certificate' in r.response ? r.response.certificate : null, status: r.verdict.status, record: r.verdict.record, checkpoint: { size: r.verdict.size, epoch: r.verdict.epoch }, from: r.from, acceptedBy: r.acceptedBy, liars: r.liars, statement: r.statement })}\n`);
  } else {
    const done = { register: 'registered', renew: 'renewed', rotate: 'rotated the key of', revoke: 'revoked' }[op];
    io.out(`${done} ${name} at log index ${r.index}; statement from ${r.from} verified\n${describeRecord(r.verdict.record, r.verdict)}\n`);
    if (opts.out !== undefined) io.out(`statement saved to ${opts.out}\n`);
  }
  io.err(`took ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return 0;
}

async function lookup(nameArg: string | undefined, opts: CaCommandOptions, io: Io): Promise<number> {
  const name = checkName(nameArg);
  await checkOutOption(opts);
  const { client, done } = await clientFor(opts, io);
  let r: CaLookupResult;
  try {
    r = await client.caLookup(name, { wait: true });
  } finally {
    done();
  }
  await saveStatement(opts, r);
  const v = r.verdict;
  if (opts.json) {
    io.out(`${JSON.stringify({ valid: true, name, present: v.present, status: v.status, record: v.record, checkpoint: { size: v.size, epoch: v.epoch }, from: r.from, liars: r.liars, statement: r.statement })}\n`);
  } else {
    io.out(`${describeRecord(v.record, v)}\nstatement from ${r.from} verified with the group key\n`);
    if (opts.out !== undefined) io.out(`statement saved to ${opts.out}\n`);
  }
  if (v.status === 'active') return 0;
  io.err(`${name} is ${v.status} (exit code ${EXIT_NOT_ACTIVE})\n`);
  return EXIT_NOT_ACTIVE;
}

async function verify(file: string | undefined, opts: CaCommandOptions, io: Io): Promise<number> {
  if (file === undefined) throw new UsageError('usage: sintra ca verify STATEMENT --group group.json [--name NAME]');
  if (!opts.group) throw new UsageError("verify needs --group <file> (the group's public group.json)");
  if (opts.name !== undefined) checkName(opts.name);
  const { fail, load } = offlineCheck(io, opts.json);
  const loaded = await load(opts.group, file, 'statement');
  if (typeof loaded === 'number') return loaded;
  const { group, json } = loaded;
  const v = verifyDirectoryStatement(group, json);
  if (!v.ok) return fail(`invalid directory statement ${file}: ${v.reason}`);
  if (opts.name !== undefined && v.name !== opts.name) return fail(`the statement is about ${v.name}, not ${opts.name}`);
  if (opts.json) io.out(`${JSON.stringify({ valid: true, name: v.name, present: v.present, status: v.status, record: v.record, checkpoint: { size: v.size, epoch: v.epoch }, groupId: group.file.groupId })}\n`);
  else io.out(`valid directory statement${group.testOnly ? '  (group with TEST KEYS ONLY)' : ''}\n${describeRecord(v.record, v)}\n`);
  return 0;
}

export function registerCaCommand(program: Command, io: Io, setCode: (code: number) => void): void {
  const ca = program
    .command('ca')
    .description('certification authority and directory: keygen, register, lookup, renew, rotate, revoke, verify; X.509: export-key, issue')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  sintra ca keygen --out alice.key',
        '  sintra ca register alice --key alice.key --cluster http://127.0.0.1:8787 --cluster http://127.0.0.1:8788 --group .sintra/keys/group.json',
        '  sintra ca lookup alice --cluster http://127.0.0.1:8789 --out alice.statement.json --group .sintra/keys/group.json',
        '  sintra ca verify alice.statement.json --group .sintra/keys/group.json',
        '  sintra ca revoke alice --key alice.key --cluster http://127.0.0.1:8787 --cluster http://127.0.0.1:8788 --group .sintra/keys/group.json',
      ].join('\n'),
    );
  const network = (c: Command): Command =>
    c
      .option('--cluster <url>', "a replica's base URL (repeatable; give a kernel or more: t + 1 replicas for a threshold group)", collectUrl)
      .option('--group <file>', 'pin the group (group.json): verify with its key, refuse replicas serving another group')
      .option('--trust-served-group', 'without --group: trust the group key the replicas serve (a Byzantine replica can serve its own)')
      .option('--timeout <seconds>', `give up after this long (default ${DEFAULT_TIMEOUT_SECONDS})`, seconds)
      .option('--out <file>', 'save the verified directory statement to FILE (never overwritten without --force)')
      .option('--force', 'overwrite the --out file if it exists')
      .option('--json', 'print the result as one JSON object');

  ca.command('keygen')
    .description('make an Ed25519 key pair; the secret key goes to KEYFILE (JSON, mode 0600, never overwritten)')
    .option('--out <file>', 'the key file to write')
    .option('--json', 'print {out, publicKey} as JSON')
    .action(async (opts: CaCommandOptions) => setCode(await keygen(opts, io)));

  for (const op of ['register', 'renew', 'rotate', 'revoke'] as const) {
    const c = network(ca.command(op).argument('[name]', 'the name'));
    c.option('--key <file>', op === 'register' ? 'the key file of the key to register' : "the key file of the name's current key");
    if (op === 'rotate') c.option('--new-key <file>', 'the key file of the new key');
    if (op !== 'revoke') c.option('--valid-for <seconds>', `validity in seconds from the agreed time of the request's epoch (default ${DEFAULT_VALID_FOR}: 90 days)`, positive('--valid-for'));
    if (op !== 'register') c.option('--serial <n>', "the current serial (default: from a verified statement)", positive('--serial'));
    c.description(
      {
        register: 'register NAME with the key of --key (new names only); waits until a verified statement shows it',
        renew: "renew NAME's certificate (signed with its current key)",
        rotate: "replace NAME's key by the one of --new-key (signed by both keys)",
        revoke: 'revoke NAME (signed with its current key); the name is never issued again',
      }[op],
    );
    c.action(async (name: string | undefined, opts: CaCommandOptions) => setCode(await change(op, name, opts, io)));
  }

  network(ca.command('lookup').argument('[name]', 'the name'))
    .description(`a verified directory statement for NAME: present (active, expired, revoked) or proven absent; exit 0 only if NAME is active, ${EXIT_NOT_ACTIVE} if the statement shows it absent, expired or revoked`)
    .action(async (name: string | undefined, opts: CaCommandOptions) => setCode(await lookup(name, opts, io)));

  ca.command('export-key')
    .description("write a key file's Ed25519 key as PKCS #8 PEM (mode 0600, never overwritten), for openssl req: the CSR of an X.509 request")
    .option('--key <file>', 'the key file (sintra ca keygen)')
    .option('--out <file>', 'the PEM file to write')
    .option('--json', 'print {out} as JSON')
    .action(async (opts: X509CommandOptions) => setCode(await exportKey(opts, io)));

  ca.command('issue')
    .description("an X.509 certificate under the group's root CA for a registered name: the CSR's subject CN=NAME and its key the name's Ed25519 directory key; checked against the pinned root before it is saved")
    .option('--csr <file>', 'the PKCS #10 request (PEM), e.g. openssl req -new -key alice.pem -subj /CN=alice -out alice.csr')
    .option('--name <name>', "the directory name (default: the CSR's CN)")
    .option('--cluster <url>', "a replica's base URL (repeatable: asked in turn)", collectUrl)
    .option('--group <file>', "pin the group (group.json): the certificate must verify under its root CA")
    .option('--trust-served-group', 'without --group: trust the group the replicas serve')
    .option('--timeout <seconds>', `give up after this long (default ${DEFAULT_TIMEOUT_SECONDS})`, seconds)
    .option('--out <file>', 'write the certificate (PEM) to FILE (never overwritten without --force)')
    .option('--force', 'overwrite the --out file if it exists')
    .option('--json', 'print the result as one JSON object')
    .action(async (opts: X509CommandOptions) => setCode(await issue(opts, io)));

  ca.command('verify')
    .description('verify a saved directory statement offline with --group (exit 0 only if valid)')
    .argument('[statement]', 'the saved statement (JSON)')
    .option('--group <file>', "the group's public group.json")
    .option('--name <name>', 'also require the statement to be about NAME')
    .option('--json', 'print the verdict as JSON')
    .action(async (file: string | undefined, opts: CaCommandOptions) => setCode(await verify(file, opts, io)));
}

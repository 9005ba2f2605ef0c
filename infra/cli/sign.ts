/**
 * The signing service from a terminal (docs/signer.md):
 *
 *   sintra sign --purpose P --file F --credential C --cluster URL ... --group G --out sig.json [--nonce HEX]
 *   sintra sign --verify F sig.json --group G
 *   sintra signer keygen --name NAME --out C
 *   sintra signer policy init --admin C ... [--threshold K] --client C ... --purpose P ... --out policy.json
 *   sintra signer policy get --cluster URL ... --group G [--out statement.json]
 *   sintra signer policy approve --policy new.json --credential ADMIN --group G --out approval.json
 *   sintra signer policy submit --policy new.json --approval A ... --cluster URL ... --group G
 *   sintra signer audit --count K --round R --cluster URL ... --group G     (a round still to come)
 *   sintra signer reveal AUDIT --cluster URL ... --group G                 (once the round is due)
 *
 * Requests and approvals are signed locally with the credential (its secret never leaves the machine);
 * every result printed is verified against the pinned group.json: a signature document with the receipt of
 * its log entry, a policy statement under a signed checkpoint. Progress goes to stderr; stdout carries the
 * result (one JSON object with --json). Exit codes: 0 success, 1 failure (one line `error: ...`, including
 * a refusal by the policy), 2 usage.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { encodeAuditEntry, encodeRevealEntry, policyMessageBytes, signRequest } from '../../shared/app/signer.ts';
import { roundTimeMs } from '../../shared/crypto/beacon.ts';
import { checkBeaconJson } from '../../shared/client/beacon.ts';
import { SignerPolicyError, encodeSignerPolicy, parseSignerPolicy } from '../../shared/app/signer-policy.ts';
import type { SignerPolicy } from '../../shared/app/signer-policy.ts';
import { verifyPolicyStatement, verifySignatureDocument } from '../../shared/client/signer.ts';
import type { Group } from '../../shared/config/group.ts';
import { fromHex, toBase64, toHex } from '../../shared/crypto/bytes.ts';
import { ed25519Signer, ed25519Verifier } from '../../shared/crypto/ed25519.ts';
import { isPurpose } from '../../shared/crypto/group-sign.ts';
import { sha256 } from '../../shared/crypto/sha256.ts';
import { CredentialError, newCredential, readCredential, writeCredential } from '../dealer/signer-credential.ts';
import { UsageError } from './deal.ts';
import type { Io } from './deal.ts';
import { baseUrl, collectUrl, DEFAULT_TIMEOUT_SECONDS, nodeFetch, seconds } from './client.ts';
import { checkOutFile, checkOutOption, writeOutFile } from './out-file.ts';
import { rsaPublicKeyPem } from '../../shared/crypto/x509.ts';
import { collect } from './options.ts';
import { fsReason, loadGroupFile } from './verify.ts';

export const APPROVAL_FORMAT = 'sintra-edge/signer-approval@1';

export interface SignOptions {
  purpose?: string;
  file?: string;
  credential?: string;
  cluster?: string[];
  group?: string;
  out?: string;
  force?: boolean;
  nonce?: string;
  verify?: string;
  /** Also write the raw signature bytes here (for openssl dgst -verify with an RSA purpose). */
  signatureOut?: string;
  json?: boolean;
  timeout?: number;
}

export interface SignerOptions extends SignOptions {
  name?: string;
  admin?: string[];
  client?: string[];
  purposes?: string[];
  threshold?: number;
  maxMessageBytes?: number;
  policy?: string;
  approval?: string[];
}

const POLL_MS = 500;

async function readBytes(path: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw new Error(`cannot read ${what} ${path}: ${fsReason(e)}`);
  }
}

async function readJson(path: string, what: string): Promise<unknown> {
  const text = new TextDecoder().decode(await readBytes(path, what));
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${what} ${path} is not JSON`);
  }
}

async function groupOf(opts: SignOptions): Promise<Group> {
  if (opts.group === undefined) throw new UsageError('give --group group.json: signatures and policies are verified with the pinned group key, never with one a replica serves');
  const group = await loadGroupFile(opts.group);
  if (group.signer === undefined) throw new Error(`${opts.group} has no signer policy: the group runs no signing service (sintra deal --signer-policy)`);
  return group;
}

function urlsOf(opts: SignOptions): string[] {
  const urls = [...new Set((opts.cluster ?? []).map(baseUrl))];
  if (urls.length === 0) throw new UsageError('give at least one --cluster URL');
  return urls;
}

async function getJson(url: string, init?: Parameters<typeof nodeFetch>[1]): Promise<{ status: number; body: any }> {
  const res = await nodeFetch(url, init);
  const text = await res.text();
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: status only
  }
  return { status: res.status, body };
}

const errorText = (a: { status: number; body: any }): string => `HTTP ${a.status}${typeof a.body?.error?.message === 'string' ? ` ${a.body.error.code}: ${a.body.error.message}` : ''}`;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** POSTs `body` to the replicas in order until one takes it; throws with every refusal otherwise. */
async function postFirst(urls: readonly string[], path: string, body: unknown, log: (s: string) => void): Promise<{ id: string; url: string }> {
  const refused: string[] = [];
  for (const url of urls) {
    let a: { status: number; body: any };
    try {
      a = await getJson(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    } catch (e) {
      refused.push(`${url}: ${e instanceof Error ? e.message : String(e)}`);
      continue;
    }
    if (a.status === 200 || a.status === 202) {
      log(`submitted to ${url}: request ${a.body.id} (${a.body.status})`);
      return { id: a.body.id as string, url };
    }
    // A refusal by the policy (403) or of the input (400, 409) is the same at every honest replica.
    if (a.status === 400 || a.status === 403 || a.status === 409) throw new Error(`${url} refused the request: ${errorText(a)}`);
    refused.push(`${url}: ${errorText(a)}`);
  }
  throw new Error(`no replica took the request: ${refused.join('; ')}`);
}

async function sign(opts: SignOptions, io: Io): Promise<number> {
  if (opts.purpose === undefined || !isPurpose(opts.purpose)) throw new UsageError("give --purpose P (1-64 of a-z, 0-9, '.', '_', '-')");
  if (opts.file === undefined) throw new UsageError('give --file F, the message to sign');
  if (opts.credential === undefined) throw new UsageError('give --credential C, the client credential (sintra signer keygen)');
  if (opts.out === undefined) throw new UsageError('give --out sig.json, where the verified signature document goes');
  if (opts.nonce !== undefined && !/^(?:[0-9a-f]{2}){1,64}$/.test(opts.nonce)) throw new UsageError('--nonce: 1 to 64 bytes of lower-case hex');
  await checkOutOption(opts);
  if (opts.signatureOut !== undefined) await checkOutFile(opts.signatureOut, opts.force);
  const urls = urlsOf(opts);
  const group = await groupOf(opts);
  const credential = await readCredential(opts.credential);
  const message = await readBytes(opts.file, 'file');
  const log = (s: string) => io.err(`${s}\n`);
  const entry = signRequest(group.groupId, credential.name, opts.purpose, message, ed25519Signer(credential.secretKey), opts.nonce);
  const { app: _app, op: _op, ...body } = JSON.parse(new TextDecoder().decode(entry)) as Record<string, string>;
  const { id } = await postFirst(urls, '/v1/sign', body, log);
  const deadline = Date.now() + (opts.timeout ?? DEFAULT_TIMEOUT_SECONDS) * 1000;
  const seen: string[] = [];
  for (;;) {
    for (const url of urls) {
      let a: { status: number; body: any };
      try {
        a = await getJson(`${url}/v1/sign/${id}`);
      } catch (e) {
        seen.push(`${url}: ${e instanceof Error ? e.message : String(e)}`);
        continue;
      }
      if (a.status === 403) throw new Error(`the group refused request ${id}: ${a.body?.error?.message ?? errorText(a)}`);
      if (a.status !== 200) {
        seen.push(`${url}: ${errorText(a)}`);
        continue;
      }
      const v = verifySignatureDocument(group, a.body, { requireReceipt: true, message });
      if (!v.ok) {
        if (a.body?.receipt !== null) io.err(`warning: ${url} served a signature document that does not verify: ${v.reason}\n`);
        seen.push(`${url}: ${v.reason}`);
        continue;
      }
      await writeOutFile(opts.out, `${JSON.stringify(a.body, null, 2)}\n`, opts.force);
      if (opts.signatureOut !== undefined) await writeOutFile(opts.signatureOut, fromHex(a.body.signature), opts.force);
      const out = { id, purpose: opts.purpose, client: credential.name, index: v.index, signature: a.body.signature, out: opts.out, verified: true };
      if (opts.json) io.out(`${JSON.stringify(out)}\n`);
      else io.out(`signed: request ${id}, log index ${v.index}\n${v.scheme} signature ${out.signature}\nverified against ${opts.group} (purpose ${opts.purpose}); written to ${opts.out}${opts.signatureOut ? ` and, raw, to ${opts.signatureOut}` : ''}\n`);
      return 0;
    }
    if (Date.now() + POLL_MS > deadline) throw new Error(`no verified signature with a receipt within ${opts.timeout ?? DEFAULT_TIMEOUT_SECONDS} s: ${seen.slice(-urls.length).join('; ')}`);
    seen.length = 0;
    io.err('.');
    await sleep(POLL_MS);
  }
}

async function verify(signatureFile: string | undefined, opts: SignOptions, io: Io): Promise<number> {
  if (signatureFile === undefined) throw new UsageError('give the signature document: sintra sign --verify FILE sig.json --group G');
  const group = await groupOf(opts);
  const message = await readBytes(opts.verify!, 'file');
  const doc = await readJson(signatureFile, 'signature document');
  const v = verifySignatureDocument(group, doc, { requireReceipt: true, message });
  if (!v.ok) {
    if (opts.json) io.out(`${JSON.stringify({ valid: false, reason: v.reason })}\n`);
    else io.err(`error: ${signatureFile} does not verify: ${v.reason}\n`);
    return 1;
  }
  if (opts.json) io.out(`${JSON.stringify({ valid: true, purpose: v.purpose, client: v.client, index: v.index })}\n`);
  else io.out(`valid: the group signed ${opts.verify} for purpose ${v.purpose} at the request of ${v.client}; log index ${v.index}${group.testOnly ? '  (group with TEST KEYS ONLY)' : ''}\n`);
  return 0;
}

export async function signCommand(signatureFile: string | undefined, opts: SignOptions, io: Io): Promise<number> {
  try {
    return opts.verify !== undefined ? await verify(signatureFile, opts, io) : await sign(opts, io);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    io.err(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

/** The signing RSA key as PEM, derived offline from the pinned group.json (keys.signerRsa). */
async function rsaKey(opts: SignerOptions, io: Io): Promise<number> {
  const group = await groupOf(opts);
  if (group.signerRsa === undefined) throw new Error(`${opts.group} has no signing RSA key (keys.signerRsa: sintra deal --signer-rsa)`);
  const pem = rsaPublicKeyPem(group.signerRsa);
  if (opts.out !== undefined) {
    await writeOutFile(opts.out, pem, opts.force);
    io.out(`wrote the signing RSA public key (${group.signerRsa.n.toString(2).length} bits) to ${opts.out}\n`);
  } else io.out(pem);
  return 0;
}

async function keygen(opts: SignerOptions, io: Io): Promise<number> {
  if (opts.name === undefined) throw new UsageError('give --name NAME (the client or administrator name in the policy)');
  if (opts.out === undefined) throw new UsageError('give --out FILE (the credential is written there with mode 0600)');
  const c = newCredential(opts.name);
  await writeCredential(opts.out, c);
  if (opts.json) io.out(`${JSON.stringify({ out: opts.out, name: c.name, publicKey: c.publicKey })}\n`);
  else io.out(`wrote the credential of ${c.name} to ${opts.out} (mode 0600)\npublic key ${c.publicKey}\n`);
  return 0;
}

async function policyInit(opts: SignerOptions, io: Io): Promise<number> {
  if (!opts.admin?.length) throw new UsageError('give --admin C (repeatable): the administrators');
  if (opts.out === undefined) throw new UsageError('give --out policy.json');
  const admins = await Promise.all(opts.admin.map(readCredential));
  const clients = await Promise.all((opts.client ?? []).map(readCredential));
  const purposes = opts.purposes ?? [];
  for (const p of purposes) if (!isPurpose(p)) throw new UsageError(`--purpose ${JSON.stringify(p)}: 1-64 of a-z, 0-9, '.', '_', '-'`);
  const names = clients.map((c) => c.name).sort();
  const policy = parseSignerPolicy({
    version: 1,
    admins: { threshold: opts.threshold ?? 1, keys: Object.fromEntries(admins.map((a) => [a.name, a.publicKey])) },
    clients: Object.fromEntries(clients.map((c) => [c.name, { publicKey: c.publicKey }])),
    purposes: Object.fromEntries(purposes.map((p) => [p, { clients: names, maxMessageBytes: opts.maxMessageBytes ?? 16384 }])),
  });
  await writeOutFile(opts.out, `${JSON.stringify(policy, null, 2)}\n`, opts.force);
  io.out(`wrote policy version 1 to ${opts.out}: ${admins.length} administrator(s), threshold ${policy.admins.threshold}; ${clients.length} client(s); purposes ${purposes.join(', ') || '(none)'}\n`);
  return 0;
}

async function policyGet(opts: SignerOptions, io: Io): Promise<number> {
  const urls = urlsOf(opts);
  const group = await groupOf(opts);
  const seen: string[] = [];
  for (const url of urls) {
    let a: { status: number; body: any };
    try {
      a = await getJson(`${url}/v1/sign/policy`);
    } catch (e) {
      seen.push(`${url}: ${e instanceof Error ? e.message : String(e)}`);
      continue;
    }
    if (a.status !== 200) {
      seen.push(`${url}: ${errorText(a)}`);
      continue;
    }
    const v = verifyPolicyStatement(group, a.body);
    if (!v.ok) {
      io.err(`warning: ${url} served a policy statement that does not verify: ${v.reason}\n`);
      seen.push(`${url}: ${v.reason}`);
      continue;
    }
    if (opts.out !== undefined) await writeOutFile(opts.out, `${JSON.stringify(a.body, null, 2)}\n`, opts.force);
    if (opts.json) io.out(`${JSON.stringify({ verified: true, epoch: v.epoch, size: v.size, policy: v.policy })}\n`);
    else io.out(`policy version ${v.policy.version}, in force at checkpoint epoch ${v.epoch} (log size ${v.size}), verified against ${opts.group}\n${JSON.stringify(v.policy, null, 2)}\n`);
    return 0;
  }
  io.err(`error: no replica served a verified policy statement: ${seen.join('; ')}\n`);
  return 1;
}

async function loadPolicy(path: string | undefined): Promise<SignerPolicy> {
  if (path === undefined) throw new UsageError('give --policy new.json, the whole new policy');
  try {
    return parseSignerPolicy(await readJson(path, 'policy'));
  } catch (e) {
    if (e instanceof SignerPolicyError) throw new Error(`${path}: ${e.message}`);
    throw e;
  }
}

async function policyApprove(opts: SignerOptions, io: Io): Promise<number> {
  if (opts.credential === undefined) throw new UsageError('give --credential C, the administrator credential');
  if (opts.out === undefined) throw new UsageError('give --out approval.json');
  await checkOutOption(opts);
  const group = await groupOf(opts);
  const policy = await loadPolicy(opts.policy);
  const admin = await readCredential(opts.credential);
  const sig = ed25519Signer(admin.secretKey)(policyMessageBytes(group.groupId, policy));
  const approval = { format: APPROVAL_FORMAT, groupId: toHex(group.groupId), admin: admin.name, version: policy.version, policySha256: toHex(sha256(encodeSignerPolicy(policy))), sig: toHex(sig) };
  await writeOutFile(opts.out, `${JSON.stringify(approval, null, 2)}\n`, opts.force);
  io.out(`${admin.name} approved policy version ${policy.version} (sha256 ${approval.policySha256}); written to ${opts.out}\n`);
  return 0;
}

async function policySubmit(opts: SignerOptions, io: Io): Promise<number> {
  if (!opts.approval?.length) throw new UsageError('give --approval FILE (repeatable): the administrators\' approvals (sintra signer policy approve)');
  const urls = urlsOf(opts);
  const group = await groupOf(opts);
  const policy = await loadPolicy(opts.policy);
  const message = policyMessageBytes(group.groupId, policy);
  const sigs: Record<string, string> = {};
  for (const path of opts.approval) {
    const a = (await readJson(path, 'approval')) as Record<string, unknown>;
    if (a?.['format'] !== APPROVAL_FORMAT || typeof a['admin'] !== 'string' || typeof a['sig'] !== 'string' || !/^[0-9a-f]{128}$/.test(a['sig'])) throw new Error(`${path} is not a ${APPROVAL_FORMAT} approval`);
    const key = group.signer!.policy.admins.keys[a['admin']];
    // Checked here only to say early which file is wrong: the replicas check every signature again.
    if (key !== undefined && !ed25519Verifier(fromHex(key))(message, fromHex(a['sig']))) throw new Error(`${path}: ${a['admin']}'s approval is not of this policy (another version or text?)`);
    sigs[a['admin']] = a['sig'];
  }
  const log = (s: string) => io.err(`${s}\n`);
  const { id } = await postFirst(urls, '/v1/sign/policy', { policy, sigs }, log);
  const deadline = Date.now() + (opts.timeout ?? DEFAULT_TIMEOUT_SECONDS) * 1000;
  for (;;) {
    for (const url of urls) {
      let r: { status: number; body: any };
      try {
        r = await getJson(`${url}/v1/sign/requests/${id}`);
      } catch {
        continue;
      }
      if (r.status !== 200) continue;
      if (r.body?.ok !== true) throw new Error(`the group refused the change: ${r.body?.code}: ${r.body?.message}`);
      const s = await getJson(`${url}/v1/sign/policy`).catch(() => null);
      const v = s?.status === 200 ? verifyPolicyStatement(group, s.body) : null;
      if (v?.ok && v.policy.version >= policy.version) {
        if (opts.json) io.out(`${JSON.stringify({ id, version: v.policy.version, epoch: v.epoch, verified: true })}\n`);
        else io.out(`policy version ${v.policy.version} is in force (request ${id}), verified at checkpoint epoch ${v.epoch}\n`);
        return 0;
      }
    }
    if (Date.now() + POLL_MS > deadline) throw new Error(`the change was not verified in force within ${opts.timeout ?? DEFAULT_TIMEOUT_SECONDS} s (request ${id})`);
    io.err('.');
    await sleep(POLL_MS);
  }
}

/** Orders an entry through POST /v1/requests (the plain route: audits and reveals need no route of their own). */
async function submitEntry(urls: readonly string[], entry: Uint8Array, log: (s: string) => void): Promise<string> {
  return (await postFirst(urls, '/v1/requests', { data: toBase64(entry) }, log)).id;
}

/** Polls GET /v1/sign/requests/{id} until `done` accepts an outcome; throws on a refusal or at the deadline. */
async function waitOutcome(urls: readonly string[], id: string, timeoutSeconds: number | undefined, io: Io, done: (o: any) => boolean): Promise<any> {
  const deadline = Date.now() + (timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000;
  for (;;) {
    for (const url of urls) {
      const r = await getJson(`${url}/v1/sign/requests/${id}`).catch(() => null);
      if (r?.status !== 200) continue;
      if (r.body?.ok !== true) throw new Error(`the group refused request ${id}: ${r.body?.code}: ${r.body?.message}`);
      if (done(r.body)) return r.body;
    }
    if (Date.now() + POLL_MS > deadline) throw new Error(`request ${id} was not executed within ${timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS} s`);
    io.err('.');
    await sleep(POLL_MS);
  }
}

async function audit(opts: SignerOptions & { count?: number; round?: number }, io: Io): Promise<number> {
  if (opts.count === undefined || opts.round === undefined) throw new UsageError('give --count K and --round R (a beacon round that is not due yet)');
  const urls = urlsOf(opts);
  const group = await groupOf(opts);
  const b = group.beacon;
  if (b === undefined) throw new Error(`${opts.group} has no randomness beacon (keys.beacon): audits are bound to its rounds`);
  const dueAt = roundTimeMs(opts.round, b.genesisTime, b.period);
  // The sample is fair only if the round is unknown when the population is fixed (signer-audit.ts).
  if (dueAt <= Date.now()) throw new Error(`round ${opts.round} was due at ${new Date(dueAt).toISOString()}: its randomness may be known; schedule a round still to come`);
  const log = (s: string) => io.err(`${s}\n`);
  const id = await submitEntry(urls, encodeAuditEntry({ count: opts.count, round: opts.round }), log);
  const o = await waitOutcome(urls, id, opts.timeout, io, () => true);
  if (opts.json) io.out(`${JSON.stringify({ audit: id, round: o.round, count: o.count, population: o.population, dueAt: new Date(dueAt).toISOString() })}\n`);
  else io.out(`audit ${id}: ${o.count} of the ${o.population} signatures issued so far, drawn from beacon round ${o.round} (due ${new Date(dueAt).toISOString()}); reveal it then with: sintra signer reveal ${id}\n`);
  return 0;
}

async function reveal(auditId: string | undefined, opts: SignerOptions, io: Io): Promise<number> {
  if (auditId === undefined || !/^[0-9a-f]{64}$/.test(auditId)) throw new UsageError('give the AUDIT id (64 hex, printed by sintra signer audit)');
  const urls = urlsOf(opts);
  const group = await groupOf(opts);
  const b = group.beacon;
  if (b === undefined) throw new Error(`${opts.group} has no randomness beacon (keys.beacon)`);
  const scheduled = await waitOutcome(urls, auditId, opts.timeout, io, () => true);
  if (scheduled.op !== 'audit') throw new Error(`${auditId} is not an audit`);
  let sample: string[] | undefined = scheduled.sample;
  if (sample === undefined) {
    const dueAt = roundTimeMs(scheduled.round, b.genesisTime, b.period);
    if (dueAt > Date.now()) throw new Error(`round ${scheduled.round} is due at ${new Date(dueAt).toISOString()}; reveal after that`);
    // The round, from the replicas, verified against the pinned beacon key before it is submitted.
    let signature: string | undefined;
    for (const url of urls) {
      const r = await getJson(`${url}/${toHex(b.chainHash)}/public/${scheduled.round}`).catch(() => null);
      const check = r?.status === 200 ? checkBeaconJson(b, r.body, scheduled.round) : null;
      if (check?.ok) {
        signature = toHex(check.signature);
        break;
      }
    }
    if (signature === undefined) throw new Error(`no replica served a verified beacon round ${scheduled.round}`);
    const log = (s: string) => io.err(`${s}\n`);
    const id = await submitEntry(urls, encodeRevealEntry({ audit: auditId, signature }), log);
    await waitOutcome(urls, id, opts.timeout, io, () => true);
    sample = (await waitOutcome(urls, auditId, opts.timeout, io, (o) => o.sample !== undefined)).sample as string[];
  }
  if (opts.json) io.out(`${JSON.stringify({ audit: auditId, round: scheduled.round, population: scheduled.population, sample })}\n`);
  else io.out(`audit ${auditId}, beacon round ${scheduled.round}: ${sample!.length} of ${scheduled.population} signatures\n${sample!.map((x) => `  ${x}`).join('\n')}\n`);
  return 0;
}

function run(f: (opts: SignerOptions, io: Io) => Promise<number>, io: Io) {
  return async (opts: SignerOptions): Promise<number> => {
    try {
      return await f(opts, io);
    } catch (e) {
      if (e instanceof UsageError) throw e;
      io.err(`error: ${e instanceof CredentialError || e instanceof Error ? e.message : String(e)}\n`);
      return 1;
    }
  };
}

function positive(name: string, max: number) {
  return (value: string): number => {
    if (!/^[1-9][0-9]{0,6}$/.test(value) || Number(value) > max) throw new InvalidArgumentError(`${name} must be an integer in 1..${max}`);
    return Number(value);
  };
}

export function registerSignCommands(program: Command, io: Io, setCode: (code: number) => void): void {
  program
    .command('sign')
    .description("have the group sign a file under its policy (docs/signer.md), or verify a signature offline with --verify")
    .argument('[signature]', 'with --verify: the signature document to check')
    .option('--purpose <purpose>', 'the purpose to sign for (the policy names who may sign what)')
    .option('--file <file>', 'the message to sign (its bytes, as they are)')
    .option('--credential <file>', 'the client credential (sintra signer keygen)')
    .option('--cluster <url>', "a replica's base URL (repeatable; asked in order)", collectUrl)
    .option('--group <file>', "the group's public group.json (pins the key the signature is verified with)")
    .option('--out <file>', 'where the verified signature document goes (never overwritten without --force)')
    .option('--force', 'overwrite the --out file if it exists')
    .option('--signature-out <file>', 'also write the raw signature bytes (for openssl dgst -sha256 -verify with an RSA purpose)')
    .option('--nonce <hex>', 'make the request unique (1-64 bytes of hex), e.g. to sign one message twice')
    .option('--verify <file>', 'verify offline that SIGNATURE is the group\'s signature of FILE, with the receipt of its log entry')
    .option('--timeout <seconds>', `give up after this long (default ${DEFAULT_TIMEOUT_SECONDS})`, seconds)
    .option('--json', 'print the result as one JSON object')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  sintra sign --purpose demo --file package.json --credential .sintra/keys/signer-demo.json --cluster http://127.0.0.1:8787 --group .sintra/keys/group.json --out sig.json',
        '  sintra sign --verify package.json sig.json --group .sintra/keys/group.json',
      ].join('\n'),
    )
    .action(async (signature: string | undefined, opts: SignOptions) => setCode(await signCommand(signature, opts, io)));

  const signer = program.command('signer').description('the signing service: credentials and the policy (docs/signer.md)');
  signer
    .command('keygen')
    .description('make an Ed25519 credential for a client or an administrator (JSON, mode 0600, never overwritten)')
    .option('--name <name>', 'the name in the policy')
    .option('--out <file>', 'the credential file to write')
    .option('--json', 'print {out, name, publicKey} as JSON')
    .action(async (opts: SignerOptions) => setCode(await run(keygen, io)(opts)));

  signer
    .command('audit')
    .description('schedule a random audit sample of the signatures issued so far, bound to a beacon round still to come')
    .option('--count <k>', 'how many signatures to sample (1-256)', positive('--count', 256))
    .option('--round <r>', 'the beacon round whose randomness draws the sample (not due yet)', positive('--round', Number.MAX_SAFE_INTEGER))
    .option('--cluster <url>', "a replica's base URL (repeatable; asked in order)", collectUrl)
    .option('--group <file>', "the group's public group.json")
    .option('--timeout <seconds>', `give up after this long (default ${DEFAULT_TIMEOUT_SECONDS})`, seconds)
    .option('--json', 'print the result as one JSON object')
    .action(async (opts: SignerOptions & { count?: number; round?: number }) => setCode(await run((o) => audit(o, io), io)(opts)));
  signer
    .command('reveal')
    .description("reveal an audit once its round is due: the round (verified against the group's beacon key) is ordered, and the replicas draw the sample")
    .argument('[audit]', 'the audit id (from sintra signer audit)')
    .option('--cluster <url>', "a replica's base URL (repeatable; asked in order)", collectUrl)
    .option('--group <file>', "the group's public group.json")
    .option('--timeout <seconds>', `give up after this long (default ${DEFAULT_TIMEOUT_SECONDS})`, seconds)
    .option('--json', 'print the result as one JSON object')
    .action(async (auditId: string | undefined, opts: SignerOptions) => setCode(await run((o) => reveal(auditId, o, io), io)(opts)));

  signer
    .command('rsa-key')
    .description("the signing service's RSA public key as PEM, from the pinned group.json (offline), for openssl dgst -sha256 -verify")
    .option('--group <file>', "the group's public group.json")
    .option('--out <file>', 'write the PEM here instead of stdout')
    .option('--force', 'overwrite the --out file if it exists')
    .action(async (opts: SignerOptions) => setCode(await run(rsaKey, io)(opts)));

  const policy = signer.command('policy').description('make, read and change the signing policy');
  policy
    .command('init')
    .description('write a first policy (version 1) from credentials, for sintra deal --signer-policy')
    .option('--admin <file>', 'an administrator credential (repeatable)', collect)
    .option('--threshold <k>', 'administrator signatures a change needs (default 1)', positive('--threshold', 32))
    .option('--client <file>', 'a client credential (repeatable)', collect)
    .option('--purpose <purpose>', 'a purpose every client may sign for (repeatable)', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option('--max-message-bytes <n>', 'the purposes\' size limit (default 16384)', positive('--max-message-bytes', 16384))
    .option('--out <file>', 'the policy file')
    .option('--force', 'overwrite the --out file if it exists')
    .action(async (opts: SignerOptions & { purpose?: string[] }) => setCode(await run(policyInit, io)({ ...opts, purposes: opts.purpose as unknown as string[] })));
  policy
    .command('get')
    .description('the policy in force at the latest signed checkpoint, verified against --group')
    .option('--cluster <url>', "a replica's base URL (repeatable; asked in order)", collectUrl)
    .option('--group <file>', "the group's public group.json")
    .option('--out <file>', 'save the verified statement')
    .option('--force', 'overwrite the --out file if it exists')
    .option('--json', 'print the result as one JSON object')
    .action(async (opts: SignerOptions) => setCode(await run(policyGet, io)(opts)));
  policy
    .command('approve')
    .description("an administrator's signature of a new policy (offline)")
    .option('--policy <file>', 'the whole new policy (version = the one in force + 1)')
    .option('--credential <file>', 'the administrator credential')
    .option('--group <file>', "the group's public group.json")
    .option('--out <file>', 'the approval file')
    .option('--force', 'overwrite the --out file if it exists')
    .action(async (opts: SignerOptions) => setCode(await run(policyApprove, io)(opts)));
  policy
    .command('submit')
    .description('submit a new policy with enough approvals; waits until a verified statement shows it in force')
    .option('--policy <file>', 'the whole new policy')
    .option('--approval <file>', 'an approval (repeatable)', collect)
    .option('--cluster <url>', "a replica's base URL (repeatable; asked in order)", collectUrl)
    .option('--group <file>', "the group's public group.json")
    .option('--timeout <seconds>', `give up after this long (default ${DEFAULT_TIMEOUT_SECONDS})`, seconds)
    .option('--json', 'print the result as one JSON object')
    .action(async (opts: SignerOptions) => setCode(await run(policySubmit, io)(opts)));
}


/**
 * `sintra monitor` (follow the replicas' signed checkpoints and entries, stop with the evidence of a liar or
 * a fork: shared/client/monitor.ts) and `sintra verify --consistency OLD NEW` (are two saved signed
 * checkpoints of one history? shared/client/consistency.ts).
 *
 * Also `sintra export` (the log as a C2SP tiles folder, checked) and `sintra verify --archive`.
 *
 * Exit codes: 0 consistent / no evidence; 1 evidence (a fork, a liar), or a file that does not verify;
 * 2 usage; 3 undecided (no replica gave a consistency proof, and those that failed are not a kernel).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { checkConsistency, proofAnswer } from '../../shared/client/consistency.ts';
import { runMonitor } from '../../shared/client/monitor.ts';
import { verifyTileArchive } from '../../shared/client/tile-archive.ts';
import { verifyCheckpointNote } from '../../shared/log/checkpoint-note.ts';
import type { MonitorEvent } from '../../shared/client/monitor.ts';
import { SintraClient } from '../../shared/client/sdk.ts';
import { checkpointFromJson, checkpointToJson, verifyCheckpoint } from '../../shared/log/checkpoint.ts';
import type { SignedCheckpoint } from '../../shared/log/checkpoint.ts';
import type { Io } from './deal.ts';
import { UsageError } from './deal.ts';
import { collectUrl, nodeFetch } from './client.ts';
import { InvalidArgumentError } from 'commander';
import { loadGroupFile, offlineCheck } from './verify.ts';

// A ref'd timer: the wait between rounds is what keeps the process alive (an unref'd one let Node end it
// with exit 13 before the second round).
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface MonitorCommandOptions {
  cluster?: string[];
  group?: string;
  interval?: number;
  rounds?: string;
  json?: boolean;
}

function describe(e: MonitorEvent): string {
  switch (e.type) {
    case 'checkpoint':
      return `checkpoint  ${e.url}: size ${e.size}, epoch ${e.epoch}, root ${e.root.slice(0, 16)}... (signature and consistency verified)`;
    case 'entries':
      return `entries     ${e.from}..${e.to - 1} from ${e.url} give the signed root ${e.root.slice(0, 16)}...`;
    case 'unreachable':
      return `unreachable ${e.url}: ${e.reason}`;
    case 'liar':
      return `LIAR        ${e.url} ${e.reason}${e.checkpoint ? `\n            checkpoint: ${JSON.stringify(e.checkpoint)}` : ''}`;
    case 'fork':
      return `FORK        ${e.why}\n            older: ${JSON.stringify(e.older)}\n            newer: ${JSON.stringify(e.newer)}`;
  }
}

export async function monitorCommand(opts: MonitorCommandOptions, io: Io): Promise<number> {
  if (!opts.group) throw new UsageError("required option '--group <file>' not specified (the monitor checks every signature against it)");
  if (!opts.cluster?.length) throw new UsageError('give the replicas to follow with --cluster URL (repeatable; all of them, ideally)');
  const rounds = opts.rounds === undefined ? undefined : Number(opts.rounds);
  if (rounds !== undefined && (!Number.isSafeInteger(rounds) || rounds < 1)) throw new UsageError('--rounds: a positive integer');
  const group = await loadGroupFile(opts.group);
  const r = await runMonitor({
    group,
    urls: opts.cluster,
    fetch: nodeFetch,
    sleep,
    patienceMs: 10_000,
    intervalMs: (opts.interval ?? 10) * 1000,
    ...(rounds !== undefined ? { rounds } : {}),
    onEvent: (e) => (opts.json ? io.out(`${JSON.stringify(e)}\n`) : (e.type === 'liar' || e.type === 'fork' ? io.err : io.out)(`${describe(e)}\n`)),
  });
  if (!r.ok) return 1;
  if (!opts.json) io.out(`no evidence of misbehaviour; ${r.verifiedSize} entries verified against checkpoint size ${r.newest?.size ?? 0}\n`);
  return 0;
}

export interface ConsistencyCommandOptions {
  group?: string;
  cluster?: string[];
  json?: boolean;
}

/** A checkpoint from a saved file: GET /v1/log/checkpoint's JSON, or a receipt or statement holding one. */
function checkpointIn(json: unknown): SignedCheckpoint {
  const o = json as { checkpoint?: unknown } | null;
  return checkpointFromJson(o && typeof o === 'object' && 'checkpoint' in o ? o.checkpoint : json);
}

export async function consistencyCommand(files: readonly string[], opts: ConsistencyCommandOptions, io: Io): Promise<number> {
  if (!opts.group) throw new UsageError("required option '--group <file>' not specified");
  if (files.length !== 2) throw new UsageError('--consistency takes two saved checkpoints: OLD NEW');
  const { fail, load } = offlineCheck(io, opts.json);
  const cps: SignedCheckpoint[] = [];
  let group;
  for (const f of files) {
    const loaded = await load(opts.group, f, 'checkpoint');
    if (typeof loaded === 'number') return loaded;
    group = loaded.group;
    let cp: SignedCheckpoint;
    try {
      cp = checkpointIn(loaded.json);
    } catch (e) {
      return fail(`${f}: not a checkpoint (${e instanceof Error ? e.message : String(e)})`);
    }
    if (!verifyCheckpoint(group.kernel.groupKey, group.groupId, cp)) return fail(`${f}: the checkpoint's signature does not verify with the group's key`);
    cps.push(cp);
  }
  const [a, b] = cps as [SignedCheckpoint, SignedCheckpoint];
  if (a.size !== b.size && !opts.cluster?.length) throw new UsageError('the sizes differ: a consistency proof is needed, give replicas with --cluster URL (any of them: the proof is checked here)');
  const client = opts.cluster?.length ? new SintraClient({ group: group!, urls: opts.cluster, fetch: nodeFetch, sleep, patienceMs: 10_000 }) : null;
  const replicas = client ? (await client.replicas()).ok : [];
  const v = await checkConsistency(group!, a, b, replicas, async (url, first, second) => {
    const res = await nodeFetch(`${url}/v1/log/consistency?first=${first}&second=${second}`);
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return { unavailable: `HTTP ${res.status}: not JSON` };
    }
    return proofAnswer(res.status, json, `HTTP ${res.status}`);
  });
  for (const l of 'liars' in v ? v.liars : []) io.err(`warning: ${l.url} ${l.reason}\n`);
  const summary = (kind: string, extra: Record<string, unknown>) => (opts.json ? io.out(`${JSON.stringify({ result: kind, ...extra })}\n`) : undefined);
  if (v.kind === 'consistent') {
    summary('consistent', { older: checkpointToJson(v.older), newer: checkpointToJson(v.newer), provedBy: v.provedBy });
    if (!opts.json) io.out(`consistent: the checkpoint of size ${v.newer.size} (epoch ${v.newer.epoch}) extends the one of size ${v.older.size} (epoch ${v.older.epoch})${v.provedBy ? `; proof from ${v.provedBy}, verified here` : ''}\n`);
    return 0;
  }
  if (v.kind === 'fork') {
    summary('fork', { why: v.why, older: checkpointToJson(v.older), newer: checkpointToJson(v.newer) });
    io.err(`error: FORK: the group signed two histories (${v.why}); both checkpoints verify: more replicas are corrupt than the group tolerates\n`);
    return 1;
  }
  if (v.kind === 'bad-signature') return fail(`the ${v.which} checkpoint's signature does not verify`);
  summary('undecided', { why: v.why });
  io.err(`error: undecided: ${v.why}; ask more replicas\n`);
  return 3;
}

export function registerMonitorCommand(program: Command, io: Io, setCode: (code: number) => void): void {
  program
    .command('monitor')
    .description("follow the replicas' signed checkpoints and entries; stop with the evidence of a liar or a fork (exit 1)")
    .option('--cluster <url>', "a replica's base URL (repeatable; follow all of them)", collectUrl)
    .option('--group <file>', "the group's public group.json: every signature is checked against it")
    .option('--interval <seconds>', 'between rounds (default 10)', (v: string) => {
      if (!/^[0-9]{1,6}$/.test(v) || Number(v) < 1) throw new InvalidArgumentError('--interval must be a whole number of seconds >= 1');
      return Number(v);
    })
    .option('--rounds <n>', 'stop after N rounds (default: run until evidence is found)')
    .option('--json', 'one JSON object per event on stdout')
    .addHelpText('after', ['', 'Exit codes: 0 no evidence (after --rounds), 1 evidence (printed), 2 usage.', 'Example:', '  sintra monitor --cluster http://127.0.0.1:8787 --cluster http://127.0.0.1:8788 --group .sintra/keys/group.json'].join('\n'))
    .action(async (opts: MonitorCommandOptions) => setCode(await monitorCommand(opts, io)));
}

export interface ExportCommandOptions {
  cluster?: string[];
  group?: string;
  out?: string;
  json?: boolean;
}

/**
 * `sintra export --cluster URL... --group G --out DIR`: the log as a C2SP tlog-tiles folder (DIR/checkpoint,
 * DIR/tile/...), every tile checked against the signed checkpoint before the note is written (last, so a
 * folder never claims more than its tiles). Full tiles already in DIR are immutable and not fetched again.
 * The folder can be served as is by any static host; `sintra verify --archive DIR` checks it again.
 */
export async function exportCommand(opts: ExportCommandOptions, io: Io): Promise<number> {
  if (!opts.group) throw new UsageError("required option '--group <file>' not specified");
  if (!opts.cluster?.length) throw new UsageError('give replicas to export from with --cluster URL (repeatable)');
  if (!opts.out) throw new UsageError("required option '--out <dir>' not specified");
  const group = await loadGroupFile(opts.group);
  const urls = opts.cluster.map((u) => u.replace(/\/+$/, ''));
  let note: string | null = null;
  for (const u of urls) {
    try {
      const res = await nodeFetch(`${u}/checkpoint`);
      const text = await res.text();
      if (res.status === 200 && verifyCheckpointNote(group.groupId, group.kernel.groupKey, text).ok) {
        note = text;
        break;
      }
      io.err(`warning: ${u}/checkpoint: ${res.status === 200 ? 'the note does not verify' : `HTTP ${res.status}`}\n`);
    } catch (e) {
      io.err(`warning: ${u}: ${e instanceof Error ? e.message : String(e)}\n`);
    }
  }
  if (!note) {
    io.err('error: no replica served a checkpoint note that verifies with the group\n');
    return 1;
  }
  const out = opts.out;
  let fetched = 0;
  let kept = 0;
  const read = async (path: string): Promise<Uint8Array | null> => {
    const file = join(out, 'tile', path);
    if (!path.includes('.p/')) {
      const local = await readFile(file).catch(() => null);
      if (local) {
        kept++;
        return new Uint8Array(local);
      }
    }
    for (const u of urls) {
      try {
        const res = await nodeFetch(`${u}/tile/${path}`);
        if (res.status !== 200) continue;
        fetched++;
        return new Uint8Array(await (res as unknown as Response).arrayBuffer());
      } catch {
        // the next replica
      }
    }
    return null;
  };
  let done = 0;
  const v = await verifyTileArchive(group, note, read, async (path, bytes) => {
    const file = join(out, 'tile', path);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, bytes);
    if (++done % 500 === 0) io.err(`  ${done} tiles checked\n`);
  });
  if (!v.ok) {
    io.err(`error: the export does not verify: ${v.reason}; nothing claims it (no checkpoint written)\n`);
    return 1;
  }
  await writeFile(join(out, 'checkpoint'), note);
  const line = { exported: out, size: v.checkpoint.size, epoch: v.checkpoint.epoch, tiles: v.tiles, fetched, kept };
  io.out(opts.json ? `${JSON.stringify(line)}\n` : `exported ${v.checkpoint.size} entries (${v.tiles} tiles: ${fetched} fetched, ${kept} already there) to ${out}, checked against the signed checkpoint of epoch ${v.checkpoint.epoch}\n`);
  return 0;
}

/** `sintra verify --archive DIR --group G`: an exported folder checked offline. */
export async function verifyArchiveCommand(dir: string, opts: { group?: string; json?: boolean }, io: Io): Promise<number> {
  if (!opts.group) throw new UsageError("required option '--group <file>' not specified");
  const { fail } = offlineCheck(io, opts.json);
  const group = await loadGroupFile(opts.group);
  const note = await readFile(join(dir, 'checkpoint'), 'utf8').catch(() => null);
  if (note === null) return fail(`${dir}/checkpoint is missing (not an export, or an unfinished one)`);
  const v = await verifyTileArchive(group, note, async (path) => {
    const b = await readFile(join(dir, 'tile', path)).catch(() => null);
    return b ? new Uint8Array(b) : null;
  });
  if (!v.ok) return fail(`invalid archive ${dir}: ${v.reason}`);
  io.out(opts.json ? `${JSON.stringify({ valid: true, size: v.checkpoint.size, epoch: v.checkpoint.epoch, tiles: v.tiles })}\n` : `valid archive: ${v.checkpoint.size} entries in ${v.tiles} tiles give the root the group signed at epoch ${v.checkpoint.epoch}\n`);
  return 0;
}

export function registerExportCommand(program: Command, io: Io, setCode: (code: number) => void): void {
  program
    .command('export')
    .description('save the log as a C2SP tlog-tiles folder, checked against the signed checkpoint (re-run to add new tiles)')
    .option('--cluster <url>', "a replica's base URL (repeatable; tiles are taken from any that serves them)", collectUrl)
    .option('--group <file>', "the group's public group.json")
    .option('--out <dir>', 'the folder (created; full tiles already there are kept)')
    .option('--json', 'print the result as one JSON object')
    .addHelpText('after', ['', 'Example:', '  sintra export --cluster http://127.0.0.1:8787 --group .sintra/keys/group.json --out log-archive', '  sintra verify --archive log-archive --group .sintra/keys/group.json'].join('\n'))
    .action(async (opts: ExportCommandOptions) => setCode(await exportCommand(opts, io)));
}

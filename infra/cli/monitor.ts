/**
 * `sintra monitor` (follow the replicas' signed checkpoints and entries, stop with the evidence of a liar or
 * a fork: shared/client/monitor.ts) and `sintra verify --consistency OLD NEW` (are two saved signed
 * checkpoints of one history? shared/client/consistency.ts).
 *
 * Exit codes: 0 consistent / no evidence; 1 evidence (a fork, a liar), or a file that does not verify;
 * 2 usage; 3 undecided (no replica gave a consistency proof, and those that failed are not a kernel).
 */
import type { Command } from 'commander';
import { checkConsistency } from '../../shared/client/consistency.ts';
import { runMonitor } from '../../shared/client/monitor.ts';
import type { MonitorEvent } from '../../shared/client/monitor.ts';
import { SintraClient } from '../../shared/client/sdk.ts';
import { fromHex } from '../../shared/crypto/bytes.ts';
import { checkpointFromJson, checkpointToJson, verifyCheckpoint } from '../../shared/log/checkpoint.ts';
import type { SignedCheckpoint } from '../../shared/log/checkpoint.ts';
import type { Io } from './deal.ts';
import { UsageError } from './deal.ts';
import { nodeFetch } from './stamp.ts';
import { InvalidArgumentError } from 'commander';
import { collectUrl } from './submit.ts';
import { loadGroupFile, offlineCheck } from './verify.ts';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref?.());

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
    const j = JSON.parse(await res.text()) as { proof?: unknown };
    if (res.status !== 200) return { unavailable: `HTTP ${res.status}` };
    if (!Array.isArray(j.proof) || !j.proof.every((h) => typeof h === 'string' && /^[0-9a-f]{64}$/.test(h))) return { proof: [new Uint8Array(0)] };
    return { proof: j.proof.map((h: string) => fromHex(h, 32)) };
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

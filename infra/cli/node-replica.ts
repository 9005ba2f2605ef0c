/**
 * `sintra node-replica`: one replica as a Node process (workers/node), for a VM or a container, and for
 * the Node half of `sintra start --mixed`. Options override the environment variables of the same
 * meaning (docs/operations.md, "Node replicas"); the Redis token is only read from the environment, so it
 * does not show in process listings. Prints one line `listening URL` on stdout once it serves; SIGINT or
 * SIGTERM stops it cleanly. On stderr it writes JSON log lines (workers/core/log.ts: `listening`, the
 * replica's events, `stopping` with its `reason`); a failure to start is the CLI's one `error:` line.
 */
import { Command, Option } from 'commander';
import { logLine } from '../../workers/core/log.ts';
import type { StoreSpec } from '../../workers/node/config.ts';
import type { Io } from './deal.ts';
import { UsageError } from './deal.ts';
import { integer } from './options.ts';

export interface NodeReplicaCommandOptions {
  group?: string;
  secrets?: string;
  peers?: string;
  port?: number;
  host?: string;
  data?: string;
  redisUrl?: string;
  redisPrefix?: string;
  json?: boolean;
  /** Stop when standard input closes (a parent process that starts replicas as children). */
  exitWithStdin?: boolean;
  /** Tests: resolves to stop instead of waiting for a signal. */
  stop?: Promise<void>;
}

export async function nodeReplicaCommand(opts: NodeReplicaCommandOptions, io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (opts.data && opts.redisUrl) throw new UsageError('give --data or --redis-url, not both');
  // Loaded here, not with the CLI: the other commands (verify above all) need neither hono nor a store.
  const [{ storeSpecFromEnv }, { startNodeReplica, untilSignal }] = await Promise.all([import('../../workers/node/config.ts'), import('../../workers/node/server.ts')]);
  const merged: Record<string, string | undefined> = { ...env };
  if (opts.group) merged['SINTRA_GROUP_FILE'] = opts.group;
  if (opts.group) delete merged['SINTRA_GROUP'];
  if (opts.secrets) merged['SINTRA_SECRETS_FILE'] = opts.secrets;
  if (opts.peers) merged['SINTRA_PEERS'] = opts.peers;
  if (opts.redisPrefix) merged['SINTRA_REDIS_PREFIX'] = opts.redisPrefix;
  let store: StoreSpec | undefined;
  if (opts.data) store = { kind: 'file', dir: opts.data };
  else if (opts.redisUrl) store = storeSpecFromEnv({ ...merged, UPSTASH_REDIS_REST_URL: opts.redisUrl });
  const served = await startNodeReplica({
    env: merged,
    port: opts.port ?? Number(env['PORT'] ?? 8787),
    hostname: opts.host ?? env['HOST'] ?? '127.0.0.1',
    ...(store ? { store } : {}),
    log: (line) => io.err(`${line}\n`),
  });
  io.out(opts.json ? `${JSON.stringify({ listening: served.url, replica: served.replica.id })}\n` : `listening ${served.url}\n`);
  // Why it stops: a signal's name, `stdin-closed` (the parent went away), or `stop` (tests).
  const stops: Promise<string>[] = [opts.stop ? opts.stop.then(() => 'stop') : untilSignal()];
  if (opts.exitWithStdin) {
    stops.push(new Promise<string>((resolve) => {
      process.stdin.on('end', () => resolve('stdin-closed'));
      process.stdin.on('close', () => resolve('stdin-closed'));
      process.stdin.resume();
    }));
  }
  const why = await Promise.race(stops);
  const id = served.replica.id;
  io.err(`${logLine('info', id, 'stopping', `replica ${id}: ${why}, stopping`, { reason: why })}\n`);
  await served.close();
  if (opts.exitWithStdin) process.stdin.destroy();
  return 0;
}

export function registerNodeReplicaCommand(program: Command, io: Io, setCode: (code: number) => void): void {
  program
    .command('node-replica')
    .description('run one replica as a Node process: state in Redis (Upstash REST) or a local data folder')
    .option('--group <file>', "the group's group.json (else SINTRA_GROUP / SINTRA_GROUP_FILE)")
    .option('--secrets <file>', "this replica's <id>.secrets.json (else SINTRA_SECRETS_FILE or the SINTRA_* secret variables)")
    .option('--peers <urls>', "the replicas' base URLs by index: a JSON array or comma-separated (else SINTRA_PEERS)")
    .option('--port <port>', 'port to listen on (else PORT, default 8787)', integer('--port', 0, 65535))
    .option('--host <address>', 'address to listen on (else HOST, default 127.0.0.1)')
    .option('--data <dir>', 'keep state in this folder (else SINTRA_DATA_DIR)')
    .option('--redis-url <url>', 'keep state in Redis at this Upstash REST URL (token from UPSTASH_REDIS_REST_TOKEN)')
    .option('--redis-prefix <prefix>', 'Redis key prefix (default sintra:{<group id>:<replica id>})')
    .option('--json', 'print the listening line as JSON')
    .addOption(new Option('--exit-with-stdin', 'stop when standard input closes').hideHelp())
    .addHelpText(
      'after',
      [
        '',
        'Without --data or --redis-url the store comes from UPSTASH_REDIS_REST_URL + UPSTASH_REDIS_REST_TOKEN or SINTRA_DATA_DIR.',
        'Example:',
        '  sintra node-replica --group keys/group.json --secrets keys/r3.secrets.json \\',
        '    --peers https://r1.example,https://r2.example,http://127.0.0.1:8789,https://r4.example --port 8789 --data /var/lib/sintra/r3',
      ].join('\n'),
    )
    .action(async (opts: NodeReplicaCommandOptions) => setCode(await nodeReplicaCommand(opts, io)));
}

/**
 * A real `redis-server` for tests (issue 5: the Redis-backed replica is tested against Redis itself, not a
 * mock): one process on a free loopback port with its own temp dir, no RDB snapshots, and by default an
 * append-only file fsynced on every write (appendonly yes, appendfsync always), the persistence a replica
 * demands of Redis (workers/node/redis-store.ts refuses anything less): a test may SIGKILL and restart the
 * server without losing what it acknowledged. `durable: false` starts one without persistence, for the
 * tests of that refusal and of storage that goes back in time.
 *
 * Where no redis-server binary exists the tests that need it are skipped (`describe.skipIf(!HAVE_REDIS)`)
 * with REDIS_SKIP_MESSAGE.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePorts } from './ports.ts';

function findRedisServer(): string | null {
  const candidates = [process.env['REDIS_SERVER'], '/usr/bin/redis-server', ...(process.env['PATH'] ?? '').split(delimiter).map((d) => join(d, 'redis-server'))];
  for (const c of candidates) {
    if (!c) continue;
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not here
    }
  }
  return null;
}

export const REDIS_SERVER_BINARY = findRedisServer();
export const HAVE_REDIS = REDIS_SERVER_BINARY !== null;
export const REDIS_SKIP_MESSAGE =
  'redis-server not found: the Redis-backed replica tests are SKIPPED. Enable them with `apt install redis-server` (Debian/Ubuntu) or set REDIS_SERVER=/path/to/redis-server.';

if (!HAVE_REDIS) console.warn(REDIS_SKIP_MESSAGE);

export interface RedisServerOptions {
  /**
   * appendonly yes + appendfsync always (default): a SIGKILLed server restarts with every acknowledged
   * write. false: no persistence at all (a restart loses everything), which a replica refuses.
   */
  readonly durable?: boolean;
}

export interface TestRedis {
  readonly port: number;
  readonly dir: string;
  /** Whether the server process is running. */
  running(): boolean;
  /** Kills the server (default SIGKILL) and waits for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and dir. */
  restart(): Promise<void>;
  /** Stops it and deletes its dir. */
  stop(): Promise<void>;
}

async function pingable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.setTimeout(500);
    s.once('connect', () => s.write('*1\r\n$4\r\nPING\r\n'));
    s.once('data', (d) => {
      s.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

export async function startRedis(o: RedisServerOptions = {}): Promise<TestRedis> {
  if (!REDIS_SERVER_BINARY) throw new Error(REDIS_SKIP_MESSAGE);
  const binary = REDIS_SERVER_BINARY;
  const [port] = await freePorts(1);
  const dir = mkdtempSync(join(tmpdir(), 'sintra-redis-'));
  let proc: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  const launch = async (): Promise<void> => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--daemonize', 'no', '--protected-mode', 'yes', '--loglevel', 'warning'];
    args.push(...(o.durable !== false ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']));
    const p = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    proc = p;
    exited = new Promise<void>((r) => p.once('exit', () => r()));
    const deadline = Date.now() + 10_000;
    while (!(await pingable(port!))) {
      if (p.exitCode !== null || Date.now() > deadline) {
        p.kill('SIGKILL');
        throw new Error(`redis-server did not start on port ${port}: ${stderr.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    p.kill(signal);
    await exited;
  };

  await launch();
  return {
    port: port!,
    dir,
    running: () => proc !== null && proc.exitCode === null && proc.signalCode === null,
    kill,
    restart: async () => {
      await kill();
      await launch();
    },
    stop: async () => {
      await kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Forks the client processes of client.ts and aggregates what they report. */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ClientConfig, ClientResult } from './client.ts';
import { descendants, percentiles, round1 } from './stats.ts';
import type { Percentiles } from './stats.ts';

const CLIENT = fileURLToPath(new URL('./client.ts', import.meta.url));

/**
 * Forks a TypeScript module of this folder as a child process with IPC (tsx as the loader). The child's
 * stdout goes to our stderr: with --json our stdout carries exactly one JSON document, and workerd (under
 * Miniflare) prints the replicas' console output to its parent's stdout.
 */
export function forkTs(path: string, args: string[] = [], env?: NodeJS.ProcessEnv): ChildProcess {
  return fork(path, args, { execArgv: ['--expose-gc', '--import', import.meta.resolve('tsx')], stdio: ['ignore', 2, 2, 'ipc'], ...(env ? { env } : {}) });
}

/**
 * Runs `run(opts)` of a module in a fresh child process (clean heap and CPU accounting; see serveChild).
 * Protocol: child 'ready' -> parent {type:'run', opts} -> child 'log'* then 'result' | 'error'.
 */
export function runInChild<O, R>(path: string, opts: O, log?: (line: string) => void, timeoutMs?: number): Promise<R> {
  const child = forkTs(path);
  let timer: NodeJS.Timeout | undefined;
  return new Promise<R>((resolve, reject) => {
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        // The child and everything it started (workerd under Miniflare) go: a hung replica must not hang the run.
        void killTree(child.pid!).finally(() => reject(new Error(`benchmark child ${path} did not finish within ${timeoutMs} ms`)));
      }, timeoutMs);
    }
    child.on('message', (m: { type: string; line?: string; result?: R; error?: string }) => {
      if (m.type === 'ready') child.send({ type: 'run', opts });
      else if (m.type === 'log') log?.(m.line!);
      else if (m.type === 'result') resolve(m.result!);
      else if (m.type === 'error') reject(new Error(m.error));
    });
    child.once('exit', (code) => reject(new Error(`benchmark child ${path} exited with ${code}`)));
  }).finally(() => {
    clearTimeout(timer);
    if (child.exitCode === null) child.kill();
  });
}

/** SIGKILLs a process and its descendants (Linux /proc; elsewhere just the process). */
export async function killTree(pid: number): Promise<void> {
  const kids = await descendants(pid).catch(() => []);
  for (const k of [...kids].reverse()) {
    try {
      process.kill(k.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

/** The child side of runInChild: call from a module's main block when process.send exists. */
export function serveChild<O, R>(run: (opts: O, log: (line: string) => void) => R | Promise<R>): void {
  process.on('message', (m: { type: string; opts: O }) => {
    if (m.type !== 'run') return;
    Promise.resolve()
      .then(() => run(m.opts, (line) => process.send!({ type: 'log', line })))
      .then(
        (result) => process.send!({ type: 'result', result }, () => process.exit(0)),
        (e) => process.send!({ type: 'error', error: String(e instanceof Error ? e.stack : e) }, () => process.exit(1)),
      );
  });
  process.send!({ type: 'ready' });
}

export interface LoadResult {
  readonly clients: number;
  readonly concurrency_per_client: number;
  readonly max_outstanding_per_client: number;
  readonly window_s: number;
  /** Certified requests per second in the window, all clients together. */
  readonly certified_rps: number;
  readonly accepted_rps: number;
  /** All certified requests / time from the clients' start to the last certification (warm-up and drain included). */
  readonly overall_certified_rps: number;
  readonly latency_ms: Percentiles;
  readonly post_latency_ms: Percentiles;
  readonly submitted: number;
  readonly accepted: number;
  readonly certified: number;
  readonly uncertified_at_end: number;
  readonly status_counts: Record<string, number>;
  readonly errors: number;
  readonly last_error: string | null;
  readonly client_cpu_ms: number;
  readonly sample: { id: string; url: string }[];
}

export async function runClients(configs: readonly ClientConfig[], timeoutMs: number): Promise<LoadResult> {
  const children = configs.map(() => forkTs(CLIENT));
  const ready = children.map((c) => new Promise<void>((resolve, reject) => {
    c.once('message', (m: { type: string }) => (m.type === 'ready' ? resolve() : reject(new Error(`client: ${JSON.stringify(m)}`))));
    c.once('error', reject);
  }));
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.all(ready);
    const results = await Promise.race([
      Promise.all(
        children.map(
          (c, i) =>
            new Promise<ClientResult>((resolve, reject) => {
              c.on('message', (m: { type: string; message?: string } & ClientResult) => {
                if (m.type === 'result') resolve(m);
                else if (m.type === 'error') reject(new Error(`client ${i}: ${m.message}`));
              });
              c.once('exit', (code) => reject(new Error(`client ${i} exited with ${code}`)));
              c.send({ type: 'start', ...configs[i]! });
            }),
        ),
      ),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`clients did not finish within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return aggregate(configs, results);
  } finally {
    clearTimeout(timer);
    for (const c of children) if (c.exitCode === null) c.kill();
  }
}

function aggregate(configs: readonly ClientConfig[], rs: readonly ClientResult[]): LoadResult {
  const windowS = configs[0]!.durationMs / 1000;
  const status: Record<string, number> = {};
  for (const r of rs) for (const [k, v] of Object.entries(r.statusCounts)) status[k] = (status[k] ?? 0) + v;
  const sum = (f: (r: ClientResult) => number) => rs.reduce((a, r) => a + f(r), 0);
  return {
    clients: rs.length,
    concurrency_per_client: configs[0]!.concurrency,
    max_outstanding_per_client: configs[0]!.maxOutstanding ?? configs[0]!.concurrency,
    window_s: windowS,
    certified_rps: round1(sum((r) => r.certifiedInWindow) / windowS),
    accepted_rps: round1(sum((r) => r.acceptedInWindow) / windowS),
    overall_certified_rps: (() => {
      const last = Math.max(...rs.map((r) => r.lastCertifiedMs));
      return last > 0 ? round1(sum((r) => r.certified) / (last / 1000)) : 0;
    })(),
    latency_ms: percentiles(rs.flatMap((r) => r.latencies)),
    post_latency_ms: percentiles(rs.flatMap((r) => r.postLatencies)),
    submitted: sum((r) => r.submitted),
    accepted: sum((r) => r.accepted),
    certified: sum((r) => r.certified),
    uncertified_at_end: sum((r) => r.outstandingAtEnd),
    status_counts: status,
    errors: sum((r) => r.errors),
    last_error: rs.map((r) => r.lastError).find((e) => e) ?? null,
    client_cpu_ms: sum((r) => r.cpuMs),
    sample: rs.flatMap((r) => r.sample),
  };
}

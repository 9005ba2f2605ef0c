/**
 * `sintra ...` as a user runs it: its own Node process (infra/bin/sintra.mjs), asynchronously, so that a
 * test process that also serves replicas (Miniflare's loopback server, node:http fakes) keeps serving
 * while the CLI talks to them. In-process calls of main() hide what only a process shows (a timer that
 * does not keep it alive, an exit code set but not returned, output after exit).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const SINTRA_BIN = fileURLToPath(new URL('../../infra/bin/sintra.mjs', import.meta.url));

export interface CliRun {
  /** The exit code (null if a signal ended it). */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly out: string;
  readonly err: string;
}

/** Runs `node infra/bin/sintra.mjs ...args`; kills it (SIGKILL) after `timeoutMs`. */
export function runSintra(args: readonly string[], o: { readonly cwd?: string; readonly timeoutMs?: number } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SINTRA_BIN, ...args], { cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 90_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    // 'close', not 'exit': the pipes are drained then.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err });
    });
  });
}

/** The non-empty lines of a stream's text. */
export const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');

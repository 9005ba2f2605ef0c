/**
 * One process per data folder (workers/node/folder-lock.ts): a live owner is named and refused, a dead
 * one's lock is taken over; `sintra start` on a folder another live process holds prints one line naming
 * that process, exits 1, and deals nothing.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLUSTER_LOCK } from '../../infra/cluster/local-cluster.ts';
import { FolderLock } from '../../workers/node/folder-lock.ts';
import { StoreLockedError } from '../../workers/node/store-errors.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'sintra-lock-'));
  dirs.push(d);
  return d;
};

/** A live process that is not this one (killed in afterAll). */
const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 120000)'], { stdio: 'ignore' });
afterAll(() => {
  other.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('FolderLock', () => {
  it('refuses a folder held by a live process and names it; takes over a dead owner\'s lock', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'LOCK'), `${other.pid}\n`);
    expect(() => FolderLock.take(dir, 'LOCK', 'one process per replica')).toThrow(StoreLockedError);
    expect(() => FolderLock.take(dir, 'LOCK', 'one process per replica')).toThrow(`in use by process ${other.pid}`);
    // a pid that is not running (pids stay below 2^22 on Linux)
    writeFileSync(join(dir, 'LOCK'), '4194999\n');
    const lock = FolderLock.take(dir, 'LOCK', 'x');
    expect(readFileSync(join(dir, 'LOCK'), 'utf8').trim()).toBe(String(process.pid));
    expect(() => FolderLock.take(dir, 'LOCK', 'x')).toThrow('already open in this process');
    lock.release();
    expect(existsSync(join(dir, 'LOCK'))).toBe(false);
    FolderLock.take(dir, 'LOCK', 'x').release();
  });

  it('`sintra start` on a folder another live process holds: one line naming it, exit 1, nothing dealt', async () => {
    const dir = tmp();
    writeFileSync(join(dir, CLUSTER_LOCK), `${other.pid}\n`);
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((res) =>
      execFile(process.execPath, [join(ROOT, 'infra/bin/sintra.mjs'), 'start', '--data', dir, '--port', '18999'], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) =>
        res({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
      ),
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`in use by process ${other.pid}`);
    expect(r.stderr).toContain('one local cluster per data folder');
    expect(existsSync(join(dir, 'keys'))).toBe(false);
  });
});

describe('sintra start on a busy port', () => {
  it('one line naming the port, exit 1, nothing dealt', async () => {
    const dir = tmp();
    const { createServer } = await import('node:net');
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    try {
      // the second replica's port is the busy one
      const r = await new Promise<{ code: number; stdout: string; stderr: string }>((res) =>
        execFile(process.execPath, [join(ROOT, 'infra/bin/sintra.mjs'), 'start', '--data', dir, '--port', String(port - 1)], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) =>
          res({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
        ),
      );
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/port \d+ on 127\.0\.0\.1 is in use/); // ours, or the one below it if that was busy too
      expect(existsSync(join(dir, 'keys'))).toBe(false);
      expect(existsSync(join(dir, CLUSTER_LOCK))).toBe(false);
    } finally {
      server.close();
    }
  });
});

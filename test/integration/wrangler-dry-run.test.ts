/**
 * `wrangler deploy --dry-run` of the replica Worker (wrangler.toml) succeeds offline: wrangler bundles
 * workers/cloudflare/worker.ts with its Durable Object class and stops before uploading anything.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WRANGLER = join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');
const tmp = mkdtempSync(join(tmpdir(), 'sintra-wrangler-'));

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('wrangler deploy --dry-run', () => {
  it('bundles the replica Worker offline with the ReplicaObject Durable Object', async () => {
    const outdir = join(tmp, 'out');
    const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [WRANGLER, 'deploy', '--dry-run', '--outdir', outdir, '--config', join(ROOT, 'wrangler.toml')],
        {
          cwd: ROOT,
          timeout: 120_000,
          maxBuffer: 16 * 1024 * 1024,
          env: {
            ...process.env,
            WRANGLER_SEND_METRICS: 'false',
            WRANGLER_LOG_PATH: join(tmp, 'logs'),
            CI: '1',
          },
        },
        (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
      );
    });
    expect(run.code, `wrangler failed:\n${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toContain('--dry-run: exiting now.');
    expect(run.stdout).toMatch(/env\.REPLICA \(ReplicaObject\)\s+Durable Object/);
    const bundle = join(outdir, 'worker.js');
    expect(existsSync(bundle), `no worker.js in ${readdirSync(outdir).join(', ')}`).toBe(true);
    const code = readFileSync(bundle, 'utf8');
    // esbuild emits `var ReplicaObject = class extends DurableObject` and exports it by name.
    expect(code).toMatch(/\bReplicaObject = class extends DurableObject\b/);
    expect(code).toMatch(/export\s*\{[^}]*\bReplicaObject\b/);
  }, 180_000);
});

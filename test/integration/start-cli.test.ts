/**
 * `sintra start --json` as a user runs it (the built command, its own process): stdout carries exactly
 * one JSON line per start, even when the replicas log (a restart replays their journals and says so: that
 * goes to stderr), and a SIGTERM stops it (exit code 143, 128 + SIGTERM, as Miniflare's exit hook ends the
 * process after stopping workerd) with the folder's lock released. `--cors-origins LIST` reaches every
 * Durable Object replica (SINTRA_CORS_ORIGINS): the HTTP conventions hold with CORS for the listed origins
 * only; a value that is not a list of origins is a usage error before anything is dealt. `--beacon-period`
 * sets the beacon's period of new keys (drand's /info shows it); another period than the dealt keys' is a
 * usage error.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLUSTER_LOCK } from '../../infra/cluster/local-cluster.ts';
import { freePortRange } from '../helpers/ports.ts';
import { waitFor } from '../helpers/http.ts';
import { expectHttpConventions } from '../helpers/http-conventions.ts';
import { lines, runSintra } from '../helpers/cli-process.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'sintra-start-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `sintra start --json` until it is ready, lets `whileUp` act, then SIGTERMs it. */
async function startOnce(port: number, whileUp: (urls: string[]) => Promise<void>, extra: readonly string[] = [], data = dir): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [join(ROOT, 'infra/bin/sintra.mjs'), 'start', '--json', '--data', data, '--port', String(port), ...extra], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    const line = await waitFor(async () => (stdout.includes('\n') ? stdout.split('\n')[0]! : null), 'the ready line', 120_000, 100);
    await whileUp((JSON.parse(line) as { replicas: string[] }).replicas);
  } finally {
    child.kill('SIGTERM');
  }
  return { code: await exited, stdout, stderr };
}

describe('sintra start --json (its own process)', () => {
  it('stdout is one JSON line per start; replica logs go to stderr; SIGTERM exits 143 and releases the lock', async () => {
    const port = await freePortRange(4);
    let id = '';
    const first = await startOnce(port, async (urls) => {
      // Two entries: the HTTP conventions of the second start need a log of at least 2.
      for (const text of ['start-cli', 'start-cli 2']) {
        const res = await fetch(`${urls[0]}/v1/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
        id = ((await res.json()) as { id: string }).id;
      }
      await waitFor(async () => ((await (await fetch(`${urls[1]}/v1/requests/${id}`)).json()) as { status: string }).status === 'certified' || null, 'certified', 60_000, 200);
      // Dealt with --beacon-period 7: drand's info route says so.
      expect(((await (await fetch(`${urls[2]}/info`)).json()) as { period: number }).period).toBe(7);
    }, ['--beacon-period', '7']);
    expect(first.code).toBe(143);
    expect(first.stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(first.stdout)).toMatchObject({ ready: true });
    expect(existsSync(join(dir, CLUSTER_LOCK))).toBe(false);

    // Started again with a CORS list: every Durable Object replica (workerd, Miniflare's sockets) answers
    // browsers from the listed origins only.
    const dash = 'https://dash.example.org';
    const second = await startOnce(
      port,
      async (urls) => {
        expect(((await (await fetch(`${urls[2]}/v1/requests/${id}`)).json()) as { status: string }).status).toBe('certified');
        const ids = [];
        for (const url of urls) ids.push(await expectHttpConventions(url, { allowedOrigin: dash, deniedOrigin: 'https://elsewhere.example' }));
        expect(ids).toEqual(['r1', 'r2', 'r3', 'r4']);
        const local = await fetch(`${urls[3]}/v1/info`, { headers: { origin: 'http://localhost:3000' } });
        expect(local.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
        await local.body?.cancel();
      },
      ['--cors-origins', `${dash}, http://localhost:3000`],
    );
    expect(second.code).toBe(143);
    expect(second.stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(second.stdout)).toMatchObject({ ready: true });
    expect(second.stderr).toMatch(/replayed \d+ journal events/);
    // The replicas' own log lines are JSON objects (workers/core/log.ts), one per line: each replica says it replayed its journal.
    const replayed = second.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { ts: string; level: string; replica?: string; event: string; msg: string; events?: number })
      .filter((e) => e.event === 'journal-replayed');
    expect(replayed.map((e) => e.replica).sort()).toEqual(['r1', 'r2', 'r3', 'r4']);
    for (const e of replayed) expect(e).toMatchObject({ ts: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), level: 'info', events: expect.any(Number), msg: expect.stringMatching(/^replayed \d+ journal events/) });
  }, 240_000);
});

describe('sintra start --separate', () => {
  it('each replica in a workerd of its own: requests are certified; the folder keeps its layout', async () => {
    const data = mkdtempSync(join(tmpdir(), 'sintra-start-separate-'));
    let id = '';
    try {
      const port = await freePortRange(4);
      const r = await startOnce(
        port,
        async (urls) => {
          const res = await fetch(`${urls[3]}/v1/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'separate' }) });
          ({ id } = (await res.json()) as { id: string });
          // Certified at every replica before the stop: the restart below asks replica 2 at once.
          for (const url of urls) await waitFor(async () => ((await (await fetch(`${url}/v1/requests/${id}`)).json()) as { status: string }).status === 'certified' || null, `certified at ${url}`, 60_000, 200);
        },
        ['--separate'],
        data,
      );
      expect(r.code).toBe(143);
      expect(JSON.parse(r.stdout)).toMatchObject({ ready: true });
      // Four workerd processes, one per replica: their state is in a folder each.
      expect(existsSync(join(data, 'do'))).toBe(true);
      // Started again the same way: each replica resumes its own state (a folder without state/ once made this refuse).
      const resumed = await startOnce(port, async (urls) => {
        expect(((await (await fetch(`${urls[2]}/v1/requests/${id}`)).json()) as { status: string }).status).toBe('certified');
      }, ['--separate'], data);
      expect(resumed.code).toBe(143);
      const again = await runSintra(['start', '--data', data, '--port', String(port)], { cwd: ROOT, timeoutMs: 60_000 });
      expect(again.code).not.toBe(0);
      expect(again.err).toContain('holds replicas started with --separate (a Miniflare instance per replica); starting them as all replicas in Miniflare');
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  }, 240_000);
});

describe('sintra start --beacon-period', () => {
  it('another period than the keys in DATA were dealt with: one line, exit 2, nothing started', async () => {
    const port = await freePortRange(4);
    await waitFor(async () => (existsSync(join(dir, 'keys', 'group.json')) ? true : null), 'keys dealt by the first test', 240_000, 500);
    const r = await runSintra(['start', '--data', dir, '--port', String(port), '--beacon-period', '5'], { cwd: ROOT, timeoutMs: 60_000 });
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(lines(r.err)).toHaveLength(1);
    expect(r.err).toContain('--beacon-period 5: the keys in');
    expect(r.err).toContain('were dealt with a beacon period of 7 s');
  });
});

describe('sintra start --cors-origins', () => {
  it('a value that is not a list of origins: one line, exit 2, nothing dealt', async () => {
    const fresh = mkdtempSync(join(tmpdir(), 'sintra-start-cors-'));
    try {
      const port = await freePortRange(4);
      const r = await runSintra(['start', '--data', fresh, '--port', String(port), '--cors-origins', 'https://dash.example.org/app'], { cwd: ROOT, timeoutMs: 60_000 });
      expect(r.code).toBe(2);
      expect(r.out).toBe('');
      expect(lines(r.err)).toHaveLength(1);
      expect(r.err).toContain('--cors-origins: "https://dash.example.org/app" is not an origin');
      expect(existsSync(join(fresh, 'keys'))).toBe(false);
      expect(existsSync(join(fresh, CLUSTER_LOCK))).toBe(false);
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }
  });
});

/** `sintra deal` end to end through the real CLI: files, modes, refusal, determinism, the grid, verify. */
import { execFile } from 'node:child_process';
import { cp, lstat, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGroup, parseReplicaSecrets, verifyReplicaSecrets } from '../../shared/config/group.ts';
import type { SecretsFile } from '../../shared/config/group.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = path.join(ROOT, 'infra/bin/sintra.mjs');
const GRID = path.join(ROOT, 'test/fixtures/grid-4x4.json');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function sintra(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of (await readdir(dir)).sort()) out[f] = await readFile(path.join(dir, f), 'utf8');
  return out;
}

const mode = async (p: string) => (await lstat(p)).mode & 0o777;

/** Every secret string in a secrets file: each key share value and the link secret. */
function secretStrings(s: SecretsFile): string[] {
  const shares = JSON.parse(s.SINTRA_KEY_SHARES) as Record<string, string[]>;
  return [...Object.values(shares).flat(), s.SINTRA_LINK_SECRET];
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'sintra-dealer-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('sintra deal --n 4 --t 1', () => {
  let first: Run;
  let dir: string;
  beforeAll(async () => {
    dir = path.join(tmp, 'keys');
    first = await sintra('deal', '--n', '4', '--t', '1', '--out', dir);
  });

  it('writes group.json (0644) and one secrets file (0600) per replica, and prints no secret', async () => {
    expect(first.stderr).not.toMatch(/error/);
    expect(first.code).toBe(0);
    expect((await readdir(dir)).sort()).toEqual(['group.json', 'r1.secrets.json', 'r2.secrets.json', 'r3.secrets.json', 'r4.secrets.json']);
    expect(await mode(dir)).toBe(0o700);
    expect(await mode(path.join(dir, 'group.json'))).toBe(0o644);
    for (const i of [1, 2, 3, 4]) expect(await mode(path.join(dir, `r${i}.secrets.json`))).toBe(0o600);

    const groupText = await readFile(path.join(dir, 'group.json'), 'utf8');
    const group = parseGroup(JSON.parse(groupText));
    expect(group.testOnly).toBe(false);
    expect(first.stdout).toContain(`dealt group ${group.file.groupId}`);
    for (const i of [1, 2, 3, 4]) {
      const s = JSON.parse(await readFile(path.join(dir, `r${i}.secrets.json`), 'utf8')) as SecretsFile;
      // What `wrangler secret bulk` takes: a flat object of strings.
      expect(Object.values(s).every((v) => typeof v === 'string')).toBe(true);
      verifyReplicaSecrets(group, parseReplicaSecrets(s, group));
      for (const secret of secretStrings(s)) {
        expect(groupText).not.toContain(secret);
        expect(first.stdout + first.stderr).not.toContain(secret);
      }
    }
    expect(await readdir(tmp)).toEqual(['keys']); // no temporary directory left behind
  });

  it('refuses to deal into the same directory again, and changes nothing', async () => {
    const before = await snapshot(dir);
    const again = await sintra('deal', '--n', '4', '--t', '1', '--out', dir);
    expect(again.code).toBe(1);
    expect(again.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^error: .*keys is not empty .*refusing to overwrite/)]);
    expect(again.stdout).toBe('');
    expect(await snapshot(dir)).toEqual(before);
    expect(await readdir(tmp)).toEqual(['keys']);
  });

  it('deal verify passes, and fails on a tampered, swapped or missing secrets file', async () => {
    const ok = await sintra('deal', 'verify', dir);
    expect(ok.code).toBe(0);
    expect(ok.stdout.split('\n').filter((l) => l.startsWith('OK '))).toHaveLength(4);

    const bad = path.join(tmp, 'tampered');
    await cp(dir, bad, { recursive: true });
    const file = path.join(bad, 'r2.secrets.json');
    const s = JSON.parse(await readFile(file, 'utf8')) as SecretsFile;
    const shares = JSON.parse(s.SINTRA_KEY_SHARES);
    [shares.kernel[0], shares.quorum[0]] = [shares.quorum[0], shares.kernel[0]]; // well-formed, wrong
    await writeFile(file, JSON.stringify({ ...s, SINTRA_KEY_SHARES: JSON.stringify(shares) }), { mode: 0o600 });
    await cp(path.join(dir, 'r4.secrets.json'), path.join(bad, 'r3.secrets.json'));
    const tampered = await sintra('deal', 'verify', bad);
    expect(tampered.code).toBe(1);
    expect(tampered.stdout).toContain('FAIL  r2: SINTRA_KEY_SHARES.kernel[0]: does not match keys.kernel.rowKeys[1]');
    expect(tampered.stdout).toContain('FAIL  r3: SINTRA_REPLICA_ID: holds the secrets of r4 (index 3), not of r3');
    expect(tampered.stdout).toMatch(/^OK {4}r1 /m);
    expect(tampered.stdout).toContain('verification FAILED');

    await rm(path.join(dir, 'r4.secrets.json'));
    const [missing, allowed] = await Promise.all([sintra('deal', 'verify', dir), sintra('deal', 'verify', dir, '--allow-missing')]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toMatch(/FAIL {2}r4: .*r4\.secrets\.json is missing/);
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toMatch(/SKIP {2}r4: /);
  });
});

describe('sintra deal --seed', () => {
  it('is deterministic, marks the group testOnly and warns loudly', async () => {
    const [a, b] = await Promise.all(['s1', 's2'].map((d) => sintra('deal', '--n', '4', '--t', '1', '--seed', '00C0FFEE', '--out', path.join(tmp, d))));
    for (const r of [a!, b!]) {
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/^WARNING: TEST KEYS ONLY\./m);
    }
    const [sa, sb] = await Promise.all([snapshot(path.join(tmp, 's1')), snapshot(path.join(tmp, 's2'))]);
    expect(sa).toEqual(sb);
    expect(JSON.parse(sa['group.json']!).testOnly).toBe(true);
    expect(a!.stdout).toContain('(TEST KEYS ONLY)');
  });
});

describe('sintra deal --structure (the 4 x 4 grid)', () => {
  it('deals 16 replicas with 9 rows each, and deal verify passes', async () => {
    const dir = path.join(tmp, 'grid');
    const dealt = await sintra('deal', '--structure', GRID, '--out', dir);
    expect(dealt.code).toBe(0);
    expect(dealt.stdout).toContain('general: 16 maximal corruptible sets of up to 7 of 16 replicas');
    expect(dealt.stderr).toContain('deal: kernel key: 144 rows'); // progress on stderr
    expect(await readdir(dir)).toHaveLength(17);
    const group = JSON.parse(await readFile(path.join(dir, 'group.json'), 'utf8'));
    expect(group.adversary).toEqual({ attributes: { location: 1, os: 1 }, plus: 0 });
    expect(group.replicas[0]).toMatchObject({ index: 0, id: 'zrh-linux', attributes: { location: 'zrh', os: 'linux' } });

    const verified = await sintra('deal', 'verify', dir);
    expect(verified.code).toBe(0);
    const okLines = verified.stdout.split('\n').filter((l) => l.startsWith('OK '));
    expect(okLines).toHaveLength(16);
    expect(okLines[0]).toBe('OK    zrh-linux (index 0; rows: kernel 9, quorum 9, encryption 9)');
    expect(verified.stdout).toContain('all checks passed');
  });
});

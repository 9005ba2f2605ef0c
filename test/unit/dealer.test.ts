/** `sintra deal` end to end through the real CLI: files, modes, refusal, determinism, the grid, verify, --rsa. */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cp, lstat, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGroup, parseReplicaSecrets, verifyReplicaSecrets } from '../../shared/config/group.ts';
import type { GroupFile, SecretsFile } from '../../shared/config/group.ts';

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

describe('sintra deal --rsa (threshold RSA key, root CA and TSA certificates)', () => {
  const FIXTURE = JSON.parse(readFileSync(path.join(ROOT, 'test/fixtures/threshold-rsa-primes.json'), 'utf8')) as { modulus1024: { p: string; q: string }[] };
  const openssl = (args: string[], cwd: string) => execFileSync('openssl', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const haveOpenssl = (() => {
    try {
      return /^OpenSSL 3\./.test(openssl(['version'], ROOT));
    } catch {
      return false;
    }
  })();
  let primesFile: string;
  beforeAll(async () => {
    primesFile = path.join(tmp, 'primes.json');
    const { p, q } = FIXTURE.modulus1024[0]!;
    await writeFile(primesFile, JSON.stringify({ p, q }));
  });

  it('with given primes and --seed: deterministic; writes root-ca.pem and tsa.pem (0644) that match group.json; deal verify checks them', async () => {
    const args = (d: string) => ['deal', '--n', '4', '--t', '1', '--seed', '5eed', '--rsa', '--rsa-primes', primesFile, '--cert-start', '2026-03-01', '--cert-years', '5', '--out', path.join(tmp, d)];
    const [a, b] = await Promise.all([sintra(...args('rsa1')), sintra(...args('rsa2'))]);
    expect(a!.code).toBe(0);
    expect(a!.stderr).toContain(`note: ${primesFile} holds the group's whole RSA private key`);
    const [sa, sb] = await Promise.all([snapshot(path.join(tmp, 'rsa1')), snapshot(path.join(tmp, 'rsa2'))]);
    expect(sa).toEqual(sb);
    expect(Object.keys(sa)).toEqual(['group.json', 'r1.secrets.json', 'r2.secrets.json', 'r3.secrets.json', 'r4.secrets.json', 'root-ca.pem', 'tsa.pem']);
    for (const f of ['root-ca.pem', 'tsa.pem']) expect(await mode(path.join(tmp, 'rsa1', f))).toBe(0o644);
    const group = JSON.parse(sa['group.json']!) as GroupFile;
    expect(group.keys.rsa!.rootCertificate).toBe(sa['root-ca.pem']);
    expect(group.keys.rsa!.tsaCertificate).toBe(sa['tsa.pem']);
    expect(a!.stdout).toContain('RSA key:        1024 bits, e = 65537; any 2 of 4 replicas sign');
    expect(a!.stdout).toContain('certificates:   root CA and TSA, valid 2026-03-01T00:00:00Z to 2031-03-01T00:00:00Z');
    expect(a!.stdout).toMatch(/root CA SHA-256 fingerprint: ([0-9A-F]{2}:){31}[0-9A-F]{2}\n/);
    expect(a!.stdout).toContain(`${path.join(tmp, 'rsa1', 'tsa.pem')}  (public: the group's TSA certificate)`);
    if (haveOpenssl) {
      const dir = path.join(tmp, 'rsa1');
      expect(openssl(['verify', '-CAfile', 'root-ca.pem', '-purpose', 'timestampsign', '-attime', String(Date.UTC(2027, 0, 1) / 1000), 'tsa.pem'], dir)).toBe('tsa.pem: OK\n');
      const fingerprint = openssl(['x509', '-in', 'root-ca.pem', '-noout', '-fingerprint', '-sha256'], dir).trim().split('=')[1];
      expect(a!.stdout).toContain(`root CA SHA-256 fingerprint: ${fingerprint}\n`);
    }

    const ok = await sintra('deal', 'verify', path.join(tmp, 'rsa1'));
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('RSA:       OK (1024-bit key; root CA and TSA certificates valid 2026-03-01T00:00:00Z to 2031-03-01T00:00:00Z, root-ca.pem and tsa.pem match group.json)');
    expect(ok.stdout).toContain('OK    r2 (index 1; rows: kernel 1, quorum 1, encryption 1; RSA share)');

    // A changed copy fails; a missing copy is a warning; another replica's RSA share fails that replica.
    const bad = path.join(tmp, 'rsa-bad');
    await cp(path.join(tmp, 'rsa2'), bad, { recursive: true });
    await writeFile(path.join(bad, 'tsa.pem'), sa['root-ca.pem']!);
    await rm(path.join(bad, 'root-ca.pem'));
    const s3 = JSON.parse(sa['r3.secrets.json']!) as SecretsFile;
    const shares3 = JSON.parse(s3.SINTRA_KEY_SHARES);
    shares3.rsa = JSON.parse((JSON.parse(sa['r4.secrets.json']!) as SecretsFile).SINTRA_KEY_SHARES).rsa;
    await writeFile(path.join(bad, 'r3.secrets.json'), JSON.stringify({ ...s3, SINTRA_KEY_SHARES: JSON.stringify(shares3) }), { mode: 0o600 });
    const failed = await sintra('deal', 'verify', bad);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain(`RSA:       FAIL ${path.join(bad, 'tsa.pem')} differs from keys.rsa.tsaCertificate in group.json`);
    expect(failed.stdout).toContain('FAIL  r3: SINTRA_KEY_SHARES.rsa: does not match keys.rsa.verificationKeys[2]');
    expect(failed.stderr).toContain(`warning: ${path.join(bad, 'root-ca.pem')} is missing (it is a copy of keys.rsa.rootCertificate in group.json)`);
  });

  it('generates safe primes with node:crypto (progress on stderr), prints the RSA part as JSON, and never overwrites', async () => {
    const dir = path.join(tmp, 'rsa-generated');
    const r = await sintra('deal', '--n', '4', '--t', '1', '--seed', 'ab', '--rsa', '--rsa-bits', '1024', '--json', '--out', dir);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('note: the RSA primes come from node:crypto, not from --seed');
    expect(r.stderr).toContain('deal: threshold RSA key: generating two 512-bit safe primes for a 1024-bit modulus with node:crypto');
    expect(r.stderr).toMatch(/^deal: threshold RSA key: safe prime 2 of 2 \(512 bits\) in \d+\.\d s$/m);
    const json = JSON.parse(r.stdout);
    expect(json.keys.rsa).toMatchObject({ bits: 1024, e: 65537, players: 4, threshold: 2 });
    expect(json.certificates.primesMs).toBeGreaterThan(0);
    expect(json.files.rootCertificate).toBe(path.join(dir, 'root-ca.pem'));
    const group = parseGroup(JSON.parse(await readFile(path.join(dir, 'group.json'), 'utf8')));
    expect(group.rsa!.publicKey.n.toString(2)).toHaveLength(1024);

    const before = await snapshot(dir);
    const again = await sintra('deal', '--n', '4', '--t', '1', '--rsa', '--out', dir);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^error: .*rsa-generated is not empty .*refusing to overwrite/);
    expect(again.stderr).not.toContain('safe prime'); // refused before the slow part
    expect(await snapshot(dir)).toEqual(before);
  });

  it('refuses a general structure, a 1024-bit key without --seed and RSA options without --rsa', async () => {
    const [general, small, stray] = await Promise.all([
      sintra('deal', '--structure', GRID, '--rsa', '--out', path.join(tmp, 'rsa-grid')),
      sintra('deal', '--n', '4', '--t', '1', '--rsa', '--rsa-primes', primesFile, '--out', path.join(tmp, 'rsa-small')),
      sintra('deal', '--n', '4', '--t', '1', '--cert-years', '3', '--out', path.join(tmp, 'rsa-stray')),
    ]);
    expect(general.code).toBe(1);
    expect(general.stderr).toBe("error: --rsa: threshold RSA supports threshold structures only (k of n); this group's structure is general; deal this structure without --rsa\n");
    expect(small.code).toBe(1);
    expect(small.stderr).toBe('error: --rsa-bits: an even number of bits from 2048 to 8192 (1024 only for test keys, with --seed), got 1024\n');
    expect(stray.code).toBe(2);
    expect(stray.stderr).toBe('error: --cert-years goes with --rsa\n');
    for (const d of ['rsa-grid', 'rsa-small', 'rsa-stray']) expect(existsSync(path.join(tmp, d))).toBe(false);
  });
});

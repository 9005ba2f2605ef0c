/** The `sintra` command line: help, version, one-line errors that write nothing, --json output. */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHex } from '../../shared/crypto/bytes.ts';
import { decodeG2 } from '../../shared/crypto/curve.ts';
import { keyFingerprint } from '../../shared/crypto/threshold-bls.ts';
import type { SecretsFile } from '../../shared/config/group.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = path.join(ROOT, 'infra/bin/sintra.mjs');
const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };

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

/** Exactly one line on stderr, `error: ...`. */
function oneErrorLine(r: Run): string {
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  return lines[0]!;
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'sintra-cli-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('sintra CLI', () => {
  it('--help, deal --help and --version', async () => {
    const [help, dealHelp, version] = await Promise.all([sintra('--help'), sintra('deal', '--help'), sintra('--version')]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: sintra /);
    expect(help.stdout).toContain('deal [options]');
    expect(dealHelp.code).toBe(0);
    for (const opt of ['--n <count>', '--t <count>', '--structure <file>', '--out <dir>', '--seed <hex>', '--json', 'verify [options] <dir>']) {
      expect(dealHelp.stdout).toContain(opt);
    }
    expect(version.stdout.trim()).toBe(pkg.version);
  });

  it('bad input: one line naming the problem, exit 1, nothing written', async () => {
    const unknownAttr = path.join(tmp, 'unknown-attribute.json');
    await writeFile(
      unknownAttr,
      JSON.stringify({
        replicas: ['a', 'b', 'c', 'd'].map((id, i) => ({ id, attributes: { os: `os${i}` } })),
        adversary: { attributes: { zone: 1 } },
      }),
    );
    const noAdversary = path.join(tmp, 'no-adversary.json');
    await writeFile(noAdversary, JSON.stringify({ replicas: [{ id: 'a' }] }));
    const notJson = path.join(tmp, 'not-json.json');
    await writeFile(notJson, '{"replicas": [');
    const out = path.join(tmp, 'out');
    const aFile = path.join(tmp, 'a-file');
    await writeFile(aFile, 'keep me');
    const runs = await Promise.all([
      sintra('deal', '--n', '3', '--t', '1', '--out', out),
      sintra('deal', '--structure', path.join(ROOT, 'test/fixtures/not-q3.json'), '--out', out),
      sintra('deal', '--structure', unknownAttr, '--out', out),
      sintra('deal', '--structure', noAdversary, '--out', out),
      sintra('deal', '--structure', notJson, '--out', out),
      sintra('deal', '--structure', path.join(tmp, 'absent.json'), '--out', out),
      sintra('deal', '--n', '4', '--t', '1', '--seed', 'xyz', '--out', out),
      sintra('deal', '--n', '4', '--t', '1', '--out', path.join(tmp, 'no-such-parent', 'out')),
      sintra('deal', 'verify', tmp),
      sintra('deal', '--n', '4', '--t', '1', '--out', aFile),
    ]);
    const messages = runs.map((r) => {
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      return oneErrorLine(r);
    });
    expect(messages[0]).toBe('error: not Q3: need n > 3t, got n = 3, t = 1 (n = 3 tolerates at most t = 0)');
    expect(messages[1]).toMatch(/not-q3\.json: not Q3: corruptible sets \{aws-eu, aws-us\} \+ \{gcp-eu, gcp-us\} \+ \{azure-eu, azure-us\} together cover all 6 replicas$/);
    expect(messages[2]).toMatch(/unknown-attribute\.json: unknown attribute "zone": replica "a" has no such attribute$/);
    expect(messages[3]).toMatch(/no-adversary\.json: "adversary" must be an object/);
    expect(messages[4]).toMatch(/not-json\.json: invalid JSON/);
    expect(messages[5]).toMatch(/cannot read structure file .*absent\.json: ENOENT/);
    expect(messages[6]).toBe('error: --seed must be a non-empty even number of hex digits');
    expect(messages[7]).toMatch(/parent directory .*no-such-parent does not exist/);
    expect(messages[8]).toMatch(/group\.json not found/);
    expect(messages[9]).toMatch(/a-file exists and is not a directory; refusing to overwrite it$/);
    expect((await readdir(tmp)).sort()).toEqual(['a-file', 'no-adversary.json', 'not-json.json', 'unknown-attribute.json']);
    expect(await readFile(aFile, 'utf8')).toBe('keep me');
    await rm(aFile);
  });

  it('usage errors: one line, exit 2', async () => {
    const out = path.join(tmp, 'out');
    const runs = await Promise.all([
      sintra('deal', '--n', '4', '--t', '1'),
      sintra('deal', '--n', '4', '--out', out),
      sintra('deal', '--n', '4', '--t', '1', '--structure', 'x.json', '--out', out),
      sintra('deal', '--n', 'four', '--t', '1', '--out', out),
      sintra('deal', '--out', out),
      sintra('deal', 'verify'),
      sintra('dael'),
    ]);
    const messages = runs.map((r) => {
      expect(r.code).toBe(2);
      return oneErrorLine(r);
    });
    expect(messages[0]).toMatch(/--out <dir>/);
    expect(messages[1]).toMatch(/--n and --t go together/);
    expect(messages[2]).toMatch(/not both/);
    expect(messages[3]).toMatch(/--n must be an integer/);
    expect(messages[6]).toMatch(/unknown command 'dael'/);
    await expect(readdir(out)).rejects.toThrow();
  });

  it('--json: deal and deal verify print one JSON object of public data', async () => {
    const out = path.join(tmp, 'json');
    await mkdir(out); // an existing empty directory is fine
    const dealt = await sintra('deal', '--n', '4', '--t', '1', '--seed', 'ab', '--json', '--out', out);
    expect(dealt.code).toBe(0);
    const summary = JSON.parse(dealt.stdout);
    const group = JSON.parse(await readFile(path.join(out, 'group.json'), 'utf8'));
    expect(summary).toMatchObject({ groupId: group.groupId, testOnly: true, n: 4, adversary: { threshold: 1 } });
    expect(summary.keys.kernel.groupKey).toBe(group.keys.kernel.groupKey);
    expect(summary.keys.kernel.fingerprint).toBe(keyFingerprint(decodeG2(fromHex(group.keys.kernel.groupKey))));
    expect(summary.keys.encryption.publicKey).toBe(group.keys.encryption.publicKey);
    expect(summary.replicas.map((r: { id: string; linkKey: string }) => [r.id, r.linkKey])).toEqual(group.replicas.map((r: { id: string; linkKey: string }) => [r.id, r.linkKey]));
    expect(summary.files.secrets).toHaveLength(4);
    for (const f of summary.files.secrets as string[]) {
      const s = JSON.parse(await readFile(f, 'utf8')) as SecretsFile;
      expect(dealt.stdout).not.toContain(s.SINTRA_LINK_SECRET);
      for (const v of Object.values(JSON.parse(s.SINTRA_KEY_SHARES) as Record<string, string[]>).flat()) expect(dealt.stdout).not.toContain(v);
    }
    const verified = await sintra('deal', 'verify', out, '--json');
    expect(verified.code).toBe(0);
    const report = JSON.parse(verified.stdout);
    expect(report).toMatchObject({ ok: true, groupId: group.groupId, n: 4, q3: true, keysConsistent: true, testOnly: true });
    expect(report.replicas.map((r: { status: string }) => r.status)).toEqual(['ok', 'ok', 'ok', 'ok']);
  });
});

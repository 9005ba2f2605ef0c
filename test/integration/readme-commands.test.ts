/**
 * README.md's commands, as written. The shell lines of its local-cluster, notary, CA, deal and "Other
 * commands" sections are read from README.md and run one by one with `sh -c` in a fresh folder, against
 * `sintra start` (its own process, the default data folder `.sintra` of that folder): `npx sintra` means this
 * checkout's CLI (infra/bin/sintra.mjs) and README's ports 8787..8790 the ones this test's cluster got.
 * Nothing else in a line is changed, so an example that drifts from what works (an unpinned command a
 * pinned CLI refuses, a file name, an option, an exit code the text promises) fails here.
 *
 * Every documented sintra command must exit 0 (the documented exceptions are asserted: `ca lookup` of a
 * revoked name exits 3, and its `--out` is never overwritten). `<id>` in the curl examples is the id the
 * POST before them answered; `sintra monitor` (which runs until it finds evidence) is stopped after it
 * verified every replica's checkpoint; between the two saved checkpoints (`# later:`) one request is
 * certified so that the consistency check has two sizes. Pack-and-install (`npm pack`) is
 * pack-install.test.ts, docs/deploy.md's flows documented-flows.test.ts.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SINTRA_BIN } from '../helpers/cli-process.ts';
import { waitFor } from '../helpers/http.ts';
import { freePortRange } from '../helpers/ports.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const dirs: string[] = [];
const tmp = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};

/** The shell lines of the ```sh / ```bash blocks in README's section `heading` (up to the next heading), comments dropped. */
function shellLines(heading: string): string[] {
  const at = README.indexOf(`\n${heading}\n`);
  expect(at, heading).toBeGreaterThanOrEqual(0);
  const rest = README.slice(at + heading.length + 2);
  const next = rest.search(/^#{2,3} /m);
  const section = next < 0 ? rest : rest.slice(0, next);
  const lines: string[] = [];
  for (const m of section.matchAll(/```(?:sh|bash)\n([\s\S]*?)```/g)) {
    for (const raw of m[1]!.replace(/\\\n\s*/g, ' ').split('\n')) {
      const line = raw.replace(/\s+#\s.*$/, '').replace(/\s+#$/, '').trim();
      if (line !== '' && !line.startsWith('#')) lines.push(line);
    }
  }
  expect(lines.length, heading).toBeGreaterThan(0);
  return lines;
}

interface Run {
  readonly line: string;
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** `line` with `npx sintra` as this checkout's CLI and README's ports mapped to base..base+3. */
function rewrite(line: string, base: number): string {
  return line.replace(/\bnpx sintra /g, `"${process.execPath}" "${SINTRA_BIN}" `).replace(/127\.0\.0\.1:(878[7-9]|8790)\b/g, (_, p: string) => `127.0.0.1:${base + Number(p) - 8787}`);
}

function sh(line: string, cwd: string, base = 8787): Promise<Run> {
  return new Promise((done) => {
    execFile('sh', ['-c', rewrite(line, base)], { cwd, timeout: 180_000, maxBuffer: 16 << 20 }, (e, out, err) =>
      done({ line, code: e ? (typeof e.code === 'number' ? e.code : -1) : 0, out, err }),
    );
  });
}

const ok = (r: Run) => expect(r.code, `${r.line}\n${r.err}${r.out}`).toBe(0);

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("README's deal commands, as written", () => {
  it('deal --n 4 --t 1, deal --structure (the 4 x 4 grid), deal verify; deal --rsa and the openssl checks of its certificates', async () => {
    const dir = tmp('sintra-readme-deal-');
    // The structure file is named relative to the checkout: the same path here.
    mkdirSync(join(dir, 'test', 'fixtures'), { recursive: true });
    cpSync(join(ROOT, 'test', 'fixtures', 'grid-4x4.json'), join(dir, 'test', 'fixtures', 'grid-4x4.json'));
    const deal = shellLines('## Deal keys: `npx sintra deal`');
    expect(deal).toEqual(['npx sintra deal --n 4 --t 1 --out keys/', 'npx sintra deal --structure test/fixtures/grid-4x4.json --out keys-grid/', 'npx sintra deal verify keys/']);
    for (const line of deal) ok(await sh(line, dir));
    expect(existsSync(join(dir, 'keys', 'group.json'))).toBe(true);
    expect((JSON.parse(readFileSync(join(dir, 'keys-grid', 'group.json'), 'utf8')) as { replicas: unknown[] }).replicas).toHaveLength(16);

    // The --rsa section is an alternative to the first deal (its --out keys/ would be refused next to it):
    // its own folder. The last openssl line needs a signature combined by replicas (sig, msg): not run here.
    const rsaDir = tmp('sintra-readme-rsa-');
    const rsa = shellLines('### A threshold RSA key, the group\'s root CA and TSA certificates: `--rsa`');
    const runnable = rsa.filter((l) => !/-signature sig msg/.test(l));
    expect(runnable.length).toBe(rsa.length - 1);
    const runs: Run[] = [];
    for (const line of runnable) {
      const r = await sh(line, rsaDir);
      ok(r);
      runs.push(r);
    }
    const dealt = runs[0]!.out + runs[0]!.err;
    const fingerprint = runs.find((r) => r.line.includes('-fingerprint'))!.out;
    // "the fingerprint sintra deal printed"
    const hex = /=([0-9A-F:]+)/.exec(fingerprint)![1]!.replaceAll(':', '');
    expect(dealt.replaceAll(':', '').toUpperCase()).toContain(hex);
    expect(runs.filter((r) => r.line.startsWith('openssl verify')).map((r) => r.out.trim())).toEqual(['keys/root-ca.pem: OK', 'keys/tsa.pem: OK']);
  }, 240_000);
});

describe("README's local cluster, notary and CA commands, as written, against `sintra start`", () => {
  let work: string;
  let base: number;
  let start: ChildProcess | null = null;
  let startErr = '';
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    work = tmp('sintra-readme-');
    base = await freePortRange(4);
    // `npm start` (= npx sintra start) with the only change that the ports are free ones.
    start = spawn(process.execPath, [SINTRA_BIN, 'start', '--port', String(base)], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(start);
    let out = '';
    start.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    start.stderr!.setEncoding('utf8').on('data', (d: string) => (startErr += d));
    await waitFor(async () => (/^ready /m.test(out) ? true : null), 'the ready line of sintra start', 180_000, 100);
    const urls = [0, 1, 2, 3].map((i) => `http://127.0.0.1:${base + i}`);
    expect(out.trim()).toBe(`ready ${urls.join(' ')}`);
    // What README says start prints: each replica's URL, the group key and where group.json is.
    for (const u of urls) expect(startErr).toContain(u);
    expect(startErr).toMatch(/group key \(kernel, BLS12-381 G2\)/);
    expect(startErr).toContain('group.json: .sintra/keys/group.json');
  }, 240_000);

  it('the pinned commands sintra start suggests work as printed: submit to a kernel, verify offline', async () => {
    const suggested = startErr.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('npx sintra '));
    expect(suggested).toEqual([
      `npx sintra submit --url http://127.0.0.1:${base} --url http://127.0.0.1:${base + 1} --group .sintra/keys/group.json --wait --out receipt.json hello`,
      'npx sintra verify receipt.json --group .sintra/keys/group.json      # offline, exit 0 only for a valid receipt',
      `npx sintra sign --purpose demo --file .sintra/keys/group.json --credential .sintra/keys/signer-demo.json --cluster http://127.0.0.1:${base} --cluster http://127.0.0.1:${base + 1} --group .sintra/keys/group.json --out sig.json`,
      "npx sintra sign --verify .sintra/keys/group.json sig.json --group .sintra/keys/group.json      # offline: the group's signature of the file",
    ]);
    // In a folder of its own (README's submit writes receipt.json in `work`, and never overwrites it).
    const own = tmp('sintra-readme-suggested-');
    for (const line of suggested) {
      const r = await sh(line.replace(/\s+#\s.*$/, '').replaceAll('.sintra/keys/', `${join(work, '.sintra/keys')}/`), own, base);
      ok(r);
      expect(r.err, line).not.toMatch(/warning/);
    }
  }, 120_000);

  afterAll(async () => {
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) {
        const exited = new Promise<void>((r) => c.once('exit', () => r()));
        c.kill('SIGTERM');
        const hard = setTimeout(() => c.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(hard);
      }
    }
  }, 60_000);

  const checkpointSize = async (port: number) => ((await (await fetch(`http://127.0.0.1:${port}/v1/log/checkpoint`)).json()) as { size: number }).size;

  it('the curl examples, then submit to a kernel with the group pinned, verify, --encrypt; monitor, the consistency of two saved checkpoints, export and verify --archive', async () => {
    const lines = shellLines('## Run a local cluster: `npm start`').filter((l) => !l.startsWith('npm start'));
    let id = '';
    let oldSize = -1;
    let monitorSeen = false;
    for (const line of lines) {
      if (line.startsWith('npx sintra monitor')) {
        // Runs until it finds evidence: watched until it has verified every replica's checkpoint and the entries.
        // exec: the signal below reaches the CLI itself, not only the shell.
        const child = spawn('sh', ['-c', `exec ${rewrite(line, base)}`], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
        children.push(child);
        let out = '';
        let err = '';
        child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
        child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
        await waitFor(async () => ((out.match(/^checkpoint /gm)?.length ?? 0) >= 4 && /^entries /m.test(out) ? true : null), `${line}: every replica's checkpoint verified`, 60_000, 100);
        expect(child.exitCode, `${line}: still watching`).toBeNull();
        expect(err, line).toBe('');
        expect(out).not.toMatch(/LIAR|FORK/);
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        await exited;
        monitorSeen = true;
        continue;
      }
      if (line.includes('> new.json')) {
        // "later": one more request certified, so that the two checkpoints differ.
        const res = await fetch(`http://127.0.0.1:${base}/v1/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'later' }) });
        expect(res.status).toBe(202);
        await waitFor(async () => ((await checkpointSize(base)) > oldSize ? true : null), 'a newer checkpoint', 60_000, 200);
      }
      const r = await sh(line.replaceAll('<id>', id), work, base);
      ok(r);
      if (line.startsWith('curl -s -X POST')) {
        id = (JSON.parse(r.out) as { id: string }).id;
        expect(id).toMatch(/^[0-9a-f]{64}$/);
        // "pending -> ordered -> certified": the receipt (next line) exists once it is certified.
        await waitFor(async () => ((JSON.parse((await sh(lines.find((l) => l.includes('/v1/requests/<id>'))!.replaceAll('<id>', id), work, base)).out) as { status: string }).status === 'certified' ? true : null), 'certified', 60_000, 300);
      } else if (line.includes('/v1/receipts/')) {
        expect(JSON.parse(r.out)).toMatchObject({ format: 'sintra-edge/receipt@1', entry: Buffer.from('hello').toString('hex'), checkpoint: { signature: expect.any(String) } });
      } else if (line.includes('> old.json')) {
        oldSize = (JSON.parse(readFileSync(join(work, 'old.json'), 'utf8')) as { size: number }).size;
        expect(oldSize).toBeGreaterThanOrEqual(1);
      } else if (line.startsWith('npx sintra submit')) {
        expect(r.err, line).not.toMatch(/warning/);
        const out = /--out (\S+)/.exec(line)![1]!;
        expect(existsSync(join(work, out)), out).toBe(true);
        // The saved receipt verifies offline, as README's next line shows for receipt.json.
        ok(await sh(`npx sintra verify ${out} --group .sintra/keys/group.json`, work, base));
      }
    }
    expect(monitorSeen).toBe(true);
    expect(existsSync(join(work, 'log-archive', 'checkpoint'))).toBe(true);
  }, 400_000);

  it('stamp a file to a kernel with the group pinned, --verify it offline, look it up by digest on any replica', async () => {
    writeFileSync(join(work, 'contract.pdf'), '%PDF-1.4 a contract for the README test\n');
    const lines = shellLines('## Stamp and verify a document (notary)').filter((l) => !l.startsWith('npm start'));
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      const r = await sh(line, work, base);
      ok(r);
      if (line.startsWith('curl')) expect(JSON.parse(r.out)).not.toHaveProperty('error');
    }
    expect(existsSync(join(work, 'contract.stamp.json'))).toBe(true);
  }, 240_000);

  it('time-stamp with OpenSSL: query, POST /v1/tsa, openssl ts -verify says OK against the dealt certificates; the reply shows the serial and time', async () => {
    writeFileSync(join(work, 'contract.pdf'), '%PDF-1.4 a contract for the README test\n');
    const lines = shellLines('## Time-stamp with OpenSSL (RFC 3161): `POST /v1/tsa`');
    expect(lines.map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual(['openssl ts', 'curl -s', 'openssl ts', 'openssl ts']);
    const before = Date.now();
    const runs: Run[] = [];
    for (const line of lines) {
      const r = await sh(line, work, base);
      ok(r);
      runs.push(r);
    }
    expect(runs[2]!.out).toMatch(/Verification: OK/);
    const text = runs[3]!.out;
    expect(text).toMatch(/Status: Granted/);
    const time = Date.parse(/Time stamp: (.*)/.exec(text)![1]!);
    expect(time).toBeGreaterThanOrEqual(before - 2000);
    expect(time).toBeLessThanOrEqual(Date.now());
  }, 240_000);

  it('ca keygen, register, lookup (exit 0, statement saved), verify, revoke; then lookup exits 3 and never overwrites the statement', async () => {
    const lines = shellLines('## Register and look up a name (certification authority)');
    expect(lines.map((l) => l.split(' ').slice(2, 4).join(' '))).toEqual(['ca keygen', 'ca register', 'ca lookup', 'ca verify', 'ca revoke']);
    for (const line of lines) ok(await sh(line, work, base));
    const statement = readFileSync(join(work, 'alice.statement.json'), 'utf8');
    const lookup = lines.find((l) => l.startsWith('npx sintra ca lookup'))!;
    // "exits ... 3 when it shows it absent, expired or revoked"
    const revoked = await sh(lookup.replace(/ --out \S+/, ''), work, base);
    expect(revoked.code, revoked.err).toBe(3);
    // "Files written with --out ... are never overwritten unless you add --force"
    const again = await sh(lookup, work, base);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/alice\.statement\.json exists/);
    expect(readFileSync(join(work, 'alice.statement.json'), 'utf8')).toBe(statement);
  }, 240_000);

  it('X.509: keygen, register, export-key, openssl req, ca issue, openssl verify says OK under root-ca.pem', async () => {
    const lines = shellLines("### X.509 certificates from the group's root CA");
    expect(lines.map((l) => l.split(' ').slice(0, 4).join(' '))).toEqual([
      'npx sintra ca keygen',
      'npx sintra ca register',
      'npx sintra ca export-key',
      'openssl req -new -key',
      'npx sintra ca issue',
      'openssl verify -CAfile .sintra/keys/root-ca.pem',
    ]);
    const runs: Run[] = [];
    for (const line of lines) {
      const r = await sh(line, work, base);
      ok(r);
      runs.push(r);
    }
    expect(runs[5]!.out.trim()).toBe('bob.crt: OK');
  }, 240_000);

  it('beacon get: a round and the latest, each verified against the pinned group (exit 0)', async () => {
    const lines = shellLines('## Public randomness: `npx sintra beacon get`');
    expect(lines).toHaveLength(2);
    for (const line of lines) ok(await sh(line, work, base));
    const latest = await sh(lines[1]!, work, base);
    ok(latest);
    expect(JSON.parse(latest.out)).toMatchObject({ round: expect.any(Number), randomness: expect.stringMatching(/^[0-9a-f]{64}$/) });
  }, 120_000);

  it('sign a file under the policy sintra start dealt, verify it offline, read the policy; a credential', async () => {
    writeFileSync(join(work, 'release.txt'), 'release 1.0.0 sha256=0f1e2d3c\n');
    const lines = shellLines('## Sign with the group: `npx sintra sign`');
    expect(lines.map((l) => l.split(' ').slice(1, 4).join(' '))).toEqual(['sintra sign --purpose', 'sintra sign --verify', 'sintra signer policy', 'sintra signer keygen']);
    for (const line of lines) ok(await sh(line, work, base));
    expect(existsSync(join(work, 'release.sig.json'))).toBe(true);
    // Another file against the saved signature: exit 1.
    const other = await sh(lines[1]!.replace('release.txt release.sig.json', 'contract.pdf release.sig.json'), work, base);
    expect(other.code).toBe(1);
  }, 120_000);

  it('npx sintra --help (Other commands)', async () => {
    const help = shellLines('## Other commands').find((l) => l === 'npx sintra --help')!;
    const r = await sh(help, work, base);
    ok(r);
    for (const c of ['submit', 'verify', 'stamp', 'ca', 'monitor', 'export', 'start', 'deal', 'sign', 'signer']) expect(r.out).toContain(c);
  });

  it('sintra start kept running quietly on stdout', () => {
    expect(start!.exitCode).toBeNull();
  });
});

/**
 * Documented deployment commands run as written, from the folder the docs run them in: docs/deploy.md's
 * deal, deployment file (section 4, taken from the document) and `deploy-config` (section 5); the repository's
 * terraform/examples/four-replicas.json where it is; and the Worker bundle for terraform (docs/deploy.md
 * section 12 and terraform/README.md's `worker_bundle`), which must land where the docs say. Commands are
 * read from the documents, so a document that drifts from what works fails here.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../infra/deploy/wrangler-config.ts';

const SINTRA = join(REPO_ROOT, 'infra', 'bin', 'sintra.mjs');
const WRANGLER = join(REPO_ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');
let dir: string;

/** Runs a documented shell line in `cwd`, with `npx sintra` / `npx wrangler` meaning this checkout's. */
function sh(line: string, cwd: string): Promise<{ code: number; out: string; err: string }> {
  const cmd = line.replace(/^npx sintra /, `"${process.execPath}" "${SINTRA}" `).replace(/^npx wrangler /, `"${process.execPath}" "${WRANGLER}" `);
  return new Promise((resolve) => {
    execFile('sh', ['-c', cmd], { cwd, timeout: 240_000, maxBuffer: 16 << 20, env: { ...process.env, WRANGLER_SEND_METRICS: 'false', WRANGLER_LOG_PATH: join(dir, 'wrangler-logs'), CI: '1', NO_COLOR: '1' } }, (err, out, errOut) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, out, err: errOut }),
    );
  });
}

const deployMd = readFileSync(join(REPO_ROOT, 'docs', 'deploy.md'), 'utf8');
/** The fenced block (of `lang`) that follows `heading` in docs/deploy.md. */
function blockAfter(heading: string, lang: string): string {
  const at = deployMd.indexOf(heading);
  expect(at, heading).toBeGreaterThanOrEqual(0);
  const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(deployMd.slice(at));
  return m![1]!;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sintra-documented-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('documented deployment flows, as written', () => {
  it('deal, the deployment file of section 4 next to keys/, deploy-config; the terraform example where it is; the Worker bundle where terraform expects it', async () => {
    const deal = blockAfter('## 3. Deal the keys', 'sh').split('\n').find((l) => l.startsWith('npx sintra deal --'))!;
    const d = await sh(deal.replace(/\s+#.*$/, ''), dir);
    expect(d.code, d.err).toBe(0);
    expect(existsSync(join(dir, 'keys', 'group.json'))).toBe(true);

    writeFileSync(join(dir, 'deployment.json'), blockAfter('## 4. Write the deployment file', 'json'));
    const gen = blockAfter('## 5. Generate the configs', 'console').split('\n').find((l) => l.startsWith('$ npx sintra deploy-config'))!.slice(2);
    const g = await sh(gen, dir);
    expect(g.code, g.err).toBe(0);
    for (const f of ['sintra-r1.wrangler.json', 'sintra-r2.wrangler.json', 'deploy.sh', 'plan.json', 'lambda/index.mjs']) expect(existsSync(join(dir, 'deploy', f)), f).toBe(true);

    // The repository's example, used where it is (its group_file is ../../keys/group.json).
    mkdirSync(join(dir, 'terraform', 'examples'), { recursive: true });
    writeFileSync(join(dir, 'terraform', 'examples', 'four-replicas.json'), readFileSync(join(REPO_ROOT, 'terraform', 'examples', 'four-replicas.json')));
    const t = await sh('npx sintra deploy-config --deployment terraform/examples/four-replicas.json --out deploy-example --json', dir);
    expect(t.code, t.err).toBe(0);

    // Section 12 and terraform/README.md: the module bundle lands at build/worker/replica-entry.js.
    const lines = blockAfter('## 12. Cloudflare replicas with Terraform too', 'sh').split('\n');
    const bundle = [lines.find((l) => l.startsWith('npx sintra deploy-config'))!, lines.find((l) => l.startsWith('npx wrangler deploy --dry-run'))!];
    const readme = readFileSync(join(REPO_ROOT, 'terraform', 'README.md'), 'utf8');
    const row = readme.split('\n').find((l) => l.startsWith('| `worker_bundle`'))!;
    const fromReadme = [...row.matchAll(/`(npx [^`]+)`/g)].map((m) => m[1]!.replace('<any>', 'sintra-r1'));
    expect(fromReadme).toHaveLength(2);
    expect(row).toMatch(/this is `build\/worker\/replica-entry\.js`/);
    expect(lines.join('\n')).toMatch(/worker_bundle=\.\.\/build\/worker\/replica-entry\.js/);
    for (const line of [...bundle, ...fromReadme]) {
      const r = await sh(line.replace(/\s+#.*$/, ''), dir);
      expect(r.code, `${line}\n${r.err}`).toBe(0);
    }
    const entry = join(dir, 'build', 'worker', 'replica-entry.js');
    expect(existsSync(entry)).toBe(true);
    expect(readFileSync(entry, 'utf8')).toContain(JSON.parse(readFileSync(join(dir, 'keys', 'group.json'), 'utf8')).groupId as string);
    expect(existsSync(join(dir, 'build', 'build'))).toBe(false);
  }, 600_000);
});

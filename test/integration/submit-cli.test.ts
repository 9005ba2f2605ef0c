/**
 * `sintra submit --wait` and `sintra verify` against the real local cluster (four Durable Object replicas in
 * Miniflare over HTTP on loopback): the request is certified, the saved receipt verifies offline.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../infra/cli/main.ts';
import { startLocalCluster, waitUntilReady } from '../../infra/cluster/local-cluster.ts';
import type { LocalCluster } from '../../infra/cluster/local-cluster.ts';

// local-cluster.test.ts uses 20000..29999; stay clear of it and of the ephemeral range.
const BASE_PORT = 10_000 + (process.pid % 500) * 10;
let dataDir: string;
let cluster: LocalCluster;

async function sintra(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['node', 'sintra', ...args], { out: (s) => void (out += s), err: (s) => void (err += s) });
  return { code, out, err };
}

describe('sintra submit --wait and sintra verify on the local cluster', () => {
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sintra-submit-cli-'));
    cluster = await startLocalCluster({ dataDir, n: 4, basePort: BASE_PORT });
    await waitUntilReady(cluster.urls);
  }, 120_000);

  afterAll(async () => {
    await cluster?.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('text to a kernel (t + 1 = 2 replicas) with a pinned group: certified, saved receipt verifies', async () => {
    const out = join(dataDir, 'receipt.json');
    const r = await sintra('submit', '--url', cluster.urls[0]!, '--url', cluster.urls[2]!, '--group', cluster.groupPath, '--wait', '--out', out, 'hello from the CLI');
    expect(r.err).not.toMatch(/^error/m);
    expect(r.code).toBe(0);
    const id = r.out.split('\n')[0]!;
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(r.out).toContain(`receipt saved to ${out}`);
    const v = await sintra('verify', out, '--group', cluster.groupPath);
    expect(v.code).toBe(0);
    expect(v.out).toContain('"hello from the CLI"');
    expect(v.out).toContain(`request id: ${id}`);
  }, 120_000);

  it('raw bytes from a file, group from /v1/info, --json', async () => {
    const file = join(dataDir, 'payload.bin');
    writeFileSync(file, new Uint8Array([0, 255, 1, 254]));
    const r = await sintra('submit', '--url', cluster.urls[1]!, '--url', cluster.urls[3]!, '--file', file, '--wait', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ status: 'certified', receipt: { entry: '00ff01fe' } });
    const saved = join(dataDir, 'binary-receipt.json');
    writeFileSync(saved, JSON.stringify(j.receipt));
    const v = await sintra('verify', saved, '--group', cluster.groupPath, '--json');
    expect(v.code).toBe(0);
    expect(JSON.parse(v.out)).toMatchObject({ valid: true, entry: { bytes: 4, text: null }, index: j.index });
    expect(JSON.parse(readFileSync(cluster.groupPath, 'utf8')).groupId).toBe(j.receipt.groupId);
  }, 120_000);
});

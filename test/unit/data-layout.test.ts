/**
 * claimDataLayout (infra/cluster/local-cluster.ts): a data folder keeps the layout it was first started with
 * (all replicas in Miniflare; --mixed with its Node replicas; a Miniflare instance per Worker replica),
 * since starting it in another would put some replicas' keys on empty state.
 */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { claimDataLayout } from '../../infra/cluster/local-cluster.ts';

const dirs: string[] = [];
const fresh = () => {
  const d = mkdtempSync(join(tmpdir(), 'sintra-layout-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('claimDataLayout', () => {
  it('takes the same layout again, and refuses any other', async () => {
    const d = fresh();
    await claimDataLayout(d, { mode: 'mixed', nodeIndices: [3, 2] });
    await claimDataLayout(d, { mode: 'mixed', nodeIndices: [2, 3] });
    await expect(claimDataLayout(d, { mode: 'mixed', nodeIndices: [2] })).rejects.toThrow(/Node replicas 2, 3/);
    await expect(claimDataLayout(d, { mode: 'miniflare' })).rejects.toThrow(/all replicas in Miniflare/);
    await expect(claimDataLayout(d, { mode: 'mixed', nodeIndices: [2, 3], separateWorkers: true })).rejects.toThrow(/a Miniflare instance per Worker replica/);
  });

  it('a folder of separate Worker instances is refused as a shared one, and the reverse', async () => {
    const d = fresh();
    await claimDataLayout(d, { mode: 'mixed', nodeIndices: [1, 2, 3], separateWorkers: true });
    await claimDataLayout(d, { mode: 'mixed', nodeIndices: [1, 2, 3], separateWorkers: true });
    await expect(claimDataLayout(d, { mode: 'mixed', nodeIndices: [1, 2, 3] })).rejects.toThrow(/holds replicas started with --mixed \(Node replicas 1, 2, 3\), a Miniflare instance per Worker replica/);
  });

  it('a folder from before layout.json: its state folders tell', async () => {
    const d = fresh();
    mkdirSync(join(d, 'node'));
    await expect(claimDataLayout(d, { mode: 'miniflare' })).rejects.toThrow(/--mixed/);
    await expect(claimDataLayout(d, { mode: 'mixed', nodeIndices: [3], separateWorkers: true })).rejects.toThrow(/Use another --data folder/);
    const e = fresh();
    writeFileSync(join(e, 'layout.json'), '{"mode":"miniflare"}\n');
    await expect(claimDataLayout(e, { mode: 'mixed', nodeIndices: [3] })).rejects.toThrow(/all replicas in Miniflare/);
  });
});

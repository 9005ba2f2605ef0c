/**
 * `sintra submit --wait` and `sintra verify` against the real local cluster (four Durable Object replicas in
 * Miniflare over HTTP on loopback): the request is certified, the saved receipt verifies offline. Also
 * encrypted requests (secure causal atomic broadcast) end to end: by the CLI and over raw HTTP. Most runs
 * call main() in-process; a few run the CLI as its own process, as a user does (test/helpers/cli-process.ts).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../infra/cli/main.ts';
import { encryptRequest } from '../../shared/client/encrypt.ts';
import { parseGroup } from '../../shared/config/group.ts';
import { toHex as bytesToHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { lines, runSintra } from '../helpers/cli-process.ts';
import { getJson, http, waitFor } from '../helpers/http.ts';
import { testGroup } from '../helpers/group.ts';
import { startLocalCluster, waitUntilReady } from '../../infra/cluster/local-cluster.ts';
import type { LocalCluster } from '../../infra/cluster/local-cluster.ts';
import { freePortRange } from '../helpers/ports.ts';

/** Replica i listens on BASE_PORT + i: a free range picked in beforeAll (ranges fixed by pid collided across files). */
let BASE_PORT = 0;
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
    BASE_PORT = await freePortRange(16);
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

    // The receipt is evidence: a second --out to the same file is refused before anything is submitted.
    const saved = readFileSync(out, 'utf8');
    const again = await sintra('submit', '--url', cluster.urls[0]!, '--url', cluster.urls[2]!, '--group', cluster.groupPath, '--out', out, 'a second request');
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/^error: .*receipt\.json exists .*--force/m);
    expect(readFileSync(out, 'utf8')).toBe(saved);
    const secondId = bytesToHex(sha256(utf8ToBytes('a second request')));
    for (const url of cluster.urls) expect((await getJson(url, `/v1/requests/${secondId}`)).status).toBe(404);
    // An output folder that does not exist: refused before submitting, too.
    const nowhere = await sintra('submit', '--url', cluster.urls[0]!, '--group', cluster.groupPath, '--out', join(dataDir, 'no-such-dir', 'r.json'), 'a second request');
    expect(nowhere.code).toBe(1);
    expect(nowhere.err).toMatch(/^error: cannot write .*no such file/m);
    for (const url of cluster.urls) expect((await getJson(url, `/v1/requests/${secondId}`)).status).toBe(404);
    // --force overwrites, whole.
    const forced = await sintra('submit', '--url', cluster.urls[0]!, '--url', cluster.urls[2]!, '--group', cluster.groupPath, '--out', out, '--force', 'a second request');
    expect(forced.code).toBe(0);
    expect(forced.out.split('\n')[0]).toBe(secondId);
    expect((await sintra('verify', out, '--group', cluster.groupPath)).out).toContain('"a second request"');
  }, 120_000);

  it('as a process (node infra/bin/sintra.mjs): --out onto an existing file is refused before submitting; --wait without a group choice is a usage error; one --url without --group gets the kernel warning', async () => {
    const out = join(dataDir, 'kept-receipt.json');
    writeFileSync(out, '{"evidence": "kept"}\n');
    const refusedText = 'refused as a process';
    const plainText = 'one url, no group, as a process';
    // Concurrently: each process starts tsx and loads the CLI (about 2 s on a loaded 2-core machine).
    const unpinnedText = 'wait without a group, as a process';
    const [refused, plain, unpinned] = await Promise.all([
      runSintra(['submit', '--url', cluster.urls[0]!, '--url', cluster.urls[2]!, '--group', cluster.groupPath, '--wait', '--out', out, refusedText]),
      runSintra(['submit', '--url', cluster.urls[1]!, plainText]),
      runSintra(['submit', '--url', cluster.urls[0]!, '--url', cluster.urls[1]!, '--wait', unpinnedText]),
    ]);
    // --wait verifies a receipt: with neither --group nor --trust-served-group it is a usage error, sent nowhere.
    expect(unpinned.code).toBe(2);
    expect(unpinned.out).toBe('');
    expect(lines(unpinned.err)).toHaveLength(1);
    expect(unpinned.err).toMatch(/^error: --wait needs the group's key: give --group group\.json .* or --trust-served-group/);
    const unpinnedId = bytesToHex(sha256(utf8ToBytes(unpinnedText)));
    for (const url of cluster.urls) expect((await getJson(url, `/v1/requests/${unpinnedId}`)).status).toBe(404);
    expect(refused.code, refused.err).toBe(1);
    expect(refused.out).toBe('');
    expect(lines(refused.err)).toEqual([`error: ${out} exists (it may be evidence you keep); give --force to overwrite it, or another --out`]);
    expect(readFileSync(out, 'utf8')).toBe('{"evidence": "kept"}\n');
    const refusedId = bytesToHex(sha256(utf8ToBytes(refusedText)));
    for (const url of cluster.urls) expect((await getJson(url, `/v1/requests/${refusedId}`)).status).toBe(404);

    // docs/operations.md: fewer --urls than a kernel get a warning, also without a pinned group (counted
    // against the structure the replica serves; nothing is verified with it).
    expect(plain.code, plain.err).toBe(0);
    expect(plain.out).toBe(`${bytesToHex(sha256(utf8ToBytes(plainText)))}\n`);
    expect(plain.err).toMatch(/^warning: the replicas reached \(r2\) are not a kernel of the group \(t \+ 1 = 2 replicas of this threshold group\): if they are all Byzantine they can drop the request \(the group's structure as the replicas serve it: none is pinned\)\. Give more --url\/--cluster replicas\.$/m);
    expect(plain.err).not.toMatch(/^error/m);
  }, 120_000);

  it('raw bytes from a file, group from /v1/info (--trust-served-group), --json', async () => {
    const file = join(dataDir, 'payload.bin');
    writeFileSync(file, new Uint8Array([0, 255, 1, 254]));
    const r = await sintra('submit', '--url', cluster.urls[1]!, '--url', cluster.urls[3]!, '--file', file, '--wait', '--trust-served-group', '--json');
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/warning: --trust-served-group/);
    expect(r.err).not.toMatch(/not a kernel/); // two replicas of a group of 4 (t = 1) are a kernel
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ status: 'certified', receipt: { entry: '00ff01fe' } });
    const saved = join(dataDir, 'binary-receipt.json');
    writeFileSync(saved, JSON.stringify(j.receipt));
    const v = await sintra('verify', saved, '--group', cluster.groupPath, '--json');
    expect(v.code).toBe(0);
    expect(JSON.parse(v.out)).toMatchObject({ valid: true, entry: { bytes: 4, text: null }, index: j.index });
    expect(JSON.parse(readFileSync(cluster.groupPath, 'utf8')).groupId).toBe(j.receipt.groupId);
  }, 120_000);

  it('--encrypt: the replicas order a ciphertext, decrypt it after, and the receipt proves the plaintext', async () => {
    const r = await sintra('submit', '--url', cluster.urls[0]!, '--url', cluster.urls[1]!, '--group', cluster.groupPath, '--encrypt', '--label', 'bidder-7', '--wait', '--json', 'sealed bid: 42');
    expect(r.err).not.toMatch(/^error/m);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.plaintextId).toBe(bytesToHex(sha256(utf8ToBytes('sealed bid: 42'))));
    expect(j.id).not.toBe(j.plaintextId);
    expect(j).toMatchObject({ status: 'certified', receipt: { entry: bytesToHex(utf8ToBytes('sealed bid: 42')) } });
    expect(r.err).toMatch(/encrypted to group [0-9a-f]{16}\.\.\. \(\d+ bytes\); ciphertext id/);
    // Any replica answers for the ciphertext id with the plaintext's position.
    const s3 = await getJson(cluster.urls[3]!, `/v1/requests/${j.id}`);
    expect(s3.json).toMatchObject({ id: j.id, status: 'certified', index: j.index, plaintextId: j.plaintextId });
  }, 120_000);

  it('encrypted requests over HTTP: invalid ciphertexts are refused, undecryptable ones skipped, receipts by ciphertext id', async () => {
    const group = parseGroup(JSON.parse(readFileSync(cluster.groupPath, 'utf8')));
    const rng = seededRandom(`submit-cli-${process.pid}-${Date.now()}`);
    const enc = encryptRequest(group, utf8ToBytes('over raw HTTP'), 'http-client', rng);
    const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
    const post = (url: string, body: unknown) => http(`${url}/v1/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

    const broken = enc.ciphertext.slice();
    broken[100]! ^= 1;
    const bad = await post(cluster.urls[0]!, { ciphertext: b64(broken) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('invalid-ciphertext');
    const notB64 = await post(cluster.urls[0]!, { ciphertext: '@@@' });
    expect(notB64.status).toBe(400);

    const ok = await post(cluster.urls[2]!, { ciphertext: b64(enc.ciphertext) });
    expect(ok.status).toBe(202);
    expect(await ok.json()).toMatchObject({ id: enc.ciphertextId, status: 'pending', encrypted: true });
    // A raw ciphertext body works too (same id: the replicas de-duplicate).
    const raw = await http(`${cluster.urls[3]!}/v1/requests`, { method: 'POST', headers: { 'content-type': 'application/vnd.sintra.tdh2-ciphertext' }, body: enc.ciphertext });
    expect(((await raw.json()) as { id: string }).id).toBe(enc.ciphertextId);
    const receipt = await waitFor(async () => {
      const g = await getJson(cluster.urls[1]!, `/v1/receipts/${enc.ciphertextId}`);
      return g.status === 200 ? g.json : null;
    }, 'the receipt of the encrypted request');
    expect(receipt.entry).toBe(bytesToHex(utf8ToBytes('over raw HTTP')));
    const saved = join(dataDir, 'encrypted-receipt.json');
    writeFileSync(saved, JSON.stringify(receipt));
    expect((await sintra('verify', saved, '--group', cluster.groupPath)).code).toBe(0);

    // Valid (the proof holds) but made with another group's key: ordered, then skipped by every replica.
    const other = testGroup(4, 1, 'another-group').group;
    const foreign = encryptRequest({ ...other, groupId: group.groupId } as typeof group, utf8ToBytes('not for this group'), 'mallory', rng);
    const f = await post(cluster.urls[0]!, { ciphertext: b64(foreign.ciphertext) });
    expect(f.status).toBe(202);
    // Every replica skips it, each when its own decryption completes: ask the one whose receipt is read.
    for (const url of [cluster.urls[2]!, cluster.urls[0]!]) {
      await waitFor(async () => ((await getJson(url, `/v1/requests/${foreign.ciphertextId}`)).json.status === 'skipped' ? true : null), 'the foreign ciphertext to be skipped');
    }
    const fr = await getJson(cluster.urls[0]!, `/v1/receipts/${foreign.ciphertextId}`);
    expect(fr.status).toBe(409);
    expect(fr.json.error.code).toBe('skipped');
  }, 120_000);
});

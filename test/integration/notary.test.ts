/**
 * The notary / time-stamping service end to end on the local cluster (four Durable Object replicas in
 * Miniflare, HTTP on loopback): stamps through the SDK (plain and encrypted), duplicate stamps answered
 * with the first registration, lookups by digest and by log index on every replica, the CLI's stamp and
 * --verify (exit codes; stamp also as its own process), a forged or modified receipt rejected by the SDK
 * and the CLI, and a lying replica (a proxy in front of replica 0 that forges its receipts) routed around
 * by the SDK.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../infra/cli/main.ts';
import { nodeFetch } from '../../infra/cli/stamp.ts';
import { startLocalCluster, waitUntilReady } from '../../infra/cluster/local-cluster.ts';
import type { LocalCluster } from '../../infra/cluster/local-cluster.ts';
import { SintraClient, verifyStampReceipt } from '../../shared/client/sdk.ts';
import { parseGroup } from '../../shared/config/group.ts';
import type { Group } from '../../shared/config/group.ts';
import { toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { lines, runSintra } from '../helpers/cli-process.ts';
import { getJson, http, sleep, waitFor } from '../helpers/http.ts';
import { freePortRange } from '../helpers/ports.ts';

/** Replica i listens on BASE_PORT + i: a free range picked in beforeAll (ranges fixed by pid collided across files). */
let BASE_PORT = 0;
let dataDir: string;
let cluster: LocalCluster;
let group: Group;
let proxy: Server;
let proxyUrl: string;

async function sintra(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['node', 'sintra', ...args], { out: (s) => void (out += s), err: (s) => void (err += s) });
  return { code, out, err };
}

const digestOf = (s: string) => toHex(sha256(utf8ToBytes(s)));

function client(urls: readonly string[], log?: string[]): SintraClient {
  return new SintraClient({ group, urls, fetch: nodeFetch, sleep, randomBytes: (n) => new Uint8Array(randomBytes(n)), timeoutMs: 60_000, ...(log ? { log: (l) => void log.push(l) } : {}) });
}

/** Flips one hex digit of a string field. */
function flipHex(s: string, at = 10): string {
  return s.slice(0, at) + (s[at] === '0' ? '1' : '0') + s.slice(at + 1);
}

describe('notary on the local cluster', () => {
  beforeAll(async () => {
    BASE_PORT = await freePortRange(16);
    dataDir = mkdtempSync(join(tmpdir(), 'sintra-notary-'));
    cluster = await startLocalCluster({ dataDir, n: 4, basePort: BASE_PORT });
    await waitUntilReady(cluster.urls);
    group = parseGroup(JSON.parse(readFileSync(cluster.groupPath, 'utf8')));
    // A lying replica at the client interface: replica 0's answers, with every stamp receipt forged
    // (another checkpoint signature) and every stamp lookup claiming a registration that is not there.
    proxy = createServer(async (req, res) => {
      const r = await http(`${cluster.urls[0]}${req.url}`, { method: req.method, headers: { 'content-type': String(req.headers['content-type'] ?? '') }, body: req.method === 'POST' ? await new Response(req as unknown as ReadableStream).text() : undefined });
      let text = await r.text();
      if (req.url?.startsWith('/v1/notary/stamps/') && r.status === 200) {
        const j = JSON.parse(text);
        if (j.receipt) j.receipt.checkpoint.signature = flipHex(j.receipt.checkpoint.signature, 20);
        text = JSON.stringify(j);
      }
      res.writeHead(r.status, { 'content-type': 'application/json' });
      res.end(text);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    const addr = proxy.address() as { port: number };
    proxyUrl = `http://127.0.0.1:${addr.port}`;
  }, 120_000);

  afterAll(async () => {
    proxy?.closeAllConnections();
    await new Promise<void>((r) => (proxy ? proxy.close(() => r()) : r()));
    await cluster?.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('SDK: stamps on a kernel, waits, verifies; every replica answers the same lookups', async () => {
    const d = digestOf('the first document');
    const log: string[] = [];
    const r = await client(cluster.urls, log).stamp(d, { nonce: '0a0b' });
    expect(r.verdict).toMatchObject({ ok: true, digest: d, nonce: '0a0b' });
    expect(r.acceptedBy).toHaveLength(2); // a kernel of a threshold group with t = 1
    expect(verifyStampReceipt(group, r.receipt, d).ok).toBe(true);
    for (const url of cluster.urls) {
      const j = await waitFor(async () => {
        const g = await getJson(url, `/v1/notary/stamps/${d}`);
        return g.status === 200 && g.json.status === 'certified' ? g.json : null;
      }, `stamp certified at ${url}`);
      expect(j).toMatchObject({ digest: d, index: r.verdict.index, nonce: '0a0b', entryId: r.verdict.entryId });
      expect(verifyStampReceipt(group, j.receipt, d).ok).toBe(true);
      const s = await getJson(url, `/v1/notary/seq/${r.verdict.index}`);
      expect(s.status).toBe(200);
      expect(s.json).toMatchObject({ index: r.verdict.index, digest: d, first: true, status: 'certified' });
      expect(verifyStampReceipt(group, s.json.receipt, d).ok).toBe(true);
    }
    const missing = await getJson(cluster.urls[1]!, `/v1/notary/stamps/${digestOf('never stamped')}`);
    expect(missing.status).toBe(404);
    expect(missing.json.error.code).toBe('unknown-stamp');

    // The signed state digest covers the notary: the checkpoint's stateDigest is not the bare root.
    const cp = await getJson(cluster.urls[2]!, '/v1/log/checkpoint');
    expect(cp.json.stateDigest).not.toBe(cp.json.root);
  }, 90_000);

  it('a duplicate stamp returns the first registration (HTTP and SDK)', async () => {
    const d = digestOf('stamped twice');
    const first = await client(cluster.urls).stamp(d);
    const again = await http(`${cluster.urls[3]}/v1/notary/stamp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ digest: d, nonce: 'ff' }) });
    expect(again.status).toBe(200);
    const j = (await again.json()) as { index: number; status: string; nonce?: string };
    expect(j.index).toBe(first.verdict.index);
    expect(j.nonce).toBeUndefined();
    const second = await client([...cluster.urls].reverse()).stamp(d, { nonce: '01' });
    expect(second.verdict.index).toBe(first.verdict.index);
    expect(second.verdict.nonce).toBeUndefined();
  }, 90_000);

  it('an encrypted stamp: no replica sees the digest before its position is fixed', async () => {
    const d = digestOf('sealed document');
    const r = await client([cluster.urls[2]!, cluster.urls[3]!, cluster.urls[0]!]).stamp(d, { encrypt: true, label: 'test-client' });
    expect(r.verdict).toMatchObject({ ok: true, digest: d });
    const ordered = await getJson(cluster.urls[0]!, `/v1/notary/seq/${r.verdict.index}`);
    expect(ordered.json.digest).toBe(d);
  }, 90_000);

  it('SDK: a replica serving forged receipts is recorded and another replica used', async () => {
    const d = digestOf('document with a liar around');
    await client(cluster.urls.slice(1)).stamp(d);
    // Once replica 0 has it certified, the proxy in front of it answers first, with a forged receipt.
    await waitFor(async () => ((await getJson(cluster.urls[0]!, `/v1/notary/stamps/${d}`)).json.status === 'certified' ? true : null), 'certified at replica 0');
    const log: string[] = [];
    const alone = client([proxyUrl], log);
    expect(await alone.lookup(d)).toBeNull();
    expect(alone.liarList()).toEqual([{ url: proxyUrl, reason: expect.stringMatching(/signature/) }]);
    expect(log.join('\n')).toMatch(/does not verify/);
    // With honest replicas next to it, the answer comes from one of them, whichever answers first.
    const lookup = await client([proxyUrl, cluster.urls[2]!]).lookup(d);
    expect(lookup?.from).toBe(cluster.urls[2]);
    const r = await client([proxyUrl, ...cluster.urls.slice(1)]).stamp(d);
    expect(r.from).not.toBe(proxyUrl);
    expect(verifyStampReceipt(group, r.receipt, d).ok).toBe(true);
  }, 90_000);

  it('CLI: stamp FILE, then --verify FILE RECEIPT (exit 0 only for a valid receipt of that file)', async () => {
    const file = join(dataDir, 'contract.txt');
    writeFileSync(file, 'I owe you one beer.\n');
    const receipt = join(dataDir, 'contract.stamp.json');
    const s = await sintra('stamp', file, '--cluster', cluster.urls[0]!, '--cluster', cluster.urls[1]!, '--group', cluster.groupPath, '--out', receipt);
    expect(s.err).not.toMatch(/^error/m);
    expect(s.code).toBe(0);
    expect(s.out).toMatch(/^stamped .* at log index \d+/);
    expect(s.out).toContain(`receipt saved to ${receipt}`);
    const again = await sintra('stamp', file, '--cluster', cluster.urls[0]!, '--group', cluster.groupPath, '--out', receipt);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/^error: .*contract\.stamp\.json exists .*--force/m);

    const v = await sintra('stamp', '--verify', file, receipt, '--group', cluster.groupPath);
    expect(v.code).toBe(0);
    expect(v.out).toContain('valid stamp');
    // The checkpoint's agreed time, as the signed receipt carries it.
    const signed = (JSON.parse(readFileSync(receipt, 'utf8')) as { checkpoint: { time: number } }).checkpoint.time;
    expect(v.out).toContain(`time:       ${new Date(signed).toISOString()}`);
    expect(Math.abs(signed - Date.now())).toBeLessThan(120_000);
    const vj = await sintra('stamp', '--verify', file, receipt, '--group', cluster.groupPath, '--json');
    expect(JSON.parse(vj.out)).toMatchObject({ valid: true, digest: toHex(sha256(readFileSync(file))), checkpoint: { time: signed } });

    // Another file: valid receipt, but not of this file.
    const other = join(dataDir, 'other.txt');
    writeFileSync(other, 'I owe you two beers.\n');
    const wrongFile = await sintra('stamp', '--verify', other, receipt, '--group', cluster.groupPath);
    expect(wrongFile.code).toBe(1);
    expect(wrongFile.err).toMatch(/^error: .*registers digest/m);

    // Modified receipts: another entry (the other file's digest), a forged signature, a wrong index.
    const original = JSON.parse(readFileSync(receipt, 'utf8'));
    const entryText = Buffer.from(original.entry, 'hex').toString('utf8');
    const forgedEntry = { ...original, entry: Buffer.from(entryText.replace(toHex(sha256(readFileSync(file))), toHex(sha256(readFileSync(other))))).toString('hex') };
    const forgedSig = { ...original, checkpoint: { ...original.checkpoint, signature: flipHex(original.checkpoint.signature, 30) } };
    const movedIndex = { ...original, index: original.index + 1 };
    for (const [name, forged, why] of [
      ['entry', forgedEntry, /inclusion proof/],
      ['signature', forgedSig, /signature|not a receipt/],
      ['index', movedIndex, /inclusion proof|outside/],
    ] as const) {
      const path = join(dataDir, `forged-${name}.json`);
      writeFileSync(path, JSON.stringify(forged));
      const f = await sintra('stamp', '--verify', name === 'entry' ? other : file, path, '--group', cluster.groupPath);
      expect(f.code, name).toBe(1);
      expect(f.err, name).toMatch(why);
    }
    // Usage errors: exit 2.
    expect((await sintra('stamp', '--verify', file, receipt)).code).toBe(2);
    expect((await sintra('stamp', file)).code).toBe(2);
  }, 90_000);

  it('CLI as a process (node infra/bin/sintra.mjs): stamp FILE to a kernel with --group and --out, exit 0; the saved receipt verifies for that file', async () => {
    const file = join(dataDir, 'invoice.txt');
    writeFileSync(file, 'Invoice 2026-117: 3 beers.\n');
    const digest = toHex(sha256(readFileSync(file)));
    const receipt = join(dataDir, 'invoice.stamp.json');
    const s = await runSintra(['stamp', file, '--cluster', cluster.urls[2]!, '--cluster', cluster.urls[3]!, '--group', cluster.groupPath, '--out', receipt]);
    expect(s.code, s.err).toBe(0);
    expect(lines(s.out)).toEqual([expect.stringMatching(new RegExp(`^stamped ${file.replace(/[.]/g, '\\.')} \\(sha256 ${digest}\\) at log index \\d+; checkpoint size \\d+, epoch \\d+; receipt from http://127\\.0\\.0\\.1:\\d+ verified$`)), `receipt saved to ${receipt}`]);
    expect(s.err).not.toMatch(/^(error|warning)/m); // a kernel, pinned: nothing to warn about
    expect(lines(s.err)[0]).toBe(`${file}: sha256 ${digest}`);
    const v = await sintra('stamp', '--verify', file, receipt, '--group', cluster.groupPath, '--json');
    expect(v.code).toBe(0);
    expect(JSON.parse(v.out)).toMatchObject({ valid: true, digest });
  }, 90_000);

  it('CLI as a process: no group choice is a usage error before anything is sent; --trust-served-group to one replica warns twice; --out is kept unless --force', async () => {
    const file = join(dataDir, 'process-evidence.txt');
    writeFileSync(file, 'stamped by a process\n');
    const digest = toHex(sha256(readFileSync(file)));
    const kept = join(dataDir, 'kept.stamp.json');
    writeFileSync(kept, '{"kept": true}\n');
    const pinned = ['--cluster', cluster.urls[0]!, '--cluster', cluster.urls[1]!, '--group', cluster.groupPath];
    const [unpinned, served, refused] = await Promise.all([
      runSintra(['stamp', file, '--cluster', cluster.urls[0]!, '--cluster', cluster.urls[1]!]),
      runSintra(['stamp', file, '--cluster', cluster.urls[3]!, '--trust-served-group', '--json']),
      runSintra(['stamp', file, ...pinned, '--out', kept]),
    ]);
    // Neither --group nor --trust-served-group: exit 2, one line saying both, before anything is sent.
    expect(unpinned.code).toBe(2);
    expect(unpinned.out).toBe('');
    expect(lines(unpinned.err)).toHaveLength(1);
    expect(unpinned.err).toMatch(/^error: stamp needs the group's key: give --group group\.json .* or --trust-served-group/);
    // The served key, from one replica: what it means, and that one replica is not a kernel.
    expect(served.code, served.err).toBe(0);
    expect(served.err).toMatch(/^warning: --trust-served-group: trusting group [0-9a-f]{16}\.\.\. as served by http:\/\/127\.0\.0\.1:\d+; a Byzantine replica can serve a key of its own\. Pin it with --group group\.json\.$/m);
    expect(served.err).toMatch(/^warning: the replicas reached \(r4\) are not a kernel of the group \(t \+ 1 = 2 replicas of this threshold group\)/m);
    expect(JSON.parse(served.out)).toMatchObject({ digest });
    // Evidence is never overwritten without --force (checked before the stamp is sent); with it, it is.
    expect(refused.code).toBe(1);
    expect(lines(refused.err)).toEqual([`error: ${kept} exists (it may be evidence you keep); give --force to overwrite it, or another --out`]);
    expect(readFileSync(kept, 'utf8')).toBe('{"kept": true}\n');
    const forced = await runSintra(['stamp', file, ...pinned, '--out', kept, '--force']);
    expect(forced.code, forced.err).toBe(0);
    expect(verifyStampReceipt(group, JSON.parse(readFileSync(kept, 'utf8')), digest).ok).toBe(true);
  }, 120_000);

  it('CLI: --encrypt --json, group from /v1/info (--trust-served-group); without a group choice: usage error', async () => {
    const file = join(dataDir, 'sealed.bin');
    writeFileSync(file, new Uint8Array([1, 2, 3, 4, 5]));
    const unpinned = await sintra('stamp', file, '--cluster', cluster.urls[1]!, '--cluster', cluster.urls[2]!, '--encrypt', '--json');
    expect(unpinned.code).toBe(2);
    expect(unpinned.err).toMatch(/--group group\.json .* or --trust-served-group/);
    const s = await sintra('stamp', file, '--cluster', cluster.urls[1]!, '--cluster', cluster.urls[2]!, '--trust-served-group', '--encrypt', '--json');
    expect(s.err).not.toMatch(/^error/m);
    expect(s.code).toBe(0);
    const j = JSON.parse(s.out);
    expect(j.digest).toBe(toHex(sha256(new Uint8Array([1, 2, 3, 4, 5]))));
    expect(verifyStampReceipt(group, j.receipt, j.digest).ok).toBe(true);
  }, 90_000);

  it('serves its OpenAPI document', async () => {
    const r = await getJson(cluster.urls[0]!, '/v1/openapi.json');
    expect(r.status).toBe(200);
    expect(Object.keys(r.json.paths)).toContain('/v1/notary/stamp');
  });
});

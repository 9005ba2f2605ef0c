/**
 * `sintra monitor` and `sintra verify --consistency` against a local cluster on loopback HTTP (four
 * in-memory replica hosts, each served by @hono/node-server): with honest replicas the monitor verifies
 * every entry against the signed roots and exits 0; a replica serving altered entries is named with the
 * evidence (exit 1); a replica serving a forked log, signed here with every key share (what more corrupt
 * replicas than tolerated could do), is reported as a fork with both checkpoints (exit 1).
 */
import { createAdaptorServer } from '@hono/node-server';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../infra/cli/main.ts';
import { toBase64, toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { domain } from '../../shared/crypto/domain.ts';
import { combineShares, signShare } from '../../shared/crypto/threshold-bls.ts';
import { checkpointFromJson, checkpointPayload, checkpointTag, checkpointToJson } from '../../shared/log/checkpoint.ts';
import type { Checkpoint, SignedCheckpoint } from '../../shared/log/checkpoint.ts';
import { hostCluster } from '../helpers/host-cluster.ts';

type Server = ReturnType<typeof createAdaptorServer>;

async function listen(fetch: (req: Request) => Response | Promise<Response>): Promise<{ url: string; server: Server }> {
  const server = createAdaptorServer({ fetch });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const SINTRA_BIN = fileURLToPath(new URL('../../infra/bin/sintra.mjs', import.meta.url));

async function sintra(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['node', 'sintra', ...args], { out: (s) => void (out += s), err: (s) => void (err += s) });
  return { code, out, err };
}

let c: ReturnType<typeof hostCluster>;
let dir: string;
let groupFile: string;
const servers: Server[] = [];
let urls: string[] = [];

function signedByAll(x: Checkpoint): SignedCheckpoint {
  const d = domain(c.group.groupId, 'checkpoint');
  const shares = c.secrets.map((s) => signShare(s.kernel, d, checkpointTag(x.epoch), checkpointPayload(x)));
  return { ...x, signature: combineShares(c.group.kernel, d, checkpointTag(x.epoch), checkpointPayload(x), shares).bytes };
}

beforeAll(async () => {
  c = hostCluster();
  dir = mkdtempSync(join(tmpdir(), 'sintra-monitor-'));
  groupFile = join(dir, 'group.json');
  writeFileSync(groupFile, JSON.stringify(c.group.file));
  for (let k = 0; k < 3; k++) {
    await c.hosts[k]!.submitMany(Array.from({ length: 15 }, (_, i) => ({ bytes: utf8ToBytes(`monitored ${k}/${i}`), encrypted: false })));
    await c.settle();
  }
  for (let i = 0; i < 4; i++) {
    const app = c.app(i);
    const s = await listen((req) => app.fetch(req));
    servers.push(s.server);
    urls.push(s.url);
  }
}, 120_000);

afterAll(() => {
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

const cluster = (list: string[]) => list.flatMap((u) => ['--cluster', u]);

describe('sintra monitor', () => {
  it('honest replicas: every entry verified against the signed root, exit 0', async () => {
    const r = await sintra('monitor', ...cluster(urls), '--group', groupFile, '--rounds', '2', '--interval', '1', '--json');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const events = r.out.trim().split('\n').map((l) => JSON.parse(l) as { type: string; from?: number; to?: number });
    expect(events.filter((e) => e.type === 'checkpoint').length).toBeGreaterThanOrEqual(4);
    expect(events.find((e) => e.type === 'entries')).toMatchObject({ from: 0, to: 45 });
    expect(events.some((e) => e.type === 'liar' || e.type === 'fork')).toBe(false);
  }, 120_000);

  it('as a process (the CLI a user runs): two rounds, the summary, exit 0 (it used to exit 13 between rounds)', async () => {
    // The monitor's wait between rounds was an unref'd timer: with nothing else alive, Node ended the process
    // (exit 13, unsettled top-level await) before round 2. In-process calls of main() could not see it.
    const child = spawn(process.execPath, [SINTRA_BIN, 'monitor', ...cluster(urls), '--group', groupFile, '--rounds', '2', '--interval', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out.match(/^checkpoint /gm)?.length, out).toBeGreaterThanOrEqual(4);
    expect(out, out).toMatch(/^no evidence of misbehaviour; 45 entries verified against checkpoint size 45$/m);
  }, 120_000);

  it('a replica serving altered entries is named, with the signed checkpoint they contradict (exit 1)', async () => {
    const honest = c.app(2);
    const altered = new Hono();
    altered.get('/v1/log/entries', async (ctx) => {
      const res = await honest.request(ctx.req.url.slice(ctx.req.url.indexOf('/v1/')));
      const j = (await res.json()) as { size: number; entries: { index: number; data: string }[] };
      if (j.entries[3]) j.entries[3].data = toBase64(utf8ToBytes('rewritten history'));
      return ctx.json(j);
    });
    altered.all('*', (ctx) => honest.fetch(ctx.req.raw));
    const s = await listen((req) => altered.fetch(req));
    servers.push(s.server);
    const r = await sintra('monitor', ...cluster([s.url, ...urls]), '--group', groupFile, '--rounds', '3', '--interval', '1');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`LIAR +${s.url.replace(/[.]/g, '\\.')} served entries 0\\.\\.44 that do not give the signed root of size 45`));
    expect(r.err).toMatch(/checkpoint: \{"size":45/);
  }, 120_000);

  it('a replica serving a forked log signed by the group: FORK with both checkpoints (exit 1)', async () => {
    const real = c.hosts[0]!.latestCheckpoint()!;
    const forked = signedByAll({ size: real.size, root: new Uint8Array(32).fill(0xf0), epoch: real.epoch + 1, stateDigest: new Uint8Array(32) });
    const honest = c.app(3);
    const forking = new Hono();
    forking.get('/v1/log/checkpoint', (ctx) => ctx.json(checkpointToJson(forked)));
    forking.all('*', (ctx) => honest.fetch(ctx.req.raw));
    const s = await listen((req) => forking.fetch(req));
    servers.push(s.server);
    const r = await sintra('monitor', ...cluster([...urls, s.url]), '--group', groupFile, '--rounds', '2', '--interval', '1', '--json');
    expect(r.code).toBe(1);
    const last = JSON.parse(r.out.trim().split('\n').pop()!) as { type: string; older: unknown; newer: unknown; why: string };
    expect(last.type).toBe('fork');
    expect(toHex(checkpointFromJson(last.older).root)).toBe(toHex(real.root));
    expect(toHex(checkpointFromJson(last.newer).root)).toBe(toHex(forked.root));
    expect(last.why).toMatch(/two signed roots for size 45/);

    // The same pair, saved: sintra verify --consistency says fork; a real later checkpoint is consistent.
    writeFileSync(join(dir, 'real.json'), JSON.stringify(checkpointToJson(real)));
    writeFileSync(join(dir, 'forked.json'), JSON.stringify(checkpointToJson(forked)));
    const v = await sintra('verify', '--consistency', join(dir, 'real.json'), join(dir, 'forked.json'), '--group', groupFile);
    expect(v.code).toBe(1);
    expect(v.err).toMatch(/FORK: the group signed two histories/);
  }, 120_000);
});

describe('sintra export and verify --archive', () => {
  it('saves the log as a checked tiles folder, adds only new tiles on a second run, and a tampered folder fails', async () => {
    const out = join(dir, 'archive');
    const first = await sintra('export', ...cluster(urls), '--group', groupFile, '--out', out, '--json');
    expect(first.err).toBe('');
    expect(first.code).toBe(0);
    const a = JSON.parse(first.out) as { size: number; tiles: number; fetched: number; kept: number };
    expect(a.fetched).toBe(a.tiles);
    const v = await sintra('verify', '--archive', out, '--group', groupFile);
    expect(v.code).toBe(0);
    expect(v.out).toMatch(new RegExp(`valid archive: ${a.size} entries`));
    const again = await sintra('export', ...cluster(urls), '--group', groupFile, '--out', out, '--json');
    expect(JSON.parse(again.out)).toMatchObject({ size: a.size });
    const bundle = join(out, 'tile', 'entries', `000.p/${a.size % 256}`);
    const bytes = readFileSync(bundle);
    bytes[bytes.length - 1]! ^= 1;
    writeFileSync(bundle, bytes);
    const bad = await sintra('verify', '--archive', out, '--group', groupFile);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/invalid archive .* does not hash to its level-0 tile/);
  }, 120_000);
});

describe('sintra verify --consistency', () => {
  it('two saved checkpoints of one history: consistent with a proof from any replica; sizes differ without --cluster: usage', async () => {
    const older = c.hosts[1]!.latestCheckpoint()!;
    writeFileSync(join(dir, 'older.json'), JSON.stringify({ checkpoint: checkpointToJson(older) }));
    await c.hosts[1]!.submitMany([{ bytes: utf8ToBytes('one more'), encrypted: false }]);
    await c.settle();
    const newer = c.hosts[1]!.latestCheckpoint()!;
    expect(newer.size).toBe(older.size + 1);
    writeFileSync(join(dir, 'newer.json'), JSON.stringify(checkpointToJson(newer)));
    const ok = await sintra('verify', '--consistency', join(dir, 'older.json'), join(dir, 'newer.json'), '--group', groupFile, ...cluster(urls));
    expect(ok.err).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/consistent: the checkpoint of size 46 .* extends the one of size 45/);
    const usage = await sintra('verify', '--consistency', join(dir, 'older.json'), join(dir, 'newer.json'), '--group', groupFile);
    expect(usage.code).toBe(2);
    expect(usage.err).toMatch(/consistency proof is needed/);
    writeFileSync(join(dir, 'tampered.json'), JSON.stringify({ ...checkpointToJson(newer), size: 47 }));
    const bad = await sintra('verify', '--consistency', join(dir, 'older.json'), join(dir, 'tampered.json'), '--group', groupFile, ...cluster(urls));
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/signature does not verify/);
  }, 120_000);
});

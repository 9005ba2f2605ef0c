/**
 * `sintra verify` and `sintra submit`, in-process through main().
 *
 * verify: a real receipt (four ReplicaEngines with real keys on an in-memory network order three requests and
 * certify a checkpoint) verifies with group.json: exit 0 saying what was verified; a tampered entry, proof,
 * signature or checkpoint, another group, or an unreadable receipt exit 1 with the reason; usage errors 2.
 *
 * submit: against small fake replicas (node:http) that speak the API: the request goes to every --url, the id
 * is printed, --wait polls until certified, verifies the receipt and saves it (--out) or prints it (--json);
 * API errors are reported with their code, connection refused / timeouts / bad receipts exit 1.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../infra/cli/main.ts';
import { toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { receiptToJson } from '../../shared/log/checkpoint.ts';
import type { ReceiptJson } from '../../shared/log/checkpoint.ts';
import type { Message } from '../../shared/protocols/messages.ts';
import { ReplicaEngine, requestId } from '../../shared/replica/engine.ts';
import { contextFromConfig } from '../../shared/replica/from-config.ts';
import { testGroup } from '../helpers/group.ts';
import { MemoryStorage, receiptFrom, recordStep } from '../helpers/history.ts';

interface Run {
  code: number;
  out: string;
  err: string;
}

async function sintra(...args: string[]): Promise<Run> {
  let out = '';
  let err = '';
  const code = await main(['node', 'sintra', ...args], { out: (s) => void (out += s), err: (s) => void (err += s) });
  return { code, out, err };
}

/** The last stderr line is one `error: ...` line; returns it. */
function errorLine(r: Run): string {
  const lines = r.err.split('\n').filter((l) => l !== '');
  const last = lines[lines.length - 1] ?? '';
  expect(last).toMatch(/^error: /);
  expect(lines.filter((l) => l.startsWith('error: '))).toHaveLength(1);
  return last;
}

const TEXT = 'hello receipt';
const BINARY = new Uint8Array([0, 1, 2, 255, 7]);

/** Four engines with real keys order three requests on a FIFO in-memory network; receipts for two of them. */
function buildReceipts(): { text: ReceiptJson; binary: ReceiptJson } {
  const { group, secrets } = testGroup(4);
  const engines = secrets.map((s) => new ReplicaEngine(contextFromConfig(group, s)));
  const queue: { from: number; to: number; msg: Message }[] = [];
  const requests = [utf8ToBytes(TEXT), BINARY, utf8ToBytes('a third request')];
  requests.forEach((r, i) => {
    for (const o of engines[i]!.handle({ kind: 'submit', request: r }).outgoing) queue.push({ from: i, to: o.to, msg: o.msg });
  });
  const store = new MemoryStorage();
  for (let steps = 0; queue.length > 0; steps++) {
    if (steps > 200_000) throw new Error('no quiescence');
    const m = queue.shift()!;
    const s = engines[m.to]!.handle({ kind: 'peer', from: m.from, msg: m.msg });
    if (m.to === 1) recordStep(store, s);
    if (s.deferred) queue.push(m);
    for (const o of s.outgoing) queue.push({ from: m.to, to: o.to, msg: o.msg });
  }
  const receipt = (request: Uint8Array): ReceiptJson => receiptToJson(group.groupId, receiptFrom(store, store.indexOfId(requestId(request))!)!);
  return { text: receipt(requests[0]!), binary: receipt(requests[1]!) };
}

let tmp: string;
let receipts: { text: ReceiptJson; binary: ReceiptJson };
let groupFile: string;
let otherGroupFile: string;
let textReceiptFile: string;

async function writeJson(name: string, value: unknown): Promise<string> {
  const p = path.join(tmp, name);
  await writeFile(p, JSON.stringify(value, null, 2));
  return p;
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'sintra-submit-verify-'));
  receipts = buildReceipts();
  groupFile = await writeJson('group.json', testGroup(4).group.file);
  otherGroupFile = await writeJson('other-group.json', testGroup(4, 1, 'another group').group.file);
  textReceiptFile = await writeJson('receipt.json', receipts.text);
}, 120_000);

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------------------

describe('sintra verify', () => {
  it('a real receipt verifies: exit 0, says what was verified', async () => {
    const r = await sintra('verify', textReceiptFile, '--group', groupFile);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toMatch(/^valid receipt/);
    expect(r.out).toContain(`entry:      "${TEXT}" (13 bytes of text)`);
    expect(r.out).toContain(`request id: ${toHex(sha256(utf8ToBytes(TEXT)))}`);
    expect(r.out).toContain(`index:      ${receipts.text.index} `);
    expect(r.out).toContain(`checkpoint: size ${receipts.text.checkpoint.size}, epoch ${receipts.text.checkpoint.epoch}`);
    expect(r.out).toContain('signature:  verified');
  });

  it('--json; a binary entry is shown as hex with its length', async () => {
    const r = await sintra('verify', await writeJson('binary.json', receipts.binary), '--group', groupFile, '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ valid: true, index: receipts.binary.index, entry: { bytes: 5, text: null, hex: '000102ff07' }, checkpoint: { size: 3 } });
    expect((await sintra('verify', await writeJson('binary.json', receipts.binary), '--group', groupFile)).out).toContain('entry:      5 bytes, binary: 000102ff07');
  });

  it('tampered receipts exit 1 with the reason', async () => {
    const t = receipts.text;
    const flip = (hex: string, at = hex.length - 2) => hex.slice(0, at) + ((parseInt(hex.slice(at, at + 2), 16) ^ 1) + 0x100).toString(16).slice(1) + hex.slice(at + 2);
    expect(t.proof.length).toBeGreaterThan(0);
    const cases: [string, ReceiptJson, RegExp][] = [
      ['entry', { ...t, entry: toHex(utf8ToBytes('hello receipT')) }, /inclusion proof does not lead to the checkpoint root/],
      ['proof', { ...t, proof: [flip(t.proof[0]!), ...t.proof.slice(1)] }, /inclusion proof does not lead to the checkpoint root/],
      ['index', { ...t, index: (t.index + 1) % t.checkpoint.size }, /inclusion proof/],
      ['signature', { ...t, checkpoint: { ...t.checkpoint, signature: flip(t.checkpoint.signature) } }, /checkpoint signature does not verify/],
      ['root', { ...t, checkpoint: { ...t.checkpoint, root: flip(t.checkpoint.root) } }, /checkpoint signature does not verify/],
      ['epoch', { ...t, checkpoint: { ...t.checkpoint, epoch: t.checkpoint.epoch + 1 } }, /checkpoint signature does not verify/],
      ['outside', { ...t, index: t.checkpoint.size }, /outside the checkpoint/],
      ['format', { ...t, format: 'sintra-edge/receipt@2' as 'sintra-edge/receipt@1' }, /not a receipt: format/],
      ['short-proof', { ...t, proof: ['abcd'] }, /not a receipt: proof\[0\]/],
    ];
    for (const [name, receipt, reason] of cases) {
      const r = await sintra('verify', await writeJson(`tampered-${name}.json`, receipt), '--group', groupFile);
      expect({ name, code: r.code, out: r.out }).toEqual({ name, code: 1, out: '' });
      expect(errorLine(r)).toMatch(reason);
    }
    const j = await sintra('verify', path.join(tmp, 'tampered-entry.json'), '--group', groupFile, '--json');
    expect(j.code).toBe(1);
    expect(JSON.parse(j.out)).toMatchObject({ valid: false, reason: expect.stringMatching(/inclusion proof/) });
  });

  it('another group: refused by group id, and by signature when the group id is forged', async () => {
    const r = await sintra('verify', textReceiptFile, '--group', otherGroupFile);
    expect(r.code).toBe(1);
    expect(errorLine(r)).toMatch(/the receipt is for group [0-9a-f]{64}, not for this group/);
    const other = JSON.parse(await readFile(otherGroupFile, 'utf8')) as { groupId: string };
    const forged = await sintra('verify', await writeJson('forged-group.json', { ...receipts.text, groupId: other.groupId }), '--group', otherGroupFile);
    expect(forged.code).toBe(1);
    expect(errorLine(forged)).toMatch(/checkpoint signature does not verify/);
  });

  it('unreadable receipts and group files exit 1; usage errors exit 2', async () => {
    const missing = await sintra('verify', path.join(tmp, 'nope.json'), '--group', groupFile);
    expect(missing.code).toBe(1);
    expect(errorLine(missing)).toMatch(/cannot read receipt .*nope\.json: no such file/);
    const notJson = await sintra('verify', await writeJson('not-json.json', 'x'), '--group', groupFile);
    await writeFile(path.join(tmp, 'not-json.json'), '{"format": ');
    expect((await sintra('verify', path.join(tmp, 'not-json.json'), '--group', groupFile)).err).toMatch(/is not JSON/);
    expect(notJson.code).toBe(1);
    const badGroup = await sintra('verify', textReceiptFile, '--group', textReceiptFile);
    expect(badGroup.code).toBe(1);
    expect(errorLine(badGroup)).toMatch(/is not a valid group\.json/);
    const noGroup = await sintra('verify', textReceiptFile);
    expect(noGroup.code).toBe(2);
    expect(errorLine(noGroup)).toMatch(/--group/);
    expect((await sintra('verify', '--group', groupFile)).code).toBe(2);
    expect((await sintra('verify', textReceiptFile, '--group', groupFile, '--bogus')).code).toBe(2);
  });
});

// ---------------------------------------------------------------------------------------------------------

interface FakeOptions {
  /** Answer POST /v1/requests with this error (status, code). */
  postError?: [number, string];
  /** Answer POST with a non-JSON body. */
  html?: boolean;
  /** GETs of the status before it says ordered, then certified (default 1 and 2). */
  orderedAfter?: number;
  certifiedAfter?: number;
  /** Serve this receipt instead of the real one. */
  receipt?: unknown;
  /** Serve this group in /v1/info. */
  group?: unknown;
  /** The replica index /v1/info reports (default 0). */
  index?: number;
}

interface Fake {
  url: string;
  posts: { type: string; body: Buffer }[];
  gets: string[];
  close(): Promise<void>;
}

async function fakeReplica(o: FakeOptions = {}): Promise<Fake> {
  const posts: Fake['posts'] = [];
  const gets: string[] = [];
  let polls = 0;
  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const fail = (res: ServerResponse, status: number, code: string, message: string) => send(res, status, { error: { code, message } });
  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://fake');
    if (req.method === 'POST' && url.pathname === '/v1/requests') {
      const type = req.headers['content-type'] ?? '';
      posts.push({ type, body });
      if (o.html) {
        res.writeHead(502, { 'content-type': 'text/html' });
        return res.end('<html><body>Bad gateway</body></html>');
      }
      if (o.postError) return fail(res, o.postError[0], o.postError[1], 'something about the request');
      const bytes = type === 'application/octet-stream' ? body : Buffer.from((JSON.parse(body.toString()) as { text: string }).text, 'utf8');
      return send(res, 202, { id: toHex(sha256(bytes)), status: 'pending', replica: 'fake' });
    }
    gets.push(url.pathname);
    if (url.pathname === '/v1/info') {
      const group = o.group ?? testGroup(4).group.file;
      return send(res, 200, { service: 'sintra-edge', replica: { id: 'fake', index: o.index ?? 0 }, groupId: (group as { groupId: string }).groupId, n: 4, group });
    }
    const m = url.pathname.match(/^\/v1\/(requests|receipts)\/([0-9a-f]{64})$/);
    if (m) {
      const known = posts.length > 0;
      if (!known) return fail(res, 404, 'unknown-request', 'neither pending here nor in the log');
      if (m[1] === 'requests') {
        polls++;
        const status = polls > (o.certifiedAfter ?? 2) ? 'certified' : polls > (o.orderedAfter ?? 1) ? 'ordered' : 'pending';
        if (status === 'pending') return send(res, 200, { id: m[2], status });
        return send(res, 200, { id: m[2], status, index: receipts.text.index, epoch: receipts.text.checkpoint.epoch, checkpoint: status === 'certified' ? receipts.text.checkpoint : null });
      }
      if (polls <= (o.certifiedAfter ?? 2)) return fail(res, 409, 'not-certified', 'not yet');
      return send(res, 200, o.receipt ?? receipts.text);
    }
    return fail(res, 404, 'not-found', `no route ${req.method} ${url.pathname}`);
  };
  const server: Server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    posts,
    gets,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A localhost port nobody listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('sintra submit', () => {
  const fakes: Fake[] = [];
  const fake = async (o?: FakeOptions) => {
    const f = await fakeReplica(o);
    fakes.push(f);
    return f;
  };
  afterAll(async () => {
    await Promise.all(fakes.map((f) => f.close()));
  });
  const ID = () => toHex(sha256(utf8ToBytes(TEXT)));

  it('sends the text to every --url and prints the request id', async () => {
    const [a, b] = [await fake(), await fake()];
    const r = await sintra('submit', '--url', a.url, '--url', `${b.url}/`, TEXT);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${ID()}\n`);
    for (const f of [a, b]) {
      expect(f.posts).toHaveLength(1);
      expect(f.posts[0]!.type).toBe('application/json');
      expect(JSON.parse(f.posts[0]!.body.toString())).toEqual({ text: TEXT });
    }
    expect(r.err).toMatch(/submitted to fake at http:\/\/127\.0\.0\.1:\d+: pending/);
  });

  it('--file sends raw bytes; --json', async () => {
    const f = await fake();
    const file = path.join(tmp, 'payload.bin');
    await writeFile(file, BINARY);
    const r = await sintra('submit', '--url', f.url, '--file', file, '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ id: toHex(sha256(BINARY)), status: 'pending', replicas: [{ url: f.url, ok: true, status: 'pending', replica: 'fake' }] });
    expect(f.posts[0]!.type).toBe('application/octet-stream');
    expect(new Uint8Array(f.posts[0]!.body)).toEqual(BINARY);
  });

  it('--wait --out: polls until certified, verifies the receipt, saves it; `sintra verify` accepts it', async () => {
    const [a, b] = [await fake({ orderedAfter: 1, certifiedAfter: 3 }), await fake({ orderedAfter: 2, certifiedAfter: 5 })];
    const out = path.join(tmp, 'saved-receipt.json');
    const r = await sintra('submit', '--url', a.url, '--url', b.url, '--trust-served-group', '--wait', '--out', out, TEXT);
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toBe(ID());
    expect(lines[1]).toMatch(new RegExp(`^certified at index ${receipts.text.index} \\(checkpoint size 3, epoch \\d+\\); receipt from ${a.url} verified`));
    expect(lines[2]).toBe(`receipt saved to ${out}`);
    expect(r.err).toMatch(/ordered at index \d+/);
    expect(r.err).toMatch(/certified at index \d+/);
    expect(r.err).toMatch(/verifying with group [0-9a-f]{16}\.\.\. as served by 2 replicas/);
    expect(r.err).toMatch(/warning: --trust-served-group: trusting group [0-9a-f]{16}\.\.\. as served by 2 replicas; a Byzantine replica can serve a key of its own/);
    expect(JSON.parse(await readFile(out, 'utf8'))).toEqual(receipts.text);
    expect((await sintra('verify', out, '--group', groupFile)).code).toBe(0);
  });

  it('--wait without --out prints the id, the result line and the receipt', async () => {
    const f = await fake({ orderedAfter: 0, certifiedAfter: 1 });
    const r = await sintra('submit', '--url', f.url, '--wait', '--trust-served-group', TEXT);
    expect(r.code).toBe(0);
    const [id, result, ...rest] = r.out.split('\n');
    expect(id).toBe(ID());
    expect(result).toMatch(/^certified at index \d+ /);
    expect(JSON.parse(rest.join('\n'))).toEqual(receipts.text);
  });

  it('--wait --json --group: one JSON object with the receipt', async () => {
    const f = await fake();
    const r = await sintra('submit', '--url', f.url, '--wait', '--json', '--group', groupFile, TEXT);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ id: ID(), status: 'certified', index: receipts.text.index, checkpoint: { size: 3 }, receiptFrom: f.url, receipt: receipts.text });
    expect(r.err).not.toMatch(/trust-served-group/);
  });

  it('a replica serving a receipt that does not verify is skipped; if all do, exit 1', async () => {
    const forged = { ...receipts.text, entry: toHex(utf8ToBytes('forged')) };
    const [bad, good] = [await fake({ receipt: forged, certifiedAfter: 1 }), await fake({ certifiedAfter: 3 })];
    const r = await sintra('submit', '--url', bad.url, '--url', good.url, '--wait', '--json', '--trust-served-group', TEXT);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(new RegExp(`warning: ${bad.url} served a receipt that does not verify`));
    expect(JSON.parse(r.out).receiptFrom).toBe(good.url);
    const only = await fake({ receipt: forged });
    const r2 = await sintra('submit', '--url', only.url, '--wait', '--trust-served-group', TEXT);
    expect(r2.code).toBe(1);
    expect(errorLine(r2)).toMatch(/no replica served a receipt that verifies/);
  });

  it('--group: a replica serving another group is refused before anything is sent', async () => {
    const f = await fake({ group: testGroup(4, 1, 'another group').group.file });
    const r = await sintra('submit', '--url', f.url, '--group', groupFile, TEXT);
    expect(r.code).toBe(1);
    expect(errorLine(r)).toMatch(/serves group [0-9a-f]{16}\.\.\., not the pinned group .*nothing was submitted/);
    expect(f.posts).toHaveLength(0);
    // Without --group, replicas that disagree about the group are refused too.
    const g = await fake();
    const r2 = await sintra('submit', '--url', f.url, '--url', g.url, '--wait', '--trust-served-group', TEXT);
    expect(r2.code).toBe(1);
    expect(errorLine(r2)).toMatch(/the replicas serve different groups/);
  });

  it('a key is trusted only when pinned or explicitly taken from the replicas; too few replicas are a warning', async () => {
    const f = await fake({ certifiedAfter: 1 });
    for (const flags of [['--wait'], ['--encrypt'], ['--out', path.join(tmp, 'never.json')]]) {
      const r = await sintra('submit', '--url', f.url, ...flags, TEXT);
      expect(r.code, flags.join(' ')).toBe(2);
      expect(errorLine(r)).toMatch(/needs the group's key: give --group group\.json .* or --trust-served-group/);
    }
    const both = await sintra('submit', '--url', f.url, '--wait', '--group', groupFile, '--trust-served-group', TEXT);
    expect(both.code).toBe(2);
    expect(errorLine(both)).toMatch(/not both/);
    expect(f.posts).toHaveLength(0);
    // One replica of a threshold group of 4 is not a kernel (t + 1 = 2): said on stderr, still submitted.
    const one = await sintra('submit', '--url', f.url, '--wait', '--group', groupFile, TEXT);
    expect(one.code).toBe(0);
    expect(one.err).toMatch(/warning: the replicas reached \(.*\) are not a kernel of the group \(t \+ 1 = 2 replicas of this threshold group\)/);
  });

  it('without --group too (nothing verified), fewer replicas than a kernel get a warning, counted against the structure they serve', async () => {
    const [a, b] = [await fake(), await fake({ index: 1 })];
    const one = await sintra('submit', '--url', a.url, TEXT);
    expect(one.code).toBe(0);
    expect(one.out).toBe(`${ID()}\n`);
    expect(one.err).toMatch(/^warning: the replicas reached \(r1\) are not a kernel of the group \(t \+ 1 = 2 replicas of this threshold group\): if they are all Byzantine they can drop the request \(the group's structure as the replicas serve it: none is pinned\)\. Give more --url\/--cluster replicas\.$/m);
    expect(a.posts).toHaveLength(1);
    // Two replicas (indices 0 and 1) of a group of 4 with t = 1 are a kernel: nothing to warn about.
    const two = await sintra('submit', '--url', a.url, '--url', b.url, TEXT);
    expect(two.code).toBe(0);
    expect(two.err).not.toMatch(/not a kernel/);
    // A replica serving another group does not count for the first one served.
    const other = await fake({ group: testGroup(4, 1, 'another group').group.file, index: 1 });
    const mixed = await sintra('submit', '--url', a.url, '--url', other.url, TEXT);
    expect(mixed.err).toMatch(/^warning: the replicas reached \(r1\) are not a kernel/m);
  });

  it('API errors are reported with their code; connection refused; non-JSON answers', async () => {
    const f = await fake({ postError: [400, 'bad-request'] });
    const r = await sintra('submit', '--url', f.url, TEXT);
    expect(r).toMatchObject({ code: 1, out: '' });
    expect(errorLine(r)).toBe(`error: ${f.url}: HTTP 400 bad-request: something about the request`);

    const port = await closedPort();
    const refused = await sintra('submit', '--url', `http://127.0.0.1:${port}`, TEXT);
    expect(refused.code).toBe(1);
    expect(errorLine(refused)).toBe(`error: http://127.0.0.1:${port}: connection refused`);

    const both = await sintra('submit', '--url', `http://127.0.0.1:${port}`, '--url', f.url, TEXT);
    expect(both.code).toBe(1);
    expect(errorLine(both)).toMatch(/^error: no replica accepted the request \(.*connection refused; .*HTTP 400 bad-request/);

    const html = await fake({ html: true });
    const h = await sintra('submit', '--url', html.url, TEXT);
    expect(h.code).toBe(1);
    expect(errorLine(h)).toMatch(/HTTP 502: <html><body>Bad gateway<\/body><\/html> \(not a Sintra Edge replica\?\)/);
  });

  it('one replica down is a warning when another accepts the request', async () => {
    const port = await closedPort();
    const f = await fake();
    const r = await sintra('submit', '--url', `http://127.0.0.1:${port}`, '--url', f.url, TEXT);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${ID()}\n`);
    expect(r.err).toContain(`warning: http://127.0.0.1:${port}: connection refused`);
    expect(r.err).toContain('warning: only 1 of 2 replicas accepted the request');
  });

  it('--timeout: gives up with the last status', async () => {
    const f = await fake({ orderedAfter: 1, certifiedAfter: 1_000_000 });
    const t0 = Date.now();
    const r = await sintra('submit', '--url', f.url, '--wait', '--group', groupFile, '--timeout', '1', TEXT);
    expect(r.code).toBe(1);
    expect(errorLine(r)).toMatch(/timed out after \d+ s: request [0-9a-f]{64} is still ordered/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('usage errors exit 2', async () => {
    const cases: [string[], RegExp][] = [
      [[TEXT], /at least one --url/],
      [['--url', 'http://127.0.0.1:1'], /PAYLOAD text or as --file/],
      [['--url', 'http://127.0.0.1:1', '--file', 'x', TEXT], /not both/],
      [['--url', 'not a url', TEXT], /is not a URL/],
      [['--url', 'ftp://example.com', TEXT], /only http and https/],
      [['--url', 'http://127.0.0.1:1', ''], /empty/],
      [['--url', 'http://127.0.0.1:1', '--timeout', '0', TEXT], /--timeout/],
      [['--url', 'http://127.0.0.1:1', 'two', 'words'], /too many arguments/],
    ];
    for (const [args, msg] of cases) {
      const r = await sintra('submit', ...args);
      expect({ args, code: r.code, out: r.out }).toEqual({ args, code: 2, out: '' });
      expect(errorLine(r)).toMatch(msg);
    }
    const missing = await sintra('submit', '--url', 'http://127.0.0.1:1', '--file', path.join(tmp, 'missing.bin'));
    expect(missing.code).toBe(1);
    expect(errorLine(missing)).toMatch(/cannot read .*missing\.bin: no such file/);
  });
});

/**
 * SintraClient.submit and waitForReceipt (shared/client/sdk.ts).
 *
 * Against four real in-memory replicas (test/helpers/host-cluster.ts, answered through their HTTP apps):
 * text goes as {"text"} and bytes as application/octet-stream to a kernel (or to every replica with
 * `to: 'all'`); the receipt comes back verified for exactly those bytes; encrypted requests show the
 * replicas only a ciphertext; `wait: false` then waitForReceipt gives the same; replicas serving junk,
 * another entry's receipt or a forged signature become liars, and when all do the call fails
 * ('unverified') with their reasons.
 *
 * Against fake replicas: bad input is refused before anything is sent (a typo in `encrypt` included),
 * a client without a group only submits, answers with another id, an unknown status or no JSON are
 * refusals, a replica of another group stops the call, and timeouts, aborts and `skipped` (only when a
 * kernel says so) end the wait with their codes.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { SintraClient, SubmitError } from '../../shared/client/sdk.ts';
import type { FetchLike, SintraClientOptions, SubmitErrorCode } from '../../shared/client/sdk.ts';
import { fromHex, toBase64, toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { receiptFromJson, verifyReceipt } from '../../shared/log/checkpoint.ts';
import type { ReceiptJson } from '../../shared/log/checkpoint.ts';
import { testGroup } from '../helpers/group.ts';
import { hostCluster } from '../helpers/host-cluster.ts';

type Cluster = ReturnType<typeof hostCluster>;

interface Post {
  readonly replica: number;
  readonly path: string;
  readonly type: string | undefined;
  readonly body: string | Uint8Array | undefined;
}

/** URLs http://rI answered by replica I's app; `tamper` may replace an answer; POSTs are recorded. */
function clusterFetch(c: Cluster, posts: Post[], tamper?: (i: number, path: string) => { status: number; body: unknown } | null): FetchLike {
  return async (url, init) => {
    const u = new URL(url);
    const i = Number(u.hostname.slice(1));
    if (init?.method === 'POST') posts.push({ replica: i, path: u.pathname, type: init.headers?.['content-type'], body: init.body });
    const forged = tamper?.(i, u.pathname);
    if (forged) return { status: forged.status, text: async () => JSON.stringify(forged.body) };
    const res = await c.app(i).request(u.pathname + u.search, { method: init?.method ?? 'GET', ...(init?.headers ? { headers: init.headers } : {}), ...(init?.body !== undefined ? { body: init.body } : {}) });
    return { status: res.status, text: () => res.text() };
  };
}

const URLS = ['http://r0', 'http://r1', 'http://r2', 'http://r3'];

function clusterClient(c: Cluster, fetch: FetchLike, extra: Partial<SintraClientOptions> = {}): SintraClient {
  // Sleeps drive the cluster; patience never runs out (every replica here answers).
  return new SintraClient({
    group: c.group,
    urls: URLS,
    fetch,
    sleep: (ms) => (ms >= 60_000 ? new Promise<void>(() => undefined) : c.settle()),
    pollMs: 1,
    patienceMs: 60_000,
    randomBytes: (n) => new Uint8Array(n).map((_, i) => (i * 37 + 11) & 0xff),
    ...extra,
  });
}

const hex = (s: string) => toHex(sha256(utf8ToBytes(s)));

/** The error `p` rejects with, which must be a SubmitError with this code. */
async function submitError(p: Promise<unknown>, code: SubmitErrorCode): Promise<SubmitError> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(SubmitError);
  expect({ code: (e as SubmitError).code, message: (e as SubmitError).message }).toMatchObject({ code });
  return e as SubmitError;
}

function receiptEntry(r: ReceiptJson): Uint8Array {
  return fromHex(r.entry);
}

describe('SintraClient.submit on four in-memory replicas', () => {
  it('text and bytes to a kernel or to all, receipts verified for exactly those bytes; wait: false then waitForReceipt', async () => {
    const c = hostCluster();
    const posts: Post[] = [];
    const log: string[] = [];
    const sdk = clusterClient(c, clusterFetch(c, posts), { log: (l) => void log.push(l) });

    const text = await sdk.submit('hello, replicas');
    expect(text).toMatchObject({ id: hex('hello, replicas'), entryId: hex('hello, replicas'), encrypted: false, status: 'certified', liars: [] });
    expect(new TextDecoder().decode(receiptEntry(text.receipt))).toBe('hello, replicas');
    const parsed = receiptFromJson(text.receipt);
    expect(verifyReceipt(c.group.kernel.groupKey, c.group.groupId, parsed.receipt)).toEqual({ ok: true });
    expect(text.checkpoint).toEqual({ size: parsed.receipt.checkpoint.size, epoch: parsed.receipt.checkpoint.epoch, root: toHex(parsed.receipt.checkpoint.root) });
    expect(text.index).toBe(parsed.receipt.index);
    // A kernel of a threshold group of 4 is 2 replicas: the first two given.
    expect(posts.map((p) => [p.replica, p.path, p.type])).toEqual([
      [0, '/v1/requests', 'application/json'],
      [1, '/v1/requests', 'application/json'],
    ]);
    expect(JSON.parse(posts[0]!.body as string)).toEqual({ text: 'hello, replicas' });
    expect(text.acceptedBy).toEqual(['http://r0', 'http://r1']);
    expect(text.replicas).toEqual([
      { url: 'http://r0', ok: true, status: 'pending', replica: c.group.replicas[0]!.id },
      { url: 'http://r1', ok: true, status: 'pending', replica: c.group.replicas[1]!.id },
    ]);
    expect(log.join('\n')).toMatch(/certified at index \d+ \(epoch \d+\) \(http:\/\/r\d\)/);
    expect(log.join('\n')).not.toMatch(/warning/);

    // Bytes, to every replica, without waiting; then the wait on its own.
    posts.length = 0;
    const bytes = new Uint8Array([0, 1, 2, 255]);
    const sent = await sdk.submit(bytes, { to: 'all', wait: false });
    expect(sent).toMatchObject({ id: toHex(sha256(bytes)), entryId: toHex(sha256(bytes)), status: 'pending', acceptedBy: URLS });
    expect('receipt' in sent).toBe(false);
    expect(posts.map((p) => [p.replica, p.type])).toEqual([0, 1, 2, 3].map((i) => [i, 'application/octet-stream']));
    expect(posts[3]!.body).toEqual(bytes);
    const got = await sdk.waitForReceipt(sent);
    expect(receiptEntry(got.receipt)).toEqual(bytes);
    expect(got.index).toBeGreaterThan(text.index);
    // Submitted again: every replica knows it already (200 ordered or certified, with its index).
    const again = await sdk.submit(bytes, { wait: false });
    expect(again.status === 'ordered' || again.status === 'certified').toBe(true);
    expect(again.index).toBe(got.index);
  }, 120_000);

  it('encrypted: the replicas see only a ciphertext; the receipt proves the plaintext', async () => {
    const c = hostCluster();
    const posts: Post[] = [];
    const log: string[] = [];
    const sdk = clusterClient(c, clusterFetch(c, posts), { log: (l) => void log.push(l) });
    const secret = 'sealed bid: 42';
    const r = await sdk.submit(utf8ToBytes(secret), { encrypt: true, label: 'bidder-7' });
    expect(r.encrypted).toBe(true);
    expect(r.entryId).toBe(hex(secret));
    expect(r.id).not.toBe(r.entryId);
    expect(new TextDecoder().decode(receiptEntry(r.receipt))).toBe(secret);
    expect(posts).toHaveLength(2);
    for (const p of posts) {
      const body = JSON.parse(p.body as string) as Record<string, string>;
      expect(Object.keys(body)).toEqual(['ciphertext']);
      expect(toHex(sha256(Uint8Array.from(Buffer.from(body['ciphertext']!, 'base64'))))).toBe(r.id);
      expect(p.body as string).not.toContain(secret);
      expect(p.body as string).not.toContain(toBase64(utf8ToBytes(secret)));
    }
    expect(log.join('\n')).toMatch(new RegExp(`encrypted to group [0-9a-f]{16}\\.\\.\\. \\(\\d+ bytes\\); ciphertext id ${r.id}, plaintext id ${r.entryId}`));
  }, 120_000);

  it('replicas serving junk, another entry or a forged signature are liars; when all are, the call fails with their reasons', async () => {
    const c = hostCluster();
    const posts: Post[] = [];
    let first: ReceiptJson | null = null;
    let forged: ReceiptJson | null = null;
    /** Which replicas lie about receipts, and how. */
    let lying: Record<number, 'junk' | 'other' | 'forged'> = {};
    const fetch = clusterFetch(c, posts, (i, path) => {
      const how = lying[i];
      if (!how || !path.startsWith('/v1/receipts/')) return null;
      return { status: 200, body: how === 'junk' ? { format: 'sintra-edge/receipt@1', hello: 'junk' } : how === 'other' ? first : forged };
    });
    const sdk = clusterClient(c, fetch);
    first = (await sdk.submit('the first request')).receipt;
    const sig = first.checkpoint.signature;
    forged = { ...first, checkpoint: { ...first.checkpoint, signature: sig.slice(0, -2) + (sig.endsWith('00') ? '01' : '00') } };

    // Two liars among four: the receipt still comes from an honest replica.
    lying = { 0: 'junk', 1: 'forged' };
    const ok = await sdk.submit('the second request');
    expect(new TextDecoder().decode(receiptEntry(ok.receipt))).toBe('the second request');
    expect(['http://r2', 'http://r3']).toContain(ok.from);
    // The replicas are asked concurrently: liars are listed in the order their answers came.
    expect([...ok.liars].sort((a, b) => a.url.localeCompare(b.url))).toEqual([
      { url: 'http://r0', reason: expect.stringMatching(/^a malformed receipt/) },
      { url: 'http://r1', reason: expect.stringMatching(/^a receipt that does not verify \(.*signature/) },
    ]);

    // A fresh client; every replica serves the first request's (genuine) receipt for another request.
    lying = { 0: 'other', 1: 'other', 2: 'other', 3: 'other' };
    const fooled = clusterClient(c, fetch);
    const e = await submitError(fooled.submit('the third request'), 'unverified');
    expect(e.message).toMatch(/^no replica served a receipt that verifies for request [0-9a-f]{64} \(http:\/\/r[0-3]: a receipt of another entry/);
    expect(e.message).toMatch(/http:\/\/r0: a receipt of another entry/);
    expect(fooled.liarList().map((l) => l.url).sort()).toEqual(URLS);
  }, 180_000);
});

// ---------------------------------------------------------------------------------------------------------

const { group } = testGroup(4);
const json = (status: number, body: unknown) => Promise.resolve({ status, text: () => Promise.resolve(JSON.stringify(body)) });
const info = (index: number, g = group) => json(200, { replica: { index }, groupId: g.file.groupId, group: g.file });

interface Fake {
  /** Answer to POST /v1/requests from replica i (default: 202 pending with the right id). */
  post?: (i: number, id: string) => Promise<{ status: number; text(): Promise<string> }> | null;
  /** Answer to GET /v1/requests/:id (default 404 unknown-request). */
  status?: (i: number, id: string) => Promise<{ status: number; text(): Promise<string> }>;
}

/** Fake replicas http://a .. http://d (index 0 .. 3) of `group`; every call is recorded. */
function fakeFetch(f: Fake, calls: string[] = []): FetchLike {
  return (url, init) => {
    const [, host, path] = /^http:\/\/(\w)(.*)$/.exec(url)!;
    const i = 'abcd'.indexOf(host!);
    calls.push(`${init?.method ?? 'GET'} ${url}`);
    if (path === '/v1/info') return info(i);
    if (init?.method === 'POST') {
      const body = init.body;
      const bytes = typeof body === 'string' ? utf8ToBytes((JSON.parse(body) as { text?: string }).text ?? body) : body!;
      const id = toHex(sha256(bytes));
      return f.post?.(i, id) ?? json(202, { id, status: 'pending', replica: `fake-${i}` });
    }
    const id = path!.split('/').pop()!;
    return f.status ? f.status(i, id) : json(404, { error: { code: 'unknown-request', message: 'neither pending here nor in the log' } });
  };
}

function fakeClient(fetch: FetchLike, extra: Partial<SintraClientOptions> = {}): SintraClient {
  let clock = 0;
  return new SintraClient({
    group,
    urls: ['http://a', 'http://b', 'http://c', 'http://d'],
    fetch,
    // Poll pauses pass at once on a fake clock; patience never runs out (a fake answers at once).
    sleep: (ms) => (ms >= 1_000_000 ? new Promise<void>(() => undefined) : Promise.resolve(void (clock += ms))),
    now: () => clock,
    pollMs: 100,
    patienceMs: 1_000_000,
    timeoutMs: 5_000,
    ...extra,
  });
}

describe('SintraClient.submit: input, refusals and failures', () => {
  it('bad input is refused before anything is sent', async () => {
    const calls: string[] = [];
    const sdk = fakeClient(fakeFetch({}, calls), { randomBytes: (n) => new Uint8Array(n) });
    const bad: [unknown, unknown, RegExp][] = [
      [new Uint8Array(0), undefined, /empty/],
      ['', undefined, /empty/],
      [[1, 2, 3], undefined, /must be a Uint8Array or a string, not an array/],
      [new Uint8Array(4).buffer, undefined, /not an object \(ArrayBuffer\)/],
      [42, undefined, /not number/],
      [null, undefined, /not null/],
      ['\ud800 lone', undefined, /lone surrogate/],
      ['ok', { encrypted: true }, /unknown option "encrypted"/],
      ['ok', { encrypt: 'yes' }, /encrypt must be a boolean, not string/],
      ['ok', { wait: 1 }, /wait must be a boolean/],
      ['ok', { label: 'x' }, /label goes with encrypt/],
      ['ok', { encrypt: true, label: 7 }, /label must be a string/],
      ['ok', { to: 'some' }, /to must be "kernel" or "all"/],
      ['ok', { signal: {} }, /signal must be an AbortSignal/],
      ['ok', 'wait', /options must be an object, not string/],
      ['ok', [], /options must be an object, not an array/],
    ];
    for (const [request, opts, message] of bad) {
      const e = await submitError((sdk.submit as (r: unknown, o: unknown) => Promise<unknown>)(request, opts), 'bad-input');
      expect(e.message, String(message)).toMatch(message);
    }
    await submitError(sdk.waitForReceipt({ id: 'ab', entryId: hex('x') }), 'bad-input');
    await submitError(sdk.waitForReceipt({ id: hex('x'), entryId: hex('x').toUpperCase() }), 'bad-input');
    await submitError(sdk.waitForReceipt({ id: hex('x'), entryId: hex('x') }, { timeout: 5 } as never), 'bad-input');
    expect(calls).toEqual([]);
    // Encrypting needs randomness.
    const noRng = fakeClient(fakeFetch({}, calls));
    expect((await submitError(noRng.submit('ok', { encrypt: true }), 'no-randomness')).message).toMatch(/randomBytes/);
    expect(calls).toEqual([]);
  });

  it('without a group: submits to every URL, checks nothing, and refuses to wait or encrypt', async () => {
    const calls: string[] = [];
    const sdk = fakeClient(fakeFetch({}, calls), { group: null, urls: ['http://a', 'http://b/'] });
    const r = await sdk.submit('no keys here', { wait: false });
    expect(r).toMatchObject({ id: hex('no keys here'), status: 'pending', acceptedBy: ['http://a', 'http://b'] });
    expect(calls).toEqual(['POST http://a/v1/requests', 'POST http://b/v1/requests']);
    expect((await submitError(sdk.submit('no keys here'), 'no-group')).message).toMatch(/waiting for a verified receipt needs the pinned group/);
    await submitError(sdk.submit('x', { wait: false, encrypt: true }), 'no-group');
    await submitError(sdk.submit('x', { wait: false, to: 'kernel' }), 'no-group');
    await submitError(sdk.waitForReceipt(r), 'no-group');
    await expect(sdk.stamp(hex('doc'))).rejects.toThrow(/no pinned group/);
    expect(calls).toHaveLength(2);
  });

  it('answers with another id, an unknown status or no JSON are refusals; others replace them; all refusing fails with every reason', async () => {
    const log: string[] = [];
    const junk: Fake = {
      post: (i, id) => {
        if (i === 0) return json(202, { id: hex('something else'), status: 'pending' });
        if (i === 1) return Promise.resolve({ status: 200, text: () => Promise.resolve('<html>\n<body>hi</body></html>') });
        if (i === 2) return json(202, { id, status: 'maybe' });
        return null;
      },
    };
    const sdk = fakeClient(fakeFetch(junk), { log: (l) => void log.push(l) });
    const r = await sdk.submit('some request', { wait: false });
    // A kernel is two replicas: only d is left to accept, which is not one.
    expect(r.acceptedBy).toEqual(['http://d']);
    expect(r.replicas).toEqual([
      { url: 'http://a', ok: false, error: `answered request id ${hex('something else')}, expected ${hex('some request')} (SHA-256 of the request)` },
      { url: 'http://b', ok: false, error: 'HTTP 200: <html> <body>hi</body></html> (not a Sintra Edge replica?)' },
      { url: 'http://c', ok: false, error: 'answered an unknown status "maybe"' },
      { url: 'http://d', ok: true, status: 'pending', replica: 'fake-3' },
    ]);
    expect(log.join('\n')).toMatch(/warning: only 1 replicas accepted, not a kernel of the structure/);

    const refusing = fakeClient(fakeFetch({ post: () => json(413, { error: { code: 'request-too-large', message: 'request of 70000 bytes > 65536' } }) }));
    const e = await submitError(refusing.submit('x', { wait: false }), 'not-accepted');
    expect(e.message).toMatch(/^no replica accepted the request \(http:\/\/a: HTTP 413 request-too-large: request of 70000 bytes > 65536; http:\/\/b: .*http:\/\/d: HTTP 413/);
    const one = fakeClient(fakeFetch({ post: () => json(400, { error: { code: 'bad-request', message: 'nope' } }) }), { urls: ['http://a'] });
    expect((await submitError(one.submit('x', { wait: false }), 'not-accepted')).message).toBe('http://a: HTTP 400 bad-request: nope');
  });

  it('a replica of another group stops the call before anything is sent; one replica is warned about', async () => {
    const other = testGroup(4, 1, 'another group').group;
    const calls: string[] = [];
    const fetch: FetchLike = (url, init) => (url === 'http://b/v1/info' ? info(1, other) : fakeFetch({}, calls)(url, init));
    const e = await submitError(fakeClient(fetch).submit('x', { wait: false }), 'wrong-group');
    expect(e.message).toMatch(/^http:\/\/b serves group [0-9a-f]{16}\.\.\., not the pinned group [0-9a-f]{16}\.\.\.; nothing was submitted$/);
    expect(calls.filter((c) => c.startsWith('POST'))).toEqual([]);

    const log: string[] = [];
    await fakeClient(fakeFetch({}), { urls: ['http://a'], log: (l) => void log.push(l) }).submit('x', { wait: false });
    expect(log).toContain(`warning: the replicas reached (${group.replicas[0]!.id}) are not a kernel of the group (t + 1 = 2 replicas of this threshold group): if they are all Byzantine they can drop the request`);
  });

  it('the wait ends: timeout with the furthest status, abort, and skipped only when a kernel says so', async () => {
    const ordered: Fake = { status: (i, id) => (i === 0 ? json(200, { id, status: 'ordered', index: 7, epoch: 3 }) : json(200, { id, status: 'pending' })) };
    const log: string[] = [];
    const e = await submitError(fakeClient(fakeFetch(ordered), { log: (l) => void log.push(l) }).submit('slow'), 'timeout');
    expect(e.message).toBe(`timed out after 5 s: request ${hex('slow')} is still ordered`);
    expect(log).toContain('ordered at index 7 (epoch 3) (http://a)');
    // Waiting for a request no replica knows (the submission is not this client's).
    const unknown = await submitError(fakeClient(fakeFetch({})).waitForReceipt({ id: hex('lost'), entryId: hex('lost') }), 'timeout');
    expect(unknown.message).toMatch(/is not known to any replica \(last error: http:\/\/.\/v1\/requests\/[0-9a-f]{64}: HTTP 404 unknown-request/);

    const ctrl = new AbortController();
    const aborting = fakeClient(fakeFetch(ordered), { onPoll: () => ctrl.abort(new Error('enough')) });
    expect((await submitError(aborting.submit('slow', { signal: ctrl.signal }), 'aborted')).message).toBe('aborted (enough)');
    await submitError(aborting.submit('slow', { signal: ctrl.signal }), 'aborted');

    // One (maybe Byzantine) replica saying skipped is not enough; a kernel of them is.
    const skippedBy = (n: number): Fake => ({ status: (i, id) => json(200, { id, status: i < n ? 'skipped' : 'pending' }) });
    await submitError(fakeClient(fakeFetch(skippedBy(1))).submit('x'), 'timeout');
    const s = await submitError(fakeClient(fakeFetch(skippedBy(2))).submit('x'), 'skipped');
    expect(s.message).toMatch(/^http:\/\/a, http:\/\/b: the ciphertext was ordered but does not decrypt with the group key/);
  });
});

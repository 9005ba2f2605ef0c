/**
 * Issue 4, integration: 1,000 hostile HTTP requests against a running local cluster (4 Durable Object
 * replicas in Miniflare, HTTP on loopback) get 4xx answers with a JSON `{"error": {"code", "message"}}`,
 * never 5xx, and change nothing: client routes (malformed JSON, wrong types, unknown fields, bad base64,
 * oversized bodies, wrong content types, bad ids and ranges, unknown routes, wrong methods) and the peer
 * route (garbage, oversized, wrong MAC key, wrong group, wrong receiver, unknown sender, bad header fields,
 * authentic frames with garbage payloads, and replays of one authentic frame built with replica 1's real
 * link secret toward replica 0). The one authentic frame is accepted (200) and carries only a message id
 * replica 0 already applied, so it moves replica 0's link window and nothing else. Afterwards the cluster
 * still certifies a fresh request.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, waitUntilReady } from '../../infra/cluster/local-cluster.ts';
import type { LocalCluster } from '../../infra/cluster/local-cluster.ts';
import { secretsFileName } from '../../infra/dealer/dealer.ts';
import { encodeMessage } from '../../shared/codec/message-codec.ts';
import { parseGroup, parseReplicaSecrets } from '../../shared/config/group.ts';
import type { Group } from '../../shared/config/group.ts';
import { encodeFrame, LinkSender, linkChannel, linkPeers, MAX_FRAME_BYTES } from '../../shared/link/index.ts';
import type { LinkChannel } from '../../shared/link/index.ts';
import { encodeTransport } from '../../shared/replica/transport.ts';
import { getJson, http, waitFor } from '../helpers/http.ts';
import { freePortRange } from '../helpers/ports.ts';

/** Replica i listens on BASE_PORT + i: a free range picked in beforeAll (ranges fixed by pid collided across files). */
let BASE_PORT = 0;
const TOTAL = 1000;
const IN_FLIGHT = 16;

let dataDir: string;
let cluster: LocalCluster;
let group: Group;

const get = (i: number, path: string) => getJson(cluster.urls[i]!, path);

async function submitAndCertify(text: string, at: number): Promise<string> {
  const res = await http(`${cluster.urls[at]}/v1/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
  expect(res.status).toBe(202);
  const { id } = (await res.json()) as { id: string };
  for (let i = 0; i < 4; i++) {
    await waitFor(async () => ((await get(i, `/v1/requests/${id}`)).json.status === 'certified' ? true : null), `${text} certified at replica ${i}`);
  }
  return id;
}

/** Metrics of every replica once the cluster is quiet: nothing in any outbox, events stable. */
async function quietState(): Promise<{ events: number; logSize: number; checkpoint: unknown }[]> {
  let last = '';
  return waitFor(async () => {
    const ms = await Promise.all([0, 1, 2, 3].map((i) => get(i, '/v1/metrics')));
    if (ms.some((m) => m.json.outbox.some((x: number) => x !== 0))) return null;
    const state = ms.map((m) => ({ events: m.json.engine.events, logSize: m.json.engine.logSize, checkpoint: m.json.engine.checkpoint }));
    const text = JSON.stringify(state);
    if (text !== last) {
      last = text;
      return null;
    }
    return state;
  }, 'the cluster to be quiet');
}

interface Hostile {
  readonly what: string;
  readonly to: number;
  readonly method: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Uint8Array;
  /** Instead of `body`: that many bytes, sent chunked (no content-length). */
  readonly chunked?: number;
}

interface Answer {
  readonly what: string;
  readonly status: number;
  readonly json: any;
}

function chunkedBody(total: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(ctl) {
      if (sent >= total) return ctl.close();
      const n = Math.min(64 * 1024, total - sent);
      sent += n;
      ctl.enqueue(new Uint8Array(n).fill(0x42));
    },
  });
}

async function send(h: Hostile): Promise<Answer> {
  const init = (): RequestInit => (h.chunked !== undefined ? ({ method: h.method, headers: h.headers, body: chunkedBody(h.chunked), duplex: 'half' } as RequestInit) : { method: h.method, headers: h.headers, body: h.body });
  let res: Response;
  try {
    res = await fetch(`${cluster.urls[h.to]}${h.path}`, init());
  } catch {
    res = await fetch(`${cluster.urls[h.to]}${h.path}`, init());
  }
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = { unparsable: text.slice(0, 200) };
  }
  return { what: h.what, status: res.status, json };
}

const JSON_TYPE = { 'content-type': 'application/json' };
const OCTETS = { 'content-type': 'application/octet-stream' };

/** Client-route and GET-route cases (each sent to every replica in turn). */
function clientCases(): Omit<Hostile, 'to'>[] {
  const cases: Omit<Hostile, 'to'>[] = [];
  const postJson = (what: string, body: string, headers: Record<string, string> = JSON_TYPE) => cases.push({ what, method: 'POST', path: '/v1/requests', headers, body });
  // malformed JSON
  for (const b of ['{', '{"text":', '{"text":"a"}}', '', ' ', '[', 'tru', 'nul', '{"text":"a",}', "{'text':'a'}", '{"text":"a"', 'NaN', '{"text":"\\x"}', '\u0000', '{"text" "a"}', '[1,]']) {
    postJson(`malformed JSON ${JSON.stringify(b)}`, b);
  }
  postJson('malformed JSON, upper-case type', '{"text":', { 'content-type': 'APPLICATION/JSON; charset=utf-8' });
  postJson('deeply nested JSON', '['.repeat(50_000) + ']'.repeat(50_000));
  // wrong types
  for (const v of [{ text: 5 }, { text: null }, { text: [] }, { text: {} }, { text: true }, { data: 5 }, { data: true }, { data: null }, { data: ['aGk='] }, { data: {} }, null, 5, 'text', true, [], [{ text: 'a' }]]) {
    postJson(`wrong type ${JSON.stringify(v)}`, JSON.stringify(v));
  }
  // unknown or missing fields
  for (const v of [{ text: 'a', extra: 1 }, { foo: 'bar' }, {}, { text: 'a', data: 'aGk=' }, { Text: 'a' }, { constructor: 'x' }, { toString: 'x' }]) {
    postJson(`fields ${JSON.stringify(v)}`, JSON.stringify(v));
  }
  postJson('__proto__ field', '{"__proto__": {"text": "a"}}');
  // bad base64 (and empty requests)
  for (const d of ['***', 'aGk', 'aGk===', '====', 'a===', '=', 'a b=', 'a-_b', 'YQ=\n', ' YQ==', 'YQ==YQ==', '']) {
    postJson(`bad base64 ${JSON.stringify(d)}`, JSON.stringify({ data: d }));
  }
  postJson('empty text', JSON.stringify({ text: '' }));
  cases.push({ what: 'empty octets', method: 'POST', path: '/v1/requests', headers: OCTETS, body: new Uint8Array(0) });
  // oversized
  postJson('body over 192 KiB (JSON)', JSON.stringify({ text: 'x'.repeat(200 * 1024) }));
  cases.push({ what: 'body over 192 KiB (octets)', method: 'POST', path: '/v1/requests', headers: OCTETS, body: new Uint8Array(193 * 1024).fill(7) });
  postJson('request over 64 KiB (text)', JSON.stringify({ text: 'y'.repeat(65 * 1024) }));
  postJson('request over 64 KiB (base64)', JSON.stringify({ data: Buffer.alloc(70 * 1024, 3).toString('base64') }));
  cases.push({ what: 'request over 64 KiB (octets)', method: 'POST', path: '/v1/requests', headers: OCTETS, body: new Uint8Array(65 * 1024 + 1).fill(9) });
  // wrong content types
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx', 'json', 'application/octet-streams', 'image/png', '']) {
    postJson(`content type ${JSON.stringify(type)}`, '{"text":"hello"}', type ? { 'content-type': type } : {});
  }
  cases.push({ what: 'no content type, bytes', method: 'POST', path: '/v1/requests', body: new Uint8Array([1, 2, 3]) });
  // bad ids
  const ids = ['xyz', 'a'.repeat(63), 'a'.repeat(65), 'A'.repeat(64), 'g'.repeat(64), '%00', '%zz', '%ff%fe', 'a'.repeat(62) + '%20', '-1', 'null', '0x' + 'a'.repeat(62), encodeURIComponent('é'.repeat(32)), 'a'.repeat(5000)];
  for (const id of ids) {
    cases.push({ what: `bad id ${id.slice(0, 20)}`, method: 'GET', path: `/v1/requests/${id}` });
    cases.push({ what: `bad receipt id ${id.slice(0, 20)}`, method: 'GET', path: `/v1/receipts/${id}` });
  }
  for (const id of ['0'.repeat(64), 'f'.repeat(64), 'deadbeef'.repeat(8)]) {
    cases.push({ what: `unknown id ${id.slice(0, 8)}`, method: 'GET', path: `/v1/requests/${id}` });
    cases.push({ what: `unknown receipt ${id.slice(0, 8)}`, method: 'GET', path: `/v1/receipts/${id}` });
  }
  // bad ranges
  for (const q of ['start=-1', 'start=abc', 'start=1e3', 'start=0x10', 'start=', 'start=0&end=5000', 'start=5&end=2', 'start=99999999', 'start=1234567890123456', 'start=0&end=abc', 'start=0&end=-5', 'start=1.5', 'start=%20', 'end=2000']) {
    cases.push({ what: `bad entries range ${q}`, method: 'GET', path: `/v1/log/entries?${q}` });
  }
  for (const q of ['first=5&second=2', 'first=-1&second=1', 'first=0&second=999999', '', 'first=a&second=b', 'first=0', 'second=1', 'first=1&second=1e2']) {
    cases.push({ what: `bad consistency range ${q}`, method: 'GET', path: `/v1/log/consistency?${q}` });
  }
  // unknown routes
  for (const p of ['/', '/v1', '/v1/', '/v2/requests', '/admin', '/.env', '/v1/peer/x', '/v1/metrics/x', '/v1/log', '/favicon.ico', `/${'x'.repeat(4000)}`, '/v1/health/', '/V1/HEALTH', '/v1/requests/', '/v1/receipts']) {
    cases.push({ what: `unknown route ${p.slice(0, 30)}`, method: 'GET', path: p });
  }
  // wrong methods
  for (const [method, path] of [
    ['PUT', '/v1/requests'],
    ['DELETE', '/v1/requests'],
    ['PATCH', '/v1/requests'],
    ['GET', '/v1/requests'],
    ['DELETE', '/v1/log/checkpoint'],
    ['POST', '/v1/metrics'],
    ['POST', '/v1/info'],
    ['POST', '/v1/log/entries'],
    ['PUT', '/v1/peer'],
    ['GET', '/v1/peer'],
    ['DELETE', `/v1/requests/${'0'.repeat(64)}`],
    ['POST', `/v1/receipts/${'0'.repeat(64)}`],
  ] as const) {
    cases.push({ what: `wrong method ${method} ${path.slice(0, 30)}`, method, path, ...(method === 'GET' || method === 'DELETE' ? {} : { headers: JSON_TYPE, body: '{"text":"hello"}' }) });
  }
  return cases;
}

/** Peer-route cases aimed at replica `to` (frames built for that receiver). */
function peerCases(to: number): Omit<Hostile, 'to'>[] {
  const cases: Omit<Hostile, 'to'>[] = [];
  const frame = (what: string, body: Uint8Array | string, headers: Record<string, string> = OCTETS) => cases.push({ what, method: 'POST', path: '/v1/peer', headers, body });
  const from = to === 1 ? 2 : 1;
  const payload = encodeTransport([{ id: 1, bytes: encodeMessage({ tag: 'ab/0/aba/0', body: { t: 'aba-term', value: 1, round: 0 } }) }]);
  const randomKey = () => crypto.getRandomValues(new Uint8Array(32));
  const fake = linkChannel(group.groupId, from, to, randomKey());
  // garbage
  frame('empty frame', new Uint8Array(0));
  frame('3 zero bytes', new Uint8Array(3));
  frame('200 bytes of 1', new Uint8Array(200).fill(1));
  frame('random bytes', crypto.getRandomValues(new Uint8Array(512)));
  frame('JSON body', '{"accepted":[1],"deferred":[]}', JSON_TYPE);
  frame('text body', 'hello', { 'content-type': 'text/plain' });
  // wrong MAC key
  for (const seq of [1, 2, 1000, 2 ** 40]) frame(`wrong key seq ${seq}`, encodeFrame(fake, { seq, ack: 0, payload }));
  frame('wrong key ack-only', encodeFrame(fake, { seq: 0, ack: 5, payload: new Uint8Array(0) }));
  // wrong group, wrong receiver, unknown sender
  const otherGroup = crypto.getRandomValues(new Uint8Array(32));
  frame('wrong group', encodeFrame(linkChannel(otherGroup, from, to, randomKey()), { seq: 1, ack: 0, payload }));
  frame('wrong receiver', encodeFrame(linkChannel(group.groupId, from, (to + 2) % 4 === from ? (to + 3) % 4 : (to + 2) % 4, randomKey()), { seq: 1, ack: 0, payload }));
  frame('unknown sender 7', encodeFrame(linkChannel(group.groupId, 7, to, randomKey()), { seq: 1, ack: 0, payload }));
  frame('sender 65535', encodeFrame(linkChannel(group.groupId, 65_535, to, randomKey()), { seq: 1, ack: 0, payload }));
  const self = encodeFrame(fake, { seq: 1, ack: 0, payload });
  self[33] = to >> 8;
  self[34] = to & 0xff;
  frame('claims to come from the receiver itself', self);
  // bad header fields
  const v2 = encodeFrame(fake, { seq: 1, ack: 0, payload });
  v2[0] = 2;
  frame('version 2', v2);
  const bigSeq = encodeFrame(fake, { seq: 1, ack: 0, payload });
  bigSeq.fill(0xff, 37, 45);
  frame('seq over 2^53', bigSeq);
  const bigAck = encodeFrame(fake, { seq: 1, ack: 0, payload });
  bigAck.fill(0xff, 45, 53);
  frame('ack over 2^53', bigAck);
  const badLength = encodeFrame(fake, { seq: 1, ack: 0, payload });
  badLength[56]! ^= 1;
  frame('length field mismatch', badLength);
  frame('truncated frame', encodeFrame(fake, { seq: 1, ack: 0, payload }).subarray(0, 100));
  // oversized (a few: each is 4 MiB on the wire), with a content-length and chunked
  frame('frame over 4 MiB', new Uint8Array(MAX_FRAME_BYTES + 1).fill(1));
  cases.push({ what: 'chunked frame over 4 MiB', method: 'POST', path: '/v1/peer', headers: OCTETS, chunked: MAX_FRAME_BYTES + 1 });
  return cases;
}

/**
 * Frames with the real link key of `channel` (replica 1 -> replica 0) that must still be refused, built for
 * seq `ack + 1` (the next fresh one): refusal happens before the seq is taken, so they touch nothing.
 */
function authenticRefusedCases(channel: LinkChannel, ack: number, payload: Uint8Array): Omit<Hostile, 'to'>[] {
  const cases: Omit<Hostile, 'to'>[] = [];
  const frame = (what: string, body: Uint8Array) => cases.push({ what, method: 'POST', path: '/v1/peer', headers: OCTETS, body });
  const seal = (seq: number, p: Uint8Array, a = 0) => encodeFrame(channel, { seq, ack: a, payload: p });
  frame('authentic, garbage payload', seal(ack + 1, crypto.getRandomValues(new Uint8Array(64))));
  frame('authentic, empty payload', seal(ack + 1, new Uint8Array(0)));
  frame('authentic, transport with trailing bytes', seal(ack + 1, new Uint8Array([...payload, 0])));
  frame('authentic, transport count too big', seal(ack + 1, new Uint8Array([0xff, 0xff, 0xff, 0xff])));
  frame('authentic, message that does not decode', seal(ack + 1, encodeTransport([{ id: 99, bytes: new Uint8Array([1, 0, 0]) }])));
  const bigId = payload.slice();
  bigId.fill(0xff, 4, 12);
  frame('authentic, message id over 2^53', seal(ack + 1, bigId));
  frame('authentic ack-only frame', seal(0, new Uint8Array(0), ack));
  frame('authentic, seq far ahead', seal(ack + 5000, payload));
  const flipped = seal(ack + 1, payload);
  flipped[60]! ^= 0x80;
  frame('authentic frame with a flipped payload bit', flipped);
  return cases;
}

describe('1,000 hostile HTTP requests against a running cluster', () => {
  beforeAll(async () => {
    BASE_PORT = await freePortRange(16);
    dataDir = mkdtempSync(join(tmpdir(), 'sintra-hostile-'));
    cluster = await startLocalCluster({ dataDir, n: 4, basePort: BASE_PORT });
    group = parseGroup(JSON.parse(readFileSync(cluster.groupPath, 'utf8')));
    await waitUntilReady(cluster.urls);
  }, 120_000);

  afterAll(async () => {
    await cluster?.dispose();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers every one with a 4xx JSON error, changes nothing, and the cluster still certifies', async () => {
    // Warm up: links carry traffic (replica 1 has sent message id 1 to replica 0), then let it settle.
    await submitAndCertify('warm-up 1', 0);
    await submitAndCertify('warm-up 2', 1);
    const before = await quietState();
    const t0 = Date.now();
    const answers: Answer[] = [];

    // Replica 1's real link toward replica 0 (its secrets as the dealer wrote them).
    const r1 = parseReplicaSecrets(JSON.parse(readFileSync(join(cluster.groupPath, '..', secretsFileName('r2')), 'utf8')), group);
    expect(r1.index).toBe(1);
    const channel = linkPeers(group, r1)[0]!.outgoing;
    // The transport payload carries message id 1, which replica 0 applied from replica 1 long ago: dropped.
    const payload = encodeTransport([{ id: 1, bytes: encodeMessage({ tag: 'ab/0/aba/0', body: { t: 'aba-term', value: 1, round: 0 } }) }]);
    const post0 = (what: string, body: Uint8Array) => send({ what, to: 0, method: 'POST', path: '/v1/peer', headers: OCTETS, body });

    // 1. An authentic frame with seq 1: a replay by now; the answer tells replica 0's contiguous ack.
    const probe = await post0('authentic replay of seq 1', LinkSender.create(channel).allocate().sender.seal(1, payload, 0));
    answers.push(probe);
    expect(probe.status).toBe(409);
    expect(probe.json.error.code).toBe('link-replay');
    const ack = probe.json.ack as number;
    expect(ack).toBeGreaterThanOrEqual(1);

    // 2. Frames refused before they touch anything, built with the real key too (sequentially, at seq ack + 1).
    for (const c of authenticRefusedCases(channel, ack, payload)) answers.push(await send({ ...c, to: 0 }));

    // 3. The one authentic fresh frame (seq ack + 1): accepted; its message id was applied before.
    const authentic = encodeFrame(channel, { seq: ack + 1, ack: 0, payload });
    const accepted = await post0('authentic fresh frame', authentic);
    answers.push(accepted);
    expect(accepted.status).toBe(200);
    expect(accepted.json).toEqual({ accepted: [1], deferred: [] });

    // 4. Its replays: refused as replays, with replica 0's ack.
    for (let k = 0; k < 20; k++) {
      const r = await post0('replay of the authentic frame', authentic);
      answers.push(r);
      expect(r.status).toBe(409);
      expect(r.json).toMatchObject({ error: { code: 'link-replay' }, ack: ack + 1 });
    }

    // 5. Everything else, 16 in flight, spread over the replicas, up to 1,000 requests in all.
    const clients = clientCases();
    const peers = [0, 1, 2, 3].map((to) => peerCases(to));
    const queue: Hostile[] = [];
    const oversized = new Set<string>();
    for (let round = 0; answers.length + queue.length < TOTAL; round++) {
      const to = round % 4;
      const pool = round % 3 === 2 ? peers[to]! : clients;
      const c = pool[Math.floor(round / 4) % pool.length]!;
      // Oversized bodies are costly: send each kind once per replica.
      if (/over (4 MiB|192 KiB)/.test(c.what)) {
        if (oversized.has(`${c.what}/${to}`)) continue;
        oversized.add(`${c.what}/${to}`);
      }
      queue.push({ ...c, to });
    }
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        for (let h = queue[next++]; h; h = queue[next++]) answers.push(await send(h));
      }),
    );
    expect(answers.length).toBe(TOTAL);

    // Every answer but the one authentic frame is a 4xx with a JSON error; never a 5xx.
    const bad = answers.filter((a) => a !== accepted && !(a.status >= 400 && a.status < 500 && typeof a.json?.error?.code === 'string' && typeof a.json.error.message === 'string'));
    expect(bad.slice(0, 10).map((a) => `${a.what}: ${a.status} ${JSON.stringify(a.json).slice(0, 200)}`)).toEqual([]);
    const byCode = new Map<string, number>();
    for (const a of answers) byCode.set(`${a.status} ${a.json?.error?.code ?? 'ok'}`, (byCode.get(`${a.status} ${a.json?.error?.code ?? 'ok'}`) ?? 0) + 1);
    const codes = [...byCode].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}: ${v}`);
    // Spot checks that each kind reached its check.
    for (const code of ['400 malformed-json', '400 bad-request', '400 bad-id', '400 bad-range', '404 not-found', '404 unknown-request', '413 body-too-large', '413 request-too-large', '415 unsupported-media-type', '400 link-malformed', '400 link-version', '400 link-wrong-group', '400 link-wrong-receiver', '400 link-unknown-sender', '401 link-bad-mac', '400 bad-payload', '409 link-replay', '409 link-ahead', '405 method-not-allowed']) {
      expect(byCode.get(code), `${code} in ${codes.join(', ')}`).toBeGreaterThan(0);
    }

    // Nothing changed: the same events and log everywhere (the authentic frame carried a message id replica
    // 0 had applied already, so it moved replica 0's link window only, and no engine event).
    const after = await quietState();
    expect(after).toEqual(before);
    const hostileMs = Date.now() - t0;

    // The cluster still orders and certifies (replica 1 resynchronizes its link to replica 0 on a replay).
    await submitAndCertify('after 1,000 hostile requests', 2);
    await submitAndCertify('from replica 1 after the replays', 1);
    const logs = await Promise.all([0, 1, 2, 3].map((i) => get(i, '/v1/log/entries?start=0&end=10')));
    expect(new Set(logs.map((l) => JSON.stringify(l.json.entries))).size).toBe(1);
    expect(logs[0]!.json.size).toBe(before[0]!.logSize + 2);
    for (const m of await Promise.all([0, 1, 2, 3].map((i) => get(i, '/v1/metrics')))) expect(m.json.engine.faultsByPeer).toEqual({});
    console.log(`hostile-http: ${answers.length} requests in ${hostileMs} ms; ${codes.join(', ')}`);
  }, 240_000);
});

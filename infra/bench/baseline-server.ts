/**
 * The single-server baseline (issue 7): the same client-facing service as a replica, run by ONE process
 * that is trusted outright: no agreement, no peers. It takes the same POST /v1/requests, appends every
 * request to the same RFC 6962 log (shared/log/merkle-log.ts), and after each batch (whatever arrived
 * since the previous batch) signs ONE checkpoint with ONE BLS key over the very same payload, tag and
 * domain as the group's checkpoints, so its receipts verify with shared/log/checkpoint.ts verifyReceipt
 * against its single public key. Each batch's entries are appended to a file in the data folder (one
 * write per batch, no fsync: the replicas' local SQLite does not fsync per event either).
 *
 * Routes (same shapes as workers/core/app.ts): POST /v1/requests (octet-stream, or JSON {"text"} /
 * {"data": base64}), GET /v1/requests/:id, GET /v1/receipts/:id, GET /v1/log/checkpoint,
 * GET /v1/log/entries?start&end, GET /v1/health, GET /v1/metrics.
 *
 * Forked by baseline.ts; reports {type:'listening', url, publicKey} over IPC, and its CPU and memory on
 * {type:'stats'}.
 */
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { toHex } from '../../shared/crypto/bytes.ts';
import { G2, encodeG1, encodeG2 } from '../../shared/crypto/curve.ts';
import { domain } from '../../shared/crypto/domain.ts';
import { randomScalar } from '../../shared/crypto/field.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { hashToG1 } from '../../shared/crypto/threshold-bls.ts';
import { checkpointPayload, checkpointTag, checkpointToJson, receiptToJson } from '../../shared/log/checkpoint.ts';
import type { SignedCheckpoint } from '../../shared/log/checkpoint.ts';
import { leafHash } from '../../shared/log/merkle.ts';
import { MerkleLog } from '../../shared/log/merkle-log.ts';
import { requestId } from '../../shared/replica/engine.ts';
import { useNativeSha256 } from '../../workers/core/native-sha256.ts';

const MAX_BODY = 192 * 1024;
const MAX_REQUEST = 64 * 1024;
const MAX_PENDING = 100_000;
const ID = /^[0-9a-f]{64}$/;

export function baselineKey(seed: string): { secret: bigint; publicKey: Uint8Array; groupId: Uint8Array } {
  const rng = seededRandom(seed);
  const groupId = rng(32);
  const secret = randomScalar(rng);
  return { secret, publicKey: encodeG2(G2.BASE.multiply(secret)), groupId };
}

export function startBaselineServer(opts: { dataDir: string; seed?: string; port?: number }): Promise<{ url: string; publicKey: Uint8Array; groupId: Uint8Array; close: () => Promise<void>; batches: () => number }> {
  useNativeSha256(); // as the replicas do: the comparison is about agreement, not about the hash
  const key = baselineKey(opts.seed ?? 'baseline');
  const dom = domain(key.groupId, 'checkpoint');
  const log = new MerkleLog();
  const entries: Uint8Array[] = [];
  const ids: string[] = [];
  const epochOfIndex: number[] = [];
  const index = new Map<string, number>();
  const pending = new Map<string, Uint8Array>();
  const signed: SignedCheckpoint[] = [];
  const logFile = join(opts.dataDir, 'baseline-log.bin');
  let epoch = 0;
  let scheduled = false;

  /** One batch: everything pending, appended in arrival order, then one signature on the new head. */
  const cut = () => {
    scheduled = false;
    if (pending.size === 0) return;
    const batch = [...pending];
    pending.clear();
    const chunks: Uint8Array[] = [];
    for (const [id, entry] of batch) {
      const i = log.append(leafHash(entry));
      index.set(id, i);
      entries.push(entry);
      ids.push(id);
      epochOfIndex.push(epoch);
      const len = new Uint8Array(4);
      new DataView(len.buffer).setUint32(0, entry.length);
      chunks.push(len, entry);
    }
    appendFileSync(logFile, Buffer.concat(chunks));
    const root = log.root();
    const c = { size: log.size, root, epoch, stateDigest: root };
    const tag = checkpointTag(epoch);
    const signature = encodeG1(hashToG1(dom, tag, checkpointPayload(c)).multiply(key.secret));
    signed.push({ ...c, signature });
    epoch++;
    if (pending.size > 0) schedule();
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(cut);
  };

  const covering = (i: number): SignedCheckpoint | null => {
    let lo = 0;
    let hi = signed.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (signed[mid]!.size > i) hi = mid;
      else lo = mid + 1;
    }
    return signed[lo] ?? null;
  };

  const json = (res: ServerResponse, status: number, body: unknown) => {
    const s = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) });
    res.end(s);
  };
  const fail = (res: ServerResponse, status: number, code: string, message: string) => json(res, status, { error: { code, message } });

  const readBody = (req: IncomingMessage, max = MAX_BODY): Promise<Buffer | null> =>
    new Promise((resolve, reject) => {
      const parts: Buffer[] = [];
      let size = 0;
      req.on('data', (d: Buffer) => {
        size += d.length;
        if (size > max) {
          resolve(null);
          req.destroy();
        } else parts.push(d);
      });
      req.on('end', () => resolve(Buffer.concat(parts)));
      req.on('error', reject);
    });

  const submit = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    if (!body) return fail(res, 413, 'body-too-large', `the body exceeds ${MAX_BODY} bytes`);
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    let bytes: Uint8Array;
    if (type === 'application/octet-stream') bytes = new Uint8Array(body);
    else if (type === 'application/json') {
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      } catch {
        return fail(res, 400, 'malformed-json', 'the body is not valid JSON');
      }
      if (typeof o?.['text'] === 'string') bytes = new TextEncoder().encode(o['text']);
      else if (typeof o?.['data'] === 'string') bytes = new Uint8Array(Buffer.from(o['data'], 'base64'));
      else return fail(res, 400, 'bad-request', 'expected exactly one field: "data" (base64) or "text" (string)');
    } else return fail(res, 415, 'unsupported-media-type', 'send application/json or application/octet-stream');
    if (bytes.length === 0) return fail(res, 400, 'bad-request', 'the request is empty');
    if (bytes.length > MAX_REQUEST) return fail(res, 413, 'request-too-large', `request of ${bytes.length} bytes > ${MAX_REQUEST}`);
    const id = requestId(bytes);
    const i = index.get(id);
    if (i !== undefined) return json(res, 200, { id, status: 'ordered', index: i });
    if (!pending.has(id)) {
      if (pending.size >= MAX_PENDING) return fail(res, 503, 'overloaded', `${pending.size} requests are pending; try again later`);
      pending.set(id, bytes);
      schedule();
    }
    return json(res, 202, { id, status: 'pending', replica: 'baseline' });
  };

  /** One request of the service: the same checks and answers as POST /v1/requests. */
  const accept = (bytes: Uint8Array): { status: number; body: unknown } => {
    if (bytes.length === 0) return { status: 400, body: { error: { code: 'bad-request', message: 'the request is empty' } } };
    if (bytes.length > MAX_REQUEST) return { status: 413, body: { error: { code: 'request-too-large', message: `request of ${bytes.length} bytes > ${MAX_REQUEST}` } } };
    const id = requestId(bytes);
    const i = index.get(id);
    if (i !== undefined) return { status: 200, body: { id, status: 'ordered', index: i } };
    if (!pending.has(id)) {
      if (pending.size >= MAX_PENDING) return { status: 503, body: { error: { code: 'overloaded', message: `${pending.size} requests are pending; try again later` } } };
      pending.set(id, bytes);
      schedule();
    }
    return { status: 202, body: { id, status: 'pending' } };
  };

  /** POST /v1/requests/batch, as in workers/core/app.ts: {"requests": [{"text"} | {"data"}]}. */
  const submitBatch = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req, 1024 * 1024);
    if (!body) return fail(res, 413, 'body-too-large', 'the body exceeds 1048576 bytes');
    let list: unknown;
    try {
      list = (JSON.parse(body.toString('utf8')) as { requests?: unknown }).requests;
    } catch {
      return fail(res, 400, 'malformed-json', 'the body is not valid JSON');
    }
    if (!Array.isArray(list) || list.length === 0 || list.length > 1000) return fail(res, 400, 'bad-request', 'expected {"requests": [...]} with 1..1000 items');
    const results = list.map((o: { text?: unknown; data?: unknown }) => {
      const bytes = typeof o?.text === 'string' ? new TextEncoder().encode(o.text) : typeof o?.data === 'string' ? new Uint8Array(Buffer.from(o.data, 'base64')) : null;
      return bytes ? accept(bytes).body : { error: { code: 'bad-request', message: 'expected "data" (base64) or "text" (string)' } };
    });
    return json(res, 200, { replica: 'baseline', results });
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const p = url.pathname;
    const route = async () => {
      if (req.method === 'POST' && p === '/v1/requests') return submit(req, res);
      if (req.method === 'POST' && p === '/v1/requests/batch') return submitBatch(req, res);
      if (req.method !== 'GET') return fail(res, 405, 'method-not-allowed', `${req.method} ${p}`);
      if (p === '/v1/health') return json(res, 200, { ok: true, replica: 'baseline', logSize: log.size });
      if (p === '/v1/metrics') return json(res, 200, { logSize: log.size, pending: pending.size, epoch, memory: process.memoryUsage() });
      if (p === '/v1/log/checkpoint') {
        const cp = signed[signed.length - 1];
        return cp ? json(res, 200, checkpointToJson(cp)) : fail(res, 404, 'no-checkpoint', 'no checkpoint has been signed yet');
      }
      if (p === '/v1/log/entries') {
        const start = Number(url.searchParams.get('start') ?? 0);
        const end = Math.min(log.size, Number(url.searchParams.get('end') ?? start + 100));
        if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end - start > 1000) return fail(res, 400, 'bad-range', 'bad range');
        const out = [];
        for (let i = start; i < end; i++) out.push({ index: i, id: ids[i], epoch: epochOfIndex[i], data: Buffer.from(entries[i]!).toString('base64') });
        return json(res, 200, { size: log.size, entries: out });
      }
      const m = /^\/v1\/(requests|receipts)\/([^/]+)$/.exec(p);
      if (m) {
        const id = m[2]!;
        if (!ID.test(id)) return fail(res, 400, 'bad-id', 'a request id is 64 lowercase hex digits');
        const i = index.get(id);
        if (i === undefined) return pending.has(id) ? (m[1] === 'requests' ? json(res, 200, { id, status: 'pending' }) : fail(res, 409, 'not-certified', 'pending')) : fail(res, 404, 'unknown-request', 'unknown');
        const cp = covering(i);
        if (m[1] === 'requests') return json(res, 200, { id, status: cp ? 'certified' : 'ordered', index: i, epoch: epochOfIndex[i], checkpoint: cp ? checkpointToJson(cp) : null });
        if (!cp) return fail(res, 409, 'not-certified', 'no checkpoint covers it yet');
        return json(res, 200, receiptToJson(key.groupId, { entry: entries[i]!, index: i, proof: log.inclusionProof(i, cp.size), checkpoint: cp }));
      }
      return fail(res, 404, 'not-found', `no route ${req.method} ${p}`);
    };
    route().catch((e) => fail(res, 500, 'internal', String(e)));
  });
  server.keepAliveTimeout = 30_000;
  return new Promise((resolve) => {
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      resolve({
        url: `http://127.0.0.1:${port}`,
        publicKey: key.publicKey,
        groupId: key.groupId,
        batches: () => epoch,
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}

if (process.send && process.argv[1]?.endsWith('baseline-server.ts')) {
  const dataDir = process.argv[2] ?? '.';
  const cpu0 = process.cpuUsage();
  startBaselineServer({ dataDir }).then((s) => {
    process.send!({ type: 'listening', url: s.url, publicKey: toHex(s.publicKey), groupId: toHex(s.groupId) });
    process.on('message', (m: { type: string }) => {
      if (m.type === 'stats') {
        const cpu = process.cpuUsage(cpu0);
        const mem = process.memoryUsage();
        process.send!({ type: 'stats', cpuMs: Math.round((cpu.user + cpu.system) / 1000), rssMb: Math.round(mem.rss / 2 ** 20), heapMb: Math.round(mem.heapUsed / 2 ** 20), batches: s.batches() });
      } else if (m.type === 'stop') {
        void s.close().then(() => process.exit(0));
      }
    });
  });
}

/**
 * The replica's HTTP API (DESIGN.md section 4) as one Hono app, shared by every runtime adapter (the
 * Durable Object, the Node replica). Routes only translate HTTP to ReplicaHost calls: validation of every
 * input with a stable JSON error code, no protocol logic. Bad input never reaches the host, so it never
 * changes state.
 *
 * Errors: `{"error": {"code": "...", "message": "..."}}` with a 4xx/5xx status. Codes are stable API.
 */
import { Hono } from 'hono';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { toHex } from '../../shared/crypto/bytes.ts';
import { checkpointToJson, receiptToJson } from '../../shared/log/checkpoint.ts';
import { MAX_FRAME_BYTES } from '../../shared/link/frame.ts';
import type { ReplicaHost } from './host.ts';
import { TokenBuckets } from './rate-limit.ts';

export const MAX_CLIENT_BODY_BYTES = 192 * 1024;
export const MAX_ENTRIES_PER_PAGE = 1000;

export interface AppOptions {
  /** Requests per second per client (token bucket refill) and burst size. */
  readonly clientRate?: number;
  readonly clientBurst?: number;
  readonly now: () => number;
  /** Called after every state change that produced messages (the adapter flushes / schedules an alarm). */
  readonly afterChange: () => void;
}

export type ErrorCode =
  | 'malformed-json'
  | 'bad-request'
  | 'bad-id'
  | 'invalid-ciphertext'
  | 'skipped'
  | 'request-too-large'
  | 'body-too-large'
  | 'unsupported-media-type'
  | 'unknown-request'
  | 'not-certified'
  | 'no-checkpoint'
  | 'bad-range'
  | 'rate-limited'
  | 'overloaded'
  | 'not-found'
  | 'method-not-allowed'
  | 'internal';

export function errorBody(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

function fail(c: Context, status: number, code: ErrorCode | string, message: string): Response {
  return c.json(errorBody(code, message), status as 400);
}

const ID = /^[0-9a-f]{64}$/;

function base64ToBytes(s: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) return null;
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function bytesToBase64(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

/**
 * Reads and drops what is left of a request body nobody read (up to `cap` bytes). Answering before the
 * body is read makes workerd close the connection while the client is still sending, and the client then
 * sees a connection reset instead of our 4xx; draining first lets the answer arrive.
 */
async function drainBody(req: Request, cap: number): Promise<void> {
  if (!req.body || req.bodyUsed || req.body.locked) return;
  const reader = req.body.getReader();
  try {
    for (let n = 0; n <= cap; ) {
      const { done, value } = await reader.read();
      if (done) return;
      n += value.byteLength;
    }
    await reader.cancel();
  } catch {
    // the client went away
  }
}

function natParam(v: string | undefined): number | null {
  if (v === undefined || !/^\d{1,15}$/.test(v)) return null;
  return Number(v);
}

/** Media type of a raw TDH2 ciphertext body (the wire form of shared/crypto/tdh2.ts). */
export const CIPHERTEXT_MEDIA_TYPE = 'application/vnd.sintra.tdh2-ciphertext';

interface ClientRequestBody {
  readonly bytes: Uint8Array;
  /** A TDH2 ciphertext for secure causal atomic broadcast, not a plain request. */
  readonly encrypted: boolean;
}

/**
 * Reads a client request body: JSON {"data": base64}, {"text": string} or {"ciphertext": base64}, raw
 * octets (application/octet-stream), or a raw ciphertext (CIPHERTEXT_MEDIA_TYPE).
 */
async function readRequestBody(c: Context): Promise<ClientRequestBody | Response> {
  const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/octet-stream') return { bytes: new Uint8Array(await c.req.arrayBuffer()), encrypted: false };
  if (type === CIPHERTEXT_MEDIA_TYPE) return { bytes: new Uint8Array(await c.req.arrayBuffer()), encrypted: true };
  if (type !== 'application/json') {
    return fail(c, 415, 'unsupported-media-type', `send application/json ({"data": base64}, {"text": string} or {"ciphertext": base64}), application/octet-stream or ${CIPHERTEXT_MEDIA_TYPE}`);
  }
  let body: unknown;
  try {
    body = JSON.parse(await c.req.text());
  } catch {
    return fail(c, 400, 'malformed-json', 'the body is not valid JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return fail(c, 400, 'bad-request', 'expected a JSON object');
  const o = body as Record<string, unknown>;
  const keys = Object.keys(o);
  const field = keys[0];
  if (keys.length !== 1 || (field !== 'data' && field !== 'text' && field !== 'ciphertext')) {
    return fail(c, 400, 'bad-request', 'expected exactly one field: "data" (base64), "text" (string) or "ciphertext" (base64 TDH2 ciphertext)');
  }
  if (field === 'text') {
    if (typeof o['text'] !== 'string') return fail(c, 400, 'bad-request', '"text" must be a string');
    return { bytes: new TextEncoder().encode(o['text']), encrypted: false };
  }
  if (typeof o[field] !== 'string') return fail(c, 400, 'bad-request', `"${field}" must be a base64 string`);
  const bytes = base64ToBytes(o[field] as string);
  if (!bytes) return fail(c, 400, 'bad-request', `"${field}" is not valid base64`);
  return { bytes, encrypted: field === 'ciphertext' };
}

export function replicaApp(host: ReplicaHost, options: AppOptions): Hono {
  const app = new Hono();
  // Refusals answered before reading the body (too large by content-length, wrong type, unknown route).
  app.use(async (c, next) => {
    await next();
    await drainBody(c.req.raw, 2 * MAX_FRAME_BYTES);
  });
  const buckets = new TokenBuckets(options.clientRate ?? 2000, options.clientBurst ?? 4000, options.now);
  const clientKey = (c: Context) => c.req.header('x-sintra-client') ?? c.req.header('cf-connecting-ip') ?? 'anonymous';

  app.onError((err, c) => {
    console.error(`replica ${host.secrets.id}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return fail(c, 500, 'internal', 'internal error; the request may be retried');
  });
  app.notFound((c) => fail(c, 404, 'not-found', `no route ${c.req.method} ${new URL(c.req.url).pathname}`));

  const clientLimit = bodyLimit({
    maxSize: MAX_CLIENT_BODY_BYTES,
    onError: (c) => fail(c, 413, 'body-too-large', `the body exceeds ${MAX_CLIENT_BODY_BYTES} bytes`),
  });

  app.post('/v1/requests', clientLimit, async (c) => {
    const wait = buckets.take(clientKey(c));
    if (wait > 0) {
      c.header('retry-after', String(Math.ceil(wait / 1000)));
      return fail(c, 429, 'rate-limited', `too many requests from this client; retry in ${Math.ceil(wait)} ms`);
    }
    const body = await readRequestBody(c);
    if (body instanceof Response) return body;
    if (body.bytes.length === 0) return fail(c, 400, 'bad-request', 'the request is empty');
    const r = body.encrypted ? await host.submitEncrypted(body.bytes) : await host.submit(body.bytes);
    if (!r.ok) return fail(c, r.error.status, r.error.code, r.error.message);
    options.afterChange();
    return c.json(
      { id: r.id, status: r.status, ...(r.index !== undefined ? { index: r.index } : {}), ...(body.encrypted ? { encrypted: true } : {}), replica: host.secrets.id },
      r.status === 'pending' ? 202 : 200,
    );
  });

  app.get('/v1/requests/:id', (c) => {
    const id = c.req.param('id');
    if (!ID.test(id)) return fail(c, 400, 'bad-id', 'a request id is 64 lowercase hex digits (SHA-256 of the request)');
    const s = host.status(id);
    if (!s) return fail(c, 404, 'unknown-request', `request ${id} is neither pending here nor in the log`);
    if (!('index' in s)) return c.json(s);
    return c.json({
      id,
      status: s.status,
      index: s.index,
      epoch: s.epoch,
      ...(s.plaintextId ? { plaintextId: s.plaintextId } : {}),
      checkpoint: s.checkpoint ? checkpointToJson(s.checkpoint) : null,
    });
  });

  app.get('/v1/receipts/:id', async (c) => {
    const id = c.req.param('id');
    if (!ID.test(id)) return fail(c, 400, 'bad-id', 'a request id is 64 lowercase hex digits (SHA-256 of the request)');
    const s = host.status(id);
    if (!s) return fail(c, 404, 'unknown-request', `request ${id} is neither pending here nor in the log`);
    if (s.status === 'skipped') return fail(c, 409, 'skipped', `ciphertext ${id} was ordered but does not decrypt with the group key; it has no log position`);
    const receipt = await host.receipt(id);
    if (!receipt) return fail(c, 409, 'not-certified', `request ${id} is ${s.status}; no signed checkpoint covers it yet`);
    return c.json(receiptToJson(host.group.groupId, receipt));
  });

  app.get('/v1/info', (c) =>
    c.json({
      service: 'sintra-edge',
      replica: { id: host.secrets.id, index: host.me },
      groupId: host.groupIdHex(),
      n: host.n,
      group: host.group.file,
    }),
  );

  app.get('/v1/log/checkpoint', (c) => {
    const cp = host.latestCheckpoint();
    if (!cp) return fail(c, 404, 'no-checkpoint', 'no checkpoint has been signed yet');
    return c.json(checkpointToJson(cp));
  });

  app.get('/v1/log/entries', async (c) => {
    const start = natParam(c.req.query('start'));
    const end = natParam(c.req.query('end') ?? String((start ?? 0) + 100));
    if (start === null || end === null || end < start) return fail(c, 400, 'bad-range', 'expected integers 0 <= start <= end');
    if (end - start > MAX_ENTRIES_PER_PAGE) return fail(c, 400, 'bad-range', `at most ${MAX_ENTRIES_PER_PAGE} entries per page`);
    if (start > host.logSize) return fail(c, 400, 'bad-range', `start ${start} is beyond the log size ${host.logSize}`);
    const entries = await host.entries(start, end);
    return c.json({ size: host.logSize, entries: entries.map((e) => ({ index: e.index, id: e.id, epoch: e.epoch, data: bytesToBase64(e.entry) })) });
  });

  app.get('/v1/log/consistency', (c) => {
    const first = natParam(c.req.query('first'));
    const second = natParam(c.req.query('second'));
    if (first === null || second === null || first > second || second > host.logSize) {
      return fail(c, 400, 'bad-range', `expected integers 0 <= first <= second <= ${host.logSize}`);
    }
    return c.json({ first, second, proof: host.consistencyProof(first, second).map(toHex) });
  });

  app.get('/v1/health', (c) => c.json({ ok: true, replica: host.secrets.id, logSize: host.logSize }));
  app.get('/v1/metrics', (c) => c.json(host.metrics()));

  app.post(
    '/v1/peer',
    bodyLimit({ maxSize: MAX_FRAME_BYTES, onError: (c) => fail(c, 413, 'body-too-large', `a frame is at most ${MAX_FRAME_BYTES} bytes`) }),
    async (c) => {
      const frame = new Uint8Array(await c.req.arrayBuffer());
      const r = await host.receiveFrame(frame);
      if (r.status === 200) options.afterChange();
      return c.json(r.body, r.status as 200);
    },
  );

  return app;
}


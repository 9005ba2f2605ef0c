/**
 * The replica's HTTP API (docs/api.md) as one Hono app, shared by every runtime adapter (the
 * Durable Object, the Node replica). Routes only translate HTTP to ReplicaHost calls: validation of every
 * input with a stable JSON error code, no protocol logic. Bad input never reaches the host, so it never
 * changes state.
 *
 * Errors: `{"error": {"code": "...", "message": "..."}}` with a 4xx/5xx status. Codes are stable API.
 *
 * Every route is one entry of a table (openapi.ts) that both registers its Hono handler and describes it
 * in GET /v1/openapi.json, so the published description is the served API by construction. The
 * applications' routes (notary-routes.ts) join the same table.
 */
import { Hono } from 'hono';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { fromHex, toBase64, toHex } from '../../shared/crypto/bytes.ts';
import { checkpointToJson, receiptToJson } from '../../shared/log/checkpoint.ts';
import { MAX_FRAME_BYTES } from '../../shared/link/frame.ts';
import type { ReplicaHost } from './host.ts';
import { ID, base64ToBytes, errorBody, fail, natParam, readJson, unavailable } from './http.ts';
import { caRoutes } from './ca-routes.ts';
import { notaryRoutes } from './notary-routes.ts';
import { tileRoutes } from './tile-routes.ts';
import { IMMUTABLE, openApiDocument, registerRoutes } from './openapi.ts';
import type { RouteSpec } from './openapi.ts';
import { TokenBuckets } from './rate-limit.ts';
import { logLine } from './log.ts';
import { corsMiddleware } from './cors.ts';
import { HealthCheck } from './health.ts';
import type { CorsOrigins } from './cors.ts';
import { PROMETHEUS_CONTENT_TYPE, RouteLatencies, prometheusText } from './prometheus.ts';
import { routePath } from 'hono/route';
import { NO_ADMISSION_CONFIG, principalOf } from './admission.ts';
import type { AdmissionConfig, ApiKey } from './admission.ts';

export const MAX_CLIENT_BODY_BYTES = 192 * 1024;
/** POST /v1/requests/batch: requests per call and body size (1,000 requests of 250 bytes are about 350 KB as JSON). */
export const MAX_BATCH_REQUESTS = 1000;
export const MAX_BATCH_BODY_BYTES = 1024 * 1024;
export const MAX_ENTRIES_PER_PAGE = 1000;

export interface AppOptions {
  /** Requests per second per client address (token bucket refill) and burst size. */
  readonly clientRate?: number;
  readonly clientBurst?: number;
  /** API keys, whether writes need one, and a trusted proxy header (admission.ts). Default: none. */
  readonly admission?: AdmissionConfig;
  /** GET /v1/health answers 503 stalled when work waits and no new checkpoint came for this long (health.ts). */
  readonly healthStallMs?: number;
  /** Origins that may call the client and read routes from a browser (cors.ts; default `*`). */
  readonly corsOrigins?: CorsOrigins;
  /** The peer address as the runtime saw it (the adapter knows how), if it tells. */
  readonly clientAddress?: (c: Context) => string | undefined;
  readonly now: () => number;
  /** Called after every state change that produced messages (the adapter flushes / schedules an alarm). */
  readonly afterChange: () => void;
  /** Where JSON log lines go (log.ts; default console.log). */
  readonly log?: (line: string) => void;
  /** One `http` log line per request (SINTRA_ACCESS_LOG=1). */
  readonly accessLog?: boolean;
}

/** The version the OpenAPI document states (package.json's, kept in step by hand at release). */
export const API_VERSION = '0.1.0';

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
  const r = parseRequestObject(body);
  return typeof r === 'string' ? fail(c, 400, 'bad-request', r) : r;
}

/** One request as a JSON object: {"text"}, {"data": base64} or {"ciphertext": base64}; a string says what is wrong. */
function parseRequestObject(body: unknown): ClientRequestBody | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'expected a JSON object';
  const o = body as Record<string, unknown>;
  const keys = Object.keys(o);
  const field = keys[0];
  if (keys.length !== 1 || (field !== 'data' && field !== 'text' && field !== 'ciphertext')) {
    return 'expected exactly one field: "data" (base64), "text" (string) or "ciphertext" (base64 TDH2 ciphertext)';
  }
  if (field === 'text') {
    if (typeof o['text'] !== 'string') return '"text" must be a string';
    return { bytes: new TextEncoder().encode(o['text']), encrypted: false };
  }
  if (typeof o[field] !== 'string') return `"${field}" must be a base64 string`;
  const bytes = base64ToBytes(o[field] as string);
  if (!bytes) return `"${field}" is not valid base64`;
  return { bytes, encrypted: field === 'ciphertext' };
}

export function replicaApp(host: ReplicaHost, options: AppOptions): Hono {
  const app = new Hono();
  const latencies = new RouteLatencies();
  const log = options.log ?? ((line: string) => console.log(line));
  const health = new HealthCheck(host.group.quorumSystem, host.me, host.group.replicas.map((r) => r.id), options.healthStallMs);
  // Refusals answered before reading the body (too large by content-length, wrong type, unknown route).
  app.use(async (c, next) => {
    const started = options.now();
    await next();
    await drainBody(c.req.raw, 2 * MAX_FRAME_BYTES);
    // On Workers the clock advances only with I/O: a handler that did none measures 0.
    const ms = Math.max(0, options.now() - started);
    latencies.observe(c.req.method, routePath(c, -1), c.res.status, ms / 1000);
    if (options.accessLog) {
      const route = routePath(c, -1);
      log(logLine('info', host.secrets.id, 'http', `${c.req.method} ${route} ${c.res.status} ${ms} ms`, { method: c.req.method, route, status: c.res.status, ms }));
    }
  });
  const corsHandler = corsMiddleware(options.corsOrigins ?? '*');
  if (corsHandler) {
    app.use(async (c, next) => {
      // Not for replicas, and an OPTIONS that is no preflight gets its Allow answer from the route table.
      const preflight = c.req.method !== 'OPTIONS' || c.req.header('access-control-request-method') !== undefined;
      return c.req.path === '/v1/peer' || !preflight ? next() : corsHandler(c, next);
    });
  }
  const buckets = new TokenBuckets(options.clientRate ?? 2000, options.clientBurst ?? 4000, options.now);
  const admission = options.admission ?? NO_ADMISSION_CONFIG;
  const keysByHash = new Map<string, ApiKey>(admission.apiKeys.map((k) => [k.sha256, k]));
  const keyBuckets = new Map<string, TokenBuckets>(admission.apiKeys.map((k) => [k.id, new TokenBuckets(k.rate, k.burst, options.now, 1)]));
  /** A Response when the client may not write now (401 without a needed key, 429 to wait), else null. */
  const rateLimited = (c: Context, cost = 1): Response | null => {
    const who = principalOf(admission, keysByHash, {
      authorization: c.req.header('authorization'),
      header: (name) => c.req.header(name),
      runtimeAddress: options.clientAddress?.(c),
    });
    if (!who.ok) {
      c.header('www-authenticate', 'Bearer');
      return fail(c, who.status, who.code, who.message);
    }
    const wait = who.key ? keyBuckets.get(who.key.id)!.take(who.bucket, cost) : buckets.take(who.bucket, cost);
    if (wait <= 0) return null;
    c.header('retry-after', String(Math.ceil(wait / 1000)));
    return fail(c, 429, 'rate-limited', `too many requests from ${who.key ? `API key ${who.key.id}` : 'this address'}; retry in ${Math.ceil(wait)} ms`);
  };

  app.onError((err, c) => {
    log(logLine('error', host.secrets.id, 'internal-error', err instanceof Error ? err.message : String(err), { route: routePath(c, -1), stack: err instanceof Error ? (err.stack ?? null) : null }));
    return fail(c, 500, 'internal', 'internal error; the request may be retried');
  });
  app.notFound((c) => fail(c, 404, 'not-found', `no route ${c.req.method} ${new URL(c.req.url).pathname}`));

  const batchLimit = bodyLimit({
    maxSize: MAX_BATCH_BODY_BYTES,
    onError: (c) => fail(c, 413, 'body-too-large', `the body exceeds ${MAX_BATCH_BODY_BYTES} bytes`),
  });
  const clientLimit = bodyLimit({
    maxSize: MAX_CLIENT_BODY_BYTES,
    onError: (c) => fail(c, 413, 'body-too-large', `the body exceeds ${MAX_CLIENT_BODY_BYTES} bytes`),
  });

  const idParam = { name: 'id', in: 'path', description: 'hex SHA-256 of the request (or of its ciphertext)', schema: { type: 'string', pattern: '^[0-9a-f]{64}$' } } as const;
  const b64 = { type: 'string', contentEncoding: 'base64' } as const;

  const routes: RouteSpec[] = [
    {
      method: 'post',
      path: '/v1/requests',
      operationId: 'submitRequest',
      tag: 'requests',
      summary: 'Submit a request (plain or encrypted to the group key) for total ordering',
      body: {
        'application/json': { oneOf: [{ type: 'object', required: ['text'], properties: { text: { type: 'string' } } }, { type: 'object', required: ['data'], properties: { data: b64 } }, { type: 'object', required: ['ciphertext'], properties: { ciphertext: b64 } }] },
        'application/octet-stream': { type: 'string', format: 'binary' },
        [CIPHERTEXT_MEDIA_TYPE]: { type: 'string', format: 'binary' },
      },
      responses: { '200': 'already in the log: {id, status: "ordered", index}', '202': '{id, status: "pending", replica}', '400': 'bad input', '413': 'too large', '415': 'unsupported media type', '401': 'API key missing (when the replica requires one) or unknown', '429': 'rate limited', '503': 'overloaded (queue full) or memory-full (state at the memory budget)' },
      middleware: [clientLimit],
      handler: async (c) => {
        const limited = rateLimited(c);
        if (limited) return limited;
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
      },
    },
    {
      method: 'post',
      path: '/v1/requests/batch',
      operationId: 'submitRequests',
      tag: 'requests',
      summary: `Submit up to ${MAX_BATCH_REQUESTS} requests in one call (one storage write for all); each is answered as by POST /v1/requests`,
      body: {
        'application/json': {
          type: 'object',
          required: ['requests'],
          properties: {
            requests: {
              type: 'array',
              maxItems: MAX_BATCH_REQUESTS,
              items: { oneOf: [{ type: 'object', required: ['text'], properties: { text: { type: 'string' } } }, { type: 'object', required: ['data'], properties: { data: b64 } }, { type: 'object', required: ['ciphertext'], properties: { ciphertext: b64 } }] },
            },
          },
        },
      },
      responses: {
        '200': '{replica, results: [{id, status: "pending" | "ordered", index?} | {error: {code, message}}]} in the order given',
        '400': 'bad input (nothing was submitted)',
        '413': 'too large',
        '415': 'unsupported media type',
        '429': 'rate limited (one token per request)',
      },
      middleware: [batchLimit],
      handler: async (c) => {
        const body = await readJson(c, '{"requests": [{"text"} | {"data"} | {"ciphertext"}, ...]}');
        if (body instanceof Response) return body;
        const list = (body as { requests?: unknown } | null)?.requests;
        if (typeof body !== 'object' || body === null || Array.isArray(body) || Object.keys(body).length !== 1 || !Array.isArray(list)) {
          return fail(c, 400, 'bad-request', 'expected {"requests": [...]}');
        }
        if (list.length === 0 || list.length > MAX_BATCH_REQUESTS) return fail(c, 400, 'bad-request', `between 1 and ${MAX_BATCH_REQUESTS} requests per call`);
        const items: { bytes: Uint8Array; encrypted: boolean }[] = [];
        for (let i = 0; i < list.length; i++) {
          const item = parseRequestObject(list[i]);
          if (typeof item === 'string') return fail(c, 400, 'bad-request', `requests[${i}]: ${item}`);
          if (item.bytes.length === 0) return fail(c, 400, 'bad-request', `requests[${i}]: the request is empty`);
          items.push(item);
        }
        const limited = rateLimited(c, items.length);
        if (limited) return limited;
        const results = await host.submitMany(items);
        if (results.some((r) => r.ok && r.status === 'pending')) options.afterChange();
        return c.json({
          replica: host.secrets.id,
          results: results.map((r) => (r.ok ? { id: r.id, status: r.status, ...(r.index !== undefined ? { index: r.index } : {}) } : { error: { code: r.error.code, message: r.error.message } })),
        });
      },
    },
    {
      method: 'get',
      path: '/v1/requests/{id}',
      operationId: 'requestStatus',
      tag: 'requests',
      summary: 'Status of a request: pending, decrypting, skipped, ordered or certified',
      params: [idParam],
      responses: { '200': 'the status', '400': 'bad id', '404': 'unknown request' },
      handler: async (c) => {
        const id = c.req.param('id')!;
        if (!ID.test(id)) return fail(c, 400, 'bad-id', 'a request id is 64 lowercase hex digits (SHA-256 of the request)');
        const down = await unavailable(c, host);
        if (down) return down;
        const s = await host.status(id);
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
      },
    },
    {
      method: 'get',
      path: '/v1/receipts/{id}',
      operationId: 'receipt',
      tag: 'requests',
      summary: 'Receipt of a request: entry, inclusion proof and group-signed checkpoint (verifiable offline)',
      params: [idParam],
      responses: { '200': 'the receipt (format sintra-edge/receipt@1)', '400': 'bad id', '404': 'unknown request', '409': 'not certified yet, or skipped' },
      // valid forever; a newer one may carry a newer checkpoint
      cache: 'public, max-age=60',
      handler: async (c) => {
        const id = c.req.param('id')!;
        if (!ID.test(id)) return fail(c, 400, 'bad-id', 'a request id is 64 lowercase hex digits (SHA-256 of the request)');
        const down = await unavailable(c, host);
        if (down) return down;
        const s = await host.status(id);
        if (!s) return fail(c, 404, 'unknown-request', `request ${id} is neither pending here nor in the log`);
        if (s.status === 'skipped') return fail(c, 409, 'skipped', `ciphertext ${id} was ordered but does not decrypt with the group key; it has no log position`);
        const receipt = await host.receipt(id);
        if (!receipt) return fail(c, 409, 'not-certified', `request ${id} is ${s.status}; no signed checkpoint covers it yet`);
        return c.json(receiptToJson(host.group.groupId, receipt));
      },
    },
    ...tileRoutes(host),
    ...notaryRoutes(host, { clientLimit, rateLimited, afterChange: options.afterChange }),
    ...caRoutes(host, { clientLimit, rateLimited, afterChange: options.afterChange }),
    {
      method: 'get',
      path: '/v1/info',
      operationId: 'info',
      tag: 'operations',
      summary: 'This replica (id, index), n, the public group.json and the applications it runs',
      responses: { '200': '{service, replica, groupId, n, group, apps}' },
      cache: 'public, max-age=60',
      handler: (c) =>
        c.json({
          service: 'sintra-edge',
          replica: { id: host.secrets.id, index: host.me },
          groupId: host.groupIdHex(),
          n: host.n,
          group: host.group.file,
          apps: host.appNames(),
        }),
    },
    {
      method: 'get',
      path: '/v1/log/checkpoint',
      operationId: 'latestCheckpoint',
      tag: 'log',
      summary: 'The latest group-signed checkpoint (size, root, epoch, state digest, signature); with covering=i the earliest whose size exceeds i',
      params: [{ name: 'covering', in: 'query', description: 'a log index: the earliest checkpoint covering it (state transfer fetches in chunks so)', schema: { type: 'integer', minimum: 0 } }],
      responses: { '200': 'the checkpoint', '400': 'bad index', '404': 'nothing certified yet (or nothing covering that index)' },
      cache: 'public, max-age=1',
      handler: async (c) => {
        const covering = c.req.query('covering');
        if (covering !== undefined) {
          const index = natParam(covering);
          if (index === null) return fail(c, 400, 'bad-index', 'covering: expected a non-negative integer');
          const down = await unavailable(c, host);
          if (down) return down;
          const at = await host.checkpointCovering(index);
          if (!at) return fail(c, 404, 'no-checkpoint', `no signed checkpoint covers entry ${index} yet`);
          return c.json(checkpointToJson(at));
        }
        const cp = host.latestCheckpoint();
        if (!cp) return fail(c, 404, 'no-checkpoint', 'no checkpoint has been signed yet');
        return c.json(checkpointToJson(cp));
      },
    },
    {
      method: 'get',
      path: '/v1/log/entries',
      operationId: 'logEntries',
      tag: 'log',
      summary: 'Log entries [start, end), at most 1000',
      params: [
        { name: 'start', in: 'query', description: 'first index', schema: { type: 'integer', minimum: 0 }, required: true },
        { name: 'end', in: 'query', description: 'end index (exclusive; default start + 100)', schema: { type: 'integer', minimum: 0 } },
      ],
      responses: { '200': '{size, entries: [{index, id, epoch, data}]}', '400': 'bad range' },
      // the entries never change, but the answer carries the current size
      cache: 'public, max-age=5',
      handler: async (c) => {
        const start = natParam(c.req.query('start'));
        const end = natParam(c.req.query('end') ?? String((start ?? 0) + 100));
        if (start === null || end === null || end < start) return fail(c, 400, 'bad-range', 'expected integers 0 <= start <= end');
        if (end - start > MAX_ENTRIES_PER_PAGE) return fail(c, 400, 'bad-range', `at most ${MAX_ENTRIES_PER_PAGE} entries per page`);
        const down = await unavailable(c, host);
        if (down) return down;
        if (start > host.logSize) return fail(c, 400, 'bad-range', `start ${start} is beyond the log size ${host.logSize}`);
        const entries = await host.entries(start, end);
        return c.json({ size: host.logSize, entries: entries.map((e) => ({ index: e.index, id: e.id, epoch: e.epoch, data: toBase64(e.entry) })) });
      },
    },
    {
      method: 'get',
      path: '/v1/log/consistency',
      operationId: 'logConsistency',
      tag: 'log',
      summary: 'RFC 6962 consistency proof between two log sizes',
      params: [
        { name: 'first', in: 'query', description: 'earlier size', schema: { type: 'integer', minimum: 0 }, required: true },
        { name: 'second', in: 'query', description: 'later size', schema: { type: 'integer', minimum: 0 }, required: true },
      ],
      responses: { '200': '{first, second, proof: [hex]}', '400': 'bad range' },
      cache: IMMUTABLE,
      handler: async (c) => {
        const first = natParam(c.req.query('first'));
        const second = natParam(c.req.query('second'));
        const down = await unavailable(c, host);
        if (down) return down;
        if (first === null || second === null || first > second || second > host.logSize) {
          return fail(c, 400, 'bad-range', `expected integers 0 <= first <= second <= ${host.logSize}`);
        }
        return c.json({ first, second, proof: (await host.consistencyProof(first, second)).map(toHex) });
      },
    },
    {
      method: 'get',
      path: '/v1/health',
      operationId: 'health',
      tag: 'operations',
      summary: 'Health: loaded, active, a quorum of peers reachable, checkpoints advancing while work waits',
      responses: { '200': '{ok: true, replica, logSize}', '503': '{ok: false, error: {code: storage-unavailable | not-bootstrapped | lost-state | peers-unreachable | stalled, message}}' },
      cache: 'no-store',
      handler: async (c) => {
        const down = await unavailable(c, host);
        if (down) return down;
        const h = health.check(host.metrics(), options.now());
        if (!h.ok) {
          c.header('retry-after', '5');
          return c.json({ ok: false, replica: host.secrets.id, logSize: host.logSize, ...errorBody(h.code, h.message) }, 503);
        }
        return c.json({ ok: true, replica: host.secrets.id, logSize: host.logSize });
      },
    },
    {
      method: 'get',
      path: '/v1/metrics',
      operationId: 'metrics',
      tag: 'operations',
      summary: 'Engine, outbox and link metrics',
      responses: { '200': 'metrics' },
      cache: 'no-store',
      handler: (c) => c.json(host.metrics()),
    },
    {
      method: 'get',
      path: '/metrics',
      operationId: 'prometheusMetrics',
      tag: 'operations',
      summary: 'The same metrics, and HTTP latencies by route, in the Prometheus text exposition format',
      responses: { '200': 'text/plain; version=0.0.4' },
      cache: 'no-store',
      handler: (c) => c.body(prometheusText(host.metrics(), latencies), 200, { 'content-type': PROMETHEUS_CONTENT_TYPE }),
    },
    {
      method: 'get',
      path: '/v1/openapi.json',
      operationId: 'openapi',
      tag: 'operations',
      summary: 'This document, generated from the route table that registers the handlers',
      responses: { '200': 'OpenAPI 3.1 document' },
      cache: 'public, max-age=300',
      handler: (c) => c.json(document()),
    },
    {
      method: 'get',
      path: '/v1/peer/rejoin-report',
      operationId: 'rejoinReport',
      tag: 'peers',
      summary: 'Replica to replica: for a replica that rejoins after losing state, this replica\'s epoch and latest signed checkpoint, MAC\'d on the link to it with its nonce',
      params: [
        { name: 'to', in: 'query', required: true, description: 'the index of the replica that rejoins', schema: { type: 'integer', minimum: 0 } },
        { name: 'nonce', in: 'query', required: true, description: '16 bytes of hex, chosen by the replica that rejoins', schema: { type: 'string', pattern: '^[0-9a-f]{32}$' } },
      ],
      responses: { '200': '{replica, to, nonce, epoch, checkpoint, mac}', '400': 'bad replica or nonce', '503': 'this replica is not active' },
      cache: 'no-store',
      handler: async (c) => {
        const to = natParam(c.req.query('to') ?? '');
        const nonceHex = c.req.query('nonce') ?? '';
        if (to === null) return fail(c, 400, 'bad-replica', 'to: expected a replica index');
        if (!/^[0-9a-f]{32}$/.test(nonceHex)) return fail(c, 400, 'bad-nonce', 'nonce: expected 16 bytes of lower-case hex');
        const down = await unavailable(c, host);
        if (down) return down;
        const r = host.rejoinReportFor(to, fromHex(nonceHex));
        if (!r.ok) return fail(c, r.error.status as 400, r.error.code, r.error.message);
        return c.json(r.report);
      },
    },
    {
      method: 'post',
      path: '/v1/peer',
      operationId: 'peerFrame',
      tag: 'peers',
      summary: 'Replica to replica: one authenticated link frame carrying protocol messages',
      body: { 'application/octet-stream': { type: 'string', format: 'binary' } },
      responses: { '200': '{accepted: [ids], deferred: [ids]}', '400': 'bad frame', '401': 'bad MAC', '409': 'replay / ahead (with ack)', '413': 'too large' },
      middleware: [bodyLimit({ maxSize: MAX_FRAME_BYTES, onError: (c) => fail(c, 413, 'body-too-large', `a frame is at most ${MAX_FRAME_BYTES} bytes`) })],
      handler: async (c) => {
        const frame = new Uint8Array(await c.req.arrayBuffer());
        const r = await host.receiveFrame(frame);
        // 503: this replica may have just found out it lost state (HostCore mode lost-state), and only a
        // flush starts its rejoin (reports, then state transfer); a replica found out waits for nothing else.
        if (r.status === 200 || r.status === 503) options.afterChange();
        return c.json(r.body, r.status as 200);
      },
    },
  ];
  let doc: Record<string, unknown> | null = null;
  const document = () =>
    (doc ??= openApiDocument(routes, {
      title: 'Sintra Edge replica API',
      version: API_VERSION,
      description: 'Intrusion-tolerant replication (SINTRA). Errors: {"error": {"code", "message"}}; codes in docs/api.md.',
    }));
  registerRoutes(app, routes);
  return app;
}

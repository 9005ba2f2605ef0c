/**
 * The replica's HTTP API (docs/api.md) as one Hono app, shared by every runtime adapter (the
 * Durable Object, the Node replica). Routes only translate HTTP to ReplicaHost calls: validation of every
 * input with a stable JSON error code, no protocol logic. Bad input never reaches the host, so it never
 * changes state.
 *
 * Errors: `{"error": {"code": "...", "message": "..."}}` with a 4xx/5xx status. Codes are stable API.
 *
 * Every route is one entry of a table (openapi.ts) that registers its Hono handler, checks its parameters
 * and JSON body against the schemas it declares (schema.ts; each bad field keeps its error code) and
 * describes it, with those schemas and its answers' schemas, in GET /v1/openapi.json: the published
 * description is the served API by construction. The applications' routes (notary-routes.ts,
 * ca-routes.ts) join the same table.
 */
import { Hono } from 'hono';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { fromHex, toBase64, toHex } from '../../shared/crypto/bytes.ts';
import { checkpointToJson, receiptToJson } from '../../shared/log/checkpoint.ts';
import { MAX_FRAME_BYTES } from '../../shared/link/frame.ts';
import type { ReplicaHost } from './host.ts';
import { base64ToBytes, errorBody, fail, unavailable } from './http.ts';
import { caRoutes } from './ca-routes.ts';
import { notaryRoutes } from './notary-routes.ts';
import { tileRoutes } from './tile-routes.ts';
import { pkiRoutes } from './pki-routes.ts';
import { signerRoutes } from './signer-routes.ts';
import { tsaRoutes } from './tsa-routes.ts';
import type { TsaService } from './tsa.ts';
import { x509Routes } from './x509-routes.ts';
import type { X509Service } from './x509.ts';
import type { SignService } from './signer.ts';
import { beaconRoutes } from './beacon-routes.ts';
import type { BeaconService } from './beacon.ts';
import { IMMUTABLE, openApiDocument, registerRoutes } from './openapi.ts';
import type { RouteBody, RouteSpec } from './openapi.ts';
import { coded, component } from './schema.ts';
import type { Schema } from './schema.ts';
import {
  BINARY,
  CHECKPOINT_SCHEMA,
  ERROR_SCHEMA,
  HEALTH_DOWN_SCHEMA,
  NAT,
  RECEIPT_SCHEMA,
  REPLICA_ID,
  REQUEST_ID,
  REQUEST_OBJECT,
  REQUEST_STATUS_SCHEMA,
  SUBMITTED_SCHEMA,
  SUBMIT_STATUS,
  TEXT,
  WRITE_ERRORS,
  exact,
  hex,
  nullable,
} from './api-schemas.ts';
import { TokenBuckets } from './rate-limit.ts';
import { logLine } from './log.ts';
import { corsMiddleware } from './cors.ts';
import { HealthCheck } from './health.ts';
import type { CorsOrigins } from './cors.ts';
import { PROMETHEUS_CONTENT_TYPE, RouteLatencies, prometheusText } from './prometheus.ts';
import { matchedRoutes } from 'hono/route';
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
  /** The randomness beacon (beacon.ts), when the group has keys.beacon; its routes answer 404 no-beacon without it. */
  readonly beacon?: BeaconService;
  /** The signing service (signer.ts), when the group has a signer policy; its routes answer 503 without it. */
  readonly signer?: SignService;
  /** The time-stamping authority (tsa.ts), when the group has a threshold RSA key; its routes answer 503 without it. */
  readonly tsa?: TsaService;
  /** X.509 issuance under the root CA (x509.ts), when the group has a threshold RSA key; its routes answer 503 without it. */
  readonly x509?: X509Service;
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
 * A client request as its route read it: JSON {"data": base64}, {"text": string} or {"ciphertext": base64},
 * already checked against REQUEST_OBJECT; raw octets (application/octet-stream); or a raw ciphertext
 * (CIPHERTEXT_MEDIA_TYPE).
 */
function requestOf(body: RouteBody): ClientRequestBody {
  if (body.kind === 'bytes') return { bytes: body.bytes, encrypted: body.type === CIPHERTEXT_MEDIA_TYPE };
  const o = body.value as { text?: string; data?: string; ciphertext?: string };
  if (o.text !== undefined) return { bytes: new TextEncoder().encode(o.text), encrypted: false };
  // REQUEST_OBJECT checked the base64.
  return { bytes: base64ToBytes(o.data ?? o.ciphertext!)!, encrypted: o.ciphertext !== undefined };
}

/** Query and path parameters with the error code each answers when it is bad. */
const REQUEST_ID_PARAM = coded({ ...REQUEST_ID }, 'bad-id', 'a request id is 64 lowercase hex digits (SHA-256 of the request)');
const natParamSchema = (code: string, message: string): Schema => coded({ ...NAT }, code, message);

const BATCH_BODY = component(
  'RequestBatch',
  exact({ requests: { type: 'array', minItems: 1, maxItems: MAX_BATCH_REQUESTS, items: REQUEST_OBJECT } }),
);

const METRICS_SCHEMA = component('Metrics', {
  type: 'object',
  description: 'Engine, outbox and link metrics (HostCoreMetrics in shared/replica/host-core.ts); fields may be added.',
  required: ['replica', 'index', 'mode', 'engine', 'outbox', 'links'],
  properties: {
    replica: REPLICA_ID,
    index: NAT,
    mode: { type: 'string', enum: ['active', 'not-bootstrapped', 'lost-state'] },
    engine: {
      type: 'object',
      required: ['epoch', 'logSize', 'pending', 'checkpoint', 'events'],
      properties: { epoch: NAT, logSize: NAT, pending: NAT, checkpoint: nullable(exact({ epoch: NAT, size: NAT })), events: NAT },
    },
    outbox: { type: 'array', items: NAT, description: 'messages waiting, by peer index' },
    links: { type: 'array', items: { type: 'object', required: ['peer', 'failures', 'lastError'], properties: { peer: NAT, failures: NAT, lastError: { anyOf: [TEXT, { type: 'null' }] } } } },
  },
} satisfies Schema);

const THRESHOLD_KEY: Schema = {
  type: 'object',
  required: ['scheme', 'groupKey', 'rowKeys'],
  properties: { scheme: { type: 'object' }, groupKey: hex(96, 'compressed G2'), rowKeys: { type: 'array', items: hex(96) } },
};

/** group.json as GET /v1/info serves it (docs/formats.md); its full check is parseGroup (shared/config/group.ts). */
const GROUP_FILE_SCHEMA = component('GroupFile', {
  type: 'object',
  required: ['format', 'groupId', 'replicas', 'keys'],
  properties: {
    format: { type: 'string', const: 'sintra-edge/group@1' },
    groupId: hex(32),
    testOnly: { type: 'boolean' },
    replicas: { type: 'array', minItems: 1, items: { type: 'object', required: ['index', 'id', 'linkKey'], properties: { index: NAT, id: TEXT, linkKey: hex(32) } } },
    keys: {
      type: 'object',
      description: 'the group public keys (others, such as an optional threshold RSA key, may follow)',
      required: ['kernel', 'quorum', 'encryption'],
      properties: {
        kernel: THRESHOLD_KEY,
        quorum: THRESHOLD_KEY,
        encryption: {
          type: 'object',
          description: 'the TDH2 key requests are encrypted to',
          required: ['scheme', 'publicKey', 'rowKeys'],
          properties: { scheme: { type: 'object' }, publicKey: hex(48, 'compressed G1'), rowKeys: { type: 'array', items: hex(48) } },
        },
      },
    },
  },
} satisfies Schema);

export function replicaApp(host: ReplicaHost, options: AppOptions): Hono {
  const app = new Hono();
  const latencies = new RouteLatencies();
  const log = options.log ?? ((line: string) => console.log(line));
  const health = new HealthCheck(host.group.quorumSystem, host.me, host.group.replicas.map((r) => r.id), options.healthStallMs);
  // Refusals answered before reading the body (too large by content-length, wrong type, unknown route).
  /**
   * The route pattern a request was for: the first specific route that matched, in registration order,
   * which is the one that answers (the last match is not: `/{chainhash}/info` also matches `/v1/info`).
   */
  const routeOf = (c: Context): string => matchedRoutes(c).find((r) => r.path !== '*' && r.path !== '/*')?.path ?? '*';
  app.use(async (c, next) => {
    const started = options.now();
    await next();
    await drainBody(c.req.raw, 2 * MAX_FRAME_BYTES);
    // On Workers the clock advances only with I/O: a handler that did none measures 0.
    const ms = Math.max(0, options.now() - started);
    latencies.observe(c.req.method, routeOf(c), c.res.status, ms / 1000);
    if (options.accessLog) {
      const route = routeOf(c);
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
    log(logLine('error', host.secrets.id, 'internal-error', err instanceof Error ? err.message : String(err), { route: routeOf(c), stack: err instanceof Error ? (err.stack ?? null) : null }));
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

  const idParam = { name: 'id', in: 'path', description: 'hex SHA-256 of the request (or of its ciphertext)', schema: REQUEST_ID_PARAM } as const;

  const routes: RouteSpec[] = [
    {
      method: 'post',
      path: '/v1/requests',
      operationId: 'submitRequest',
      tag: 'requests',
      summary: 'Submit a request (plain or encrypted to the group key) for total ordering',
      body: {
        'application/json': REQUEST_OBJECT,
        'application/octet-stream': BINARY,
        [CIPHERTEXT_MEDIA_TYPE]: BINARY,
      },
      bodyHint: '{"data": base64}, {"text": string} or {"ciphertext": base64}',
      apiKey: true,
      responses: {
        '200': { description: 'already in the log: status "ordered", with its index', schema: SUBMITTED_SCHEMA },
        '202': { description: 'accepted: status "pending"', schema: SUBMITTED_SCHEMA },
        '400': 'bad input (malformed-json, bad-request, invalid-ciphertext)',
        '415': 'unsupported media type',
        ...WRITE_ERRORS,
      },
      middleware: [clientLimit],
      handler: async (c, input) => {
        const limited = rateLimited(c);
        if (limited) return limited;
        const read = await input.body();
        if (read instanceof Response) return read;
        const body = requestOf(read);
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
      body: { 'application/json': BATCH_BODY },
      bodyHint: '{"requests": [{"text"} | {"data"} | {"ciphertext"}, ...]}',
      apiKey: true,
      responses: {
        '200': {
          description: 'one result per request, in the order given: accepted (as by POST /v1/requests) or refused with an error',
          schema: exact({
            replica: REPLICA_ID,
            results: { type: 'array', items: { oneOf: [exact({ id: REQUEST_ID, status: SUBMIT_STATUS, index: NAT }, ['index']), ERROR_SCHEMA] } },
          }),
        },
        '400': 'bad input (nothing was submitted)',
        '401': WRITE_ERRORS['401'],
        '413': 'too large',
        '415': 'unsupported media type',
        '429': 'rate limited (one token per request)',
      },
      middleware: [batchLimit],
      handler: async (c, input) => {
        const body = await input.json();
        if (body instanceof Response) return body;
        // BATCH_BODY checked the shape: 1 to MAX_BATCH_REQUESTS request objects.
        const items = (body as { requests: unknown[] }).requests.map((value) => requestOf({ kind: 'json', value }));
        const empty = items.findIndex((item) => item.bytes.length === 0);
        if (empty >= 0) return fail(c, 400, 'bad-request', `requests[${empty}]: the request is empty`);
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
      responses: { '200': { description: 'the status', schema: REQUEST_STATUS_SCHEMA }, '400': 'bad id', '404': 'unknown request' },
      handler: async (c, input) => {
        const id = input.str('id')!;
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
      responses: { '200': { description: 'the receipt (format sintra-edge/receipt@1)', schema: RECEIPT_SCHEMA }, '400': 'bad id', '404': 'unknown request', '409': 'not certified yet, or skipped' },
      // valid forever; a newer one may carry a newer checkpoint
      cache: 'public, max-age=60',
      handler: async (c, input) => {
        const id = input.str('id')!;
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
    ...pkiRoutes(host),
    ...signerRoutes(host, { clientLimit, rateLimited, afterChange: options.afterChange, service: options.signer ?? null }),
    ...tsaRoutes(host, { clientLimit, rateLimited, afterChange: options.afterChange, service: options.tsa ?? null, now: options.now }),
    ...x509Routes(host, { clientLimit, rateLimited, afterChange: options.afterChange, service: options.x509 ?? null, now: options.now }),
    {
      method: 'get',
      path: '/v1/info',
      operationId: 'info',
      tag: 'operations',
      summary: 'This replica (id, index), n, the public group.json and the applications it runs',
      responses: {
        '200': {
          description: 'this replica and its group',
          schema: exact({
            service: { type: 'string', const: 'sintra-edge' },
            replica: exact({ id: REPLICA_ID, index: NAT }),
            groupId: hex(32),
            n: { type: 'integer', minimum: 1 },
            group: GROUP_FILE_SCHEMA,
            apps: { type: 'array', items: TEXT, description: 'the applications it runs (notary, ca)' },
          }),
        },
      },
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
      params: [
        {
          name: 'covering',
          in: 'query',
          description: 'a log index: the earliest checkpoint covering it (state transfer fetches in chunks so)',
          schema: natParamSchema('bad-index', 'expected a non-negative integer'),
        },
      ],
      responses: { '200': { description: 'the checkpoint', schema: CHECKPOINT_SCHEMA }, '400': 'bad index', '404': 'nothing certified yet (or nothing covering that index)' },
      cache: 'public, max-age=1',
      handler: async (c, input) => {
        const index = input.int('covering');
        if (index !== undefined) {
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
        { name: 'start', in: 'query', description: 'first index', schema: natParamSchema('bad-range', 'expected an integer 0 <= start'), required: true },
        { name: 'end', in: 'query', description: 'end index (exclusive; default start + 100)', schema: natParamSchema('bad-range', 'expected an integer start <= end') },
      ],
      responses: {
        '200': {
          description: 'the entries and the current log size',
          schema: exact({ size: NAT, entries: { type: 'array', maxItems: MAX_ENTRIES_PER_PAGE, items: exact({ index: NAT, id: REQUEST_ID, epoch: NAT, time: { ...NAT, description: "the epoch's agreed time, ms since 1970 (UTC)" }, data: { type: 'string', contentEncoding: 'base64' } }) } }),
        },
        '400': 'bad range',
      },
      // the entries never change, but the answer carries the current size
      cache: 'public, max-age=5',
      handler: async (c, input) => {
        const start = input.int('start')!;
        const end = input.int('end') ?? start + 100;
        if (end < start) return fail(c, 400, 'bad-range', 'expected integers 0 <= start <= end');
        if (end - start > MAX_ENTRIES_PER_PAGE) return fail(c, 400, 'bad-range', `at most ${MAX_ENTRIES_PER_PAGE} entries per page`);
        const down = await unavailable(c, host);
        if (down) return down;
        if (start > host.logSize) return fail(c, 400, 'bad-range', `start ${start} is beyond the log size ${host.logSize}`);
        const entries = await host.entries(start, end);
        return c.json({ size: host.logSize, entries: entries.map((e) => ({ index: e.index, id: e.id, epoch: e.epoch, time: e.time, data: toBase64(e.entry) })) });
      },
    },
    {
      method: 'get',
      path: '/v1/log/consistency',
      operationId: 'logConsistency',
      tag: 'log',
      summary: 'RFC 6962 consistency proof between two log sizes',
      params: [
        { name: 'first', in: 'query', description: 'earlier size', schema: natParamSchema('bad-range', 'expected an integer 0 <= first'), required: true },
        { name: 'second', in: 'query', description: 'later size', schema: natParamSchema('bad-range', 'expected an integer first <= second'), required: true },
      ],
      responses: { '200': { description: 'the proof (hashes in hex)', schema: exact({ first: NAT, second: NAT, proof: { type: 'array', items: hex(32) } }) }, '400': 'bad range' },
      cache: IMMUTABLE,
      handler: async (c, input) => {
        const first = input.int('first')!;
        const second = input.int('second')!;
        const down = await unavailable(c, host);
        if (down) return down;
        if (first > second || second > host.logSize) {
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
      responses: {
        '200': { description: 'healthy', schema: exact({ ok: { type: 'boolean', const: true }, replica: REPLICA_ID, logSize: NAT }) },
        '503': { description: 'not healthy: storage-unavailable, not-bootstrapped, lost-state, peers-unreachable or stalled', schema: HEALTH_DOWN_SCHEMA },
      },
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
      responses: { '200': { description: 'the metrics', schema: METRICS_SCHEMA } },
      cache: 'no-store',
      handler: (c) => c.json(host.metrics()),
    },
    {
      method: 'get',
      path: '/metrics',
      operationId: 'prometheusMetrics',
      tag: 'operations',
      summary: 'The same metrics, and HTTP latencies by route, in the Prometheus text exposition format',
      responses: { '200': { description: 'the Prometheus text exposition format 0.0.4', type: 'text/plain', schema: TEXT } },
      cache: 'no-store',
      handler: (c) => c.body(prometheusText(host.metrics(), latencies, { checkpointAgeMs: host.checkpointAgeMs(), ...(options.beacon ? { beaconProduced: options.beacon.newestProduced } : {}) }), 200, { 'content-type': PROMETHEUS_CONTENT_TYPE }),
    },
    {
      method: 'get',
      path: '/v1/openapi.json',
      operationId: 'openapi',
      tag: 'operations',
      summary: 'This document, generated from the route table that registers the handlers and validates their input',
      responses: {
        '200': {
          description: 'the OpenAPI 3.1 document',
          schema: {
            type: 'object',
            required: ['openapi', 'info', 'paths'],
            properties: { openapi: { type: 'string', const: '3.1.0' }, info: { type: 'object' }, paths: { type: 'object' }, components: { type: 'object' } },
          },
        },
      },
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
        { name: 'to', in: 'query', required: true, description: 'the index of the replica that rejoins', schema: natParamSchema('bad-replica', 'expected a replica index') },
        { name: 'nonce', in: 'query', required: true, description: '16 bytes of hex, chosen by the replica that rejoins', schema: coded(hex(16), 'bad-nonce', 'expected 16 bytes of lower-case hex') },
      ],
      responses: {
        '200': {
          description: "this replica's epoch and latest signed checkpoint, MAC'd on the link (docs/formats.md, section 13)",
          schema: exact({ replica: NAT, to: NAT, nonce: hex(16), epoch: NAT, checkpoint: nullable(CHECKPOINT_SCHEMA), mac: hex(32, 'HMAC-SHA256 on the link to the rejoining replica') }),
        },
        '400': 'bad replica or nonce',
        '503': 'this replica is not active',
      },
      cache: 'no-store',
      handler: async (c, input) => {
        const to = input.int('to')!;
        const nonceHex = input.str('nonce')!;
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
      description: 'The frame is read as bytes whatever its content type; the link MAC, not HTTP, authenticates it.',
      body: { 'application/octet-stream': BINARY },
      responses: {
        '200': { description: 'the message ids taken now or before, and those beyond the window', schema: exact({ accepted: { type: 'array', items: NAT }, deferred: { type: 'array', items: NAT } }) },
        '400': 'bad frame',
        '401': 'bad MAC',
        '409': {
          description: "replay / ahead: the receiver's ack, to resynchronize",
          schema: { allOf: [ERROR_SCHEMA, { type: 'object', properties: { ack: NAT } }] },
        },
        '413': 'too large',
      },
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
    // Last: drand's /{chainhash}/info must not shadow /v1/info (Hono tries routes in this order).
    ...beaconRoutes(options.beacon ?? null, options.now),
  ];
  let doc: Record<string, unknown> | null = null;
  const document = () =>
    (doc ??= openApiDocument(routes, {
      title: 'Sintra Edge replica API',
      version: API_VERSION,
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      description: 'Intrusion-tolerant replication (SINTRA). Errors: {"error": {"code", "message"}}; codes in docs/api.md.',
    }));
  registerRoutes(app, routes);
  return app;
}

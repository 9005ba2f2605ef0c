/**
 * Issue 5: the AWS Lambda entry (workers/node/lambda.ts), with no AWS: its handler is invoked with
 * synthetic function-URL events (API Gateway v2 payload format) by a small emulator of a Lambda function
 * URL on loopback that runs one invocation at a time (the function's reserved concurrency of 1), and its
 * `tick` by a timer standing in for an EventBridge schedule. State is in a real redis-server behind the
 * Upstash REST bridge.
 *
 * The Lambda is replica r4 of a group whose other three replicas are Node replicas in this process: the
 * four order and certify requests, receipts from the Lambda verify, and no fault is recorded. Then: a cold
 * start (a new instance) resumes from Redis; binary peer frames travel base64-encoded; with Redis
 * unreachable the handler answers 503 storage-unavailable and the tick reports failure, and both work
 * again afterwards; a missing configuration answers 503 misconfigured.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { LambdaEvent } from 'hono/aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deal } from '../../shared/config/deal.ts';
import { parseGroup, parseReplicaSecrets } from '../../shared/config/group.ts';
import type { Group } from '../../shared/config/group.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { receiptFromJson, verifyReceipt } from '../../shared/log/checkpoint.ts';
import { thresholdStructure } from '../../shared/quorum/structure-file.ts';
import { MemoryStore } from '../../workers/core/store.ts';
import { createLambdaHandlers } from '../../workers/node/lambda.ts';
import type { LambdaHandlers } from '../../workers/node/lambda.ts';
import { NodeReplica } from '../../workers/node/replica.ts';
import { serveReplica } from '../../workers/node/server.ts';
import type { ServedReplica } from '../../workers/node/server.ts';
import { getJson, http, waitFor } from '../helpers/http.ts';
import { freePorts } from '../helpers/ports.ts';
import { HAVE_REDIS, REDIS_SKIP_MESSAGE, startRedis } from '../helpers/redis.ts';
import type { TestRedis } from '../helpers/redis.ts';
import { startUpstashBridge } from '../helpers/upstash-bridge.ts';
import type { UpstashBridge } from '../helpers/upstash-bridge.ts';

type APIGatewayProxyEventV2 = Extract<LambdaEvent, { rawPath: string }>;

/** A function-URL event (payload format 2.0), as AWS builds it from an HTTP request. */
function functionUrlEvent(method: string, pathAndQuery: string, headers: Record<string, string>, body: Uint8Array | null): APIGatewayProxyEventV2 {
  const [rawPath, rawQueryString = ''] = pathAndQuery.split('?') as [string, string?];
  const type = headers['content-type'] ?? '';
  const text = body !== null && /^(application\/json|text\/)/.test(type);
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    headers: { host: 'abc.lambda-url.eu-central-1.on.aws', ...headers },
    body: body === null ? null : text ? Buffer.from(body).toString('utf8') : Buffer.from(body).toString('base64'),
    isBase64Encoded: body !== null && !text,
    requestContext: {
      accountId: 'anonymous',
      apiId: 'abc',
      authentication: null,
      authorizer: {} as never,
      domainName: 'abc.lambda-url.eu-central-1.on.aws',
      domainPrefix: 'abc',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      requestId: `req-${Math.random()}`,
      routeKey: '$default',
      stage: '$default',
      time: new Date().toISOString(),
      timeEpoch: Date.now(),
    },
  };
}

/**
 * A Lambda function URL on loopback in front of the handler. One invocation at a time, HTTP or scheduled
 * (an execution environment handles one event at a time, and the function's reserved concurrency is 1):
 * the others wait their turn.
 */
class FunctionUrl {
  private queue: Promise<unknown> = Promise.resolve();
  private server: Server | null = null;

  constructor(private readonly current: () => LambdaHandlers) {}

  /** Runs one invocation in turn. */
  run<T>(f: () => Promise<T>): Promise<T> {
    const r = this.queue.then(f);
    this.queue = r.catch(() => undefined);
    return r;
  }

  async invoke(method: string, path: string, body?: { type: string; bytes: Uint8Array }, h?: LambdaHandlers): Promise<{ status: number; json: any }> {
    const headers: Record<string, string> = body ? { 'content-type': body.type } : {};
    const res = await this.run(() => (h ?? this.current()).handler(functionUrlEvent(method, path, headers, body?.bytes ?? null) as LambdaEvent));
    const text = res.isBase64Encoded ? Buffer.from(res.body, 'base64').toString('utf8') : res.body;
    return { status: res.statusCode, json: JSON.parse(text) };
  }

  tick(): Promise<Awaited<ReturnType<LambdaHandlers['tick']>>> {
    return this.run(() => this.current().tick());
  }

  async listen(port: number): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
        const body = chunks.length ? new Uint8Array(Buffer.concat(chunks)) : null;
        this.run(() => this.current().handler(functionUrlEvent(req.method!, req.url!, headers, body) as LambdaEvent)).then(
          (out) => {
            res.writeHead(out.statusCode, out.headers as Record<string, string>);
            res.end(out.isBase64Encoded ? Buffer.from(out.body, 'base64') : out.body);
          },
          () => {
            res.writeHead(502);
            res.end();
          },
        );
      });
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
    this.server = server;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}

describe.skipIf(!HAVE_REDIS)('AWS Lambda entry (synthetic function-URL events; Upstash REST bridge + redis-server)', () => {
  let redis: TestRedis;
  let bridge: UpstashBridge;
  let group: Group;
  let env: Record<string, string>;
  let lambda: LambdaHandlers;
  let front: FunctionUrl;
  const invoke = (method: string, path: string, body?: { type: string; bytes: Uint8Array }) => front.invoke(method, path, body);
  let ticker: ReturnType<typeof setInterval> | null = null;
  const nodes: ServedReplica[] = [];
  let urls: string[];
  const lines: string[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    bridge = await startUpstashBridge(redis.port);
    const out = deal(thresholdStructure(4, 1), seededRandom('lambda-test'), { testOnly: true });
    group = parseGroup(JSON.parse(JSON.stringify(out.group)));
    const ports = await freePorts(4);
    urls = ports.map((p) => `http://127.0.0.1:${p}`);
    for (let i = 0; i < 3; i++) {
      const replica = new NodeReplica({ group, secrets: parseReplicaSecrets(out.secrets[i], group), store: new MemoryStore(), peers: urls, host: { bootstrap: true }, log: () => undefined });
      nodes.push(await serveReplica(replica, { port: ports[i]! }));
    }
    env = {
      SINTRA_GROUP: JSON.stringify(out.group),
      ...out.secrets[3]!,
      SINTRA_PEERS: JSON.stringify(urls),
      UPSTASH_REDIS_REST_URL: bridge.url,
      UPSTASH_REDIS_REST_TOKEN: bridge.token,
      SINTRA_REDIS_TIMEOUT_MS: '3000',
      SINTRA_BOOTSTRAP: '1',
    };
    lambda = createLambdaHandlers(env, (l) => lines.push(l));
    front = new FunctionUrl(() => lambda);
    await front.listen(ports[3]!);
    // The schedule: EventBridge's finest is one minute; a test cannot wait that long.
    ticker = setInterval(() => void front.tick(), 1000);
  }, 60_000);

  afterAll(async () => {
    if (ticker) clearInterval(ticker);
    await front?.close();
    await Promise.all(nodes.map((n) => n.close()));
    await (await lambda?.replica().catch(() => null))?.close();
    await bridge?.close();
    await redis?.stop();
  });

  const ids: string[] = [];

  it('a Lambda replica orders and certifies with three Node replicas; its receipts verify', async () => {
    for (let k = 0; k < 4; k++) {
      const text = `lambda request ${k}`;
      // Straight to the handler, and through the function URL to a Node replica's peer.
      const viaLambda = await invoke('POST', '/v1/requests', { type: 'application/json', bytes: new TextEncoder().encode(JSON.stringify({ text })) });
      expect(viaLambda.status, JSON.stringify(viaLambda.json)).toBe(202);
      expect(viaLambda.json.replica).toBe(group.replicas[3]!.id);
      const res = await http(`${urls[k % 3]}/v1/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
      expect(res.status).toBe(202);
      ids.push(viaLambda.json.id);
    }
    const cp = await waitFor(
      async () => {
        const cps = await Promise.all(urls.map((u) => getJson(u, '/v1/log/checkpoint')));
        if (cps.some((c) => c.status !== 200)) return null;
        return new Set(cps.map((c) => JSON.stringify(c.json))).size === 1 && cps[0]!.json.size === 4 ? cps[0]!.json : null;
      },
      'the same checkpoint of 4 entries at all four replicas',
      90_000,
      250,
    );
    expect(cp.size).toBe(4);
    for (const id of ids) {
      const rec = await invoke('GET', `/v1/receipts/${id}`);
      expect(rec.status).toBe(200);
      const { receipt } = receiptFromJson(rec.json);
      expect(verifyReceipt(group.kernel.groupKey, group.groupId, receipt)).toEqual({ ok: true });
    }
    const metrics = await Promise.all(urls.map((u) => getJson(u, '/v1/metrics')));
    for (const m of metrics) expect(m.json.engine.faultsByPeer).toEqual({});
    const logs = await Promise.all(urls.map((u) => getJson(u, '/v1/log/entries?start=0&end=4')));
    expect(new Set(logs.map((l) => JSON.stringify(l.json.entries))).size).toBe(1);
  }, 120_000);

  it('health, info and hostile binary peer frames through events; the tick reports the outbox', async () => {
    const health = await invoke('GET', '/v1/health');
    expect(health).toMatchObject({ status: 200, json: { ok: true, replica: group.replicas[3]!.id, logSize: 4 } });
    expect((await invoke('GET', '/v1/info')).json.replica).toEqual({ id: group.replicas[3]!.id, index: 3 });
    const frame = await invoke('POST', '/v1/peer', { type: 'application/octet-stream', bytes: new Uint8Array(200).fill(1) });
    expect(frame.status).toBeGreaterThanOrEqual(400);
    expect(frame.status).toBeLessThan(500);
    expect(frame.json.error.code).toMatch(/^link-/);
    const tick = await front.tick();
    expect(tick.ok).toBe(true);
    expect(tick.outbox).toHaveLength(4);
  });

  it('Redis unreachable: 503 storage-unavailable and a failed tick, then both work again', async () => {
    await bridge.stop();
    try {
      const r = await invoke('POST', '/v1/requests', { type: 'application/json', bytes: new TextEncoder().encode('{"text":"during the outage"}') });
      expect(r.status).toBe(503);
      expect(r.json.error.code).toBe('storage-unavailable');
      expect((await invoke('GET', '/v1/health')).status).toBe(503);
      expect((await front.tick()).ok).toBe(false);
    } finally {
      await bridge.start();
    }
    expect((await invoke('GET', '/v1/health')).status).toBe(200);
    expect((await front.tick()).ok).toBe(true);
    const again = await invoke('POST', '/v1/requests', { type: 'application/json', bytes: new TextEncoder().encode('{"text":"during the outage"}') });
    expect([200, 202]).toContain(again.status);
  });

  it('a cold start (a new instance, the old one gone) resumes from Redis', async () => {
    // The old environment is gone: nothing of it runs any more (its flushes finished), then a new one starts.
    await front.run(async () => {
      await (await lambda.replica()).close();
      lambda = createLambdaHandlers(env, (l) => lines.push(l));
    });
    const status = await invoke('GET', `/v1/requests/${ids[0]}`);
    expect(status.status).toBe(200);
    expect(status.json.status).toBe('certified');
    const m = await invoke('GET', '/v1/metrics');
    expect(m.json.replayedEvents).toBeGreaterThan(0);
    expect(m.json.engine.logSize).toBeGreaterThanOrEqual(4);
    // And it keeps taking part: one more request is certified everywhere.
    const r = await invoke('POST', '/v1/requests', { type: 'application/json', bytes: new TextEncoder().encode('{"text":"after the cold start"}') });
    await Promise.all(urls.slice(0, 1).map((u) => http(`${u}/v1/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text":"after the cold start"}' })));
    await waitFor(
      async () => {
        const s = await Promise.all(urls.map((u) => getJson(u, `/v1/requests/${r.json.id}`)));
        return s.every((x) => x.json.status === 'certified') ? true : null;
      },
      'the request after the cold start certified everywhere',
      90_000,
      250,
    );
  }, 120_000);

  it('two instances used in turn (one at a time): each reloads what the other wrote instead of acting on outdated state', async () => {
    const a = lambda;
    const b = createLambdaHandlers(env, (l) => lines.push(l));
    const post = (h: LambdaHandlers, text: string) => front.invoke('POST', '/v1/requests', { type: 'application/json', bytes: new TextEncoder().encode(JSON.stringify({ text })) }, h);
    for (const [h, text] of [[b, 'turn 1'], [a, 'turn 2'], [b, 'turn 3']] as const) {
      const r = await post(h, text);
      expect(r.status, JSON.stringify(r.json)).toBe(202);
    }
    expect(lines.filter((l) => l.includes('reloading')).length).toBeGreaterThanOrEqual(2);
    // b is gone from now on; a goes on (the timer ticks a) and reloads once more.
    await front.run(async () => (await b.replica()).close());
    expect((await front.invoke('GET', '/v1/metrics', undefined, a)).status).toBe(200);
  });

  it('on Redis without persistence every route answers 503 misconfigured, naming the problem', async () => {
    const weak = await startRedis({ durable: false });
    const weakBridge = await startUpstashBridge(weak.port);
    try {
      const logged: string[] = [];
      const h = createLambdaHandlers({ ...env, UPSTASH_REDIS_REST_URL: weakBridge.url, UPSTASH_REDIS_REST_TOKEN: weakBridge.token }, (l) => logged.push(l));
      const r = await front.invoke('GET', '/v1/health', undefined, h);
      expect(r.status).toBe(503);
      expect(r.json.error.code).toBe('misconfigured');
      expect(r.json.error.message).toMatch(/^Redis at 127\.0\.0\.1:\d+ does not keep every acknowledged write \(appendonly no, appendfsync everysec\)/);
      expect(logged.some((l) => l.startsWith('replica misconfigured: Redis at'))).toBe(true);
      expect((await h.tick()).ok).toBe(false);
    } finally {
      await weakBridge.close();
      await weak.stop();
    }
  });

  it('without configuration every route answers 503 misconfigured', async () => {
    const bare = createLambdaHandlers({}, () => undefined);
    const r = await front.invoke('GET', '/v1/health', undefined, bare);
    expect(r.status).toBe(503);
    expect(r.json.error.code).toBe('misconfigured');
    expect((await bare.tick()).ok).toBe(false);
  });
});

if (!HAVE_REDIS) describe('AWS Lambda entry', () => it.skip(REDIS_SKIP_MESSAGE, () => undefined));

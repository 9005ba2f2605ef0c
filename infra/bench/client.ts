/**
 * A load-generating client process for the HTTP benchmarks (forked by http.ts and baseline.ts, talks to
 * its parent over IPC). Same client for the replicated cluster and the single-server baseline.
 *
 * - `concurrency` async workers, each a closed loop on the POST: send a fresh 250-byte request (octet-
 *   stream) to the next server round-robin, wait for the answer, send the next. A second bound closes the
 *   loop on certification: while `maxOutstanding` accepted requests of this process are not certified yet,
 *   workers wait. (maxOutstanding = concurrency is the classic closed loop: each worker waits for its
 *   request's certificate.) All workers connect from one address, which replicas rate-limit as one
 *   client; http.ts starts its clusters with a per-address rate far above what they serve (the limit is
 *   a fairness bound, not a capacity one). The `x-sintra-client` id each worker sends only names it.
 * - Certification is observed by following one server's log, not by polling each request: every `pollMs`
 *   the follower reads GET /v1/log/checkpoint (size s) and then GET /v1/log/entries up to s; each of our ids
 *   seen there is certified (a signed checkpoint covering it exists: a receipt can be fetched). Latency =
 *   submit -> the poll that saw it (resolution pollMs).
 * - 429 / 503 answers are counted, the worker backs off briefly and submits a new request.
 * - With `flood` the workers do not wait for certification (overload check): they POST as fast as answers
 *   come back.
 *
 * Protocol: parent sends {type:'start', ...ClientConfig}; the client answers {type:'result', ...}.
 */
import { Agent, request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';

export interface ClientConfig {
  readonly clientId: number;
  readonly urls: readonly string[];
  /** The server whose log this client follows for certification. */
  readonly followUrl: string;
  readonly concurrency: number;
  /** Accepted but not yet certified requests this process allows before workers wait (default concurrency). */
  readonly maxOutstanding?: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** After the window: keep following the log this long for the outstanding requests. */
  readonly drainMs: number;
  readonly pollMs: number;
  readonly requestBytes: number;
  readonly flood?: boolean;
  /**
   * Requests per POST (default 1: POST /v1/requests). Above 1 each worker sends POST /v1/requests/batch with
   * that many fresh requests ({"requests": [{"data": base64}, ...]}); each accepted one is followed alone.
   */
  readonly batch?: number;
  /** How many certified ids (with the server they were sent to) to report for receipt checks. */
  readonly sampleIds?: number;
}

export interface ClientResult {
  readonly clientId: number;
  readonly submitted: number;
  readonly accepted: number;
  readonly certified: number;
  /** Certified inside the window [warmupMs, warmupMs + durationMs). */
  readonly certifiedInWindow: number;
  readonly acceptedInWindow: number;
  readonly windowMs: number;
  /** Submit -> certified (ms) of the requests certified inside the window. */
  readonly latencies: number[];
  /** ms from the start of this client to the last certification it observed (0: none). */
  readonly lastCertifiedMs: number;
  /** Submit -> the POST's answer (ms), for POSTs sent inside the window. */
  readonly postLatencies: number[];
  readonly statusCounts: Record<string, number>;
  readonly errors: number;
  readonly outstandingAtEnd: number;
  readonly sample: { id: string; url: string }[];
  readonly cpuMs: number;
  readonly lastError: string | null;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Minimal HTTP/1.1 client on node:http with keep-alive (about 3x less client CPU per request than fetch,
 * which matters on a 2-core machine where clients and servers share the cores). Retries once on a socket
 * error (a keep-alive socket the server already closed).
 */
const REQUEST_TIMEOUT_MS = 60_000;
const agent = new Agent({ keepAlive: true, maxSockets: 1024 });

interface Reply {
  readonly status: number;
  readonly body: string;
}

function once(url: string, method: string, headers: Record<string, string>, body?: Uint8Array): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers: body ? { ...headers, 'content-length': String(body.length) } : headers, agent }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    // A request the server never answers must not hang the benchmark.
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms: ${method} ${url}`)));
    req.end(body);
  });
}

async function http(url: string, method = 'GET', headers: Record<string, string> = {}, body?: Uint8Array): Promise<Reply> {
  try {
    return await once(url, method, headers, body);
  } catch {
    return once(url, method, headers, body);
  }
}

export async function runClient(c: ClientConfig): Promise<ClientResult> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const windowStart = t0 + c.warmupMs;
  const windowEnd = windowStart + c.durationMs;
  const outstanding = new Map<string, { at: number; url: string }>();
  const maxOutstanding = c.maxOutstanding ?? c.concurrency;
  let waiters: (() => void)[] = [];
  const wakeAll = () => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  const latencies: number[] = [];
  const postLatencies: number[] = [];
  const statusCounts: Record<string, number> = {};
  const sample: { id: string; url: string }[] = [];
  let submitted = 0;
  let accepted = 0;
  let acceptedInWindow = 0;
  let certified = 0;
  let lastCertifiedAt = 0;
  let certifiedInWindow = 0;
  let errors = 0;
  let lastError: string | null = null;
  let stop = false;
  let seq = 0;
  let rr = c.clientId;

  const makeRequest = (): Uint8Array => {
    const b = new Uint8Array(c.requestBytes);
    const tag = new TextEncoder().encode(`bench c${c.clientId} p${process.pid} #${seq++} t${Math.round(performance.now() * 1000)} `);
    b.set(tag.subarray(0, Math.min(tag.length, b.length)));
    for (let i = tag.length; i < b.length; i++) b[i] = 97 + (i % 26);
    return b;
  };

  const worker = async (w: number): Promise<void> => {
    const clientHeader = `bench-${c.clientId}-${w}`;
    while (!stop && performance.now() < windowEnd) {
      const url = c.urls[rr++ % c.urls.length]!;
      const k = Math.max(1, c.batch ?? 1);
      const at = performance.now();
      submitted += k;
      let res: Reply;
      try {
        res =
          k === 1
            ? await http(`${url}/v1/requests`, 'POST', { 'content-type': 'application/octet-stream', 'x-sintra-client': clientHeader }, makeRequest())
            : await http(
                `${url}/v1/requests/batch`,
                'POST',
                { 'content-type': 'application/json', 'x-sintra-client': clientHeader },
                new TextEncoder().encode(JSON.stringify({ requests: Array.from({ length: k }, () => ({ data: Buffer.from(makeRequest()).toString('base64') })) })),
              );
      } catch (e) {
        if (stop) break; // cut at the end of the run, not a failure
        errors++;
        lastError = String(e);
        await sleep(50);
        continue;
      }
      statusCounts[res.status] = (statusCounts[res.status] ?? 0) + 1;
      if (at >= windowStart && at < windowEnd) postLatencies.push(performance.now() - at);
      let json: { id?: string; results?: { id?: string; status?: string; error?: { code: string } }[] } = {};
      try {
        json = JSON.parse(res.body) as typeof json;
      } catch {
        // counted by status
      }
      if (res.status !== 202 && res.status !== 200) {
        lastError = `${res.status} ${res.body.slice(0, 200)}`;
        await sleep(res.status === 429 || res.status === 503 ? 20 : 50);
        continue;
      }
      // One POST, one id; or a batch, one result per request (refused ones carry an error).
      const ids = k === 1 ? (json.id ? [json.id] : []) : (json.results ?? []).flatMap((r) => (r.id ? [r.id] : []));
      const refused = k === 1 ? 0 : (json.results ?? []).length - ids.length;
      if (refused > 0) {
        statusCounts['item-refused'] = (statusCounts['item-refused'] ?? 0) + refused;
        lastError = JSON.stringify((json.results ?? []).find((r) => r.error)?.error ?? null);
      }
      accepted += ids.length;
      if (at >= windowStart && at < windowEnd) acceptedInWindow += ids.length;
      if (c.flood) continue;
      for (const id of ids) outstanding.set(id, { at, url });
      if (ids.length === 0) await sleep(20);
      while (!stop && outstanding.size >= maxOutstanding) await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };

  let followed = 0;
  const follower = async (): Promise<void> => {
    try {
      await follow();
    } finally {
      // Release the workers still waiting (their requests were not certified within the drain), and cut
      // POSTs still unanswered: the run is over (a replica may take many seconds to answer under load).
      stop = true;
      wakeAll();
      agent.destroy();
    }
  };
  const follow = async (): Promise<void> => {
    const drainEnd = windowEnd + c.drainMs;
    while (!stop) {
      const loopAt = performance.now();
      if (loopAt > drainEnd || (loopAt > windowEnd && outstanding.size === 0)) break;
      try {
        const cp = await http(`${c.followUrl}/v1/log/checkpoint`);
        if (cp.status === 200) {
          const size = (JSON.parse(cp.body) as { size: number }).size;
          while (followed < size) {
            const end = Math.min(size, followed + 1000);
            const r = await http(`${c.followUrl}/v1/log/entries?start=${followed}&end=${end}`);
            if (r.status !== 200) throw new Error(`entries: ${r.status}`);
            const page = JSON.parse(r.body) as { entries: { index: number; id: string }[] };
            if (page.entries.length === 0) break;
            const now = performance.now();
            for (const e of page.entries) {
              const o = outstanding.get(e.id);
              if (!o) continue;
              outstanding.delete(e.id);
              certified++;
              lastCertifiedAt = now;
              if (now >= windowStart && now < windowEnd) {
                certifiedInWindow++;
                latencies.push(now - o.at);
              }
              if (sample.length < (c.sampleIds ?? 5) && now >= windowStart) sample.push({ id: e.id, url: o.url });
            }
            wakeAll();
            followed = page.entries[page.entries.length - 1]!.index + 1;
          }
        }
      } catch (e) {
        errors++;
        lastError = String(e);
      }
      const wait = c.pollMs - (performance.now() - loopAt);
      if (wait > 0) await sleep(wait);
    }
  };

  const progress = process.env['SINTRA_BENCH_DEBUG']
    ? setInterval(() => console.error(`client ${c.clientId}: submitted ${submitted}, accepted ${accepted}, certified ${certified}, outstanding ${outstanding.size}, followed ${followed}, errors ${errors} ${lastError ?? ''}`), 2000)
    : undefined;
  // Workers waiting for certification return when the follower resolves them; it stops after the drain.
  await Promise.all([c.flood ? Promise.resolve() : follower(), ...Array.from({ length: c.concurrency }, (_, w) => worker(w))]);
  clearInterval(progress);
  const cpu = process.cpuUsage(cpu0);
  return {
    clientId: c.clientId,
    submitted,
    accepted,
    certified,
    certifiedInWindow,
    acceptedInWindow,
    windowMs: c.durationMs,
    latencies,
    lastCertifiedMs: lastCertifiedAt === 0 ? 0 : Math.round(lastCertifiedAt - t0),
    postLatencies,
    statusCounts,
    errors,
    outstandingAtEnd: outstanding.size,
    sample,
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    lastError,
  };
}

if (process.send && process.argv[1]?.endsWith('client.ts')) {
  process.on('message', (m: { type: string } & ClientConfig) => {
    if (m.type !== 'start') return;
    runClient(m).then(
      (r) => {
        process.send!({ type: 'result', ...r }, () => process.exit(0));
      },
      (e) => {
        process.send!({ type: 'error', message: String(e instanceof Error ? e.stack : e) }, () => process.exit(1));
      },
    );
  });
  process.send({ type: 'ready' });
}

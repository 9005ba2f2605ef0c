/**
 * Test infrastructure only: a small HTTP server speaking the subset of Upstash's REST protocol that
 * @upstash/redis uses, in front of a real redis-server it talks RESP to (docs/design.md section 14: no
 * Upstash-compatible server exists in npm or Debian). So the replica's RedisStore runs
 * through the real client, the real HTTP/JSON encoding and a real Redis with real MULTI/EXEC semantics.
 *
 *   POST /            body ["CMD", arg...]          -> {"result": x} | 400 {"error": "..."}
 *   POST /pipeline    body [["CMD", ...], ...]      -> [{"result": x} | {"error": "..."}, ...]
 *   POST /multi-exec  body [["CMD", ...], ...]      -> the same, as one MULTI/EXEC; an aborted
 *                                                      transaction is 400 {"error": "EXECABORT ..."}
 *   Authorization: Bearer <token>, else 401. With `Upstash-Encoding: base64` every string in a result
 *   except the status reply "OK" is base64 (the client decodes it), as Upstash does.
 *
 * Each HTTP request gets its own RESP connection, so a transaction cannot interleave with another
 * request's commands on the wire. `refuse: ['CONFIG']` answers those commands with an error reply instead
 * of passing them on, like a managed service that does not offer them (Upstash documents no CONFIG). Fault injection: `stop()`/`start()` (the endpoint is unreachable), and
 * `breakNextTransaction(k)` (the RESP connection drops after MULTI and k queued commands, before EXEC:
 * Redis discards the transaction, the client sees a failed request).
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { Socket } from 'node:net';

// ---- a tiny RESP2 client

class SimpleString {
  constructor(readonly value: string) {}
}
class RespError {
  constructor(readonly message: string) {}
}
type Resp = SimpleString | RespError | number | Buffer | null | Resp[];

/** Parses one RESP2 value at `off`; null if the buffer does not hold all of it yet. */
function parseResp(b: Buffer, off: number): { value: Resp; end: number } | null {
  const eol = b.indexOf('\r\n', off);
  if (eol < 0) return null;
  const line = b.toString('utf8', off + 1, eol);
  switch (String.fromCharCode(b[off]!)) {
    case '+':
      return { value: new SimpleString(line), end: eol + 2 };
    case '-':
      return { value: new RespError(line), end: eol + 2 };
    case ':':
      return { value: Number(line), end: eol + 2 };
    case '$': {
      const len = Number(line);
      if (len < 0) return { value: null, end: eol + 2 };
      if (b.length < eol + 2 + len + 2) return null;
      return { value: b.subarray(eol + 2, eol + 2 + len), end: eol + 2 + len + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, end: eol + 2 };
      const items: Resp[] = [];
      let end = eol + 2;
      for (let i = 0; i < count; i++) {
        const r = parseResp(b, end);
        if (!r) return null;
        items.push(r.value);
        end = r.end;
      }
      return { value: items, end };
    }
    default:
      throw new Error(`RESP: unexpected type byte ${b[off]}`);
  }
}

class RespConnection {
  private buf: Buffer = Buffer.alloc(0);
  private readonly waiting: { resolve: (v: Resp) => void; reject: (e: Error) => void }[] = [];
  private failure: Error | null = null;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      for (;;) {
        const w = this.waiting[0];
        const r = w ? parseResp(this.buf, 0) : null;
        if (!w || !r) break;
        this.waiting.shift();
        this.buf = this.buf.subarray(r.end);
        w.resolve(r.value);
      }
    });
    const fail = (e: Error) => {
      this.failure ??= e;
      for (const w of this.waiting.splice(0)) w.reject(this.failure);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('redis connection closed')));
  }

  static open(port: number): Promise<RespConnection> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => resolve(new RespConnection(s)));
      s.once('error', reject);
    });
  }

  send(args: readonly string[]): Promise<Resp> {
    if (this.failure) return Promise.reject(this.failure);
    const parts = [`*${args.length}\r\n`];
    for (const a of args) parts.push(`$${Buffer.byteLength(a)}\r\n${a}\r\n`);
    this.socket.write(parts.join(''));
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  close(): void {
    this.socket.destroy();
  }
}

// ---- the REST side

function toJson(v: Resp, base64: boolean): unknown {
  if (v === null || typeof v === 'number') return v;
  if (Array.isArray(v)) return v.map((x) => (x instanceof RespError ? { error: x.message } : toJson(x, base64)));
  if (v instanceof RespError) return { error: v.message };
  if (v instanceof SimpleString) return base64 && v.value !== 'OK' ? Buffer.from(v.value).toString('base64') : v.value;
  return base64 ? v.toString('base64') : v.toString('utf8');
}

function commandArgs(x: unknown): string[] {
  if (!Array.isArray(x) || x.length === 0) throw new Error('ERR a command is a non-empty JSON array');
  return x.map((a) => (typeof a === 'string' ? a : typeof a === 'number' || typeof a === 'boolean' ? String(a) : JSON.stringify(a)));
}

export interface UpstashBridge {
  readonly url: string;
  readonly token: string;
  readonly port: number;
  /** HTTP requests served (any route). */
  readonly requests: number;
  /** Makes the endpoint unreachable (connections refused) until start(). */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** The next /multi-exec drops its Redis connection after MULTI and `queued` commands, before EXEC. */
  breakNextTransaction(queued: number): void;
  close(): Promise<void>;
}

export async function startUpstashBridge(redisPort: number, o: { token?: string; refuse?: readonly string[] } = {}): Promise<UpstashBridge> {
  const token = o.token ?? 'test-token';
  const refused = new Set((o.refuse ?? []).map((c) => c.toUpperCase()));
  let requests = 0;
  let breakAfter: number | null = null;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    requests++;
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.headers['authorization'] !== `Bearer ${token}`) return reply(401, { error: 'Unauthorized' });
    if (req.method !== 'POST') return reply(405, { error: 'only POST is implemented by the test bridge' });
    const base64 = String(req.headers['upstash-encoding'] ?? '').toLowerCase() === 'base64';
    const path = (req.url ?? '/').split('?')[0]!.replace(/\/+$/, '') || '/';
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return reply(400, { error: 'ERR the body is not JSON' });
    }
    const refusedCommand = (Array.isArray(body) ? (Array.isArray(body[0]) ? body : [body]) : []).map((c) => String((c as unknown[])[0] ?? '').toUpperCase()).find((c) => refused.has(c));
    if (refusedCommand !== undefined) return reply(400, { error: `ERR command ${refusedCommand} is not available (test bridge)` });
    let conn: RespConnection;
    try {
      conn = await RespConnection.open(redisPort);
    } catch (e) {
      return reply(502, { error: `ERR redis unreachable: ${(e as Error).message}` });
    }
    try {
      if (path === '/') {
        const r = await conn.send(commandArgs(body));
        return r instanceof RespError ? reply(400, { error: r.message }) : reply(200, { result: toJson(r, base64) });
      }
      if (path !== '/pipeline' && path !== '/multi-exec') return reply(404, { error: `no route ${path}` });
      if (!Array.isArray(body) || body.length === 0) return reply(400, { error: 'ERR expected a non-empty array of commands' });
      const commands = body.map(commandArgs);
      if (path === '/pipeline') {
        const results = await Promise.all(commands.map((c) => conn.send(c)));
        return reply(200, results.map((r) => (r instanceof RespError ? { error: r.message } : { result: toJson(r, base64) })));
      }
      const broken = breakAfter;
      breakAfter = null;
      const queued: Promise<Resp>[] = [conn.send(['MULTI'])];
      for (let i = 0; i < commands.length; i++) {
        if (broken !== null && i === broken) {
          await Promise.allSettled(queued);
          conn.close();
          res.socket?.destroy();
          return;
        }
        queued.push(conn.send(commands[i]!));
      }
      const exec = conn.send(['EXEC']);
      await Promise.allSettled(queued);
      const r = await exec;
      if (r instanceof RespError) return reply(400, { error: r.message });
      if (!Array.isArray(r)) return reply(400, { error: 'ERR transaction aborted' });
      return reply(200, r.map((x) => (x instanceof RespError ? { error: x.message } : { result: toJson(x, base64) })));
    } catch (e) {
      return reply(500, { error: `ERR ${(e as Error).message}` });
    } finally {
      conn.close();
    }
  };

  let server: Server | null = null;
  let port = 0;
  const start = async (): Promise<void> => {
    if (server) return;
    const s = createServer((req, res) => {
      handle(req, res).catch((e: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: `ERR ${(e as Error).message}` }));
      });
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    port = (s.address() as import('node:net').AddressInfo).port;
    server = s;
  };
  const stop = async (): Promise<void> => {
    const s = server;
    server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  };
  await start();
  return {
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    token,
    get port() {
      return port;
    },
    get requests() {
      return requests;
    },
    stop,
    start,
    breakNextTransaction: (k) => {
      breakAfter = k;
    },
    close: stop,
  };
}

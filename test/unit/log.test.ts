/**
 * Log lines are JSON objects (workers/core/log.ts): ts, level, replica, event, msg and the event's fields;
 * with SINTRA_ACCESS_LOG=1 every request gives one `http` line (method, route, status, latency); a handler
 * that throws gives one `internal-error` line and a 500.
 */
import { describe, expect, it } from 'vitest';
import { accessLogOption, logLine } from '../../workers/core/log.ts';
import { hostCluster } from '../helpers/host-cluster.ts';

describe('JSON log lines', () => {
  it('logLine: fixed keys first, the event fields after, undefined left out, nothing overwritten', () => {
    const line = logLine('warn', 'r2', 'flush-failed', 'flush failed (3x): boom', { failures: 3, skipped: undefined, msg: 'not this' }, new Date(0));
    expect(line).toBe('{"ts":"1970-01-01T00:00:00.000Z","level":"warn","replica":"r2","event":"flush-failed","msg":"flush failed (3x): boom","failures":3}');
    expect(JSON.parse(logLine('info', null, 'config-error', 'x'))).not.toHaveProperty('replica');
    expect([accessLogOption('1'), accessLogOption('true'), accessLogOption(undefined), accessLogOption('0')]).toEqual([true, true, false, false]);
  });

  it('access log: one http line per request with route, status and latency; none without the option', async () => {
    const c = hostCluster();
    const lines: string[] = [];
    const app = c.app(0, { log: (l) => lines.push(l), accessLog: true });
    expect((await app.request('/v1/info')).status).toBe(200);
    expect((await app.request('/v1/requests/zz')).status).toBe(400);
    const http = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((o) => o['event'] === 'http');
    expect(http).toEqual([
      expect.objectContaining({ level: 'info', replica: 'r1', event: 'http', method: 'GET', route: '/v1/info', status: 200, ms: expect.any(Number) }),
      expect.objectContaining({ method: 'GET', route: '/v1/requests/:id', status: 400 }),
    ]);
    // A handler that throws: a 500 for the client, one internal-error line with the route for the operator.
    c.stores[0]!.entries = async () => {
      throw new Error('disk on fire');
    };
    expect((await app.request('/v1/log/entries?start=0&end=1')).status).toBe(500);
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((o) => o['event'] === 'internal-error')).toMatchObject({ level: 'error', replica: 'r1', msg: 'disk on fire', route: '/v1/log/entries' });
    const quiet: string[] = [];
    await c.app(1, { log: (l) => quiet.push(l) }).request('/v1/info');
    expect(quiet).toEqual([]);
  });
});

describe('log routes on a replica that has not loaded its storage yet', () => {
  it('GET /v1/log/entries and /v1/log/consistency load it first (they answered 500: the core was null)', async () => {
    const c = hostCluster();
    const lines: string[] = [];
    const entries = await c.app(2, { log: (l) => lines.push(l) }).request('/v1/log/entries?start=0&end=1');
    expect(entries.status).toBe(200);
    expect(await entries.json()).toEqual({ size: 0, entries: [] });
    const proof = await c.app(3, { log: (l) => lines.push(l) }).request('/v1/log/consistency?first=0&second=0');
    expect(proof.status).toBe(200);
    expect(lines).toEqual([]);
  });
});

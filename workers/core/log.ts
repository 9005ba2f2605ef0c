/**
 * Log lines as JSON, one object per line, so that log pipelines (Workers Logs, journald, Loki, CloudWatch)
 * index them without parsing prose: `ts` (ISO 8601), `level`, `replica` (its id, when known), `event` (a
 * stable name: what to alert or filter on), `msg` (the same for people), then the event's own fields.
 *
 *   {"ts":"2026-12-06T21:00:00.000Z","level":"info","replica":"r1","event":"journal-replayed","msg":"replayed 12 journal events in 40 ms","events":12,"ms":40}
 *
 * Events: journal-replayed, storage-failed, storage-recovered, storage-not-loaded, flush-failed,
 * internal-error, ca-statement-failed, config-error, redis-durability, state-transfer, state-transfer-refused,
 * state-transfer-failed, rejoin-reports, beacon-fault, http (one per request, only with
 * SINTRA_ACCESS_LOG=1: method, route, status, ms); from Node replicas listening, stopping (reason),
 * start-failed, stop-failed. docs/operations.md lists them.
 */
export type LogLevel = 'info' | 'warn' | 'error';
export type LogFields = Readonly<Record<string, string | number | boolean | null | undefined>>;

export function logLine(level: LogLevel, replica: string | null, event: string, msg: string, fields: LogFields = {}, now: Date = new Date()): string {
  const o: Record<string, unknown> = { ts: now.toISOString(), level, ...(replica !== null ? { replica } : {}), event, msg };
  for (const [k, v] of Object.entries(fields)) if (v !== undefined && !(k in o)) o[k] = v;
  return JSON.stringify(o);
}

/** SINTRA_ACCESS_LOG (every adapter): `1` logs one `http` line per request; default off (Workers Logs and
 * proxies already record requests, and a line per request is a cost at thousands of requests per second). */
export function accessLogOption(value: unknown): boolean {
  return value === '1' || value === 'true';
}

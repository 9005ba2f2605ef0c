/**
 * HTTP helpers every route family shares (app.ts, ca-routes.ts, notary-routes.ts, openapi.ts): the JSON error
 * body and its stable codes, base64. Bodies and parameters are read and checked by the route table
 * (openapi.ts, RouteInput). A leaf: it imports no route module.
 */
import type { Context } from 'hono';
import type { ReplicaHost } from './host.ts';

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
  | 'storage-unavailable'
  | 'not-certified'
  | 'no-checkpoint'
  | 'bad-range'
  | 'rate-limited'
  | 'api-key-required'
  | 'bad-api-key'
  | 'overloaded'
  | 'memory-full'
  | 'not-found'
  | 'method-not-allowed'
  | 'bad-digest'
  | 'unknown-stamp'
  | 'no-stamp'
  | 'no-app'
  | 'not-ca-request'
  | 'bad-name'
  | 'unavailable'
  | 'internal';

export function errorBody(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

export function fail(c: Context, status: number, code: ErrorCode | string, message: string): Response {
  // Every 503 is a state that passes (a full queue drains as epochs are ordered, storage comes back, a
  // rejoining replica catches up): say when to try again, sooner for the ones that drain by themselves.
  if (status === 503 && !c.res.headers.has('retry-after')) c.header('retry-after', code === 'overloaded' || code === 'memory-full' ? '1' : '5');
  return c.json(errorBody(code, message), status as 400);
}

/**
 * Queries answer from memory, which after a failed storage write is behind storage until the host
 * rebuilds: rebuild first, and if storage still fails say so (503) instead of "unknown request" (404).
 */
export async function unavailable(c: Context, host: ReplicaHost): Promise<Response | null> {
  if (host.loaded) return null;
  await host.init().catch(() => undefined);
  return host.loaded ? null : fail(c, 503, 'storage-unavailable', 'storage is failing; the request may be retried');
}

export function base64ToBytes(s: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) return null;
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** A peer's answer as the host core takes it: the status, and the body as JSON (null if it is not JSON). */
export async function jsonAnswer(res: Response): Promise<{ readonly status: number; readonly body: unknown }> {
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  return { status: res.status, body };
}

/**
 * What `probe` finds, asked now and then every `pollMs` until it finds something or `waitMs` passed
 * (`now`: the route's clock): a POST that answers once its request is ordered or decided waits with it.
 */
export async function pollUntil<T>(now: () => number, waitMs: number, pollMs: number, probe: () => Promise<T | undefined>): Promise<T | undefined> {
  const deadline = now() + waitMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined || now() >= deadline) return found;
    await new Promise((done) => setTimeout(done, pollMs));
  }
}

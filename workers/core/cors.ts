/**
 * CORS for browsers (a dashboard, a verifying page): the client routes and the read routes answer
 * cross-origin requests and preflights; `/v1/peer` does not (replicas are not browsers). Which origins:
 * SINTRA_CORS_ORIGINS, `*` (default: everything a replica serves is public, and no route uses cookies) or a
 * comma-separated list of origins (`https://dash.example.org`), or `none`.
 */
import { cors } from 'hono/cors';
import type { MiddlewareHandler } from 'hono';

export type CorsOrigins = '*' | 'none' | readonly string[];

export class CorsConfigError extends Error {}

export function corsOriginsFromEnv(value: string | undefined): CorsOrigins {
  const v = value?.trim();
  if (v === undefined || v === '' || v === '*') return '*';
  if (v === 'none') return 'none';
  const list = v.split(',').map((o) => o.trim());
  for (const o of list) {
    let u: URL | null = null;
    try {
      u = new URL(o);
    } catch {
      // reported below
    }
    if (!u || (u.protocol !== 'https:' && u.protocol !== 'http:') || u.origin !== o) {
      throw new CorsConfigError(`SINTRA_CORS_ORIGINS: ${JSON.stringify(o)} is not an origin (scheme://host[:port], no path or trailing slash); or give * or none`);
    }
  }
  return list;
}

/** The middleware for client and read routes (null: no CORS headers at all). */
export function corsMiddleware(origins: CorsOrigins): MiddlewareHandler | null {
  if (origins === 'none') return null;
  return cors({
    origin: origins === '*' ? '*' : [...origins],
    allowMethods: ['GET', 'HEAD', 'POST', 'OPTIONS'],
    allowHeaders: ['content-type', 'authorization', 'if-none-match'],
    exposeHeaders: ['etag', 'retry-after', 'www-authenticate'],
    maxAge: 600,
  });
}

/**
 * One table of routes (docs/api.md) that both registers the Hono handlers and produces the
 * OpenAPI 3.1 document served at GET /v1/openapi.json: the description cannot drift from what the replica
 * actually serves, because there is no second copy of it.
 */
import { etag } from 'hono/etag';
import type { Hono, Handler, MiddlewareHandler } from 'hono';

export type JsonSchema = Readonly<Record<string, unknown>>;

export interface RouteParam {
  readonly name: string;
  readonly in: 'path' | 'query';
  readonly description: string;
  readonly schema: JsonSchema;
  readonly required?: boolean;
}

export interface RouteSpec {
  readonly method: 'get' | 'post';
  /** OpenAPI form: `/v1/requests/{id}` (registered with Hono as `/v1/requests/:id`). */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tag: string;
  readonly params?: readonly RouteParam[];
  /** Request body: media type -> schema. */
  readonly body?: Readonly<Record<string, JsonSchema>>;
  /** Status -> description (JSON bodies; errors are the shared Error schema). */
  readonly responses: Readonly<Record<string, string>>;
  readonly middleware?: readonly MiddlewareHandler[];
  readonly handler: Handler;
  /** GET: Cache-Control of a 200 answer (default `no-cache`: revalidate, by ETag); errors get `no-store`. */
  readonly cache?: string;
}

/** Cache-Control of answers that never change (a consistency proof between two sizes of the log). */
export const IMMUTABLE = 'public, max-age=31536000, immutable';

export function honoPath(path: string): string {
  return path.replace(/\{([A-Za-z0-9_]+)\}/g, ':$1');
}

/**
 * Registers the table: each route's handler; for GET an ETag (304 on If-None-Match) and its Cache-Control;
 * and for every path a fallback that answers another method with 405 and `Allow` (after the routes, so it
 * only sees methods no route took; CORS preflights are answered before, by the app's CORS middleware).
 */
export function registerRoutes(app: Hono, routes: readonly RouteSpec[]): void {
  // Hono's overloads type each handler chain by its literal path; the table is uniform, so one signature.
  const on = app.on.bind(app) as unknown as (method: string, path: string, ...handlers: (MiddlewareHandler | Handler)[]) => unknown;
  const allowed = new Map<string, Set<string>>();
  for (const r of routes) {
    const path = honoPath(r.path);
    const method = r.method.toUpperCase();
    if (!allowed.has(path)) allowed.set(path, new Set(['OPTIONS']));
    allowed.get(path)!.add(method);
    if (method === 'GET') allowed.get(path)!.add('HEAD'); // Hono answers HEAD with the GET handler
    const caching: MiddlewareHandler[] =
      method === 'GET'
        ? [
            etag(),
            async (c, next) => {
              await next();
              if (!c.res.headers.has('cache-control')) c.header('cache-control', c.res.status === 200 ? (r.cache ?? 'no-cache') : 'no-store');
            },
          ]
        : [];
    on(method, path, ...caching, ...(r.middleware ?? []), r.handler);
  }
  for (const [path, methods] of allowed) {
    const allow = [...methods].sort().join(', ');
    app.all(path, (c) => {
      c.header('allow', allow);
      // OPTIONS that is not a CORS preflight (the app's CORS middleware answers those): what is allowed.
      if (c.req.method === 'OPTIONS') return c.body(null, 204);
      return c.json({ error: { code: 'method-not-allowed', message: `${c.req.method} is not allowed here; allowed: ${allow}` } }, 405);
    });
  }
}

const ERROR_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string', description: 'stable error code (docs/api.md)' }, message: { type: 'string' } } },
  },
};

export function openApiDocument(routes: readonly RouteSpec[], info: { title: string; version: string; description?: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const responses: Record<string, unknown> = {};
    for (const [status, description] of Object.entries(r.responses)) {
      const isError = Number(status) >= 400;
      responses[status] = {
        description,
        content: { 'application/json': { schema: isError ? { $ref: '#/components/schemas/Error' } : { type: 'object' } } },
      };
    }
    const op: Record<string, unknown> = {
      operationId: r.operationId,
      summary: r.summary,
      ...(r.description ? { description: r.description } : {}),
      tags: [r.tag],
      ...(r.params?.length
        ? { parameters: r.params.map((p) => ({ name: p.name, in: p.in, description: p.description, required: p.in === 'path' ? true : (p.required ?? false), schema: p.schema })) }
        : {}),
      ...(r.body ? { requestBody: { required: true, content: Object.fromEntries(Object.entries(r.body).map(([type, schema]) => [type, { schema }])) } } : {}),
      responses,
    };
    (paths[r.path] ??= {})[r.method] = op;
  }
  return {
    openapi: '3.1.0',
    info,
    paths,
    components: { schemas: { Error: ERROR_SCHEMA } },
  };
}

/**
 * One table of routes (docs/api.md) that both registers the Hono handlers and produces the
 * OpenAPI 3.1 document served at GET /v1/openapi.json: the description cannot drift from what the replica
 * actually serves, because there is no second copy of it.
 */
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
}

export function honoPath(path: string): string {
  return path.replace(/\{([A-Za-z0-9_]+)\}/g, ':$1');
}

export function registerRoutes(app: Hono, routes: readonly RouteSpec[]): void {
  // Hono's overloads type each handler chain by its literal path; the table is uniform, so one signature.
  const on = app.on.bind(app) as unknown as (method: string, path: string, ...handlers: (MiddlewareHandler | Handler)[]) => unknown;
  for (const r of routes) on(r.method.toUpperCase(), honoPath(r.path), ...(r.middleware ?? []), r.handler);
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

/**
 * One table of routes (docs/api.md) that registers the Hono handlers, validates their input and produces the
 * OpenAPI 3.1 document served at GET /v1/openapi.json: the description cannot drift from what the replica
 * actually serves, because there is no second copy of it. Parameters and JSON bodies are checked against the
 * very schema objects the document publishes (schema.ts), before the handler sees them; each success answer
 * carries its schema, and every error answer the shared Error schema.
 */
import { etag } from 'hono/etag';
import type { Context, Hono, MiddlewareHandler } from 'hono';
import { componentName, validate } from './schema.ts';
import type { Schema } from './schema.ts';
import { ERROR_SCHEMA } from './api-schemas.ts';
import { fail } from './http.ts';

export type { Schema } from './schema.ts';

export interface RouteParam {
  readonly name: string;
  readonly in: 'path' | 'query';
  readonly description: string;
  /**
   * Checked before the handler runs (query and path values of `type: integer` are read as decimal integers);
   * a missing required or invalid value is answered 400 with the code the schema carries (schema.ts, coded).
   */
  readonly schema: Schema;
  readonly required?: boolean;
}

/** A documented answer: its schema (JSON unless `type` says otherwise). */
export interface ResponseSpec {
  readonly description: string;
  readonly schema: Schema;
  /** Media type; default application/json. */
  readonly type?: string;
}

/** A request body as the route declares it, read by RouteInput.body(). */
export type RouteBody = { readonly kind: 'json'; readonly value: unknown } | { readonly kind: 'bytes'; readonly type: string; readonly bytes: Uint8Array };

/** What a handler gets besides the context: its validated parameters, and its body on demand. */
export interface RouteInput {
  /** A declared integer parameter, validated (undefined only when optional and absent). */
  int(name: string): number | undefined;
  /** A declared string parameter, validated (undefined only when optional and absent). */
  str(name: string): string | undefined;
  /**
   * Reads the body as declared (`body`): 415 unsupported-media-type for a media type the route does not
   * list; for application/json 400 malformed-json if it does not parse, else 400 with the schema's code if it
   * does not validate; other media types as bytes. Called by the handler when it is ready (after admission,
   * which must refuse before any body is read).
   */
  body(): Promise<RouteBody | Response>;
  /** body() for a route that takes only JSON: the validated value, or the refusal. */
  json(): Promise<unknown>;
}

export type RouteHandler = (c: Context, input: RouteInput) => Response | Promise<Response>;

export interface RouteSpec {
  readonly method: 'get' | 'post';
  /** OpenAPI form: `/v1/requests/{id}` (registered with Hono as `/v1/requests/:id`). */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tag: string;
  readonly params?: readonly RouteParam[];
  /** Request body: media type -> schema (JSON bodies are validated against it; others are bytes). */
  readonly body?: Readonly<Record<string, Schema>>;
  /** What a 415 answer says to send, after the media types. */
  readonly bodyHint?: string;
  /**
   * Status -> answer. Successes with their schema; an error as a description (its body is the shared Error
   * schema) or, when it carries more than the error, a schema that extends Error.
   */
  readonly responses: { readonly [success: `2${string}`]: ResponseSpec; readonly [error: `4${string}` | `5${string}`]: ResponseSpec | string };
  /** A write that takes an API key (admission.ts): documented as (optional) bearer authentication. */
  readonly apiKey?: boolean;
  readonly middleware?: readonly MiddlewareHandler[];
  readonly handler: RouteHandler;
  /** GET: Cache-Control of a 200 answer (default `no-cache`: revalidate, by ETag); errors get `no-store`. */
  readonly cache?: string;
}

/** Cache-Control of answers that never change (a consistency proof between two sizes of the log). */
export const IMMUTABLE = 'public, max-age=31536000, immutable';

export function honoPath(path: string): string {
  return path.replace(/\{([A-Za-z0-9_]+)\}/g, ':$1');
}

/**
 * Registers the table: each route's handler, behind the check of its parameters; for GET an ETag (304 on If-None-Match) and its Cache-Control;
 * and for every path a fallback that answers another method with 405 and `Allow` (after the routes, so it
 * only sees methods no route took; CORS preflights are answered before, by the app's CORS middleware).
 */
export function registerRoutes(app: Hono, routes: readonly RouteSpec[]): void {
  // Hono's overloads type each handler chain by its literal path; the table is uniform, so one signature.
  const on = app.on.bind(app) as unknown as (method: string, path: string, ...handlers: MiddlewareHandler[]) => unknown;
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
    on(method, path, ...caching, ...(r.middleware ?? []), withInput(r));
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

const INTEGER = /^-?\d{1,16}$/;

function mediaType(c: Context): string {
  return (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
}

/** The route's handler behind the check of its parameters, with its RouteInput. */
function withInput(r: RouteSpec): MiddlewareHandler {
  const declared = new Map((r.params ?? []).map((p) => [p.name, p]));
  return async (c) => {
    const values = new Map<string, string | number>();
    for (const p of r.params ?? []) {
      const raw = p.in === 'path' ? c.req.param(p.name) : c.req.query(p.name);
      if (raw === undefined) {
        if (p.in === 'path' || p.required) {
          const f = validate(p.schema, undefined);
          return fail(c, 400, f?.code ?? 'bad-request', `${p.name}: required`);
        }
        continue;
      }
      const value = p.schema.type === 'integer' && INTEGER.test(raw) ? Number(raw) : raw;
      const f = validate(p.schema, value);
      if (f) return fail(c, 400, f.code, `${p.name}: ${f.message}`);
      values.set(p.name, value);
    }
    const param = (name: string, type: 'number' | 'string') => {
      if (!declared.has(name)) throw new Error(`${r.operationId} declares no parameter ${name}`);
      const v = values.get(name);
      if (v !== undefined && typeof v !== type) throw new Error(`${r.operationId}: parameter ${name} is not a ${type}`);
      return v;
    };
    const body = async (): Promise<RouteBody | Response> => {
      const types = Object.keys(r.body ?? {});
      const type = mediaType(c);
      if (!types.includes(type)) return fail(c, 415, 'unsupported-media-type', `send ${types.join(' or ')}${r.bodyHint ? `: ${r.bodyHint}` : ''}`);
      if (type !== 'application/json') return { kind: 'bytes', type, bytes: new Uint8Array(await c.req.arrayBuffer()) };
      let value: unknown;
      try {
        value = JSON.parse(await c.req.text());
      } catch {
        return fail(c, 400, 'malformed-json', 'the body is not valid JSON');
      }
      const f = validate(r.body!['application/json']!, value);
      return f ? fail(c, 400, f.code, f.message) : { kind: 'json', value };
    };
    const input: RouteInput = {
      int: (name) => param(name, 'number') as number | undefined,
      str: (name) => param(name, 'string') as string | undefined,
      body,
      json: async () => {
        const b = await body();
        if (b instanceof Response) return b;
        if (b.kind !== 'json') throw new Error(`${r.operationId}: json() on a route that takes other media types`);
        return b.value;
      },
    };
    return r.handler(c, input);
  };
}

const JSON_TYPE = 'application/json';

/** The schema as the document states it: named components (schema.ts, component) become `$ref`s. */
function emit(s: Schema, used: Map<string, Schema>, top = false): Record<string, unknown> {
  const name = componentName(s);
  if (name !== undefined && !top) {
    const known = used.get(name);
    if (known && known !== s) throw new Error(`two schemas are named ${name}`);
    if (!known) {
      used.set(name, s);
    }
    return { $ref: `#/components/schemas/${name}` };
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === 'properties') out[k] = Object.fromEntries(Object.entries(v as Record<string, Schema>).map(([p, ps]) => [p, emit(ps, used)]));
    else if (k === 'items' || (k === 'additionalProperties' && typeof v === 'object')) out[k] = emit(v as Schema, used);
    else if (k === 'oneOf' || k === 'anyOf' || k === 'allOf') out[k] = (v as Schema[]).map((b) => emit(b, used));
    else out[k] = v;
  }
  return out;
}

export interface DocumentInfo {
  readonly title: string;
  readonly version: string;
  readonly description?: string;
  readonly license?: { readonly name: string; readonly identifier?: string };
}

export function openApiDocument(routes: readonly RouteSpec[], info: DocumentInfo): Record<string, unknown> {
  const used = new Map<string, Schema>();
  const error = (description: string) => ({ description, content: { [JSON_TYPE]: { schema: emit(ERROR_SCHEMA, used) } } });
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const responses: Record<string, unknown> = {};
    for (const [status, answer] of Object.entries(r.responses)) {
      if (typeof answer === 'string') {
        if (Number(status) < 400) throw new Error(`${r.operationId} ${status}: a success needs its schema`);
        responses[status] = error(answer);
      } else {
        responses[status] = { description: answer.description, content: { [answer.type ?? JSON_TYPE]: { schema: emit(answer.schema, used) } } };
      }
    }
    responses['default'] = error('any other error, e.g. 500 internal or 503 storage-unavailable (docs/api.md, "Error codes")');
    const op: Record<string, unknown> = {
      operationId: r.operationId,
      summary: r.summary,
      ...(r.description ? { description: r.description } : {}),
      tags: [r.tag],
      security: r.apiKey ? [{}, { apiKey: [] }] : [],
      ...(r.params?.length
        ? {
            parameters: r.params.map((p) => ({ name: p.name, in: p.in, description: p.description, required: p.in === 'path' ? true : (p.required ?? false), schema: emit(p.schema, used) })),
          }
        : {}),
      ...(r.body ? { requestBody: { required: true, content: Object.fromEntries(Object.entries(r.body).map(([type, schema]) => [type, { schema: emit(schema, used) }])) } } : {}),
      responses,
    };
    (paths[r.path] ??= {})[r.method] = op;
  }
  // Components may name others: emit until no new name turns up.
  const schemas: Record<string, unknown> = {};
  for (let done = 0; done < used.size; ) {
    const pending = [...used.entries()].slice(done);
    done = used.size;
    for (const [name, s] of pending) schemas[name] = emit(s, used, true);
  }
  return {
    openapi: '3.1.0',
    info,
    servers: [{ url: '/', description: 'the replica that serves this document (every replica serves the same API)' }],
    paths,
    components: {
      schemas: Object.fromEntries(Object.entries(schemas).sort(([a], [b]) => a.localeCompare(b))),
      securitySchemes: {
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          description: 'An API key (docs/operations.md, "Admission"): optional on writes unless the replica requires one; it selects the key\'s own rate limit.',
        },
      },
    },
  };
}

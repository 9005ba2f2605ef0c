/**
 * The replica's OpenAPI document read by an independent JSON Schema validator (Ajv, draft 2020-12, strict):
 * a route's response schema as the document states it (`$ref`s to components resolved), compiled. Used to
 * check that real answers match the document and that the app's own validator (workers/core/schema.ts)
 * agrees with Ajv.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv/dist/2020.js';

export type OpenApiDoc = {
  readonly paths: Record<string, Record<string, Operation>>;
  readonly components: { readonly schemas: Record<string, unknown> };
};
export type Operation = {
  readonly operationId: string;
  readonly parameters?: { name: string; in: string; required: boolean; schema: unknown }[];
  readonly requestBody?: { content: Record<string, { schema: unknown }> };
  readonly responses: Record<string, { description: string; content?: Record<string, { schema: unknown }> }>;
};

/**
 * Ajv only annotates contentEncoding; the app asserts base64 (schema.ts). For Ajv the same rule as a pattern:
 * a multiple of 4 characters of the base64 alphabet, with at most two `=` at the end.
 */
export const BASE64_PATTERN = '^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)?$';

/** A self-contained copy of `schema`: `$ref`s to #/components/schemas replaced by the component. */
export function resolved(schema: unknown, components: Record<string, unknown>, assertBase64 = true): unknown {
  if (Array.isArray(schema)) return schema.map((s) => resolved(s, components, assertBase64));
  if (typeof schema !== 'object' || schema === null) return schema;
  const o = schema as Record<string, unknown>;
  if (typeof o['$ref'] === 'string') {
    const name = /^#\/components\/schemas\/(.+)$/.exec(o['$ref'])?.[1];
    if (!name || !(name in components)) throw new Error(`unresolvable ${o['$ref']}`);
    return resolved(components[name], components, assertBase64);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) out[k] = k === 'const' || k === 'enum' ? v : resolved(v, components, assertBase64);
  if (assertBase64 && o['contentEncoding'] === 'base64') {
    if (o['pattern'] !== undefined) throw new Error('base64 with a pattern of its own');
    out['pattern'] = BASE64_PATTERN;
  }
  return out;
}

export function newAjv(): Ajv2020 {
  // strict: unknown keywords, formats and ignored keywords are errors (format "binary" is the only one used).
  return new Ajv2020({ strict: true, allErrors: true, formats: { binary: true } });
}

/** Compiled validators for the document's schemas, by a key. */
export class DocumentSchemas {
  private readonly ajv = newAjv();
  private readonly cache = new Map<string, ValidateFunction>();

  constructor(readonly doc: OpenApiDoc) {}

  compile(key: string, schema: unknown): ValidateFunction {
    let v = this.cache.get(key);
    if (!v) this.cache.set(key, (v = this.ajv.compile(resolved(schema, this.doc.components.schemas) as object)));
    return v;
  }

  /** The operation whose path template matches `path` (a concrete path, no query). */
  operation(method: string, path: string): { template: string; op: Operation } {
    for (const [template, ops] of Object.entries(this.doc.paths)) {
      const re = new RegExp(`^${template.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+').replace(/\*/g, '.*')}$`);
      const op = ops[method.toLowerCase()];
      if (op && re.test(path)) return { template, op };
    }
    throw new Error(`no documented operation ${method} ${path}`);
  }

  /** The validator of an answer: the response of its status (else `default`) and media type. */
  response(method: string, path: string, status: number, mediaType: string): { key: string; validate: ValidateFunction } {
    const { template, op } = this.operation(method, path);
    const which = op.responses[String(status)] ? String(status) : 'default';
    const content = op.responses[which]!.content ?? {};
    const schema = content[mediaType]?.schema;
    if (schema === undefined) throw new Error(`${method} ${template} ${which}: no ${mediaType} content documented (has ${Object.keys(content).join(', ')})`);
    const key = `${method.toLowerCase()} ${template} ${which} ${mediaType}`;
    return { key, validate: this.compile(key, schema) };
  }
}

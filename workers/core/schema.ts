/**
 * The JSON Schema (2020-12) subset the route table (openapi.ts) uses to describe request bodies, parameters
 * and responses, and a validator for it: the SAME schema objects that GET /v1/openapi.json publishes check
 * every request at run time, so the published input types are the enforced ones.
 *
 * Hand-written on purpose: a few hundred bytes of interpretation, no code generation (workerd refuses
 * `new Function`, which Ajv compiles with), and the failure it reports is chosen so that each bad input keeps
 * its stable error code (docs/api.md): `coded(schema, code, message)` attaches a code to a schema node, and a
 * failure takes the code of the innermost coded node on its way down (default `bad-request`).
 *
 * Keywords: type, properties, required, additionalProperties, items, minItems, maxItems, minLength,
 * maxLength, pattern, minimum, maximum, const, enum, oneOf, anyOf, allOf, and contentEncoding "base64",
 * which is asserted (2020-12 lets a validator do so). Annotations (description, title, format,
 * contentMediaType, examples) are ignored. Components are shared by object identity (openapi.ts turns them
 * into `$ref`s in the document); `$ref` itself is never validated. test/unit/schema.test.ts checks this
 * validator against Ajv on the route table's schemas.
 */

export type SchemaType = 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean' | 'null';

export interface Schema {
  readonly type?: SchemaType;
  readonly properties?: Readonly<Record<string, Schema>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: boolean | Schema;
  readonly items?: Schema;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly pattern?: string;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly const?: string | number | boolean | null;
  readonly enum?: readonly (string | number | boolean | null)[];
  readonly oneOf?: readonly Schema[];
  readonly anyOf?: readonly Schema[];
  readonly allOf?: readonly Schema[];
  readonly contentEncoding?: 'base64';
  readonly contentMediaType?: string;
  readonly format?: string;
  readonly title?: string;
  readonly description?: string;
}

/** A failure: where in the value (`requests[3].text`), the stable error code and a message for humans. */
export interface SchemaFailure {
  readonly path: string;
  readonly code: string;
  readonly message: string;
}

const CODES = new WeakMap<Schema, { readonly code: string; readonly message?: string }>();
const NAMES = new WeakMap<Schema, string>();

/**
 * Names a schema as a component of the OpenAPI document (`#/components/schemas/<name>`): wherever the same
 * object appears in the route table, the document has a `$ref` to it. Returns the node.
 */
export function component<S extends Schema>(name: string, schema: S): S {
  NAMES.set(schema, name);
  return schema;
}

export function componentName(schema: Schema): string | undefined {
  return NAMES.get(schema);
}

/**
 * Attaches a stable error code (and optionally the message) to a schema node: a value that fails at this
 * node, or inside it where no inner node has a code of its own, is refused with that code. Returns the node.
 */
export function coded<S extends Schema>(schema: S, code: string, message?: string): S {
  CODES.set(schema, message === undefined ? { code } : { code, message });
  return schema;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const regexes = new Map<string, RegExp>();

function regex(pattern: string): RegExp {
  let r = regexes.get(pattern);
  if (!r) regexes.set(pattern, (r = new RegExp(pattern, 'u')));
  return r;
}

/** Length in Unicode code points, as JSON Schema counts it. */
function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function sameValue(a: unknown, b: unknown): boolean {
  return a === b;
}

function show(v: unknown): string {
  return JSON.stringify(v);
}

type Path = readonly (string | number)[];

function pathText(path: Path): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? p : `.${p}`;
  return s;
}

/** An internal failure: the failing node and the nodes above it (outermost first), for the code. */
interface Miss {
  readonly path: Path;
  readonly chain: readonly Schema[];
  readonly message: string;
}

function miss(path: Path, chain: readonly Schema[], message: string): Miss {
  return { path, chain, message };
}

/**
 * Of the branches of a oneOf/anyOf none of which matched, the one the value was evidently meant for, whose
 * failure is the useful one to report: the branch whose `const` property the value carries, else the only
 * branch whose required properties are all present. Null if that is not clear.
 */
function intendedBranch(branches: readonly Schema[], v: unknown): Schema | null {
  if (!isObject(v)) return null;
  const byConst = branches.filter((b) => b.properties && Object.entries(b.properties).some(([k, p]) => p.const !== undefined && Object.hasOwn(v, k) && sameValue(v[k], p.const)));
  if (byConst.length === 1) return byConst[0]!;
  const byRequired = branches.filter((b) => (b.required ?? []).length > 0 && (b.required ?? []).every((k) => Object.hasOwn(v, k)));
  return byRequired.length === 1 ? byRequired[0]! : null;
}

function check(s: Schema, v: unknown, path: Path, above: readonly Schema[]): Miss | null {
  const chain = [...above, s];
  const t = typeOf(v);
  if (s.type !== undefined && s.type !== t && !(s.type === 'number' && t === 'integer')) return miss(path, chain, `expected ${s.type === 'integer' ? 'an integer' : s.type === 'object' || s.type === 'array' ? `an ${s.type}` : `a ${s.type}`}`);
  if (s.const !== undefined && !sameValue(v, s.const)) return miss(path, chain, `expected ${show(s.const)}`);
  if (s.enum !== undefined && !s.enum.some((e) => sameValue(v, e))) return miss(path, chain, `expected one of ${s.enum.map(show).join(', ')}`);
  if (typeof v === 'string') {
    if (s.minLength !== undefined || s.maxLength !== undefined) {
      const n = codePoints(v);
      if (s.minLength !== undefined && n < s.minLength) return miss(path, chain, s.minLength === 1 ? 'must not be empty' : `at least ${s.minLength} characters`);
      if (s.maxLength !== undefined && n > s.maxLength) return miss(path, chain, `at most ${s.maxLength} characters`);
    }
    if (s.pattern !== undefined && !regex(s.pattern).test(v)) return miss(path, chain, `does not match ${s.pattern}`);
    if (s.contentEncoding === 'base64' && (v.length % 4 !== 0 || !BASE64.test(v))) return miss(path, chain, 'not valid base64');
  }
  if (typeof v === 'number') {
    if (s.minimum !== undefined && v < s.minimum) return miss(path, chain, `must be at least ${s.minimum}`);
    if (s.maximum !== undefined && v > s.maximum) return miss(path, chain, `must be at most ${s.maximum}`);
  }
  if (isObject(v)) {
    for (const k of s.required ?? []) if (!Object.hasOwn(v, k)) return miss(path, chain, `missing ${show(k)}`);
    for (const k of Object.keys(v)) {
      const p = s.properties && Object.hasOwn(s.properties, k) ? s.properties[k]! : undefined;
      if (p) {
        const m = check(p, v[k], [...path, k], chain);
        if (m) return m;
      } else if (s.additionalProperties === false) {
        return miss(path, chain, `unexpected field ${show(k)}${s.properties ? `; expected ${Object.keys(s.properties).map(show).join(', ')}` : ''}`);
      } else if (typeof s.additionalProperties === 'object') {
        const m = check(s.additionalProperties, v[k], [...path, k], chain);
        if (m) return m;
      }
    }
  }
  if (Array.isArray(v)) {
    if (s.minItems !== undefined && v.length < s.minItems) return miss(path, chain, `at least ${s.minItems} item${s.minItems === 1 ? '' : 's'}`);
    if (s.maxItems !== undefined && v.length > s.maxItems) return miss(path, chain, `at most ${s.maxItems} items`);
    if (s.items) {
      for (let i = 0; i < v.length; i++) {
        const m = check(s.items, v[i], [...path, i], chain);
        if (m) return m;
      }
    }
  }
  for (const b of s.allOf ?? []) {
    const m = check(b, v, path, chain);
    if (m) return m;
  }
  for (const [keyword, branches] of [['anyOf', s.anyOf], ['oneOf', s.oneOf]] as const) {
    if (!branches) continue;
    const misses = branches.map((b) => check(b, v, path, chain));
    const matched = misses.filter((m) => m === null).length;
    if (keyword === 'oneOf' && matched > 1) return miss(path, chain, 'matches more than one of the allowed forms');
    if (matched === 0) {
      const intended = intendedBranch(branches, v);
      if (intended) return misses[branches.indexOf(intended)]!;
      return miss(path, chain, `expected one of ${branches.length} forms`);
    }
  }
  return null;
}

/** Null if `value` is valid under `schema`, else the first failure (with its code and message). */
export function validate(schema: Schema, value: unknown, defaultCode = 'bad-request'): SchemaFailure | null {
  const m = check(schema, value, [], []);
  if (!m) return null;
  const node = m.chain[m.chain.length - 1]!;
  let code = defaultCode;
  for (let i = m.chain.length - 1; i >= 0; i--) {
    const c = CODES.get(m.chain[i]!);
    if (c) {
      code = c.code;
      break;
    }
  }
  const where = pathText(m.path);
  const own = CODES.get(node)?.message;
  const text = own ?? m.message;
  return { path: where, code, message: where ? `${where}: ${text}` : text };
}

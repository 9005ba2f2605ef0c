/**
 * The replica's JSON Schema validator (workers/core/schema.ts) against Ajv (draft 2020-12, strict): on the
 * request schemas the OpenAPI document publishes (every JSON body and parameter), valid examples and
 * thousands of mutations of them, plus arbitrary JSON, get the same verdict from both. Ajv only annotates
 * contentEncoding, so its copy asserts base64 by a pattern (test/helpers/openapi.ts). Also the validator's
 * own rules: codes of coded nodes, the reported branch of a oneOf, code points, and that it never builds
 * code (it runs on workerd, which refuses eval and new Function).
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { registerRequest, renewRequest, revokeRequest, rotateRequest } from '../../shared/app/ca.ts';
import { replicaApp } from '../../workers/core/app.ts';
import { ReplicaHost } from '../../workers/core/host.ts';
import { MemoryStore } from '../../workers/core/store.ts';
import { coded, validate } from '../../workers/core/schema.ts';
import type { Schema } from '../../workers/core/schema.ts';
import { testGroup } from '../helpers/group.ts';
import { newAjv, resolved } from '../helpers/openapi.ts';
import type { OpenApiDoc } from '../helpers/openapi.ts';

const { group, secrets } = testGroup(4);

async function documentOf(): Promise<OpenApiDoc> {
  const host = new ReplicaHost(group, secrets[0]!, new MemoryStore(), { post: async () => ({ status: 503, body: null }) }, () => 0, { bootstrap: true });
  return (await (await replicaApp(host, { now: () => 0, afterChange: () => undefined }).request('/v1/openapi.json')).json()) as OpenApiDoc;
}

const KEY = new Uint8Array(32).fill(7);
const HEX64 = 'ab'.repeat(32);
/** Valid examples of each JSON body, by operationId. */
const BODY_EXAMPLES: Record<string, unknown[]> = {
  submitRequest: [{ text: 'hello' }, { data: 'AAEC' }, { ciphertext: 'AAECAw==' }],
  submitRequests: [{ requests: [{ text: 'a' }, { data: 'AAEC' }, { ciphertext: 'AA==' }] }],
  notaryStamp: [{ digest: HEX64 }, { digest: HEX64, nonce: '00ff' }, { ciphertext: 'AAAA' }],
  caSubmit: [
    { request: registerRequest(group.groupId, 'alice', KEY, 100) },
    { request: renewRequest(group.groupId, 'alice', 1, KEY, 100) },
    { request: revokeRequest(group.groupId, 'alice', 2, KEY) },
    { request: rotateRequest(group.groupId, 'alice', 3, KEY, new Uint8Array(32).fill(8), 50) },
    { request: { op: 'x509', name: 'alice', csr: 'MIIBAAAA', nonce: '01' } },
  ],
  caIssueX509: [{ csr: '-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n' }, { csr: 'MIIBAAAA', name: 'alice', nonce: '00ff' }],
  signRequest: [
    { client: 'ci', purpose: 'release', message: 'aGVsbG8=', sig: 'ab'.repeat(64) },
    { client: 'web.1', purpose: 'token_v2', message: '', nonce: '00ff', sig: '01'.repeat(64) },
  ],
  signerPolicyChange: [{ policy: { version: 2, admins: {}, clients: {}, purposes: {} }, sigs: { alice: 'ab'.repeat(64) } }],
};
const PARAM_EXAMPLES: unknown[] = [0, 1, 17, HEX64, 'alice', '0'.repeat(32)];

const INTERESTING: unknown[] = [
  '',
  'a',
  'AAAA',
  'A===',
  'AA=A',
  '@@@@',
  'AAAAA',
  '00',
  '0'.repeat(64),
  'AB'.repeat(32),
  'ab'.repeat(64),
  '-x',
  'a'.repeat(129),
  '😀',
  'register',
  'renew',
  'revoke',
  'rotate',
  'burn',
  0,
  1,
  -1,
  1.5,
  2 ** 53,
  1e300,
  null,
  true,
  false,
  [],
  {},
  { text: 'a' },
  [{ text: 'a' }],
];

type Path = (string | number)[];

function pathsOf(v: unknown, at: Path = []): Path[] {
  const out: Path[] = [at];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...pathsOf(x, [...at, i])));
  else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) out.push(...pathsOf(x, [...at, k]));
  return out;
}

/** `v` with one change at one of its paths: replaced, removed, a field or item added. */
function mutate(v: unknown, pick: number, how: number, value: unknown, key: string): unknown {
  const copy = structuredClone(v);
  const paths = pathsOf(copy);
  const path = paths[pick % paths.length]!;
  if (path.length === 0) return how % 4 === 0 ? value : copy;
  const parent = path.slice(0, -1).reduce((o: any, k) => o[k], copy) as any;
  const last = path[path.length - 1]!;
  switch (how % 4) {
    case 0:
      parent[last] = value;
      break;
    case 1:
      if (Array.isArray(parent)) parent.splice(last as number, 1);
      else delete parent[last];
      break;
    case 2:
      if (Array.isArray(parent)) parent.push(value);
      else parent[key] = value;
      break;
    default:
      if (typeof parent[last] === 'string') parent[last] = (parent[last] as string).slice(1);
      else if (typeof parent[last] === 'number') parent[last] = -parent[last];
  }
  return copy;
}

function valueNear(examples: unknown[]): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.jsonValue() },
    { weight: 1, arbitrary: fc.constantFrom(...examples) },
    {
      weight: 6,
      arbitrary: fc
        .tuple(fc.constantFrom(...examples), fc.nat(), fc.nat(), fc.oneof(fc.constantFrom(...INTERESTING), fc.jsonValue()), fc.constantFrom('text', 'data', 'ciphertext', 'digest', 'nonce', 'op', 'sig', 'extra', 'request', 'requests'))
        .chain(([ex, pick, how, value, key]) => fc.tuple(fc.constant(mutate(ex, pick, how, value, key)), fc.nat(), fc.nat()))
        // and sometimes a second change
        .map(([v, pick, how]) => (how % 3 === 0 ? mutate(v, pick, how >> 2, INTERESTING[pick % INTERESTING.length], 'op') : v)),
    },
  );
}

describe('schema.ts agrees with Ajv on the published request schemas', () => {
  it('every JSON body and parameter: the same verdict on examples, mutations and arbitrary JSON', async () => {
    const doc = await documentOf();
    const ajv = newAjv();
    const checked: string[] = [];
    const agree = (what: string, schema: unknown, examples: unknown[], runs: number) => {
      const mine = resolved(schema, doc.components.schemas, false) as Schema;
      const theirs = ajv.compile(resolved(schema, doc.components.schemas) as object);
      for (const e of examples.filter((x) => theirs(x))) expect(validate(mine, e), `${what}: ${JSON.stringify(e)}`).toBeNull();
      let valid = 0;
      fc.assert(
        fc.property(valueNear(examples), (v) => {
          const a = theirs(v);
          if (a) valid++;
          expect(validate(mine, v) === null, `${what}: ${JSON.stringify(v)}: ajv ${a} ${JSON.stringify(theirs.errors)}`).toBe(a);
        }),
        { numRuns: runs, seed: 17 },
      );
      checked.push(what);
      return valid;
    };
    for (const ops of Object.values(doc.paths)) {
      for (const op of Object.values(ops)) {
        const body = op.requestBody?.content['application/json'];
        if (body) {
          const examples = BODY_EXAMPLES[op.operationId];
          expect(examples, `examples for ${op.operationId}`).toBeDefined();
          expect(examples!.length).toBeGreaterThan(0);
          // Mutations must land on both sides of the line, or the test says little.
          expect(agree(op.operationId, body.schema, examples!, 3000), op.operationId).toBeGreaterThan(50);
        }
        for (const p of op.parameters ?? []) agree(`${op.operationId} ${p.name}`, p.schema, PARAM_EXAMPLES, 300);
      }
    }
    expect(checked).toEqual(expect.arrayContaining(['submitRequest', 'submitRequests', 'notaryStamp', 'caSubmit', 'requestStatus id', 'logEntries start', 'caLookup name']));
  }, 120_000);
});

describe('schema.ts', () => {
  it('a failure takes the code of the innermost coded node, and its message if it has one', () => {
    const inner = coded({ type: 'string', pattern: '^x$' } satisfies Schema, 'bad-x', 'an x');
    const s = coded({ type: 'object', required: ['a'], properties: { a: inner, b: { type: 'integer', minimum: 0 } } } satisfies Schema, 'bad-outer');
    expect(validate(s, { a: 'x' })).toBeNull();
    expect(validate(s, { a: 'y' })).toEqual({ path: 'a', code: 'bad-x', message: 'a: an x' });
    expect(validate(s, { a: 'x', b: -1 })).toEqual({ path: 'b', code: 'bad-outer', message: 'b: must be at least 0' });
    expect(validate(s, {})).toEqual({ path: '', code: 'bad-outer', message: 'missing "a"' });
    expect(validate({ type: 'integer' }, 'x')).toEqual({ path: '', code: 'bad-request', message: 'expected an integer' });
  });

  it('oneOf: reports the branch the value was meant for (by a const field, else by its required fields)', () => {
    const s: Schema = {
      oneOf: [
        { type: 'object', required: ['op', 'a'], additionalProperties: false, properties: { op: { const: 'one' }, a: { type: 'string' } } },
        { type: 'object', required: ['op', 'a'], additionalProperties: false, properties: { op: { const: 'two' }, a: { type: 'integer' } } },
      ],
    };
    expect(validate(s, { op: 'two', a: 'x' })?.message).toBe('a: expected an integer');
    expect(validate(s, { op: 'one', a: 1 })?.message).toBe('a: expected a string');
    expect(validate(s, { op: 'three', a: 1 })?.message).toBe('expected one of 2 forms');
    const t: Schema = { oneOf: [{ type: 'object', required: ['x'], properties: { x: { type: 'string' } } }, { type: 'object', required: ['y'] }] };
    expect(validate(t, { x: 1 })?.message).toBe('x: expected a string');
    expect(validate(t, { x: 'a', y: 1 })?.message).toBe('matches more than one of the allowed forms');
  });

  it('string lengths count code points; base64 is asserted; numbers are JSON Schema numbers', () => {
    expect(validate({ type: 'string', maxLength: 1 }, '😀')).toBeNull();
    expect(validate({ type: 'string', minLength: 2 }, '😀')).not.toBeNull();
    const b64: Schema = { type: 'string', contentEncoding: 'base64' };
    for (const ok of ['', 'AAAA', 'AA==', 'AAA=', 'A+/9']) expect(validate(b64, ok), ok).toBeNull();
    for (const bad of ['A', 'A===', 'AA=A', '@@@@', 'AAAA ']) expect(validate(b64, bad), bad).not.toBeNull();
    expect(validate({ type: 'integer' }, 1.0)).toBeNull();
    expect(validate({ type: 'number' }, 3)).toBeNull();
    expect(validate({ type: 'integer' }, 1.5)).not.toBeNull();
  });

  it('builds no code: nothing that workerd refuses (it runs there in hostile-http and the workerd tests)', () => {
    const code = readFileSync(new URL('../../workers/core/schema.ts', import.meta.url), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
    expect(code).not.toMatch(/new Function|\beval\(|Function\(/);
  });
});

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  BODY_TYPE_CODES,
  CODEC_VERSION,
  CodecError,
  type CodecErrorCode,
  type CodecLimits,
  DEFAULT_LIMITS,
  decodeBatch,
  decodeMessage,
  encodeBatch,
  encodedMessageSize,
  encodeMessage,
} from '../../shared/codec/message-codec.ts';
import type { Body, BodyType, Message } from '../../shared/protocols/messages.ts';

type BodyOf<K extends BodyType> = Extract<Body, { t: K }>;

const bytes = (...xs: number[]) => Uint8Array.from(xs);
const fill = (n: number, v = 0xab) => new Uint8Array(n).fill(v);
const concat = (...parts: (Uint8Array | number[])[]) => Uint8Array.from(parts.flatMap((p) => Array.from(p)));

/** One example of every body type: the mapped type makes the compiler demand a new type here. */
const EXAMPLES: { [K in BodyType]: BodyOf<K> } = {
  'rbc-send': { t: 'rbc-send', value: bytes(1, 2, 3) },
  'rbc-echo': { t: 'rbc-echo', value: new Uint8Array(0) },
  'rbc-ready': { t: 'rbc-ready', digest: fill(32, 7) },
  'cbc-send': { t: 'cbc-send', value: fill(250) },
  'cbc-echo': { t: 'cbc-echo', share: fill(48, 1) },
  'cbc-final': { t: 'cbc-final', value: bytes(9), signature: fill(96, 2) },
  'cbc-want': { t: 'cbc-want' },
  'cbc-have': { t: 'cbc-have' },
  'cbc-proof': { t: 'cbc-proof', signature: fill(198, 3) },
  'aba-bval': { t: 'aba-bval', round: 0, value: 1 },
  'aba-aux': { t: 'aba-aux', round: 0xffffffff, value: 0 },
  'aba-conf': { t: 'aba-conf', round: 7, values: 3 },
  'aba-coin': { t: 'aba-coin', round: 12345, share: fill(40, 3) },
  'aba-term': { t: 'aba-term', value: 0, round: 0 },
  'ab-requests': { t: 'ab-requests', requests: [bytes(1), new Uint8Array(0), fill(300, 4)] },
  'dec-shares': { t: 'dec-shares', first: 0, shares: [] },
  'ckpt-share': { t: 'ckpt-share', share: new Uint8Array(48).fill(3) },
};
const TYPES = Object.keys(EXAMPLES) as BodyType[];
const msg = <K extends BodyType>(t: K, tag = 'ab/17/acs/cbc/3'): Message => ({ tag, body: EXAMPLES[t] });

function codeOf(f: () => unknown): CodecErrorCode {
  try {
    f();
  } catch (e) {
    if (!(e instanceof CodecError)) throw e;
    return e.code;
  }
  throw new Error('expected a CodecError');
}

/** Runs f; anything thrown must be a CodecError. Returns the result or undefined. */
function onlyCodecErrors<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    if (e instanceof CodecError) return undefined;
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------------------
// arbitraries

const TAG_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789/-'.split('');
const tagArb = fc.oneof(
  fc.string({ unit: fc.constantFrom(...TAG_CHARS), minLength: 1, maxLength: 200 }),
  fc.constantFrom('ab', 'ab/17/acs/cbc/3', 'ab/0/mvba/aba/2', 'x'.repeat(200)),
);
const bytesArb = fc.uint8Array({ maxLength: 300 });
const roundArb = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, 1, 0xffffffff));
const bitArb = fc.constantFrom(0 as const, 1 as const);
const listArb = fc.array(bytesArb, { maxLength: 12 });

const BODY_ARBS: { [K in BodyType]: fc.Arbitrary<BodyOf<K>> } = {
  'rbc-send': fc.record({ t: fc.constant('rbc-send' as const), value: bytesArb }),
  'rbc-echo': fc.record({ t: fc.constant('rbc-echo' as const), value: bytesArb }),
  'rbc-ready': fc.record({ t: fc.constant('rbc-ready' as const), digest: fc.uint8Array({ minLength: 32, maxLength: 32 }) }),
  'cbc-send': fc.record({ t: fc.constant('cbc-send' as const), value: bytesArb }),
  'cbc-echo': fc.record({ t: fc.constant('cbc-echo' as const), share: bytesArb }),
  'cbc-final': fc.record({ t: fc.constant('cbc-final' as const), value: bytesArb, signature: bytesArb }),
  'cbc-want': fc.constant({ t: 'cbc-want' as const }),
  'cbc-have': fc.constant({ t: 'cbc-have' as const }),
  'cbc-proof': fc.record({ t: fc.constant('cbc-proof' as const), signature: bytesArb }),
  'aba-bval': fc.record({ t: fc.constant('aba-bval' as const), round: roundArb, value: bitArb }),
  'aba-aux': fc.record({ t: fc.constant('aba-aux' as const), round: roundArb, value: bitArb }),
  'aba-conf': fc.record({ t: fc.constant('aba-conf' as const), round: roundArb, values: fc.constantFrom(1 as const, 2 as const, 3 as const) }),
  'aba-coin': fc.record({ t: fc.constant('aba-coin' as const), round: roundArb, share: bytesArb }),
  'aba-term': fc.record({ t: fc.constant('aba-term' as const), value: bitArb, round: roundArb }),
  'ab-requests': fc.record({ t: fc.constant('ab-requests' as const), requests: listArb }),
  'dec-shares': fc.record({ t: fc.constant('dec-shares' as const), first: roundArb, shares: listArb }),
  'ckpt-share': fc.record({ t: fc.constant('ckpt-share' as const), share: bytesArb }),
};
const bodyArb: fc.Arbitrary<Body> = fc.oneof(...Object.values(BODY_ARBS) as fc.Arbitrary<Body>[]);
const messageArb: fc.Arbitrary<Message> = fc.record({ tag: tagArb, body: bodyArb });

type Mutation =
  | { k: 'flip'; at: number; xor: number }
  | { k: 'set'; at: number; v: number }
  | { k: 'truncate'; at: number }
  | { k: 'insert'; at: number; v: number }
  | { k: 'delete'; at: number }
  | { k: 'append'; extra: Uint8Array };
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ k: fc.constant('flip' as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ k: fc.constant('set' as const), at: fc.nat(), v: fc.constantFrom(0, 1, 2, 3, 4, 0x7f, 0x80, 0xff) }),
  fc.record({ k: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ k: fc.constant('insert' as const), at: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ k: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ k: fc.constant('append' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
);
function mutate(b: Uint8Array, ms: Mutation[]): Uint8Array {
  let out = Array.from(b);
  for (const m of ms) {
    const n = out.length;
    switch (m.k) {
      case 'flip':
        if (n > 0) out[m.at % n]! ^= m.xor;
        break;
      case 'set':
        if (n > 0) out[m.at % n] = m.v;
        break;
      case 'truncate':
        out = out.slice(0, m.at % (n + 1));
        break;
      case 'insert':
        out.splice(m.at % (n + 1), 0, m.v);
        break;
      case 'delete':
        if (n > 0) out.splice(m.at % n, 1);
        break;
      case 'append':
        out.push(...m.extra);
        break;
    }
  }
  return Uint8Array.from(out);
}
/** Sometimes small limits, to drive the too-large paths from fuzzed inputs too. */
const limitsArb: fc.Arbitrary<Partial<CodecLimits> | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.record({
    maxMessageBytes: fc.integer({ min: 0, max: 400 }),
    maxValueBytes: fc.integer({ min: 0, max: 64 }),
    maxListItems: fc.integer({ min: 0, max: 4 }),
    maxBatchMessages: fc.integer({ min: 0, max: 4 }),
    maxBatchBytes: fc.integer({ min: 0, max: 2000 }),
  }),
);

// ---------------------------------------------------------------------------------------------------------

describe('message codec: round trips', () => {
  it.each(TYPES)('%s round-trips', (t) => {
    const m = msg(t);
    const enc = encodeMessage(m);
    expect(enc.length).toBe(encodedMessageSize(m));
    expect(enc[0]).toBe(CODEC_VERSION);
    expect(enc[2 + m.tag.length]).toBe(BODY_TYPE_CODES[t]);
    const dec = decodeMessage(enc);
    expect(dec).toEqual(m);
    expect(encodeMessage(dec)).toEqual(enc);
  });

  it('has a fixed code table (codes are never reused or renumbered)', () => {
    expect(BODY_TYPE_CODES).toEqual({
      'rbc-send': 0x10,
      'rbc-echo': 0x11,
      'rbc-ready': 0x12,
      'cbc-send': 0x20,
      'cbc-echo': 0x21,
      'cbc-final': 0x22,
      'cbc-want': 0x23,
      'cbc-have': 0x24,
      'cbc-proof': 0x25,
      'aba-bval': 0x30,
      'aba-aux': 0x31,
      'aba-conf': 0x32,
      'aba-coin': 0x33,
      'aba-term': 0x35,
      'ab-requests': 0x40,
      'dec-shares': 0x51,
      'ckpt-share': 0x60,
    });
  });

  it('is compact: exact layout of an aba-bval', () => {
    const enc = encodeMessage({ tag: 'a/1', body: { t: 'aba-bval', round: 0x01020304, value: 1 } });
    expect(Array.from(enc)).toEqual([CODEC_VERSION, 3, 0x61, 0x2f, 0x31, 0x30, 1, 2, 3, 4, 1]);
  });

  it('random valid messages round-trip', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const enc = encodeMessage(m);
        expect(enc.length).toBe(encodedMessageSize(m));
        const dec = decodeMessage(enc);
        expect(dec).toEqual(m);
        expect(decodeMessage(enc, { views: true })).toEqual(m);
        expect(encodeMessage(dec)).toEqual(enc);
      }),
      { numRuns: 1000 },
    );
  });

  it('decoded byte fields are copies by default, views on request', () => {
    const enc = encodeMessage({ tag: 't', body: { t: 'cbc-final', value: bytes(1, 2), signature: bytes(3) } });
    const copy = decodeMessage(enc).body as BodyOf<'cbc-final'>;
    const view = decodeMessage(enc, { views: true }).body as BodyOf<'cbc-final'>;
    enc.fill(0);
    expect(copy.value).toEqual(bytes(1, 2));
    expect(copy.signature).toEqual(bytes(3));
    expect(copy.value.buffer).not.toBe(enc.buffer);
    expect(view.value).toEqual(bytes(0, 0));
    expect(view.value.buffer).toBe(enc.buffer);
  });

  it('decodes from a subarray at a non-zero offset', () => {
    const enc = encodeMessage(msg('aba-coin'));
    const padded = concat([9, 9, 9], enc, [9]);
    expect(decodeMessage(padded.subarray(3, 3 + enc.length))).toEqual(msg('aba-coin'));
  });
});

describe('message codec: never throws anything but CodecError', () => {
  it('on random byte strings', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 400 }).map((b) => (b.length ? ((b[0] = 1), b) : b))),
        limitsArb,
        (b, limits) => {
          const m = onlyCodecErrors(() => decodeMessage(b, limits));
          if (m !== undefined) expect(encodeMessage(m)).toEqual(b); // accepted means canonical
          const batch = onlyCodecErrors(() => decodeBatch(b, limits));
          if (batch !== undefined) expect(encodeBatch(batch)).toEqual(b);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('on mutations and truncations of valid encodings', () => {
    fc.assert(
      fc.property(messageArb, fc.array(mutationArb, { minLength: 1, maxLength: 3 }), limitsArb, (m, muts, limits) => {
        const b = mutate(encodeMessage(m), muts);
        const dec = onlyCodecErrors(() => decodeMessage(b, limits));
        if (dec !== undefined) expect(encodeMessage(dec)).toEqual(b);
      }),
      { numRuns: 2000 },
    );
  });

  it('on mutations and truncations of valid batches', () => {
    fc.assert(
      fc.property(fc.array(messageArb, { maxLength: 4 }), fc.array(mutationArb, { minLength: 1, maxLength: 3 }), limitsArb, (ms, muts, limits) => {
        const b = mutate(encodeBatch(ms), muts);
        const dec = onlyCodecErrors(() => decodeBatch(b, limits));
        if (dec !== undefined) expect(encodeBatch(dec)).toEqual(b);
      }),
      { numRuns: 1000 },
    );
  });

  it('on garbage given to the encoder', () => {
    const garbage: unknown[] = [
      null,
      undefined,
      42,
      'ab',
      {},
      { tag: 'ab' },
      { tag: 'ab', body: null },
      { tag: 'ab', body: { t: 'nope' } },
      { tag: 'ab', body: { t: 'constructor' } },
      { tag: 'ab', body: { t: Symbol('x') } },
      { tag: 'ab', body: { t: 'rbc-send' } },
      { tag: 'ab', body: { t: 'rbc-send', value: [1, 2] } },
      { tag: 'ab', body: { t: 'ab-requests', requests: 'x' } },
      { tag: 'ab', body: { t: 'ab-requests', requests: [[1]] } },
      { tag: 'ab', body: { t: 'aba-bval', round: '1', value: 0 } },
      { tag: 7, body: { t: 'cbc-want' } },
    ];
    for (const g of garbage) {
      expect(() => encodeMessage(g as Message)).toThrow(CodecError);
      expect(() => encodeBatch([g as Message])).toThrow(CodecError);
    }
    expect(codeOf(() => encodeBatch('x' as unknown as Message[]))).toBe('bad-value');
    expect(codeOf(() => decodeMessage([1, 2] as unknown as Uint8Array))).toBe('bad-value');
    expect(codeOf(() => decodeBatch(null as unknown as Uint8Array))).toBe('bad-value');
  });
});

describe('message codec: rejects', () => {
  const valid = encodeMessage(msg('cbc-final', 'ab/1'));
  // layout: [0] version, [1] tag length 4, [2..5] 'ab/1', [6] type, [7..10] value length, ...
  const header = (code: number, tag = 'ab') => [CODEC_VERSION, tag.length, ...Array.from(tag, (c) => c.charCodeAt(0)), code];

  it('unknown versions', () => {
    for (const v of [0, 2, 0xff]) expect(codeOf(() => decodeMessage(concat([v], valid.subarray(1))))).toBe('bad-version');
  });

  it('empty and truncated input, at every prefix', () => {
    for (const t of TYPES) {
      const enc = encodeMessage(msg(t));
      for (let n = 0; n < enc.length; n++) expect(codeOf(() => decodeMessage(enc.subarray(0, n)))).toBe('truncated');
    }
  });

  it('trailing bytes', () => {
    for (const t of TYPES) expect(codeOf(() => decodeMessage(concat(encodeMessage(msg(t)), [0])))).toBe('trailing-bytes');
  });

  it('unknown body type codes', () => {
    const known = new Set(Object.values(BODY_TYPE_CODES));
    for (let c = 0; c < 256; c++) {
      if (!known.has(c)) expect(codeOf(() => decodeMessage(concat(header(c), [0, 0, 0, 0, 0, 0, 0, 0])))).toBe('unknown-type');
    }
  });

  it('bad tags on decode', () => {
    const withTagBytes = (tb: number[]) => concat([CODEC_VERSION, tb.length], tb, [BODY_TYPE_CODES['cbc-want']]);
    expect(decodeMessage(withTagBytes([0x61])).tag).toBe('a');
    expect(codeOf(() => decodeMessage(withTagBytes([])))).toBe('bad-tag');
    expect(decodeMessage(withTagBytes(new Array(200).fill(0x61))).tag).toBe('a'.repeat(200));
    expect(codeOf(() => decodeMessage(withTagBytes(new Array(201).fill(0x61))))).toBe('bad-tag');
    const bad = [0x41 /* A */, 0x20, 0x5f /* _ */, 0x2e /* . */, 0x00, 0x7f, 0xc3 /* start of é */, 0xff, 0x80];
    for (const c of bad) expect(codeOf(() => decodeMessage(withTagBytes([0x61, c, 0x62])))).toBe('bad-tag');
    expect(codeOf(() => decodeMessage(withTagBytes([0xc3, 0xa9])))).toBe('bad-tag'); // valid UTF-8 'é', disallowed
    expect(codeOf(() => decodeMessage(withTagBytes([0xed, 0xa0, 0x80])))).toBe('bad-tag'); // invalid UTF-8
  });

  it('bad tags on encode', () => {
    for (const tag of ['', 'A', 'ab/C', 'a b', 'a_b', 'é', 'a\u0000', '\u{1f600}', 'a'.repeat(201)]) {
      expect(codeOf(() => encodeMessage({ tag, body: { t: 'cbc-want' } }))).toBe('bad-tag');
    }
    expect(encodeMessage({ tag: 'a'.repeat(200), body: { t: 'cbc-want' } }).length).toBe(203);
  });

  it('non-canonical bits and value sets on decode', () => {
    const round = [0, 0, 0, 1];
    for (const t of ['aba-bval', 'aba-aux'] as const) {
      expect(decodeMessage(concat(header(BODY_TYPE_CODES[t]), round, [1])).body).toEqual({ t, round: 1, value: 1 });
      for (const v of [2, 3, 0x80, 0xff]) expect(codeOf(() => decodeMessage(concat(header(BODY_TYPE_CODES[t]), round, [v])))).toBe('bad-value');
    }
    for (const v of [2, 0xff]) expect(codeOf(() => decodeMessage(concat(header(BODY_TYPE_CODES['aba-term']), [v], round)))).toBe('bad-value');
    expect(decodeMessage(concat(header(BODY_TYPE_CODES['aba-term']), [1], round)).body).toEqual({ t: 'aba-term', value: 1, round: 1 });
    // 0x34, the round-less TERM of storage formats <= 3, is retired: refused, never read as something else.
    expect(codeOf(() => decodeMessage(concat(header(0x34), [1])))).toBe('unknown-type');
    for (const v of [1, 2, 3]) expect(decodeMessage(concat(header(BODY_TYPE_CODES['aba-conf']), round, [v])).body).toEqual({ t: 'aba-conf', round: 1, values: v });
    for (const v of [0, 4, 5, 0xff]) expect(codeOf(() => decodeMessage(concat(header(BODY_TYPE_CODES['aba-conf']), round, [v])))).toBe('bad-value');
  });

  it('bad values on encode', () => {
    const enc = (body: unknown) => codeOf(() => encodeMessage({ tag: 'ab', body: body as Body }));
    expect(enc({ t: 'aba-bval', round: 1, value: 2 })).toBe('bad-value');
    expect(enc({ t: 'aba-term', value: true })).toBe('bad-value');
    expect(enc({ t: 'aba-conf', round: 1, values: 0 })).toBe('bad-value');
    expect(enc({ t: 'aba-conf', round: 1, values: 4 })).toBe('bad-value');
    for (const round of [-1, 1.5, 2 ** 32, NaN, Infinity]) expect(enc({ t: 'aba-aux', round, value: 0 })).toBe('bad-value');
    expect(enc({ t: 'rbc-ready', digest: fill(31) })).toBe('bad-value');
    expect(enc({ t: 'rbc-ready', digest: fill(33) })).toBe('bad-value');
    expect(enc({ t: 'cbc-send', value: 'abc' })).toBe('bad-value');
  });

  it('rbc-ready digests are exactly 32 bytes on decode', () => {
    const code = BODY_TYPE_CODES['rbc-ready'];
    expect(codeOf(() => decodeMessage(concat(header(code), fill(31))))).toBe('truncated');
    expect(codeOf(() => decodeMessage(concat(header(code), fill(33))))).toBe('trailing-bytes');
  });

  it('lengths beyond the limits, before reading or allocating', () => {
    const code = BODY_TYPE_CODES['cbc-send'];
    // a length prefix claiming 4 GiB with no bytes behind it: too-large, not an allocation
    expect(codeOf(() => decodeMessage(concat(header(code), [0xff, 0xff, 0xff, 0xff])))).toBe('too-large');
    // a claimed length within limits but not present
    expect(codeOf(() => decodeMessage(concat(header(code), [0, 0, 0x03, 0xe8], fill(10))))).toBe('truncated');
    // maxValueBytes
    const v = encodeMessage({ tag: 'ab', body: { t: 'cbc-send', value: fill(100) } });
    expect(decodeMessage(v, { maxValueBytes: 100 }).body).toEqual({ t: 'cbc-send', value: fill(100) });
    expect(codeOf(() => decodeMessage(v, { maxValueBytes: 99 }))).toBe('too-large');
    expect(codeOf(() => encodeMessage({ tag: 'ab', body: { t: 'cbc-send', value: fill(100) } }, { maxValueBytes: 99 }))).toBe('too-large');
    // maxMessageBytes
    expect(codeOf(() => decodeMessage(v, { maxMessageBytes: v.length - 1 }))).toBe('too-large');
    expect(decodeMessage(v, { maxMessageBytes: v.length }).tag).toBe('ab');
    expect(codeOf(() => encodeMessage({ tag: 'ab', body: { t: 'cbc-send', value: fill(100) } }, { maxMessageBytes: v.length - 1 }))).toBe('too-large');
    // an explicitly undefined limit means the default, not "no limit"
    const big = encodeMessage({ tag: 'ab', body: { t: 'cbc-send', value: new Uint8Array(0) } });
    big.set([0x01, 0, 0, 0], 5); // claim 16 MiB, > default maxValueBytes
    expect(codeOf(() => decodeMessage(big, { maxValueBytes: undefined, views: true }))).toBe('too-large');
    // list items: count and per-item size
    const list = (n: number): Message => ({ tag: 'ab', body: { t: 'dec-shares', first: 0, shares: Array.from({ length: n }, () => bytes(1)) } });
    const l5 = encodeMessage(list(5));
    expect(decodeMessage(l5, { maxListItems: 5 })).toEqual(list(5));
    expect(codeOf(() => decodeMessage(l5, { maxListItems: 4 }))).toBe('too-large');
    expect(codeOf(() => encodeMessage(list(5), { maxListItems: 4 }))).toBe('too-large');
    expect(codeOf(() => encodeMessage(list(DEFAULT_LIMITS.maxListItems + 1)))).toBe('too-large');
    expect(codeOf(() => encodeMessage(list(70_000), { maxListItems: 100_000 }))).toBe('too-large'); // u16 count
    expect(codeOf(() => decodeMessage(l5, { maxValueBytes: 0 }))).toBe('too-large');
    // a list count (within limits) with no room for the items: truncated before allocating
    expect(codeOf(() => decodeMessage(concat(header(BODY_TYPE_CODES['ab-requests']), [0x0f, 0xff])))).toBe('truncated');
    expect(codeOf(() => decodeMessage(concat(header(BODY_TYPE_CODES['ab-requests']), [0xff, 0xff])))).toBe('too-large');
  });
});

describe('message codec: batches', () => {
  const all = TYPES.map((t, i) => msg(t, `ab/${i}/x`));

  it('round-trip', () => {
    const enc = encodeBatch(all);
    expect(decodeBatch(enc)).toEqual(all);
    expect(decodeBatch(enc, { views: true })).toEqual(all);
    expect(decodeBatch(encodeBatch([]))).toEqual([]);
    expect(Array.from(encodeBatch([]))).toEqual([0, 0, 0, 0]);
    // layout: count, then length + message
    const one = encodeMessage(all[0]!);
    expect(encodeBatch([all[0]!])).toEqual(concat([0, 0, 0, 1, 0, 0, 0, one.length], one));
  });

  it('random batches round-trip', () => {
    fc.assert(
      fc.property(fc.array(messageArb, { maxLength: 8 }), (ms) => {
        expect(decodeBatch(encodeBatch(ms))).toEqual(ms);
      }),
      { numRuns: 300 },
    );
  });

  it('enforce maxBatchMessages, maxMessageBytes and maxBatchBytes', () => {
    const enc = encodeBatch(all);
    expect(decodeBatch(enc, { maxBatchMessages: all.length })).toHaveLength(all.length);
    expect(codeOf(() => decodeBatch(enc, { maxBatchMessages: all.length - 1 }))).toBe('too-large');
    expect(codeOf(() => encodeBatch(all, { maxBatchMessages: all.length - 1 }))).toBe('too-large');
    expect(codeOf(() => decodeBatch(enc, { maxBatchBytes: enc.length - 1 }))).toBe('too-large');
    expect(codeOf(() => encodeBatch(all, { maxBatchBytes: enc.length - 1 }))).toBe('too-large');
    expect(decodeBatch(enc, { maxBatchBytes: enc.length })).toHaveLength(all.length);
    const biggest = Math.max(...all.map((m) => encodeMessage(m).length));
    expect(codeOf(() => decodeBatch(enc, { maxMessageBytes: biggest - 1 }))).toBe('too-large');
    // default count limit: 10000 tiny messages fine, 10001 refused on both sides
    const tiny: Message = { tag: 'a', body: { t: 'cbc-want' } };
    const many = encodeBatch(new Array<Message>(DEFAULT_LIMITS.maxBatchMessages).fill(tiny));
    expect(decodeBatch(many)).toHaveLength(DEFAULT_LIMITS.maxBatchMessages);
    expect(codeOf(() => encodeBatch(new Array<Message>(DEFAULT_LIMITS.maxBatchMessages + 1).fill(tiny)))).toBe('too-large');
    expect(codeOf(() => decodeBatch(concat([0, 0, 0x27, 0x11])))).toBe('too-large'); // count 10001
    // a huge claimed message length
    expect(codeOf(() => decodeBatch(concat([0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff])))).toBe('too-large');
  });

  it('reject truncation, trailing bytes and bad inner framing', () => {
    const enc = encodeBatch(all.slice(0, 3));
    for (let n = 0; n < enc.length; n++) expect(codeOf(() => decodeBatch(enc.subarray(0, n)))).toBe('truncated');
    expect(codeOf(() => decodeBatch(concat(enc, [0])))).toBe('trailing-bytes');
    expect(codeOf(() => decodeBatch(concat([0, 0, 0x27, 0x10])))).toBe('truncated'); // count 10000, nothing behind it
    // an inner length one byte longer than its message: the extra byte is the message's trailing byte
    const one = encodeMessage(all[0]!);
    expect(codeOf(() => decodeBatch(concat([0, 0, 0, 1, 0, 0, 0, one.length + 1], one, [0])))).toBe('trailing-bytes');
    // one shorter: the message is truncated, although the batch has the byte
    expect(codeOf(() => decodeBatch(concat([0, 0, 0, 1, 0, 0, 0, one.length - 1], one)))).toBe('truncated');
    // one bad message rejects the whole batch
    const bad = concat([0, 0, 0, 2, 0, 0, 0, one.length], one, [0, 0, 0, one.length], [2], one.subarray(1));
    expect(codeOf(() => decodeBatch(bad))).toBe('bad-version');
  });
});

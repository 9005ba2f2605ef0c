/**
 * The one instance-tag codec (shared/protocols/instance-tag.ts): every kind round-trips exactly, aliases
 * and unknown tags are refused (null), any accepted string formats back to itself, and the protocols that
 * parse tags (common subset, atomic broadcast, secure causal broadcast, checkpoint certifier) refuse an
 * alias as a `malformed` fault of its sender without touching any instance. The engine-level regression
 * is test/unit/engine-tags.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvariantError } from '../../shared/invariant/index.ts';
import { AtomicBroadcast } from '../../shared/protocols/ab.ts';
import { CommonSubset } from '../../shared/protocols/acs.ts';
import { CheckpointCertifier } from '../../shared/protocols/checkpoint.ts';
import { insecureTestDecryptor } from '../../shared/protocols/crypto-suite.ts';
import {
  ENGINE_PREFIXES,
  MAX_EPOCH,
  MAX_ROUND,
  abEpochTag,
  checkPrefixes,
  checkpointTag,
  childSegments,
  childTag,
  coinName,
  formatAbTag,
  formatEpochTag,
  formatInstanceTag,
  formatNumber,
  formatScabTag,
  formatSubsetTag,
  isCanonicalTag,
  isWithin,
  parseAbTag,
  parseCheckpointTag,
  parseEpochTag,
  parseInstanceTag,
  parseNumber,
  parseScabTag,
  parseSubsetTag,
} from '../../shared/protocols/instance-tag.ts';
import type { InstanceId, InstancePrefixes } from '../../shared/protocols/instance-tag.ts';
import type { Message } from '../../shared/protocols/messages.ts';
import { SecureCausalBroadcast } from '../../shared/protocols/scab.ts';
import { threshold } from '../helpers/net.ts';

const N = 4;

/** The engine's tree and the simulator's (atomic broadcast below the decryption prefix). */
const PREFIX_SETS: readonly InstancePrefixes[] = [ENGINE_PREFIXES, { ab: 'scab/ab', dec: 'scab', ckpt: 'ckpt' }, { ab: 'ab/123', dec: 'x-1/dec', ckpt: 'c' }];

describe('instance tags: the canonical form', () => {
  it('numbers: canonical decimal up to the bound, nothing else', () => {
    expect(parseNumber('0')).toBe(0);
    expect(parseNumber('17')).toBe(17);
    expect(parseNumber(String(MAX_EPOCH))).toBe(MAX_EPOCH);
    for (const s of ['', '00', '01', '007', '+1', '-1', '1e3', '0x1', '1.0', ' 1', '1 ', '١', '9007199254740992', '99999999999999999999']) {
      expect(parseNumber(s), s).toBeNull();
    }
    expect(parseNumber('4', 3)).toBeNull();
    expect(parseNumber('3', 3)).toBe(3);
    expect(formatNumber(0)).toBe('0');
    for (const x of [-1, 1.5, NaN, Infinity, MAX_EPOCH + 1]) expect(() => formatNumber(x)).toThrow(InvariantError);
    expect(() => formatNumber(5, 4)).toThrow(InvariantError);
  });

  it('tags: segments of [a-z0-9-], none empty, all-digit segments canonical numbers', () => {
    for (const t of ['ab', 'ab/0', 'ab/17/cbc/3', 'scab/ab/4/aba/0', 'x-1/dec/9', 'ckpt/0']) expect(isCanonicalTag(t), t).toBe(true);
    for (const t of ['', '/', 'ab/', '/ab', 'ab//1', 'ab/01', 'Ab', 'ab/1 ', 'ab/+1', 'ab/1.5', 'ab/9007199254740992', 'ab/é']) {
      expect(isCanonicalTag(t), t).toBe(false);
    }
    expect(childSegments('ab/1/cbc/3', 'ab')).toEqual(['1', 'cbc', '3']);
    expect(childSegments('ab', 'ab')).toBeNull();
    expect(childSegments('abc/1', 'ab')).toBeNull();
    expect(childSegments('ab/1/', 'ab')).toBeNull();
    expect(isWithin('ab', 'ab')).toBe(true);
    expect(isWithin('ab/1/aba/0', 'ab')).toBe(true);
    expect(isWithin('ab/01/aba/0', 'ab')).toBe(false);
    expect(isWithin('abc', 'ab')).toBe(false);
    expect(childTag('aba', 123456)).toBe('aba/123456');
    expect(() => childTag('aba', '007')).toThrow(InvariantError);
    expect(() => childTag('aba', 'a/b')).toThrow(InvariantError);
    expect(() => childTag('aba')).toThrow(InvariantError);
  });

  it('builds the strings the protocols used before (storage and signatures depend on them)', () => {
    expect(formatAbTag('ab', { kind: 'ab-requests' })).toBe('ab');
    expect(formatAbTag('ab', { kind: 'cbc', epoch: 17, proposer: 3 })).toBe('ab/17/cbc/3');
    expect(formatAbTag('ab', { kind: 'aba', epoch: 17, proposer: 3 })).toBe('ab/17/aba/3');
    expect(abEpochTag('ab', 17)).toBe('ab/17');
    expect(formatSubsetTag('mvba/5', { kind: 'cbc', proposer: 2 })).toBe('mvba/5/cbc/2');
    expect(coinName('ab/17/aba/3', 2)).toBe('ab/17/aba/3/coin/2');
    expect(formatEpochTag('dec', 4)).toBe('dec/4');
    expect(checkpointTag(12)).toBe('ckpt/12');
    expect(formatInstanceTag({ kind: 'dec', epoch: 4 })).toBe('dec/4');
    expect(formatInstanceTag({ kind: 'ckpt', epoch: 12 })).toBe('ckpt/12');
    expect(formatScabTag({ kind: 'dec', epoch: 4 }, { ab: 'scab/ab', dec: 'scab' })).toBe('scab/4');
    expect(formatScabTag({ kind: 'aba', epoch: 4, proposer: 1 }, { ab: 'scab/ab', dec: 'scab' })).toBe('scab/ab/4/aba/1');
    expect(() => coinName('aba', MAX_ROUND + 1)).toThrow(InvariantError);
  });

  it('round-trips every kind, in every tree', () => {
    const ids: InstanceId[] = [
      { kind: 'ab-requests' },
      { kind: 'cbc', epoch: 0, proposer: 0 },
      { kind: 'aba', epoch: 17, proposer: 3 },
      { kind: 'cbc', epoch: MAX_EPOCH, proposer: N - 1 },
      { kind: 'dec', epoch: 0 },
      { kind: 'dec', epoch: MAX_EPOCH },
      { kind: 'ckpt', epoch: 12 },
      { kind: 'ckpt', epoch: MAX_EPOCH },
    ];
    for (const p of PREFIX_SETS) {
      for (const id of ids) {
        const t = formatInstanceTag(id, p);
        expect(isCanonicalTag(t), t).toBe(true);
        expect(parseInstanceTag(t, N, p), t).toEqual(id);
      }
    }
    expect(parseSubsetTag('ab/17/aba/3', 'ab/17', N)).toEqual({ kind: 'aba', proposer: 3 });
    expect(parseAbTag('ab/17/cbc/3', 'ab', N)).toEqual({ kind: 'cbc', epoch: 17, proposer: 3 });
    expect(parseAbTag('ab', 'ab', N)).toEqual({ kind: 'ab-requests' });
    expect(parseScabTag('scab/4', { ab: 'scab/ab', dec: 'scab' }, N)).toEqual({ kind: 'dec', epoch: 4 });
    expect(parseScabTag('scab/ab', { ab: 'scab/ab', dec: 'scab' }, N)).toEqual({ kind: 'ab-requests' });
    expect(parseCheckpointTag('ckpt/12')).toBe(12);
  });

  it('refuses aliases and unknown tags', () => {
    const refused = [
      'ab/01/cbc/3',
      'ab/1/cbc/03',
      'ab/+1/cbc/3',
      'ab/-1/cbc/3',
      'ab/1/cbc/3/',
      '/ab/1/cbc/3',
      'ab//1',
      'ab//1/cbc/3',
      'ab/1/cbc//3',
      'ab/',
      'ab/1',
      'ab/1/cbc',
      'ab/1/cbc/3/4',
      'ab/1/acs/cbc/3',
      'ab/1/rbc/3',
      'ab/1/CBC/3',
      'ab/1e3/cbc/3',
      'ab/1.0/cbc/3',
      'ab/ 1/cbc/3',
      `ab/${MAX_EPOCH + 1}/cbc/3`,
      'ab/99999999999999999999/cbc/3',
      `ab/1/cbc/${N}`,
      'ab/1/aba/4294967296',
      'ab/1/aba/1/coin/2',
      'dec',
      'dec/',
      'dec/01',
      'dec/1e3',
      'dec/1/2',
      'dec/-1',
      'ckpt/007',
      'ckpt/00',
      'ckpt/1e3',
      `ckpt/${MAX_EPOCH + 1}`,
      'ckpt',
      'ckpt/x',
      'abc/1/cbc/3',
      'scab/4',
      '',
      '/',
    ];
    for (const t of refused) expect(parseInstanceTag(t, N), t).toBeNull();
    expect(parseCheckpointTag('ckpt/007')).toBeNull();
    expect(parseEpochTag('dec/1e3', 'dec')).toBeNull();
    expect(parseSubsetTag('ab/1/cbc/03', 'ab/1', N)).toBeNull();
    expect(parseSubsetTag('ab/1/cbc/4', 'ab/1', N)).toBeNull();
    expect(parseSubsetTag('ab/01/cbc/3', 'ab/1', N)).toBeNull();
    expect(parseAbTag('ab/01/cbc/3', 'ab', N)).toBeNull();
    // Under the simulator's prefixes: the decryption prefix is `scab`, so `scab/ab/...` is atomic broadcast.
    const sim = PREFIX_SETS[1]!;
    for (const t of ['scab/04', 'scab/ab/04/cbc/1', 'scab/ab/', 'scab/ab/4/cbc/1/', 'scab/x', 'dec/4', 'ab/4/cbc/1']) expect(parseInstanceTag(t, N, sim), t).toBeNull();
  });

  it('refuses prefixes under which one string would name two instances', () => {
    for (const p of PREFIX_SETS) expect(() => checkPrefixes([p.ab, p.dec, p.ckpt])).not.toThrow();
    expect(() => checkPrefixes(['ab', 'ab'])).toThrow(InvariantError);
    expect(() => checkPrefixes(['dec/3', 'dec'])).toThrow(InvariantError); // dec/3 is a decryption tag
    expect(() => checkPrefixes(['ab', 'ab/1/cbc'])).toThrow(InvariantError); // ab/1/cbc/2 would be both
    expect(() => checkPrefixes(['ab/', 'dec'])).toThrow(InvariantError);
    expect(() => checkPrefixes(['ab', 'ab/x'])).not.toThrow();
  });
});

describe('instance tags: properties', () => {
  const epochArb = fc.oneof(fc.nat({ max: 20 }), fc.maxSafeNat());
  const setup = fc.record({ n: fc.integer({ min: 1, max: 64 }), p: fc.constantFrom(...PREFIX_SETS) });
  const idArb = (n: number): fc.Arbitrary<InstanceId> =>
    fc.oneof(
      fc.constant({ kind: 'ab-requests' as const }),
      fc.record({ kind: fc.constantFrom('cbc' as const, 'aba' as const), epoch: epochArb, proposer: fc.nat({ max: n - 1 }) }),
      fc.record({ kind: fc.constantFrom('dec' as const, 'ckpt' as const), epoch: epochArb }),
    );
  const withId = setup.chain(({ n, p }) => idArb(n).map((id) => ({ n, p, id })));

  it('parse(format(x)) equals x, and the tag is canonical', () => {
    fc.assert(
      fc.property(withId, ({ n, p, id }) => {
        const t = formatInstanceTag(id, p);
        expect(isCanonicalTag(t)).toBe(true);
        expect(parseInstanceTag(t, n, p)).toEqual(id);
      }),
      { numRuns: 2000 },
    );
  });

  it('a leading zero, sign or empty segment anywhere in a valid tag is refused', () => {
    const edit = fc.record({ at: fc.nat(), how: fc.constantFrom('zero', 'plus', 'slash', 'trailing', 'leading') });
    fc.assert(
      fc.property(withId, edit, ({ n, p, id }, { at, how }) => {
        const t = formatInstanceTag(id, p);
        const segs = t.split('/');
        const numeric = segs.map((s, i) => (/^[0-9]+$/.test(s) ? i : -1)).filter((i) => i >= 0);
        let bad: string;
        if (how === 'trailing') bad = `${t}/`;
        else if (how === 'leading') bad = `/${t}`;
        else if (how === 'slash') {
          const k = 1 + (at % segs.length);
          bad = [...segs.slice(0, k), '', ...segs.slice(k)].join('/');
        } else {
          if (numeric.length === 0) return;
          const k = numeric[at % numeric.length]!;
          bad = segs.map((s, i) => (i === k ? (how === 'zero' ? `0${s}` : `+${s}`) : s)).join('/');
        }
        expect(parseInstanceTag(bad, n, p)).toBeNull();
      }),
      { numRuns: 2000 },
    );
  });

  it('any string accepted formats back to itself (tag-like and arbitrary strings)', () => {
    const unit = fc.constantFrom('/', '0', '1', '3', '9', '00', '-', '+', ' ', 'e', 'A', 'ab', 'aba', 'cbc', 'dec', 'ckpt', 'scab', 'x-1', 'c', '123');
    const tagLike = fc.string({ unit, maxLength: 10 });
    // Valid tags with up to three one-character edits (most land next to a valid tag, some on one).
    const charArb = fc.constantFrom('/', '0', '1', '9', '+', '-', 'a', 'e', 'x', ' ');
    const editArb = fc.record({ at: fc.nat(), del: fc.boolean(), c: charArb });
    const edited = fc.tuple(withId, fc.array(editArb, { maxLength: 3 })).map(([{ p, id }, edits]) => {
      let t = formatInstanceTag(id, p);
      for (const { at, del, c } of edits) {
        const k = at % (t.length + 1);
        t = t.slice(0, k) + c + t.slice(del ? k + 1 : k);
      }
      return t;
    });
    let accepted = 0;
    fc.assert(
      fc.property(setup, fc.oneof(edited, tagLike, fc.string({ maxLength: 30 })), ({ n, p }, s) => {
        const id = parseInstanceTag(s, n, p);
        if (id !== null) {
          accepted++;
          expect(formatInstanceTag(id, p)).toBe(s);
        }
        const num = parseNumber(s);
        if (num !== null) expect(String(num)).toBe(s);
        const sub = parseSubsetTag(s, p.ab, n);
        if (sub !== null) expect(formatSubsetTag(p.ab, sub)).toBe(s);
        const ab = parseAbTag(s, p.ab, n);
        if (ab !== null) expect(formatAbTag(p.ab, ab)).toBe(s);
        const e = parseEpochTag(s, p.dec);
        if (e !== null) expect(formatEpochTag(p.dec, e)).toBe(s);
      }),
      { numRuns: 20_000 },
    );
    // The generator does reach valid tags (not a vacuous property).
    expect(accepted).toBeGreaterThan(500);
  });

  it('numbers agree with the written grammar: "0" / [1-9][0-9]*, at most the bound', () => {
    const digits = fc.string({ unit: fc.constantFrom('0', '1', '5', '9'), minLength: 1, maxLength: 18 });
    fc.assert(
      fc.property(digits, fc.integer({ min: 0, max: 100 }), (s, max) => {
        const grammar = /^(0|[1-9][0-9]*)$/.test(s);
        expect(parseNumber(s) !== null).toBe(grammar && Number(s) <= MAX_EPOCH);
        expect(parseNumber(s, max) !== null).toBe(grammar && Number(s) <= max);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('protocols refuse alias tags as malformed, without touching an instance', () => {
  const ctx = threshold(N, 1)[0]!;
  const bval: Message['body'] = { t: 'aba-bval', round: 0, value: 1 };
  const groupId = new Uint8Array(32).fill(9);

  it('common subset (any prefix)', () => {
    const acs = new CommonSubset(ctx, 'mvba/5');
    for (const tag of ['mvba/5/cbc/01', 'mvba/5/cbc/4', 'mvba/5/cbc/1/', 'mvba/05/cbc/1', 'mvba/5/rbc/1', 'mvba/5//cbc/1']) {
      const s = acs.handleMessage(1, { tag, body: { t: 'cbc-send', value: new Uint8Array([2]) } });
      expect(s.messages, tag).toEqual([]);
      expect(s.faults, tag).toEqual([{ peer: 1, tag, kind: 'malformed', detail: 'tag outside this common subset' }]);
    }
    // The canonical tag reaches proposer 1's broadcast: it echoes.
    const ok = acs.handleMessage(1, { tag: 'mvba/5/cbc/1', body: { t: 'cbc-send', value: new Uint8Array([2]) } });
    expect(ok.faults).toEqual([]);
    expect(ok.messages.map((m) => m.msg.body.t)).toEqual(['cbc-echo']);
  });

  it('atomic broadcast (any prefix): an alias does not even create its epoch', () => {
    const ab = new AtomicBroadcast(ctx, 'ab/7');
    for (const tag of ['ab/7/00/aba/1', 'ab/7/0/aba/01', 'ab/7/0/aba/1/', 'ab/7/+0/aba/1', 'ab/7/0/aba/4', 'ab/7/0', 'ab/7/', 'ab/70/aba/1']) {
      const s = ab.handleMessage(2, { tag, body: bval });
      expect(s.deferred, tag).toBe(false);
      expect(s.messages, tag).toEqual([]);
      expect(s.faults.map((f) => [f.peer, f.kind]), tag).toEqual([[2, 'malformed']]);
      expect(ab.snapshot().instances.size, tag).toBe(0);
    }
    const ok = ab.handleMessage(2, { tag: 'ab/7/0/aba/1', body: bval });
    expect(ok.faults).toEqual([]);
    expect(ab.snapshot().instances.size).toBe(1);
  });

  it('secure causal broadcast: decryption-share tags', () => {
    const scab = new SecureCausalBroadcast(ctx, insecureTestDecryptor(groupId, 0, ctx.crypto.kernel.scheme), { tag: 'scab' });
    const shares: Message['body'] = { t: 'dec-shares', first: 0, shares: [new Uint8Array(32)] };
    for (const tag of ['scab/01', 'scab/0/', 'scab/1e0', 'scab//0', 'scab/ab/00/aba/1']) {
      const s = scab.handleMessage(3, { tag, body: tag.includes('/ab/') ? bval : shares });
      expect(s.faults.map((f) => [f.peer, f.kind]), tag).toEqual([[3, 'malformed']]);
      expect(s.messages, tag).toEqual([]);
      expect(scab.snapshot().early.size, tag).toBe(0);
      expect(scab.atomicBroadcast.snapshot().instances.size, tag).toBe(0);
    }
    expect(scab.handleMessage(3, { tag: 'scab/1', body: shares }).faults).toEqual([]);
    expect([...scab.snapshot().early.keys()]).toEqual([1]);
  });

  it('checkpoint certifier', () => {
    const c = new CheckpointCertifier(ctx);
    for (const tag of ['ckpt/01', 'ckpt/007', 'ckpt/1e0', 'ckpt/1/', 'ckpt', `ckpt/${MAX_EPOCH + 1}`]) {
      const s = c.handleMessage(1, { tag, body: { t: 'ckpt-share', share: new Uint8Array(48) } });
      expect(s.faults.map((f) => [f.peer, f.kind]), tag).toEqual([[1, 'malformed']]);
      expect(c.snapshot().epochs.size, tag).toBe(0);
    }
    expect(c.handleMessage(1, { tag: 'ckpt/1', body: { t: 'ckpt-share', share: new Uint8Array(48) } }).faults).toEqual([]);
    expect([...c.snapshot().epochs.keys()]).toEqual([1]);
  });
});

import { describe, expect, it } from 'vitest';
import { bls12_381 } from '@noble/curves/bls12-381.js';
import { bigintToBytes, toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { G1 } from '../../shared/crypto/curve.ts';
import { domain } from '../../shared/crypto/domain.ts';
import { add, mul } from '../../shared/crypto/field.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { combineShares, signShare, verifySignature } from '../../shared/crypto/threshold-bls.ts';
import { deal } from '../../shared/config/deal.ts';
import type { DealOutput } from '../../shared/config/deal.ts';
import { ConfigError, GROUP_FORMAT, echoSeed, parseGroup, parseReplicaSecrets, verifyGroupKeys, verifyReplicaSecrets } from '../../shared/config/group.ts';
import type { Group, GroupFile, ReplicaSecrets, SecretsFile } from '../../shared/config/group.ts';
import { thresholdStructure } from '../../shared/quorum/index.ts';
import { ed25519Signatures } from '../../shared/protocols/crypto-suite.ts';
import { grid } from '../helpers/structures.ts';

type Mutable<T> = { -readonly [K in keyof T]: Mutable<T[K]> };
const clone = <T>(x: T): Mutable<T> => JSON.parse(JSON.stringify(x));

/** The ConfigError message of f, or 'accepted'. */
function problem(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  return 'accepted';
}

/** A compressed G2 encoding of a curve point outside the prime-order subgroup. */
function nonSubgroupG2(): string {
  const Fp2 = bls12_381.fields.Fp2;
  for (let k = 1n; ; k++) {
    const x = Fp2.create({ c0: k, c1: 0n });
    try {
      Fp2.sqrt(Fp2.add(Fp2.pow(x, 3n), Fp2.create({ c0: 4n, c1: 4n })));
    } catch {
      continue;
    }
    const c1 = new Uint8Array(48);
    c1[0] = 0x80; // compressed, not infinity, sign 0
    return toHex(c1) + toHex(bigintToBytes(k, 48));
  }
}

const G2_IDENTITY = `c0${'00'.repeat(95)}`;
const G1_IDENTITY = `c0${'00'.repeat(47)}`;

const MSG = utf8ToBytes('checkpoint 17');
const TAG = 'ab/17/checkpoint';

function secretsOf(out: DealOutput, group: Group): ReplicaSecrets[] {
  return out.secrets.map((s) => parseReplicaSecrets(clone(s), group));
}

describe('deal and parse: threshold n = 4, t = 1', () => {
  const out = deal(thresholdStructure(4, 1), seededRandom('group-config/t41'), { testOnly: true });
  const group = parseGroup(clone(out.group));
  const secrets = secretsOf(out, group);

  it('writes the fixed format', () => {
    const g = out.group;
    expect(g.format).toBe(GROUP_FORMAT);
    expect(g.groupId).toMatch(/^[0-9a-f]{64}$/);
    expect(g.testOnly).toBe(true);
    expect(g.replicas.map((r) => [r.index, r.id])).toEqual([[0, 'r1'], [1, 'r2'], [2, 'r3'], [3, 'r4']]);
    expect(g.adversary).toEqual({ threshold: 1 });
    expect(g.structure).toEqual({ type: 'threshold', n: 4, t: 1 });
    expect(g.keys.kernel.scheme).toEqual({ type: 'shamir', n: 4, k: 2 });
    expect(g.keys.quorum.scheme).toEqual({ type: 'shamir', n: 4, k: 3 });
    expect(g.keys.encryption.scheme).toEqual({ type: 'shamir', n: 4, k: 2 });
    expect(g.keys.kernel.groupKey).toMatch(/^[0-9a-f]{192}$/);
    expect(g.keys.encryption.publicKey).toMatch(/^[0-9a-f]{96}$/);
    for (const k of [g.keys.kernel, g.keys.quorum, g.keys.encryption]) expect(k.rowKeys).toHaveLength(4);
    expect(Object.keys(out.secrets[0]!).sort()).toEqual(['SINTRA_GROUP_ID', 'SINTRA_KEY_SHARES', 'SINTRA_LINK_SECRET', 'SINTRA_REPLICA_ID', 'SINTRA_REPLICA_INDEX']);
    expect(out.secrets[2]).toMatchObject({ SINTRA_GROUP_ID: g.groupId, SINTRA_REPLICA_ID: 'r3', SINTRA_REPLICA_INDEX: '2' });
    const shares = JSON.parse(out.secrets[2]!.SINTRA_KEY_SHARES);
    expect(Object.keys(shares)).toEqual(['kernel', 'quorum', 'encryption']);
    for (const v of [...shares.kernel, ...shares.quorum, ...shares.encryption]) expect(v).toMatch(/^[0-9a-f]{64}$/);
    expect(g.keys.echo!.scheme).toBe('ed25519');
    expect(g.keys.echo!.publicKeys).toHaveLength(4);
    for (const k of g.keys.echo!.publicKeys) expect(k).toMatch(/^[0-9a-f]{64}$/);
  });

  it('echo keys come from the link secrets: without them the deal is otherwise the same, and the group has no echo seeds', () => {
    const plain = deal(thresholdStructure(4, 1), seededRandom('group-config/t41'), { testOnly: true, echo: false });
    const { echo: _echo, ...keys } = out.group.keys;
    expect(plain.group.keys).toEqual(keys);
    expect(plain.secrets).toEqual(out.secrets);
    const g = parseGroup(clone(plain.group));
    expect(g.echo).toBeUndefined();
    const s = secretsOf(plain, g);
    expect(s[0]!.echo).toBeUndefined();
    verifyReplicaSecrets(g, s[0]!);
    expect(problem(() => verifyReplicaSecrets(g, secrets[0]!))).toBe('SINTRA_LINK_SECRET: an echo seed, but the group has no echo keys (group.json has no keys.echo)');
    expect(secrets[0]!.echo).toEqual(echoSeed(group.groupId, secrets[0]!.linkSecret));
  });

  it('each replica signs echoes with its own key, and verifies the others\'', () => {
    const sigs = secrets.map((s) => ed25519Signatures({ publicKeys: group.echo!, seed: s.echo! }));
    const sig = sigs[2]!.sign(MSG);
    expect(sigs.every((v) => v.verify(2, MSG, sig))).toBe(true);
    expect(sigs[0]!.verify(1, MSG, sig)).toBe(false);
  });

  it('is deterministic in the seed, and group.json holds no secret', () => {
    expect(deal(thresholdStructure(4, 1), seededRandom('group-config/t41'), { testOnly: true })).toEqual(out);
    expect(deal(thresholdStructure(4, 1), seededRandom('other'), { testOnly: true }).group.groupId).not.toBe(out.group.groupId);
    const text = JSON.stringify(out.group);
    for (const s of out.secrets) {
      const shares = JSON.parse(s.SINTRA_KEY_SHARES) as Record<string, string[]>;
      for (const v of [...Object.values(shares).flat(), s.SINTRA_LINK_SECRET]) expect(text).not.toContain(v);
    }
  });

  it('parses back, the keys are consistent, every replica verifies', () => {
    expect(toHex(group.groupId)).toBe(out.group.groupId);
    expect(group.quorumSystem.isQuorum([0, 1, 2])).toBe(true);
    expect(group.quorumSystem.isKernel([0])).toBe(false);
    verifyGroupKeys(group);
    secrets.forEach((s, i) => {
      expect(s.index).toBe(i);
      verifyReplicaSecrets(group, s);
    });
  });

  it('the dealt shares sign and decrypt: kernel (2 of 4), quorum (3 of 4), encryption key recombines', () => {
    const d = domain(group.groupId, 'checkpoint');
    const kernelSig = combineShares(group.kernel, d, TAG, MSG, [0, 2].map((i) => signShare(secrets[i]!.kernel, d, TAG, MSG)));
    expect(verifySignature(group.kernel.groupKey, d, TAG, MSG, kernelSig.bytes)).toBe(true);
    const c = domain(group.groupId, 'cbc');
    const quorumSig = combineShares(group.quorum, c, TAG, MSG, [0, 1, 3].map((i) => signShare(secrets[i]!.quorum, c, TAG, MSG)));
    expect(verifySignature(group.quorum.groupKey, c, TAG, MSG, quorumSig.bytes)).toBe(true);
    expect(verifySignature(group.kernel.groupKey, c, TAG, MSG, quorumSig.bytes)).toBe(false);
    const rec = group.encryption.scheme.recombine([1, 3]);
    const x = rec.rows.reduce((acc, row, i) => add(acc, mul(rec.coeffs[i]!, secrets[group.encryption.scheme.owners[row]!]!.encryption.values[0]!)), 0n);
    expect(G1.BASE.multiply(x).equals(group.encryption.publicKey)).toBe(true);
  });

  describe('group.json is rejected with the path of the problem', () => {
    const bad = (edit: (g: Mutable<GroupFile>) => void): string => {
      const g = clone(out.group);
      edit(g);
      return problem(() => verifyGroupKeys(parseGroup(g)));
    };

    it('format, shape and fields', () => {
      expect(problem(() => parseGroup([]))).toBe('group file must be a JSON object');
      expect(bad((g) => ((g as { format: string }).format = 'sintra-edge/group@2'))).toMatch(/^format: unknown format "sintra-edge\/group@2"/);
      expect(bad((g) => delete (g.keys as Partial<typeof g.keys>).encryption)).toBe('keys.encryption: missing');
      expect(bad((g) => ((g as Record<string, unknown>)['extra'] = 1))).toBe('unknown field "extra"');
      expect(bad((g) => ((g.keys.kernel as Record<string, unknown>)['secret'] = '00'))).toBe('keys.kernel: unknown field "secret"');
      expect(bad((g) => (g.groupId = g.groupId.slice(2)))).toMatch(/^groupId: expected 32 bytes/);
      expect(bad((g) => ((g as { testOnly: unknown }).testOnly = 'yes'))).toMatch(/^testOnly:/);
      expect(bad((g) => (g.replicas[1]!.index = 2))).toMatch(/^replicas\[1\]\.index: expected 1/);
      expect(bad((g) => (g.replicas[1]!.id = 'R2'))).toMatch(/^replicas\[1\]\.id must match/);
      expect(bad((g) => (g.replicas[0]!.linkKey = '00'.repeat(32)))).toBe('replicas[0].linkKey: X25519 public key of small order');
      expect(bad((g) => (g.replicas[3]!.linkKey = g.replicas[3]!.linkKey.slice(4)))).toMatch(/^replicas\[3\]\.linkKey: expected 32 bytes/);
    });

    it('structure, adversary and schemes', () => {
      expect(bad((g) => ((g.structure as { t: number }).t = 0))).toBe('structure: does not match the structure that the adversary and replicas define');
      expect(bad((g) => ((g.adversary as { threshold: number }).threshold = 2))).toMatch(/^adversary: not Q3/);
      expect(bad((g) => ((g.adversary as Record<string, unknown>)['plus'] = 1))).toBe('adversary: unknown field "plus"');
      expect(bad((g) => ((g.keys.kernel.scheme as { k: number }).k = 3))).toMatch(/^keys\.kernel\.scheme: does not match the shamir scheme/);
      expect(bad((g) => (g.keys.encryption.scheme = g.keys.quorum.scheme))).toMatch(/^keys\.encryption\.scheme: does not match/);
    });

    it('points: bad hex, identity, not in the subgroup, wrong count', () => {
      expect(bad((g) => (g.keys.quorum.groupKey = g.keys.quorum.groupKey.toUpperCase()))).toBe('keys.quorum.groupKey: expected lower-case hex with an even number of digits');
      expect(bad((g) => (g.keys.kernel.groupKey = G2_IDENTITY))).toBe('keys.kernel.groupKey: G2: the identity point is not allowed');
      expect(bad((g) => (g.keys.encryption.rowKeys[0] = G1_IDENTITY))).toBe('keys.encryption.rowKeys[0]: G1: the identity point is not allowed');
      expect(bad((g) => (g.keys.kernel.rowKeys[3] = nonSubgroupG2()))).toBe('keys.kernel.rowKeys[3]: G2: point is not in the prime-order subgroup');
      expect(bad((g) => (g.keys.kernel.rowKeys[1] = g.keys.encryption.rowKeys[1]!))).toMatch(/^keys\.kernel\.rowKeys\[1\]: G2: expected 96 bytes/);
      expect(bad((g) => g.keys.kernel.rowKeys.pop())).toBe('keys.kernel.rowKeys: expected 4 row keys (one per row of the shamir scheme), got 3');
      expect(bad((g) => g.keys.quorum.rowKeys.push(g.keys.quorum.rowKeys[0]!))).toMatch(/^keys\.quorum\.rowKeys: expected 4 row keys/);
    });

    it('echo keys: scheme, count, small order, not canonical, duplicates, unknown fields', () => {
      expect(bad((g) => ((g.keys.echo as { scheme: string }).scheme = 'ed448'))).toBe('keys.echo.scheme: expected "ed25519"');
      expect(bad((g) => (g.keys.echo!.publicKeys as string[]).pop())).toBe('keys.echo.publicKeys: expected 4 keys (one per replica), got 3');
      const smallOrder = 'Ed25519 public key (not canonical, not on the curve, or of small order)';
      expect(bad((g) => ((g.keys.echo!.publicKeys as string[])[1] = `01${'00'.repeat(31)}`))).toBe(`keys.echo.publicKeys[1]: not an ${smallOrder}`);
      expect(bad((g) => ((g.keys.echo!.publicKeys as string[])[2] = '00'.repeat(32)))).toBe(`keys.echo.publicKeys[2]: not an ${smallOrder}`);
      // y = 2^255 - 18 (p + 1): the non-canonical encoding of y = 1.
      expect(bad((g) => ((g.keys.echo!.publicKeys as string[])[0] = `ee${'ff'.repeat(30)}7f`))).toBe(`keys.echo.publicKeys[0]: not an ${smallOrder}`);
      expect(bad((g) => ((g.keys.echo!.publicKeys as string[])[3] = g.keys.echo!.publicKeys[0]!))).toBe('keys.echo.publicKeys[3]: the same key as another replica');
      expect(bad((g) => ((g.keys.echo as Record<string, unknown>)['seed'] = '00'))).toBe('keys.echo: unknown field "seed"');
      expect(bad((g) => ((g.keys.echo!.publicKeys as string[])[0] = g.keys.echo!.publicKeys[0]!.slice(2)))).toMatch(/^keys\.echo\.publicKeys\[0\]: expected 32 bytes/);
    });

    it('tampered row keys: valid points that are not a sharing of the group key', () => {
      expect(bad((g) => ([g.keys.kernel.rowKeys[1], g.keys.kernel.rowKeys[2]] = [g.keys.kernel.rowKeys[2]!, g.keys.kernel.rowKeys[1]!]))).toMatch(
        /^keys\.kernel\.rowKeys: rows \[[0-9,]+\] are inconsistent with the shamir scheme and groupKey$/,
      );
      expect(bad((g) => (g.keys.quorum.rowKeys[3] = g.keys.kernel.rowKeys[3]!))).toMatch(/^keys\.quorum\.rowKeys: rows \[1,2,3\] are inconsistent/);
      expect(bad((g) => (g.keys.quorum.groupKey = g.keys.kernel.groupKey))).toMatch(/^keys\.quorum\.rowKeys: rows \[0,1,2\] are inconsistent/);
      expect(bad((g) => (g.keys.encryption.rowKeys[0] = g.keys.encryption.publicKey))).toMatch(/^keys\.encryption\.rowKeys: rows \[0,1\] are inconsistent with the shamir scheme and publicKey$/);
    });
  });

  describe('secrets files are rejected with the path of the problem', () => {
    const other = deal(thresholdStructure(4, 1), seededRandom('group-config/other'), { testOnly: true });
    const bad = (i: number, edit: (s: Mutable<SecretsFile>) => void): string => {
      const s = clone(out.secrets[i]!);
      edit(s);
      return problem(() => verifyReplicaSecrets(group, parseReplicaSecrets(s, group)));
    };
    const editShares = (s: Mutable<SecretsFile>, f: (v: Record<string, string[]>) => void) => {
      const v = JSON.parse(s.SINTRA_KEY_SHARES);
      f(v);
      s.SINTRA_KEY_SHARES = JSON.stringify(v);
    };

    it('another replica\'s secrets, another group\'s, mismatched id and index', () => {
      expect(bad(1, (s) => ((s.SINTRA_REPLICA_ID = 'r1'), (s.SINTRA_REPLICA_INDEX = '0')))).toBe('SINTRA_KEY_SHARES.kernel[0]: does not match keys.kernel.rowKeys[0]');
      expect(bad(1, (s) => (s.SINTRA_REPLICA_INDEX = '0'))).toBe('SINTRA_REPLICA_ID: "r2" but replica 0 is "r1"');
      expect(bad(1, (s) => (s.SINTRA_REPLICA_INDEX = '01'))).toMatch(/^SINTRA_REPLICA_INDEX: expected a replica index 0\.\.3/);
      expect(bad(1, (s) => (s.SINTRA_REPLICA_INDEX = '4'))).toMatch(/^SINTRA_REPLICA_INDEX:/);
      expect(problem(() => parseReplicaSecrets(other.secrets[0], group))).toMatch(/^SINTRA_GROUP_ID: belongs to group /);
      expect(bad(0, (s) => (s.SINTRA_LINK_SECRET = out.secrets[1]!.SINTRA_LINK_SECRET))).toBe('SINTRA_LINK_SECRET: does not match replicas[0].linkKey');
    });

    it('values: out of range, wrong count, wrong value, bad JSON, missing and unknown fields', () => {
      expect(bad(0, (s) => editShares(s, (v) => (v['quorum']![0] = 'ff'.repeat(32))))).toBe('SINTRA_KEY_SHARES.quorum[0]: scalar: not reduced modulo r');
      expect(bad(0, (s) => editShares(s, (v) => (v['kernel']![0] = '00'.repeat(32))))).toBe('SINTRA_KEY_SHARES.kernel[0]: scalar: zero is not allowed');
      expect(bad(0, (s) => editShares(s, (v) => v['kernel']!.push(v['kernel']![0]!)))).toBe('SINTRA_KEY_SHARES.kernel: expected 1 values (one per row of replica 0), got 2');
      expect(bad(2, (s) => editShares(s, (v) => (v['encryption']![0] = v['kernel']![0]!)))).toBe('SINTRA_KEY_SHARES.encryption[0]: does not match keys.encryption.rowKeys[2]');
      expect(bad(0, (s) => editShares(s, (v) => delete v['encryption']))).toBe('SINTRA_KEY_SHARES.encryption: missing');
      expect(bad(0, (s) => (s.SINTRA_KEY_SHARES = '{'))).toBe('SINTRA_KEY_SHARES: not valid JSON');
      expect(bad(0, (s) => delete (s as Partial<Mutable<SecretsFile>>).SINTRA_LINK_SECRET)).toBe('SINTRA_LINK_SECRET: missing');
      expect(bad(0, (s) => ((s as Record<string, string>)['SINTRA_EXTRA'] = 'x'))).toBe('unknown field "SINTRA_EXTRA"');
      expect(bad(0, (s) => ((s as { SINTRA_REPLICA_INDEX: unknown }).SINTRA_REPLICA_INDEX = 0))).toBe('SINTRA_REPLICA_INDEX: expected a string');
    });

    it('echo keys that are not the ones the link secrets derive are refused', () => {
      const swapped = clone(out.group);
      (swapped.keys.echo!.publicKeys as string[]).reverse();
      const g = parseGroup(swapped);
      expect(problem(() => verifyReplicaSecrets(g, parseReplicaSecrets(clone(out.secrets[0]!), g)))).toBe("keys.echo.publicKeys[0]: is not the echo key derived from the replica's link secret");
      expect(problem(() => verifyReplicaSecrets(group, { ...secrets[1]!, echo: secrets[2]!.echo! }))).toBe('SINTRA_LINK_SECRET: the echo seed is not the one derived from it');
    });
  });
});

describe('deal and parse: the 4 x 4 grid (location, os)', () => {
  const started = performance.now();
  const out = deal(grid(), seededRandom('group-config/grid'), { testOnly: false });
  const dealMs = performance.now() - started;
  const group = parseGroup(clone(out.group));
  const id = (name: string) => group.replicas.findIndex((r) => r.id === name);

  it('has 144 rows per key, 9 per replica, and consistent keys', () => {
    expect(dealMs).toBeLessThan(20_000);
    expect(out.group.adversary).toEqual({ attributes: { location: 1, os: 1 }, plus: 0 });
    expect(out.group.structure.type).toBe('general');
    for (const k of [group.kernel, group.quorum, group.encryption]) expect(k.rowKeys).toHaveLength(144);
    expect(group.kernel.scheme.rowsOf(5)).toHaveLength(9);
    expect(group.quorum.scheme.rowsOf(5)).toHaveLength(9);
    expect(group.quorumSystem.maxFaulty).toBe(7);
    verifyGroupKeys(group);
  });

  it('verifies replicas\' secrets and rejects one replica\'s secrets presented as another\'s', () => {
    for (const name of ['zrh-linux', 'fra-solaris']) verifyReplicaSecrets(group, parseReplicaSecrets(out.secrets[id(name)], group));
    const s = clone(out.secrets[id('zrh-bsd')]!);
    s.SINTRA_REPLICA_ID = 'zrh-linux';
    s.SINTRA_REPLICA_INDEX = '0';
    expect(problem(() => verifyReplicaSecrets(group, parseReplicaSecrets(s, group)))).toMatch(/^SINTRA_KEY_SHARES\.kernel\[\d\]: does not match keys\.kernel\.rowKeys\[\d+\]$/);
  });

  it('a kernel (a diagonal of 3) signs with the kernel key, a quorum (complement of one location + one os) with the quorum key', () => {
    const kernel = ['zrh-linux', 'nyc-bsd', 'sgp-windows'].map(id);
    expect(group.quorumSystem.isKernel(kernel)).toBe(true);
    const secrets = (ids: number[]) => ids.map((i) => parseReplicaSecrets(out.secrets[i], group));
    const d = domain(group.groupId, 'coin');
    const sig = combineShares(group.kernel, d, TAG, MSG, secrets(kernel).map((s) => signShare(s.kernel, d, TAG, MSG)));
    expect(verifySignature(group.kernel.groupKey, d, TAG, MSG, sig.bytes)).toBe(true);
    const quorum = group.replicas.filter((r) => r.attributes['location'] !== 'zrh' && r.attributes['os'] !== 'linux').map((r) => r.index);
    expect(quorum).toHaveLength(9);
    const c = domain(group.groupId, 'cbc');
    const qsig = combineShares(group.quorum, c, TAG, MSG, secrets(quorum).map((s) => signShare(s.quorum, c, TAG, MSG)));
    expect(verifySignature(group.quorum.groupKey, c, TAG, MSG, qsig.bytes)).toBe(true);
  });

  it('rejects an attribute rule naming an attribute some replica lacks, and a tampered CNF row', () => {
    const g = clone(out.group);
    delete (g.replicas[3]!.attributes as Record<string, string>)['os'];
    expect(problem(() => parseGroup(g))).toBe('adversary: unknown attribute "os": replica "zrh-solaris" has no such attribute');
    const h = clone(out.group);
    // Rows 99..107 hold one sub-secret (replicated to the 9 replicas outside one corruptible set), 90..98 another.
    h.keys.kernel.rowKeys[100] = h.keys.kernel.rowKeys[90]!;
    expect(problem(() => verifyGroupKeys(parseGroup(h)))).toBe('keys.kernel.rowKeys: rows [99,100] are inconsistent with the cnf scheme and groupKey');
    const same = clone(out.group);
    same.keys.kernel.rowKeys[100] = same.keys.kernel.rowKeys[99]!; // equal anyway: still valid
    verifyGroupKeys(parseGroup(same));
  });
});

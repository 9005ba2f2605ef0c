/**
 * SintraClient.submit (any bytes, plain or encrypted, to a kernel; the receipt verified for exactly those
 * bytes). And the log only grows, as clients check it (shared/client/consistency.ts, the SDK): every checkpoint a client
 * sees is checked against the newest one it verified by a consistency proof; a replica serving a proof that
 * does not verify becomes a liar and another one proves it; two group-signed checkpoints that cannot be
 * consistent (a fork, which takes more corrupt replicas than tolerated: made here with every key share)
 * end the call with ForkError and both checkpoints.
 */
import { describe, expect, it } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { checkConsistency } from '../../shared/client/consistency.ts';
import { ForkError, SintraClient } from '../../shared/client/sdk.ts';
import type { FetchLike } from '../../shared/client/sdk.ts';
import { toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { domain } from '../../shared/crypto/domain.ts';
import { combineShares, signShare } from '../../shared/crypto/threshold-bls.ts';
import { checkpointPayload, checkpointTag } from '../../shared/log/checkpoint.ts';
import type { Checkpoint, SignedCheckpoint } from '../../shared/log/checkpoint.ts';
import { hostCluster } from '../helpers/host-cluster.ts';

type Cluster = ReturnType<typeof hostCluster>;

/** URLs http://rI, each answered by replica I's app; `tamper` may replace an answer. */
function fetchOf(c: Cluster, tamper?: (i: number, path: string) => { status: number; body: unknown } | null): FetchLike {
  return async (url, init) => {
    const u = new URL(url);
    const i = Number(u.hostname.slice(1));
    const forged = tamper?.(i, u.pathname + u.search);
    if (forged) return { status: forged.status, text: async () => JSON.stringify(forged.body) };
    const res = await c.app(i).request(u.pathname + u.search, init ? { method: init.method, headers: init.headers, body: init.body } : undefined);
    return { status: res.status, text: () => res.text() };
  };
}

function client(c: Cluster, fetch: FetchLike, extra: { checkpoint?: SignedCheckpoint; onCheckpoint?: (x: SignedCheckpoint) => void } = {}) {
  return new SintraClient({ group: c.group, urls: ['http://r0', 'http://r1', 'http://r2', 'http://r3'], fetch, sleep: (ms) => (ms >= 60_000 ? new Promise<void>(() => undefined) : c.settle()), pollMs: 1, patienceMs: 60_000, ...extra });
}

/** A checkpoint the whole group signed (every share: what a fork takes). */
function signedByAll(c: Cluster, x: Checkpoint): SignedCheckpoint {
  const d = domain(c.group.groupId, 'checkpoint');
  const shares = c.secrets.map((s) => signShare(s.kernel, d, checkpointTag(x.epoch), checkpointPayload(x)));
  return { ...x, signature: combineShares(c.group.kernel, d, checkpointTag(x.epoch), checkpointPayload(x), shares).bytes };
}

const digest = (s: string) => toHex(sha256(utf8ToBytes(s)));

describe('SintraClient.submit', () => {
  it('orders plain and encrypted requests through a kernel and returns receipts verified for exactly those bytes; a replica serving a receipt of another entry is a liar', async () => {
    const c = hostCluster();
    let forged = 0;
    // Replica 0 answers every receipt request with a genuine receipt of ANOTHER entry.
    let other: unknown = null;
    const f = fetchOf(c, (i, path) => (i === 0 && path.startsWith('/v1/receipts/') && other ? (forged++, { status: 200, body: other }) : null));
    const sdk = new SintraClient({ group: c.group, urls: ['http://r0', 'http://r1', 'http://r2', 'http://r3'], fetch: f, sleep: (ms) => (ms >= 60_000 ? new Promise<void>(() => undefined) : c.settle()), pollMs: 1, patienceMs: 60_000, randomBytes: (n) => new Uint8Array(n).map((_, i) => (i * 37 + 11) & 0xff) });
    const first = await sdk.submit(utf8ToBytes('plain bytes'));
    expect(first.id).toBe(first.entryId);
    expect(first.id).toBe(toHex(sha256(utf8ToBytes('plain bytes'))));
    other = first.receipt;
    const sealed = await sdk.submit(utf8ToBytes('sealed bid: 42'), { encrypt: true });
    expect(sealed.id).not.toBe(sealed.entryId);
    expect(sealed.entryId).toBe(toHex(sha256(utf8ToBytes('sealed bid: 42'))));
    expect(sealed.index).toBeGreaterThan(first.index);
    expect(forged).toBeGreaterThan(0);
    expect(sdk.liarList()).toEqual([{ url: 'http://r0', reason: expect.stringMatching(/receipt of another entry/) }]);
    expect(sdk.newestCheckpoint!.size).toBeGreaterThan(sealed.index);
    await expect(sdk.submit(new Uint8Array(0))).rejects.toThrow(/empty/);
  }, 180_000);
});

describe('consistency of the checkpoints a client sees', () => {
  it('the newest verified checkpoint moves forward only by valid consistency proofs; a replica with a bad proof is a liar', async () => {
    const c = hostCluster();
    const seen: number[] = [];
    let tampered = 0;
    // Replica 0 serves consistency proofs that do not verify.
    const f = fetchOf(c, (i, path) => (i === 0 && path.startsWith('/v1/log/consistency') ? (tampered++, { status: 200, body: { proof: ['00'.repeat(32)] } }) : null));
    const sdk = client(c, f, { onCheckpoint: (x) => seen.push(x.size) });
    await sdk.stamp(digest('one'));
    const early = sdk.newestCheckpoint!;
    expect(seen).toEqual([early.size]);
    // A later checkpoint (another client's), first offered as served by replica 0: its proof fails, it
    // becomes a liar, and the next replica's proof moves the newest checkpoint forward.
    const other = client(c, fetchOf(c));
    await other.stamp(digest('two'));
    await other.stamp(digest('three'));
    const later = other.newestCheckpoint!;
    expect(later.size).toBeGreaterThan(early.size);
    await sdk.observeCheckpoint(later, 'http://r0');
    expect(tampered).toBe(1);
    expect(sdk.liarList()).toEqual([{ url: 'http://r0', reason: expect.stringMatching(/does not verify/) }]);
    expect(sdk.newestCheckpoint).toEqual(later);
    expect(seen).toEqual([early.size, later.size]);
    // An older checkpoint seen afterwards is checked too, and does not move the newest back.
    await sdk.observeCheckpoint(early, 'http://r2');
    expect(sdk.newestCheckpoint).toEqual(later);
    expect(tampered).toBe(1);
  }, 180_000);

  it('two signed checkpoints that cannot both be true: ForkError with both, and checkConsistency names the kernel', async () => {
    const c = hostCluster();
    const honest = client(c, fetchOf(c));
    await honest.stamp(digest('before the fork'));
    const real = honest.newestCheckpoint!;
    // The same size with another root (signed by every key share): a fork without any proof.
    const twin = signedByAll(c, { ...real, root: new Uint8Array(32).fill(7), epoch: real.epoch });
    const v = await checkConsistency(c.group, real, twin, [], async () => ({ unavailable: 'not asked' }));
    expect(v).toMatchObject({ kind: 'fork', why: expect.stringMatching(/two signed roots/) });
    // A smaller fake history the client was given earlier: every replica's proof fails, a kernel of them.
    const fake = signedByAll(c, { size: 1, root: new Uint8Array(32).fill(9), epoch: 0, stateDigest: new Uint8Array(32) });
    const sdk = client(c, fetchOf(c), { checkpoint: fake });
    const err = await sdk.stamp(digest('after the fork')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ForkError);
    expect((err as ForkError).older).toEqual(fake);
    expect((err as ForkError).newer.size).toBeGreaterThan(1);
    expect((err as ForkError).message).toMatch(/two histories.*kernel/);
    // A checkpoint whose signature does not verify is refused outright.
    expect(() => client(c, fetchOf(c), { checkpoint: { ...fake, size: 2 } })).toThrow(/does not verify/);
    expect(await checkConsistency(c.group, { ...real, size: real.size + 1 }, real, [], async () => ({ unavailable: '' }))).toEqual({ kind: 'bad-signature', which: 'first' });
  }, 180_000);

  it('undecided when too few replicas answer: nothing is concluded', async () => {
    const c = hostCluster();
    const sdk = client(c, fetchOf(c));
    await sdk.stamp(digest('a'));
    const older = sdk.newestCheckpoint!;
    await sdk.stamp(digest('b'));
    const newer = sdk.newestCheckpoint!;
    expect(newer.size).toBeGreaterThan(older.size);
    const replicas = [0, 1, 2, 3].map((i) => ({ url: `http://r${i}`, index: i }));
    // Only replica 0 answers, with a bad proof: one replica is not a kernel.
    const v = await checkConsistency(c.group, older, newer, replicas, async (url) => (url === 'http://r0' ? { proof: [new Uint8Array(32)] } : { unavailable: 'down' }));
    expect(v).toMatchObject({ kind: 'undecided', liars: [{ url: 'http://r0' }] });
  }, 180_000);
});

/**
 * The log as C2SP resources: paths as tlog-tiles spells them, the checkpoint as a tlog-checkpoint signed
 * note, and a whole log rebuilt from tiles and entry bundles alone by an implementation of the spec's
 * definitions written here (noble's SHA-256, no project Merkle code), checked against the signed note.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { toBase64, toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { checkpointNote, checkpointOrigin, verifyCheckpointNote } from '../../shared/log/checkpoint-note.ts';
import { encodeEntryBundle, encodeTileIndex, parseTilePath, tilePath } from '../../shared/log/tlog-tiles.ts';
import { hostCluster } from '../helpers/host-cluster.ts';
import { tilesOfSize, verifyTileArchive } from '../../shared/client/tile-archive.ts';

// ---- an independent reading of c2sp.org/tlog-tiles and RFC 6962 section 2.1

const H = (...parts: Uint8Array[]) => sha256(Uint8Array.from(parts.flatMap((p) => [...p])));
const leaf = (e: Uint8Array) => H(Uint8Array.of(0), e);
const node = (l: Uint8Array, r: Uint8Array) => H(Uint8Array.of(1), l, r);
function mth(hashes: readonly Uint8Array[]): Uint8Array {
  if (hashes.length === 0) return sha256(new Uint8Array(0));
  if (hashes.length === 1) return hashes[0]!;
  let k = 1;
  while (k * 2 < hashes.length) k *= 2;
  return node(mth(hashes.slice(0, k)), mth(hashes.slice(k)));
}
/** Every tile of a tree of `size` entries: per level, the full ones and the partial one (spec, "Partial Tiles"). */
function tilesOf(size: number): { level: number; index: number; width: number }[] {
  const out: { level: number; index: number; width: number }[] = [];
  for (let level = 0; Math.floor(size / 256 ** level) > 0; level++) {
    const count = Math.floor(size / 256 ** level);
    for (let index = 0; index < Math.floor(count / 256); index++) out.push({ level, index, width: 256 });
    if (count % 256 > 0) out.push({ level, index: Math.floor(count / 256), width: count % 256 });
  }
  return out;
}
const pathOf = (level: number | 'entries', index: number, width: number) => {
  const n = String(index).padStart(3, '0').replace(/(\d)(?=(\d{3})+$)/g, '$1/');
  const parts = n.split('/');
  const groups = parts.map((p) => p.padStart(3, '0'));
  return `tile/${level}/${groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/')}${width < 256 ? `.p/${width}` : ''}`;
};
function splitBundle(b: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off < b.length; ) {
    const len = (b[off]! << 8) | b[off + 1]!;
    out.push(b.subarray(off + 2, off + 2 + len));
    off += 2 + len;
  }
  return out;
}

describe('tlog-tiles paths', () => {
  it('encodes and parses as the spec says, and refuses every other spelling', () => {
    expect(encodeTileIndex(1234067)).toBe('x001/x234/067');
    expect(encodeTileIndex(0)).toBe('000');
    expect(encodeTileIndex(1000)).toBe('x001/000');
    expect(tilePath({ kind: 'hashes', level: 0, index: 1234067, width: 256 })).toBe('0/x001/x234/067');
    expect(tilePath({ kind: 'entries', index: 5, width: 17 })).toBe('entries/005.p/17');
    for (const [p, t] of [
      ['0/x001/x234/067', { kind: 'hashes', level: 0, index: 1234067, width: 256 }],
      ['2/000.p/1', { kind: 'hashes', level: 2, index: 0, width: 1 }],
      ['entries/x001/000.p/255', { kind: 'entries', index: 1000, width: 255 }],
    ] as const) {
      expect(parseTilePath(p)).toEqual(t);
      expect(tilePath(parseTilePath(p)!)).toBe(p);
      expect(`tile/${p}`).toBe(pathOf(t.kind === 'entries' ? 'entries' : t.level, t.index, t.width));
    }
    for (const bad of ['00/000', '64/000', '0/1', '0/0001', '0/001/002', '0/x000/001', '0/000.p/0', '0/000.p/256', '0/000.p/07', '0/000.p', 'entries', 'foo/000', '0/', '0/xx01/002']) {
      expect(parseTilePath(bad), bad).toBeNull();
    }
  });

  it('the spec example: a tree of 70,000 entries', () => {
    const t = tilesOf(70_000);
    expect(t.filter((x) => x.level === 0 && x.width === 256)).toHaveLength(273);
    expect(t.filter((x) => x.width < 256).map((x) => [x.level, x.width])).toEqual([
      [0, 112],
      [1, 17],
      [2, 1],
    ]);
    expect(t.filter((x) => x.level === 1 && x.width === 256)).toHaveLength(1);
  });

  it('entry bundles: uint16 big-endian lengths; an entry too long for one is refused', () => {
    expect([...encodeEntryBundle([Uint8Array.of(7), new Uint8Array(0), new Uint8Array(300).fill(1)]).subarray(0, 7)]).toEqual([0, 1, 7, 0, 0, 1, 44]);
    expect(() => encodeEntryBundle([new Uint8Array(65_536)])).toThrow(/65,535/);
  });
});

describe('GET /checkpoint and /tile on replicas', () => {
  it('a log of 530 entries rebuilt from tiles and bundles alone matches the signed note', async () => {
    const c = hostCluster();
    const texts = Array.from({ length: 530 }, (_, i) => `tiled entry ${i}`);
    for (let k = 0; k < texts.length; k += 100) {
      const r = await c.hosts[k % 4]!.submitMany(texts.slice(k, k + 100).map((t) => ({ bytes: utf8ToBytes(t), encrypted: false })));
      expect(r.every((x) => x.ok)).toBe(true);
    }
    await c.settle();
    const app = c.app(1);
    const res = await app.request('/checkpoint');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; charset=utf-8/);
    const note = await res.text();
    const v = verifyCheckpointNote(c.group.groupId, c.group.kernel.groupKey, note);
    if (!v.ok) throw new Error(v.reason);
    const size = v.checkpoint.size;
    expect(size).toBe(530);
    const [origin, sizeLine, rootLine] = note.split('\n');
    expect(origin).toBe(checkpointOrigin(c.group.groupId));
    expect(sizeLine).toBe('530');

    const fetched = new Map<string, Uint8Array>();
    for (const t of tilesOf(size)) {
      const p = pathOf(t.level, t.index, t.width);
      const r = await app.request(`/${p}`);
      expect(r.status, p).toBe(200);
      expect(r.headers.get('content-type')).toBe('application/octet-stream');
      expect(r.headers.get('cache-control')).toMatch(/immutable/);
      const bytes = new Uint8Array(await r.arrayBuffer());
      expect(bytes.length, p).toBe(32 * t.width);
      fetched.set(`${t.level}/${t.index}`, bytes);
      if (t.level === 0) {
        const b = await app.request(`/${pathOf('entries', t.index, t.width)}`);
        expect(b.status).toBe(200);
        const entries = splitBundle(new Uint8Array(await b.arrayBuffer()));
        expect(entries).toHaveLength(t.width);
        entries.forEach((e, i) => {
          expect(new TextDecoder().decode(e)).toBe(texts[t.index * 256 + i]);
          expect(toHex(leaf(e))).toBe(toHex(bytes.subarray(32 * i, 32 * i + 32)));
        });
      }
    }
    const hashesOf = (key: string) => Array.from({ length: fetched.get(key)!.length / 32 }, (_, i) => fetched.get(key)!.subarray(32 * i, 32 * i + 32));
    // Each level-1 hash is the MTH of a full level-0 tile.
    const level1 = hashesOf('1/0');
    expect(level1).toHaveLength(2);
    level1.forEach((h, i) => expect(toHex(h)).toBe(toHex(mth(hashesOf(`0/${i}`)))));
    // The root of all leaves is the signed one.
    const leaves = [0, 1, 2].flatMap((i) => hashesOf(`0/${i}`));
    expect(leaves).toHaveLength(530);
    expect(toBase64(mth(leaves))).toBe(rootLine);

    // Not yet there, not a tile path, and a forged note.
    expect((await app.request('/tile/0/002')).status).toBe(404);
    expect((await app.request('/tile/entries/003.p/1')).status).toBe(404);
    expect((await app.request('/tile/0/2')).status).toBe(400);
    const forged = note.replace('\n530\n', '\n531\n');
    expect(verifyCheckpointNote(c.group.groupId, c.group.kernel.groupKey, forged)).toMatchObject({ ok: false });
    expect(verifyCheckpointNote(c.group.groupId, c.group.kernel.groupKey, note.replace(/\n\n/, '\nextra\n\n'))).toMatchObject({ ok: false });
    // A witness's extra signature line is ignored; the note is the same as the one built locally.
    expect(verifyCheckpointNote(c.group.groupId, c.group.kernel.groupKey, `${note}\u2014 witness.example/w AAAAAAAA\n`)).toMatchObject({ ok: true });
    expect(checkpointNote(c.group.groupId, c.group.kernel.groupKey, v.checkpoint)).toBe(note);

    // The archive checker (sintra export / verify --archive) over the same resources, and over tampered ones.
    const read = async (path: string) => {
      const r = await app.request(`/tile/${path}`);
      return r.status === 200 ? new Uint8Array(await r.arrayBuffer()) : null;
    };
    expect(tilesOfSize(530).map((t) => tilePath(t))).toEqual(['0/000', 'entries/000', '0/001', 'entries/001', '0/002.p/18', 'entries/002.p/18', '1/000.p/2']);
    expect(await verifyTileArchive(c.group, note, read)).toEqual({ ok: true, tiles: 7, checkpoint: v.checkpoint });
    const flip = (target: string) => async (path: string) => {
      const b = await read(path);
      if (b && path === target) b[5]! ^= 1;
      return b;
    };
    expect(await verifyTileArchive(c.group, note, flip('1/000.p/2'))).toMatchObject({ ok: false, reason: expect.stringMatching(/hash 0 is not the root of tile\/0\/000/) });
    expect(await verifyTileArchive(c.group, note, flip('entries/001'))).toMatchObject({ ok: false, reason: expect.stringMatching(/entries\/001/) });
    expect(await verifyTileArchive(c.group, note, async (p) => (p === '0/001' ? null : read(p)))).toMatchObject({ ok: false, reason: 'tile/0/001 is missing' });
  }, 180_000);
});

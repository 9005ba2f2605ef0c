/**
 * C2SP tlog-tiles (https://c2sp.org/tlog-tiles): the log as static, immutable resources. A tile at level
 * L, index N holds the hashes MTH(D[(N*256 + i) * 256^L : (N*256 + i + 1) * 256^L]) for i < W (W = 256
 * for a full tile, 1-255 for a partial one, path suffix `.p/W`): exactly the stored Merkle nodes of tree
 * level 8L, indices N*256 + i (merkle-nodes.ts), so replicas serve tiles straight from storage. Entry
 * bundles (`tile/entries/N[.p/W]`) are the entries N*256 + i, each prefixed by its length as a big-endian
 * uint16. Paths encode N in zero-padded 3-digit elements, all but the last prefixed by `x` (1234067 ->
 * x001/x234/067).
 */
import type { NodeKey } from './merkle-nodes.ts';

export const TILE_WIDTH = 256;

export type TilePath =
  | { readonly kind: 'hashes'; readonly level: number; readonly index: number; readonly width: number }
  | { readonly kind: 'entries'; readonly index: number; readonly width: number };

/** The `<N>` path elements of a tile index. */
export function encodeTileIndex(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`tile index ${n}`);
  const groups: string[] = [];
  let rest = n;
  do {
    groups.unshift(String(rest % 1000).padStart(3, '0'));
    rest = Math.floor(rest / 1000);
  } while (rest > 0);
  return groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/');
}

/** The path after `tile/` of a tile (hashes at `level`, or `entries`); width < 256 makes it partial. */
export function tilePath(t: TilePath): string {
  const head = t.kind === 'entries' ? 'entries' : String(t.level);
  const partial = t.width < TILE_WIDTH ? `.p/${t.width}` : '';
  return `${head}/${encodeTileIndex(t.index)}${partial}`;
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;

/** Parses the path after `tile/`; null for anything the spec does not allow (leading zeroes, bad widths...). */
export function parseTilePath(path: string): TilePath | null {
  const parts = path.split('/');
  const head = parts.shift();
  if (head === undefined) return null;
  let level = -1;
  if (head !== 'entries') {
    if (!DECIMAL.test(head) || Number(head) > 63) return null;
    level = Number(head);
  }
  let width = TILE_WIDTH;
  // `.p/<W>`: the last index element ends in `.p`, and W follows as its own element.
  if (parts.length >= 2 && parts[parts.length - 2]!.endsWith('.p')) {
    const w = parts.pop()!;
    if (!DECIMAL.test(w) || Number(w) < 1 || Number(w) > 255) return null;
    width = Number(w);
    parts[parts.length - 1] = parts[parts.length - 1]!.slice(0, -2);
  }
  if (parts.length === 0) return null;
  let index = 0;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    const digits = i < parts.length - 1 ? (p.startsWith('x') ? p.slice(1) : null) : p;
    if (digits === null || !/^[0-9]{3}$/.test(digits)) return null;
    index = index * 1000 + Number(digits);
  }
  // The first element carries no leading zero group (x000/... would give one index two paths).
  if (parts.length > 1 && parts[0] === 'x000') return null;
  if (!Number.isSafeInteger(index)) return null;
  return level < 0 ? { kind: 'entries', index, width } : { kind: 'hashes', level, index, width };
}

/**
 * The number of entries a tile covers, from its start: it exists in a tree of `size` entries once the
 * tree reaches start + this (a full tile; a partial one of width W is final as soon as its W hashes are).
 */
export function tileEnd(t: TilePath): number {
  const unit = t.kind === 'entries' ? 1 : TILE_WIDTH ** t.level;
  return (t.index * TILE_WIDTH + t.width) * unit;
}

/** The stored Merkle nodes a hash tile is made of, in order. */
export function tileNodes(t: TilePath & { kind: 'hashes' }): NodeKey[] {
  return Array.from({ length: t.width }, (_, i) => ({ level: 8 * t.level, index: t.index * TILE_WIDTH + i }));
}

/** An entry bundle; throws RangeError for an entry the uint16 length prefix cannot carry. */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(entries.reduce((s, e) => s + 2 + e.length, 0));
  let off = 0;
  for (const e of entries) {
    if (e.length > 0xffff) throw new RangeError(`an entry of ${e.length} bytes does not fit an entry bundle (at most 65,535)`);
    out[off] = e.length >> 8;
    out[off + 1] = e.length & 0xff;
    out.set(e, off + 2);
    off += 2 + e.length;
  }
  return out;
}
